"""Reader for makedumpfile's kdump-compressed format (and old DISKDUMP headers).

Layout (facts from makedumpfile's diskdump_mod.h, crash's and libkdumpfile's
diskdump.c):

  block 0          disk_dump_header: signature, header_version, utsname,
                   timestamp, status, block_size (= page size), sub_hdr_size,
                   bitmap_blocks, max_mapnr (32-bit), ...
  block 1..        kdump_sub_header (version >= 1): phys_base, dump_level,
                   split + start/end pfn, vmcoreinfo/note/eraseinfo offsets,
                   64-bit start/end/max_mapnr (version >= 6); the VMCOREINFO,
                   notes and eraseinfo text follow inside these blocks.
  bitmap_blocks    1st bitmap (page exists: RAM of the crashed machine), then
                   2nd bitmap (page stored), one bit per pfn, LSB first.
  descriptors      24 bytes per stored page (offset, size, flags, page_flags),
                   in pfn order; a split part numbers its pages from its
                   start_pfn and every part carries the full bitmaps.
  page data        with dump level bit 0 (exclude zero pages) the first data
                   page is one shared zero page that every all-zero page's
                   descriptor points at.

The struct layout depends on the dumped machine's word size (the utsname
machine says which) and byte order (the header version says which).

Laziness: only the header is read at open.  A descriptor index needs every
bit of the 2nd bitmap before the page, so one pass reads the 2nd bitmap in
order, once, up to the furthest page asked about, and keeps a running count
per 512-byte block (4096 pfns): 4 bytes per block, 256 KiB for a 1 TiB
machine, the only state that grows with the physical range.  After that a
page is looked up by reading the one block that holds it.  The 1st bitmap
(RAM or not) is read only for pages the 2nd says are not stored.  A bounded
cache remembers the last pages classified (status + descriptor), so the
pagemap read and the buffer read that follows do not classify them again.
Descriptors and page data are read only for the pages asked about, coalesced
into runs.
"""

import bisect
import collections
import importlib
import os
import struct
import zlib
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from array import array

from . import vmcoreinfo as vmcoreinfo_mod
from .errors import PageCutOff, DumpFormatError, PageUnavailable, PcicrashError
from .reader import MemoryReader, PageStatus

from . import elfnote
from .source import close_source, is_source, open_source

SIGNATURES = (b"KDUMP   ", b"DISKDUMP")

# Compression flags of a page descriptor (and of the header status word).
COMPRESSION_FLAGS = {0x1: "zlib", 0x2: "lzo", 0x4: "snappy", 0x20: "zstd"}
COMPRESSION_MASK = 0x1 | 0x2 | 0x4 | 0x20
STATUS_INCOMPLETE = 0x8       # DUMP_DH_COMPRESSED_INCOMPLETE
STATUS_EXCLUDED_VMEMMAP = 0x10
DL_EXCLUDE_ZERO = 0x1         # dump level bit: zero pages share one stored page

DESC_SIZE = 24
BLOCK_BYTES = 512             # bitmap bytes per running count: 4096 pfns
BLOCK_BITS = BLOCK_BYTES * 8
SCAN_BYTES = 1 << 20          # 2nd-bitmap bytes read per step of the counting pass
SLICE_GAP = 4096              # bitmap slices closer than this are read together
CLASS_CACHE = 1 << 14         # pfn classifications a reader remembers
MAX_HEADER_VERSION = 6
MIN_BLOCK, MAX_BLOCK = 1 << 10, 1 << 20
MAX_SUB_BLOCKS = 1 << 12      # makedumpfile uses a few: VMCOREINFO, notes, eraseinfo
MAX_TEXT = 1 << 22            # vmcoreinfo / eraseinfo larger than this is not text
RUN_GAP = 1 << 16             # merge reads separated by less than this
RUN_MAX = 1 << 23
BATCH_PAGES = 2048            # pages decompressed per C call

# disk_dump_header field offsets: (status, block_size, sub_hdr_size,
# bitmap_blocks, max_mapnr, timestamp, timestamp size) per word size.
# a pfn's (status, part, descriptor or None, descriptor's file offset or None)
Classified = Tuple[PageStatus, Optional["KdumpPart"], Optional[Tuple[int, ...]], Optional[int]]

_HEADER: Dict[int, Dict[str, Any]] = {
    64: dict(status=424, block_size=428, sub_hdr_size=432, bitmap_blocks=436,
             max_mapnr=440, timestamp=(408, 16), size=464, nr_cpus=460),
    32: dict(status=412, block_size=416, sub_hdr_size=420, bitmap_blocks=424,
             max_mapnr=428, timestamp=(404, 8), size=448, nr_cpus=448),
}
UTS_OFFSET, UTS_FIELD = 12, 65
UTS_NAMES = ("sysname", "nodename", "release", "version", "machine", "domainname")

# kdump_sub_header: name -> (offset, struct code) per layout.  "32pad" is the
# layout of 32-bit ABIs that align 64-bit off_t to 8 (ARM); crash and
# libkdumpfile both have to guess between the two 32-bit layouts.
_SUB = {
    64: dict(phys_base=(0, "Q"), dump_level=(8, "i"), split=(12, "i"), start_pfn=(16, "Q"),
             end_pfn=(24, "Q"), offset_vmcoreinfo=(32, "q"), size_vmcoreinfo=(40, "Q"),
             offset_note=(48, "q"), size_note=(56, "Q"), offset_eraseinfo=(64, "q"),
             size_eraseinfo=(72, "Q"), start_pfn_64=(80, "Q"), end_pfn_64=(88, "Q"),
             max_mapnr_64=(96, "Q")),
    "32pack": dict(phys_base=(0, "I"), dump_level=(4, "i"), split=(8, "i"), start_pfn=(12, "I"),
                   end_pfn=(16, "I"), offset_vmcoreinfo=(20, "q"), size_vmcoreinfo=(28, "I"),
                   offset_note=(32, "q"), size_note=(40, "I"), offset_eraseinfo=(44, "q"),
                   size_eraseinfo=(52, "I"), start_pfn_64=(56, "Q"), end_pfn_64=(64, "Q"),
                   max_mapnr_64=(72, "Q")),
    "32pad": dict(phys_base=(0, "I"), dump_level=(4, "i"), split=(8, "i"), start_pfn=(12, "I"),
                  end_pfn=(16, "I"), offset_vmcoreinfo=(24, "q"), size_vmcoreinfo=(32, "I"),
                  offset_note=(40, "q"), size_note=(48, "I"), offset_eraseinfo=(56, "q"),
                  size_eraseinfo=(64, "I"), start_pfn_64=(72, "Q"), end_pfn_64=(80, "Q"),
                  max_mapnr_64=(88, "Q")),
}
# Which header version introduced each sub-header field.
_SUB_SINCE = dict(phys_base=1, dump_level=1, split=2, start_pfn=2, end_pfn=2,
                  offset_vmcoreinfo=3, size_vmcoreinfo=3, offset_note=4, size_note=4,
                  offset_eraseinfo=5, size_eraseinfo=5, start_pfn_64=6, end_pfn_64=6,
                  max_mapnr_64=6)
