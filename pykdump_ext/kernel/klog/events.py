"""Typed PCI events out of kernel log records: ``parse_events(records) -> List[Event]``.

Two steps, both one pass with bounded work per line:

1. ``match_line``: the dev_printk / APEI prefix is taken off, then the one
   pattern table (patterns.PATTERNS) names the line's kind and decodes its fields.
2. ``EventParser`` groups what belongs together: an AER report (the root port's
   "error message received" line, each error device's "PCIe Bus Error" line, its
   status/mask, one line per bit, the TLP header, "can't recover", and the port's
   "device recovery failed/successful") becomes ONE event; so do a DPC
   containment with its reason and RP PIO lines, a GHES record with its PCIe
   section, and an Oops with its RIP.  Everything else is an event of its own.

Bit names come from regs.py's AER tables (the kernel's names), the TLP header is
decoded by tlp.py.  Unknown lines are skipped; nothing here raises for any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from pykdump_ext.pci import regs, tlp
from pykdump_ext.pci.bdf import rid_bdf
from . import patterns as pt
from .records import LogRecord

MAX_LINE = 1024          # longer lines are matched on their first MAX_LINE characters
MAX_DETAILS = 32         # error devices kept per AER report
MAX_RAW = 64             # raw lines kept per grouped event
MAX_ALIASES = 4096       # nvme0 / eth0 -> BDF entries kept
MAX_EVENTS = 200000      # events kept from one log (a log of only AER storms stays bounded)

PCI_KINDS = frozenset((
    "aer", "dpc", "edr", "recovery", "cant_recover", "pciehp_link", "pciehp_card", "pciehp_slot",
    "link_retrain", "link_limited", "link_change", "driver_timeout", "driver_reset",
    "driver_hang", "driver_link_lost", "driver_fatal", "ghes_pcie", "nmi_serr", "nmi_iock"))


@dataclass
class Event:
    """One PCI event of the kernel log (an AER report, a DPC trigger, a panic, ...)."""
    time: float                     # seconds since boot (the record's timestamp)
    kind: str                       # "aer", "dpc", "panic", ... (see docs/json.md)
    bdf: Optional[str] = None       # the device the event is about
    reporter: Optional[str] = None  # the device that printed the (first) line
    driver: str = ""                # its driver ("pcieport", "nvme", ...)
    fields: Dict[str, Any] = field(default_factory=dict)   # JSON-able values of any type
    raw: List[str] = field(default_factory=list)   # the log lines, as stored
    seq: int = 0                    # record sequence number of the first line

    @property
    def pci(self) -> bool:
        """True for events about PCI hardware (not panic/oops/pci_crash/cmdline lines)."""
        return self.kind in PCI_KINDS

    @property
    def text(self) -> str:
        return "\n".join(self.raw)


@dataclass
class LineMatch:
    """What one log line is (its kind and decoded fields) and which device printed it."""
    kind: str
    fields: Dict[str, object]
    bdf: Optional[str]              # prefix device (or an alias resolved to one)
    driver: str
    ifname: str
    gid: Optional[str]              # GHES record id, for "{n}[Hardware Error]" lines


def _decode(pat, m) -> Dict[str, object]:
    out = {}
    for group, dec in pat.fields:
        v = m.group(group)
        if v is None:
            continue
        try:
            out[group] = pt.DECODERS[dec](v)
        except (ValueError, KeyError):
            continue
    return out


def _first_match(table, msg, drv, has_dev):
    for pat in table:
        if pat.key not in msg:
            continue
        if pat.drivers and drv not in pat.drivers:
            continue
        if pat.needs_device and not has_dev:
            continue
        m = pat.regex.match(msg)
        if m is not None:
            return pat, m
    return None, None


def match_line(line: str, aliases: Optional[Dict[str, str]] = None) -> Optional[LineMatch]:
    """Kind and fields of one log line, or None for a line the table does not know."""
    line = line[:MAX_LINE]
    drv = ifname = ""
    bdf = gid = None
    msg = line
    m = pt.PREFIX.match(line)
    if m is not None:
        drv, bdf, ifname, msg = m.group("drv"), pt.norm_bdf(m.group("bdf")), \
            m.group("ifname") or "", m.group("msg")
    else:
        m = pt.NAMED_PREFIX.match(line)
        if m is not None and aliases is not None and m.group("name") in aliases:
            drv, bdf, msg = m.group("drv"), aliases[m.group("name")], m.group("msg")
        elif m is not None and m.group("drv") in ("nvme",):
            drv, ifname, msg = m.group("drv"), m.group("name"), m.group("msg")
    table = pt.PATTERNS
    g = pt.GHES_PREFIX.match(msg)
    if g is not None:
        gid, msg = g.group("gid") or "", g.group("msg")
        table = pt.GHES_PATTERNS + pt.PATTERNS
    elif not ifname and pt.ANY_KEY.search(msg) is None:
        return None                   # no pattern's key in it: no pattern can match
    pat, mm = _first_match(table, msg, drv, bdf is not None)
    if pat is None:
        if gid is not None:
            return LineMatch("ghes_line", {}, bdf, drv, ifname, gid)
        if ifname and bdf is not None:       # "ixgbe 0000:05:00.0 eth2: ...": eth2 is 05:00.0
            return LineMatch("alias", {"target": bdf}, bdf, drv, ifname, gid)
        return None
    return LineMatch(pat.kind, _decode(pat, mm), bdf, drv, ifname, gid)


# --- decoding helpers over the existing register tables ------------------------------------

def bit_names(value: int, corrected: bool) -> List[str]:
    """Kernel names of the AER status bits set in `value` (regs.AER_*_ERRORS)."""
    table = regs.AER_COR_ERRORS if corrected else regs.AER_UNCOR_ERRORS
    out = []
    for b in range(32):
        if value >> b & 1:
            e = table.get(b)
            out.append(e[1] if e else "bit%d" % b)
    return out


def bit_name(bit: int, corrected: bool) -> str:
    table = regs.AER_COR_ERRORS if corrected else regs.AER_UNCOR_ERRORS
    e = table.get(bit)
    return e[1] if e else "bit%d" % bit


def _rid_bdf(rid: int, domain: str = "0000") -> str:
    return rid_bdf(int(domain, 16), rid)        # domain: the 4 hex digits of a logged BDF


def tlp_fields(dwords: Tuple[int, int, int, int]) -> Dict[str, Any]:
    t = tlp.decode(dwords)
    out: Dict[str, Any] = {"dwords": ["%08x" % d for d in dwords]}
    if t is not None:
        out.update(kind=t.kind, category=t.category, decoded=t.lines())
        if t.requester_id is not None:
            out["requester"] = _rid_bdf(t.requester_id)
        if t.address is not None:
            out["address"] = t.address
        if t.completer_id is not None:
            out["completer"] = _rid_bdf(t.completer_id)
    else:
        out["kind"] = None        # all zero: nothing was logged
    return out


# --- grouping -------------------------------------------------------------------------------

class _Group:
    """An event being assembled from several lines."""

    def __init__(self, ev: Event) -> None:
        self.ev = ev
        self.details: List[dict] = []

    def add_raw(self, line) -> None:
        if len(self.ev.raw) < MAX_RAW:
            self.ev.raw.append(line)
        else:
            self.ev.fields["raw_lines_dropped"] = self.ev.fields.get("raw_lines_dropped", 0) + 1


class EventParser:
    """Feed records in log order (``feed``), then ``finish()`` for the events."""

    def __init__(self) -> None:
        self.events: List[Event] = []
        self.aliases: Dict[str, str] = {}
        self.dropped = 0
        self._aer: Optional[_Group] = None     # the AER report being assembled
        self._dpc: Dict[str, _Group] = {}      # bdf -> open DPC containment
        self._ghes: Optional[_Group] = None
        self._oops: Optional[_Group] = None
        self._pio: Set[str] = set()                 # DPC ports whose RP PIO lines are being printed

    # output
    def _emit(self, ev: Event) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(ev)
        else:
            self.dropped += 1

    def _close_aer(self) -> None:
        g, self._aer = self._aer, None
        if g is None:
            return
        f = g.ev.fields
        f["details"] = g.details
        if g.details:
            d0 = g.details[0]
            g.ev.bdf = d0["bdf"] or f.get("source")
            for k in ("type", "agent", "status", "mask", "errors", "first_error", "tlp",
                      "vendor_id", "device_id"):
                if k in d0:
                    f[k] = d0[k]
            if f.get("severity") is None and d0.get("severity") is not None:
                f["severity"] = d0["severity"]
        elif g.ev.bdf is None:
            g.ev.bdf = f.get("source")
        f.setdefault("recovery", None)
        self._emit(g.ev)

    def _close_dpc(self, bdf=None) -> None:
        keys = [bdf] if bdf is not None else list(self._dpc)
        for k in keys:
            g = self._dpc.pop(k, None)
            if g is not None:
                g.ev.fields.setdefault("recovery", None)
                self._emit(g.ev)

    def _close_ghes(self) -> None:
        g, self._ghes = self._ghes, None
        if g is not None:
            f = g.ev.fields
            if "PCIe" in str(f.get("section", "")):
                g.ev.kind = "ghes_pcie"
                if f.get("severity") == "corrected" and "cor_status" in f:
                    f["errors"] = bit_names(f["cor_status"] & ~f.get("cor_mask", 0), True)
                elif "status" in f:
                    f["errors"] = bit_names(f["status"] & ~f.get("mask", 0), False)
            self._emit(g.ev)

    def _close_oops(self) -> None:
        g, self._oops = self._oops, None
        if g is not None:
            self._emit(g.ev)

    def finish(self) -> List[Event]:
        self._close_aer()
        self._close_dpc()
        self._close_ghes()
        self._close_oops()
        self.events.sort(key=lambda e: (e.time, e.seq))
        return self.events

    # input
    def feed(self, rec: LogRecord) -> None:
        t = rec.ts_nsec / 1e9
        for line in rec.text.split("\n"):
            self.feed_line(t, rec.seq, line, rec.device)

    def feed_line(self, t: float, seq: int, line: str, dict_device: str = "") -> None:
        m = match_line(line, self.aliases)
        if m is None:
            return
        if m.bdf is None and dict_device.startswith("+pci:"):
            m.bdf = pt.norm_bdf(dict_device[5:]) if _is_bdf(dict_device[5:]) else None
        if m.ifname and m.bdf is not None and m.kind != "alias" and m.ifname not in self.aliases:
            self._alias(t, seq, line, LineMatch("alias", {"target": m.bdf}, m.bdf, m.driver,
                                                m.ifname, None))
        handler = _HANDLERS.get(m.kind, EventParser._single)
        handler(self, t, seq, line, m)

    def _new(self, t, seq, line, m, kind=None, bdf=None):
        return Event(time=t, kind=kind or m.kind, bdf=bdf if bdf is not None else m.bdf,
                     reporter=m.bdf, driver=m.driver, fields=dict(m.fields), raw=[line], seq=seq)

    def _single(self, t, seq, line, m) -> None:
        ev = self._new(t, seq, line, m)
        if m.kind == "driver_timeout" and ev.bdf is None and m.fields.get("ifname") in self.aliases:
            ev.bdf = self.aliases[m.fields["ifname"]]
        self._emit(ev)

    def _alias(self, t, seq, line, m) -> None:
        if m.ifname and "target" in m.fields and (m.ifname in self.aliases
                                                   or len(self.aliases) < MAX_ALIASES):
            self.aliases[m.ifname] = m.fields["target"]

    # AER
    def _aer_received(self, t, seq, line, m) -> None:
        g = self._aer
        f = m.fields
        if "source" not in f and "rid" in f:
            f["source"] = _rid_bdf(f["rid"], (m.bdf or "0000:")[:4])
        if g is not None and not g.details and g.ev.fields.get("recovery") is None and \
                g.ev.reporter == m.bdf and g.ev.fields.get("source") == f.get("source") and \
                g.ev.fields.get("severity") == f.get("severity"):
            g.ev.fields["repeated"] = g.ev.fields.get("repeated", 1) + 1     # logged twice
            g.add_raw(line)
            return
        self._close_aer()
        ev = self._new(t, seq, line, m, kind="aer", bdf=f.get("source"))
        ev.fields["multiple"] = bool(f.get("multiple"))
        ev.fields.pop("rid", None)
        self._aer = _Group(ev)

    def _aer_group(self, t, seq, line, m):
        """The report this detail line belongs to (a new one when none is open)."""
        g = self._aer
        if g is None or g.ev.fields.get("recovery") is not None or (t - g.ev.time) > 60:
            self._close_aer()
            ev = self._new(t, seq, line, m, kind="aer")
            ev.fields = {"source": m.bdf, "multiple": False}
            ev.raw = []
            g = self._aer = _Group(ev)
        return g

    def _detail(self, g, bdf, create=True):
        for d in reversed(g.details):
            if d["bdf"] == bdf:
                return d
        if not create or len(g.details) >= MAX_DETAILS:
            return None
        d = {"bdf": bdf, "errors": []}
        g.details.append(d)
        return d

    def _aer_bus_error(self, t, seq, line, m) -> None:
        g = self._aer_group(t, seq, line, m)
        g.add_raw(line)
        d = self._detail(g, m.bdf)
        if d is None:
            return
        if d.get("severity") is not None:        # a second report for the same device
            d = {"bdf": m.bdf, "errors": []}
            if len(g.details) >= MAX_DETAILS:
                return
            g.details.append(d)
        f = m.fields
        d["severity"] = f.get("severity")
        for k in ("type", "agent"):
            if k in f:
                d[k] = f[k]
        if "severity" not in g.ev.fields:
            g.ev.fields["severity"] = f.get("severity")
        self._pio.discard(m.bdf)

    def _aer_status(self, t, seq, line, m):
        if m.bdf in self._dpc and m.kind == "aer_cper_status":
            return self._dpc_line(t, seq, line, m)
        g = self._aer_group(t, seq, line, m)
        g.add_raw(line)
        d = self._detail(g, m.bdf)
        if d is None:
            return
        f = m.fields
        if m.kind == "aer_status":
            d["vendor_id"], d["device_id"] = f["vendor"], f["device"]
        d["status"], d["mask"] = f["status"], f["mask"]
        sev = d.get("severity") or g.ev.fields.get("severity")
        if f.get("which") == "cor":
            sev = "corrected"
        d.setdefault("severity", sev)
        d["errors"] = bit_names(f["status"] & ~f["mask"], sev == "corrected")

    def _aer_bit(self, t, seq, line, m):
        bdf = m.bdf
        if bdf in self._pio:
            return self._dpc_line(t, seq, line, m)
        g = self._aer
        if g is None:
            return                     # a "[nn] name" line outside any report: not ours
        d = self._detail(g, bdf, create=False)
        if d is None:
            return
        g.add_raw(line)
        name = bit_name(m.fields["bit"], d.get("severity") == "corrected")
        if name not in d["errors"]:
            d["errors"].append(name)
        if m.fields.get("first"):
            d["first_error"] = name

    def _aer_first_agent(self, t, seq, line, m) -> None:
        g = self._aer
        if g is not None:
            g.add_raw(line)
            d = self._detail(g, m.bdf, create=False)
            if d is not None:
                d["reported_first"] = True

    def _aer_tlp(self, t, seq, line, m):
        if m.bdf in self._pio:
            return self._dpc_line(t, seq, line, m)
        g = self._aer_group(t, seq, line, m)
        g.add_raw(line)
        d = self._detail(g, m.bdf)
        if d is not None:
            f = m.fields
            d["tlp"] = tlp_fields((f["d0"], f["d1"], f["d2"], f["d3"]))

    def _aer_cper_extra(self, t, seq, line, m):
        if self._ghes is not None and m.gid is not None:
            return self._ghes_line(t, seq, line, m)
        g = self._aer
        if g is None:
            return
        g.add_raw(line)
        d = self._detail(g, m.bdf, create=False)
        if d is not None:
            d.update(m.fields)
            if "sevmask" in m.fields and "status" in d and d.get("severity") is None:
                fatal = d["status"] & ~d.get("mask", 0) & m.fields["sevmask"]
                d["severity"] = "fatal" if fatal else "nonfatal"
                g.ev.fields.setdefault("severity", d["severity"])

    def _cant_recover(self, t, seq, line, m):
        g = self._aer
        target = g if g is not None and g.ev.fields.get("recovery") is None else None
        if target is None and self._dpc:
            target = list(self._dpc.values())[-1]
        if target is None:
            return self._single(t, seq, line, m)
        target.add_raw(line)
        lst = target.ev.fields.setdefault("cant_recover", [])
        if len(lst) < MAX_DETAILS:
            lst.append({"bdf": m.bdf, "why": m.fields.get("why", "")})

    def _recovery(self, t, seq, line, m) -> None:
        res = m.fields.get("result")
        if m.bdf in self._dpc:
            g = self._dpc[m.bdf]
            g.add_raw(line)
            g.ev.fields["recovery"] = res
            g.ev.fields["recovery_by"] = m.bdf
            self._close_dpc(m.bdf)
            self._pio.discard(m.bdf)
            a = self._aer          # the AER lines DPC printed for the same containment
            if a is None or a.ev.time < g.ev.time or a.ev.fields.get("recovery") is not None:
                return
        aer = self._aer
        if aer is not None and aer.ev.fields.get("recovery") is None:
            aer.add_raw(line)
            aer.ev.fields["recovery"] = res
            aer.ev.fields["recovery_by"] = m.bdf
            aer.ev.fields["recovery_time"] = t
            self._close_aer()
            return
        self._single(t, seq, line, m)

    # DPC
    def _dpc_event(self, t, seq, line, m) -> None:
        self._close_dpc(m.bdf)
        ev = self._new(t, seq, line, m, kind="dpc")
        st = m.fields["status"]
        ev.fields["triggered"] = bool(st & regs.DPC_STS_TRIGGER)
        code = st >> regs.DPC_STS_REASON_SHIFT & regs.DPC_STS_REASON_MASK
        if code == regs.DPC_TRIGGER_REASON_EXTENSION:
            ext = st >> regs.DPC_STS_EXT_SHIFT & regs.DPC_STS_EXT_MASK
            ev.fields["trigger"] = regs.DPC_TRIGGER_EXTENSIONS.get(ext, "extension %d" % ext)
        else:
            ev.fields["trigger"] = regs.DPC_TRIGGER_REASONS.get(code)
        # the Source ID register names the sender of a received ERR_NONFATAL/ERR_FATAL only;
        # other triggers (an error of the port itself, RP PIO, software) leave it 0
        if code in (1, 2) or m.bdf is None:
            ev.fields["source_bdf"] = _rid_bdf(m.fields["source"], (m.bdf or "0000")[:4])
        else:
            ev.fields["source_bdf"] = m.bdf
        if m.bdf is not None and len(self._dpc) < MAX_DETAILS:
            self._dpc[m.bdf] = _Group(ev)
        else:
            self._emit(ev)

    def _dpc_line(self, t, seq, line, m):
        g = self._dpc.get(m.bdf)
        if g is None:
            return self._single(t, seq, line, m) if m.kind not in ("aer_bit",) else None
        g.add_raw(line)
        f = g.ev.fields
        if m.kind == "dpc_reason":
            f["reason"] = m.fields.get("reason")
        elif m.kind == "dpc_rp_pio":
            self._pio.add(m.bdf)
            f["rp_pio_status"], f["rp_pio_mask"] = m.fields["status"], m.fields["mask"]
            f["rp_pio_errors"] = [regs.DPC_RP_PIO_ERRORS.get(b, "bit%d" % b) for b in range(32)
                                  if (m.fields["status"] & ~m.fields["mask"]) >> b & 1]
        elif m.kind == "dpc_rp_pio_sev":
            f.update({"rp_pio_" + k: v for k, v in m.fields.items()})
        elif m.kind == "aer_bit":
            if m.fields.get("first"):
                f["rp_pio_first"] = regs.DPC_RP_PIO_ERRORS.get(m.fields["bit"], "bit%d" % m.fields["bit"])
        elif m.kind == "aer_tlp":
            f["tlp"] = tlp_fields((m.fields["d0"], m.fields["d1"], m.fields["d2"], m.fields["d3"]))

    # GHES
    def _ghes_line(self, t, seq, line, m) -> None:
        g = self._ghes
        if m.kind == "ghes_source" or g is None or g.ev.fields.get("gid") != m.gid:
            self._close_ghes()
            ev = self._new(t, seq, line, m, kind="ghes")
            ev.fields = {"gid": m.gid}
            if m.kind == "ghes_source":
                ev.fields["source"] = m.fields["source"]
            g = self._ghes = _Group(ev)
            if m.kind == "ghes_source":
                return
        else:
            g.add_raw(line)
        f = g.ev.fields
        if m.kind == "ghes_device":
            g.ev.bdf = m.fields["target"]
        elif m.kind == "aer_cper_status":
            which = "cor_" if m.fields.get("which") == "cor" else ""
            f[which + "status"], f[which + "mask"] = m.fields["status"], m.fields["mask"]
        elif m.kind == "aer_tlp":
            f["tlp"] = tlp_fields((m.fields["d0"], m.fields["d1"], m.fields["d2"], m.fields["d3"]))
        elif m.kind in ("ghes_severity", "ghes_section", "ghes_ids", "ghes_port", "ghes_cmdsta",
                        "aer_cper_layer", "aer_cper_severity"):
            for k, v in m.fields.items():
                f.setdefault(k, v)

    # Oops
    def _oops_start(self, t, seq, line, m) -> None:
        if self._oops is not None and t - self._oops.ev.time < 1 and not self._oops.ev.fields.get("where"):
            self._oops.add_raw(line)           # "BUG: ..." then "Oops: ..." of the same oops
            for k, v in m.fields.items():
                self._oops.ev.fields.setdefault(k, v)
            return
        self._close_oops()
        self._oops = _Group(self._new(t, seq, line, m))

    def _rip(self, t, seq, line, m) -> None:
        g = self._oops
        if g is not None and "rip" not in g.ev.fields and t - g.ev.time < 2:
            g.add_raw(line)
            g.ev.fields["rip"] = m.fields["where"]


_BDF_RE = re.compile(pt.BDF)


def _is_bdf(text) -> bool:
    return _BDF_RE.fullmatch(text) is not None


def _route(kind_ghes_aware):
    """Send a GHES-prefixed line to the GHES group, anything else to `kind_ghes_aware`."""
    def h(self, t, seq, line, m):
        if m.gid is not None:
            return self._ghes_line(t, seq, line, m)
        return kind_ghes_aware(self, t, seq, line, m)
    return h


def _ghes_only(self, t, seq, line, m):
    if m.gid is not None:
        return self._ghes_line(t, seq, line, m)
    return None


_HANDLERS = {
    "alias": EventParser._alias,
    "aer_received": EventParser._aer_received,
    "aer_bus_error": _route(EventParser._aer_bus_error),
    "aer_status": EventParser._aer_status,
    "aer_cper_status": _route(EventParser._aer_status),
    "aer_bit": EventParser._aer_bit,
    "aer_first_agent": EventParser._aer_first_agent,
    "aer_tlp": _route(EventParser._aer_tlp),
    "aer_cper_layer": EventParser._aer_cper_extra,
    "aer_cper_severity": EventParser._aer_cper_extra,
    "cant_recover": EventParser._cant_recover,
    "recovery": EventParser._recovery,
    "dpc_event": EventParser._dpc_event,
    "dpc_reason": EventParser._dpc_line,
    "dpc_rp_pio": EventParser._dpc_line,
    "dpc_rp_pio_sev": EventParser._dpc_line,
    "ghes_source": EventParser._ghes_line,
    "ghes_severity": EventParser._ghes_line,
    "ghes_section": EventParser._ghes_line,
    "ghes_device": EventParser._ghes_line,
    "ghes_ids": EventParser._ghes_line,
    "ghes_port": EventParser._ghes_line,
    "ghes_cmdsta": EventParser._ghes_line,
    "ghes_line": _ghes_only,
    "oops": EventParser._oops_start,
    "bug": EventParser._oops_start,
    "rip": EventParser._rip,
}


def parse_events(records: Iterable[LogRecord], parser: Optional[EventParser] = None) -> List[Event]:
    """Every PCI (and panic/oops/pci_crash/command-line) event in `records`, in log order.
    `parser`: an EventParser to use (its `dropped` then says how many events past
    MAX_EVENTS were not kept)."""
    p = parser if parser is not None else EventParser()
    for r in records:
        p.feed(r)
    return p.finish()
