"""A MemoryReader that passes the reader protocol to another one and notes every page asked about.

`pcicrash --extract` runs the whole analysis (capture, kernel log, and with
--vmlinux the kernel structures drgn reads) through it: the pages it notes
are exactly what a triage extract has to hold for the same report.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Set, TYPE_CHECKING, Union

from crash_ext_c.errors import PcicrashError
from crash_ext_c.reader import READER_FIELDS, MemoryReader, PageStatus

if TYPE_CHECKING:
    from pykdump_ext.kernel.klog.records import KernelLog


class RecordingReader(MemoryReader):
    """Wraps `inner`; `read` holds the pfns whose bytes were asked for, `asked` those whose
    status was (a status answer is part of what the analysis sees, too)."""

    kernel_log: Optional[KernelLog] = None       # the KernelLog read through it, when the caller keeps one

    def __init__(self, inner: MemoryReader) -> None:
        self.inner = inner
        self.read: Set[int] = set()
        self.asked: Set[int] = set()
        # the protocol's data attributes are the inner's; its methods are below (nothing
        # reader-specific, like a kdump reader's parts, passes through)
        for attr in READER_FIELDS:
            setattr(self, attr, getattr(inner, attr))

    @property
    def pfns(self) -> Set[int]:
        """Every pfn the analysis touched (bytes or status)."""
        return self.read | self.asked

    def _note(self, pfns: Iterable[int], into: Set[int]) -> None:
        for p in pfns:
            if isinstance(p, int) and p >= 0:
                into.add(p)

    def page_status(self, pfn: int) -> PageStatus:
        self._note((pfn,), self.asked)
        return self.inner.page_status(pfn)

    def page_statuses(self, pfns: Iterable[int]) -> List[PageStatus]:
        pfns = list(pfns)
        self._note(pfns, self.asked)
        return self.inner.page_statuses(pfns)

    def read_page(self, pfn: int) -> bytes:
        self._note((pfn,), self.read)
        return self.inner.read_page(pfn)

    def _read_page(self, pfn: int) -> bytes:
        return self.read_page(pfn)

    # read_phys: MemoryReader's, page by page through read_page, so a read that stops at
    # a missing page notes only the pages it reached.

    def read_pages(self, pfns: Iterable[int]) -> Dict[int, Union[bytes, PcicrashError]]:
        pfns = list(pfns)
        self._note(pfns, self.read)
        return self.inner.read_pages(pfns)

    def stored_problems(self, pfns: Iterable[int]) -> Dict[int, PcicrashError]:
        pfns = list(pfns)
        self._note(pfns, self.asked)
        return self.inner.stored_problems(pfns)

    def close(self) -> None:
        self.inner.close()