_SUB_SIZE = {64: 104, "32pack": 80, "32pad": 96}

# utsname.machine prefixes of 32-bit machines (everything else is read as 64-bit).
_MACHINES_32 = ("i386", "i486", "i586", "i686", "arm", "ppc", "mips", "s390", "sh", "sparc",
                "riscv32", "m68k", "parisc", "hexagon", "csky", "microblaze", "nios2",
                "openrisc", "xtensa", "arc")
_MACHINES_64 = ("x86_64", "aarch64", "arm64", "ppc64", "s390x", "mips64", "sparc64",
                "riscv64", "loongarch64", "ia64", "alpha", "parisc64")


# Device dumps (VMCOREDD, Linux 4.18+): crash_ext_c.elfnote walks the note area and
# reads them, for this reader and the ELF one (one walker, one cap).
# A pcicrash triage extract (kdump_write.py) carries one ELF note of this name
# in the note area: KEY=value lines saying it is an extract and of what.  Every
# note reader (crash, libkdumpfile, makedumpfile) skips names it does not know.
EXTRACT_NOTE_NAME = b"PCICRASH"
EXTRACT_NOTE_TYPE = 1

# ---------------------------------------------------------------- C helper

_C: Any = None          # the C helper module, False when it cannot be loaded, None: not tried


def c_helper() -> Any:
    """The cffi module crash_ext_c._pfnmap, or None (pure-Python fallback).

    PCICRASH_NO_C=1 forces the fallback (tests and bench compare both)."""
    global _C
    if _C is None:
        _C = False
        if not os.environ.get("PCICRASH_NO_C"):
            try:    # by name: a compiled module, no source for a type checker to follow
                _C = importlib.import_module(__package__ + "._pfnmap")
            except ImportError:
                pass
    return _C or None


_C_ERRORS = {1: "stored size is 0 or larger than a page",
             2: "stored data lies outside what was read",
             3: "compressed data is corrupt",
             4: "data does not decompress to exactly one page",
             5: "several compression flags set"}


# Set bits of a non-negative int (int.bit_count is Python 3.10+; PyKdump may embed older).
_bits = getattr(int, "bit_count", None) or (lambda x: bin(x).count("1"))


def _popcount(buf):
    c = c_helper()
    if c:
        return c.lib.pfnmap_popcount(c.ffi.from_buffer(buf), len(buf))
    return _bits(int.from_bytes(buf, "little"))


def _block_counts(buf, run):
    """Running counts at the end of each BLOCK_BYTES block of buf, starting from `run`."""
    n = -(-len(buf) // BLOCK_BYTES)
    c = c_helper()
    if c:
        out = c.ffi.new("uint64_t[]", n)
        c.lib.pfnmap_block_counts(c.ffi.from_buffer(buf), len(buf), BLOCK_BYTES, run, out, n)
        return c.ffi.unpack(out, n)
    res = []
    for i in range(0, len(buf), BLOCK_BYTES):
        run += _bits(int.from_bytes(buf[i:i + BLOCK_BYTES], "little"))
        res.append(run)
    return res


def _rank(buf, bits, bases=None):
    """For each bit position of buf (seen as BLOCK_BITS blocks): bases[k] + set bits
    from the start of its block k when set (0 when set and no bases: a bit test),
    -1 when clear, -3 when outside buf or bases (pfnmap_rank)."""
    n = len(bits)
    nbase = len(bases) if bases is not None else 0
    c = c_helper()
    if c:
        ffi = c.ffi
        out = ffi.new("int64_t[]", n)
        c.lib.pfnmap_rank(ffi.from_buffer(buf), len(buf), BLOCK_BITS,
                          ffi.new("int64_t[]", bases) if bases is not None else ffi.NULL,
                          nbase, ffi.new("uint64_t[]", bits), n, out)
        return ffi.unpack(out, n)
    res = []
    nbits = len(buf) * 8
    for b in bits:
        k = b // BLOCK_BITS
        if b >= nbits or (bases is not None and k >= nbase):
            res.append(-3)
        elif not buf[b >> 3] >> (b & 7) & 1:
            res.append(-1)
        elif bases is None:
            res.append(0)
        else:
            f = k * BLOCK_BITS
            word = int.from_bytes(buf[f >> 3:(b >> 3) + 1], "little")
            res.append(bases[k] + _bits(word & ((1 << (b - f)) - 1)))
    return res


# ---------------------------------------------------------------- sources

# Sources (name, size, pread) live in crash_ext_c.source: local files, flattened
# streams, remote objects.
_source = open_source


# ---------------------------------------------------------------- one file

def _runs(values, max_gap, unit, max_bytes):
    """Index ranges (i, j) of sorted `values` that one read each serves: neighbours at
    most `max_gap` apart, a range spanning under `max_bytes` (`unit` bytes per step)."""
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] - values[j] <= max_gap and \
                (values[j + 1] - values[i]) * unit < max_bytes:
            j += 1
        yield i, j
        i = j + 1


class _Counts:
    """Set bits of the 2nd bitmap before each block start, from block k0 on.

    Kept in pieces: blocks in a hole of the file (zeros never stored) add no bit
    and take no room, so the memory follows the bitmap bytes the file holds.
    Invariant: the last piece ends at `reach`, the first block not counted."""

    def __init__(self, k0, typecode) -> None:
        self.typecode = typecode
        self.firsts = [k0]
        self.arrs = [array(typecode, [0])]
        self.reach = k0

    def __len__(self) -> int:
        """Counts held (what the memory follows)."""
        return sum(len(a) for a in self.arrs)

    @property
    def last(self):
        """Set bits before block `reach`."""
        return self.arrs[-1][-1]

    def at(self, block):
        """Set bits before `block` (k0 <= block <= reach)."""
        i = bisect.bisect_right(self.firsts, block) - 1
        arr = self.arrs[i]
        j = block - self.firsts[i]
        return arr[j] if j < len(arr) else arr[-1]

    def tail(self, n):
        """The counts at the last n + 1 block starts up to `reach` (last piece only)."""
        return self.arrs[-1][-(n + 1):]

    def extend(self, ends) -> None:
        """Counts at the ends of the blocks from `reach` on."""
        self.arrs[-1].extend(ends)
        self.reach += len(ends)

    def skip(self, block) -> None:
        """Blocks reach..block-1 hold no set bit (a hole)."""
        if block > self.reach:
            self.firsts.append(block)
            self.arrs.append(array(self.typecode, [self.last]))
            self.reach = block


