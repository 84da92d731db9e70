"""What the kernel log says about the panic and the PCI devices: ``summarise(KernelLog)``.

Pure.  The panic: the first "Kernel panic - not syncing" line (or, with no
panic line, the Oops/BUG that sent the kernel to kdump), classified by
patterns.PANIC_CAUSES and by what the log shows just before it (a sysrq crash
request, an APEI record with a PCIe section, an NMI SERR/IOCK, a fatal AER
error the kernel did not recover).  The devices: every PCI event grouped by
the BDF it is about, ranked by how bad the log says it was.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import patterns as pt
from .events import Event, EventParser, parse_events
from .records import KernelLog

NEAR = 10.0        # seconds: how close before the panic an error counts as its trigger


@dataclass
class Panic:
    """The panic as the log tells it, and whether it was a PCI error."""
    line: Optional[str] = None      # the panic line (or the Oops line standing for it)
    message: Optional[str] = None   # text after "Kernel panic - not syncing: "
    time: Optional[float] = None
    pci: Optional[bool] = None      # True: a PCI error; False: not; None: the log does not say
    why: str = ""                   # what the classification rests on
    bdf: Optional[str] = None       # the PCI device, when pci and the log names one
    trigger: Optional[Event] = None  # the event the classification points at


@dataclass
class DeviceLog:
    """One device's history in the log."""
    bdf: str
    events: List[Event] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)        # AER bit names, first seen first
    severities: List[str] = field(default_factory=list)
    reports: int = 0                # AER reports with this device as the error device
    recovered: int = 0
    failed: int = 0
    ids: Optional[str] = None       # "[vvvv:dddd]" from the AER status line
    score: int = 0

    @property
    def first(self) -> float:
        return self.events[0].time

    @property
    def last(self) -> float:
        return self.events[-1].time

    @property
    def uncorrectable(self) -> bool:
        return any(s in ("fatal", "nonfatal") for s in self.severities)


@dataclass
class LogSummary:
    """The kernel log judged: its events, the panic, the devices ranked by what they logged."""
    log: KernelLog
    events: List[Event]
    panic: Panic
    devices: List[DeviceLog]        # ranked, worst first
    counts: Dict[str, int]
    cmdline: Optional[str] = None
    params: Dict[str, str] = field(default_factory=dict)    # pci=, pci_crash.*, pcie_ports=
    capture_filter: Optional[str] = None   # pci_crash devices= other than "all", and its source
    capture_filter_source: str = ""
    aer_off: Optional[str] = None          # why the kernel logged no AER reports, when it says
    dropped: int = 0                       # events past events.MAX_EVENTS, not kept

    @property
    def pci_events(self) -> List[Event]:
        return [e for e in self.events if e.pci]

    def device(self, bdf: str) -> Optional[DeviceLog]:
        for d in self.devices:
            if d.bdf == bdf:
                return d
        return None


# Ranking of a device's log history: (kind, condition) -> weight.  Strongest first.
def _weight(ev: Event) -> int:
    f = ev.fields
    if ev.kind in ("aer", "ghes_pcie"):
        sev = f.get("severity")
        if sev == "corrected":
            return 5
        if f.get("recovery") == "successful":
            return 30
        return 100 if sev == "fatal" else 80 if f.get("recovery") == "failed" else 60
    return {"dpc": 70, "nmi_serr": 70, "driver_link_lost": 55, "pciehp_link": 45,
            "pciehp_card": 45, "link_retrain": 45, "driver_fatal": 50, "driver_timeout": 40,
            "driver_reset": 40, "driver_hang": 40, "edr": 35, "link_limited": 10,
            "link_change": 10, "pciehp_slot": 10, "recovery": 20, "cant_recover": 20}.get(ev.kind, 0)


def _params(cmdline: str) -> Dict[str, str]:
    out = {}
    for tok in cmdline.split()[:512]:
        k, _, v = tok.partition("=")
        if k in ("pci", "pcie_ports", "pcie_aspm", "pci_crash.devices", "pci_crash.capture",
                 "panic_on_unrecovered_nmi", "panic_on_io_nmi", "ghes.disable"):
            out[k] = v
    return out


def _aer_off(params) -> Optional[str]:
    if "noaer" in params.get("pci", "").split(","):
        return "pci=noaer on the kernel command line: the AER driver was off"
    if params.get("pcie_ports") == "compat":
        return "pcie_ports=compat on the kernel command line: the PCIe port services (AER) were off"
    return None


def _devices(events: List[Event]) -> List[DeviceLog]:
    by: Dict[str, DeviceLog] = {}
    for ev in events:
        if not ev.pci or ev.bdf is None or ev.kind in ("recovery", "cant_recover"):
            continue
        f = ev.fields
        # an AER report names each error device in a detail (a "Multiple" report may hold
        # several); everything else is about ev.bdf
        parts = [d for d in f.get("details", ()) if d.get("bdf")] if ev.kind == "aer" else []
        for part in parts or [f]:
            bdf = part.get("bdf") or ev.bdf
            d = by.get(bdf)
            if d is None:
                if len(by) >= 4096:
                    continue
                d = by[bdf] = DeviceLog(bdf=bdf)
            d.events.append(ev)
            d.score = max(d.score, _weight(ev))
            if ev.kind not in ("aer", "ghes_pcie"):
                continue
            d.reports += 1
            sev = part.get("severity") or f.get("severity")
            if sev:
                d.severities.append(sev)
            for e in part.get("errors", ()):
                if e not in d.errors:
                    d.errors.append(e)
            if f.get("recovery") == "successful":
                d.recovered += 1
            elif f.get("recovery") == "failed":
                d.failed += 1
            if d.ids is None and part.get("vendor_id") is not None:
                d.ids = "[%04x:%04x]" % (part["vendor_id"], part["device_id"])
    return sorted(by.values(), key=lambda d: (-d.score, d.first, d.bdf))


