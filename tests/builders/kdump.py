"""The one kdump-compressed writer of the tests, fuzzers and benchmarks (files or bytes).

Format facts used (makedumpfile's diskdump_mod.h and makedumpfile.c,
crash's diskdump.h; checked against the real files in ../shared, which have
the same layout):

kdump-compressed (makedumpfile -c), everything little-endian on x86_64,
one block = one page (block_size = page size):
- block 0: struct disk_dump_header: signature[8] "KDUMP   " @0,
  header_version i32 @8 (6 = 64-bit pfn fields), new_utsname (6 x 65
  bytes: sysname, nodename, release, version, machine, domainname) @12,
  struct timeval (2 x i64, 8-aligned) @408, status u32 @424 (compression
  DUMP_DH_COMPRESSED_ZLIB 0x1 / LZO 0x2 / SNAPPY 0x4 / ZSTD 0x20,
  DUMP_DH_COMPRESSED_INCOMPLETE 0x8), block_size i32 @428, sub_hdr_size
  i32 @432 (blocks), bitmap_blocks u32 @436, max_mapnr u32 @440 (32-bit,
  obsolete), total_ram_blocks, device_blocks, written_blocks, current_cpu
  u32 @444..456, nr_cpus i32 @460.
- block 1..: struct kdump_sub_header (104 bytes): phys_base u64 @0,
  dump_level i32 @8, split i32 @12, start_pfn u64 @16, end_pfn u64 @24
  (32-bit truncated copies), offset_vmcoreinfo @32, size_vmcoreinfo @40,
  offset_note @48, size_note @56, offset_eraseinfo @64, size_eraseinfo
  @72, start_pfn_64 @80, end_pfn_64 @88, max_mapnr_64 @96.  makedumpfile
  copies the whole ELF PT_NOTE right after it (offset_note = block_size +
  104) and points offset_vmcoreinfo at the VMCOREINFO note's data inside
  it; sub_hdr_size = ceil((104 + size_note) / block_size).
- then the bitmaps, bitmap_blocks blocks: the 1st bitmap (page exists in
  RAM) and the 2nd (page is in the dump), each
  ceil(ceil(max_mapnr / 8) / block_size) blocks; bit (pfn & 7) of byte
  (pfn >> 3), least significant first.
- then one 24-byte page_desc per set bit of the 2nd bitmap in pfn order:
  offset i64 (file offset of the data), size u32, flags u32 (the
  compression bit, 0 = stored raw), page_flags u64 (0).
- then the data: with dump level bit 0 (exclude zero pages) makedumpfile
  first writes ONE zero page (flags 0, size = page size) and every zero
  page's descriptor points at it, the zero page staying in the 2nd bitmap;
  a page that does not compress below the page size is stored raw.
- eraseinfo text (--config), when any, follows the page data.
- --split: every part has the whole header and both whole bitmaps, with
  split = 1 and [start_pfn_64, end_pfn_64); its descriptors and data cover
  only the dumpable pages of that range, and it has its own zero page.
- incomplete (-L, ENOSPC): status has 0x8 and the descriptors of pages
  that were never written are all zero (offset 0, size 0).

Why not crash_ext_c.kdump_write.write_kdump (the --extract writer): it writes only
version-6, unsplit, whole files; the tests also need --split parts, old header
versions, 32-bit and big-endian layouts, wrong signatures, incomplete (-L) cuts
and sparse files of 2^40 pages.  So this writer builds on the production tables
(the header and sub-header field offsets of crash_ext_c.kdump) and page codec
(kdump_write.compress_page) instead of keeping its own copies.

`kdump_pieces` lays one file out as sparse pieces; `build_kdump` joins them into
bytes (plus a Layout of where things landed, for the corruption tests) and
`write_kdump` writes them into a sparse file (or a --split set).
"""

import bisect
import random
import struct

from crash_ext_c.kdump import _HEADER, _SUB, _SUB_SINCE, _SUB_SIZE, DESC_SIZE
from crash_ext_c.kdump_write import _pack_fields, compress_page

from .elf import PAGE_SIZE, note_area, vmcoreinfo_text

DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
KDUMP_SUB_HEADER_SIZE = _SUB_SIZE[64]
PAGE_DESC = struct.Struct("<qIIQ")
HEADER_VERSION = 6
CHUNK = 1 << 20               # bitmap bytes per written piece


def page(seed, ps=PAGE_SIZE):
    """A recognisable, compressible page."""
    rnd = random.Random(seed)
    head = struct.pack("<Q", seed) * 4
    body = bytes(rnd.randrange(4) for _ in range(ps - len(head)))
    return head + body


