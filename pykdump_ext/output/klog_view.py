"""Views of the kernel log's findings (judge.LogSummary): the `-l` timeline, the
summary section, and the JSON `kernel_log` object.  Pure; rendered from the typed
events, never from another view's text."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from pykdump_ext.kernel.klog.events import Event
from pykdump_ext.kernel.klog.judge import LogSummary
from pykdump_ext.pci import tlp
from . import tlp_view

SUMMARY_KINDS = 8        # kinds listed by count in the summary


def _hex8(v) -> str:
    return "%08x" % v if isinstance(v, int) else "?"


def _aer(ev: Event) -> str:
    f = ev.fields
    sev = {"fatal": "fatal", "nonfatal": "non-fatal", "corrected": "correctable"}.get(
        f.get("severity") or "", f.get("severity") or "?")
    parts = ["AER %s%s: %s" % ("multiple " if f.get("multiple") else "", sev,
                               ", ".join(f.get("errors") or ()) or "error bits not logged")]
    if f.get("first_error"):
        parts.append("first %s" % f["first_error"])
    if "status" in f:
        parts.append("status/mask %s/%s" % (_hex8(f["status"]), _hex8(f.get("mask"))))
    if f.get("agent"):
        parts.append(f["agent"])
    if ev.reporter and ev.reporter != ev.bdf:
        parts.append("reported by %s" % ev.reporter)
    elif f.get("source") and f["source"] != ev.bdf:
        parts.append("message from %s" % f["source"])
    more = [d["bdf"] or "(no device named)" for d in f.get("details", ())[1:]]
    if more:
        parts.append("also at " + ", ".join(more))
    t = f.get("tlp")
    if t and t.get("kind"):
        parts.append("TLP %s" % "; ".join(_tlp_lines(t)[:2]))
    for c in f.get("cant_recover", ()):
        parts.append("%s can't recover (%s)" % (c["bdf"] or "a device", c["why"]))
    if f.get("recovery"):
        parts.append("recovery %s (%s)" % (f["recovery"], f.get("recovery_by")))
    elif sev != "correctable":
        parts.append("no recovery result logged")
    if f.get("repeated"):
        parts.append("header logged %dx" % f["repeated"])
    return "; ".join(parts)


def _dpc(ev: Event) -> str:
    f = ev.fields
    parts = ["DPC containment: %s" % (f.get("reason") or f.get("trigger") or "reason not logged"),
             "source %s" % f.get("source_bdf")]
    if f.get("rp_pio_errors"):
        parts.append("RP PIO " + ", ".join(f["rp_pio_errors"]))
    if f.get("recovery"):
        parts.append("recovery %s" % f["recovery"])
    return "; ".join(parts)


def _ghes(ev: Event) -> str:
    f = ev.fields
    s = "APEI %s %s" % (f.get("severity", "?"), f.get("section", "hardware error"))
    if f.get("errors"):
        s += ": " + ", ".join(f["errors"])
    if "status" in f:
        s += "; status/mask %s/%s" % (_hex8(f["status"]), _hex8(f.get("mask")))
    return s


def _generic(ev: Event) -> str:
    body = ", ".join("%s=%s" % (k, v) for k, v in ev.fields.items() if v not in (None, "", False))
    return "%s%s" % (ev.kind.replace("_", " "), ": " + body if body else "")


DESCRIBE: Dict[str, Callable[[Event], str]] = {
    "aer": _aer, "dpc": _dpc, "ghes_pcie": _ghes, "ghes": _ghes,
    "pciehp_link": lambda e: "slot %s: link %s%s" % (e.fields.get("slot"), e.fields.get("state"),
                                                    " (ignored)" if e.fields.get("ignored") else ""),
    "pciehp_card": lambda e: "slot %s: card %s" % (e.fields.get("slot"), e.fields.get("state")),
    "panic": lambda e: "panic: %s" % e.fields.get("message", ""),
}


def describe(ev: Event) -> str:
    return DESCRIBE.get(ev.kind, _generic)(ev)


def event_line(ev: Event) -> str:
    return "[%12.6f] %-12s %-17s %s" % (ev.time, ev.bdf or "-", ev.kind, describe(ev))


def header(s: LogSummary) -> str:
    log = s.log
    return "Kernel log: %s%d records%s; %d PCI events" % (
        log.format + ", " if log.format else "", len(log.records),
        "" if log.complete else " (incomplete)", len(s.pci_events))


def timeline(s: LogSummary, bdf: Optional[str] = None) -> List[str]:
    """`-l`: the PCI events (and the panic, oops, pci_crash lines) in log order."""
    out = [header(s)]
    out += ["  %s" % _note(n) for n in s.log.notes]
    if s.dropped:
        out.append("  note: %d more events not kept (limit %d)" % (s.dropped, len(s.events)))
    if s.aer_off:
        out.append("  note: %s: the log holds no AER reports" % s.aer_off)
    shown = [e for e in s.events if e.kind not in ("cmdline", "alias", "pci_crash_rebuild")
             and (bdf is None or e.bdf == bdf or e.reporter == bdf)]
    out += [event_line(e) for e in shown]
    if not shown:
        out.append("  no PCI events%s" % (" for %s" % bdf if bdf else ""))
    return out


def summary_lines(s: LogSummary) -> List[str]:
    out = [header(s)]
    p = s.panic
    when = "[%12.6f] " % p.time if p.time is not None else ""
    out.append("  panic: %s" % (when + p.line.strip() if p.line else "none logged"))
    kinds = sorted(((n, k) for k, n in s.counts.items()
                    if k not in ("cmdline", "alias", "pci_crash_rebuild", "panic")), reverse=True)
    if kinds:
        out.append("  events: " + ", ".join("%s %d" % (k, n) for n, k in kinds[:SUMMARY_KINDS])
                   + (", ..." if len(kinds) > SUMMARY_KINDS else ""))
    out += ["  %s" % _note(n) for n in s.log.notes]
    return out


def _note(n: str) -> str:
    """A reader note as a line ("kernel log: ..." notes keep their own prefix)."""
    return n if n.startswith("kernel log") else "note: " + n


def _tlp_lines(t: dict) -> List[str]:
    """The text of an event's logged TLP header (events.tlp_fields) that has a kind."""
    decoded = tlp.decode([int(d, 16) for d in t["dwords"]])
    return tlp_view.lines(decoded) if decoded is not None else []


