"""The HTML form of a Report (``pcicrash --html FILE``): one self-contained file.

Everything is inline (style sheet, a small filter script, the error-path
diagrams as SVG); a Content-Security-Policy forbids every load, so the file
opened from a mail attachment on a machine without network asks for nothing.
Rendered with Jinja2 (templates/report.html.j2) from the typed results of
``analysis.analyse()``: the verdict, the capture, the error paths, the
topology, every device's decode (the ``-a`` text of device_text, plus tables
of its AER errors and logged TLP header from the decoded Config) and its raw
config space; the kernel's PCI events when the Report carries a kernel log.

Jinja2 is imported only when a report is made: the rest of pykdump_ext (and
the crash command without --html) stays standard library only.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, TextIO, TYPE_CHECKING

from pykdump_ext import __version__
from pykdump_ext.pci.config import rid_to_bdf
from .badges import device_badges, severity, verdict_rules
from crash_ext_c.errors import UsageError
from pykdump_ext.capture.buffer import CaptureState
from pykdump_ext.analysis.errpath import downstream_facing, link_text
from . import kernel_view

if TYPE_CHECKING:
    from pykdump_ext.analysis.report import Report
    from pykdump_ext.pci.pciids import PciIds

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
TEMPLATE = "report.html.j2"
CHUNK = 100          # panels / tree rows per block the browser may skip laying out

# SVG geometry of the error-path diagram (px)
BOX_W, LINE_H, PAD, GAP, LEFT = 560, 16, 8, 46, 6
MAX_ITEMS, MAX_CHARS = 5, 84

_ENV: Dict[str, Any] = {}     # the jinja2 Environment, made on first use


def _jinja():
    try:
        import jinja2
    except ImportError:
        # inside crash, PyKdump's Python may not look in Debian's dist-packages
        deb = "/usr/lib/python3/dist-packages"
        if os.path.isdir(deb) and deb not in sys.path:
            sys.path.append(deb)
        try:
            import jinja2
        except ImportError:
            raise UsageError("--html needs Jinja2, which this Python cannot import",
                             expected="Debian python3-jinja2, or pip install 'pcicrash[html]'"
                             ) from None
    return jinja2


def environment() -> Any:
    if "env" not in _ENV:
        jinja2 = _jinja()
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
                                 autoescape=True, trim_blocks=True, lstrip_blocks=True,
                                 undefined=jinja2.StrictUndefined)
        _ENV["env"] = env
    return _ENV["env"]


# --- view model ------------------------------------------------------------------------

@dataclass
class HopBox:
    """One hop of an error path as the HTML report draws it."""
    bdf: str
    role: str
    name: str
    captured: bool
    items: List[str]
    shown: List[str]              # items cut to fit the box
    y: int
    h: int
    cls: str                      # fail | err | ok | missing
    link: Optional[str] = None    # the link below this hop (to the next box), as text
    link_cls: str = "ok"          # ok | down | downtrained
    link_y: int = 0


@dataclass
class PathView:
    """One error path as the HTML report draws it."""
    headline: str
    notes: List[str]
    current: bool
    source: str
    hops: List[HopBox]
    height: int
    width: int = BOX_W + 2 * LEFT + 250


@dataclass
class Panel:
    """One device's panel in the HTML report."""
    bdf: str
    ids: str
    name: str
    badges: list
    sev: Optional[str]
    filter_text: str
    err: bool                     # error status, or named by the verdict ("errors only")
    items: List[str]
    evidence: List[str]
    score: Optional[int]
    rank: Optional[int]
    uncor: list
    cor: list
    aer_regs: List[tuple]
    tlp: List[tuple]
    decode: str
    kernel_lines: List[str]
    hexdump: str
    role: str
    parent: Optional[str]


@dataclass
class TreeRow:
    """One device's row of the HTML report's tree."""
    depth: int
    bdf: str
    ids: str
    name: str
    bus: str
    badges: list
    sev: Optional[str]
    parent: Optional[str] = None      # the filter script shows the way up to a match


