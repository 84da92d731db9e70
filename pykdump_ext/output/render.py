"""Text views of a Report: summary, full decode (-a), one device (-d), error devices only
(-e), tree (-t, like `lspci -tv`), hex (-x, `lspci -xxxx` format that `lspci -F` reads).

Pure; every function returns a list of lines.  Vendor/device names come from
pci.ids when available, the numeric IDs are always shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, List, Optional

from pykdump_ext.pci import slots
from . import style
from crash_ext_c.errors import UsageError
from pykdump_ext.capture.buffer import NO_STATE, CaptureState

if TYPE_CHECKING:
    from pykdump_ext.frontends.run import ViewOptions  # the options object
    from pykdump_ext.analysis.report import Device, Report
    from pykdump_ext.capture.buffer import Header
    from pykdump_ext.pci.pciids import PciIds


def plural(n: int, word: str) -> str:
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def capture_time(h: Header) -> str:
    """The header's capture time, or why it is not one (clock not set)."""
    if h.clock_set:
        return "captured %s" % h.time_utc
    return ("capture clock not set (timestamp %.3f s after 1970-01-01: a time before 2000 is "
            "taken as a real-time clock that was never set)" % (h.timestamp / 1e9))


def capture_lines(rep: Report, verbose: bool = False) -> List[str]:
    """The capture state line and its notes; verbose adds the reader's reasoning (which
    pagemap layout and why the other was rejected)."""
    cap = rep.capture
    src = rep.source + (" (%s)" % rep.format if rep.format else "")
    out = ["pcicrash: %s" % src] if src.strip() else []
    pm = cap.pagemap
    line = "Capture: %s" % (cap.state if cap.state == CaptureState.CAPTURED else style.current().warn(cap.state))
    if pm is not None:
        line += ", pagemap layout %s at 0x%x, %s, buffer %d bytes" % (
            pm.layout, pm.phys_addr, plural(pm.num_pages, "page"), pm.buf_size)
        if pm.buf_offset:
            line += " at +0x%x" % pm.buf_offset
    if cap.header is not None:
        line += ", %s" % plural(cap.header.device_count, "device")
        if cap.header.timestamp:
            line += ", " + capture_time(cap.header)
    out.append(line)
    if cap.state != CaptureState.CAPTURED or cap.untrusted:
        out.append("  %s" % cap.reason)
    if pm is not None:
        # notes[0] is the layout validation: the reader's reasoning, unless it is ambiguous
        first = pm.notes[:1] if verbose or any("ambiguous" in n for n in pm.notes[:1]) else []
        out += ["  %s" % n for n in first + pm.notes[1:]]
    out += ["  note: %s" % n for n in list(cap.notes) + list(rep.reader_notes)]
    out += ["  problem: %s" % p for p in cap.problems if p != cap.reason]
    for d in getattr(rep, "duplicates", ()):
        out.append("  problem: record %d at buffer offset 0x%x carries %s, the BDF of an earlier "
                   "record: both are shown, this one as %s" % (d.record.index, d.record.offset,
                                                               d.duplicate, d.bdf))
    if cap.missing:
        out.append("  missing buffer pages: " + ", ".join(
            "%d (pfn %s, %s)" % (i, "0x%x" % p if p is not None else "?", st.value)
            for i, p, st in cap.missing))
    for r in cap.untrusted:
        out.append("  not trusted: record %d at buffer offset 0x%x (%s): %s"
                   % (r.index, r.offset, r.bdf, r.note))
    if rep.topology is not None:
        out += ["  topology: %s" % p for p in rep.topology.problems]
    return out


def verdict_lines(rep: Report) -> List[str]:
    v = rep.verdict
    if v is None:                   # analyse() always gives one; a hand-made Report may not
        return []
    fault: Optional[bool]
    S, fault = style.current(), bool(v.suspects)
    if fault and getattr(getattr(v, "panic", None), "pci", None) is False:
        fault = None        # errors in the capture, but the log says the panic was not PCI's
    out = [S.verdict("Verdict: " + v.lines[0], fault=fault)] + [
        "         " + S.verdict(l.strip(), fault=fault) for l in v.lines[1:]]
    out += ["  note: %s" % n for n in v.notes]
    return out


def path_lines(rep: Report) -> List[str]:
    out = []
    for p in rep.paths:
        out.append("  " + style.current().paint("error" if p.current else "warn", p.headline()))
        for depth, h in enumerate(p.hops):
            items = "; ".join(h.items) if h.items else "no error status"
            if not h.captured:
                items = "not captured"
            out.append("    %s%s %s: %s" % ("  " * depth, h.bdf, h.role, items))
        out += ["    note: %s" % n for n in p.notes]
    return ["Error paths:"] + out if out else []


