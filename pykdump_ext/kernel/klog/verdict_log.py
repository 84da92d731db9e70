"""The verdict with the kernel log in it: ``apply(report, summary)``.

Pure.  On top, the panic and whether it was a PCI one.  Without a capture
(absent, skipped, nothing readable) the device verdict comes from the log:
the worst device, its errors, how often, when, and whether the kernel
recovered it.  With a capture, the log and the registers are held against
each other per device (same device, same error bits) and the result said.
Every line names where it comes from ("log [t]" or "registers").
"""

from __future__ import annotations

from typing import Callable, List, Optional, TYPE_CHECKING

from .judge import DeviceLog, LogSummary

if TYPE_CHECKING:
    from pykdump_ext.analysis.report import Report
    from pykdump_ext.pci.pciids import PciIds

MAX_CROSS = 6      # devices compared in the log-vs-registers lines


def _t(x: Optional[float]) -> str:
    return "log [%12.6f]" % x if x is not None else "log"


def panic_line(s: LogSummary) -> str:
    p = s.panic
    if p.line is None:
        return "Panic: the kernel log holds no panic line (%d records read%s)" % (
            len(s.log.records), "" if s.log.complete else ", log incomplete")
    where = "%s: \"%s\"" % (_t(p.time), p.line.strip())
    if p.pci is False:
        return "Panic: not a PCI error: %s; %s" % (p.why, where)
    if p.pci:
        return "Panic: a PCI error: %s%s; %s" % (
            p.why, "; device %s" % p.bdf if p.bdf and p.bdf not in p.why else "", where)
    return "Panic: %s; the log does not say whether a PCI error caused it (%s)" % (where, p.why)


def _errors(d: DeviceLog) -> str:
    sev = "fatal" if "fatal" in d.severities else "non-fatal" if "nonfatal" in d.severities \
        else "correctable" if d.severities else ""
    errs = ", ".join(d.errors) if d.errors else "error type not logged"
    return ("%s %s" % (sev, errs)).strip() if d.reports else \
        ", ".join(sorted({e.kind.replace("_", " ") for e in d.events}))


def _recovery(d: DeviceLog) -> str:
    if not d.reports or not d.uncorrectable:
        return ""
    parts = []
    if d.failed:
        parts.append("recovery failed %dx" % d.failed if d.failed > 1 else "recovery failed")
    if d.recovered:
        parts.append("recovered %dx" % d.recovered if d.recovered > 1 else "recovered")
    unknown = sum(1 for e in d.events if e.kind == "aer" and e.fields.get("severity") != "corrected"
                  and e.fields.get("recovery") is None)
    if unknown:
        parts.append("%d with no recovery result logged" % unknown)
    return ", ".join(parts)


def device_text(d: DeviceLog, label: Callable[[DeviceLog], str]) -> str:
    n = len(d.events)
    what = "%d AER report%s" % (d.reports, "s" if d.reports != 1 else "") if d.reports == n \
        else "%d event%s" % (n, "s" if n != 1 else "")
    when = "%s at %s" % (what, _t(d.first)) if n == 1 else "%s, %s to %s" % (
        what, _t(d.first), "[%12.6f]" % d.last)
    rec = _recovery(d)
    return "%s: %s, %s%s" % (label(d), _errors(d), when, "; " + rec if rec else "")


def counts_line(s: LogSummary, *, before_panic: bool = False) -> str:
    where = "in the kernel log before the panic, none of them its trigger" if before_panic \
        else "in the kernel log"
    devs = [d for d in s.devices if d.reports]
    unc = [d for d in devs if d.uncorrectable]
    failed = [d for d in devs if d.failed]
    n_aer = sum(d.reports for d in devs)
    if not s.pci_events:
        return "no PCI error events in the kernel log"
    return "%d PCI event(s) %s: %d AER report(s) at %d device(s); %d device(s) with " \
           "uncorrectable errors, %d of them not recovered" % (
               len(s.pci_events), where, n_aer, len(devs), len(unc), len(failed))


def log_verdict_lines(s: LogSummary, label: Callable[[DeviceLog], str], capture_state: str) -> List[str]:
    """The device verdict from the log alone (no capture to read)."""
    ranked = [d for d in s.devices if d.score > 0]
    head = "From the kernel log (capture %s)" % capture_state
    if not ranked:
        why = "; " + s.aer_off if s.aer_off else ""
        return ["%s: no PCI error events logged%s" % (head, why)]
    top = ranked[0]
    lead = "most likely at fault" if s.panic.pci is not False else \
        "worst PCI device (not the cause of this panic)"
    out = ["%s, %s: %s" % (head, lead, device_text(top, label))]
    more = ranked[1:4]
    if more:
        out.append("  also: " + "; ".join(device_text(d, label) for d in more)
                   + ("; and %d more device(s)" % (len(ranked) - 4) if len(ranked) > 4 else ""))
    return out


