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

from pykdump_ext import vmcoreinfo as vmcoreinfo_mod
from pykdump_ext.errors import DumpFormatError, PageUnavailable, PcicrashError
from pykdump_ext.memory import MemoryReader, PageStatus

from .source import close_source, open_source

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
PN_XNUM = 0xFFFF
NT_VMCOREDD = 0x700
VMCOREDD_NAME_BYTES = 44
DUMP_ELF_INCOMPLETE = 0x1   # makedumpfile: e_flags bit of an incomplete -E file
EHDR_SIZE = 64
PHDR_SIZE = 56
SHDR_SIZE = 64
NHDR_SIZE = 12

# Bounds on what a header may make us read into memory.
MAX_NOTE_NAME = 4096            # note names are short identifiers
MAX_ERASEINFO = 16 << 20
MAX_PHNUM = 1 << 24             # 16M segments = 896 MiB of headers: beyond any real machine

Note = collections.namedtuple("Note", "name type offset size")
DeviceDump = collections.namedtuple("DeviceDump", "name offset size")
Segment = collections.namedtuple("Segment", "paddr filesz memsz offset")

_ENDIAN = {1: "<", 2: ">"}


def _align4(n):
    return (n + 3) & ~3


class ElfReader(MemoryReader):
    """MemoryReader over an ELF64 core file (raw /proc/vmcore or makedumpfile -E).

    `vmcoreinfo` (a dict) replaces the dump's own VMCOREINFO (makedumpfile -i);
    the page size comes from its PAGESIZE (default 4096).
    """

    def __init__(self, path, *, vmcoreinfo=None):
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
        if e_phnum > MAX_PHNUM:
            raise self._err("%d program headers" % e_phnum, 56, "at most %d" % MAX_PHNUM)
        if e_phoff < EHDR_SIZE or e_phoff + e_phnum * PHDR_SIZE > self.file_size:
            raise self._err("%d program headers at 0x%x run past the end of the file (%d bytes)"
                            % (e_phnum, e_phoff, self.file_size), 32,
                            "program headers inside the file")
        self.phnum = e_phnum
        raw = self._pread(e_phnum * PHDR_SIZE, e_phoff)
        notes_ph = []
        segs = []
        for i in range(e_phnum):
            (p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz,
             _align) = struct.unpack_from(end + "IIQQQQQQ", raw, i * PHDR_SIZE)
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
        for off, size, where in notes_ph:
            if off + size > self.file_size:
                raise self._err("PT_NOTE segment 0x%x+0x%x runs past the end of the file (%d bytes)"
                                % (off, size, self.file_size), where, "notes inside the file")
            for note in self._walk_notes(off, size):
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
                elif note.name.startswith("VMCOREDD_"):
                    self.device_dumps.append(DeviceDump(note.name[len("VMCOREDD_"):],
                                                        note.offset, note.size))
                elif note.type == NT_VMCOREDD and note.name == "LINUX":
                    head = self._pread(min(VMCOREDD_NAME_BYTES, note.size), note.offset)
                    dname = head.split(b"\0", 1)[0].decode("utf-8", "replace")
                    skip = min(VMCOREDD_NAME_BYTES, note.size)
                    self.device_dumps.append(DeviceDump(dname, note.offset + skip,
                                                        note.size - skip))

        own = {}
        if own_info_text:
            try:
                own = vmcoreinfo_mod.parse(own_info_text, source="%s VMCOREINFO note" % self.path)
            except PcicrashError as exc:
                set_aside.append(exc)
        self.dump_vmcoreinfo = own
        self.vmcoreinfo = dict(override) if override is not None else own
        notes = [exc.message() for exc in set_aside]
        ps = vmcoreinfo_mod.get_int(self.vmcoreinfo, "PAGESIZE", source=self.path) or 4096
        if ps <= 0 or ps & (ps - 1) or ps > 1 << 24:
            raise self._err("PAGESIZE=%d in VMCOREINFO" % ps, None, "a power of two")
        self.page_size = ps
        if own_info_text is None:
            notes.append("the ELF notes hold no VMCOREINFO")
        self.max_pfn = max((-(-(s.paddr + s.memsz) // ps) for s in self.segments), default=0)

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

    def _walk_notes(self, off, size):
        """Yield Note for each note in [off, off+size); bounded by the segment."""
        end = off + size
        pos = off
        while pos + NHDR_SIZE <= end:
            namesz, descsz, ntype = struct.unpack(self._end + "III", self._pread(NHDR_SIZE, pos))
            if namesz == 0 and descsz == 0 and ntype == 0:
                break   # zero padding at the end of an old kernel's note segment
            if namesz > MAX_NOTE_NAME:
                raise self._err("note name size %d" % namesz, pos,
                                "at most %d bytes" % MAX_NOTE_NAME)
            name_at = pos + NHDR_SIZE
            desc_at = name_at + _align4(namesz)
            next_at = desc_at + _align4(descsz)
            if desc_at + descsz > end:
                raise self._err("note (name size %d, data size %d) runs past its PT_NOTE segment,"
                                " which ends at 0x%x" % (namesz, descsz, end), pos,
                                "the note inside the segment")
            name = self._pread(namesz, name_at).split(b"\0", 1)[0].decode("ascii", "replace")
            yield Note(name, ntype, desc_at, descsz)
            pos = next_at

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

    def page_status(self, pfn):
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
                buf[flo - lo:fhi - lo] = data
        return bytes(buf)

    def read_pages(self, pfns):
        """Reads in file order (the dump may be on a slow disk); returns {pfn: bytes | error}."""
        out = {}
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

    def close(self):
        src, self._src = getattr(self, "_src", None), None
        if src is not None:
            close_source(src)
