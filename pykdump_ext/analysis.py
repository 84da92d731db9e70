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
from typing import Dict, List, Optional

from . import config as _config
from . import errpath, topology, verdict
from .capture import Capture, Record, load_capture

_NAMES = {}


def load_names():
    """The system pci.ids through pykdump_ext.pciids, or None when that module or file is absent."""
    if "db" not in _NAMES:
        try:
            from .pciids import PciIds
            _NAMES["db"] = PciIds.load()
        except Exception:        # optional: names are a convenience, numbers are always shown
            _NAMES["db"] = None
    return _NAMES["db"]


@dataclass
class Device:
    bdf: str
    record: Record
    config: object                  # config.Config
    node: object                    # topology.Node
    vendor_name: Optional[str] = None
    device_name: Optional[str] = None
    class_name: Optional[str] = None
    items: List[str] = field(default_factory=list)    # errpath.status_items

    @property
    def ids(self) -> str:
        c = self.config
        if c.all_ff or c.vendor_id is None:
            return "[ffff:ffff]" if c.all_ff else "[????:????]"
        return "[%04x:%04x]" % (c.vendor_id, c.device_id)

    @property
    def name(self) -> str:
        if self.config.all_ff:
            return "(no answer: config space all 0xFF)"
        parts = [p for p in (self.vendor_name, self.device_name) if p]
        if parts:
            return " ".join(parts)
        return self.class_name or "class %06x" % (self.config.class_code or 0)

    @property
    def label(self) -> str:
        return "%s %s %s" % (self.bdf, self.ids, self.name)

    @property
    def has_error(self) -> bool:
        return bool(self.items)


@dataclass
class Report:
    source: str
    format: str
    capture: Capture
    devices: List[Device] = field(default_factory=list)      # buffer order
    by_bdf: Dict[str, Device] = field(default_factory=dict)
    topology: Optional[topology.Topology] = None
    paths: List[errpath.ErrorPath] = field(default_factory=list)
    verdict: Optional[verdict.Verdict] = None
    kernel: object = None
    reader_notes: List[str] = field(default_factory=list)
    kernel_log: object = None       # klog.judge.LogSummary, None when no log could be read

    def label(self, bdf) -> str:
        d = self.by_bdf.get(bdf)
        return d.label if d else "%s (not captured)" % bdf


@contextlib.contextmanager
def no_gc():
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


def analyse(reader, *, kernel=None, names="system", log=None) -> Report:
    """Load the capture (and the kernel log) from `reader` and analyse them.

    Never raises for bad capture or log data.  `log`: a klog.records.KernelLog to use
    instead of reading the dump's own."""
    cap = load_capture(reader)
    if log is None:
        log = _read_log(reader)
    rep = analyse_capture(cap, kernel=kernel, names=names, log=log)
    rep.source = getattr(reader, "name", "")
    rep.format = getattr(reader, "format", "")
    rep.reader_notes = list(getattr(reader, "notes", ()) or ())
    return rep


def _read_log(reader):
    """The kernel log through the dump reader, or None when this build has no log reader."""
    try:
        from .klog.reader import read_kernel_log
    except ImportError:
        return None
    return read_kernel_log(reader)


def analyse_capture(cap: Capture, *, kernel=None, names="system", log=None) -> Report:
    with no_gc():
        return _analyse_capture(cap, kernel=kernel, names=names, log=log)


def _analyse_capture(cap, *, kernel, names, log=None):
    if names == "system":
        names = load_names()
    rep = Report(source=cap.source, format="", capture=cap, kernel=kernel)
    decoded = []
    seen = set()
    for r in cap.records:
        if r.bdf in seen:
            continue       # duplicates are reported by topology.build
        seen.add(r.bdf)
        decoded.append((r, _config.decode(r.config, devfn=r.devfn)))
    rep.topology = topology.build((r.bdf, r.domain, r.bus, r.devfn, c) for r, c in decoded)
    for r, c in decoded:
        d = Device(bdf=r.bdf, record=r, config=c, node=rep.topology.nodes[r.bdf])
        if names is not None and not c.all_ff and c.vendor_id is not None:
            d.vendor_name = names.vendor(c.vendor_id)
            d.device_name = names.device(c.vendor_id, c.device_id)
            d.class_name = names.klass(c.class_code) if c.class_code is not None else None
        d.items = errpath.status_items(c)
        if d.node.unreachable:
            d.items = ["no answer (all 0xFF): %s" % d.node.unreachable_why]
        rep.devices.append(d)
        rep.by_bdf[d.bdf] = d
    configs = {d.bdf: d.config for d in rep.devices}
    rep.paths = errpath.find_paths(configs, rep.topology)
    rep.verdict = verdict.judge(_facts(rep), rep.label, context=_context(rep))
    if not rep.devices and cap.state != "captured":
        rep.verdict.lines = ["No verdict: no device could be read (capture %s)" % cap.state]
    if log is not None:
        from .klog import judge, verdict_log
        rep.kernel_log = judge.summarise(log)
        if log.records:                  # a log that could not be read says nothing of the panic
            verdict_log.apply(rep, rep.kernel_log, names)
    return rep


def _facts(rep):
    facts = {}
    for d in rep.devices:
        n = d.node
        facts[d.bdf] = verdict.Facts(
            bdf=d.bdf, cfg=d.config,
            children=[rep.by_bdf[c].config for c in n.children],
            unreachable=n.unreachable, unreachable_why=n.unreachable_why,
            parent_cfg=rep.by_bdf[n.parent].config if n.parent else None,
            clean=(not d.items and n.unreachable is None
                   and not errpath.downstream_facing(d.config.pcie)))
    for p in rep.paths:
        f = facts.get(p.source_bdf)
        if f is None:
            f = facts[p.source_bdf] = verdict.Facts(bdf=p.source_bdf)
        f.named.append(p)
    return facts


def _context(rep):
    """Lines that qualify the verdict: capture state, handled errors."""
    cap = rep.capture
    out = []
    if cap.state in ("skipped", "absent"):
        out.append("no PCI state at panic: %s" % cap.reason)
    elif cap.state in ("partial", "corrupt"):
        out.append("capture %s: the verdict only uses what could be read" % cap.state)
    spurious = [d.bdf for d in rep.devices if d.node.unreachable == topology.UNREACH_SPURIOUS]
    if spurious:
        out.append("%d device(s) recorded as all 0xFF although probably reachable (%s): the "
                   "producer skipped them because their parent port cannot report link state"
                   % (len(spurious), ", ".join(spurious[:4]) + (", ..." if len(spurious) > 4
                                                                else "")))
    current = [p for p in rep.paths if p.current]
    cleared = [p for p in rep.paths if not p.current]
    if cleared and not current:
        out.append("no root port has error status set at panic; Error Source registers still "
                   "name %s: errors reported earlier and cleared by the kernel's AER handling "
                   "(kernel-side AER statistics, if shown, hold their history)"
                   % ", ".join(sorted({p.source_bdf for p in cleared})))
    return out
