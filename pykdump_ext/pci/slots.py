"""Device selection by address, in lspci's -s syntax: [[[[<domain>]:]<bus>]:][<slot>][.[<func>]].

Pure.  Every field is hexadecimal, and an empty field or `*` matches any
value, as in pciutils: `1:00.0`, `0000:01:00.0`, `01:`, `2`, `.1`, `*:*.3`.
Several selections are a union (lspci keeps only the last -s; pcicrash says
every one it was given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, TYPE_CHECKING

from crash_ext_c.errors import UsageError
from .bdf import slot_bdf

if TYPE_CHECKING:
    from pykdump_ext.analysis.report import Device

SYNTAX = "[[[[<domain>]:]<bus>]:][<slot>][.[<func>]] (hex; * or empty = any)"


@dataclass(frozen=True)
class Slot:
    """A device address pattern in lspci's -s syntax; None parts match anything."""
    spec: str
    domain: Optional[int] = None
    bus: Optional[int] = None
    slot: Optional[int] = None
    func: Optional[int] = None

    def matches(self, domain: int, bus: int, devfn: int) -> bool:
        return ((self.domain is None or self.domain == domain)
                and (self.bus is None or self.bus == bus)
                and (self.slot is None or self.slot == devfn >> 3)
                and (self.func is None or self.func == devfn & 7))

    @property
    def exact(self) -> bool:
        return None not in (self.bus, self.slot, self.func)

    @property
    def name(self) -> str:
        """dddd:bb:dd.f for an exact address (domain 0 when not given), else the spec."""
        if self.bus is None or self.slot is None or self.func is None:     # not exact
            return self.spec
        return slot_bdf(self.domain or 0, self.bus, self.slot, self.func)


def _field(text, limit, what, spec, option):
    if text in ("", "*"):
        return None
    try:
        v = int(text, 16)
    except ValueError:
        v = -1
    if not 0 <= v <= limit or text.startswith(("+", "-")) or text.strip() != text:
        raise UsageError("%s %s: not a PCI address (invalid %s %r)" % (option, spec, what, text),
                         expected="%s; %s at most 0x%x" % (SYNTAX, what, limit))
    return v


def parse(spec: str, option: str = "-s") -> Slot:
    """One selection; UsageError naming the bad field."""
    rest = spec.strip()
    domain = bus = None
    if ":" in rest:
        left, rest = rest.rsplit(":", 1)
        if ":" in left:
            dom_text, left = left.split(":", 1)
            if ":" in left:
                raise UsageError("%s %s: not a PCI address (too many ':')" % (option, spec),
                                 expected=SYNTAX)
            domain = _field(dom_text, 0xFFFF, "domain", spec, option)
        bus = _field(left, 0xFF, "bus", spec, option)
    func = None
    if "." in rest:
        rest, fn_text = rest.split(".", 1)
        func = _field(fn_text, 7, "function", spec, option)
    slot = _field(rest, 0x1F, "slot", spec, option)
    return Slot(spec, domain, bus, slot, func)


def select(devices: Iterable[Device], slots: Sequence[Slot]) -> List[Device]:
    """The devices (with .record.domain/.bus/.devfn) that any of `slots` matches."""
    return [d for d in devices
            if any(s.matches(d.record.domain, d.record.bus, d.record.devfn) for s in slots)]


def from_options(opts) -> list:
    """The Slots of every -d and -s of a frontends.run.ViewOptions (each may be given
    several times)."""
    return [parse(v, "-d") for v in opts.devices] + [parse(v, "-s") for v in opts.slots]