def _classify(events: List[Event]) -> Panic:
    panic = next((e for e in events if e.kind == "panic"), None)
    oopses = [e for e in events if e.kind in ("oops", "bug") and (panic is None or e.time <= panic.time)]
    trig = panic if panic is not None else (oopses[-1] if oopses else None)
    if trig is None:
        return Panic(why="no panic line and no Oops in the log")
    p = Panic(line=trig.raw[0], time=trig.time, trigger=trig,
              message=trig.fields.get("message") if trig.kind == "panic" else None)
    msg = p.message or trig.fields.get("message") or ""
    for rx, pci, why in pt.PANIC_CAUSES:
        if rx.search(msg):
            p.pci, p.why = pci, why
            break
    else:
        p.why = "the panic message is not one this tool classifies"
    before = [e for e in events if e.time <= trig.time and e is not trig and trig.time - e.time <= NEAR]
    sysrq = [e for e in before if e.kind == "sysrq" and "crash" in str(e.fields.get("action", "")).lower()]
    oops = oopses[-1] if oopses else None
    if sysrq or (oops is not None and "sysrq_handle_crash" in str(oops.fields.get("rip", ""))):
        p.pci, p.why = False, "a crash requested through sysrq (%s)" % (
            sysrq[-1].raw[0] if sysrq else "Oops in sysrq_handle_crash")
        return p
    ghes = [e for e in before if e.kind in ("ghes_pcie", "ghes")]
    nmi = [e for e in before if e.kind in ("nmi_serr", "nmi_iock", "nmi_unknown")]
    if ghes and msg.lower().startswith("fatal hardware error"):
        g = ghes[-1]
        if g.kind == "ghes_pcie":
            p.pci, p.bdf, p.trigger = True, g.bdf, g
            p.why = "APEI reported a %s PCIe error%s just before it" % (
                g.fields.get("severity", ""), " at %s" % g.bdf if g.bdf else "")
        else:
            p.pci, p.trigger = False, g
            p.why = "APEI reported a %s error in a %s section, not PCIe" % (
                g.fields.get("severity", ""), g.fields.get("section", "non-PCIe"))
        return p
    if nmi and (msg.startswith("NMI") or trig.kind != "panic"):
        n = nmi[-1]
        p.trigger = n
        if n.kind == "nmi_unknown":
            p.pci, p.why = None, "an NMI of unknown reason (%s)" % n.raw[0]
        else:
            p.pci = True
            p.why = "NMI %s (%s): a PCI agent asserted it; the NMI does not name which" % (
                "PCI system error (SERR)" if n.kind == "nmi_serr" else "I/O check (IOCK)", n.raw[0])
    if oops is not None and p.message and p.message.startswith("Fatal exception"):
        p.trigger = oops
        p.why = "an Oops (%s%s)" % (oops.raw[0].strip(), ", at %s" % oops.fields["rip"]
                                    if oops.fields.get("rip") else "")
    if p.pci is not False:
        bad = [e for e in before if e.kind in ("aer", "dpc", "ghes_pcie")
               and e.fields.get("severity") != "corrected" and e.fields.get("recovery") != "successful"]
        fatal = [e for e in bad if e.fields.get("severity") == "fatal" or e.kind == "dpc"]
        if p.pci is None and fatal:
            e = fatal[-1]
            p.pci, p.trigger = True, e
            p.why = "%.3f s after a fatal %s at %s that the kernel did not recover" % (
                trig.time - e.time, "DPC containment" if e.kind == "dpc" else "PCIe error", e.bdf)
        if p.pci and p.bdf is None and bad:
            p.bdf = bad[-1].bdf
    return p


def summarise(log: KernelLog, events: Optional[List[Event]] = None) -> LogSummary:
    parser = EventParser()
    events = parse_events(log.records, parser) if events is None else events
    counts = collections.Counter(e.kind for e in events)
    s = LogSummary(log=log, events=events, panic=_classify(events), devices=_devices(events),
                   counts=dict(counts), dropped=parser.dropped)
    cl = next((e for e in events if e.kind == "cmdline"), None)
    if cl is not None:
        s.cmdline = cl.fields.get("cmdline", "")
        s.params = _params(s.cmdline)
        s.aer_off = _aer_off(s.params)
    ready = [e for e in events if e.kind in ("pci_crash_ready", "pci_crash_nomatch")]
    if ready and ready[-1].fields.get("filter", "all") not in ("all", ""):
        s.capture_filter = ready[-1].fields["filter"]
        s.capture_filter_source = "pci_crash's own log line at %.6f" % ready[-1].time
    elif not ready and s.params.get("pci_crash.devices", "all") not in ("all", ""):
        s.capture_filter = s.params["pci_crash.devices"]
        s.capture_filter_source = "the kernel command line"
    return s
