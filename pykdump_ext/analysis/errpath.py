"""Error paths: from each root port that logged an error message down to the device it names.

Pure.  A root port's AER Root Error Status says which messages it received
(ERR_COR, ERR_FATAL/NONFATAL, multiple, first uncorrectable fatal) and its
Error Source Identification register holds the requester ID of the device
that sent them.  For each such message the captured device with that ID
(same domain) is found, and every port on the way from the root port down
to it is listed with its own status.  A source ID naming a device that was
not captured, or whose record is all 0xFF, still names that BDF.

Also here: ``status_items(cfg)``, the short list of error/link facts of one
device that every view shows (summary flags, -e filter, path hops).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, TYPE_CHECKING

from pykdump_ext.pci import regs as R
from pykdump_ext.pci.config import rid_to_bdf

if TYPE_CHECKING:
    from pykdump_ext.pci.config import AerError, Config, Pcie
    from .topology import Topology

# PCI Status / Secondary Status names (as config.py reports them) that are errors.
# >SERR / <SERR only say an error message was forwarded: not errors of the device itself.
STATUS_ERRORS = ("ParErr", ">TAbort", "<TAbort", "<MAbort", "<PERR")
DEVSTA_ERRORS = ("CorrErr", "NonFatalErr", "FatalErr", "UnsupReq")


def downstream_facing(pcie: Optional[Pcie]) -> bool:
    """A port whose link is the one to the devices below it (root/downstream port)."""
    return pcie is not None and pcie.port_type in R.DOWNSTREAM_FACING


def uncor_text(e: AerError) -> str:
    t = "%s (%s), %s" % (e.name, e.short, "fatal" if e.fatal else "non-fatal")
    if e.first:
        t += ", first error"
    if e.masked:
        t += ", masked"
    return t


def cor_text(e: AerError) -> str:
    t = "%s (%s), correctable" % (e.name, e.short)
    if e.masked:
        t += ", masked"
    return t


def link_text(p: Optional[Pcie]) -> Optional[str]:
    if p is None or p.lnksta is None or not p.has_link:
        return None
    t = "link %s x%s" % (p.link_speed or "?", p.link_width if p.link_width is not None else "?")
    if p.dll_active_reporting_capable:
        t += ", DLActive%s" % ("+" if p.dll_link_active else "-")
    if p.link_training:
        t += ", training"
    return t


def status_items(cfg: Config, *, link: bool = False) -> List[str]:
    """Error facts of one decoded device, most serious first; [] when clean."""
    if cfg.all_ff:
        return ["no answer (all 0xFF)"]
    out = []
    a = cfg.aer
    if a is not None:
        out += ["UE %s" % uncor_text(e) for e in a.uncor_errors if not e.masked]
        out += ["UE %s" % uncor_text(e) for e in a.uncor_errors if e.masked]
        if a.root_flags:
            out.append("RootSta %s" % " ".join(a.root_flags))
    d = cfg.dpc
    if d is not None and d.triggered:
        out.append("DPC triggered: %s" % (d.trigger_reason or "reason %d" % d.trigger_reason_code))
    p = cfg.pcie
    if p is not None:
        errs = [f for f in p.dev_status_flags if f in DEVSTA_ERRORS]
        if errs:
            out.append("DevSta %s" % " ".join(f + "+" for f in errs))
    if a is not None:
        out += ["CE %s" % cor_text(e) for e in a.cor_errors]
    st = [f for f in cfg.status_flags if f in STATUS_ERRORS]
    if st:
        out.append("Status %s" % " ".join(f + "+" for f in st))
    sst = [f for f in cfg.sec_status_flags if f in STATUS_ERRORS]
    if sst:
        out.append("SecStatus %s" % " ".join(f + "+" for f in sst))
    ff = getattr(cfg, "ff_dwords", None)
    if ff:
        out.append("%d dword(s) read 0xffffffff (failed config reads?) from 0x%03x"
                   % (len(ff), ff[0]))
    if link:
        lt = link_text(p)
        if lt:
            out.append(lt)
    return out


@dataclass
class Hop:
    """One device on an error's path: its role and what its registers say about the error."""
    bdf: str
    role: str                   # port type name, "not captured", ...
    captured: bool
    items: List[str] = field(default_factory=list)