@dataclass
class Facts:
    """Label/value rows and lists for one section of the HTML report."""
    rows: List[tuple] = field(default_factory=list)     # (label, value)
    lists: List[tuple] = field(default_factory=list)    # (label, [lines], css class)


def _cut(text, n=MAX_CHARS):
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def _path_view(rep, path, rules, top):
    cfgs = rep.by_bdf
    boxes = []
    y = 4
    focus = top if top in [h.bdf for h in path.hops] else path.source_bdf
    for i, h in enumerate(path.hops):
        d = cfgs.get(h.bdf)
        name = d.name if d is not None else ""
        items = list(h.items) if h.captured else ["not captured"]
        if d is not None and len(path.hops) > 1 and not d.config.all_ff:
            own = link_text(d.config.pcie)      # drawn on the connector instead
            items = [t for t in items if t != own]
        shown = [_cut(t) for t in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            shown.append("\u2026 %d more (see the device panel)" % (len(items) - MAX_ITEMS))
        hgt = PAD * 2 + LINE_H * (2 + len(shown))
        if not h.captured:
            cls = "missing"
        elif h.bdf == focus and (h.bdf == top or path.current or (d is not None and d.items)):
            cls = "fail"
        elif h.bdf == focus:
            cls = "src"         # named by a cleared Error Source register, no status of its own
        elif d is not None and (d.has_error and severity(device_badges(d, rules.get(h.bdf, ())))):
            cls = "err"
        else:
            cls = "ok"
        box = HopBox(bdf=h.bdf, role=h.role, name=_cut(name, 60), captured=h.captured,
                     items=items, shown=shown, y=y, h=hgt, cls=cls)
        y += hgt
        if i + 1 < len(path.hops):
            p = d.config.pcie if d is not None and not d.config.all_ff else None
            lt = link_text(p) if downstream_facing(p) else None
            below = cfgs.get(path.hops[i + 1].bdf)
            if lt is None and below is not None and not below.config.all_ff:
                lt = link_text(below.config.pcie)     # upstream end of the link
            # the link's state is the analysis's one conclusion (link.py), not the register
            ls = rep.links.get(h.bdf)
            concl = ls.short() if ls is not None and ls.downstream else None
            if ls is not None and ls.conclusion == "down":
                concl = None                           # the drawing says LINK DOWN itself
            box.link = "; ".join(t for t in (lt, concl and "link " + concl) if t) \
                or "link state not reported"
            r = rules.get(h.bdf, ())
            down = ls is not None and ls.downstream and ls.conclusion == "down"
            concl = concl or ("" if down else None)
            box.link_cls = ("down" if down else "downtrained" if "downtrained" in r
                            else "unknown" if ls is not None and ls.conclusion == "unknown" else "ok")
            box.link_y = y
            y += GAP
        boxes.append(box)
    return PathView(headline=path.headline(), notes=list(path.notes), current=path.current,
                    source=path.source_bdf, hops=boxes, height=y + 4)


_FILLS = {0: b"\x00", 0xFF: b"\xff"}


def _hexdump(raw: bytes) -> str:
    """Offset and 16 bytes a line, as lspci -xxxx; runs of all-zero (or all-0xff) lines are
    one line saying so, which keeps a mostly empty 4 KiB extended space short."""
    out = []
    n = len(raw)
    fmt = "%02x: " if n <= 256 else "%03x: "
    off = 0
    while off < n:
        row = raw[off:off + 16]
        fill = row[0]
        if len(row) == 16 and fill in _FILLS and row.count(fill) == 16:
            end = (n - len(raw[off:].lstrip(_FILLS[fill]))) & ~15    # first other byte
            end = n if end <= off else end
            if end - off > 16:
                out.append("%s-%03x: %02x (all %d bytes)" % (fmt[:-2] % off, end - 1, fill,
                                                           end - off))
                off = end
                continue
        out.append(fmt % off + row.hex(" "))
        off += 16
    return "\n".join(out)


def _aer_tables(cfg):
    a = cfg.aer if not cfg.all_ff else None
    if a is None:
        return [], [], []
    uncor = [(e.bit, e.short, e.name, "fatal" if e.fatal else "non-fatal", e.masked, e.first)
             for e in a.uncor_errors]
    cor = [(e.bit, e.short, e.name, "correctable", e.masked, False) for e in a.cor_errors]
    regs = [("UESta", a.uncor_status), ("UEMsk", a.uncor_mask), ("UESvrt", a.uncor_severity),
            ("CESta", a.cor_status), ("CEMsk", a.cor_mask)]
    if a.root_status is not None:
        regs.append(("RootErrSta", a.root_status))
    return uncor, cor, [(k, "0x%08x" % v) for k, v in regs]


_TLP_FIELDS = (("kind", "type"), ("fmt", "Fmt"), ("type", "Type"), ("length", "Length (DW)"),
               ("requester_id", "Requester"), ("tag", "Tag"), ("address", "Address"),
               ("completer_id", "Completer"), ("completion_status_name", "Completion status"),
               ("byte_count", "Byte count"), ("target_id", "Target"), ("register", "Register"),
               ("message_name", "Message"), ("routing_name", "Routing"))


def _tlp_table(cfg, domain):
    a = cfg.aer if not cfg.all_ff else None
    if a is None or a.tlp is None:
        return []
    t = a.tlp
    rows = [("Header log", " ".join("%08x" % x for x in a.header_log))]
    for attr, label in _TLP_FIELDS:
        v = getattr(t, attr, None)
        if v is None:
            continue
        if attr in ("requester_id", "completer_id", "target_id"):
            v = rid_to_bdf(domain, v)
        elif attr == "address":
            v = "0x%0*x (%s-bit)" % (16 if t.address_bits == 64 else 8, v, t.address_bits)
        elif attr in ("type", "tag", "register"):
            v = "0x%02x" % v
        rows.append((label, str(v)))
    flags = [n for n, on in (("TD", t.td), ("EP (poisoned)", t.ep), ("TH", t.th)) if on]
    rows.append(("Attributes", ", ".join(t.attr_names + flags) or "none"))
    return rows


def _filter_text(d):
    return " ".join(x for x in (d.bdf, d.ids.strip("[]"), d.vendor_name, d.device_name,
                                d.class_name) if x).lower()


def build(rep: Report, names: Optional[PciIds] = None, *,
          now: Optional[datetime.datetime] = None) -> Dict[str, Any]:
    """The template's context: plain values computed from the Report."""
    from .device_text import describe

    v = rep.verdict
    rules = verdict_rules(v)
    suspects = list(v.suspects) if v is not None else []
    rank = {s.bdf: (i + 1, s) for i, s in enumerate(suspects)}
    top = suspects[0].bdf if suspects else None
    cap = rep.capture
    klog = getattr(rep, "kernel_log", None)

    panels, badge_of = [], {}
    hexes: Dict[bytes, Any] = {}          # equal config spaces (many functions of one kind) share their dump

    def hexdump(raw):
        h = hexes.get(raw)
        if h is None:
            h = hexes[raw] = _hexdump(raw)
        return h

    for d in rep.devices:
        b = device_badges(d, rules.get(d.bdf, ()))
        badge_of[d.bdf] = b
        r = rank.get(d.bdf)
        uncor, cor, regs = _aer_tables(d.config)
        kl = []
        if rep.kernel is not None:
            try:
                kl = kernel_view.device_lines(rep.kernel, d.bdf)
            except Exception as exc:       # kernel-side data is optional
                kl = ["kernel: unavailable (%s)" % exc]
        panels.append(Panel(
            bdf=d.bdf, ids=d.ids, name=d.name, badges=b, sev=severity(b),
            filter_text=_filter_text(d), err=bool(d.items or r), items=list(d.items),
            evidence=list(r[1].evidence) if r else [], score=r[1].score if r else None,
            rank=r[0] if r else None, uncor=uncor, cor=cor, aer_regs=regs,
            tlp=_tlp_table(d.config, d.record.domain),
            decode="\n".join(describe(d.config, bdf=d.bdf, names=names)),
            kernel_lines=kl, hexdump=hexdump(bytes(d.record.config)),
            role=(d.config.pcie.port_type_name if d.config.pcie is not None and
                  not d.config.all_ff else ""),
            parent=d.node.parent if d.node is not None else None))

    tree = []
    topo = rep.topology
    if topo is not None:
        for dom in sorted(topo.roots):
            rows = []
            for depth, bdf in topo.walk(dom):
                d, n = rep.by_bdf[bdf], topo.nodes[bdf]
                bus = ""
                if n.secondary is not None and n.subordinate is not None:
                    bus = ("[%02x]" % n.secondary if n.secondary == n.subordinate
                           else "[%02x-%02x]" % (n.secondary, n.subordinate))
                b = badge_of[bdf]
                rows.append(TreeRow(depth, bdf, d.ids, d.name, bus, b, severity(b), n.parent))
            tree.append(("%04x" % dom, [rows[i:i + CHUNK] for i in range(0, len(rows), CHUNK)]))

    facts = Facts()
    facts.rows.append(("Dump", rep.source or "(unnamed)"))
    if rep.format:
        facts.rows.append(("Format", rep.format))
    facts.rows.append(("Capture state", cap.state))
    if cap.state != CaptureState.CAPTURED or cap.untrusted:
        facts.rows.append(("Why", cap.reason))
    pm = cap.pagemap
    if pm is not None:
        facts.rows.append(("Pagemap", "layout %s at 0x%x, %d pages of %d bytes" % (
            pm.layout, pm.phys_addr, pm.num_pages, pm.page_size)))
        facts.rows.append(("Buffer", "%d bytes%s" % (pm.buf_size, " at +0x%x" % pm.buf_offset
                                                     if pm.buf_offset else "")))
    h = cap.header
    if h is not None:
        facts.rows.append(("Devices in the buffer", "%d (%d decoded here)" % (
            h.device_count, len(rep.devices))))
        if h.timestamp:
            facts.rows.append(("Captured at", h.time_utc))
        if h.config_size:
            facts.rows.append(("Record config size", "%d bytes" % h.config_size))
    if pm is not None and pm.notes:
        facts.lists.append(("How the layout was chosen", list(pm.notes), ""))
    if cap.missing:
        facts.lists.append(("Missing buffer pages", [
            "page %d: pfn %s, %s" % (i, "0x%x" % p if p is not None else "?", st.value)
            for i, p, st in cap.missing], "bad"))
    if cap.untrusted:
        facts.lists.append(("Records not trusted", [
            "record %d at buffer offset 0x%x (%s): %s" % (r.index, r.offset, r.bdf, r.note)
            for r in cap.untrusted], "bad"))
    probs = [p for p in cap.problems if p != cap.reason]
    if probs:
        facts.lists.append(("Problems", probs, "bad"))
    notes = list(cap.notes) + list(rep.reader_notes)
    if notes:
        facts.lists.append(("Notes", notes, ""))
    if topo is not None and topo.problems:
        facts.lists.append(("Topology", list(topo.problems), "bad"))
    if rep.kernel is not None:
        try:
            kls = kernel_view.summary_lines(rep.kernel)
        except Exception as exc:
            kls = ["unavailable (%s)" % exc]
        if kls:
            facts.lists.append(("Kernel", kls, ""))

    paths = [_path_view(rep, p, rules, top) for p in rep.paths]
    panic = _panic(rep, klog)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        "version": __version__,
        "generated": now.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "source": rep.source,
        "verdict_lines": [l.strip() for l in v.lines] if v is not None else [],
        "verdict_notes": list(v.notes) if v is not None else [],
        "fault": (bool(suspects) and not (panic and panic["pci"] is False))
        or bool(panic and panic["pci"]),
        "clean": not suspects and bool(rep.devices) and cap.state == CaptureState.CAPTURED and not
        (panic and panic["pci"] is not False and klog is not None),
        "top": top,
        "suspects": [(i + 1, s) for i, s in enumerate(suspects[:8])],
        "panic": panic,
        "state": cap.state,
        "facts": facts,
        "paths": paths,
        "tree": tree,
        "panel_chunks": [panels[i:i + CHUNK] for i in range(0, len(panels), CHUNK)],
        "n_devices": len(panels),
        "n_errors": sum(1 for p in panels if p.err),
        "events": _events(klog, rep.by_bdf),
        "klog_notes": list(getattr(klog, "notes", None) or ()),
        "geo": {"box_w": BOX_W, "line_h": LINE_H, "pad": PAD, "left": LEFT, "gap": GAP},
    }


