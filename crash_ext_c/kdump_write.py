"""Writer of makedumpfile's kdump-compressed format, for files that hold chosen pages only.

The layout is the one makedumpfile's write_kdump_header() and
write_kdump_pages*() produce (header version 6), with the field tables of
the reader (kdump.py):

  block 0        disk_dump_header: signature "KDUMP   ", header_version 6,
                 utsname, timestamp, status (compression bit, 0x8 incomplete),
                 block_size, sub_hdr_size, bitmap_blocks, max_mapnr (32-bit,
                 capped), nr_cpus
  block 1..      kdump_sub_header, the ELF note area right after it
                 (offset_note = block_size + sizeof(kdump_sub_header)),
                 offset_vmcoreinfo pointing at the VMCOREINFO note's data
                 inside it, as makedumpfile stores it
  bitmaps        1st (page is RAM), 2nd (page is in the file): each a whole
                 number of blocks covering max_mapnr, LSB first
  descriptors    24 bytes per page set in the 2nd bitmap, in pfn order
  data           the shared zero page first (dump level bit 0), then the
                 pages; eraseinfo text last (write_kdump_eraseinfo)

A page the source had lost (makedumpfile -L, full disk) is written as
makedumpfile leaves one: bit set in the 2nd bitmap, descriptor all zero,
header marked incomplete.  The file is written under a temporary name and
renamed into place, so no reader ever sees half of it.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import (
    Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, TYPE_CHECKING, Tuple, Union,
)

from . import vmcoreinfo as vmcoreinfo_mod
from .elf import ElfReader
from .errors import PcicrashError
from .kdump import (_HEADER, _SUB, _SUB_SINCE, _SUB_SIZE, COMPRESSION_FLAGS, DESC_SIZE,
                    DL_EXCLUDE_ZERO, EXTRACT_NOTE_NAME, EXTRACT_NOTE_TYPE, STATUS_INCOMPLETE,
                    KdumpReader, c_helper)

if TYPE_CHECKING:
    from .reader import MemoryReader

SIGNATURE = b"KDUMP   "
HEADER_VERSION = 6            # what makedumpfile 1.6+ writes
CODECS = {name: flag for flag, name in COMPRESSION_FLAGS.items()}
CODECS["none"] = 0
CHUNK = 1 << 20               # bitmap bytes handled per step


class Page(NamedTuple):
    """One stored page: descriptor flags (0 or one compression bit) and the bytes as stored."""
    flags: int
    data: bytes
    page_flags: int = 0


ZERO = "zero"                 # shares the one stored zero page
LOST = "lost"                 # in the 2nd bitmap, descriptor empty (incomplete dump)
PageOut = Union[Page, str]


@dataclass
class KdumpLayout:
    """What goes into the headers.  `header` is a disk_dump_header prefix to start from
    (utsname, timestamp, nr_cpus of the source); the writer sets the fields it owns."""
    block_size: int
    max_mapnr: int
    header: bytes
    codec: str = "zlib"
    endian: str = "<"
    word: int = 64
    sub_layout: object = 64
    phys_base: int = 0
    dump_level: int = 31
    incomplete: bool = False
    notes: bytes = b""              # the ELF note area
    vmcoreinfo: Optional[tuple] = None   # (offset inside notes, size) of the VMCOREINFO text
    eraseinfo: Optional[bytes] = None


@dataclass
class WriteResult:
    """What write_kdump() wrote: the file, its size, and how many pages it stored, zeroed or lost."""
    path: str
    size: int
    stored: int = 0
    zero: int = 0
    lost: int = 0
    pfns: List[int] = field(default_factory=list)


def elf_note(name: bytes, ntype: int, desc: bytes, endian: str = "<") -> bytes:
    """One ELF note (name NUL-terminated, name and data 4-byte aligned)."""
    nb = name + b"\0"
    return (struct.pack(endian + "III", len(nb), len(desc), ntype) + nb + bytes(-len(nb) % 4)
            + desc + bytes(-len(desc) % 4))


def note_desc_offset(name: bytes) -> int:
    """Where the data of a note named `name` starts, from the note's first byte."""
    return 12 + (len(name) + 1 + 3 & ~3)


