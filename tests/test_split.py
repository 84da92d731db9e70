"""Split sets (makedumpfile --split): byte-built parts, then the real pair."""

import itertools
import subprocess

import pytest

from conftest import CACHE, elf_vmcore, have_tool, needs_shared, scenario_dir
from crash_ext_c.kdump import KdumpReader
from kdump_bytes import build_kdump, page
from crash_ext_c.errors import DumpFormatError, PageUnavailable
from crash_ext_c.reader import PageStatus

PS = 4096


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


# ---------------------------------------------------------------- real dumps

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
