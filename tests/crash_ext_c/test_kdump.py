"""crash_ext_c/kdump.py (KdumpReader): byte-built kdump-compressed files (no ../shared
needed), the shared real dumps checked against the raw ELF vmcore and libkdumpfile,
corrupted copies of a real dump, hypothesis-mutated files, and --split sets."""

import collections
import hashlib
import itertools
import json
import os
import random
import shutil
import struct
import subprocess
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crash_ext_c import kdump as kdump_mod
from crash_ext_c.flat import FlatReader
from crash_ext_c.kdump import BLOCK_BITS, BLOCK_BYTES, SLICE_GAP, KdumpReader
from crash_ext_c import vmcoreinfo as vmcoreinfo_mod
from crash_ext_c.errors import DumpFormatError, PageUnavailable, PcicrashError
from crash_ext_c.reader import MemoryReader, PageStatus
from tests.builders.capture import scattered_capture_dump
from tests.builders.elf import elf_note
from tests.builders.flat import flatten
from tests.builders.kdump import build_kdump, page
from tests.shared import (
    CACHE,
    SCENARIOS,
    dump_files,
    elf_vmcore,
    have_tool,
    needs_shared,
    scenario_dir,
)

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
    from pykdump_ext.capture.buffer import load_capture, read_pagemap
    if not cache:
        monkeypatch.setattr(kdump_mod, "CLASS_CACHE", 0)
    path, pages, _lines, buf = scattered_capture_dump(
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


# ---------- the shared real dumps: every file equals the raw ELF vmcore, and libkdumpfile

def open_any(paths):
    paths = [str(p) for p in paths]
    if len(paths) == 1 and paths[0].endswith(".flat"):
        return FlatReader(paths[0])
    return KdumpReader(paths)


def shipped():
    if not (scenario_dir("aer-uncor") / "scenario.json").exists():
        return []
    return [(name, files) for name in SCENARIOS for files in dump_files(name)]


@needs_shared
@pytest.mark.parametrize("name,files", shipped(),
                         ids=lambda x: x if isinstance(x, str) else "+".join(p.name for p in x))
def test_every_shipped_dump_opens_with_its_vmcoreinfo(name, files):
    r = open_any(files)
    truth = vmcoreinfo_mod.parse((scenario_dir(name) / "vmcoreinfo.txt").read_bytes())
    assert r.vmcoreinfo == truth
    assert r.page_size == PS and r.max_pfn > 0
    st = r.page_statuses(range(r.max_pfn))
    assert st.count(PageStatus.PRESENT) > 1000
    assert ("truncated" in files[0].name) == (PageStatus.LOST in st) == r.incomplete


@pytest.fixture(scope="module")
def elf():
    from crash_ext_c.elf import ElfReader
    return ElfReader(elf_vmcore())


@pytest.fixture(scope="module")
def elf_zero_pfns(elf):
    zero = bytes(PS)
    pfns = [p for p, s in enumerate(elf.page_statuses(range(elf.max_pfn))) if s.readable]
    out = set()
    for i in range(0, len(pfns), 4096):
        got = elf.read_pages(pfns[i:i + 4096])
        out.update(p for p, d in got.items() if d == zero)
    return out


def check_against_elf(r, elf, elf_zero_pfns, *, zero_dedup):
    pfns = range(r.max_pfn)
    st = r.page_statuses(pfns)
    est = elf.page_statuses(pfns)
    readable = [p for p, s in zip(pfns, st) if s.readable]
    got = r.read_pages(readable)
    ref = elf.read_pages(readable)
    bad = [p for p in readable if got[p] != ref[p]]
    assert not bad, "pages differ from the ELF vmcore: %s" % bad[:10]
    # makedumpfile's 1st bitmap holds the whole pages of the ELF's PT_LOADs;
    # a page a segment covers only in part is not RAM to it.
    partial = {a // PS for seg in elf.segments for a in (seg.paddr, seg.paddr + seg.memsz)
               if a % PS}
    for pfn, s, e in zip(pfns, st, est):
        if pfn in partial:
            assert s is PageStatus.OUTSIDE, pfn
        else:
            assert (s is PageStatus.OUTSIDE) == (e is PageStatus.OUTSIDE), pfn
        if s is PageStatus.ZERO:
            assert pfn in elf_zero_pfns
        elif s is PageStatus.PRESENT and zero_dedup:
            assert pfn not in elf_zero_pfns, "all-zero page 0x%x not shared" % pfn
    return st


@needs_shared
@pytest.mark.parametrize("fname", ["d31-zlib.kdump", "d31-snappy.kdump", "d31-zstd.kdump",
                                   "d31-zlib.flat", "d31-zlib-truncated.kdump"])
def test_shipped_variants_read_like_the_elf(elf, elf_zero_pfns, fname):
    r = open_any([scenario_dir("aer-uncor") / fname])
    st = check_against_elf(r, elf, elf_zero_pfns, zero_dedup=True)
    assert PageStatus.ZERO in st and PageStatus.EXCLUDED in st
    assert r.compression == fname.split("-")[1].split(".")[0]


def variant(args, name):
    """makedumpfile <args> ELF <cache file>, made once and cached by command."""
    elf_path = elf_vmcore()
    d = CACHE / "kdump-variants"
    d.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(" ".join(args).encode()).hexdigest()[:10]
    out = d / ("%s-%s" % (name, key))
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        tmp.unlink(missing_ok=True)
        if "-F" in args:
            with open(tmp, "wb") as fh:
                subprocess.run(["makedumpfile"] + args + [str(elf_path)], stdout=fh,
                               check=True, stderr=subprocess.PIPE)
        else:
            proc = subprocess.run(["makedumpfile"] + args + [str(elf_path), str(tmp)],
                                  capture_output=True)
            # -L exits non-zero once the limit is hit but leaves a valid file.
            if proc.returncode and "-L" not in args:
                raise AssertionError(proc.stderr.decode()[-500:])
        tmp.rename(out)
    return out


VARIANTS = [
    (["-l", "-d", "31"], "lzo-d31", dict(compression="lzo", zero=True)),
    (["-c", "-d", "1"], "zlib-d1", dict(compression="zlib", zero=True)),
    (["-d", "31"], "raw-d31", dict(compression="none", zero=True)),
    (["-c", "-d", "30"], "zlib-d30", dict(compression="zlib", zero=False)),
    (["-F", "-l", "-d", "31"], "lzo-d31-flat", dict(compression="lzo", zero=True)),
    (["-c", "-d", "31", "-L", "3000000"], "zlib-d31-L3M", dict(compression="zlib", zero=True,
                                                              incomplete=True)),
]


@needs_shared
@pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
@pytest.mark.parametrize("args,name,want", VARIANTS, ids=[v[1] for v in VARIANTS])
def test_makedumpfile_variants(elf, elf_zero_pfns, args, name, want):
    path = variant(args, name)
    r = FlatReader(str(path)) if "-F" in args else KdumpReader(str(path))
    assert r.compression == want["compression"]
    assert r.dump_level == int(args[args.index("-d") + 1])
    assert r.incomplete == want.get("incomplete", False)
    st = check_against_elf(r, elf, elf_zero_pfns, zero_dedup=want["zero"])
    assert (PageStatus.ZERO in st) == want["zero"]
    assert (PageStatus.LOST in st) == want.get("incomplete", False)
    if r.dump_level == 1:
        assert PageStatus.EXCLUDED not in st       # only zero pages were dropped
    if want.get("incomplete"):
        lost = [p for p, s in enumerate(st) if s is PageStatus.LOST]
        with pytest.raises(PageUnavailable):
            r.read_page(lost[0])


LIBKDUMPFILE_SCRIPT = r"""
import json, sys, zlib
import kdumpfile
k = kdumpfile.kdumpfile(sys.argv[1])
maxpfn = k.attr['max_pfn']
ram = k.attr['memory.pagemap'].get_bits(0, maxpfn - 1)
out = {'max_pfn': maxpfn, 'ram': bytes(ram).hex(), 'pages': {}}
for pfn in range(maxpfn):
    try:
        data = k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * 4096, 4096)
        out['pages'][pfn] = zlib.crc32(bytes(data))
    except kdumpfile.exceptions.NoDataException:
        pass
    except kdumpfile.exceptions.CorruptException:
        out['pages'][pfn] = 'corrupt'
json.dump(out, sys.stdout)
"""


def libkdumpfile_view(path):
    # A separate process: libkdumpfile aborts on some inputs, which would take
    # pytest down with it.  Never hand it split sets or flattened files.
    py = "/usr/bin/python3"
    if subprocess.run([py, "-c", "import kdumpfile"], capture_output=True).returncode:
        pytest.skip("python3-libkdumpfile is not installed")
    proc = subprocess.run([py, "-c", LIBKDUMPFILE_SCRIPT, str(path)], capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    return json.loads(proc.stdout)


def compare_with_libkdumpfile(r, path):
    ref = libkdumpfile_view(path)
    assert ref["max_pfn"] == r.max_pfn
    ram = bytes.fromhex(ref["ram"])
    pages = {int(k): v for k, v in ref["pages"].items()}
    pfns = range(r.max_pfn)
    st = r.page_statuses(pfns)
    readable = [p for p, s in zip(pfns, st) if s.readable]
    got = r.read_pages(readable)
    for pfn, s in zip(pfns, st):
        in_ram = bool(ram[pfn >> 3] >> (pfn & 7) & 1)
        lk = pages.get(pfn)
        if s.readable:
            assert lk == zlib.crc32(got[pfn]), pfn
        elif s is PageStatus.LOST:
            assert lk == "corrupt", pfn        # libkdumpfile: "Wrong page size: 0"
        else:
            assert lk is None, pfn
            assert in_ram == (s is PageStatus.EXCLUDED), pfn
    return st


@needs_shared
@pytest.mark.parametrize("fname", ["d31-zlib.kdump", "d31-zlib-truncated.kdump"])
def test_statuses_agree_with_libkdumpfile(fname):
    path = scenario_dir("aer-uncor") / fname
    st = compare_with_libkdumpfile(KdumpReader(str(path)), path)
    assert (PageStatus.LOST in st) == ("truncated" in fname)


@needs_shared
@pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
def test_lzo_variant_agrees_with_libkdumpfile():
    path = variant(*VARIANTS[0][:2])
    compare_with_libkdumpfile(KdumpReader(str(path)), path)


@needs_shared
def test_pci_crash_pagemap_page_is_readable():
    """The page VMCOREINFO's PCI_CRASH_PAGEMAP points at is in every d31 variant."""
    for fname in ("d31-zlib.kdump", "d31-snappy.kdump", "d31-zstd.kdump", "d31-zlib.flat"):
        r = open_any([scenario_dir("aer-uncor") / fname])
        addr = int(r.vmcoreinfo["PCI_CRASH_PAGEMAP"], 16)
        assert r.page_status(addr // PS) is PageStatus.PRESENT
        assert len(r.read_phys(addr, 64)) == 64


# ---------------------------- corrupted copies of a real dump (was tests/crash_ext_c/test_kdump.py)

@pytest.fixture(scope="module")
def real():
    src = scenario_dir("aer-uncor") / "d31-zlib.kdump"
    r = KdumpReader(str(src))
    part = r.parts[0]
    pfns = range(r.max_pfn)
    st = r.page_statuses(pfns)
    present = [p for p, s in zip(pfns, st) if s is PageStatus.PRESENT]
    cls = r._classify(present)
    compressed = [p for p in present if cls[p][2][2] & 1]
    info = dict(src=src, bs=part.block_size, bitmap_off=part.bitmap_off,
                desc_off=part.desc_off, present=present, compressed=compressed,
                desc=cls, size=part.size,
                pagemap_pfn=int(r.vmcoreinfo["PCI_CRASH_PAGEMAP"], 16) // part.block_size)
    info["ref"] = r.read_pages(present[:200])
    return info


def copy(tmp_path, real, name="c.kdump"):
    dst = tmp_path / name
    shutil.copyfile(real["src"], dst)
    dst.chmod(0o644)
    return dst


def expect_open_error(path, offset=None):
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(str(path))
    msg = str(exc.value)
    assert str(path) in msg and "offset 0x" in msg and "\n" not in msg
    if offset is not None:
        assert exc.value.offset == offset, msg
    return exc.value


@needs_shared
def test_truncated_in_header(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.truncate(300)
    expect_open_error(p, 300)


@needs_shared
def test_truncated_in_sub_header(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.truncate(real["bs"] + 40)
    expect_open_error(p, real["bs"])


@needs_shared
def test_truncated_in_bitmap(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.truncate(real["bitmap_off"] + 5000)
    err = expect_open_error(p, 436)
    assert "bitmap" in str(err)


@needs_shared
def test_flipped_magic_of_a_real_dump(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.write(b"KDUMQ")
    expect_open_error(p, 0)


@needs_shared
def test_truncated_in_descriptor_table(tmp_path, real):
    p = copy(tmp_path, real)
    cut = real["desc_off"] + 24 * 3000 + 7
    with open(p, "r+b") as f:
        f.truncate(cut)
    r = KdumpReader(str(p))
    late = real["present"][-1]
    assert r.page_status(late) is PageStatus.LOST
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(late)
    assert exc.value.path == str(p) and exc.value.offset == real["desc"][late][3]
    assert exc.value.offset >= cut - 24


@needs_shared
def test_descriptor_past_eof_in_a_real_dump(tmp_path, real):
    p = copy(tmp_path, real)
    victim = real["pagemap_pfn"]
    pos = real["desc"][victim][3]
    with open(p, "r+b") as f:
        f.seek(pos)
        f.write(struct.pack("<q", real["size"] + 123456))
    r = KdumpReader(str(p))
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(victim)
    assert exc.value.offset == pos and str(p) in str(exc.value)
    others = [q for q in real["present"][:200] if q != victim]
    got = r.read_pages(others)
    assert all(got[q] == real["ref"][q] for q in others)


@needs_shared
def test_garbled_compressed_page(tmp_path, real):
    p = copy(tmp_path, real)
    victim = real["compressed"][len(real["compressed"]) // 2]
    off, size, flags, _ = real["desc"][victim][2]
    with open(p, "r+b") as f:
        f.seek(off)
        f.write(bytes((i * 37 + 11) & 0xff for i in range(min(size, 64))))
    r = KdumpReader(str(p))
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(victim)
    assert exc.value.offset == off and ("page 0x%x" % victim) in str(exc.value)
    got = r.read_pages(real["present"][:200] + [victim])
    assert isinstance(got[victim], DumpFormatError)
    assert all(got[q] == real["ref"][q] for q in real["present"][:200] if q != victim)


@needs_shared
def test_excluded_page_is_page_unavailable_not_format_error(real):
    r = KdumpReader(str(real["src"]))
    excluded = next(p for p in range(r.max_pfn) if r.page_status(p) is PageStatus.EXCLUDED)
    with pytest.raises(PageUnavailable):
        r.read_page(excluded)


PAGES = {p: page(p) for p in (1, 2, 5, 9, 30, 31, 70)}


PAGES[3] = bytes(4096)


NOTE = elf_note(b"LINUX", 0x700, b"nic".ljust(44, b"\0") + b"D" * 20)


BLOB, LAY = build_kdump(PAGES, max_mapnr=100, eraseinfo=b"erase x\n", note=NOTE)


# Offsets worth hitting: header fields, sub-header, bitmaps, descriptors, data.
HOT = sorted(set(list(range(0, 16)) + list(range(404, 470)) + list(range(4096, 4400))
                 + [LAY.bitmap_off + i for i in range(16)]
                 + [LAY.bitmap_off + LAY.half + i for i in range(16)]
                 + list(range(LAY.desc_off, LAY.desc_off + 24 * 9))
                 + list(range(LAY.data_off, LAY.data_off + 64))))


# -------------------------------------- hypothesis-mutated files (was tests/crash_ext_c/test_kdump.py)

def exercise(reader):
    assert isinstance(reader.device_dumps, list)
    pfns = list(range(-1, 130))
    st_ = reader.page_statuses(pfns)
    assert len(st_) == len(pfns)
    got = reader.read_pages(pfns)
    for v in got.values():
        assert isinstance(v, (bytes, PcicrashError))
        if isinstance(v, bytes):
            assert len(v) == reader.page_size
    reader.close()


mutation = st.lists(st.tuples(st.sampled_from(HOT), st.integers(0, 255)), min_size=1,
                    max_size=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(edits=mutation, cut=st.one_of(st.none(), st.integers(0, len(BLOB))))
def test_mutated_kdump_raises_only_pcicrash_errors(tmp_path, edits, cut):
    b = bytearray(BLOB)
    for off, val in edits:
        b[off] = val
    if cut is not None:
        del b[cut:]
    p = tmp_path / "m.kdump"
    p.write_bytes(bytes(b))
    try:
        r = KdumpReader(str(p))
    except PcicrashError as exc:
        assert str(p) in str(exc) and "\n" not in str(exc)
        return
    exercise(r)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(4096, 4096 + 2000), st.integers(0, 255)),
                      min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 50000)))
def test_mutated_flat_raises_only_pcicrash_errors(tmp_path, edits, cut):
    b = bytearray(flatten(BLOB, chunk=700, shuffle=True, seed=4))
    for off, val in edits:
        if off < len(b):
            b[off] = val
    if cut is not None:
        del b[cut:]
    p = tmp_path / "m.flat"
    p.write_bytes(bytes(b))
    try:
        r = FlatReader(str(p))
    except PcicrashError as exc:
        assert str(p) in str(exc)
        return
    exercise(r)


def test_header_fields_at_extremes(tmp_path):
    """Every 32-bit header field at 0, 1, 0x7fffffff and 0xffffffff."""
    for off in range(424, 464, 4):
        for val in (0, 1, 0x7fffffff, 0xffffffff):
            b = bytearray(BLOB)
            struct.pack_into("<I", b, off, val)
            p = tmp_path / "x.kdump"
            p.write_bytes(bytes(b))
            try:
                r = KdumpReader(str(p))
            except PcicrashError:
                continue
            exercise(r)


# ------------------------------------------------------- --split sets (was tests/crash_ext_c/test_kdump.py)

def whole():
    pages = {p: page(p) for p in range(0, 400, 3)}
    pages[9] = bytes(PS)
    pages[300] = bytes(PS)
    return pages


def parts(tmp_path, bounds, *, pages=None, ram=None, **kw):
    pages = pages or whole()
    paths = []
    for i, (lo, hi) in enumerate(bounds):
        blob, _ = build_kdump(pages, max_mapnr=400, split=(lo, hi), ram=ram, **kw)
        p = tmp_path / ("dump.%d" % (i + 1))
        p.write_bytes(blob)
        paths.append(str(p))
    return paths


BOUNDS = [(0, 100), (100, 250), (250, 400)]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_parts_in_any_order(tmp_path, order):
    paths = parts(tmp_path, BOUNDS)
    r = KdumpReader([paths[i] for i in order])
    pages = whole()
    assert [(p.start_pfn, p.end_pfn) for p in r.parts] == BOUNDS
    assert r.split_parts[0]["path"] == paths[0]
    got = r.read_pages(range(400))
    for pfn in range(400):
        if pfn in pages:
            assert got[pfn] == pages[pfn]
        else:
            assert isinstance(got[pfn], PageUnavailable)
    assert r.page_status(9) is PageStatus.ZERO and r.page_status(300) is PageStatus.ZERO
    assert not r.notes


def test_missing_part(tmp_path):
    paths = parts(tmp_path, BOUNDS, ram=range(390))
    r = KdumpReader([paths[2], paths[0]])
    assert r.page_status(102) is PageStatus.NOT_IN_PART      # stored, in the absent part
    assert r.page_status(101) is PageStatus.EXCLUDED         # the bitmaps still tell
    assert r.page_status(3) is PageStatus.PRESENT
    assert r.page_status(395) is PageStatus.OUTSIDE          # not RAM
    assert any("0x64-0xfa" in n and "not given" in n for n in r.notes)
    with pytest.raises(PageUnavailable) as exc:
        r.read_page(102)
    assert exc.value.status is PageStatus.NOT_IN_PART
    assert r.read_page(252) == page(252)


def test_single_part_alone(tmp_path):
    paths = parts(tmp_path, BOUNDS)
    r = KdumpReader(paths[1])
    assert r.page_status(0) is PageStatus.NOT_IN_PART
    assert r.read_page(102) == page(102)


def test_overlapping_parts_name_both_files(tmp_path):
    paths = parts(tmp_path, [(0, 150), (100, 400)])
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(paths)
    msg = str(exc.value)
    assert paths[0] in msg and paths[1] in msg and "overlap" in msg


def test_same_part_twice(tmp_path):
    paths = parts(tmp_path, BOUNDS)
    with pytest.raises(DumpFormatError):
        KdumpReader([paths[0], paths[0]])


def test_parts_of_different_dumps(tmp_path):
    a = parts(tmp_path, BOUNDS)
    other, _ = build_kdump(whole(), max_mapnr=400, split=(100, 250), timestamp=1700000001)
    p = tmp_path / "other.2"
    p.write_bytes(other)
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader([a[0], str(p)])
    assert str(p) in str(exc.value) and a[0] in str(exc.value)


def test_whole_dump_mixed_with_part(tmp_path):
    a = parts(tmp_path, BOUNDS)
    blob, _ = build_kdump(whole(), max_mapnr=400)
    p = tmp_path / "whole.kdump"
    p.write_bytes(blob)
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader([a[0], str(p)])
    assert "split" in str(exc.value)


def test_bad_split_range(tmp_path):
    blob, _ = build_kdump(whole(), max_mapnr=400, split=(300, 500))
    p = tmp_path / "bad.1"
    p.write_bytes(blob)
    with pytest.raises(DumpFormatError) as exc:
        KdumpReader(str(p))
    assert str(p) in str(exc.value) and "offset 0x" in str(exc.value)


@needs_shared
def test_real_pair_both_orders_equal_whole_dump():
    d = scenario_dir("aer-uncor")
    whole_r = KdumpReader(str(d / "d31-zlib.kdump"))
    pfns = range(whole_r.max_pfn)
    ref_st = whole_r.page_statuses(pfns)
    readable = [p for p, s in zip(pfns, ref_st) if s.readable]
    ref = whole_r.read_pages(readable)
    for order in ((1, 2), (2, 1)):
        r = KdumpReader([str(d / ("d31-zlib-split.%d" % i)) for i in order])
        assert len(r.parts) == 2 and r.parts[0].end_pfn == r.parts[1].start_pfn
        assert r.page_statuses(pfns) == ref_st
        assert r.read_pages(readable) == ref


@needs_shared
def test_real_part_alone_reports_the_other_as_missing():
    d = scenario_dir("aer-uncor")
    r = KdumpReader(str(d / "d31-zlib-split.2"))
    lo = r.parts[0].start_pfn
    assert lo > 0 and any("not given" in n for n in r.notes)
    whole_r = KdumpReader(str(d / "d31-zlib.kdump"))
    st = r.page_statuses(range(lo))
    ref = whole_r.page_statuses(range(lo))
    for a, b in zip(st, ref):
        assert a is (PageStatus.NOT_IN_PART if b.readable else b)


def make_split(n_parts, splitblock):
    """makedumpfile --split of the raw ELF into n parts (cached by command)."""
    elf = elf_vmcore()
    out = CACHE / "kdump-variants" / ("split-%d-sb%d" % (n_parts, splitblock))
    names = [out / ("part.%d" % (i + 1)) for i in range(n_parts)]
    if not all(p.exists() for p in names):
        out.mkdir(parents=True, exist_ok=True)
        for p in names:
            p.unlink(missing_ok=True)
        subprocess.run(["makedumpfile", "--split", "--splitblock-size", str(splitblock),
                        "-c", "-d", "31", str(elf)] + [str(p) for p in names],
                       check=True, capture_output=True)
    return names


@needs_shared
@pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
def test_real_three_way_split_reads_like_the_elf():
    from crash_ext_c.elf import ElfReader
    names = make_split(3, 4096)
    r = KdumpReader([str(p) for p in reversed(names)])
    assert len(r.parts) == 3 and not r.notes
    bounds = [(p.start_pfn, p.end_pfn) for p in r.parts]
    assert bounds[0][0] == 0 and bounds[-1][1] == r.max_pfn
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    elf = ElfReader(elf_vmcore())
    readable = [p for p, s in zip(range(r.max_pfn), r.page_statuses(range(r.max_pfn)))
                if s.readable]
    assert len(readable) > 1000
    got = r.read_pages(readable)
    ref = elf.read_pages(readable)
    assert all(got[p] == ref[p] for p in readable)
    # Without the middle part its pages become NOT_IN_PART, the others still read.
    r2 = KdumpReader([str(names[0]), str(names[2])])
    mid = [p for p in readable if bounds[1][0] <= p < bounds[1][1]]
    assert mid and set(r2.page_statuses(mid)) == {PageStatus.NOT_IN_PART}
    first = [p for p in readable if p < bounds[0][1]][:50]
    assert all(r2.read_page(p) == ref[p] for p in first)
