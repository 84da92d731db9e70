"""The one memory-reader interface: `MemoryReader`, the protocol every reader provides.

A reader serves physical memory of the crashed kernel page by page and can
say, for any page frame, why it is or is not there.  Dump files (ELF,
kdump-compressed, flattened, split), crash through PyKdump, drgn, and
in-memory page sets all implement it; the analysis only ever talks to this.

Everything a caller may ask of a reader is declared here with its default
(READER_FIELDS lists the data attributes): callers read the attribute, never
probe for it.  A reader that knows better sets the attribute; see
docs/readers.md.
"""

from __future__ import annotations

import collections
import enum
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from .elfnote import DeviceDump
from .errors import PageUnavailable, PcicrashError

class PageStatus(enum.Enum):
    PRESENT = "present"                   # stored in the dump
    ZERO = "zero page"                    # dropped/shared as a zero page: reads as zeros
    EXCLUDED = "excluded by filtering"    # makedumpfile dump level dropped it
    ZERO_OR_EXCLUDED = "zero or excluded" # ELF p_filesz < p_memsz tail: cannot tell which
    ERASED = "erased"                     # bytes replaced by a --config/--eppic erase rule
    OUTSIDE = "outside the dump"          # pfn is in no memory range of the dump
    LOST = "lost (incomplete dump)"       # the dump was cut before this page was written
    NOT_IN_PART = "in a missing split part"  # split set: the part that holds it was not given

    @property
    def readable(self) -> bool:
        """True when read_page() returns bytes (real or implied zeros)."""
        return self in (PageStatus.PRESENT, PageStatus.ZERO, PageStatus.ZERO_OR_EXCLUDED,
                        PageStatus.ERASED)


_R = TypeVar("_R", bound="MemoryReader")


class MemoryReader:
    """Physical memory of one crashed kernel: the reader protocol, with defaults.

    Subclasses set `page_size`, `vmcoreinfo` (dict of str -> str, may be
    empty) and `name` (what error messages call the source), and implement
    `page_status()` and `_read_page()`.  Everything else has a default that
    means "this reader cannot tell" or "nothing of the kind".
    """

    name: str = "<memory>"
    page_size: int = 4096
    # VMCOREINFO in use (a --vmcoreinfo file replaces it) and the dump's own one,
    # which a --vmcoreinfo file is held against.
    vmcoreinfo: Dict[str, str] = {}
    dump_vmcoreinfo: Dict[str, str] = {}
    # Short description of the format ("kdump-compressed (zlib), version 6").
    format: str = "unknown"
    # Notes the reader wants shown to the user (incomplete dump, -E ambiguity...).
    notes: Sequence[str] = ()
    # Text of the dump's eraseinfo (makedumpfile --config/--eppic), or None.
    eraseinfo: Optional[str] = None
    # makedumpfile's dump level (-d), None when the format does not record one.
    dump_level: Optional[int] = None
    # The dump says it was cut (kdump status flag; a flattened stream cut short).
    incomplete: bool = False
    # --split set: [{"path", "start_pfn", "end_pfn"}] of the parts given, None otherwise;
    # missing_ranges: [(start_pfn, end_pfn)] of the parts not given.
    split_parts: Optional[List[Dict]] = None
    missing_ranges: Sequence[Tuple[int, int]] = ()
    # Device dumps (VMCOREDD notes, crash_ext_c.elfnote.DeviceDump); None: cannot tell.
    device_dumps: Optional[List[DeviceDump]] = None
    # ELF vmcores: written by makedumpfile (-E), and the ELF header's e_flags
    # (bit 0: makedumpfile -E marks a dump it could not finish).
    made_by_makedumpfile: bool = False
    e_flags: int = 0
    # Highest pfn + 1 the dump describes, None when unknown.
    max_pfn: Optional[int] = None
    # kdump header's utsname fields ({"release": ...}); empty when the format has none.
    utsname: Dict[str, str] = {}
    # Stored compression of the pages ("zlib", "none", "lzo+zlib"...), None: not compressed
    # by its format (ELF) or unknown.
    compression: Optional[str] = None
    # kdump-compressed readers: stored_pages(pfns) -> {pfn: (flags, bytes, page_flags)},
    # the pages as the file stores them (what a writer copies unchanged); None otherwise.
    stored_pages: Optional[Callable] = None

    def page_status(self, pfn: int) -> PageStatus:
        raise NotImplementedError

    def page_statuses(self, pfns: Iterable[int]) -> List[PageStatus]:
        """Status of many pages; readers with a faster batch path override this."""
        return [self.page_status(p) for p in pfns]

    def _read_page(self, pfn: int) -> bytes:
        """Bytes of a page whose status is readable (exactly page_size bytes)."""
        raise NotImplementedError

    def stored_problems(self, pfns: Iterable[int]) -> Dict[int, PcicrashError]:
        """{pfn: PcicrashError} for stored pages the dump's tables alone show to be
        unreadable (without reading page data); readers that can tell override this."""
        return {}

    def read_page(self, pfn: int) -> bytes:
        status = self.page_status(pfn)
        if status is PageStatus.ZERO:
            return bytes(self.page_size)
        if not status.readable:
            raise PageUnavailable("page 0x%x (physical 0x%x) is %s"
                                  % (pfn, pfn * self.page_size, status.value),
                                  pfn=pfn, status=status, path=self.name)
        return self._read_page(pfn)

    def read_pages(self, pfns: Iterable[int]) -> Dict[int, Union[bytes, PcicrashError]]:
        """{pfn: bytes, or the PcicrashError that page raised} for many pages.

        A bad page costs only itself: PageUnavailable for a page not in the
        dump, DumpFormatError for one the file holds broken.  Readers may batch.
        """
        out: Dict[int, Union[bytes, PcicrashError]] = {}
        for pfn in pfns:
            try:
                out[pfn] = self.read_page(pfn)
            except PcicrashError as exc:
                out[pfn] = exc
        return out

    def read_phys(self, addr: int, size: int) -> bytes:
        """`size` bytes at physical `addr`; raises PageUnavailable for the first missing page."""
        if addr < 0 or size < 0:
            raise ValueError("negative address or size")
        ps = self.page_size
        out = bytearray()
        pfn, off = divmod(addr, ps)
        while len(out) < size:
            chunk = self.read_page(pfn)
            take = min(ps - off, size - len(out))
            out += chunk[off:off + take]
            pfn += 1
            off = 0
        return bytes(out)

    def close(self) -> None:
        pass

    def __enter__(self: _R) -> _R:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# The data attributes of the protocol (a wrapper forwards these; the tests check
