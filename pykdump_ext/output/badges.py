"""What is wrong with one device, as short labelled categories: the badges of the HTML
report and the colour of a device's flags in the text views.

Pure: from a Device of the Report (its decoded config and topology node) and
the verdict's rule keys for it.  Each badge has a severity: "error" for what
can stop a machine (unmasked uncorrectable error, an error message at a root
port, DPC containment, a link down, a device that did not answer behind a
dead link), "warn" for the rest (correctable or masked errors, a downtrained
link, other error status bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set, TYPE_CHECKING

from pykdump_ext.analysis.errpath import cor_text, uncor_text

if TYPE_CHECKING:
    from pykdump_ext.analysis.report import Device
    from pykdump_ext.analysis.verdict import Verdict


@dataclass(frozen=True)
class Badge:
    """A short label for a device (error, DPC, link down, ...), with a line saying why."""
    kind: str          # ue, ue-masked, ce, err-msg, dpc, unreachable, link-down, downtrained, status
    text: str          # the label
    title: str         # one line saying why
    severity: str      # "error" | "warn"


KINDS = ("ue", "ue-masked", "ce", "err-msg", "dpc", "unreachable", "link-down", "downtrained",
         "status")


def verdict_rules(verdict: Optional[Verdict]) -> Dict[str, Set[str]]:
    """{bdf: rule keys that held for it} from a verdict.Verdict (None: {})."""
    if verdict is None:
        return {}
    return {s.bdf: set(s.rules) for s in verdict.suspects}


def device_badges(d: Device, rules: Iterable[str] = ()) -> List[Badge]:
    """Badges of one analysis.Device; `rules` are the verdict's rule keys for it."""
    rules = set(rules)
    c, n = d.config, d.node
    out = []
    if n is not None and n.unreachable:
        out.append(Badge("unreachable", "unreachable", "%s: %s" % (n.unreachable, n.unreachable_why),
                         "error" if n.unreachable == "link down" else "warn"))
    if c.all_ff:
        return out
    a = c.aer
    if a is not None:
        live = [e for e in a.uncor_errors if not e.masked]
        masked = [e for e in a.uncor_errors if e.masked]
        if live:
            out.append(Badge("ue", "UE" + (" fatal" if any(e.fatal for e in live) else ""),
                             "uncorrectable: " + "; ".join(uncor_text(e) for e in live), "error"))
        elif masked:
            out.append(Badge("ue-masked", "UE masked",
                             "masked uncorrectable: " + "; ".join(uncor_text(e) for e in masked),
                             "warn"))
        if a.cor_errors:
            out.append(Badge("ce", "CE", "correctable: " + "; ".join(cor_text(e) for e in a.cor_errors),
                             "warn"))
        if a.root_flags:
            uncor = "UERcvd" in a.root_flags
            out.append(Badge("err-msg", "ERR_%s rcvd" % ("FATAL/NONFATAL" if uncor else "COR"),
                             "Root Error Status: " + " ".join(a.root_flags),
                             "error" if uncor else "warn"))
    if c.dpc is not None and c.dpc.triggered:
        out.append(Badge("dpc", "DPC triggered", "DPC triggered: %s" % (
            c.dpc.trigger_reason or "reason %d" % c.dpc.trigger_reason_code), "error"))
    if "link_down" in rules:
        out.append(Badge("link-down", "link down",
                         "the port reports its link down with a device below it", "error"))
    if "downtrained" in rules:
        # the verdict's rule compares both ends of the link (a port's own capability alone
        # overstates: QEMU root ports claim 16GT/s x32 whatever sits below them)
        out.append(Badge("downtrained", "downtrained",
                         "link trained below what both its ends support", "warn"))
    if d.items and not out:
        out.append(Badge("status", "error status", "; ".join(d.items), "warn"))
    return out


def severity(badges: Iterable[Badge]) -> Optional[str]:
    """"error", "warn" or None (no badge)."""
    sev = None
    for b in badges:
        if b.severity == "error":
            return "error"
        sev = "warn"
    return sev