@dataclass
class ErrorPath:
    """An error message a root port received, and the hops from its source up to the port."""
    root_port: str
    message: str                # ERR_COR, ERR_NONFATAL, ERR_FATAL
    source_rid: int
    source_bdf: str
    current: bool               # the Root Error Status bit is still set
    multiple: bool = False
    source_captured: bool = False
    source_all_ff: bool = False
    hops: List[Hop] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    dpc: bool = False           # from a DPC Error Source ID, not the AER root registers

    def headline(self) -> str:
        if self.dpc:
            t = "port %s contained the link below it (DPC) after %s from %s" % (
                self.root_port, self.message, self.source_bdf)
        elif self.current:
            t = "root port %s received %s%s from %s" % (
                self.root_port, self.message, " (multiple)" if self.multiple else "",
                self.source_bdf)
        else:
            t = ("root port %s: status cleared, but its Error Source register still names %s "
                 "(%s handled earlier)" % (self.root_port, self.source_bdf, self.message))
        if not self.source_captured:
            t += " (not captured)"
        elif self.source_all_ff:
            t += " (its record is all 0xFF)"
        return t


def _role(cfg):
    if cfg.all_ff:
        return "no answer"
    if cfg.pcie is not None:
        return cfg.pcie.port_type_name
    return "bridge" if cfg.is_bridge else "function"


def find_paths(devices: Dict[str, Config], topo: Topology) -> List[ErrorPath]:
    """devices: {bdf: Config}; topo: topology.Topology."""
    paths = []
    for bdf in sorted(devices):
        cfg = devices[bdf]
        a = cfg.aer
        if cfg.all_ff or a is None or a.root_status is None or a.root_status == 0xFFFFFFFF:
            continue
        domain = topo.nodes[bdf].domain if bdf in topo.nodes else int(bdf[:4], 16)
        flags = set(a.root_flags)
        msgs = []
        if "UERcvd" in flags:
            kind = "ERR_FATAL" if "FirstFatal" in flags else "ERR_NONFATAL"
            if "FatalMsg" in flags and "NonFatalMsg" in flags:
                kind += " (fatal and non-fatal messages received)"
            msgs.append((kind, a.err_src_uncor, True, "MultUERcvd" in flags))
        elif a.err_src_uncor:
            msgs.append(("ERR_FATAL/NONFATAL", a.err_src_uncor, False, False))
        if "CERcvd" in flags:
            msgs.append(("ERR_COR", a.err_src_cor, True, "MultCERcvd" in flags))
        elif a.err_src_cor:
            msgs.append(("ERR_COR", a.err_src_cor, False, False))
        for kind, rid, current, multiple in msgs:
            if rid is None:
                continue
            src = rid_to_bdf(domain, rid)
            ep = ErrorPath(root_port=bdf, message=kind, source_rid=rid, source_bdf=src,
                           current=current, multiple=multiple)
            _fill_hops(ep, devices, topo, domain, rid)
            paths.append(ep)
    paths += _dpc_paths(devices, topo)
    return paths


# DPC trigger reasons whose DPC Error Source ID names the device that sent the message
DPC_MESSAGE_REASONS = {1: "ERR_NONFATAL", 2: "ERR_FATAL"}


def _dpc_paths(devices, topo):
    out = []
    for bdf in sorted(devices):
        cfg = devices[bdf]
        d = cfg.dpc
        if cfg.all_ff or d is None or not d.triggered:
            continue
        kind = DPC_MESSAGE_REASONS.get(d.trigger_reason_code)
        if kind is None:
            continue
        domain = topo.nodes[bdf].domain if bdf in topo.nodes else int(bdf[:4], 16)
        ep = ErrorPath(root_port=bdf, message=kind, source_rid=d.source_id,
                       source_bdf=rid_to_bdf(domain, d.source_id), current=True, dpc=True)
        _fill_hops(ep, devices, topo, domain, d.source_id)
        out.append(ep)
    return out


def _fill_hops(ep, devices, topo, domain, rid) -> None:
    src = ep.source_bdf
    if src in devices:
        ep.source_captured = True
        ep.source_all_ff = devices[src].all_ff
        chain = topo.path_to(src)
    else:
        up = topo.bridge_for_bus(domain, rid >> 8)
        chain = topo.path_to(up) if up else []
        ep.notes.append("%s was not captured%s" % (
            src, "; its bus %02x is below %s" % (rid >> 8, up) if up else
            "; no captured bridge leads to bus %02x" % (rid >> 8)))
    if ep.root_port in chain:
        chain = chain[chain.index(ep.root_port):]
    elif chain:
        ep.notes.append("%s is not below root port %s in the captured topology"
                        % (src, ep.root_port))
        chain = [ep.root_port] + chain
    else:
        chain = [ep.root_port]
    for b in chain:
        cfg = devices.get(b)
        if cfg is None:
            ep.hops.append(Hop(b, "not captured", False))
        else:
            ep.hops.append(Hop(b, _role(cfg), True, status_items(cfg, link=True)))
    if not ep.source_captured:
        ep.hops.append(Hop(src, "not captured", False))