def _panic(rep, klog):
    """The panic from the kernel log (klog's Panic on the verdict or the log summary):
    {line, time, pci, why, bdf}, or None when the report has none."""
    for holder in (rep.verdict, klog):
        p = getattr(holder, "panic", None) if holder is not None else None
        if p is None:
            continue
        if isinstance(p, str):
            return {"line": p, "time": None, "pci": None, "why": "", "bdf": None}
        line = getattr(p, "line", None)
        if not isinstance(line, str) or not line:
            continue
        t = getattr(p, "time", None)
        return {"line": line.strip(), "time": "%.6f" % t if isinstance(t, (int, float)) else None,
                "pci": getattr(p, "pci", None), "why": str(getattr(p, "why", "") or ""),
                "bdf": getattr(p, "bdf", None)}
    return None


def _scalar_fields(fields):
    """(name, text) of an event's fields that read as one value (numbers, words, lists of
    them); nested records are left to the raw lines shown below them."""
    out = []
    for k, x in (fields.items() if hasattr(fields, "items") else ()):
        if isinstance(x, (list, tuple)) and all(isinstance(y, (str, int, float)) for y in x):
            x = ", ".join(str(y) for y in x)
        if x is None or isinstance(x, (dict, list, tuple, set)):
            continue
        out.append((str(k), str(x)))
    return out


