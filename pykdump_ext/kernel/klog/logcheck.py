"""`--check` for the kernel log: are the pages the log reader needs in the dump, and if not, why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, TYPE_CHECKING

from crash_ext_c.errors import PcicrashError
from .reader import read_kernel_log

if TYPE_CHECKING:
    from crash_ext_c.reader import MemoryReader, PageStatus


@dataclass
class MissingPage:
    """One page the log reader needed that the dump does not hold, and why."""
    pfn: int
    status: Optional[str]         # PageStatus name, None when the reader could not say
    reason: str


@dataclass
class LogCheck:
    """The log's pages in a dump (views: output/check_view.log_lines, log_json)."""
    format: str
    records: int
    pages: int                    # pages read
    complete: bool
    missing: List[MissingPage] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    page_size: int = 4096


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