def compress_page(codec: str, page: bytes) -> Page:
    """A page as makedumpfile stores it with `codec`: compressed when that is smaller
    than the page, else the page itself (flags 0)."""
    flag = CODECS.get(codec)
    if flag is None:
        raise PcicrashError("unknown compression %r" % codec,
                            expected="one of %s" % ", ".join(sorted(CODECS)))
    if flag == 0:
        return Page(0, bytes(page))
    if flag == CODECS["zlib"]:
        data = zlib.compress(page, 1)          # makedumpfile: Z_BEST_SPEED
        return Page(flag, data) if len(data) < len(page) else Page(0, bytes(page))
    c = c_helper()
    if c is None:
        raise PcicrashError("%s compression needs the C helper crash_ext_c._pfnmap, which is"
                            " not built" % codec, expected="zlib or none without it")
    cap = 2 * len(page) + 128
    dst = c.ffi.new("uint8_t[]", cap)
    n = c.lib.pfnmap_compress_page(flag, c.ffi.from_buffer(page), len(page), dst, cap)
    if n > 0:
        return Page(flag, bytes(c.ffi.buffer(dst, n)))
    return Page(0, bytes(page))


def _pack_fields(buf, table, endian, values, since=None, version=HEADER_VERSION) -> None:
    for name, (off, code) in table.items():
        if name in values and (since is None or version >= since[name]):
            v = values[name]
            if code.isupper():          # unsigned field: a negative phys_base wraps, as in C
                v &= (1 << 8 * struct.calcsize(code)) - 1
            struct.pack_into(endian + code, buf, off, v)


