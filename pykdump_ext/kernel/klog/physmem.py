"""Physical memory for the log readers: a bounded page cache over one MemoryReader.

Every page read is remembered in `pfns` (the triage extract keeps exactly
those); a page that cannot be read raises Unreadable naming the physical
address and why, so a reader can turn it into a note and go on.
"""

from __future__ import annotations

import collections
from typing import Dict, Iterable, Set, TYPE_CHECKING

from crash_ext_c.errors import PageUnavailable, PcicrashError

if TYPE_CHECKING:
    from crash_ext_c.reader import MemoryReader

# Enough for a 16 MiB log ring plus its descriptors and page tables; the readers
# work in windows, so a bigger ring is read again from the dump, never held whole.
MAX_CACHED_PAGES = 4096


class Unreadable(Exception):
    """A physical page the log reader needs is not in the dump (or the dump holds it broken)."""

    def __init__(self, paddr: int, pfn: int, why: str) -> None:
        super().__init__()
        self.paddr, self.pfn, self.why = paddr, pfn, why

    def __str__(self) -> str:          # formatted only when a note keeps it
        return "physical 0x%x (pfn 0x%x): %s" % (self.paddr, self.pfn, self.why)


def _why(exc: PcicrashError) -> str:
    if isinstance(exc, PageUnavailable) and exc.status is not None:
        return exc.status.value
    return exc.message()


class PhysMem:
    def __init__(self, reader: MemoryReader, *, max_cached: int = MAX_CACHED_PAGES) -> None:
        self.reader = reader
        self.page_size = int(reader.page_size)
        if self.page_size < 512 or self.page_size & (self.page_size - 1):
            raise ValueError("page size %d is not a power of two of at least 512"
                             % self.page_size)
        self.pfns: Set[int] = set()
        self.failed: Dict[int, str] = {}          # pfn -> why it could not be read
        self._cache: "collections.OrderedDict[int, bytes]" = collections.OrderedDict()
        self._max = max(16, max_cached)

    def _keep(self, pfn, data) -> None:
        self._cache[pfn] = data
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def prefetch(self, pfns: Iterable[int]) -> None:
        """Read many pages in one reader batch (readers coalesce and decompress together)."""
        todo = sorted({p for p in pfns if p not in self._cache and p not in self.failed
                       and 0 <= p})
        if not todo:
            return
        for start in range(0, len(todo), self._max // 2):
            chunk = todo[start:start + self._max // 2]
            try:
                got = self.reader.read_pages(chunk)
            except PcicrashError as exc:           # a reader that fails the whole batch
                got = {p: exc for p in chunk}
            for pfn in chunk:
                res = got.get(pfn)
                if isinstance(res, (bytes, bytearray)) and len(res) == self.page_size:
                    self.pfns.add(pfn)
                    self._keep(pfn, bytes(res))
                elif isinstance(res, PcicrashError):
                    self.failed[pfn] = _why(res)
                # anything else: left for page() to try one by one

    def page(self, pfn: int) -> bytes:
        data = self._cache.get(pfn)
        if data is not None:
            self._cache.move_to_end(pfn)
            return data
        if pfn in self.failed:
            raise Unreadable(pfn * self.page_size, pfn, self.failed[pfn])
        if pfn < 0:
            raise Unreadable(pfn * self.page_size, pfn, "negative page frame number")
        try:
            data = self.reader.read_page(pfn)
        except PcicrashError as exc:
            self.failed[pfn] = _why(exc)
            raise Unreadable(pfn * self.page_size, pfn, self.failed[pfn]) from None
        if len(data) != self.page_size:
            self.failed[pfn] = "reader returned %d bytes for a %d-byte page" % (
                len(data), self.page_size)
            raise Unreadable(pfn * self.page_size, pfn, self.failed[pfn])
        self.pfns.add(pfn)
        self._keep(pfn, bytes(data))
        return data

    def read(self, paddr: int, size: int) -> bytes:
        """`size` bytes at physical `paddr` (Unreadable for the first page not there)."""
        ps = self.page_size
        pfn, off = divmod(paddr, ps)
        if off + size <= ps:
            return self.page(pfn)[off:off + size]
        out = bytearray()
        while len(out) < size:
            take = min(ps - off, size - len(out))
            out += self.page(pfn)[off:off + take]
            pfn += 1
            off = 0
        return bytes(out)

    def u64(self, paddr: int) -> int:
        return int.from_bytes(self.read(paddr, 8), "little")
