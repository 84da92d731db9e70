"""One call from a MemoryReader to everything the front ends show: ``analyse(reader)``.

Pure (standard library only).  The Report holds the capture (state, pagemap,
records), every captured device decoded, the topology, the error paths from
root ports to the devices they name, and the verdict.  Rendering (text,
JSON) lives in render.py / report_json.py; the crash command and the CLI
both start here.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, TYPE_CHECKING

from pykdump_ext.pci import config as _config
from . import errpath, link, topology, verdict
from pykdump_ext.capture.buffer import NO_STATE, Capture, CaptureState, Record, load_capture

if TYPE_CHECKING:
    from pykdump_ext.kernel.structs import KernelInfo
    from pykdump_ext.kernel.klog.judge import LogSummary
    from pykdump_ext.pci.pciids import PciIds
    from pykdump_ext.kernel.klog.records import KernelLog
    from crash_ext_c.reader import MemoryReader

_NAMES: Dict[str, Optional[PciIds]] = {}


def load_names() -> Optional[PciIds]:
    """The system pci.ids through pykdump_ext.pci.pciids, or None when that module or file is absent."""
    if "db" not in _NAMES:
        try:
            from pykdump_ext.pci.pciids import PciIds
            _NAMES["db"] = PciIds.load()
        except Exception:        # optional: names are a convenience, numbers are always shown
            _NAMES["db"] = None
    return _NAMES["db"]


@dataclass
class Device:
    """One captured function: its record, decoded config space, place in the tree and names."""
    bdf: str
    record: Record
    config: _config.Config
    node: topology.Node
    vendor_name: Optional[str] = None
    device_name: Optional[str] = None
    class_name: Optional[str] = None
    items: List[str] = field(default_factory=list)    # errpath.status_items
    duplicate: Optional[str] = None     # the BDF an earlier record already carries

    @property
    def ids(self) -> str:
        c = self.config
        if c.all_ff or c.vendor_id is None or c.device_id is None:
            return "[ffff:ffff]" if c.all_ff else "[????:????]"
        return "[%04x:%04x]" % (c.vendor_id, c.device_id)

    @property
    def name(self) -> str:
        if self.config.all_ff:
            return "(no answer: config space all 0xFF)"
        if self.vendor_name:
            # as lspci -nn says a device pci.ids does not name: "<vendor> Device [vvvv:dddd]"
            return "%s %s" % (self.vendor_name, self.device_name or "Device")
        return self.class_name or "class %06x" % (self.config.class_code or 0)

    @property
    def label(self) -> str:
        return "%s %s %s" % (self.bdf, self.ids, self.name)

    @property
    def has_error(self) -> bool:
        return bool(self.items)


@dataclass
class Report:
    """Everything pcicrash concluded from one dump: the capture, devices, topology, paths, verdict."""
    source: str
    format: str
    capture: Capture
    devices: List[Device] = field(default_factory=list)      # buffer order
    by_bdf: Dict[str, Device] = field(default_factory=dict)
    topology: Optional[topology.Topology] = None
    paths: List[errpath.ErrorPath] = field(default_factory=list)
    verdict: Optional[verdict.Verdict] = None
    kernel: Optional[KernelInfo] = None
    reader_notes: List[str] = field(default_factory=list)
    kernel_log: Optional[LogSummary] = None       # None when no log could be read

    def label(self, bdf: str) -> str:
        d = self.by_bdf.get(bdf)
        return d.label if d else "%s (not captured)" % bdf

    @property
    def links(self) -> Dict[str, link.LinkState]:
        """bdf -> the link state concluded from all the evidence (link.py)."""
        return self.topology.links if self.topology is not None else {}

    @property
    def duplicates(self) -> List[Device]:
        """Records that carry a BDF an earlier record already has (shown as 'bdf#2', ...)."""
        return [d for d in self.devices if d.duplicate]


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: decoding thousands of devices creates many
    container objects and no cycles, and the collector's passes over them cost more
    than the work itself (about 40% of analyse() at 6000 devices)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def analyse(reader: MemoryReader, *, kernel: Optional[KernelInfo] = None, names: Any = None,
            log: Optional[KernelLog] = None) -> Report:
    """Load the capture (and the kernel log) from `reader` and analyse them.

    `names`: "system" (the system pci.ids), a PciIds, or None (numbers only: nothing is
    read that the caller did not ask for).

    Never raises for bad capture or log data.  `log`: a klog.records.KernelLog to use
    instead of reading the dump's own."""
    with no_gc():           # as analyse_capture(): many objects, no cycles
        cap = load_capture(reader)
    if log is None:
        log = _read_log(reader)
    rep = analyse_capture(cap, kernel=kernel, names=names, log=log)
    rep.source = reader.name
    rep.format = reader.format
    rep.reader_notes = list(reader.notes)
    return rep


