"""load_capture through the real dump readers (open_dump) on the shipped dump files."""

import pytest

from tests.shared import SCENARIOS, dump_files, elf_vmcore, needs_shared, scenario_dir
from pykdump_ext.capture import load_capture
from tests.test_capture import fixture_reader

pytestmark = needs_shared


def open_dump(paths):
    from crash_ext_c.open import open_dump as od
    return od([str(p) for p in paths])


def same_capture(a, b):
    assert (a.state, a.layout, a.reason) == (b.state, b.layout, b.reason)
    assert [(r.bdf, r.offset, r.config) for r in a.records] == \
        [(r.bdf, r.offset, r.config) for r in b.records]
    if a.pagemap:
        assert (a.pagemap.page_addrs, a.pagemap.buf_offset) == \
            (b.pagemap.page_addrs, b.pagemap.buf_offset)


@pytest.mark.parametrize("name", SCENARIOS)
def test_dump_file_equals_the_extracted_fixture(name):
    """The committed fixture pages (read with libkdumpfile) and our readers agree."""
    with open_dump([scenario_dir(name) / "d31-zlib.kdump"]) as r:
        same_capture(load_capture(r), load_capture(fixture_reader(name)))


@pytest.mark.parametrize("paths", dump_files("aer-uncor") if (scenario_dir("aer-uncor")).exists()
                         else [], ids=lambda p: "+".join(x.name for x in p))
def test_every_format_of_aer_uncor_gives_the_same_capture(paths):
    ref = load_capture(fixture_reader("aer-uncor"))
    with open_dump(paths) as r:
        same_capture(load_capture(r), ref)


def test_raw_elf_vmcore_gives_the_same_capture():
    with open_dump([elf_vmcore("aer-uncor")]) as r:
        same_capture(load_capture(r), load_capture(fixture_reader("aer-uncor")))


def test_lone_split_part_without_the_pagemap_is_partial():
    with open_dump([scenario_dir("aer-uncor") / "d31-zlib-split.2"]) as r:
        cap = load_capture(r)
    assert cap.state == "partial"
    assert "pagemap" in cap.reason and "split part" in cap.reason


def test_real_dump_cut_inside_the_buffer_is_partial(tmp_path):
    """A kdump-compressed file cut short (disk full) in the middle of the buffer's page data:
    the records before the cut decode and equal the full capture, the rest are named."""
    src = scenario_dir("aer-uncor") / "d31-zlib.kdump"
    full = load_capture(fixture_reader("aer-uncor"))
    pfn = full.pagemap.page_addrs[6] // 4096
    # file offset of that page's data, from the dump's own page descriptor (KdumpReader
    # internals: parts / descriptor_indices / descriptors)
    with open_dump([src]) as r:
        part = r.parts[0]
        idx = part.descriptor_indices([pfn])[pfn]
        cut = part.descriptors([idx])[idx][1][0]
    dst = tmp_path / "cut.kdump"
    with open(src, "rb") as f:
        dst.write_bytes(f.read(cut))
    with open_dump([dst]) as r:
        cap = load_capture(r)
    assert cap.state == "partial"
    assert [m[0] for m in cap.missing] == list(range(6, 12))
    assert 0 < len(cap.records) < len(full.records)
    assert [(x.bdf, x.config) for x in cap.records] == \
        [(x.bdf, x.config) for x in full.records[:len(cap.records)]]
    assert cap.untrusted and all(x.offset + 8 > 6 * 4096 - 8 or "page 6" in x.note
                                 for x in cap.untrusted)
    assert any("end of the buffer" in p for p in cap.problems)
