"""Corrupted copies of a real makedumpfile dump: exact error class, file and offset."""

import shutil
import struct

import pytest

from conftest import needs_shared, scenario_dir
from crash_ext_c.kdump import KdumpReader
from crash_ext_c.errors import DumpFormatError, PageUnavailable
from crash_ext_c.reader import PageStatus

pytestmark = needs_shared


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


def test_truncated_in_header(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.truncate(300)
    expect_open_error(p, 300)


def test_truncated_in_sub_header(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.truncate(real["bs"] + 40)
    expect_open_error(p, real["bs"])


def test_truncated_in_bitmap(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.truncate(real["bitmap_off"] + 5000)
    err = expect_open_error(p, 436)
    assert "bitmap" in str(err)


def test_flipped_magic(tmp_path, real):
    p = copy(tmp_path, real)
    with open(p, "r+b") as f:
        f.write(b"KDUMQ")
    expect_open_error(p, 0)


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


def test_descriptor_past_eof(tmp_path, real):
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


def test_excluded_page_is_page_unavailable_not_format_error(real):
    r = KdumpReader(str(real["src"]))
    excluded = next(p for p in range(r.max_pfn) if r.page_status(p) is PageStatus.EXCLUDED)
    with pytest.raises(PageUnavailable):
        r.read_page(excluded)
