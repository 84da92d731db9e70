"""KdumpReader on byte-built kdump-compressed files (no ../shared needed)."""

import collections
import os
import random
import struct
import zlib

import pytest

from crash_ext_c import kdump as kdump_mod
from crash_ext_c.kdump import BLOCK_BITS, BLOCK_BYTES, SLICE_GAP, KdumpReader
from kdump_bytes import build_kdump, page
from crash_ext_c.errors import DumpFormatError, PageUnavailable, PcicrashError
from crash_ext_c.reader import MemoryReader, PageStatus

PS = 4096
ZERO = bytes(PS)


def write(tmp_path, name, blob):
    p = tmp_path / name
    p.write_bytes(blob)
    return str(p)


def sample_pages():
    pages = {pfn: page(pfn) for pfn in (1, 2, 3, 7, 40, 41, 63, 64, 65, 200)}
    pages[5] = ZERO
    pages[100] = ZERO
    return pages


@pytest.fixture(params=["c", "python"])
def backend(request, monkeypatch):
    """Run a test with the C helper and with the pure-Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(kdump_mod, "_C", False)
    else:
        if kdump_mod.c_helper() is None:
            pytest.fail("crash_ext_c._pfnmap is not built (pip install -e .)")
    return request.param


def test_reads_pages_and_statuses(tmp_path, backend):
    pages = sample_pages()
    blob, _ = build_kdump(pages, max_mapnr=300, ram=set(range(0, 250)))
    r = KdumpReader(write(tmp_path, "a.kdump", blob))
    assert isinstance(r, MemoryReader)
    assert r.page_size == PS and r.max_pfn == 300 and r.dump_level == 31
    assert r.compression == "zlib" and not r.incomplete
    for pfn, data in pages.items():
        assert r.read_page(pfn) == data
    assert r.page_status(1) is PageStatus.PRESENT
    assert r.page_status(5) is PageStatus.ZERO       # shares the one zero page
    assert r.page_status(6) is PageStatus.EXCLUDED   # RAM, not stored
    assert r.page_status(260) is PageStatus.OUTSIDE  # not RAM
    assert r.page_status(300) is PageStatus.OUTSIDE  # >= max_mapnr
    assert r.page_status(-1) is PageStatus.OUTSIDE
    with pytest.raises(PageUnavailable) as exc:
        r.read_page(6)
    assert exc.value.status is PageStatus.EXCLUDED and exc.value.pfn == 6
    got = r.read_pages([1, 6, 100, 299])
    assert got[1] == pages[1] and got[100] == ZERO
    assert isinstance(got[6], PageUnavailable) and isinstance(got[299], PageUnavailable)
    assert r.vmcoreinfo == {"OSRELEASE": "6.1.0-synth", "PAGESIZE": "4096"}
    assert r.read_phys(2 * PS - 8, 16) == pages[1][-8:] + pages[2][:8]


def test_batch_statuses_match_single(tmp_path, backend):
    pages = sample_pages()
    blob, _ = build_kdump(pages, max_mapnr=300, ram=set(range(0, 250)))
    r = KdumpReader(write(tmp_path, "a.kdump", blob))
    pfns = list(range(-2, 305))
    random.Random(1).shuffle(pfns)
    assert r.page_statuses(pfns) == [r.page_status(p) for p in pfns]


def test_without_zero_exclusion_zero_pages_are_present(tmp_path):
    pages = sample_pages()
    blob, _ = build_kdump(pages, max_mapnr=300, dump_level=30)
    r = KdumpReader(write(tmp_path, "a.kdump", blob))
    assert r.page_status(5) is PageStatus.PRESENT
    assert r.read_page(5) == ZERO


def test_uncompressed_and_many_chunks(tmp_path, backend):
    """Pages spread over many bitmap blocks: descriptor counting crosses them."""
    rnd = random.Random(7)
    max_mapnr = 24 * BLOCK_BITS + 1234
    pfns = sorted(rnd.sample(range(max_mapnr), 300))
    pages = {p: page(p) for p in pfns}
    blob, _ = build_kdump(pages, max_mapnr=max_mapnr, compress=None)
    r = KdumpReader(write(tmp_path, "a.kdump", blob))
    assert r.compression == "none"
    order = pfns[:]
    rnd.shuffle(order)
    got = r.read_pages(order)
    assert all(got[p] == pages[p] for p in pfns)
    assert r.read_page(pfns[-1]) == pages[pfns[-1]]


class CountingSource:
    """A pread() source that records what was read."""

    def __init__(self, blob, name="counted.kdump"):
        self.blob, self.name, self.size = blob, name, len(blob)
        self.reads = []

    def pread(self, offset, size):
        self.reads.append((offset, size))
        return self.blob[offset:offset + size]


def test_lazy_bitmap_reads(tmp_path):
    """Reading one early page reads a sliver of a big bitmap; later pages never re-read it."""
    max_mapnr = 512 * BLOCK_BITS         # 256 KiB per bitmap
    pages = {10: page(10), 320 * BLOCK_BITS + 5: page(11), 504 * BLOCK_BITS: page(12)}
    blob, lay = build_kdump(pages, max_mapnr=max_mapnr)
    src = CountingSource(blob)
    r = KdumpReader([src])

    def bitmap_bytes():
        lo, hi = lay.bitmap_off, lay.bitmap_off + 2 * lay.half
        return sum(max(0, min(o + n, hi) - max(o, lo)) for o, n in src.reads)

    assert r.read_page(10) == pages[10]
    assert bitmap_bytes() <= BLOCK_BYTES
    for pfn in sorted(pages):
        assert r.read_page(pfn) == pages[pfn]
    once = bitmap_bytes()
    for _ in range(3):
        for pfn in sorted(pages, reverse=True):
            assert r.read_page(pfn) == pages[pfn]
    # Counting walks the 2nd bitmap once; repeats hit the classification cache.
    assert bitmap_bytes() == once
    # The 2nd bitmap is streamed once (up to the last page) for the counts;
    # stored pages never need the 1st bitmap.
    assert once <= 505 * BLOCK_BYTES


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6])
def test_header_versions(tmp_path, version):
    pages = sample_pages()
    blob, _ = build_kdump(pages, max_mapnr=300, version=version,
                          eraseinfo=b"erase init_uts_ns.name.release size 8\n")
    r = KdumpReader(write(tmp_path, "v.kdump", blob))
    assert r.header_version == version
    assert r.read_page(200) == pages[200]
    assert r.page_status(5) is PageStatus.ZERO
    assert bool(r.vmcoreinfo) == (version >= 3)
    assert (r.eraseinfo is not None) == (version >= 5)
    if version >= 5:
        assert "init_uts_ns" in r.eraseinfo
    if version < 3:
        assert any("no VMCOREINFO" in n for n in r.notes)


def test_version_0_has_no_sub_header(tmp_path):
    pages = sample_pages()
    blob, _ = build_kdump(pages, max_mapnr=300, version=0)
    r = KdumpReader(write(tmp_path, "v0.kdump", blob))
    assert r.dump_level is None
    assert r.read_page(7) == pages[7]
    assert r.page_status(5) is PageStatus.PRESENT   # no dump level: cannot call it a zero page


@pytest.mark.parametrize("endian,word,layout,machine", [
    (">", 64, None, "s390x"),
    (">", 64, None, "ppc64"),
    ("<", 32, "32pack", "i686"),
    ("<", 32, "32pad", "armv7l"),
    (">", 32, "32pad", "armv5teb"),
])
def test_byte_orders_and_word_sizes(tmp_path, endian, word, layout, machine):
    pages = sample_pages()
    blob, _ = build_kdump(pages, max_mapnr=300, endian=endian, word=word, sub_layout=layout,
                          machine=machine, eraseinfo=b"erased\n")
    r = KdumpReader(write(tmp_path, "x.kdump", blob))
    assert r.utsname["machine"] == machine
    assert r.max_pfn == 300 and r.dump_level == 31
    assert r.vmcoreinfo["PAGESIZE"] == "4096" and r.eraseinfo == "erased\n"
    assert all(r.read_page(p) == d for p, d in pages.items())
    assert r.page_status(5) is PageStatus.ZERO


def test_diskdump_signature(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300, signature=b"DISKDUMP", version=0)
    r = KdumpReader(write(tmp_path, "d.dump", blob))
    assert r.format.startswith("diskdump")
    assert r.read_page(1) == page(1)


def test_vmcoreinfo_override(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300)
    r = KdumpReader(write(tmp_path, "a.kdump", blob), vmcoreinfo={"PAGESIZE": "4096", "X": "1"})
    assert r.vmcoreinfo["X"] == "1" and r.dump_vmcoreinfo["OSRELEASE"] == "6.1.0-synth"


# ------------------------------------------------------------- incomplete dumps

def test_incomplete_dump_reports_lost_pages(tmp_path, backend):
    pfns = list(range(10, 90))
    pages = {p: page(p) for p in pfns}
    blob, lay = build_kdump(pages, max_mapnr=128, incomplete=True)
    r = KdumpReader(write(tmp_path, "cut.kdump", blob))
    assert r.incomplete and "incomplete" in r.format
    assert any("incomplete" in n for n in r.notes)
    st = dict(zip(pfns, r.page_statuses(pfns)))
    kept = [p for p in pfns if st[p] is PageStatus.PRESENT]
    lost = [p for p in pfns if st[p] is PageStatus.LOST]
    assert kept and lost and len(kept) + len(lost) == len(pfns)
    assert max(kept) < min(lost)            # the dump is cut, not holed
    assert all(r.read_page(p) == pages[p] for p in kept)
    with pytest.raises(PageUnavailable) as exc:
        r.read_page(lost[0])
    assert exc.value.status is PageStatus.LOST


# ------------------------------------------------------------- bad input

def assert_names(exc, path, offset):
    msg = str(exc.value)
    assert path in msg and "offset 0x%x" % offset in msg, msg
    assert exc.value.path == path and exc.value.offset == offset
    assert "\n" not in msg


def test_empty_file(tmp_path):
    p = write(tmp_path, "empty", b"")
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(p)
    assert_names(exc, p, 0)
    assert "empty" in str(exc.value)


def test_random_bytes(tmp_path):
    p = write(tmp_path, "rand", random.Random(3).randbytes(10000))
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(p)
    assert_names(exc, p, 0)


def test_flipped_magic(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300)
    p = write(tmp_path, "m.kdump", b"KDUMP  X" + blob[8:])
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(p)
    assert_names(exc, p, 0)
    assert "signature" in str(exc.value)


@pytest.mark.parametrize("cut,where", [(100, "header"), (4096 + 50, "sub-header"),
                                       (3 * 4096, "bitmap")])
def test_truncated_at_boundaries(tmp_path, cut, where):
    blob, lay = build_kdump(sample_pages(), max_mapnr=300)
    p = write(tmp_path, "t.kdump", blob[:cut])
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(p)
    msg = str(exc.value)
    assert p in msg and "offset 0x" in msg and "\n" not in msg
    if where == "bitmap":
        assert "bitmap" in msg and "past the end" in msg


def test_huge_bitmap_blocks_rejected_before_reading(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300)
    bad = bytearray(blob)
    struct.pack_into("<I", bad, 436, 0xfffffff0)          # bitmap_blocks
    p = write(tmp_path, "b.kdump", bytes(bad))
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(p)
    assert_names(exc, p, 436)


def test_bitmap_too_small_for_max_mapnr(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300)
    bad = bytearray(blob)
    struct.pack_into("<Q", bad, 4096 + 96, 1 << 40)        # max_mapnr_64
    p = write(tmp_path, "b.kdump", bytes(bad))
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(p)
    assert "max_mapnr" in str(exc.value) and p in str(exc.value)


@pytest.mark.parametrize("bs", [0, 1000, 3 << 20, -4096])
def test_bogus_block_size(tmp_path, bs):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300)
    bad = bytearray(blob)
    struct.pack_into("<i", bad, 428, bs)
    p = write(tmp_path, "bs.kdump", bytes(bad))
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(p)
    assert_names(exc, p, 428)


def test_truncated_descriptor_table(tmp_path):
    pages = {p: page(p) for p in range(1, 60)}
    blob, lay = build_kdump(pages, max_mapnr=128)
    cut = lay.desc_off + 24 * 30 + 5
    p = write(tmp_path, "d.kdump", blob[:cut])
    r = KdumpReader(p)
    assert r.page_status(50) is PageStatus.LOST
    # Page 1's descriptor survived but its data (after the table) did not.
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(1)
    assert_names(exc, p, lay.desc_of[1])
    assert "outside the file" in str(exc.value)
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(50)
    assert_names(exc, p, lay.desc_of[50])
    assert "descriptor" in str(exc.value)


def test_descriptor_past_eof(tmp_path):
    pages = {p: page(p) for p in range(1, 20)}
    blob, lay = build_kdump(pages, max_mapnr=128)
    bad = bytearray(blob)
    struct.pack_into("<q", bad, lay.desc_of[7], len(blob) + 4096)
    p = write(tmp_path, "d.kdump", bytes(bad))
    r = KdumpReader(p)
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(7)
    assert_names(exc, p, lay.desc_of[7])
    assert r.read_page(8) == pages[8]


@pytest.mark.parametrize("how", ["garble", "oversize", "flags"])
def test_bogus_compressed_page(tmp_path, backend, how):
    pages = {p: page(p) for p in range(1, 20)}
    blob, lay = build_kdump(pages, max_mapnr=128)
    bad = bytearray(blob)
    off = lay.page_off[9]
    if how == "garble":
        bad[off:off + 64] = bytes(range(64))
    elif how == "oversize":
        struct.pack_into("<I", bad, lay.desc_of[9] + 8, PS + 1)
    else:
        struct.pack_into("<I", bad, lay.desc_of[9] + 12, 0x1 | 0x20)
    p = write(tmp_path, "g.kdump", bytes(bad))
    r = KdumpReader(p)
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(9)
    assert_names(exc, p, off)
    assert "page 0x9" in str(exc.value)
    got = r.read_pages(range(1, 20))
    assert isinstance(got[9], DumpFormatError)
    assert all(got[q] == pages[q] for q in pages if q != 9)


def test_unknown_header_version_is_noted(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300, version=7)
    r = KdumpReader(write(tmp_path, "v7.kdump", blob))
    assert any("newer" in n for n in r.notes)
    assert r.read_page(1) == page(1)


def test_vmcoreinfo_outside_file_is_a_note(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300)
    bad = bytearray(blob)
    struct.pack_into("<q", bad, 4096 + 32, 1 << 40)
    r = KdumpReader(write(tmp_path, "v.kdump", bytes(bad)))
    assert r.vmcoreinfo == {}
    assert any("vmcoreinfo" in n and "outside the file" in n for n in r.notes)
    assert r.read_page(1) == page(1)


def test_missing_file(tmp_path):
    with pytest.raises(PcicrashError) as exc:
        KdumpReader(str(tmp_path / "nope"))
    assert "nope" in str(exc.value)


# ------------------------------------------------------------- C helper directly

def test_c_lookup_and_decompress_bounds():
    c = kdump_mod.c_helper()
    if c is None:
        pytest.fail("crash_ext_c._pfnmap is not built")
    ffi, lib = c.ffi, c.lib
    bm2 = bytes([0b10110001]) + bytes(7) + bytes([0xff])
    # running counts per 4-byte block; too small an output is refused
    out = ffi.new("uint64_t[]", 3)
    assert lib.pfnmap_block_counts(bm2, len(bm2), 4, 10, out, 3) == 3
    assert list(out) == [14, 14, 22]
    assert lib.pfnmap_block_counts(bm2, len(bm2), 4, 0, out, 2) == -1
    assert lib.pfnmap_block_counts(bm2, len(bm2), 0, 0, out, 3) == -1
    # rank over 16-bit blocks: set bit -> base of its block + set bits before it in
    # the block; clear -> -1; outside the bytes or the bases -> -3; no bases: bit test
    bits = [0, 1, 4, 5, 7, 15, 64, 71, 72, 1 << 40]
    res = ffi.new("int64_t[]", len(bits))
    assert lib.pfnmap_rank(bm2, len(bm2), 16, [100, 200, 300, 400, 500], 5, bits, len(bits),
                           res) == 0
    assert list(res) == [100, -1, 101, 102, 103, -1, 500, 507, -3, -3]
    lib.pfnmap_rank(bm2, len(bm2), 16, [100, 200, 300, 400], 4, bits, len(bits), res)
    assert res[6] == -3                         # block 4 has no base
    lib.pfnmap_rank(bm2, len(bm2), 16, ffi.NULL, 0, bits, len(bits), res)
    assert list(res) == [0, -1, 0, 0, 0, -1, 0, 0, -3, -3]
    assert lib.pfnmap_rank(bm2, len(bm2), 12, ffi.NULL, 0, bits, len(bits), res) == -1
    # decompression: a good zlib page, a stored page, a slice outside the source,
    # and a destination too small for the batch.
    raw = page(5)
    comp = zlib.compress(raw)
    src = comp + raw
    dst = ffi.new("uint8_t[]", 3 * PS)
    err = ffi.new("int32_t[]", 3)
    failed = lib.pfnmap_decompress(3, src, len(src), [0, len(comp), len(src) - 10],
                                   [len(comp), PS, 100], [1, 0, 1], PS, dst, 3 * PS, err)
    assert failed == 1 and list(err) == [0, 0, 2]
    assert ffi.buffer(dst)[:PS] == raw and ffi.buffer(dst)[PS:2 * PS] == raw
    assert ffi.buffer(dst)[2 * PS:] == bytes(PS)
    assert lib.pfnmap_decompress(3, src, len(src), [0] * 3, [1] * 3, [0] * 3, PS, dst,
                                 2 * PS, err) == -1


@pytest.mark.parametrize("raw,code", [(b"a" * 4096, 0), (b"a" * 4095, 4), (b"a" * 5000, 4)])
def test_c_zlib_output_must_be_exactly_a_page(raw, code):
    c = kdump_mod.c_helper()
    if c is None:
        pytest.fail("crash_ext_c._pfnmap is not built")
    blob = zlib.compress(raw)
    dst = c.ffi.new("uint8_t[]", PS)
    err = c.ffi.new("int32_t[]", 1)
    c.lib.pfnmap_decompress(1, blob, len(blob), [0], [len(blob)], [1], PS, dst, PS, err)
    assert err[0] == code
    page_, msg = kdump_mod._py_page(blob, len(blob), 1, PS)      # the fallback agrees
    assert (msg is None) == (code == 0)


def test_empty_descriptor_in_a_complete_dump(tmp_path):
    pages = {p: page(p) for p in range(1, 20)}
    blob, lay = build_kdump(pages, max_mapnr=64)
    bad = bytearray(blob)
    bad[lay.desc_of[4]:lay.desc_of[4] + 24] = bytes(24)
    p = write(tmp_path, "z.kdump", bytes(bad))
    r = KdumpReader(p)
    assert r.page_status(4) is PageStatus.LOST
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(4)
    assert_names(exc, p, lay.desc_of[4])
    assert "empty" in str(exc.value)


def test_garbage_vmcoreinfo_is_a_note(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300, vmcoreinfo=b"X" * 5000)
    r = KdumpReader(write(tmp_path, "g.kdump", blob))
    assert r.vmcoreinfo == {} and any("VMCOREINFO unusable" in n for n in r.notes)
    assert r.read_page(1) == page(1)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_device_dumps_in_the_note_area(tmp_path, endian):
    from kdump_bytes import elf_note
    notes = (elf_note(b"CORE", 1, bytes(336), endian)
             + elf_note(b"LINUX", 0x700, b"mlx5_core".ljust(44, b"\0") + b"D" * 100, endian)
             + elf_note(b"VMCOREDD_ixgbe", 0x700, b"E" * 30, endian))
    blob, _ = build_kdump(sample_pages(), max_mapnr=300, note=notes, endian=endian,
                          machine="x86_64" if endian == "<" else "s390x")
    r = KdumpReader(write(tmp_path, "n.kdump", blob))
    assert [(d.name, d.size) for d in r.device_dumps] == [("mlx5_core", 100), ("ixgbe", 30)]
    raw = r.parts[0].src.pread(r.device_dumps[0].offset, 100)
    assert raw == b"D" * 100
    assert any("mlx5_core (100 bytes)" in n for n in r.notes)
    assert r.read_page(1) == page(1)


def test_note_area_outside_the_file_is_a_note(tmp_path):
    blob, _ = build_kdump(sample_pages(), max_mapnr=300, note=b"\0" * 24)
    bad = bytearray(blob)
    struct.pack_into("<q", bad, 4096 + 48, 1 << 40)
    r = KdumpReader(write(tmp_path, "n.kdump", bytes(bad)))
    assert r.device_dumps == [] and any("note area" in n for n in r.notes)


# ------------------------------------------------------------- bitmap I/O and translation

def test_rank_and_block_counts_c_python_and_brute_force_agree():
    """pfnmap_rank / pfnmap_block_counts, their pure-Python twins and a bit-by-bit count."""
    c = kdump_mod.c_helper()
    if c is None:
        pytest.fail("crash_ext_c._pfnmap is not built")
    rnd = random.Random(3)
    for density in (0.02, 0.5, 0.97):
        n = rnd.randrange(1, 3 * BLOCK_BYTES)
        buf = bytes(sum(1 << b for b in range(8) if rnd.random() < density) for _ in range(n))
        bit = [(buf[i >> 3] >> (i & 7)) & 1 for i in range(n * 8)]
        blocks = -(-n // BLOCK_BYTES)
        bases = [rnd.randrange(1 << 40) for _ in range(blocks)]
        qbits = [rnd.randrange(n * 8 + 20) for _ in range(400)] + [n * 8 - 1, 0]
        want = [-3 if b >= n * 8 else -1 if not bit[b] else
                bases[b // BLOCK_BITS] + sum(bit[b // BLOCK_BITS * BLOCK_BITS:b])
                for b in qbits]
        want_test = [-3 if b >= n * 8 else 0 if bit[b] else -1 for b in qbits]
        short = bases[:-1]       # the last block has no base: -3 there
        want_short = [-3 if b // BLOCK_BITS >= len(short) else w
                      for b, w in zip(qbits, want)]
        cases = [((qbits, bases), want), ((qbits,), want_test), ((qbits, short), want_short)]
        for args, expect in cases:
            assert kdump_mod._rank(buf, *args) == expect
        run = rnd.randrange(1 << 40)
        counts = [run + sum(bit[:min((i + 1) * BLOCK_BYTES, n) * 8])
                  for i in range(-(-n // BLOCK_BYTES))]
        assert kdump_mod._block_counts(buf, run) == counts
        kdump_mod._C = False
        try:
            for args, expect in cases:
                assert kdump_mod._rank(buf, *args) == expect
            assert kdump_mod._block_counts(buf, run) == counts
        finally:
            kdump_mod._C = None


@pytest.mark.parametrize("bounds", [[(0, 5003), (5003, 13000), (13000, 30000)],
                                    [(4100, 9000), (20000, 30000)]])
def test_split_parts_starting_inside_blocks(tmp_path, backend, bounds):
    """Parts whose start_pfn is not on a counted-block boundary number their pages right."""
    rnd = random.Random(11)
    max_mapnr = 30000
    stored = sorted(rnd.sample(range(max_mapnr), 900))
    pages = {p: page(p) for p in stored}
    ram = set(range(0, 25000))
    paths = []
    for i, (lo, hi) in enumerate(bounds):
        blob, _ = build_kdump(pages, max_mapnr=max_mapnr, split=(lo, hi), ram=ram)
        paths.append(write(tmp_path, "s.%d" % i, blob))
    r = KdumpReader(paths)
    probe = stored + rnd.sample(range(max_mapnr), 600)
    rnd.shuffle(probe)
    got = r.read_pages(probe)
    for p in probe:
        inside = any(lo <= p < hi for lo, hi in bounds)
        if p in pages and inside:
            assert got[p] == pages[p], hex(p)
        else:
            assert isinstance(got[p], PageUnavailable)
            want = (PageStatus.NOT_IN_PART if p in pages else
                    PageStatus.EXCLUDED if p in ram else PageStatus.OUTSIDE)
            assert got[p].status is want, hex(p)


class CountingFile:
    """A file as a pread() source that adds up the bytes read from given ranges."""

    def __init__(self, path):
        self.name = str(path)
        self.size = os.path.getsize(path)
        self._f = open(path, "rb")
        self.ranges = {}
        self.got = collections.Counter()

    def pread(self, offset, size):
        data = os.pread(self._f.fileno(), size, offset)
        for name, (lo, hi) in self.ranges.items():
            self.got[name] += max(0, min(offset + len(data), hi) - max(offset, lo))
        self.got["all"] += len(data)
        return data

    def close(self):
        self._f.close()


@pytest.mark.parametrize("cache", [True, False])
def test_bitmap_io_across_pagemap_and_two_buffer_reads(tmp_path, monkeypatch, cache):
    """The project rule, measured: read_pagemap + read_pages twice read the 2nd bitmap
    about once (the counting pass) plus one 512-byte block per page looked up again,
    and the 1st bitmap only for pages that are not stored."""
    import synth
    from pykdump_ext.capture import load_capture, read_pagemap
    if not cache:
        monkeypatch.setattr(kdump_mod, "CLASS_CACHE", 0)
    path, pages, _lines, buf = synth.scattered_capture_dump(
        str(tmp_path / "big.kdump"), max_pfn=1 << 25, buf_pages=700)
    src = CountingFile(path)
    r = KdumpReader([src])
    part = r.parts[0]
    half = part.bitmap_len
    src.ranges = {"bm1": (part.bitmap_off, part.bitmap_off + half),
                  "bm2": (part.bitmap_off + half, part.bitmap_off + 2 * half)}
    pm = read_pagemap(r)
    pfns = [a // PS for a in pm.page_addrs]
    assert len(pfns) == 700 and all(p in pages for p in pfns)
    # the counting pass (once, up to the furthest page) + the blocks of pages asked
    # about before the pass had reached them (below the pagemap)
    slices = len(pfns) * BLOCK_BYTES
    assert src.got["bm2"] <= half + slices
    per_call = min(half // 4, len(pfns) * (BLOCK_BYTES + SLICE_GAP))
    for _ in range(2):
        before = dict(src.got)
        got = r.read_pages(pfns)
        assert all(got[p] == pages[p] for p in pfns)
        bm2 = src.got["bm2"] - before["bm2"]
        # each lookup reads its own block (near ones together), never the bitmap again
        assert bm2 == 0 if cache else bm2 <= per_call
    assert src.got["bm1"] <= 4 * 4096            # buffer pages are stored: no 1st bitmap
    # the running counts: one per 4096 pfns up to the furthest page, nothing per page
    assert len(part._counts) <= (1 << 25) // BLOCK_BITS + 1
    before = src.got["bm2"]
    # load_capture reads the pagemap again, then the buffer's statuses and pages:
    # all classified already, or a few block lookups each without the cache
    cap = load_capture(r)
    assert cap.state == "captured" and len(cap.records) > 0
    assert src.got["bm2"] - before == 0 if cache else src.got["bm2"] - before <= 5 * per_call
    r.close()


def test_classification_cache_is_bounded_and_agrees(tmp_path, monkeypatch):
    monkeypatch.setattr(kdump_mod, "CLASS_CACHE", 50)
    pages = {p: page(p) for p in range(0, 400, 3)}
    pages[9] = ZERO
    blob, lay = build_kdump(pages, max_mapnr=400, ram=set(range(300)))
    path = write(tmp_path, "c.kdump", blob)
    src = CountingFile(path)
    r = KdumpReader([src])
    want = KdumpReader(path).page_statuses(range(400))     # one scan: not cached
    for start in range(0, 400, 20):
        assert r.page_statuses(range(start, start + 20)) == want[start:start + 20]
        assert len(r._seen) <= 50
    # repeated small requests are answered from the cache: no bitmap or descriptor reads
    src.ranges = {"tables": (lay.bitmap_off, lay.data_off)}
    assert r.page_statuses(range(360, 400)) == want[360:]
    assert r.read_pages(range(360, 400))[360] == pages[360]
    assert src.got["tables"] == 0
    # a scan bigger than the cache neither uses nor flushes it
    keep = list(r._seen)
    assert r.page_statuses(range(400)) == want
    assert list(r._seen) == keep