class Layout:
    """Where things landed in a built file (for the corruption tests)."""


def _utsname(release, nodename, version, machine):
    fields = ["Linux", nodename, release, version, machine, "(none)"]
    return b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields)


def _bitmap_pieces(base, ram_ranges, bits):
    """Sparse pieces of a bitmap: full 0xff runs for `ram_ranges` ([(lo, hi)] pfns)
    and the single bytes of `bits` ({byte: mask}) outside those runs."""
    bits = dict(bits)
    runs = []
    for lo, hi in ram_ranges:
        first, last = -(-lo // 8), hi // 8           # whole bytes inside [lo, hi)
        for pfn in list(range(lo, min(hi, first * 8))) + list(range(max(lo, last * 8), hi)):
            bits[pfn >> 3] = bits.get(pfn >> 3, 0) | 1 << (pfn & 7)
        if last > first:
            runs.append((first, last))
    runs.sort()
    out = []
    for first, last in runs:
        for at in range(first, last, CHUNK):
            out.append((base + at, b"\xff" * (min(last, at + CHUNK) - at)))
    starts = [r[0] for r in runs]
    for byte, mask in sorted(bits.items()):
        i = bisect.bisect_right(starts, byte) - 1
        if i < 0 or byte >= runs[i][1]:
            out.append((base + byte, bytes((mask,))))
    return out


def kdump_pieces(pages, *, max_mapnr, ps=PAGE_SIZE, ram=(), ram_ranges=(), zero_pfns=(),
                 version=HEADER_VERSION, dump_level=31, compress="zlib", endian="<", word=64,
                 sub_layout=None, machine=None, signature=b"KDUMP   ", timestamp=1700000000,
                 release="6.1.0-synth", nodename="synth", uts_version="#1 SMP",
                 phys_base=0, texts=(), vmcoreinfo_at=None, eraseinfo=None,
                 eraseinfo_in_sub=True, split=None, whole_desc_table=True,
                 incomplete_after=None, incomplete_cut=False, total_ram_blocks=None,
                 dumpable_in_ram=True):
    """One kdump-compressed file as sparse pieces: ([(offset, bytes)], size, Layout).

    pages: {pfn: bytes} stored (an all-zero page shares the zero page when dump_level
    has bit 0); zero_pfns: more dumpable pages that are zeros.  The 1st bitmap has
    `ram` pfns, `ram_ranges` [(lo, hi)] and (dumpable_in_ram) every dumpable page; the
    2nd the dumpable pages (both whole, also in a split part).
    texts: [(name, bytes)] put after the sub-header in that order; name "vmcoreinfo",
    "note" or "eraseinfo" sets offset_<name>/size_<name>; vmcoreinfo_at: (offset inside
    the "note" text, size) of a VMCOREINFO note's data, as makedumpfile points it.
    eraseinfo: text after the sub-header (eraseinfo_in_sub) or after the page data.
    split: (lo, hi) of one --split part: descriptors and data of that range only, the
    descriptor table sized for the whole dump (whole_desc_table) or for the part.
    incomplete_after: keep the data of this many stored pages, the rest get empty
    descriptors; incomplete_cut: the file stops half way through the data and the
    descriptors pointing past it are empty (makedumpfile -L).  Either sets the status bit.
    """
    if machine is None:
        machine = {64: "x86_64", 32: "i686"}[word] if sub_layout != "32pad" else "armv7l"
    layout = sub_layout or (64 if word == 64 else "32pack")
    sub_size = _SUB_SIZE[layout]
    zero = bytes(ps)
    for pfn, data in pages.items():
        if not 0 <= pfn < max_mapnr:
            raise ValueError("pfn 0x%x outside [0, max_mapnr)" % pfn)
        if len(data) != ps:
            raise ValueError("page 0x%x has %d bytes" % (pfn, len(data)))
    dumpable = sorted(set(pages) | set(zero_pfns))
    lo, hi = split if split else (0, max_mapnr)
    mine = [p for p in dumpable if lo <= p < hi]
    texts = list(texts)
    if eraseinfo and eraseinfo_in_sub:
        texts.append(("eraseinfo", eraseinfo))
    text_len = sum(len(t or b"") for _, t in texts)
    sub_hdr_size = -(-(sub_size + text_len) // ps)
    bitmap_bytes = -(-max(max_mapnr, 1) // 8)
    half = -(-bitmap_bytes // ps) * ps
    bitmap_off = ps * (1 + sub_hdr_size)
    desc_off = bitmap_off + 2 * half
    data_off = desc_off + DESC_SIZE * len(dumpable if whole_desc_table else mine)

    lay = Layout()
    lay.desc_off, lay.data_off, lay.bitmap_off, lay.half = desc_off, data_off, bitmap_off, half
    lay.page_off, lay.desc_of = {}, {}
    kept = set(sorted(pages)[:incomplete_after]) if incomplete_after is not None else None
    desc = struct.Struct(endian + "qIIQ")
    descs, data = bytearray(), bytearray()
    zero_desc = None
    if dump_level & 1:
        zero_desc = desc.pack(data_off, ps, 0, 0)
        data += zero
    for n, pfn in enumerate(mine):
        lay.desc_of[pfn] = desc_off + DESC_SIZE * n
        raw = pages.get(pfn, zero)
        if kept is not None and pfn in pages and pfn not in kept:
            descs += bytes(DESC_SIZE)
        elif raw == zero and zero_desc is not None:
            descs += zero_desc
        else:
            p = compress_page(compress or "none", raw)
            lay.page_off[pfn] = data_off + len(data)
            descs += desc.pack(data_off + len(data), len(p.data), p.flags, 0)
            data += p.data
    descs += bytes(data_off - desc_off - len(descs))
    end = data_off + len(data)
    fields = dict(phys_base=phys_base, dump_level=dump_level, split=1 if split else 0,
                  start_pfn=lo if split else 0, end_pfn=hi if split else 0,
                  offset_vmcoreinfo=0, size_vmcoreinfo=0, offset_note=0, size_note=0,
                  offset_eraseinfo=0, size_eraseinfo=0, start_pfn_64=lo if split else 0,
                  end_pfn_64=hi if split else 0, max_mapnr_64=max_mapnr)
    sub = bytearray(ps * sub_hdr_size)
    pos = ps + sub_size
    for name, text in texts:
        if text:
            fields["offset_" + name], fields["size_" + name] = pos, len(text)
            if name == "note" and vmcoreinfo_at:
                fields["offset_vmcoreinfo"] = pos + vmcoreinfo_at[0]
                fields["size_vmcoreinfo"] = vmcoreinfo_at[1]
            sub[pos - ps:pos - ps + len(text)] = text
            pos += len(text)
    tail = []
    if eraseinfo and not eraseinfo_in_sub:
        fields["offset_eraseinfo"], fields["size_eraseinfo"] = end, len(eraseinfo)
        tail.append((end, eraseinfo))
        end += len(eraseinfo)
    if version >= 1:
        _pack_fields(sub, _SUB[layout], endian, fields, _SUB_SINCE, version)

    h = _HEADER[word]
    status = (DUMP_DH_COMPRESSED_ZLIB if compress == "zlib" else 0) | (
        DUMP_DH_COMPRESSED_INCOMPLETE if kept is not None or incomplete_cut else 0)
    hdr = bytearray(ps)
    hdr[:8] = signature
    struct.pack_into(endian + "i", hdr, 8, version)
    hdr[12:12 + 390] = _utsname(release, nodename, uts_version, machine)
    ts, tsz = h["timestamp"]
    struct.pack_into(endian + ("q" if tsz == 16 else "i"), hdr, ts, timestamp)
    struct.pack_into(endian + "IiiIIIIIIi", hdr, h["status"], status, ps, sub_hdr_size,
                     2 * half // ps, min(max_mapnr, 0xffffffff),
                     len(pages) if total_ram_blocks is None else total_ram_blocks, 0, 0, 0, 1)

    bits1, bits2 = {}, {}
    for pfn in set(ram) | set(dumpable if dumpable_in_ram else ()):
        bits1[pfn >> 3] = bits1.get(pfn >> 3, 0) | 1 << (pfn & 7)
    for pfn in dumpable:
        bits2[pfn >> 3] = bits2.get(pfn >> 3, 0) | 1 << (pfn & 7)
    pieces = [(0, bytes(hdr)), (ps, bytes(sub))]
    pieces += _bitmap_pieces(bitmap_off, ram_ranges, bits1)
    pieces += _bitmap_pieces(bitmap_off + half, (), bits2)
    pieces += [(desc_off, bytes(descs)), (data_off, bytes(data))] + tail
    lay.size = end
    if incomplete_cut:
        # makedumpfile -L: the data stops part way and the descriptors of the pages
        # past that point were never written.
        end = data_off + len(data) // 2
        for off in lay.desc_of.values():
            d_off, size = struct.unpack_from(endian + "qI", descs, off - desc_off)
            if d_off + size > end:
                descs[off - desc_off:off - desc_off + DESC_SIZE] = bytes(DESC_SIZE)
        pieces = [(o, b[:max(0, end - o)]) for o, b in pieces if o < end]
        pieces = [(o, bytes(descs)[:max(0, end - o)]) if o == desc_off else (o, b)
                  for o, b in pieces]
    return pieces, end, lay


def build_kdump(pages, *, max_mapnr, ram=None, ps=PAGE_SIZE, version=6, dump_level=31,
                compress="zlib", vmcoreinfo=b"OSRELEASE=6.1.0-synth\nPAGESIZE=4096\n",
                eraseinfo=None, split=None, incomplete=False, endian="<", word=64,
                sub_layout=None, machine=None, signature=b"KDUMP   ", timestamp=1700000000,
                excluded=(), note=None):
    """Bytes of a kdump-compressed file, and a Layout.

    pages: {pfn: bytes} stored; ram: pfns set in the 1st bitmap (default: every page
    in `pages` plus `excluded`); vmcoreinfo, note, eraseinfo: raw texts after the
    sub-header; split: (start, end) for one part of a split set (descriptors only for
    that range, table sized for the whole dump); incomplete: set the status bit and
    drop the data after the first half of the pages.
    """
    ram = set(excluded) if ram is None else set(ram)
    pieces, size, lay = kdump_pieces(
        pages, max_mapnr=max_mapnr, ps=ps, ram=ram, version=version, dump_level=dump_level,
        compress=compress, endian=endian, word=word, sub_layout=sub_layout, machine=machine,
        signature=signature, timestamp=timestamp, split=split, incomplete_cut=incomplete,
        texts=[("vmcoreinfo", vmcoreinfo), ("note", note)], eraseinfo=eraseinfo)
    out = bytearray(size)
    for off, blob in pieces:
        out[off:off + len(blob)] = blob
    return bytes(out), lay


def write_kdump(path, pages, *, max_pfn, ram=None, zero_pfns=(), vmcoreinfo_lines=(),
                page_size=PAGE_SIZE, dump_level=31, compress=True, phys_base=0,
                incomplete_after=None, split=None, eraseinfo=None, release="6.1.0-synthetic",
                extra_notes=()):
    """Write a kdump-compressed dump (or a --split set) as makedumpfile lays it out and
    return its path(s): the ELF notes (`extra_notes` then VMCOREINFO) after the
    sub-header, eraseinfo after the page data, sparse bitmaps.

    pages: {pfn: bytes} stored pages; max_pfn: size of the physical range; ram:
    [(start_pfn, end_pfn)] of the 1st bitmap (default: all); zero_pfns: more dumpable
    zero pages; incomplete_after: keep only this many stored pages' data (pfn order);
    split: None, or pfn boundaries [b1, b2, ...] cutting [0, max_pfn) into parts, then
    `path` is a prefix and the parts are path.1, path.2, ...
    Memory and time depend on max_pfn only through the 1st bitmap's RAM runs.
    """
    info = vmcoreinfo_text(vmcoreinfo_lines, page_size=page_size, osrelease=release)
    if isinstance(eraseinfo, str):
        eraseinfo = eraseinfo.encode()
    notes, vmci_at = note_area(info, extra_notes)
    bounds = [0] + sorted(split or ()) + [max_pfn]
    parts = ["%s.%d" % (path, i + 1) for i in range(len(bounds) - 1)] if split else [str(path)]
    for part, rng in zip(parts, zip(bounds, bounds[1:])):
        pieces, size, _ = kdump_pieces(
            pages, max_mapnr=max_pfn, ps=page_size, zero_pfns=zero_pfns,
            ram_ranges=[(0, max_pfn)] if ram is None else ram, dump_level=dump_level,
            compress="zlib" if compress else None, timestamp=1795241199, release=release,
            nodename="synthetic", uts_version="#1 SMP synthetic", phys_base=phys_base,
            texts=[("note", notes)], vmcoreinfo_at=(vmci_at, len(info)), eraseinfo=eraseinfo,
            eraseinfo_in_sub=False, split=rng if split else None, whole_desc_table=False,
            incomplete_after=incomplete_after, total_ram_blocks=0, dumpable_in_ram=False)
        with open(part, "wb") as f:
            for off, blob in pieces:
                f.seek(off)
                f.write(blob)
            f.truncate(size)
    return parts if split else parts[0]