def _read_log(reader):
    """The kernel log through the dump reader, or None when this build has no log reader."""
    try:
        from pykdump_ext.kernel.klog.reader import read_kernel_log
    except ImportError:
        return None
    return read_kernel_log(reader)


def analyse_capture(cap: Capture, *, kernel: Optional[KernelInfo] = None, names: Any = None,
                    log: Optional[KernelLog] = None) -> Report:
    with no_gc():
        return _analyse_capture(cap, kernel=kernel, names=names, log=log)


def _analyse_capture(cap, *, kernel, names, log=None):
    if names == "system":
        names = load_names()
    rep = Report(source=cap.source, format="", capture=cap, kernel=kernel)
    decoded = []
    count: Dict[str, int] = {}
    for r in cap.records:
        # a record repeating an earlier BDF is kept under 'bdf#2' (which one is right is unknown)
        k = count[r.bdf] = count.get(r.bdf, 0) + 1
        key = r.bdf if k == 1 else "%s#%d" % (r.bdf, k)
        decoded.append((key, r, _config.decode(r.config, devfn=r.devfn)))
    rep.topology = topology.build(((k, r.domain, r.bus, r.devfn, c) for k, r, c in decoded),
                                  explain=False)
    configs = {k: c for k, _r, c in decoded}
    rep.paths = errpath.find_paths(configs, rep.topology)
    topology.explain_unreachable(rep.topology, link.assess(rep.topology, rep.paths),
                                 layout=cap.layout)
    first: Dict[str, Record] = {}
    for key, r, c in decoded:
        d = Device(bdf=key, record=r, config=c, node=rep.topology.nodes[key])
        if names is not None and not c.all_ff and c.vendor_id is not None:
            d.vendor_name = names.vendor(c.vendor_id)
            d.device_name = names.device(c.vendor_id, c.device_id)
            d.class_name = names.klass(c.class_code) if c.class_code is not None else None
        d.items = errpath.status_items(c)
        if d.node.unreachable:
            d.items = ["no answer (all 0xFF): %s" % d.node.unreachable_why]
        if key != r.bdf:
            d.duplicate = r.bdf
            d.items.insert(0, "duplicate: record %d carries the BDF of record %d; shown as %s"
                           % (r.index, first[r.bdf].index, key))
        first.setdefault(r.bdf, r)
        rep.devices.append(d)
        rep.by_bdf[d.bdf] = d
    for p in rep.paths:
        for h in p.hops:
            hop = rep.by_bdf.get(h.bdf)
            if hop is not None and hop.node.unreachable:
                h.items = ["record all 0xFF: " + hop.node.unreachable_why]
            ls = rep.links.get(h.bdf)
            if ls is not None:     # the register readout becomes the concluded link state
                h.items = [_link_item(i, ls) if i.startswith("link ") else i for i in h.items]
    rep.verdict = verdict.judge(_facts(rep), rep.label, context=_context(rep))
    if not rep.devices and cap.state != CaptureState.CAPTURED:
        rep.verdict.lines = [no_verdict_line(cap)]
    if log is not None:
        from pykdump_ext.kernel.klog import judge, verdict_log
        rep.kernel_log = judge.summarise(log)
        if log.records:                  # a log that could not be read says nothing of the panic
            verdict_log.apply(rep, rep.kernel_log, names)
    return rep


def _link_item(item, ls) -> str:
    head = item.split(", DLActive")[0].split(", training")[0]
    return "%s, %s%s" % (head, ls.short(), ", training" if ", training" in item else "")


