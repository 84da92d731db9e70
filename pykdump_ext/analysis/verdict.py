"""Which device most likely brought the machine down, and why.

Pure.  Every captured device (and every BDF a root port names as an error
source, captured or not) is scored by the RULES table: each rule that holds
adds its weight and one line of evidence.  The ranking follows the order
of the weights: the source of an uncorrectable error that a root port
still records, with unmasked uncorrectable status of its own, outranks a
port whose DPC triggered, which outranks a link that is down, a downtrained
link, and correctable-only errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, TYPE_CHECKING, Tuple

from .errpath import DEVSTA_ERRORS, STATUS_ERRORS, cor_text, downstream_facing, uncor_text

if TYPE_CHECKING:
    from pykdump_ext.pci.config import Aer, Config, Pcie


@dataclass
class Facts:
    """What the rules look at for one BDF."""
    bdf: str
    cfg: Optional[Config] = None            # None when not captured
    named: list = field(default_factory=list)        # ErrorPaths whose source is this BDF
    children: list = field(default_factory=list)     # Configs of captured children
    unreachable: Optional[str] = None       # topology.UNREACH_* for an all-0xFF record
    unreachable_why: str = ""
    parent_cfg: object = None
    link: object = None     # link.LinkState of this device's link, None without Link Status
    clean: bool = False     # no error status, not named, not a downstream port: no rule can hold

    @property
    def aer(self) -> Optional[Aer]:
        return self.cfg.aer if self.cfg is not None and not self.cfg.all_ff else None

    @property
    def pcie(self) -> Optional[Pcie]:
        return self.cfg.pcie if self.cfg is not None and not self.cfg.all_ff else None


# --- rule tests: Facts -> evidence text or None -----------------------------------

def _named_uncor(f):
    cur = [p for p in f.named if p.current and p.message != "ERR_COR"]
    if cur:
        return "; ".join("%s %s received %s from it"
                         % ("DPC port" if p.dpc else "root port", p.root_port, p.message)
                         for p in cur)
    return None


def _uncor_unmasked(f):
    errs = [e for e in (f.aer.uncor_errors if f.aer else ()) if not e.masked]
    return "uncorrectable: " + "; ".join(uncor_text(e) for e in errs) if errs else None


def _uncor_fatal(f):
    errs = [e for e in (f.aer.uncor_errors if f.aer else ()) if not e.masked and e.fatal]
    return "fatal severity: " + ", ".join(e.short for e in errs) if errs else None


def _dpc(f):
    d = f.cfg.dpc if f.cfg is not None and not f.cfg.all_ff else None
    if d is not None and d.triggered:
        return "DPC triggered (%s), source %04x" % (d.trigger_reason or d.trigger_reason_code,
                                                    d.source_id)
    return None


def _link_down(f):
    """A port whose link is concluded down (link.py: the register, held against a device
    below that answered or an error message that crossed it) with something behind it."""
    p = f.pcie
    ls = f.link
    if not downstream_facing(p) or ls is None or ls.conclusion != "down":
        return None
    dead = [c for c in f.children if c.all_ff]
    present = "PresDet" in (p.slot_status_flags or [])
    if dead or present:
        return "link down (%s) with %s below" % (
            "; ".join(ls.evidence_down),
            "a device that did not answer" if dead else "a card present (SltSta PresDet+)")
    return None


def _unreachable_link_down(f):
    if f.unreachable == "link down":
        return "did not answer at panic: " + f.unreachable_why
    return None


def _downtrained(f):
    """Negotiated speed/width below what both ends of the link support."""
    p = f.pcie
    if not downstream_facing(p) or not p.has_link:
        return None
    if f.link is not None and f.link.conclusion == "down":
        return None
    for c in f.children:
        cp = c.pcie if not c.all_ff else None
        if cp is None or not cp.link_cap_width or not cp.link_cap_speed_code:
            continue
        want_w = min(p.link_cap_width or 0, cp.link_cap_width)
        want_s = min(p.link_cap_speed_code or 0, cp.link_cap_speed_code)
        if (p.link_width and p.link_width < want_w) or \
                (p.link_speed_code and p.link_speed_code < want_s):
            return "link downtrained: x%s %s, both ends support x%d at speed code %d" % (
                p.link_width, p.link_speed, want_w, want_s)
    return None


def _named_cor(f):
    cur = [p for p in f.named if p.current and p.message == "ERR_COR"]
    return ("root port %s received ERR_COR from it" % cur[0].root_port) if cur else None


def _named_cleared(f):
    old = [p for p in f.named if not p.current]
    if old:
        return "named by root port %s's Error Source register, status already cleared " \
               "(reported and handled before the panic)" % ", ".join(p.root_port for p in old)
    return None


def _devsta(f):
    p = f.pcie
    errs = [x for x in (p.dev_status_flags if p else ()) if x in DEVSTA_ERRORS[1:]]
    return "DevSta " + " ".join(x + "+" for x in errs) if errs else None


def _pci_status(f):
    if f.cfg is None or f.cfg.all_ff:
        return None
    errs = [x for x in f.cfg.status_flags + f.cfg.sec_status_flags if x in STATUS_ERRORS]
    return "PCI status " + " ".join(sorted(set(errs))) if errs else None


def _uncor_masked(f):
    errs = [e for e in (f.aer.uncor_errors if f.aer else ()) if e.masked]
    return "masked uncorrectable: " + ", ".join(e.short for e in errs) if errs else None


def _correctable(f):
    errs = [e for e in (f.aer.cor_errors if f.aer else ()) if not e.masked]
    return "correctable: " + "; ".join(cor_text(e) for e in errs) if errs else None


@dataclass(frozen=True)
class Rule:
    """One row of the scoring table: a test on a device and the weight of its evidence."""
    key: str
    weight: int
    test: Callable


# The scoring table, strongest evidence first.
RULES = (
    Rule("named_uncor", 60, _named_uncor),
    Rule("uncor_unmasked", 50, _uncor_unmasked),
    Rule("dpc_triggered", 45, _dpc),
    Rule("link_down", 35, _link_down),
    Rule("unreachable_link_down", 30, _unreachable_link_down),
    Rule("uncor_fatal", 15, _uncor_fatal),
    Rule("downtrained", 12, _downtrained),
    Rule("named_cor", 10, _named_cor),
    Rule("devsta_uncor", 10, _devsta),
    Rule("named_cleared", 8, _named_cleared),
    Rule("pci_status", 8, _pci_status),
    Rule("correctable", 5, _correctable),
    Rule("uncor_masked", 3, _uncor_masked),
)


@dataclass
class Suspect:
    """A device the rules point at: its score and the evidence that earned it."""
    bdf: str
    score: int
    evidence: List[str]              # one line per rule that held
    rules: List[str]                 # their keys
    headline: str                    # the single most telling fact
    errors: List[str] = field(default_factory=list)   # named AER errors
    captured: bool = True


@dataclass
class Verdict:
    """Which device most likely brought the machine down, ranked suspects, and the lines saying so."""
    lines: List[str]
    suspects: List[Suspect]
    notes: List[str] = field(default_factory=list)
    panic: object = None             # klog.judge.Panic when the kernel log was read


def _headline(f, rules):
    rules = dict(rules)
    a = f.aer
    if a is not None:
        errs = [e for e in a.uncor_errors if not e.masked]
        errs.sort(key=lambda e: (not e.first, not e.fatal, e.bit))
        if errs:
            return uncor_text(errs[0])
    for key in ("dpc_triggered", "link_down", "unreachable_link_down"):
        if key in rules:
            return rules[key]
    named = [p for p in f.named if p.current]
    if named:
        why = "its record is all 0xFF" if f.cfg is not None and f.cfg.all_ff else \
            "not captured" if f.cfg is None else "no AER status of its own"
        return "sent %s to root port %s (%s: error type unknown)" % (
            named[0].message, named[0].root_port, why)
    for key in ("downtrained", "devsta_uncor", "correctable", "named_cleared", "pci_status",
                "uncor_masked"):
        if key in rules:
            return rules[key]
    return ""


def score(f: Facts) -> List[Tuple[str, str, int]]:
    hits = []
    for rule in RULES:
        ev = rule.test(f)
        if ev:
            hits.append((rule.key, ev, rule.weight))
    return hits


def judge(facts: Dict[str, Facts], label: Callable[[str], str] = lambda b: b,
          *, context: Sequence[str] = ()) -> Verdict:
    """facts: {bdf: Facts}; label(bdf) -> 'bdf [vvvv:dddd] name' for the text lines."""
    suspects = []
    for bdf, f in facts.items():
        if f.clean and not f.named:
            continue
        hits = score(f)
        if not hits:
            continue
        rules = [(k, ev) for k, ev, _w in hits]
        s = Suspect(bdf=bdf, score=sum(w for _k, _e, w in hits),
                    evidence=[ev for _k, ev, _w in hits], rules=[k for k, _e, _w in hits],
                    headline=_headline(f, rules), captured=f.cfg is not None)
        if f.aer is not None:
            s.errors = [uncor_text(e) for e in f.aer.uncor_errors] + \
                       [cor_text(e) for e in f.aer.cor_errors]
        suspects.append(s)

    def first_error(s):
        f = facts[s.bdf]
        return any(e.first and not e.masked for e in (f.aer.uncor_errors if f.aer else ()))

    suspects.sort(key=lambda s: (-s.score, not first_error(s), s.bdf))
    lines = []
    notes = list(context)
    if not suspects:
        lines.append("No captured device shows error status.")
    else:
        top = suspects[0]
        lines.append("Most likely at fault: %s: %s" % (label(top.bdf), top.headline))
        via = [p for p in facts[top.bdf].named if p.current]
        more = []
        if via:
            more.append("reported to root port %s as %s" % (via[0].root_port, via[0].message))
        close = [s for s in suspects[1:4] if s.score >= top.score * 0.5]
        if close:
            more.append("also: " + "; ".join("%s (%s)" % (s.bdf, s.headline) for s in close))
        if more:
            lines.append("  " + "; ".join(more))
    return Verdict(lines=lines, suspects=suspects, notes=notes)
