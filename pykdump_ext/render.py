"""Text views of a Report: summary, full decode (-a), one device (-d), error devices only
(-e), tree (-t, like `lspci -tv`), hex (-x, `lspci -xxxx` format that `lspci -F` reads).

Pure; every function returns a list of lines.  Vendor/device names come from
pci.ids when available, the numeric IDs are always shown.
"""

from __future__ import annotations

from typing import List

from . import lspci_hex
from .errors import UsageError


def capture_lines(rep) -> List[str]:
    cap = rep.capture
    src = rep.source + (" (%s)" % rep.format if rep.format else "")
    out = ["pcicrash: %s" % src] if src.strip() else []
    pm = cap.pagemap
    line = "Capture: %s" % cap.state
    if pm is not None:
        line += ", pagemap layout %s at 0x%x, %d pages, buffer %d bytes" % (
            pm.layout, pm.phys_addr, pm.num_pages, pm.buf_size)
        if pm.buf_offset:
            line += " at +0x%x" % pm.buf_offset
    if cap.header is not None:
        line += ", %d devices" % cap.header.device_count
        if cap.header.timestamp:
            line += ", captured %s" % cap.header.time_utc
    out.append(line)
    if cap.state != "captured" or cap.untrusted:
        out.append("  %s" % cap.reason)
    if pm is not None:
        out += ["  %s" % n for n in pm.notes]
    out += ["  note: %s" % n for n in list(cap.notes) + list(rep.reader_notes)]
    out += ["  problem: %s" % p for p in cap.problems if p != cap.reason]
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


def verdict_lines(rep) -> List[str]:
    v = rep.verdict
    out = ["Verdict: " + v.lines[0]] + ["         " + l.strip() for l in v.lines[1:]]
    out += ["  note: %s" % n for n in v.notes]
    return out


def path_lines(rep) -> List[str]:
    out = []
    for p in rep.paths:
        out.append("  " + p.headline())
        for depth, h in enumerate(p.hops):
            items = "; ".join(h.items) if h.items else "no error status"
            if not h.captured:
                items = "not captured"
            out.append("    %s%s %s: %s" % ("  " * depth, h.bdf, h.role, items))
        out += ["    note: %s" % n for n in p.notes]
    return ["Error paths:"] + out if out else []


def device_line(d) -> str:
    flags = "; ".join(d.items) if d.items else "-"
    return "  %s  %s" % (d.label, flags) if d.items else "  %s" % d.label


def wanted_bdf(args):
    """-d BDF normalised ('dddd:bb:dd.f'), None without -d; UsageError when not a BDF."""
    if not getattr(args, "device", None):
        return None
    try:
        return lspci_hex.norm_bdf(args.device)
    except ValueError:
        raise UsageError("-d %s: not a PCI address" % args.device,
                         expected="bb:dd.f or dddd:bb:dd.f") from None


def select(rep, args):
    """Devices the options ask for, in buffer order (-d one, -e only with errors)."""
    devs = rep.devices
    if getattr(args, "device", None):
        want = wanted_bdf(args)
        devs = [d for d in devs if d.bdf == want]
        if not devs:
            raise LookupError(want)
    if getattr(args, "errors", False):
        devs = [d for d in devs if d.has_error]
    return devs


def summary(rep, devs=None) -> List[str]:
    """Verdict on top, then the capture, the error paths and one line per device."""
    if rep.capture.state in ("absent", "skipped") and not rep.devices:
        if rep.kernel_log is not None and rep.kernel_log.log.records:   # verdict from the log
            out = verdict_lines(rep)
        else:
            out = ["Verdict: no PCI state from the panic (capture %s)" % rep.capture.state]
        out += capture_lines(rep)
        out += _log_summary(rep)
        out += _kernel_summary(rep)
        return out
    out = verdict_lines(rep)
    out += capture_lines(rep)
    out += _log_summary(rep)
    out += path_lines(rep)
    devs = rep.devices if devs is None else devs
    out.append("Devices (%d of %d):" % (len(devs), len(rep.devices)))
    out += [device_line(d) for d in devs]
    out += _kernel_summary(rep)
    return out


def _log_summary(rep):
    if rep.kernel_log is None:
        return []
    from .klog.view import summary_lines
    return summary_lines(rep.kernel_log)


def log_timeline(rep, args) -> List[str]:
    """`-l`: the kernel log's PCI events as a timeline (-d BDF: that device's only)."""
    if rep.kernel_log is None:
        return ["Kernel log: not read (this build has no kernel log reader)"]
    from .klog.view import timeline
    return timeline(rep.kernel_log, wanted_bdf(args))