# that every reader class provides them).
READER_FIELDS = ("name", "page_size", "vmcoreinfo", "dump_vmcoreinfo", "format", "notes",
                 "eraseinfo", "dump_level", "incomplete", "split_parts", "missing_ranges",
                 "device_dumps", "made_by_makedumpfile", "e_flags", "max_pfn", "utsname",
                 "compression", "stored_pages")
READER_METHODS = ("page_status", "page_statuses", "read_page", "read_pages", "read_phys",
                  "stored_problems", "close", "__enter__", "__exit__")


class ProbingReader(MemoryReader):
    """A reader over a debugger's memory reads (crash, drgn): a page's status is found by
    reading it, and the bytes are kept (bounded) for the read that follows.

    Subclasses give `_probe(pfn) -> (status, bytes or None)`: bytes when the page could
    be read (status PRESENT, or ZERO_OR_EXCLUDED where such a page may be a stand-in).
    """

    PAGE_CACHE = 6400        # pages kept after a probe: a 24 MiB capture is read once

    def __init__(self) -> None:
        self._pages: "collections.OrderedDict[int, bytes]" = collections.OrderedDict()
        self._status: Dict[int, PageStatus] = {}

    def _probe(self, pfn: int) -> Tuple[PageStatus, Optional[bytes]]:
        raise NotImplementedError

    def page_status(self, pfn: int) -> PageStatus:
        if pfn in self._pages:
            return PageStatus.PRESENT
        status = self._status.get(pfn)
        if status is not None:
            return status
        status, data = self._probe(pfn)
        if data is None:
            self._status[pfn] = status
            return status
        self._pages[pfn] = data
        while len(self._pages) > self.PAGE_CACHE:
            self._pages.popitem(last=False)
        return status

    def _read_page(self, pfn: int) -> bytes:
        data = self._pages.get(pfn)
        if data is None:
            self.page_status(pfn)
            data = self._pages.get(pfn, bytes(self.page_size))
        return data


class PageDictReader(MemoryReader):
    """Memory made of explicit pages: {pfn: bytes}, and {pfn: PageStatus} for the missing ones.

    Used for captures built byte by byte and as the reader over any source
    that has already produced its pages.
    """

    def __init__(self, pages: Mapping[int, bytes], *, page_size: int = 4096,
                 vmcoreinfo: Optional[Mapping[str, str]] = None,
                 statuses: Optional[Mapping[int, PageStatus]] = None, name: str = "<pages>") -> None:
        self.pages = dict(pages)
        self.statuses = dict(statuses or {})
        self.page_size = page_size
        self.vmcoreinfo = dict(vmcoreinfo or {})
        self.name = name
        for pfn, data in self.pages.items():
            if len(data) != page_size:
                raise ValueError("page 0x%x has %d bytes, not %d" % (pfn, len(data), page_size))

    def page_status(self, pfn: int) -> PageStatus:
        if pfn in self.pages:
            return PageStatus.PRESENT
        return self.statuses.get(pfn, PageStatus.OUTSIDE)

    def _read_page(self, pfn: int) -> bytes:
        return self.pages.get(pfn, bytes(self.page_size))
