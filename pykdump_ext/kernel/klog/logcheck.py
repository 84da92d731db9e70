"""`--check` for the kernel log: are the pages the log reader needs in the dump, and if not, why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, TYPE_CHECKING

from crash_ext_c.errors import PcicrashError
from .reader import read_kernel_log

if TYPE_CHECKING:
    from crash_ext_c.reader import MemoryReader, PageStatus


@dataclass
class MissingPage:
    pfn: int
    status: Optional[str]         # PageStatus name, None when the reader could not say
    reason: str


@dataclass
class LogCheck:
    format: str
    records: int
    pages: int                    # pages read
    complete: bool
    missing: List[MissingPage] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    page_size: int = 4096

    def lines(self) -> List[str]:
        what = self.format or "not found"
        if self.complete and not self.missing:
            head = "kernel log: OK: %s, %d records, all %d pages in the dump" % (
                what, self.records, self.pages)
        else:
            head = "kernel log: INCOMPLETE: %s, %d records read from %d pages; %d page%s not " \
                   "in the dump" % (what, self.records, self.pages, len(self.missing),
                                    "" if len(self.missing) == 1 else "s")
        out = [head]
        out += ["kernel log page pfn 0x%x (physical 0x%x): %s: %s"
                % (m.pfn, m.pfn * self.page_size, m.status or "UNREADABLE", m.reason)
                for m in self.missing]
        out += ["kernel log note: %s" % n for n in self.notes]
        return out

    def to_json(self) -> Dict[str, Any]:
        return dict(format=self.format, records=self.records, pages=self.pages,
                    complete=self.complete, notes=list(self.notes),
                    missing=[dict(pfn=m.pfn, status=m.status, reason=m.reason)
                             for m in self.missing])


def check_log(reader: MemoryReader,
              reason: Optional[Callable[[MemoryReader, Optional[PageStatus], int], str]] = None,
              ) -> LogCheck:
    """Read the log and report its missing pages; `reason(reader, status, pfn)` explains one."""
    log = read_kernel_log(reader)
    res = LogCheck(log.format, len(log.records), len(log.pfns), log.complete,
                   notes=list(log.notes), page_size=reader.page_size)
    pfns = sorted(log.missing)
    statuses: List[Optional[PageStatus]]
    try:
        statuses = list(reader.page_statuses(pfns))
    except PcicrashError:
        statuses = [None] * len(pfns)
    for pfn, st in zip(pfns, statuses):
        why = reason(reader, st, pfn) if reason is not None and st is not None else \
            log.missing[pfn]
        res.missing.append(MissingPage(pfn, st.name if st is not None else None, why))
    return res
