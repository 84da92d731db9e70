"""Synthetic dump files for tests and benchmarks: kdump-compressed and ELF64.

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

ELF64 core: see crash_ext_c/elf.py.
"""

import random
import struct
import zlib

PAGE_SIZE = 4096
DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
KDUMP_SUB_HEADER_SIZE = 104
PAGE_DESC = struct.Struct("<qIIQ")
HEADER_VERSION = 6

PAGEMAP_MAGIC = 0x5043504D   # "PCPM"
BUFFER_MAGIC = 0x50434943    # "PCIC"


# -- VMCOREINFO and notes ------------------------------------------------------

def vmcoreinfo_text(lines=(), *, page_size=PAGE_SIZE, osrelease="6.1.0-synthetic"):
    """VMCOREINFO text: the usual leading lines plus `lines` (e.g. PCI_CRASH_*)."""
    base = ["OSRELEASE=%s" % osrelease, "PAGESIZE=%d" % page_size]
    keys = {l.split("=", 1)[0] for l in lines}
    base = [l for l in base if l.split("=", 1)[0] not in keys]
    return ("\n".join(base + list(lines)) + "\n").encode()


def elf_note(name, ntype, desc):
    """One ELF note (4-byte aligned name and data)."""
    nb = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(nb), len(desc), ntype) + pad(nb) + pad(desc)


# -- kdump-compressed ----------------------------------------------------------

def _utsname(release, machine="x86_64"):
    fields = ["Linux", "synthetic", release, "#1 SMP synthetic", machine, "(none)"]
    return b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields)


def _set_bits(bits_by_byte, pfn):
    bits_by_byte[pfn >> 3] = bits_by_byte.get(pfn >> 3, 0) | (1 << (pfn & 7))


def _write_ranges_bitmap(f, base, ranges):
    """1st bitmap: set bits for every pfn of `ranges`, writing full bytes in chunks."""
    chunk = b"\xff" * (1 << 20)
    for start, end in ranges:
        pfn = start
        while pfn < end and pfn & 7:
            _or_byte(f, base + (pfn >> 3), 1 << (pfn & 7))
            pfn += 1
        full = (end - pfn) >> 3
        f.seek(base + (pfn >> 3))
        while full > 0:
            n = min(full, len(chunk))
            f.write(chunk[:n])
            full -= n
            pfn += n * 8
        while pfn < end:
            _or_byte(f, base + (pfn >> 3), 1 << (pfn & 7))
            pfn += 1


def _or_byte(f, pos, mask):
    f.seek(pos)
    old = f.read(1)
    f.seek(pos)
    f.write(bytes([(old[0] if old else 0) | mask]))