class KdumpPart:
    """One kdump-compressed file: its header, bitmaps and descriptor table."""

    def __init__(self, src: Any) -> None:
        self.src = src
        self.path = src.name
        self.size = src.size
        self.notes: List[str] = []
        self._parse_header()
        self._counts: Optional[_Counts] = None           # _Counts: set bits from block _k0 to each block start
        self._k0 = self.start_pfn // BLOCK_BITS
        self._below = 0               # set bits of block _k0 before start_pfn
        self._zero_off: Optional[int] = -1           # -1: not looked for yet; None: no shared zero page

    # -- helpers -------------------------------------------------------------

    def err(self, what: str, offset: Optional[int], expected: Optional[str] = None) -> DumpFormatError:
        locate = getattr(self.src, "locate", None)     # flattened file: say where too
        if locate is not None and offset is not None:
            at = locate(offset)
            what += ("; flattened-file offset 0x%x" % at if at is not None
                     else "; no flattened record holds that offset")
        return DumpFormatError(what, path=self.path, offset=offset, expected=expected)

    def read_exact(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or offset + size > self.size:
            raise self.err("%s (%d bytes) runs past the end of the file (%d bytes)"
                           % (what, size, self.size), offset, "%s inside the file" % what)
        data = self.src.pread(offset, size)
        if len(data) != size:
            raise self.err("short read of %s" % what, offset, "%d bytes" % size)
        return data

    def _u(self, buf, off, code):
        return struct.unpack_from(self.endian + code, buf, off)[0]

    # -- header ----------------------------------------------------------------

    def _parse_header(self):
        if self.size == 0:
            raise self.err("empty file", 0, "a kdump-compressed header (%r)" % SIGNATURES[0])
        head = self.src.pread(0, 512)
        if head[:8] not in SIGNATURES:
            raise self.err("no kdump signature (found %r)" % head[:8], 0,
                           "%r or %r" % SIGNATURES)
        self.signature = head[:8].decode()
        if len(head) < _HEADER[32]["size"]:
            raise self.err("header cut short at %d bytes" % len(head), len(head),
                           "a %d-byte disk_dump_header" % _HEADER[64]["size"])
        uts = [head[UTS_OFFSET + i * UTS_FIELD:UTS_OFFSET + (i + 1) * UTS_FIELD]
               .split(b"\0", 1)[0].decode("ascii", "replace") for i in range(6)]
        self.utsname = dict(zip(UTS_NAMES, uts))
        machine = self.utsname["machine"]
        if machine.startswith(_MACHINES_64):
            words: Tuple[int, ...] = (64,)
        elif machine.startswith(_MACHINES_32):
            words = (32,)
        else:
            words = (64, 32)
        # Byte order: the header version is a small number in the right one.
        le, be = struct.unpack_from("<i", head, 8)[0], struct.unpack_from(">i", head, 8)[0]
        if 0 <= le <= 0xffff:
            self.endian = "<"
        elif 0 <= be <= 0xffff:
            self.endian = ">"
        else:
            raise self.err("header version %d (little-endian) / %d (big-endian)" % (le, be), 8,
                           "a small header version (0..%d)" % MAX_HEADER_VERSION)
        self.version = self._u(head, 8, "i")
        for word in words:
            h = _HEADER[word]
            if len(head) < h["size"]:
                continue
            bs = self._u(head, h["block_size"], "i")
            if MIN_BLOCK <= bs <= MAX_BLOCK and bs & (bs - 1) == 0:
                break
        else:
            h = _HEADER[words[0]]
            if len(head) < h["size"]:
                raise self.err("header cut short at %d bytes" % len(head), len(head),
                               "a %d-byte disk_dump_header" % h["size"])
            raise self.err("block size %d" % self._u(head, h["block_size"], "i"),
                           h["block_size"], "a power of two from %d to %d (the page size)"
                           % (MIN_BLOCK, MAX_BLOCK))
        self.word = word
        self.block_size = bs
        self.status = self._u(head, h["status"], "I")
        self.sub_hdr_size = self._u(head, h["sub_hdr_size"], "i")
        self.bitmap_blocks = self._u(head, h["bitmap_blocks"], "I")
        self.max_mapnr = self._u(head, h["max_mapnr"], "I")
        ts_off, ts_size = h["timestamp"]
        self.identity = head[8:ts_off + ts_size]   # version, utsname, timestamp
        if self.version > MAX_HEADER_VERSION:
            self.notes.append("%s: header version %d is newer than %d; read as version %d"
                              % (self.path, self.version, MAX_HEADER_VERSION,
                                 MAX_HEADER_VERSION))
        if self.sub_hdr_size < 0 or self.sub_hdr_size > MAX_SUB_BLOCKS:
            raise self.err("sub-header of %d blocks" % self.sub_hdr_size, h["sub_hdr_size"],
                           "0 to %d blocks" % MAX_SUB_BLOCKS)
        if bs * (1 + self.sub_hdr_size) > self.size:
            raise self.err("sub-header (%d blocks) runs past the end of the file (%d bytes)"
                           % (self.sub_hdr_size, self.size), bs,
                           "%d bytes of sub-header" % (bs * self.sub_hdr_size))
        self._parse_sub_header(head, h)
        self._place_bitmaps(h)

    def _parse_sub_header(self, head, h):
        bs = self.block_size
        self.phys_base = 0
        self.dump_level = None
        self.split = False
        self.start_pfn, self.end_pfn = 0, self.max_mapnr
        self.vmcoreinfo_text = self.eraseinfo_text = None
        self.note_range = None
        if self.signature != "KDUMP   " or self.version < 1:
            return
        if self.word == 64:
            layout: Union[int, str] = 64
        else:
            layout = "32pack"
        raw = self.read_exact(bs, _SUB_SIZE[64 if layout == 64 else "32pad"], "kdump sub-header")
        if layout != 64 and self.version >= 3:
            # libkdumpfile's rule: the packed layout puts vmcoreinfo right after
            # the sub-header, inside the sub-header blocks.
            off = self._u(raw, 20, "q")
            sz = self._u(raw, 28, "I")
            payload = bs * (1 + self.sub_hdr_size)
            if not ((off == 0 and sz == 0) or (bs < off and off + sz <= payload)):
                layout = "32pad"
        fields = {}
        for name, (off, code) in _SUB[layout].items():
            if self.version >= _SUB_SINCE[name] or self.version > MAX_HEADER_VERSION:
                fields[name] = self._u(raw, off, code)
        self.sub_layout = layout
        self.sub = fields
        self.phys_base = fields.get("phys_base", 0)
        self.dump_level = fields.get("dump_level")
        if "max_mapnr_64" in fields:
            self.max_mapnr = fields["max_mapnr_64"]
        if fields.get("split"):
            self.split = True
            if "start_pfn_64" in fields:
                self.start_pfn, self.end_pfn = fields["start_pfn_64"], fields["end_pfn_64"]
            else:
                self.start_pfn, self.end_pfn = fields["start_pfn"], fields["end_pfn"]
            if not self.start_pfn <= self.end_pfn <= self.max_mapnr:
                raise self.err("split range pfn 0x%x-0x%x" % (self.start_pfn, self.end_pfn),
                               bs + _SUB[layout]["start_pfn_64" if "start_pfn_64" in fields
                                                 else "start_pfn"][0],
                               "start <= end <= max_mapnr (0x%x)" % self.max_mapnr)
        else:
            self.end_pfn = self.max_mapnr
        self.vmcoreinfo_text = self._text(fields, "vmcoreinfo", layout)
        self.eraseinfo_text = self._text(fields, "eraseinfo", layout)
        if fields.get("offset_note") and fields.get("size_note"):
            self.note_range = (fields["offset_note"], fields["size_note"])

    def _text(self, fields, what, layout):
        off, size = fields.get("offset_" + what), fields.get("size_" + what)
        if not off or not size:
            return None
        where = self.block_size + _SUB[layout]["offset_" + what][0]
        if size > MAX_TEXT or off < 0 or off + size > self.size:
            self.notes.append("%s: %s" % (self.path, self.err(
                "%s of %d bytes at 0x%x lies outside the file (%d bytes); ignored"
                % (what, size, off, self.size), where, "%s inside the file" % what)))
            return None
        return self.read_exact(off, size, what)

    def _place_bitmaps(self, h):
        bs = self.block_size
        self.bitmap_off = bs * (1 + self.sub_hdr_size)
        length = bs * self.bitmap_blocks
        if self.bitmap_off + length > self.size:
            raise self.err("bitmap of %d blocks (%d bytes) at 0x%x runs past the end of the"
                           " file (%d bytes)" % (self.bitmap_blocks, length, self.bitmap_off,
                                                 self.size),
                           h["bitmap_blocks"], "bitmap_blocks * block_size inside the file")
        need = -(-self.max_mapnr // 8)
        # makedumpfile writes two bitmaps; the old diskdump format only one
        # (crash's dump_is_partial() test).
        self.two_bitmaps = self.bitmap_blocks >= 2 * -(-need // bs)
        self.bitmap_len = length // 2 if self.two_bitmaps else length
        if self.bitmap_len * 8 < self.max_mapnr:
            raise self.err("bitmap of %d bytes covers %d pages, max_mapnr is %d"
                           % (self.bitmap_len, self.bitmap_len * 8, self.max_mapnr),
                           h["bitmap_blocks"], "a bitmap covering max_mapnr")
        self.desc_off = bs * (1 + self.sub_hdr_size + self.bitmap_blocks)

    # -- ELF notes (sub-header version >= 4) ---------------------------------------

    def elf_notes(self) -> List[Tuple[bytes, int, int, int]]:
        """[(name bytes, type, data offset, data size)] of the ELF notes in the note area
        (walked once)."""
        if getattr(self, "_elf_notes", None) is None:
            self._elf_notes = self._walk_elf_notes()
        return self._elf_notes

    def _walk_elf_notes(self):
        out: List[Any] = []
        if self.note_range is None:
            return out
        start, size = self.note_range
        if start < 0 or start + size > self.size:
            self.notes.append("%s: %s" % (self.path, self.err(
                "ELF note area of %d bytes at 0x%x lies outside the file (%d bytes); ignored"
                % (size, start, self.size), self.block_size, "notes inside the file")))
            return out
        problems: List[str] = []
        for note in elfnote.walk(self.src.pread, start, size, self.endian, problems=problems,
                                 where="%s ELF note area" % self.path):
            out.append((note.name.encode("ascii", "replace"), note.type, note.offset, note.size))
        self.notes.extend(problems)
        return out

    def device_dumps(self) -> List[elfnote.DeviceDump]:
        """[DeviceDump] of the VMCOREDD notes; headers and names only are read."""
        out = []
        for name, ntype, desc, descsz in self.elf_notes():
            dd = elfnote.device_dump(elfnote.Note(name.decode("ascii", "replace"), ntype, desc,
                                                  descsz), self.src.pread)
            if dd is not None:
                out.append(dd)
        return out

    def extract_marker(self) -> Optional[Dict[str, str]]:
        """{KEY: value} of a pcicrash triage extract's marker note, or None (an ordinary dump)."""
        for name, _ntype, desc, descsz in self.elf_notes():
            if name == EXTRACT_NOTE_NAME:
                try:
                    return vmcoreinfo_mod.parse(self.src.pread(desc, min(descsz, MAX_TEXT)),
                                                source="%s %s note" % (self.path, name.decode()))
                except PcicrashError as exc:      # a damaged marker: still an extract
                    self.notes.append("%s: %s" % (self.path, exc.message()))
                    return {}
        return None

    # -- bitmap ----------------------------------------------------------------

    def _bitmap_bytes(self, second, start, size):
        base = self.bitmap_off + (self.bitmap_len if second and self.two_bitmaps else 0)
        return self.read_exact(base + start, size, "%s bitmap" % ("2nd" if second else "1st"))

    def _counted(self) -> "_Counts":
        """The counting pass's state, started on first use."""
        if self._counts is None:
            self._start_counts()
        assert self._counts is not None
        return self._counts

    def _start_counts(self) -> None:
        # Counts never exceed the bits up to the end of the last block.
        fits = self.max_mapnr + BLOCK_BITS < 1 << 32 and array("I").itemsize >= 4
        self._counts = _Counts(self._k0, "I" if fits else "Q")
        below = self.start_pfn - self._k0 * BLOCK_BITS
        if below:
            head = self._bitmap_bytes(True, self._k0 * BLOCK_BYTES, -(-below // 8))
            self._below = _popcount(head[:below // 8]) + \
                (_bits(head[-1] & (1 << (below & 7)) - 1) if below & 7 else 0)

    def _hole_blocks(self, block, second=True):
        """The first bitmap block at or after `block` that the file may hold data for:
        blocks before it lie in a hole (a sparse file, bytes no flattened record wrote)
        and are all zero, so nothing needs reading there."""
        data_from = getattr(self.src, "data_from", None)
        if data_from is None:
            return block
        base = self.bitmap_off + (self.bitmap_len if second and self.two_bitmaps else 0)
        at = data_from(base + block * BLOCK_BYTES)
        end = -(-self.bitmap_len // BLOCK_BYTES)
        return min(max(block, (at - base) // BLOCK_BYTES), end)

    def _count_through(self, pfns):
        """Extend the counting pass over the 2nd bitmap up to the block of the last of
        `pfns` (sorted, all in blocks not counted yet), ranking them from the bytes in
        hand: [descriptor index or -1 clear] in the order of pfns.  Holes of the file
        are passed over without reading: the work follows what the file holds, not
        the max_mapnr its header declares."""
        counts, below = self._counted(), self._below
        last = pfns[-1] // BLOCK_BITS
        out = []
        i = 0
        while i < len(pfns):
            s = counts.reach                         # first block not counted yet
            skip = min(self._hole_blocks(s), last + 1)
            if skip > s:
                j = bisect.bisect_left(pfns, skip * BLOCK_BITS, i)
                out.extend([-1] * (j - i))
                counts.skip(skip)
                i = j
                continue
            e = min(last + 1, s + SCAN_BYTES // BLOCK_BYTES)
            lo = s * BLOCK_BYTES
            data = self._bitmap_bytes(True, lo, min(e * BLOCK_BYTES, self.bitmap_len) - lo)
            added = _block_counts(data, counts.last)
            counts.extend(added)
            bases = [n - below for n in counts.tail(len(added))[:-1]]
            j = bisect.bisect_left(pfns, e * BLOCK_BITS, i)
            first = s * BLOCK_BITS
            out.extend(_rank(data, [p - first for p in pfns[i:j]], bases))
            i = j
        return out

    def _rank_slices(self, pfns, with_index, second=True):
        """[descriptor index (0 without `with_index`) or -1 clear] for sorted pfns (whose
        block start is counted, for an index), reading only the blocks that hold them.
        `second=False` asks the 1st bitmap instead: 0 RAM, -1 not RAM."""
        blocks = sorted({p // BLOCK_BITS for p in pfns})
        pieces: List[bytes] = []
        where: Dict[int, int] = {}
        firsts: List[int] = []   # where[block] = its block number in buf
        for i, j in _runs(blocks, SLICE_GAP // BLOCK_BYTES, BLOCK_BYTES, SCAN_BYTES):
            lo = blocks[i] * BLOCK_BYTES
            data = self._bitmap_bytes(second, lo, min((blocks[j] + 1) * BLOCK_BYTES,
                                                      self.bitmap_len) - lo)
            for b in blocks[i:j + 1]:
                where[b] = len(firsts) + b - blocks[i]
            firsts.extend(range(blocks[i], blocks[j] + 1))
            pieces.append(data)      # whole blocks, except at the end of the bitmap
        bits = [where[p // BLOCK_BITS] * BLOCK_BITS + p % BLOCK_BITS for p in pfns]
        bases = None
        if with_index:
            counts, below = self._counted(), self._below
            bases = [counts.at(b) - below for b in firsts]
        return _rank(b"".join(pieces), bits, bases)

    def count_stored(self, start: int, end: int) -> int:
        """Set bits of the 2nd bitmap in [start, end): one streaming pass, not cached."""
        total, pos = 0, start
        while pos < end:
            hole = self._hole_blocks(pos // BLOCK_BITS) * BLOCK_BITS
            if hole > pos:
                pos = hole
                continue
            n = min(end - pos, SCAN_BYTES * 8)
            lo, hi = pos // 8, -(-(pos + n) // 8)
            data = bytearray(self._bitmap_bytes(True, lo, hi - lo))
            if pos & 7:
                data[0] &= 0xff << (pos & 7) & 0xff
            if (pos + n) & 7:
                data[-1] &= (1 << ((pos + n) & 7)) - 1
            total += _popcount(bytes(data))
            pos += n
        return total

    def descriptor_indices(self, pfns: Sequence[int], with_index: bool = True) -> Dict[int, int]:
        """{pfn: descriptor index (>= 0) or -1 excluded / -2 not RAM}, pfns inside the part.

        Pages in blocks the counting pass has passed are looked up in their
        block; the others extend the pass, which ranks them on the way.
        Without `with_index` a stored page maps to 0 and nothing is counted
        (pfns of a missing split part only need their bits)."""
        pfns = sorted(set(pfns))
        if not pfns:
            return {}
        if with_index:
            reach = self._counted().reach * BLOCK_BITS   # counted below this
            cut = bisect.bisect_left(pfns, reach)
            res = self._rank_slices(pfns[:cut], True) if cut else []
            if cut < len(pfns):
                res += self._count_through(pfns[cut:])
        else:
            res = self._rank_slices(pfns, False)
        out = dict(zip(pfns, res))
        if min(res) < -1:           # outside the bytes read (cannot happen in a checked file)
            out.update((p, -2) for p, r in zip(pfns, res) if r < -1)
        if self.two_bitmaps:        # one bitmap (old diskdump): not stored is all it says
            clear = [p for p, r in zip(pfns, res) if r == -1]
            if clear:
                ram = self._rank_slices(clear, False, second=False)
                out.update(zip(clear, [-1 if r == 0 else -2 for r in ram]))
        return out

    # -- descriptors -------------------------------------------------------------

    def descriptors(self, indices: Iterable[int]) -> Dict[int, Tuple[int, Optional[Tuple[int, ...]]]]:
        """{index: (file offset of descriptor, (offset, size, flags, page_flags)) or None past EOF}."""
        fmt = self.endian + "qIIQ"
        out: Dict[int, Tuple[int, Optional[Tuple[int, ...]]]] = {}
        idx = sorted(set(indices))
        for i, j in _runs(idx, RUN_GAP // DESC_SIZE, DESC_SIZE, RUN_MAX):
            lo = self.desc_off + idx[i] * DESC_SIZE
            hi = self.desc_off + (idx[j] + 1) * DESC_SIZE
            data = self.src.pread(lo, min(hi, self.size) - lo) if lo < self.size else b""
            for n in idx[i:j + 1]:
                pos = self.desc_off + n * DESC_SIZE
                rel = pos - lo
                if rel + DESC_SIZE <= len(data):
                    out[n] = (pos, struct.unpack_from(fmt, data, rel))
                else:
                    out[n] = (pos, None)
        return out

    def zero_offset(self) -> Optional[int]:
        """File offset of the shared zero page, or None (dump level keeps zero pages)."""
        if self._zero_off != -1:
            return self._zero_off
        self._zero_off = None
        if self.dump_level is None or not self.dump_level & DL_EXCLUDE_ZERO:
            return None
        ps = self.block_size
        # The first data page is the zero page; the first descriptor points at
        # it (first page all zero) or right after it.  Page sizes are powers of
        # two and never multiples of 24, so only one candidate can end a whole
        # descriptor table.
        _, d0 = self.descriptors([0])[0]
        if d0 is not None and d0[0] > 0:
            for cand in (d0[0], d0[0] - ps):
                if cand > self.desc_off and (cand - self.desc_off) % DESC_SIZE == 0:
                    self._zero_off = cand
                    return cand
        # Fallback (first descriptor lost): the table holds one entry per stored
        # page of the whole dump (split parts too); count them once.
        self._zero_off = self.desc_off + DESC_SIZE * self.count_stored(0, self.max_mapnr)
        return self._zero_off

    def close(self) -> None:
        close_source(self.src)


# ---------------------------------------------------------------- reader

class KdumpReader(MemoryReader):
    """MemoryReader over one kdump-compressed file or a --split set (any order).

    `paths_or_files`: a path, or a list of paths and/or objects with `name`,
    `size` and `pread(offset, size)` (FlatReader's virtual file).
    `vmcoreinfo` (a dict) replaces the dump's own VMCOREINFO.
    """

    def __init__(self, paths_or_files: Sequence[Any], *, vmcoreinfo: Optional[Dict[str, str]] = None) -> None:
        if isinstance(paths_or_files, (str, bytes, os.PathLike)) or is_source(paths_or_files):
            paths_or_files = [paths_or_files]
        # pfn -> classification of the last CLASS_CACHE pages looked at (LRU):
        # read_pagemap asks the statuses of the pages load_capture then reads.
        self._seen: "collections.OrderedDict[int, Classified]" = collections.OrderedDict()
        self.parts = []
        try:
            for item in paths_or_files:
                src = _source(item)
                try:
                    self.parts.append(KdumpPart(src))
                except BaseException:
                    # a part that fails to parse still holds its file open (found by
                    # fuzz_flat: "Too many open files" after 42,000 inputs)
                    close_source(src)
                    raise
            if not self.parts:
                raise PcicrashError("no dump file given", expected="one or more kdump files")
            self._check_set()
            self._describe(vmcoreinfo)
        except BaseException:
            self.close()
            raise

    # -- set checks --------------------------------------------------------------

    def _check_set(self):
        first = self.parts[0]
        for p in self.parts[1:]:
            if p.identity != first.identity or p.block_size != first.block_size or \
                    p.max_mapnr != first.max_mapnr or p.dump_level != first.dump_level:
                raise DumpFormatError(
                    "header differs from %s's (utsname, time stamp, page size, max_mapnr or"
                    " dump level): not parts of the same dump" % first.path,
                    path=p.path, offset=8, expected="split parts of one dump")
        if len(self.parts) > 1:
            for p in self.parts:
                if not p.split:
                    raise DumpFormatError("not a split part, but several files were given",
                                          path=p.path, offset=p.block_size,
                                          expected="makedumpfile --split parts")
        self.parts.sort(key=lambda p: (p.start_pfn, p.end_pfn))
        for a, b in zip(self.parts, self.parts[1:]):
            if b.start_pfn < a.end_pfn:
                raise DumpFormatError(
                    "split part covers pfn 0x%x-0x%x, overlapping %s (0x%x-0x%x)"
                    % (b.start_pfn, b.end_pfn, a.path, a.start_pfn, a.end_pfn),
                    path=b.path, offset=b.block_size, expected="disjoint split parts")
        self._starts = [p.start_pfn for p in self.parts]
        gaps, pos = [], 0
        for p in self.parts:
            if p.start_pfn > pos:
                gaps.append((pos, p.start_pfn))
            pos = max(pos, p.end_pfn)
        if pos < first.max_mapnr:
            gaps.append((pos, first.max_mapnr))
        self.missing_ranges = gaps

    def _describe(self, override) -> None:
        first = self.parts[0]
        self.name = first.path if len(self.parts) == 1 else \
            "%s (+%d split parts)" % (first.path, len(self.parts) - 1)
        self.page_size = first.block_size
        self.max_pfn: int = first.max_mapnr
        self.dump_level = first.dump_level
        self.phys_base = first.phys_base
        self.utsname = first.utsname
        self.header_version = first.version
        self.incomplete = any(p.status & STATUS_INCOMPLETE for p in self.parts)
        comp = sorted({name for bit, name in COMPRESSION_FLAGS.items()
                       for p in self.parts if p.status & bit})
        self.compression = "+".join(comp) if comp else "none"
        self.split_parts = [dict(path=p.path, start_pfn=p.start_pfn, end_pfn=p.end_pfn)
                            for p in self.parts]
        self.device_dumps = first.device_dumps()
        self.extract_of = first.extract_marker()
        notes = []
        for p in self.parts:
            notes.extend(p.notes)
        text = next((p.vmcoreinfo_text for p in self.parts if p.vmcoreinfo_text), None)
        own = {}
        if text:
            try:
                own = vmcoreinfo_mod.parse(text, source="%s VMCOREINFO" % first.path)
            except PcicrashError as exc:         # pages stay readable without it
                notes.append("VMCOREINFO unusable: %s" % exc)
        if text is None:
            notes.append("%s: the header holds no VMCOREINFO" % first.path)
        self.dump_vmcoreinfo = own
        self.vmcoreinfo = dict(override) if override is not None else own
        erase = next((p.eraseinfo_text for p in self.parts if p.eraseinfo_text), None)
        self.eraseinfo = erase.decode("utf-8", "replace") if erase is not None else None
        for p in self.parts:
            if p.status & STATUS_INCOMPLETE:
                notes.append("%s: makedumpfile marked the dump incomplete (it ran out of space"
                             " or was cut with -L): pages after the cut are lost" % p.path)
        for lo, hi in self.missing_ranges:
            if len(self.parts) > 1 or self.parts[0].split:
                notes.append("pfn 0x%x-0x%x are in a split part that was not given" % (lo, hi))
        if self.device_dumps:
            notes.append("device dumps in the notes: %s" % ", ".join(
                "%s (%d bytes)" % (d.name, d.size) for d in self.device_dumps))
        if self.extract_of is not None:
            x = self.extract_of
            notes.append("pcicrash triage extract: only the %s pages the analysis reads are"
                         " stored (made %s by pcicrash %s from %s, %s)"
                         % (x.get("PAGES", "?"), x.get("MADE_AT", "?"), x.get("MADE_BY", "?"),
                            x.get("SOURCE", "?"), x.get("SOURCE_FORMAT", "?")))
        self.notes: List[str] = notes
        kind = "kdump-compressed" if first.signature == "KDUMP   " else "diskdump"
        self.format = "%s (%s), version %d, dump level %s%s%s" % (
            kind, self.compression, first.version, self.dump_level,
            ", %d split parts" % len(self.parts) if first.split else "",
            ", incomplete" if self.incomplete else "")
        if self.extract_of is not None:
            self.format += ", pcicrash triage extract"

    # -- lookup ------------------------------------------------------------------

    def _part_of(self, pfn):
        i = bisect.bisect_right(self._starts, pfn) - 1
        if i >= 0 and pfn < self.parts[i].end_pfn:
            return self.parts[i]
        return None

    def _classify(self, pfns):
        """{pfn: (status, part, descriptor-or-None, descriptor file offset)}."""
        result: Dict[int, Classified] = {}
        seen = self._seen
        # A scan bigger than the cache would only flush it: neither asked nor kept.
        cached = len(pfns) <= CLASS_CACHE
        todo = []
        top = self.max_pfn
        for pfn in pfns:
            if type(pfn) is not int and (not isinstance(pfn, int) or isinstance(pfn, bool)) \
                    or pfn < 0 or pfn >= top:
                result[pfn] = (PageStatus.OUTSIDE, None, None, None)
                continue
            hit = seen.get(pfn) if cached else None
            if hit is None:
                todo.append(pfn)
            else:
                seen.move_to_end(pfn)
                result[pfn] = hit
        if todo:
            fresh = self._classify_new(todo)
            result.update(fresh)
            if cached:
                seen.update(fresh)
                while len(seen) > CLASS_CACHE:
                    seen.popitem(last=False)
        return result

    def _classify_new(self, pfns):
        """_classify() for valid pfns, from the bitmaps and descriptors."""
        result: Dict[int, Classified] = {}
        by_part = collections.defaultdict(list)
        gap_pfns = []
        if len(self.parts) == 1:
            lo, hi = self.parts[0].start_pfn, self.parts[0].end_pfn
            by_part[id(self.parts[0])] = [p for p in pfns if lo <= p < hi]
            gap_pfns = [p for p in pfns if not lo <= p < hi]
        else:
            for pfn in pfns:
                part = self._part_of(pfn)
                if part is None:
                    gap_pfns.append(pfn)
                else:
                    by_part[id(part)].append(pfn)
        if gap_pfns:
            # Every part carries the whole bitmaps: a page of a missing part
            # that is not RAM or was filtered out says so, not NOT_IN_PART.
            idx = self.parts[0].descriptor_indices(gap_pfns, with_index=False)
            for pfn in gap_pfns:
                r = idx[pfn]
                status = (PageStatus.NOT_IN_PART if r >= 0 else
                          PageStatus.EXCLUDED if r == -1 else PageStatus.OUTSIDE)
                result[pfn] = (status, None, None, None)
        for part in self.parts:
            group = by_part.get(id(part))
            if not group:
                continue
            idx = part.descriptor_indices(group)
            stored = {pfn: i for pfn, i in idx.items() if i >= 0}
            descs = part.descriptors(stored.values())
            zero = part.zero_offset() if stored else None
            for pfn in group:
                i = idx[pfn]
                if i == -1:
                    result[pfn] = (PageStatus.EXCLUDED, part, None, None)
                    continue
                if i < 0:
                    result[pfn] = (PageStatus.OUTSIDE, part, None, None)
                    continue
                pos, d = descs[i]
                if d is None or d[0] <= 0 or d[0] + d[1] > part.size:
                    result[pfn] = (PageStatus.LOST, part, d, pos)
                elif zero is not None and d[0] == zero and d[1] == part.block_size and \
                        not d[2] & COMPRESSION_MASK:
                    result[pfn] = (PageStatus.ZERO, part, d, pos)
                else:
                    result[pfn] = (PageStatus.PRESENT, part, d, pos)
        return result

    def page_status(self, pfn: int) -> PageStatus:
        return self._classify([pfn])[pfn][0]

    def stored_problems(self, pfns: Iterable[int]) -> Dict[int, PcicrashError]:
        """{pfn: DumpFormatError} for stored pages whose descriptor alone shows they cannot
        be read (stored size 0 or over a page, a page stored uncompressed but short,
        several compression flags): what --check can say without reading page data."""
        out = {}
        ps = self.page_size
        for pfn, (status, part, d, pos) in self._classify(list(pfns)).items():
            if status is not PageStatus.PRESENT or d is None:
                continue
            codec = d[2] & COMPRESSION_MASK
            if not 0 < d[1] <= ps:
                why = _C_ERRORS[1]
            elif codec & (codec - 1):
                why = _C_ERRORS[5]
            elif not codec and d[1] != ps:
                why = _C_ERRORS[4]
            else:
                continue
            out[pfn] = part.err("page 0x%x: %s (descriptor: %d stored bytes at 0x%x, flags 0x%x)"
                                % (pfn, why, d[1], d[0], d[2]), pos, "a page descriptor")
        return out

    def page_statuses(self, pfns: Iterable[int]) -> List[PageStatus]:
        pfns = list(pfns)
        cls = self._classify(pfns)
        return [cls[p][0] for p in pfns]

    # -- reading -----------------------------------------------------------------

    def _unavailable(self, pfn, status, part, desc, pos):
        if status is PageStatus.LOST and part is not None and \
                not part.status & STATUS_INCOMPLETE:
            # The header says complete: the file itself is broken here.
            if desc is not None and desc[0] == 0:
                return part.err("descriptor of page 0x%x is empty (data offset 0) although"
                                " the header does not mark the dump incomplete" % pfn, pos,
                                "a page descriptor")
            # Tables that run past the end of the file: a copy cut short.
            if desc is None:
                what = "descriptor of page 0x%x lies past the end of the file (%d bytes)" \
                    % (pfn, part.size)
                expected = "a descriptor table inside the file"
            else:
                what = "descriptor of page 0x%x points at %d bytes at 0x%x, outside the file" \
                    " (%d bytes)" % (pfn, desc[1], desc[0], part.size)
                expected = "page data inside the file"
            err = part.err(what + ": the file was cut short (full disk or partial copy)",
                           pos, expected)
            cut = "%s: the file ends at %d bytes, before data its tables list: a copy cut" \
                " short (full disk, interrupted transfer); pages past the cut are lost" \
                % (part.path, part.size)
            if cut not in self.notes:
                self.notes.append(cut)
            return PageCutOff(err.what, pfn=pfn, status=status, path=part.path, offset=pos,
                              expected=expected)
        where = part.path if part is not None else self.name
        return PageUnavailable("page 0x%x (physical 0x%x) is %s"
                               % (pfn, pfn * self.page_size, status.value),
                               pfn=pfn, status=status, path=where, offset=pos)

    def read_pages(self, pfns: Iterable[int]) -> Dict[int, Union[bytes, PcicrashError]]:
        """{pfn: bytes, PageUnavailable, or DumpFormatError for a page the file holds broken}."""
        pfns = list(pfns)
        cls = self._classify(pfns)
        out: Dict[int, Union[bytes, PcicrashError]] = {}
        todo = collections.defaultdict(list)
        for pfn in pfns:
            status, part, desc, pos = cls[pfn]
            if status is PageStatus.PRESENT:
                todo[id(part)].append((pfn, part, desc, pos))
            elif status is PageStatus.ZERO:
                out[pfn] = bytes(self.page_size)
            else:
                out[pfn] = self._unavailable(pfn, status, part, desc, pos)
        for items in todo.values():
            for i in range(0, len(items), BATCH_PAGES):
                out.update(self._decompress(items[i:i + BATCH_PAGES]))
        return out

    def stored_pages(self, pfns: Iterable[int]) -> Dict[int, Tuple[int, bytes, int]]:
        """{pfn: (descriptor flags, stored bytes, page_flags)} of the PRESENT pages among
        `pfns`, as the file stores them (compressed or not): what a writer copies unchanged."""
        out = {}
        for pfn, (status, part, desc, _pos) in self._classify(list(pfns)).items():
            if status is PageStatus.PRESENT and 0 < desc[1] <= self.page_size:
                data = part.src.pread(desc[0], desc[1])
                if len(data) == desc[1]:
                    out[pfn] = (desc[2], data, desc[3])
        return out

    def read_page(self, pfn: int) -> bytes:
        res = self.read_pages([pfn])[pfn]
        if isinstance(res, Exception):
            raise res
        return res

    def _read_page(self, pfn):
        return self.read_page(pfn)

    def _decompress(self, items):
        """Read the data of PRESENT pages in coalesced runs, then decompress in one call."""
        ps = self.page_size
        out = {}
        ok = []
        for it in items:
            # a stored size of 0 or beyond a page is corrupt: never read what it claims
            pfn, part, desc, _pos = it
            if 0 < desc[1] <= ps:
                ok.append(it)
            else:
                out[pfn] = part.err("page 0x%x: %s (%d stored bytes at 0x%x, flags 0x%x)"
                                    % (pfn, _C_ERRORS[1], desc[1], desc[0], desc[2]),
                                    desc[0], "%d bytes of page data" % ps)
        if not ok:
            return out
        items = ok
        part = items[0][1]
        order = sorted(range(len(items)), key=lambda n: items[n][2][0])
        src = bytearray()
        rel = [0] * len(items)
        i = 0
        while i < len(order):
            j = i
            lo = items[order[i]][2][0]
            hi = lo + items[order[i]][2][1]
            while j + 1 < len(order):
                d = items[order[j + 1]][2]
                if d[0] - hi > RUN_GAP or d[0] + d[1] - lo > RUN_MAX:
                    break
                hi = max(hi, d[0] + d[1])
                j += 1
            base = len(src)
            data = part.src.pread(lo, hi - lo)
            src += data.ljust(hi - lo, b"\0") if len(data) < hi - lo else data
            for n in order[i:j + 1]:
                rel[n] = base + items[n][2][0] - lo
            i = j + 1
        codes = self._codec([it[2] for it in items], rel, bytes(src), ps)
        for n, (pfn, _, desc, _pos) in enumerate(items):
            page, code = codes[n]
            if code:
                out[pfn] = part.err(
                    "page 0x%x: %s (%d stored bytes at 0x%x, flags 0x%x)"
                    % (pfn, code, desc[1], desc[0], desc[2]), desc[0],
                    "%d bytes of page data" % ps)
            else:
                out[pfn] = page
        return out

    @staticmethod
    def _codec(descs, rel, src, ps):
        """[(page bytes, None) or (None, error text)] for each descriptor."""
        c = c_helper()
        n = len(descs)
        if c:
            ffi = c.ffi
            dst = ffi.new("uint8_t[]", n * ps)
            err = ffi.new("int32_t[]", n)
            c.lib.pfnmap_decompress(n, ffi.from_buffer(src), len(src),
                                    ffi.new("uint64_t[]", rel),
                                    ffi.new("uint32_t[]", [d[1] for d in descs]),
                                    ffi.new("uint32_t[]", [d[2] for d in descs]),
                                    ps, dst, n * ps, err)
            buf = ffi.buffer(dst)
            return [(bytes(buf[k * ps:(k + 1) * ps]), None) if not err[k] else
                    (None, _C_ERRORS.get(err[k], "error %d" % err[k])) for k in range(n)]
        return [_py_page(src[r:r + d[1]], d[1], d[2], ps) for d, r in zip(descs, rel)]

    def close(self) -> None:
        for p in getattr(self, "parts", ()):
            p.close()


def _py_page(data, size, flags, ps):
    """Pure-Python twin of pfnmap.c's one_page() (zlib and stored pages only)."""
    codec = flags & COMPRESSION_MASK
    if size == 0 or size > ps:
        return None, _C_ERRORS[1]
    if codec == 0:
        return (bytes(data), None) if size == ps else (None, _C_ERRORS[4])
    if codec == 0x1:
        try:
            d = zlib.decompressobj()
            page = d.decompress(data, ps + 1)
        except zlib.error:
            return None, _C_ERRORS[3]
        if not d.eof:
            return None, _C_ERRORS[3] if len(page) <= ps else _C_ERRORS[4]
        return (page, None) if len(page) == ps else (None, _C_ERRORS[4])
    if codec in COMPRESSION_FLAGS:
        return None, ("%s pages need the C helper crash_ext_c._pfnmap, which is not built"
                      % COMPRESSION_FLAGS[codec])
    return None, _C_ERRORS[5]
