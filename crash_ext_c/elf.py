"""ELF64 vmcores: a raw /proc/vmcore copy, or `makedumpfile -E` output.

Facts this reader relies on (ELF gABI, Linux fs/proc/vmcore.c, makedumpfile):
- The file is an ELF64 ET_CORE; one or more PT_NOTE segments hold the
  notes (CORE/NT_PRSTATUS per CPU, VMCOREINFO, device dumps, makedumpfile's
  ERASEINFO); each PT_LOAD maps p_paddr..p_paddr+p_memsz, whose first
  p_filesz bytes are stored at p_offset.  Notes are 4-byte aligned.
- The kernel's /proc/vmcore always has p_filesz == p_memsz and (since
  Linux 3.12, for mmap) page-aligned data: p_offset % PAGE_SIZE ==
  p_paddr % PAGE_SIZE.  PT_LOADs may overlap (kernel text is mapped once by
  its own segment and again by the direct-map segment of its RAM range).
- makedumpfile -E packs the notes right after the program headers and the
  data right after the notes; every run of 256 or more excluded pages ends
  a PT_LOAD (p_filesz < p_memsz: the tail is not stored); shorter runs are
  written as zero bytes.  An incomplete -E file has bit 0 of e_flags set.
  It may append an "ERASEINFO" note (--config/--eppic).  With more than
  65534 program headers e_phnum is PN_XNUM (0xffff) and the real count is
  sh_info of section header 0.
- Device dumps (Linux 4.18+, CONFIG_PROC_VMCORE_DEVICE_DUMP) are notes of
  type NT_VMCOREDD (0x700) named "LINUX", whose data starts with a 44-byte
  NUL-padded dump name; the v4 posting of that series named the notes
  "VMCOREDD_<name>" instead.  Both are listed in `device_dumps`.
"""

import bisect
import collections
import struct
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from . import vmcoreinfo as vmcoreinfo_mod
from .errors import DumpFormatError, PageUnavailable, PcicrashError
from .reader import MemoryReader, PageStatus

from . import elfnote
from .source import close_source, open_source

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
PN_XNUM = 0xFFFF
DUMP_ELF_INCOMPLETE = 0x1   # makedumpfile: e_flags bit of an incomplete -E file
EHDR_SIZE = 64
PHDR_SIZE = 56
SHDR_SIZE = 64

# Bounds on what a header may make us read into memory.
MAX_ERASEINFO = 16 << 20
# Program headers read: 512Ki segments (28 MiB of headers, ~100 MiB as segments) is
# more than makedumpfile -E writes for a multi-TiB machine; the rest are named in a note.
MAX_PHNUM = 1 << 19
PHDR_PIECE = 1 << 12            # headers read at a time

Segment = collections.namedtuple("Segment", "paddr filesz memsz offset")

_ENDIAN = {1: "<", 2: ">"}