def device_line(d: Device) -> str:
    return "  %s  %s" % (d.label, _flags(d)) if d.items else "  %s" % d.label


def _flags(d) -> str:
    """A device's error items, coloured by how serious they are when the style is on."""
    text = "; ".join(d.items)
    S = style.current()
    if not S.on:
        return text
    from . import badges  # coloured text only (-j and plain text never need it)
    return S.paint(badges.severity(badges.device_badges(d)) or "warn", text)


def filtered(opts: ViewOptions) -> bool:
    """Do the options select a subset of the devices (-d, -s, -e)?"""
    return opts.filtered


def wanted_bdf(opts: ViewOptions):
    """The one exact -d address, normalised ('dddd:bb:dd.f'); None without -d.  UsageError
    when -d is not an address, or not a single exact one (the -l timeline takes one)."""
    if not opts.devices:
        return None
    specs = [slots.parse(v, "-d") for v in opts.devices]
    if len(specs) != 1 or not specs[0].exact:
        raise UsageError("-d %s: -l shows one device's log events: give one exact address"
                         % ", ".join(s.spec for s in specs), expected="bb:dd.f or dddd:bb:dd.f")
    return specs[0].name


def select(rep, opts: ViewOptions):
    """Devices the options ask for, in buffer order (-d/-s by address in lspci's -s syntax,
    each repeatable: a union; -e only with errors).  LookupError(spec) when -d matches none."""
    devs = rep.devices
    specs = slots.from_options(opts)
    if specs:
        devs = slots.select(devs, specs)
        if not devs and opts.devices:
            raise LookupError(", ".join(s.name for s in specs), specs)
    if opts.errors:
        devs = [d for d in devs if d.has_error]
    return devs


def summary(rep: Report, devs: Optional[List[Device]] = None, verbose: bool = False) -> List[str]:
    """Verdict on top, then the capture, the error paths and one line per device."""
    out = verdict_lines(rep)
    out += capture_lines(rep, verbose)
    out += _log_summary(rep)
    if rep.capture.state in NO_STATE and not rep.devices:
        return out + _kernel_summary(rep)
    out += path_lines(rep)
    devs = rep.devices if devs is None else devs
    out.append("Devices (%d of %d):" % (len(devs), len(rep.devices)))
    out += [device_line(d) for d in devs]
    out += _kernel_summary(rep)
    return out


def _log_summary(rep):
    if rep.kernel_log is None:
        return []
    from .klog_view import summary_lines
    return summary_lines(rep.kernel_log)


def log_timeline(rep, opts: ViewOptions) -> List[str]:
    """`-l`: the kernel log's PCI events as a timeline (-d BDF: that device's only)."""
    if rep.kernel_log is None:
        return ["Kernel log: not read (this build has no kernel log reader)"]
    from .klog_view import timeline
    return timeline(rep.kernel_log, wanted_bdf(opts))


def _kernel_summary(rep):
    k = rep.kernel
    if k is None:
        return []
    try:
        from . import kernel_view  # only with kernel symbols
        lines = kernel_view.summary_lines(k)
    except Exception as exc:      # kernel-side data is optional; never lose the capture view
        return ["Kernel: unavailable (%s)" % exc]
    return ["Kernel:"] + ["  " + l for l in lines] if lines else []


def _describe(d, names, link=None):
    try:
        from .device_text import describe
    except ImportError:
        return [d.label] + ["\t" + i for i in d.items]
    return list(describe(d.config, bdf=d.bdf, names=names, link=link))


def full(rep: Report, devs: List[Device], names: Optional[PciIds] = None) -> List[str]:
    out = []
    for d in devs:
        out += _describe(d, names, rep.links.get(d.bdf))
        if d.items:
            out.append("\tpcicrash: " + _flags(d))
        if rep.kernel is not None:
            from . import kernel_view
            try:
                out += ["\t" + l for l in kernel_view.device_lines(rep.kernel, d.bdf)]
            except Exception as exc:
                out.append("\tkernel: unavailable (%s)" % exc)
        out.append("")
    return out


def hexdumps(devs: Iterable[Device]) -> List[str]:
    # One multi-line element per device: splitting 80 MB of hex into lines costs more than the dump.
    from pykdump_ext.pci import lspci_hex
    return [lspci_hex.hexdump(d.record.bdf, d.record.config, "%s %s" % (d.ids, d.name))[:-1]
            for d in devs]