def no_verdict_line(cap: Capture) -> str:
    """The one sentence every view gives when the capture has no device to judge."""
    if cap.state in NO_STATE:
        return "no PCI state from the panic (capture %s): no device to judge" % cap.state
    return "no device could be read (capture %s): no device to judge" % cap.state


def _facts(rep):
    facts = {}
    for d in rep.devices:
        n = d.node
        facts[d.bdf] = verdict.Facts(
            bdf=d.bdf, cfg=d.config,
            children=[rep.by_bdf[c].config for c in n.children],
            unreachable=n.unreachable, unreachable_why=n.unreachable_why,
            link=rep.links.get(d.bdf),
            parent_cfg=rep.by_bdf[n.parent].config if n.parent else None,
            clean=(not d.items and n.unreachable is None
                   and not errpath.downstream_facing(d.config.pcie)))
    for p in rep.paths:
        f = facts.get(p.source_bdf)
        if f is None:
            f = facts[p.source_bdf] = verdict.Facts(bdf=p.source_bdf)
        f.named.append(p)
    return facts


SKIPPED_ADVICE = ("to capture at every panic, boot the kernel with pci_crash.capture=always: the "
                  "default pci_crash.capture=aer captures only when a root port has received "
                  "an uncorrectable error message, which correctable errors and devices "
                  "whose error reporting is disabled (no SERR# in Command/Bridge Control, "
                  "DevCtl report enables off) never send")

_SERR_CMD, _SERR_BCTL = 0x0100, 0x0002
_DEVCTL_NFE_FE = 0x0006


def reporting_disabled(rep: Report) -> List[tuple]:
    """(bdf, why) of captured PCIe functions that cannot signal an uncorrectable error
    (DevCtl Non-Fatal/Fatal Reporting off and Command SERR# off) and of switch/bridge ports
    that do not forward error messages from below (Bridge Control SERR# off)."""
    out = []
    for d in rep.devices:
        c = d.config
        p = c.pcie
        if c.all_ff or p is None or p.devctl is None or c.command is None:
            continue
        if not p.devctl & _DEVCTL_NFE_FE and not c.command & _SERR_CMD:
            out.append((d.bdf, "DevCtl NonFatalErr- FatalErr-, Command SERR-"))
        elif (c.bridge_control is not None and c.header_type == 1 and not p.port_type == 4
              and not c.bridge_control & _SERR_BCTL):
            out.append((d.bdf, "BridgeCtl SERR-: error messages from below are not forwarded"))
    return out


def _context(rep):
    """Lines that qualify the verdict: capture state, handled errors."""
    cap = rep.capture
    out = []
    if cap.state in NO_STATE:
        out.append("no PCI state at panic: %s" % cap.reason)
    if cap.state == CaptureState.SKIPPED:
        out.append(SKIPPED_ADVICE)
    elif cap.state in (CaptureState.PARTIAL, CaptureState.CORRUPT):
        out.append("capture %s: the verdict only uses what could be read" % cap.state)
    spurious = [d.bdf for d in rep.devices if d.node.unreachable == topology.UNREACH_SPURIOUS]
    if spurious:
        out.append("%d device(s) recorded as all 0xFF although probably reachable (%s): a "
                   "layout-B producer skips a device when the port above it reads DLActive-, "
                   "and these ports cannot report link state or other evidence says their "
                   "link was up" % (len(spurious), ", ".join(spurious[:8]) + (
                       ", ..." if len(spurious) > 8 else "")))
    quiet = reporting_disabled(rep)
    if quiet:
        out.append("error reporting looks disabled on %s: an uncorrectable error there sends "
                   "no message to its root port (so pci_crash.capture=aer would not capture "
                   "it)" % "; ".join("%s (%s)" % q for q in quiet[:8])
                   + ("; ..." if len(quiet) > 8 else ""))
    current = [p for p in rep.paths if p.current]
    cleared = [p for p in rep.paths if not p.current]
    if cleared and not current:
        out.append("no root port has error status set at panic; Error Source registers still "
                   "name %s: errors reported earlier and cleared by the kernel's AER handling "
                   "(kernel-side AER statistics, if shown, hold their history)"
                   % ", ".join(sorted({p.source_bdf for p in cleared})))
    return out
