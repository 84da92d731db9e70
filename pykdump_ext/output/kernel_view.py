"""Views of kernel.KernelInfo (the kernel's own structures): the -a header lines, the
per-device lines of -a/-d, and the report's "kernel" JSON object (docs/json.md)."""

from __future__ import annotations

import datetime
from typing import Any, List

from pykdump_ext.kernel.structs import (
    AER_ARRAYS, AER_ROOT_TOTALS, AER_TOTALS, ERROR_STATES, POWER_STATES,
)


def utc(seconds: int) -> str:
    """A kernel time in seconds as UTC text, or why it is not a wall-clock time."""
    from pykdump_ext.capture.buffer import CLOCK_SANE_NS
    if 0 <= seconds < CLOCK_SANE_NS // 10**9:
        return "clock not set (%d s after 1970-01-01)" % seconds
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "time %d" % seconds


def summary_lines(k: Any) -> List[str]:
    """Machine-wide lines for the report header (-a)."""
    k.load()
    lines = ["symbols: %s" % k.origin]
    if k.crashtime is not None:
        lines.append("crash time: %s (CRASHTIME=%d)" % (utc(k.crashtime), k.crashtime))
    if k.hwerr is not None:
        parts = []
        for name, count, ts in k.hwerr:
            if count:
                when = "last %s" % utc(ts)
                if k.crashtime is not None and ts:
                    when += ", %d s before the crash" % (k.crashtime - ts)
                parts.append("%s %d (%s)" % (name, count, when))
            else:
                parts.append("%s 0" % name)
        lines.append("recoverable hardware errors (hwerr_data): " + "; ".join(parts))
    if k.device_dumps is not None:
        if k.device_dumps:
            lines.append("device dumps (VMCOREDD notes): " + ", ".join(
                "%s (%d bytes)" % (n, s) for n, s in k.device_dumps))
        else:
            lines.append("device dumps (VMCOREDD notes): none")
    else:
        lines.append("device dumps (VMCOREDD notes): cannot tell from this source")
    if k.devices:
        lines.append("PCI devices in the kernel's lists: %d" % len(k.devices))
    lines.extend("note: " + n for n in k.notes)
    return lines


def device_lines(k: Any, bdf: str) -> List[str]:
    """Per-device lines for -a and -d (empty when the kernel does not know the device)."""
    k.load()
    info = k.devices.get(bdf.lower())
    if info is None:
        return ["Kernel: no struct pci_dev for %s in the kernel's lists" % bdf] if k.devices else []
    parts = []
    if info.driver is not None:
        parts.append("driver %s" % (info.driver or "(none)"))
    if info.error_state is not None:
        parts.append("error_state %s" % ERROR_STATES.get(info.error_state,
                                                         "%d (unknown)" % info.error_state))
    if info.power_state is not None:
        parts.append("power %s" % POWER_STATES.get(info.power_state,
                                                   "%d (unknown)" % info.power_state))
    lines = ["Kernel: " + (", ".join(parts) if parts else "(nothing readable)")
             + " [struct pci_dev 0x%x]" % info.addr]
    if info.aer == "none":
        lines.append("Kernel AER counters: none (aer_stats not allocated)")
    elif info.aer is not None:
        lines.extend(_aer_lines(info.aer))
    lines.extend("Kernel: %s" % p for p in info.problems)
    return lines


def _aer_lines(aer: dict) -> List[str]:
    tot = [aer.get(m) for m in AER_TOTALS]
    text = "Kernel AER counters: %s correctable, %s fatal, %s non-fatal" % tuple(
        "?" if t is None else t for t in tot)
    root = [aer.get(m) for m in AER_ROOT_TOTALS]
    if any(root):
        text += "; as root port: %s correctable, %s fatal, %s non-fatal received" % tuple(
            "?" if t is None else t for t in root)
    lines = [text]
    for m, kind, names in AER_ARRAYS:
        per = aer.get(m) or {}
        if per:
            lines.append("  %s by error: %s" % (kind, ", ".join(
                "%s x%d" % (names[int(b)][1] if int(b) in names else "bit %s" % b, n)
                for b, n in sorted(per.items(), key=lambda kv: int(kv[0])))))
    return lines


def device_json(d: Any) -> dict:
    """One kernel.DeviceInfo as JSON (keys absent when unknown)."""
    out = {"bdf": d.bdf, "pci_dev": "0x%x" % d.addr}
    if d.driver is not None:
        out["driver"] = d.driver or None
    if d.error_state is not None:
        out["error_state"] = d.error_state
        out["error_state_name"] = ERROR_STATES.get(d.error_state)
    if d.power_state is not None:
        out["power_state"] = d.power_state
        out["power_state_name"] = POWER_STATES.get(d.power_state)
    if d.aer is not None:
        out["aer_stats"] = d.aer
    if d.problems:
        out["problems"] = list(d.problems)
    return out


def to_json(k: Any) -> dict:
    """The report's "kernel" object."""
    k.load()
    out = {"source": k.origin, "crashtime": k.crashtime, "notes": list(k.notes)}
    if k.hwerr is not None:
        out["hwerr_data"] = [{"type": n, "count": c, "timestamp": t} for n, c, t in k.hwerr]
    out["device_dumps"] = (None if k.device_dumps is None else
                           [{"name": n, "size": s} for n, s in k.device_dumps])
    out["devices"] = {b: device_json(d) for b, d in sorted(k.devices.items())}
    return out