def _reg_bits(cfg) -> List[str]:
    a = cfg.aer if cfg is not None and not cfg.all_ff else None
    if a is None:
        return []
    return [e.kernel or e.short for e in a.uncor_errors + a.cor_errors if not e.masked]


def cross_check_lines(s: LogSummary, rep: Report) -> List[str]:
    """Log and registers held against each other, per device."""
    out = []
    logged = {d.bdf: d for d in s.devices if d.reports}
    reg = {d.bdf: _reg_bits(d.config) for d in rep.devices}
    reg = {b: v for b, v in reg.items() if v}
    order = [d.bdf for d in s.devices if d.bdf in logged] + sorted(b for b in reg if b not in logged)
    for bdf in order[:MAX_CROSS]:
        d = logged.get(bdf)
        rb = reg.get(bdf, [])
        if d is None:
            out.append("%s: registers show %s; the log has no AER report for it%s" % (
                bdf, ", ".join(rb), " (%s)" % s.aer_off if s.aer_off else ""))
            continue
        lb = d.errors
        if bdf not in rep.by_bdf:
            out.append("%s: log reports %s (%s); the device is not in the capture" % (
                bdf, ", ".join(lb) or "errors", _t(d.first)))
            continue
        common = [b for b in lb if b in rb]
        if common and set(lb) == set(rb):
            out.append("%s: log and registers agree: %s (%s, and the AER status at panic)" % (
                bdf, ", ".join(common), _t(d.last)))
        elif common:
            out.append("%s: log and registers share %s; log only: %s; registers only: %s" % (
                bdf, ", ".join(common), ", ".join(b for b in lb if b not in rb) or "-",
                ", ".join(b for b in rb if b not in lb) or "-"))
        elif rb:
            out.append("%s: log and registers disagree: log %s (%s), registers %s" % (
                bdf, ", ".join(lb), _t(d.last), ", ".join(rb)))
        else:
            rec = _recovery(d)
            out.append("%s: log reports %s (%s%s); its AER status is clear at panic%s" % (
                bdf, ", ".join(lb) or "errors", _t(d.last), "; " + rec if rec else "",
                ": the AER driver clears status once it has handled an error"
                if d.recovered or d.failed else ""))
    if len(order) > MAX_CROSS:
        out.append("and %d more device(s) with errors in the log or the registers" % (
            len(order) - MAX_CROSS))
    return out


def apply(rep: Report, s: LogSummary, names: Optional[PciIds] = None) -> None:
    """Put the log's findings into rep.verdict (lines on top, notes below)."""
    v = rep.verdict
    assert v is not None, "the log's findings go into a verdict analyse() has made"
    v.panic = s.panic

    def label(d: DeviceLog) -> str:
        dev = rep.by_bdf.get(d.bdf)
        if dev is not None:
            return dev.label
        text = d.bdf + (" " + d.ids if d.ids else "")
        if names is not None and d.ids:
            vid, did = int(d.ids[1:5], 16), int(d.ids[6:10], 16)
            nm = " ".join(x for x in (names.vendor(vid), names.device(vid, did)) if x)
            text += (" " + nm) if nm else ""
        return text + " (not captured)"

    lines = [panic_line(s)]
    if s.panic.pci is False:
        lines.append("  " + counts_line(s, before_panic=True))
    if not rep.devices:
        lines += log_verdict_lines(s, label, rep.capture.state)
    else:
        cap_lines = list(v.lines)
        if s.panic.pci is False and v.suspects:
            top = v.suspects[0]
            cap_lines[0] = "Strongest PCI error evidence in the capture (not the cause of this " \
                           "panic): %s: %s" % (rep.label(top.bdf), top.headline)
        lines += cap_lines
        cross = cross_check_lines(s, rep)
        if cross:
            lines.append("Log vs registers: " + cross[0])
            lines += ["  " + c for c in cross[1:]]
    v.lines = lines
    if s.aer_off and rep.devices:
        v.notes.append("the kernel log holds no AER reports: %s" % s.aer_off)
    if not s.log.complete or s.log.notes:
        v.notes += [n if n.startswith("kernel log") else "kernel log: " + n
                    for n in s.log.notes] or ["kernel log incomplete"]
    if s.dropped:
        v.notes.append("kernel log: %d events past the first %d were not kept: counts and "
                       "ranking cover the first %d only" % (s.dropped, len(s.events), len(s.events)))
    if s.capture_filter:
        note = ("capture limited by pci_crash.devices=%s (%s): only PCI bridges and the devices "
                "that filter selects were captured; other devices are not in it"
                % (s.capture_filter, s.capture_filter_source))
        if note not in rep.capture.notes:
            rep.capture.notes.append(note)