class ElfReader(MemoryReader):
    """MemoryReader over an ELF64 core file (raw /proc/vmcore or makedumpfile -E).

    `vmcoreinfo` (a dict) replaces the dump's own VMCOREINFO (makedumpfile -i);
    the page size comes from its PAGESIZE (default 4096).
    """

    def __init__(self, path: Any, *, vmcoreinfo: Optional[Dict[str, str]] = None) -> None:
        """`path`: a file name, or a source (crash_ext_c.source: name, size, pread)."""
        self._src = open_source(path)
        self.path = self._src.name
        self.name = self.path
        try:
            self._parse(vmcoreinfo)
        except BaseException:
            self.close()
            raise

    # -- parsing -----------------------------------------------------------

    def _err(self, what, offset, expected):
        return DumpFormatError(what, path=self.path, offset=offset, expected=expected)

    def _pread(self, size, offset):
        return self._src.pread(offset, size)

    def _read_exact(self, size, offset, what):
        if offset + size > self.file_size:
            raise self._err("%s runs past the end of the file (%d bytes)"
                            % (what, self.file_size), offset,
                            "%d bytes at 0x%x" % (size, offset))
        data = self._pread(size, offset)
        if len(data) != size:
            raise self._err("short read of %s" % what, offset, "%d bytes" % size)
        return data

    _conflicts = False

    def _parse(self, override):
        self.file_size = self._src.size
        if self.file_size < EHDR_SIZE:
            raise self._err("file of %d bytes is too short for an ELF header" % self.file_size,
                            0, "a 64-byte ELF64 header")
        ehdr = self._pread(EHDR_SIZE, 0)
        if ehdr[:4] != ELF_MAGIC:
            raise self._err("not an ELF file (magic %r)" % ehdr[:4], 0, repr(ELF_MAGIC))
        if ehdr[4] != ELFCLASS64:
            raise self._err("ELF class %d" % ehdr[4], 4, "ELFCLASS64 (2)")
        end = _ENDIAN.get(ehdr[5])
        if end is None:
            raise self._err("ELF data encoding %d" % ehdr[5], 5, "1 (LSB) or 2 (MSB)")
        self._end = end
        (e_type, e_machine, _ver, _entry, e_phoff, e_shoff, e_flags, _ehsize,
         e_phentsize, e_phnum, _shentsize, _shnum, _shstrndx) = struct.unpack_from(
            end + "HHIQQQIHHHHHH", ehdr, 16)
        if e_type != ET_CORE:
            raise self._err("ELF type %d" % e_type, 16, "ET_CORE (4), a core dump")
        if e_phentsize != PHDR_SIZE:
            raise self._err("program header size %d" % e_phentsize, 54, "56 (Elf64_Phdr)")
        self.e_machine = e_machine
        self.e_flags = e_flags
        if e_phnum == PN_XNUM:
            # Extended numbering: the count is sh_info of section header 0.
            shdr = self._read_exact(SHDR_SIZE, e_shoff, "section header 0 (PN_XNUM)")
            e_phnum = struct.unpack_from(end + "I", shdr, 44)[0]
        if e_phnum == 0:
            raise self._err("no program headers", 56, "PT_NOTE and PT_LOAD headers")
        self.notes_early = []
        if e_phnum > MAX_PHNUM:
            self.notes_early.append(
                "%s: the ELF header declares %d program headers; only the first %d are read"
                " (memory described by the others is reported outside the dump)"
                % (self.path, e_phnum, MAX_PHNUM))
            e_phnum = MAX_PHNUM
        if e_phoff < EHDR_SIZE or e_phoff + e_phnum * PHDR_SIZE > self.file_size:
            raise self._err("%d program headers at 0x%x run past the end of the file (%d bytes)"
                            % (e_phnum, e_phoff, self.file_size), 32,
                            "program headers inside the file")
        self.phnum = e_phnum
        notes_ph = []
        segs = []
        for i, p_type, p_offset, p_paddr, p_filesz, p_memsz in self._phdrs(e_phoff, e_phnum):
            where = e_phoff + i * PHDR_SIZE
            if p_type == PT_NOTE:
                notes_ph.append((p_offset, p_filesz, where))
            elif p_type == PT_LOAD:
                if p_filesz > p_memsz:
                    raise self._err("PT_LOAD %d has p_filesz 0x%x > p_memsz 0x%x"
                                    % (i, p_filesz, p_memsz), where, "p_filesz <= p_memsz")
                if p_paddr + p_memsz > 1 << 64:
                    raise self._err("PT_LOAD %d wraps the physical address space" % i,
                                    where, "p_paddr + p_memsz below 2^64")
                if p_memsz:
                    segs.append(Segment(p_paddr, p_filesz, p_memsz, p_offset))
        self.segments = sorted(segs, key=lambda s: s.paddr)
        self._starts = [s.paddr for s in self.segments]
        # _reach[i]: highest end address among segments[:i+1] (overlap-aware lookup)
        self._reach = []
        reach = 0
        for s in self.segments:
            reach = max(reach, s.paddr + s.memsz)
            self._reach.append(reach)

        self.notes_list = []
        self.device_dumps = []
        self.eraseinfo = None
        own_info_text = None
        set_aside = []      # broken notes: said in self.notes, the rest of the dump still read
        damaged: List[str] = []        # note walks that stopped at damage (the notes before are kept)
        budget = elfnote.Budget()
        for off, size, where in notes_ph:
            if off + size > self.file_size:
                set_aside.append(self._err(
                    "PT_NOTE segment 0x%x+0x%x runs past the end of the file (%d bytes);"
                    " its notes are ignored" % (off, size, self.file_size), where,
                    "notes inside the file"))
                continue
            for note in elfnote.walk(self._pread_at, off, size, self._end, problems=damaged,
                                     where=self.path, budget=budget):
                self.notes_list.append(note)
                if note.name == "VMCOREINFO" and own_info_text is None:
                    if note.size > vmcoreinfo_mod.MAX_BYTES:
                        set_aside.append(self._err(
                            "VMCOREINFO note of %d bytes ignored" % note.size, note.offset,
                            "at most %d bytes" % vmcoreinfo_mod.MAX_BYTES))
                        own_info_text = b""
                        continue
                    own_info_text = self._pread(note.size, note.offset)
                elif note.name == "ERASEINFO" and self.eraseinfo is None:
                    if note.size > MAX_ERASEINFO:
                        set_aside.append(self._err(
                            "ERASEINFO note of %d bytes ignored" % note.size, note.offset,
                            "at most %d bytes" % MAX_ERASEINFO))
                        continue
                    self.eraseinfo = self._pread(note.size, note.offset).decode(
                        "utf-8", "replace").rstrip("\0")
                else:
                    dd = elfnote.device_dump(note, self._pread_at)
                    if dd is not None:
                        self.device_dumps.append(dd)

        own = {}
        if own_info_text:
            try:
                own = vmcoreinfo_mod.parse(own_info_text, source="%s VMCOREINFO note" % self.path)
            except PcicrashError as exc:
                set_aside.append(exc)
        self.dump_vmcoreinfo = own
        self.vmcoreinfo = dict(override) if override is not None else own
        notes = list(self.notes_early) + [exc.message() for exc in set_aside] + damaged
        ps = vmcoreinfo_mod.get_int(self.vmcoreinfo, "PAGESIZE", source=self.path) or 4096
        if ps <= 0 or ps & (ps - 1) or ps > 1 << 24:
            raise self._err("PAGESIZE=%d in VMCOREINFO" % ps, None, "a power of two")
        self.page_size = ps
        if own_info_text is None:
            notes.append("the ELF notes hold no VMCOREINFO")
        self.max_pfn: int = max((-(-(s.paddr + s.memsz) // ps) for s in self.segments), default=0)

        tails = sum(1 for s in self.segments if s.filesz < s.memsz)
        self.truncated_at = None
        lost = [s for s in self.segments if s.filesz and s.offset + s.filesz > self.file_size]
        if lost:
            self.truncated_at = min(max(s.offset, self.file_size) for s in lost)
            notes.append("the file is cut short at %d bytes: %d PT_LOAD segment(s) run past its end;"
                         " their pages there are lost" % (self.file_size, len(lost)))
        self.made_by_makedumpfile = bool(tails or self.eraseinfo is not None
                                         or e_flags & DUMP_ELF_INCOMPLETE)
        self.page_aligned = all((s.offset - s.paddr) % ps == 0 for s in self.segments if s.filesz)
        if self.made_by_makedumpfile:
            kind = "makedumpfile -E"
            if e_flags & DUMP_ELF_INCOMPLETE:
                notes.append("makedumpfile marked this ELF dump incomplete (e_flags bit 0)")
            if tails:
                notes.append("makedumpfile -E output: %d PT_LOAD tail(s) are not stored; their"
                             " pages read as zeros, but ELF cannot tell a filtered-out page"
                             " from a zero page there (and runs of fewer than 256 filtered-out"
                             " pages are stored as zeros)" % tails)
        elif self.page_aligned:
            kind = "/proc/vmcore copy"
        else:
            kind = "packed: an old /proc/vmcore or makedumpfile -E -d 0"
        self.format = "ELF64 core (%s), %d PT_LOAD, %d notes" % (
            kind, len(self.segments), len(self.notes_list))
        if self.device_dumps:
            notes.append("device dumps in the notes: %s"
                         % ", ".join("%s (%d bytes)" % (d.name, d.size) for d in self.device_dumps))
        self.notes = tuple(notes)

    def _pread_at(self, offset, size):
        return self._src.pread(offset, size)

    def _phdrs(self, phoff, phnum):
        """(index, p_type, p_offset, p_paddr, p_filesz, p_memsz) of the PT_LOAD and PT_NOTE
        headers, read PHDR_PIECE headers at a time; pieces in a hole of the file (all
        PT_NULL) are passed over without reading."""
        fmt = struct.Struct(self._end + "IIQQQQQQ")
        want = (PT_LOAD, PT_NOTE)
        for first in range(0, phnum, PHDR_PIECE):
            n = min(PHDR_PIECE, phnum - first)
            at = phoff + first * PHDR_SIZE
            data_from = getattr(self._src, "data_from", None)
            if data_from is not None and data_from(at) >= at + n * PHDR_SIZE:
                continue
            raw = self._pread(n * PHDR_SIZE, at)
            if not raw.strip(b"\0"):
                continue
            for k, (p_type, _fl, p_offset, _va, p_paddr, p_filesz, p_memsz, _al) in \
                    enumerate(fmt.iter_unpack(raw)):
                if p_type in want:
                    yield first + k, p_type, p_offset, p_paddr, p_filesz, p_memsz

    # -- pages ---------------------------------------------------------------

    def _overlapping(self, lo, hi):
        """Segments that intersect [lo, hi), first-listed (lowest start) first."""
        i = bisect.bisect_left(self._starts, hi) - 1
        out = []
        while i >= 0 and self._reach[i] > lo:
            s = self.segments[i]
            if s.paddr + s.memsz > lo:
                out.append(s)
            i -= 1
        out.reverse()
        return out

    def page_status(self, pfn: int) -> PageStatus:
        ps = self.page_size
        lo = pfn * ps
        hi = lo + ps
        segs = self._overlapping(lo, hi)
        if not segs:
            return PageStatus.OUTSIDE
        stored = False
        lost = False
        for s in segs:
            flo = max(lo, s.paddr)
            fhi = min(hi, s.paddr + s.filesz)
            if flo < fhi:
                if s.offset + (fhi - s.paddr) > self.file_size:
                    lost = True
                else:
                    stored = True
        if stored:
            return PageStatus.PRESENT
        if lost:
            return PageStatus.LOST
        return PageStatus.ZERO_OR_EXCLUDED

    def _read_page(self, pfn):
        ps = self.page_size
        lo = pfn * ps
        hi = lo + ps
        buf = bytearray(ps)
        # where earlier-read segments wrote (0xFF bytes): a segment's bytes are compared with
        # what is already there, once, whatever the number of overlapping segments (equal
        # bytes are equal to every writer before them, so one comparison is enough)
        written = bytearray(ps)
        writers: List[Tuple[int, int, Any]] = []         # (lo, hi, segment) in write order
        # Later segments first so that the first-listed one wins where they overlap.
        for s in reversed(self._overlapping(lo, hi)):
            flo = max(lo, s.paddr)
            fhi = min(hi, s.paddr + s.filesz, s.paddr + max(0, self.file_size - s.offset))
            if flo < fhi:
                data = self._pread(fhi - flo, s.offset + (flo - s.paddr))
                if len(data) != fhi - flo:
                    raise PageUnavailable("short read of page 0x%x" % pfn, pfn=pfn,
                                          status=PageStatus.LOST, path=self.path,
                                          offset=s.offset + (flo - s.paddr))
                a, b = flo - lo, fhi - lo
                if writers and not self._conflicts:
                    diff = (int.from_bytes(buf[a:b], "little") ^ int.from_bytes(data, "little")) \
                        & int.from_bytes(written[a:b], "little")
                    if diff:            # name the segment that wrote the first differing byte
                        at = a + ((diff & -diff).bit_length() - 1) // 8
                        self._conflict(pfn, s, next(w for lo_, hi_, w in reversed(writers) if lo_ <= at < hi_))
                buf[a:b] = data
                written[a:b] = b"\xff" * (b - a)
                writers.append((a, b, s))
        return bytes(buf)

    def _conflict(self, pfn, first, later) -> None:
        """Overlapping PT_LOADs that store different bytes for one page: said once."""
        if self._conflicts:
            return
        self._conflicts = True
        self.notes = tuple(self.notes) + (
            "%s: overlapping PT_LOAD segments disagree: page 0x%x (physical 0x%x) is stored"
            " differently at file offsets 0x%x and 0x%x; the bytes of the segment with the"
            " lowest start address are used"
            % (self.path, pfn, pfn * self.page_size,
               first.offset + max(0, pfn * self.page_size - first.paddr),
               later.offset + max(0, pfn * self.page_size - later.paddr)),)

    def read_pages(self, pfns: Iterable[int]) -> Dict[int, Union[bytes, PcicrashError]]:
        """Reads in file order (the dump may be on a slow disk); returns {pfn: bytes | error}."""
        out: Dict[int, Union[bytes, PcicrashError]] = {}
        order = sorted(set(pfns), key=self._file_pos)
        for pfn in order:
            try:
                out[pfn] = self.read_page(pfn)
            except PcicrashError as exc:      # the MemoryReader.read_pages contract
                out[pfn] = exc
        return {p: out[p] for p in pfns}

    def _file_pos(self, pfn):
        segs = self._overlapping(pfn * self.page_size, (pfn + 1) * self.page_size)
        return segs[0].offset + (pfn * self.page_size - segs[0].paddr) if segs else -1

    def close(self) -> None:
        src, self._src = getattr(self, "_src", None), None
        if src is not None:
            close_source(src)
