"""A kdump-compressed file cut short without makedumpfile marking it incomplete
(full disk, interrupted copy): missing pages are LOST, the capture partial, never corrupt."""

import pytest

from tests.shared import needs_shared, scenario_dir
from crash_ext_c.open import open_dump
from pykdump_ext.analysis.report import analyse
from makedumpfile_filter.check import check
from crash_ext_c.errors import DumpFormatError, PageUnavailable
from crash_ext_c.reader import PageStatus

pytestmark = needs_shared


def cut_copy(tmp_path, size):
    src = (scenario_dir("aer-uncor") / "d31-zlib.kdump").read_bytes()
    p = tmp_path / ("cut-%d.kdump" % size)
    p.write_bytes(src[:size])
    return p


def test_cut_before_pagemap_is_partial_with_a_note(tmp_path):
    p = cut_copy(tmp_path, 1_000_000)
    with open_dump([str(p)]) as r:
        assert r.page_status(0xa03) is PageStatus.LOST
        with pytest.raises(PageUnavailable) as exc:
            r.read_page(0xa03)
        # Still a format error naming file, offset and expectation, for callers that want one.
        assert isinstance(exc.value, DumpFormatError)
        assert str(p) in str(exc.value) and "offset 0x" in str(exc.value)
        assert "expected page data inside the file" in str(exc.value)
        rep = analyse(r, names=None)
        assert rep.capture.state == "partial"
        assert any("cut short" in n and "1000000" in n for n in r.notes)
        res = check(r)
        assert res.exit_code == 1
        assert any(f.status is PageStatus.LOST for f in res.findings)


def test_cut_after_buffer_keeps_the_whole_capture(tmp_path):
    p = cut_copy(tmp_path, 1_290_000)
    with open_dump([str(p)]) as r:
        rep = analyse(r, names=None)
        assert rep.capture.state == "captured" and len(rep.capture.records) == 18
        assert check(r).exit_code == 0
