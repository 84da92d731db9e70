"""Random corruption of small kdump and flattened files: only PcicrashError may come out."""

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crash_ext_c.flat import FlatReader
from crash_ext_c.kdump import KdumpReader
from kdump_bytes import build_kdump, elf_note, flatten, page
from crash_ext_c.errors import PcicrashError

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