# --- tree (-t), drawn like `lspci -tv` ---------------------------------------------

TREE_FLAG = "!"       # after a device number in -t: the device shows error status (-e's set)


def _tree_note(d) -> str:
    """The first error item of a flagged device, short enough for a tree line."""
    if d.node.unreachable:
        return "no answer: %s" % {"spurious skip": "skipped, probably reachable",
                                  "link down": "link down"}.get(d.node.unreachable,
                                                                "reason unknown")
    more = " (+%d more)" % (len(d.items) - 1) if len(d.items) > 1 else ""
    return d.items[0] + more


def tree(rep: Report, devs: Optional[List[Device]] = None) -> List[str]:
    """lspci -tv's drawing; a device with error status gets TREE_FLAG after its number (and its
    first error at the end of its line when it ends one); with `devs`, the path to each of
    them is kept.  A bus range known only by inference (the bridge's record is all 0xFF)
    is drawn with a '?'."""
    topo = rep.topology
    out: List[str] = []
    if topo is None:
        return out
    visible = None
    if devs is not None:
        visible = set()
        for d in devs:
            b: Optional[str] = d.bdf
            while b is not None and b not in visible and b in topo.nodes:
                visible.add(b)
                b = topo.nodes[b].parent

    def name(bdf):
        d = rep.by_bdf[bdf]
        t = "%s %s" % (d.name, d.ids)
        t += "  %s %s" % (TREE_FLAG * 2, _tree_note(d)) if d.has_error else ""
        return style.current().paint("error", t) if d.has_error else t

    def show_dev(cur, pad, bdf, depth) -> None:
        n = topo.nodes[bdf]
        d = rep.by_bdf[bdf]
        text = "%02x.%x%s" % (n.devfn >> 3, n.devfn & 7, TREE_FLAG if d.has_error else "")
        cur, pad = cur + text, pad + " " * len(text)
        if n.secondary is not None:
            last = n.secondary if n.subordinate is None else n.subordinate
            r = ("-[%02x]-" % n.secondary if n.secondary == last
                 else "-[%02x-%02x]-" % (n.secondary, last))
        elif n.inferred_buses is not None:
            lo, hi = n.inferred_buses
            r = "-[%02x?]-" % lo if lo == hi else "-[%02x-%02x?]-" % (lo, hi)
        else:
            r = None
        if r is not None and depth < 64:
            kids = [k for k in n.children if visible is None or k in visible]
            if not kids and d.has_error:
                out.append(cur + r + "-  " + name(bdf))     # a bridge with errors, drawn named
            else:
                show_bus(cur + r, pad + " " * len(r), kids, depth + 1)
        else:
            out.append(cur + "  " + name(bdf))

    def show_bus(cur, pad, kids, depth) -> None:
        if not kids:
            out.append(cur + "-")
        elif len(kids) == 1:
            show_dev(cur + "---", pad + "   ", kids[0], depth)
        else:
            for i, k in enumerate(kids):
                last = i == len(kids) - 1
                line = cur + "-+-" if i == 0 else pad + " " + ("\\-" if last else "+-")
                show_dev(line, pad + " " + (" " if last else "|") + " ", k, depth)

    for domain in sorted(topo.roots):
        by_bus: Dict[int, List[str]] = {}
        for b in topo.roots[domain]:
            if visible is None or b in visible:
                by_bus.setdefault(topo.nodes[b].bus, []).append(b)
        for bus in sorted(by_bus):
            head = "-[%04x:%02x]" % (domain, bus)
            show_bus(head, " " * len(head), by_bus[bus], 0)
    return out


def render_text(rep, opts: ViewOptions, names=None) -> List[str]:
    """The text output the options ask for.  Raises UsageError / LookupError for -d."""
    out = []
    if opts.log:
        out += log_timeline(rep, opts)
        if opts.devices:
            return out                   # -l -d BDF: that device's log events only
    devs = select(rep, opts)
    some = opts.filtered
    if opts.tree:
        out += tree(rep, devs if some else None)
    if opts.all or opts.devices:
        # The kernel's own context (CRASHTIME, hwerr_data, device dumps) heads the full view too.
        out += capture_lines(rep, opts.verbose) + verdict_lines(rep) + _kernel_summary(rep) + [""]
        out += full(rep, devs, names)
    if opts.hex:
        out += hexdumps(devs)
    if not opts.views:
        out = summary(rep, devs if some else None, opts.verbose)
    return out
