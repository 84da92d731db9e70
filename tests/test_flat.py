"""FlatReader / FlatFile: flattened kdump files read in place."""

import struct
import subprocess

import pytest

from conftest import have_tool, needs_shared, scenario_dir
from crash_ext_c.flat import FlatFile, FlatReader, is_flattened
from crash_ext_c.kdump import KdumpReader
from kdump_bytes import build_kdump, flat_records, flatten, page
from crash_ext_c.errors import DumpFormatError
from crash_ext_c.reader import PageStatus

PS = 4096


def small_kdump():
    pages = {p: page(p) for p in range(0, 300, 2)}
    pages[4] = bytes(PS)
    return build_kdump(pages, max_mapnr=320)[0], pages


def write(tmp_path, name, blob):
    p = tmp_path / name
    p.write_bytes(blob)
    return str(p)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_records_rebuild_the_file(tmp_path, seed):
    blob, pages = small_kdump()
    p = write(tmp_path, "a.flat", flatten(blob, seed=seed))
    f = FlatFile(p)
    assert f.size == len(blob) and f.records > 3
    assert f.pread(0, len(blob)) == blob
    assert f.pread(len(blob) - 10, 100) == blob[-10:]
    r = FlatReader(p)
    assert r.format.startswith("flattened kdump-compressed")
    assert all(r.read_page(q) == d for q, d in pages.items())
    assert r.page_status(4) is PageStatus.ZERO
    assert r.page_statuses(range(320)) == KdumpReader(write(tmp_path, "a.kdump", blob)) \
        .page_statuses(range(320))


def test_overlapping_records_later_wins(tmp_path):
    blob = bytes(range(256)) * 40
    recs = [(0, blob), (100, b"A" * 50), (120, b"B" * 10), (90, b"C" * 15), (5000, b"D" * 3)]
    p = write(tmp_path, "o.flat", flat_records(recs))
    f = FlatFile(p)
    want = bytearray(blob)
    for off, data in recs:
        want[off:off + len(data)] = data
    assert f.pread(0, len(want)) == bytes(want)
    assert any("overlap" in n for n in f.notes)


def test_holes_read_as_zeros(tmp_path):
    p = write(tmp_path, "h.flat", flat_records([(0, b"x" * 10), (100, b"y" * 10)]))
    f = FlatFile(p)
    assert f.size == 110
    assert f.pread(0, 110) == b"x" * 10 + bytes(90) + b"y" * 10


@needs_shared
@pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
def test_overlap_and_holes_agree_with_makedumpfile_R(tmp_path):
    """makedumpfile -R is the reference for what a flattened stream means."""
    blob = bytes(range(256)) * 40
    recs = [(0, blob), (100, b"A" * 50), (120, b"B" * 10), (90, b"C" * 15),
            (20000, b"D" * 30), (19990, b"E" * 20)]
    p = write(tmp_path, "o.flat", flat_records(recs))
    out = tmp_path / "rebuilt"
    with open(p, "rb") as stdin:
        subprocess.run(["makedumpfile", "-R", str(out)], stdin=stdin, check=True,
                       capture_output=True)
    ref = out.read_bytes()
    f = FlatFile(p)
    assert f.size == len(ref)
    assert f.pread(0, f.size) == ref


def test_is_flattened():
    assert is_flattened(b"makedumpfile\0\0\0\0")
    assert not is_flattened(b"KDUMP   ")


# ------------------------------------------------------------------ bad input

def test_bad_signature(tmp_path):
    p = write(tmp_path, "s.flat", b"makedumpfilX" + bytes(5000))
    with pytest.raises(DumpFormatError) as exc:
        FlatReader(p)
    assert p in str(exc.value) and "offset 0x0" in str(exc.value)


def test_bad_type(tmp_path):
    p = write(tmp_path, "t.flat", flat_records([(0, b"x")], ftype=2))
    with pytest.raises(DumpFormatError) as exc:
        FlatFile(p)
    assert exc.value.offset == 16 and exc.value.path == p


def test_short_header(tmp_path):
    p = write(tmp_path, "h.flat", flat_records([])[:100])
    with pytest.raises(DumpFormatError) as exc:
        FlatFile(p)
    assert exc.value.path == p and exc.value.offset == 100


@pytest.mark.parametrize("off,size", [(-5, 10), (10, 0), (10, -3), ((1 << 63) - 1, 1),
                                      (-1, 5)])
