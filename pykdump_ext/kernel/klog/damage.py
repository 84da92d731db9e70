"""What a log reader could not read, aggregated: one note per kind of damage, not one per record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Union

from crash_ext_c.errors import PcicrashError
from .vtop import number

EXAMPLES = 2


class Missing(PcicrashError):
    """VMCOREINFO lacks an entry (or holds a value out of range) the reader needs."""


def need(info: Dict[str, str], key: str, *, lo: int = 0, hi: Optional[int] = None) -> int:
    """The integer value of a VMCOREINFO entry, or Missing naming it."""
    value = number(info, key)
    if value is None:
        raise Missing("VMCOREINFO has no %s" % key)
    if value < lo or (hi is not None and value > hi):
        raise Missing("VMCOREINFO %s=%d is out of range" % (key, value),
                      expected="%d..%s" % (lo, hi if hi is not None else "")) from None
    return value


@dataclass
class _Kind:
    """One kind of damage in the log: how often, the first and last record, examples."""
    count: int = 0
    first: Optional[int] = None
    last: Optional[int] = None
    examples: List[str] = field(default_factory=list)


class Damage:
    """Collects per-record problems by kind; notes() gives one sentence per kind."""

    def __init__(self, unit: str = "record") -> None:
        self.unit = unit
        self.kinds: Dict[str, _Kind] = {}
        self.lost = 0          # records (or descriptors) whose text could not be read

    def add(self, kind: str, example: Union[str, Callable[[], str]], where: Optional[int] = None,
            *, lost: bool = True) -> None:
        """Count one damaged record; `example` is its description (or a callable making it)."""
        k = self.kinds.setdefault(kind, _Kind())
        k.count += 1
        if lost:
            self.lost += 1
        if where is not None:
            k.first = where if k.first is None else min(k.first, where)
            k.last = where if k.last is None else max(k.last, where)
        if len(k.examples) < EXAMPLES:
            text = example() if callable(example) else example     # built only when kept
            if text not in k.examples:
                k.examples.append(text)

    def notes(self) -> List[str]:
        out = []
        for kind, k in self.kinds.items():
            span = ""
            if k.first is not None:
                span = (" (%s)" % k.first if k.first == k.last else
                        " (%s..%s)" % (k.first, k.last))
            unit = self.unit + ("" if k.count == 1 else "s")
            out.append("%s: %d %s%s, e.g. %s" % (kind, k.count, unit, span,
                                                 "; ".join(k.examples)))
        return out