def _bitmap_bytes(max_mapnr, bs):
    nbytes = -(-max_mapnr // 8)           # ceil: one bit per pfn, then whole blocks
    return -(-nbytes // bs) * bs


def write_kdump(path: str, layout: KdumpLayout, pages: Dict[int, PageOut],
                ram_chunks: Iterable[bytes] = ()) -> WriteResult:
    """Write `pages` ({pfn: Page, ZERO or LOST}) as a kdump-compressed file at `path`.

    `ram_chunks`: the 1st bitmap's bytes in order (shorter is zero-filled); every
    written page is marked RAM as well.
    """
    lay = layout
    bs, top = lay.block_size, lay.max_mapnr
    flag = CODECS.get(lay.codec)
    if flag is None:
        raise PcicrashError("unknown compression %r" % lay.codec)
    bad = [p for p in pages if not 0 <= p < top]
    if bad:
        raise PcicrashError("page 0x%x is beyond max_mapnr 0x%x" % (bad[0], top))
    kept = sorted(pages)
    kinds = [pages[p] for p in kept]
    dump_level = lay.dump_level
    if any(k == ZERO for k in kinds):
        dump_level |= DL_EXCLUDE_ZERO
    incomplete = lay.incomplete or any(k == LOST for k in kinds)

    sub_size = _SUB_SIZE[lay.sub_layout]
    offset_note = bs + sub_size
    sub_hdr_size = -(-(sub_size + len(lay.notes)) // bs)
    bm_each = _bitmap_bytes(top, bs)
    bitmap_off = bs * (1 + sub_hdr_size)
    desc_off = bitmap_off + 2 * bm_each
    data_off = desc_off + DESC_SIZE * len(kept)

    # descriptors and data
    cur = data_off
    zero_off = None
    blobs = []
    if dump_level & DL_EXCLUDE_ZERO:
        zero_off = cur
        blobs.append(bytes(bs))
        cur += bs
    descs = bytearray()
    res = WriteResult(path=str(path), size=0, pfns=kept)
    pack = struct.Struct(lay.endian + "qIIQ")
    for pfn, k in zip(kept, kinds):
        if k == ZERO:
            descs += pack.pack(zero_off, bs, 0, 0)
            res.zero += 1
        elif k == LOST:
            descs += bytes(DESC_SIZE)
            res.lost += 1
        elif isinstance(k, str):
            raise PcicrashError("page 0x%x: %r" % (pfn, k), expected="a Page, ZERO or LOST")
        else:
            if not 0 < len(k.data) <= bs:
                raise PcicrashError("page 0x%x: %d stored bytes" % (pfn, len(k.data)),
                                    expected="1 to %d bytes" % bs)
            descs += pack.pack(cur, len(k.data), k.flags, k.page_flags)
            blobs.append(k.data)
            cur += len(k.data)
            res.stored += 1
    erase_off = cur if lay.eraseinfo else 0

    # headers
    h = _HEADER[lay.word]
    head = bytearray(bs)
    head[:min(len(lay.header), h["size"], bs)] = lay.header[:min(len(lay.header), h["size"], bs)]
    head[:8] = SIGNATURE
    e = lay.endian
    struct.pack_into(e + "i", head, 8, HEADER_VERSION)
    status = struct.unpack_from(e + "I", head, h["status"])[0]
    status &= ~(sum(COMPRESSION_FLAGS) | STATUS_INCOMPLETE)
    status |= flag | (STATUS_INCOMPLETE if incomplete else 0)
    struct.pack_into(e + "I", head, h["status"], status)
    struct.pack_into(e + "i", head, h["block_size"], bs)
    struct.pack_into(e + "i", head, h["sub_hdr_size"], sub_hdr_size)
    struct.pack_into(e + "I", head, h["bitmap_blocks"], 2 * bm_each // bs)
    struct.pack_into(e + "I", head, h["max_mapnr"], min(top, 0xffffffff))
    sub = bytearray(bs * sub_hdr_size)
    values = dict(phys_base=lay.phys_base, dump_level=dump_level, split=0, start_pfn=0,
                  end_pfn=0, offset_vmcoreinfo=0, size_vmcoreinfo=0,
                  offset_note=offset_note if lay.notes else 0, size_note=len(lay.notes),
                  offset_eraseinfo=erase_off, size_eraseinfo=len(lay.eraseinfo or b""),
                  start_pfn_64=0, end_pfn_64=0, max_mapnr_64=top)
    if lay.vmcoreinfo is not None:
        values["offset_vmcoreinfo"] = offset_note + lay.vmcoreinfo[0]
        values["size_vmcoreinfo"] = lay.vmcoreinfo[1]
    _pack_fields(sub, _SUB[lay.sub_layout], e, values, _SUB_SINCE)
    sub[sub_size:sub_size + len(lay.notes)] = lay.notes

    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(head)
            f.write(sub)
            _write_bitmaps(f, bitmap_off, bm_each, kept, ram_chunks)
            f.seek(desc_off)
            f.write(descs)
            for b in blobs:
                f.write(b)
            if lay.eraseinfo:
                f.write(lay.eraseinfo)
            f.truncate(f.tell())
            res.size = f.tell()
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise PcicrashError("cannot write the extract: %s" % (exc.strerror or exc),
                            path=str(path)) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return res


def _write_bitmaps(f, bitmap_off, bm_each, kept, ram_chunks) -> None:
    """1st bitmap streamed from `ram_chunks` (plus the kept pages); the 2nd only where
    it has bits: the blocks between are holes that read as zeros."""
    by_byte: Dict[int, int] = {}
    for pfn in kept:
        by_byte[pfn >> 3] = by_byte.get(pfn >> 3, 0) | 1 << (pfn & 7)
    pos = 0
    f.seek(bitmap_off)
    for chunk in ram_chunks:
        if pos >= bm_each:
            break
        buf = bytearray(chunk[:bm_each - pos])
        for i in [b for b in by_byte if pos <= b < pos + len(buf)]:
            buf[i - pos] |= by_byte[i]
        f.write(buf)
        pos += len(buf)
    while pos < bm_each:                 # the rest of the 1st bitmap: zeros and kept bits
        n = min(CHUNK, bm_each - pos)
        buf = bytearray(n)
        for i in [b for b in by_byte if pos <= b < pos + n]:
            buf[i - pos] |= by_byte[i]
        f.write(buf)
        pos += n
    second = bitmap_off + bm_each
    for i in sorted(by_byte):
        f.seek(second + i)
        f.write(bytes((by_byte[i],)))
    f.seek(second + bm_each - 1)         # the file reaches past the 2nd bitmap
    f.write(bytes((by_byte.get(bm_each - 1, 0),)))


# ---------------------------------------------------------------- from a source reader

KERNEL_IMAGE_START = 0xffffffff80000000     # x86_64 __START_KERNEL_map
_ELF_MACHINES = {62: "x86_64", 183: "aarch64", 21: "ppc64", 22: "s390x", 243: "riscv64"}
NT_PRSTATUS = 1


def source_codec(reader: MemoryReader) -> str:
    """The compression a source's pages are stored with: 'zlib', 'lzo', ..., or 'none'."""
    comp = reader.compression
    if comp in CODECS:
        return comp
    return "none" if comp == "none" else "zlib"     # ELF, or mixed split parts


def stored_page(reader: MemoryReader, pfns: Iterable[int], codec: str) -> Dict[int, Page]:
    """{pfn: Page} of those `pfns` the kdump source stores as `codec` would store them:
    copied as they are.  The others (ELF source, another codec) are compressed anew."""
    raw = reader.stored_pages
    if raw is None:
        return {}
    want = CODECS[codec]
    same = source_codec(reader) == codec
    # a page makedumpfile left uncompressed (it did not shrink) is what the same codec
    # would leave too; a compressed one only matches its own codec
    return {pfn: Page(flags, data, page_flags)
            for pfn, (flags, data, page_flags) in raw(list(pfns)).items()
            if flags == want or (flags == 0 and same)}


def _text_note(reader, override_text):
    """(raw VMCOREINFO text, raw eraseinfo text or None) of the source."""
    parts = reader.parts if isinstance(reader, KdumpReader) else None
    if override_text is not None:
        info = override_text
    elif parts:
        info = next((p.vmcoreinfo_text for p in parts if p.vmcoreinfo_text), None)
    elif isinstance(reader, ElfReader):
        note = next((n for n in reader.notes_list if n.name == "VMCOREINFO"), None)
        info = reader._pread(note.size, note.offset) if note is not None else None
    else:
        info = None
    erase = reader.eraseinfo
    if parts:
        erase = next((p.eraseinfo_text for p in parts if p.eraseinfo_text), None)
    elif erase is not None:
        erase = erase.encode()
    return info, erase


def source_layout(reader: MemoryReader, codec: str, marker: bytes, *,
                  vmcoreinfo_text: Optional[bytes] = None) -> Tuple[KdumpLayout, Iterator[bytes]]:
    """(KdumpLayout, 1st-bitmap chunks) for an extract of `reader` (kdump, flattened or
    ELF); `marker` is the text of the PCICRASH note."""
    info, erase = _text_note(reader, vmcoreinfo_text)
    if isinstance(reader, KdumpReader):
        first = reader.parts[0]
        word, endian = first.word, first.endian
        sub_layout = getattr(first, "sub_layout", 64 if word == 64 else "32pack")
        header = first.src.pread(0, _HEADER[word]["size"])
        phys_base, dump_level = reader.phys_base, reader.dump_level
        max_mapnr = reader.max_pfn
        chunks = _kdump_ram_chunks(first, max_mapnr)
    elif isinstance(reader, ElfReader):
        word, endian, sub_layout = 64, reader._end, 64
        header = _elf_header(reader)
        phys_base = vmcoreinfo_number(reader.vmcoreinfo, "NUMBER(phys_base)")
        dump_level = None
        max_mapnr = reader.max_pfn
        chunks = _segment_ram_chunks(reader.segments, reader.page_size, max_mapnr)
    else:
        raise PcicrashError("an extract is made from a dump file (ELF, kdump-compressed,"
                            " flattened), not from %s" % reader.format)
    notes = b""
    vmci = None
    if info:
        vmci = (note_desc_offset(b"VMCOREINFO"), len(info))
        notes += elf_note(b"VMCOREINFO", 0, info, endian)
    notes += elf_note(EXTRACT_NOTE_NAME, EXTRACT_NOTE_TYPE, marker, endian)
    lay = KdumpLayout(block_size=reader.page_size, max_mapnr=max_mapnr, header=header,
                      codec=codec, endian=endian, word=word, sub_layout=sub_layout,
                      phys_base=phys_base or 0,
                      dump_level=31 if dump_level is None else dump_level,
                      incomplete=False, notes=notes, vmcoreinfo=vmci, eraseinfo=erase)
    return lay, chunks


def vmcoreinfo_number(info: Mapping[str, str], key: str, base: int = 10) -> int:
    """VMCOREINFO number (SYMBOL()s are hex), 0 when absent or not a number."""
    try:
        return vmcoreinfo_mod.get_int(info, key, base=base) or 0
    except PcicrashError:
        return 0


def _kdump_ram_chunks(part, max_mapnr):
    need = min(-(-max_mapnr // 8), part.bitmap_len)
    for off in range(0, need, CHUNK):
        yield part._bitmap_bytes(False, off, min(CHUNK, need - off))


def _segment_ram_chunks(segments, ps, max_mapnr):
    ranges = sorted((s.paddr // ps, -(-(s.paddr + s.memsz) // ps)) for s in segments if s.memsz)
    need = -(-max_mapnr // 8)
    for off in range(0, need, CHUNK):
        n = min(CHUNK, need - off)
        lo_pfn, hi_pfn = off * 8, (off + n) * 8
        bits = 0
        for lo, hi in ranges:
            lo, hi = max(lo, lo_pfn), min(hi, hi_pfn)
            if lo < hi:
                bits |= ((1 << (hi - lo)) - 1) << (lo - lo_pfn)
        yield bits.to_bytes(n, "little")


def _elf_header(reader):
    """A disk_dump_header prefix for an ELF source: utsname from the kernel's init_uts_ns
    when it is found and matches OSRELEASE, else from VMCOREINFO and the ELF machine;
    timestamp CRASHTIME; nr_cpus = the NT_PRSTATUS notes."""
    h = _HEADER[64]
    e = reader._end
    head = bytearray(h["size"])
    info = reader.vmcoreinfo
    uts = _init_uts_ns(reader) or [
        b"Linux", b"", (info.get("OSRELEASE") or "").encode()[:64], b"",
        _ELF_MACHINES.get(reader.e_machine, "").encode(), b""]
    for i, s in enumerate(uts):
        head[12 + 65 * i:12 + 65 * i + len(s)] = s
    ts_off, _ = h["timestamp"]
    struct.pack_into(e + "qq", head, ts_off, vmcoreinfo_number(info, "CRASHTIME"), 0)
    cpus = sum(1 for n in reader.notes_list if n.name == "CORE"
               and n.type == NT_PRSTATUS)
    struct.pack_into(e + "i", head, h["nr_cpus"], cpus)
    return bytes(head)


def _init_uts_ns(reader):
    """The six utsname fields of init_uts_ns (x86_64 kernel image address), or None."""
    info = reader.vmcoreinfo
    addr = vmcoreinfo_number(info, "SYMBOL(init_uts_ns)", 16)
    release = (info.get("OSRELEASE") or "").encode()
    if not addr or not release or addr < KERNEL_IMAGE_START:
        return None
    phys = addr - KERNEL_IMAGE_START + vmcoreinfo_number(info, "NUMBER(phys_base)")
    try:
        raw = reader.read_phys(phys, 64 + 6 * 65)
    except PcicrashError:
        return None
    # struct uts_namespace starts with the names, or with a kref before them
    for skip in range(0, 64, 4):
        fields = [raw[skip + 65 * i:skip + 65 * (i + 1)].split(b"\0", 1)[0] for i in range(6)]
        if fields[0] == b"Linux" and fields[2] == release:
            return fields
    return None