MAX_EVENTS = 5000        # timeline entries; a log is bounded, this keeps the page quick
TL_W, TL_H = 1000, 46    # the timeline strip (px)


def _events(klog, by_bdf):
    """The kernel's PCI events (klog LogSummary.pci_events, else .events), in log order,
    with an x position on the timeline strip."""
    evs = getattr(klog, "pci_events", None)
    if evs is None:
        evs = getattr(klog, "events", None)
    evs = list(evs or ())
    out = []
    times = [e.time for e in evs if isinstance(getattr(e, "time", None), (int, float))]
    lo, hi = (min(times), max(times)) if times else (0.0, 0.0)
    span = (hi - lo) or 1.0
    for ev in evs[:MAX_EVENTS]:
        t = getattr(ev, "time", None)
        fields = getattr(ev, "fields", None) or {}
        raw = getattr(ev, "raw", "") or ""
        bdf = getattr(ev, "bdf", None) or ""
        kind = str(getattr(ev, "kind", "") or "")
        sev = str(fields.get("severity", "")) if hasattr(fields, "get") else ""
        out.append({
            "time": "%.6f" % t if isinstance(t, (int, float)) else (str(t) if t is not None else ""),
            "x": round(10 + (TL_W - 20) * (t - lo) / span, 1) if isinstance(t, (int, float)) else None,
            "bdf": bdf, "captured": bdf in by_bdf, "kind": kind,
            "bad": kind == "panic" or sev in ("fatal", "nonfatal", "uncorrectable"),
            "fields": _scalar_fields(fields),
            "raw": raw if isinstance(raw, str) else "\n".join(str(x) for x in raw),
        })
    return {"list": out, "more": max(0, len(evs) - MAX_EVENTS),
            "lo": "%.6f" % lo, "hi": "%.6f" % hi, "w": TL_W, "h": TL_H}


def render(rep: Report, names: Optional[PciIds] = None, *,
           now: Optional[datetime.datetime] = None) -> str:
    """The whole HTML document as text."""
    return environment().get_template(TEMPLATE).render(**build(rep, names, now=now))


def write(rep: Report, path: str, out: Optional[TextIO] = None,
          names: Optional[PciIds] = None) -> int:
    """Write the report to `path` ("-": to `out`); returns its size in bytes."""
    data = render(rep, names).encode("utf-8")
    if path == "-":
        (out if out is not None else sys.stdout).write(data.decode("utf-8"))
        return len(data)
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise UsageError("cannot write the HTML report: %s" % (exc.strerror or exc),
                         path=path) from None
    return len(data)