def _tlp_json(t: dict) -> dict:
    """An event's "tlp" object: its fields, with the decoded text after "category"."""
    out = {}
    for k, v in t.items():
        out[k] = v
        if k == "category":
            out["decoded"] = _tlp_lines(t)
    return out


def event_json(ev: Event) -> dict:
    fields = dict(ev.fields)
    if isinstance(fields.get("tlp"), dict):
        fields["tlp"] = _tlp_json(fields["tlp"])
    if fields.get("details"):
        fields["details"] = [dict(d, tlp=_tlp_json(d["tlp"])) if isinstance(d.get("tlp"), dict) else d
                             for d in fields["details"]]
    return {"time": ev.time, "bdf": ev.bdf, "kind": ev.kind, "reporter": ev.reporter,
            "driver": ev.driver, "fields": fields, "raw": ev.text}


def panic_json(s: Optional[LogSummary]) -> Optional[dict]:
    if s is None:
        return None
    p = s.panic
    return {"line": p.line, "message": p.message, "time": p.time, "pci": p.pci, "why": p.why,
            "bdf": p.bdf}


def to_json(s: Optional[LogSummary]) -> Optional[dict]:
    if s is None:
        return None
    log = s.log
    return {
        "format": log.format, "records": len(log.records), "complete": log.complete,
        "notes": list(log.notes), "cmdline": s.cmdline, "params": dict(s.params),
        "capture_filter": s.capture_filter, "aer_off": s.aer_off, "events_dropped": s.dropped,
        "counts": dict(s.counts),
        "events": [event_json(e) for e in s.events],
        "devices": [{"bdf": d.bdf, "ids": d.ids, "reports": d.reports, "errors": list(d.errors),
                     "recovered": d.recovered, "failed": d.failed, "first": d.first,
                     "last": d.last, "events": len(d.events)} for d in s.devices],
        "panic": panic_json(s),
    }