def _kernel_summary(rep):
    k = rep.kernel
    if k is None:
        return []
    try:
        lines = list(k.summary_lines())
    except Exception as exc:      # kernel-side data is optional; never lose the capture view
        return ["Kernel: unavailable (%s)" % exc]
    return ["Kernel:"] + ["  " + l for l in lines] if lines else []


def _describe(d, names):
    try:
        from .device_text import describe
    except ImportError:
        describe = None
    if describe is None:
        return [d.label] + ["\t" + i for i in d.items]
    return list(describe(d.config, bdf=d.bdf, names=names))


def full(rep, devs, names=None) -> List[str]:
    out = []
    for d in devs:
        out += _describe(d, names)
        if d.items:
            out.append("\tpcicrash: " + "; ".join(d.items))
        if rep.kernel is not None:
            try:
                out += ["\t" + l for l in rep.kernel.device_lines(d.bdf)]
            except Exception as exc:
                out.append("\tkernel: unavailable (%s)" % exc)
        out.append("")
    return out


def hexdumps(devs) -> List[str]:
    # One multi-line element per device: splitting 80 MB of hex into lines costs more than the dump.
    return [lspci_hex.hexdump(d.bdf, d.record.config, "%s %s" % (d.ids, d.name))[:-1]
            for d in devs]


# --- tree (-t), drawn like `lspci -tv` ---------------------------------------------

def tree(rep, devs=None) -> List[str]:
    topo = rep.topology
    out = []
    if topo is None:
        return out
    keep = None if devs is None else {d.bdf for d in devs}

    def name(bdf):
        d = rep.by_bdf[bdf]
        return "%s %s" % (d.name, d.ids)

    def show_dev(cur, pad, bdf, depth):
        n = topo.nodes[bdf]
        text = "%02x.%x" % (n.devfn >> 3, n.devfn & 7)
        cur, pad = cur + text, pad + " " * len(text)
        if n.secondary is not None and depth < 64:
            r = ("-[%02x]-" % n.secondary if n.secondary == n.subordinate
                 else "-[%02x-%02x]-" % (n.secondary, n.subordinate))
            show_bus(cur + r, pad + " " * len(r), n.children, depth + 1)
        else:
            out.append(cur + "  " + name(bdf))

    def show_bus(cur, pad, kids, depth):
        if keep is not None:
            kids = [k for k in kids if _keeps(k)]
        if not kids:
            out.append(cur + "-")
        elif len(kids) == 1:
            show_dev(cur + "---", pad + "   ", kids[0], depth)
        else:
            for i, k in enumerate(kids):
                last = i == len(kids) - 1
                line = cur + "-+-" if i == 0 else pad + " " + ("\\-" if last else "+-")
                show_dev(line, pad + " " + (" " if last else "|") + " ", k, depth)

    def _keeps(bdf):
        # a device is drawn when it or anything below it is selected
        stack, seen = [bdf], set()
        while stack:
            b = stack.pop()
            if b in seen:
                continue
            seen.add(b)
            if b in keep:
                return True
            stack.extend(topo.nodes[b].children)
        return False

    for domain in sorted(topo.roots):
        by_bus = {}
        for b in topo.roots[domain]:
            by_bus.setdefault(topo.nodes[b].bus, []).append(b)
        for bus in sorted(by_bus):
            head = "-[%04x:%02x]" % (domain, bus)
            show_bus(head, " " * len(head), by_bus[bus], 0)
    return out


def render_text(rep, args, names=None) -> List[str]:
    """The text output the options ask for.  Raises UsageError / LookupError for -d."""
    out = []
    if getattr(args, "log", False):
        out += log_timeline(rep, args)
        if getattr(args, "device", None):
            return out                   # -l -d BDF: that device's log events only
    devs = select(rep, args)
    filtered = bool(getattr(args, "device", None) or getattr(args, "errors", False))
    views = [getattr(args, k, False) for k in ("tree", "all", "device", "hex", "log")]
    if getattr(args, "tree", False):
        out += tree(rep, devs if filtered else None)
    if getattr(args, "all", False) or getattr(args, "device", None):
        # The kernel's own context (CRASHTIME, hwerr_data, device dumps) heads the full view too.
        out += capture_lines(rep) + verdict_lines(rep) + _kernel_summary(rep) + [""]
        out += full(rep, devs, names)
    if getattr(args, "hex", False):
        out += hexdumps(devs)
    if not any(views):
        out = summary(rep, devs if filtered else None)
    return out