def write_kdump(path, pages, *, max_pfn, ram=None, zero_pfns=(), vmcoreinfo_lines=(),
                page_size=PAGE_SIZE, dump_level=31, compress=True, phys_base=0,
                incomplete_after=None, split=None, eraseinfo=None, release="6.1.0-synthetic",
                extra_notes=()):
    """Write a kdump-compressed dump (or a --split set) and return its path(s).

    pages: {pfn: bytes} stored pages (an all-zero page shares the zero page when
      dump_level has bit 0, as makedumpfile does).
    max_pfn: size of the physical range (bitmaps cover [0, max_pfn)).
    ram: [(start_pfn, end_pfn)] of pfns marked in the 1st bitmap (default: all).
    zero_pfns: more dumpable pages that are zeros (shared zero page).
    incomplete_after: keep only this many stored pages' data (in pfn order);
      the rest get zero descriptors and the header the INCOMPLETE flag.
    split: None, or a list of pfn boundaries [b1, b2, ...] cutting [0, max_pfn)
      into parts; then `path` is a prefix and the parts are path.1, path.2, ...
    Memory and time depend on max_pfn only through the bitmaps (written in chunks).
    """
    for pfn, data in pages.items():
        if not 0 <= pfn < max_pfn:
            raise ValueError("pfn 0x%x outside [0, max_pfn)" % pfn)
        if len(data) != page_size:
            raise ValueError("page 0x%x has %d bytes" % (pfn, len(data)))
    zero_page = bytes(page_size)
    dumpable = sorted(set(pages) | set(zero_pfns))
    ram = [(0, max_pfn)] if ram is None else list(ram)
    info = vmcoreinfo_text(vmcoreinfo_lines, page_size=page_size, osrelease=release)
    notes = b"".join(elf_note(n, t, d) for n, t, d in extra_notes)
    vmci_desc_in_notes = len(notes) + 12 + 12   # header + "VMCOREINFO\0" padded to 12
    notes += elf_note("VMCOREINFO", 0, info)
    if split:
        bounds = [0] + sorted(split) + [max_pfn]
        parts = ["%s.%d" % (path, i + 1) for i in range(len(bounds) - 1)]
        ranges = list(zip(bounds, bounds[1:]))
    else:
        parts = [str(path)]
        ranges = [(0, max_pfn)]
    kept = None
    if incomplete_after is not None:
        kept = set(sorted(pages)[:incomplete_after])
    bitmap_bytes = -(-max_pfn // 8)
    bitmap_half = -(-bitmap_bytes // page_size) * page_size
    sub_hdr_blocks = -(-(KDUMP_SUB_HEADER_SIZE + len(notes)) // page_size)
    bitmap_at = (1 + sub_hdr_blocks) * page_size
    desc_at = bitmap_at + 2 * bitmap_half
    # 2nd bitmap: only the bytes with set bits are written (the file is sparse).
    bits2 = {}
    for pfn in dumpable:
        _set_bits(bits2, pfn)
    for part, (lo, hi) in zip(parts, ranges):
        mine = [p for p in dumpable if lo <= p < hi]
        status = DUMP_DH_COMPRESSED_ZLIB if compress else 0
        if kept is not None:
            status |= DUMP_DH_COMPRESSED_INCOMPLETE
        with open(part, "w+b") as f:
            f.truncate(desc_at)
            _write_ranges_bitmap(f, bitmap_at, ram)
            for byte, mask in sorted(bits2.items()):
                f.seek(bitmap_at + bitmap_half + byte)
                f.write(bytes([mask]))
            descs = bytearray()
            data = bytearray()
            data_at = desc_at + PAGE_DESC.size * len(mine)
            zero_desc = None
            if dump_level & 1:
                zero_desc = PAGE_DESC.pack(data_at, page_size, 0, 0)
                data += zero_page
            for pfn in mine:
                raw = pages.get(pfn, zero_page)
                if kept is not None and pfn in pages and pfn not in kept:
                    descs += PAGE_DESC.pack(0, 0, 0, 0)
                    continue
                if raw == zero_page and zero_desc is not None:
                    descs += zero_desc
                    continue
                blob, flags = raw, 0
                if compress:
                    c = zlib.compress(raw, 1)
                    if len(c) < page_size:
                        blob, flags = c, DUMP_DH_COMPRESSED_ZLIB
                descs += PAGE_DESC.pack(data_at + len(data), len(blob), flags, 0)
                data += blob
            f.seek(desc_at)
            f.write(descs)
            f.write(data)
            end = desc_at + len(descs) + len(data)
            off_erase = size_erase = 0
            if eraseinfo:
                ebytes = eraseinfo.encode()
                off_erase, size_erase = end, len(ebytes)
                f.write(ebytes)
            hdr = bytearray(page_size)
            struct.pack_into("<8si", hdr, 0, b"KDUMP   ", HEADER_VERSION)
            hdr[12:12 + 390] = _utsname(release)
            struct.pack_into("<qqIiiIIIIIIi", hdr, 408, 1795241199, 0, status, page_size,
                             sub_hdr_blocks, 2 * bitmap_half // page_size,
                             min(max_pfn, 0xFFFFFFFF), 0, 0, 0, 0, 1)
            sub = struct.pack("<QiiQQqQqQqQQQQ", phys_base & (2 ** 64 - 1), dump_level,
                              1 if split else 0, min(lo, 0xFFFFFFFF) if split else 0,
                              min(hi, 0xFFFFFFFF) if split else 0,
                              page_size + KDUMP_SUB_HEADER_SIZE + vmci_desc_in_notes, len(info),
                              page_size + KDUMP_SUB_HEADER_SIZE, len(notes),
                              off_erase, size_erase,
                              lo if split else 0, hi if split else 0, max_pfn)
            f.seek(0)
            f.write(hdr)
            f.write(sub)
            f.write(notes)
    return parts if split else parts[0]


# -- ELF64 core ---------------------------------------------------------------

def write_elf(path, pages, *, loads, vmcoreinfo_lines=(), page_size=PAGE_SIZE,
              extra_notes=(), page_aligned=True, release="6.1.0-synthetic", e_flags=0,
              xnum=False):
    """Write an ELF64 ET_CORE like /proc/vmcore (page_aligned) or makedumpfile -E (packed).

    loads: [(paddr, memsz, filesz)]; the stored part's bytes come from `pages`
    ({pfn: bytes}, missing pages are zeros).  filesz < memsz gives a -E tail.
    xnum: write e_phnum = PN_XNUM and the count in section header 0's sh_info, as
    makedumpfile does past 65534 program headers (it puts that header after the phdrs).
    """
    info = vmcoreinfo_text(vmcoreinfo_lines, page_size=page_size, osrelease=release)
    notes = b"".join(elf_note(n, t, d) for n, t, d in extra_notes)
    notes += elf_note("VMCOREINFO", 0, info)
    phnum = 1 + len(loads)
    note_at = 64 + 56 * phnum
    shoff = 0
    if xnum:
        shoff, note_at = note_at, note_at + 64
    if page_aligned:
        note_at = -(-note_at // page_size) * page_size
    pos = note_at + len(notes)
    phdrs = [struct.pack("<IIQQQQQQ", 4, 0, note_at, 0, 0, len(notes), len(notes), 0)]
    chunks = []
    for paddr, memsz, filesz in loads:
        if page_aligned:
            pos = -(-pos // page_size) * page_size + paddr % page_size
        phdrs.append(struct.pack("<IIQQQQQQ", 1, 7, pos if filesz else 0,
                                 0xffff880000000000 + paddr, paddr, filesz, memsz, 0))
        chunks.append((pos, _phys_bytes(pages, paddr, filesz, page_size)))
        pos += filesz
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7),
                       4, 62, 1, 0, 64, shoff, e_flags, 64, 56,
                       0xFFFF if xnum else phnum, 64 if xnum else 0, 1 if xnum else 0, 0)
    with open(path, "wb") as f:
        f.write(ehdr + b"".join(phdrs))
        if xnum:   # SHT_NULL section header 0: sh_size = e_shnum, sh_info = real phnum
            f.write(struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 1, 0, phnum, 0, 0))
        f.seek(note_at)
        f.write(notes)
        for at, blob in chunks:
            f.seek(at)
            f.write(blob)
        f.truncate(max([pos] + [at + len(b) for at, b in chunks]))
    return str(path)


def _phys_bytes(pages, paddr, size, page_size):
    out = bytearray()
    addr = paddr
    while len(out) < size:
        pfn, off = divmod(addr, page_size)
        take = min(page_size - off, size - len(out))
        out += pages.get(pfn, bytes(page_size))[off:off + take]
        addr += take
    return bytes(out)


# -- pci_crash capture pages ----------------------------------------------------

def pci_crash_pages(buffer, layout, pfns, *, pagemap_addr, page_size=PAGE_SIZE, buf_offset=0):
    """Place a pci_crash buffer and its pagemap in physical memory.

    buffer: the buffer bytes (header + records), buf_size = len(buffer).
    layout: 'A' (addrs at 16) or 'B' (buf_offset u32 at 16, addrs at 20).
    pfns: one page frame per buffer page, in buffer order (scattered as you like).
    pagemap_addr: physical address of the pagemap (may cross pages).
    buf_offset: where the buffer starts inside the first page.
    Returns ({pfn: page bytes}, [VMCOREINFO lines]).
    """
    size = len(buffer)
    num = -(-(buf_offset + size) // page_size)
    if len(pfns) != num:
        raise ValueError("%d pfns for a %d-page buffer" % (len(pfns), num))
    if layout == "A":
        pm = struct.pack("<IIQ", PAGEMAP_MAGIC, num, size)
    elif layout == "B":
        pm = struct.pack("<IIQI", PAGEMAP_MAGIC, num, size, buf_offset)
    else:
        raise ValueError("layout must be 'A' or 'B'")
    pm += struct.pack("<%dQ" % num, *(p * page_size for p in pfns))
    pages = {}
    padded = bytes(buf_offset) + buffer + bytes(num * page_size - buf_offset - size)
    for i, pfn in enumerate(pfns):
        pages[pfn] = padded[i * page_size:(i + 1) * page_size]
    first, off = divmod(pagemap_addr, page_size)
    span = -(-(off + len(pm)) // page_size)
    raw = bytes(off) + pm + bytes(span * page_size - off - len(pm))
    for i in range(span):
        pfn = first + i
        if pfn in pages:
            raise ValueError("pagemap page 0x%x is also a buffer page" % pfn)
        pages[pfn] = raw[i * page_size:(i + 1) * page_size]
    lines = ["PCI_CRASH_PAGEMAP=0x%x" % pagemap_addr, "PCI_CRASH_VERSION=1",
             "PCI_CRASH_BUF_SZ=%d" % size]
    return pages, lines


def fake_buffer(size, *, seed=0, config_size=4096):
    """A plausible pci_crash buffer of exactly `size` bytes: PCIC header + device records.

    Config spaces are mostly zero with IDs and a few capability bytes, so they
    compress like real ones.  Enough for reader benchmarks; CAPTURE's own
    builders make realistic topologies.
    """
    rng = random.Random(seed)
    recs = bytearray()
    count = 0
    while 32 + len(recs) + 8 + config_size <= size:
        cfg = bytearray(config_size)
        struct.pack_into("<HH", cfg, 0, 0x8086, rng.randrange(0x10000))
        cfg[0x0b] = 0x02
        for _ in range(8):
            cfg[rng.randrange(0x40, config_size)] = rng.randrange(256)
        bus, devfn = divmod(count, 256)
        recs += struct.pack("<HBBI", bus >> 8, bus & 0xFF, devfn, config_size) + cfg
        count += 1
    head = struct.pack("<IIIIQII", BUFFER_MAGIC, 1, count, 0, 1795241199 * 10 ** 9, 0, 0)
    out = head + bytes(recs)
    return out + bytes(size - len(out))


def scattered_pfns(n, max_pfn, *, seed=0, avoid=()):
    """n distinct pseudo-random pfns in [0, max_pfn), none in `avoid`."""
    rng = random.Random(seed)
    avoid = set(avoid)
    out = []
    seen = set()
    while len(out) < n:
        for p in rng.sample(range(max_pfn), min(max_pfn, 2 * (n - len(out)) + 8)):
            if p not in avoid and p not in seen:
                seen.add(p)
                out.append(p)
                if len(out) == n:
                    break
    return out


def scattered_capture_dump(path, *, max_pfn=1 << 28, buf_pages=6000, layout="A", seed=1,
                           page_size=PAGE_SIZE, extra_pages=None):
    """A kdump-compressed file of `max_pfn` pages holding a `buf_pages`-page buffer
    scattered across it; returns (path, pages, vmcoreinfo lines, buffer)."""
    buf = fake_buffer(buf_pages * page_size - (0 if layout == "A" else 0), seed=seed)
    pm_pfn = max_pfn // 3
    pm_pages = -(-(20 + 8 * buf_pages) // page_size)
    pfns = scattered_pfns(buf_pages, max_pfn, seed=seed,
                          avoid=range(pm_pfn, pm_pfn + pm_pages + 1))
    pages, lines = pci_crash_pages(buf, layout, pfns, pagemap_addr=pm_pfn * page_size + 0x380,
                                   page_size=page_size)
    if extra_pages:
        pages.update(extra_pages)
    write_kdump(path, pages, max_pfn=max_pfn, vmcoreinfo_lines=["CRASHTIME=1795241199"] + lines,
                page_size=page_size)
    return str(path), pages, lines, buf