def test_bad_record_header(tmp_path, off, size):
    blob = flat_records([(0, b"abc")], end=False) + struct.pack(">qq", off, size) + b"zz"
    p = write(tmp_path, "r.flat", blob)
    # damage of one record costs only what comes after it: the records before are kept
    f = FlatFile(p)
    assert f.records == 1 and f.pread(0, 3) == b"abc"
    assert f.cut_at == 4096 + 16 + 3
    (note,) = f.notes
    assert "%s, offset 0x%x: record header (offset %d, size %d)" % (p, 4096 + 16 + 3, off, size) \
        in note and "the records before it are read" in note


def test_record_past_eof(tmp_path):
    blob = flat_records([(0, b"abc")], end=False) + struct.pack(">qq", 100, 5000) + b"zz"
    p = write(tmp_path, "r.flat", blob)
    # a stream cut short (full disk) is kept up to the cut, with a note saying where
    f = FlatFile(p)
    assert f.cut_at == 4096 + 19
    assert any("offset 0x%x" % (4096 + 19) in n and "past the end" in n for n in f.notes)
    assert f.pread(0, 3) == b"abc" and f.pread(100, 2) == b"zz"


def test_missing_end_record(tmp_path):
    blob, _ = small_kdump()
    flat = flatten(blob, shuffle=False)
    p = write(tmp_path, "e.flat", flat[:-16])
    f = FlatFile(p)
    assert f.cut_at == len(flat) - 16
    assert any("offset 0x%x" % (len(flat) - 16) in n and "end record" in n for n in f.notes)
    assert f.pread(0, len(blob)) == blob


def test_flattened_kdump_errors_say_where_in_the_flat_file(tmp_path):
    pages = {p: page(p) for p in range(1, 20)}
    blob, lay = build_kdump(pages, max_mapnr=64)
    bad = bytearray(blob)
    bad[lay.page_off[9]:lay.page_off[9] + 64] = bytes(range(64))
    p = write(tmp_path, "g.flat", flatten(bytes(bad), chunk=1000, shuffle=False))
    r = FlatReader(p)
    with pytest.raises(DumpFormatError) as exc:
        r.read_page(9)
    msg = str(exc.value)
    assert p in msg and "offset 0x%x" % lay.page_off[9] in msg and "flattened-file offset" in msg
    assert r.read_page(10) == pages[10]


# ------------------------------------------------------------------ real dumps

@needs_shared
def test_real_flat_equals_kdump():
    d = scenario_dir("aer-uncor")
    f = FlatReader(str(d / "d31-zlib.flat"))
    k = KdumpReader(str(d / "d31-zlib.kdump"))
    pfns = range(k.max_pfn)
    st = f.page_statuses(pfns)
    assert st == k.page_statuses(pfns)
    readable = [p for p, s in zip(pfns, st) if s.readable]
    assert f.read_pages(readable) == k.read_pages(readable)
    assert f.vmcoreinfo == k.vmcoreinfo and f.vmcoreinfo["PCI_CRASH_VERSION"] == "1"


@needs_shared
@pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
def test_real_flat_matches_makedumpfile_R(tmp_path):
    src = scenario_dir("aer-uncor") / "d31-zlib.flat"
    out = tmp_path / "rebuilt.kdump"
    with open(src, "rb") as stdin:
        subprocess.run(["makedumpfile", "-R", str(out)], stdin=stdin, check=True,
                       capture_output=True)
    ref = out.read_bytes()
    f = FlatFile(src)
    assert f.size == len(ref) and f.pread(0, f.size) == ref


from hypothesis import given, settings, HealthCheck  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 400)), min_size=1, max_size=40))
def test_random_overlaps_match_a_byte_model(tmp_path, recs):
    """Whatever the overlaps, every byte is the last record's (the -R model)."""
    model = bytearray()
    records = []
    for n, (off, size) in enumerate(recs):
        data = bytes((n * 7 + i) & 0xff or 1 for i in range(size))
        records.append((off, data))
        if len(model) < off + size:
            model += bytes(off + size - len(model))
        model[off:off + size] = data
    p = write(tmp_path, "r.flat", flat_records(records))
    f = FlatFile(p)
    assert f.size == len(model)
    assert f.pread(0, f.size) == bytes(model)
    assert f.pread(17, 501) == bytes(model[17:518])


def test_many_small_overlapping_records(tmp_path):
    """Tens of thousands of overlapping records (each covers part of the last)."""
    recs = [(i * 3, bytes([i & 0xff]) * 8) for i in range(40000)]
    p = write(tmp_path, "many.flat", flat_records(recs))
    f = FlatFile(p)
    assert f.size == 39999 * 3 + 8
    assert f.pread(0, 6) == bytes([0, 0, 0, 1, 1, 1])
    assert f.pread(f.size - 8, 8) == bytes([39999 & 0xff]) * 8
