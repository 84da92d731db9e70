"""makedumpfile_filter.check: every page status and eraseinfo rule gives the right finding and exit code.

Synthetic memory (PageDictReader and tests/builders/ kdump files); the real
makedumpfile matrix is in tests/peers/test_makedumpfile.py.
"""

import json

import pytest

from makedumpfile_filter.check import check, erase_rules
from pykdump_ext.output import check_view
from crash_ext_c.errors import DumpFormatError
from crash_ext_c.reader import PageDictReader, PageStatus
from tests.builders.capture import fake_buffer, pci_crash_pages
from tests.builders.kdump import write_kdump

PS = 4096
BUF_PFNS = [0x300, 0x301, 0x302, 0x480, 0x481]      # 5 pages, scattered in two runs
PM_ADDR = 0x200 * PS + 0x380


def _memory(buffer=None, *, layout="A", statuses=None, zero_buffer=False, eraseinfo=None,
            dump_level=None, missing_ranges=None, drop=()):
    buf = buffer if buffer is not None else fake_buffer(5 * PS - 100, seed=3)
    if zero_buffer:
        buf = bytes(len(buf))
    pages, lines = pci_crash_pages(buf, layout, BUF_PFNS, pagemap_addr=PM_ADDR)
    info = {"PAGESIZE": str(PS)}
    info.update(l.split("=", 1) for l in lines)
    statuses = dict(statuses or {})
    for pfn in list(statuses) + list(drop):
        pages.pop(pfn, None)
    if zero_buffer:
        for pfn in BUF_PFNS:
            if pfn not in statuses:
                pages.pop(pfn, None)
                statuses[pfn] = PageStatus.ZERO
    r = PageDictReader(pages, vmcoreinfo=info, statuses=statuses, name="synthetic")
    r.eraseinfo = eraseinfo
    if dump_level is not None:
        r.dump_level = dump_level
    if missing_ranges is not None:
        r.missing_ranges = missing_ranges
    return r


def _buffer_findings(res):
    return {(f.index, f.pfn): f for f in res.findings if f.what == "buffer"}


def test_all_present_exit_0():
    res = check(_memory())
    assert res.exit_code == 0, check_view.lines(res)
    assert res.pages_stored == 5 and res.num_pages == 5 and res.layout == "A"
    assert res.findings == []
    assert check_view.lines(res)[0].startswith("synthetic: OK")
    json.dumps(check_view.to_json(res))


def test_layout_b_all_present():
    res = check(_memory(layout="B"))
    assert res.exit_code == 0 and res.layout == "B"


def test_zero_buffer_is_skipped_capture_and_harmless():
    res = check(_memory(zero_buffer=True))
    assert res.exit_code == 0
    assert res.pages_zero == 5 and res.pages_stored == 0
    assert "skipped" in res.verdict
    found = _buffer_findings(res)
    assert sorted(found) == [(i, p) for i, p in enumerate(BUF_PFNS)]
    assert all(f.status is PageStatus.ZERO and f.harmless for f in found.values())
    # runs of consecutive pfns share a line: 0x300-0x302 and 0x480-0x481
    runs = [l for l in check_view.lines(res) if l.startswith("buffer page")]
    assert len(runs) == 2 and "0x300-0x302" in runs[0] and "0x480-0x481" in runs[1]


def test_lost_pages_named_with_index_pfn_and_address():
    res = check(_memory(statuses={0x481: PageStatus.LOST, 0x480: PageStatus.LOST}))
    assert res.exit_code == 1
    found = _buffer_findings(res)
    assert set(found) == {(3, 0x480), (4, 0x481)}
    f = found[(4, 0x481)]
    assert f.status is PageStatus.LOST and not f.harmless and f.phys == 0x481 * PS
    assert "incomplete" in f.reason and "-L" in f.reason
    assert "2 of 5 buffer pages missing" in res.verdict and "LOST" in res.verdict


def test_not_in_part_names_the_missing_part_range():
    res = check(_memory(statuses={p: PageStatus.NOT_IN_PART for p in BUF_PFNS[3:]},
                        missing_ranges=[(0x400, 0x800)]))
    assert res.exit_code == 1
    for f in _buffer_findings(res).values():
        assert f.status is PageStatus.NOT_IN_PART
        assert "0x400-0x800" in f.reason


@pytest.mark.parametrize("level,word", [(31, "free"), (1, "zero"), (8, "other means"),
                                        (None, "unknown")])
def test_excluded_names_the_level_bit(level, word):
    res = check(_memory(statuses={0x301: PageStatus.EXCLUDED}, dump_level=level))
    assert res.exit_code == 1
    (f,) = _buffer_findings(res).values()
    assert f.status is PageStatus.EXCLUDED and f.index == 1 and word in f.reason


def test_zero_or_excluded_in_a_skipped_capture_is_harmless():
    st = {p: PageStatus.ZERO_OR_EXCLUDED for p in BUF_PFNS}
    res = check(_memory(zero_buffer=True, statuses=st))
    assert res.exit_code == 0 and res.pages_zero == 5
    assert all(f.status is PageStatus.ZERO_OR_EXCLUDED for f in res.findings)
    assert "skipped" in res.findings[0].reason


def test_zero_or_excluded_tail_of_captured_buffer():
    res = check(_memory(statuses={0x481: PageStatus.ZERO_OR_EXCLUDED}))
    assert res.exit_code == 0
    (f,) = res.findings
    assert f.harmless and "tail" in f.reason


def test_erased_page_status():
    res = check(_memory(statuses={0x302: PageStatus.ERASED},
                        eraseinfo="erase pci_crash_buffer size 16384\n"))
    assert res.exit_code == 1
    kinds = [(f.what, f.status) for f in res.findings]
    assert ("buffer", PageStatus.ERASED) in kinds
    assert ("eraseinfo", PageStatus.ERASED) in kinds


def test_pagemap_page_missing():
    res = check(_memory(statuses={0x200: PageStatus.LOST}))
    assert res.exit_code == 1
    (f,) = res.findings
    assert f.what == "pagemap" and f.pfn == 0x200 and f.status is PageStatus.LOST
    assert "pagemap" in res.verdict


def test_pagemap_crossing_page_second_page_missing():
    # pagemap near the end of its page: its addrs spill into pfn 0x201
    buf = fake_buffer(5 * PS - 100, seed=3)
    pages, lines = pci_crash_pages(buf, "A", BUF_PFNS, pagemap_addr=0x200 * PS + PS - 24)
    del pages[0x201]
    info = dict(l.split("=", 1) for l in lines)
    r = PageDictReader(pages, vmcoreinfo=info, statuses={0x201: PageStatus.EXCLUDED})
    res = check(r)
    assert res.exit_code == 1
    assert any(f.what == "pagemap" and f.pfn == 0x201 for f in res.findings)
    assert any(f.what == "buffer" and f.pfn is None for f in res.findings)


def test_no_pci_crash_lines_is_no_capture():
    r = PageDictReader({}, vmcoreinfo={"PAGESIZE": "4096"})
    res = check(r)
    assert res.exit_code == 1 and "no capture" in res.verdict


def test_bad_pagemap_magic():
    r = _memory()
    r.pages[0x200] = r.pages[0x200][:0x380] + b"XXXX" + r.pages[0x200][0x384:]
    r.eraseinfo = "erase pci_crash_pagemap\n"
    res = check(r)
    assert res.exit_code == 1 and "unusable" in res.verdict and "erase rule" in res.verdict


def test_unreadable_dump_exit_2():
    class Broken(PageDictReader):
        def page_statuses(self, pfns):
            raise DumpFormatError("bitmap cut short", path="x", offset=0x1000)
    r = _memory()
    b = Broken(r.pages, vmcoreinfo=r.vmcoreinfo, name="broken")
    res = check(b)
    assert res.exit_code == 2 and "bitmap cut short" in res.verdict


@pytest.mark.parametrize("text,touches", [
    ("erase pci_crash_buffer size 47024\n", True),
    ("erase pci_crash_buffer size pci_crash_buffer_size\n", True),
    ("erase pci_crash_pagemap\n", True),
    ("erase pci_crash_buffer nullify\n", False),
    ("erase pci_crash_buffer_size\n", False),
    ("erase init_uts_ns.name.nodename\n", False),
])
def test_eraseinfo_rules(text, touches):
    res = check(_memory(eraseinfo=text))
    (f,) = [f for f in res.findings if f.what == "eraseinfo"]
    assert (not f.harmless) is touches
    assert res.exit_code == (1 if touches else 0)
    assert res.eraseinfo == text


def test_erase_rules_parser():
    assert erase_rules("erase a.b size 10\nerase c nullify\nnoise\n erase d\n") == [
        ("a.b", "10", False), ("c", None, True), ("d", None, False)]


def test_synthetic_kdump_incomplete_and_split(tmp_path):
    """Through the real kdump reader: a cut dump and a split set with a part left out."""
    from crash_ext_c.open import open_dump
    buf = fake_buffer(5 * PS - 100, seed=4)
    pages, lines = pci_crash_pages(buf, "A", BUF_PFNS, pagemap_addr=PM_ADDR)
    pages[0x10] = b"\x11" * PS
    lines = ["CRASHTIME=1"] + lines
    # keep the first 4 stored pages (pfn order 0x10, 0x200, 0x300, 0x301): lose 0x302.. 0x481
    cut = write_kdump(str(tmp_path / "cut.kdump"), pages, max_pfn=0x1000,
                            vmcoreinfo_lines=lines, incomplete_after=4)
    res = check(open_dump([cut]))
    assert res.exit_code == 1
    lost = sorted(f.pfn for f in res.findings if f.status is PageStatus.LOST)
    assert lost == [0x302, 0x480, 0x481]
    parts = write_kdump(str(tmp_path / "split"), pages, max_pfn=0x1000,
                              vmcoreinfo_lines=lines, split=[0x400])
    assert check(open_dump(parts)).exit_code == 0
    res = check(open_dump([parts[0]]))
    assert res.exit_code == 1
    nip = [f for f in res.findings if f.status is PageStatus.NOT_IN_PART]
    assert sorted(f.pfn for f in nip) == [0x480, 0x481]
    assert all("0x400-0x1000" in f.reason for f in nip)


def test_eraseinfo_through_kdump_reader(tmp_path):
    """eraseinfo text (makedumpfile's format: 'erase <expr> size <n>' / 'nullify') in a
    kdump file reaches check(); a rule that follows pci_crash_buffer fails the check, and
    'X' bytes over the pagemap make it unusable."""
    from crash_ext_c.open import open_dump
    buf = fake_buffer(5 * PS - 100, seed=5)
    pages, lines = pci_crash_pages(buf, "A", BUF_PFNS, pagemap_addr=PM_ADDR)
    lines = ["CRASHTIME=1"] + lines
    text = "erase init_uts_ns.name.nodename size 65\nerase pci_crash_buffer nullify\n"
    ok = write_kdump(str(tmp_path / "ok.kdump"), pages, max_pfn=0x1000,
                           vmcoreinfo_lines=lines, eraseinfo=text)
    res = check(open_dump([ok]))
    assert res.exit_code == 0 and res.eraseinfo == text
    assert [f.harmless for f in res.findings if f.what == "eraseinfo"] == [True, True]
    assert any("nullifies" in l for l in check_view.lines(res))
    text = "erase pci_crash_buffer size %d\n" % (5 * PS - 100)
    hit = write_kdump(str(tmp_path / "hit.kdump"), pages, max_pfn=0x1000,
                            vmcoreinfo_lines=lines, eraseinfo=text)
    res = check(open_dump([hit]))
    assert res.exit_code == 1 and "erase rule" in res.verdict
    pm = dict(pages)
    off = PM_ADDR % PS
    pm[0x200] = pm[0x200][:off] + b"X" * 16 + pm[0x200][off + 16:]
    gone = write_kdump(str(tmp_path / "gone.kdump"), pm, max_pfn=0x1000,
                             vmcoreinfo_lines=lines, eraseinfo="erase pci_crash_pagemap size 16\n")
    res = check(open_dump([gone]))
    assert res.exit_code == 1 and "unusable" in res.verdict and "0x58585858" in res.verdict
    assert any(f.what == "eraseinfo" and not f.harmless for f in res.findings)


def test_no_vmcoreinfo_says_so():
    res = check(PageDictReader({}, vmcoreinfo={}))
    assert res.exit_code == 1 and "--vmcoreinfo" in res.verdict


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.captures import fixture_reader  # noqa: E402

ALL = list(PageStatus)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([0x200] + BUF_PFNS), st.sampled_from(ALL), max_size=6),
       st.booleans(), st.sampled_from(["A", "B"]))
def test_any_status_mix(statuses, zero, layout):
    """Whatever the reader says about each capture page, check() names every page that is
    not PRESENT exactly once and exits 1 exactly when a non-zero status hides one."""
    statuses = {p: s for p, s in statuses.items() if s is not PageStatus.PRESENT}
    res = check(_memory(layout=layout, statuses=statuses, zero_buffer=zero))
    assert res.exit_code in (0, 1)
    if 0x200 in statuses:           # pagemap page gone: nothing else can be looked at
        assert res.exit_code == 1 and res.findings[0].pfn == 0x200
        assert res.findings[0].status is statuses[0x200]
        return
    if "unusable" in res.verdict:   # read_pagemap rejected the addresses (e.g. OUTSIDE)
        assert res.exit_code == 1 and any(s is PageStatus.OUTSIDE for s in statuses.values())
        return
    want_missing = {p for p, s in statuses.items()
                    if s not in (PageStatus.ZERO, PageStatus.ZERO_OR_EXCLUDED)}
    named = {f.pfn: f for f in res.findings if f.what == "buffer" and f.pfn is not None}
    # an address outside the dump is a bad pointer: it costs its page only, named by index
    bad_ptr = {f.index for f in res.findings if f.what == "buffer" and f.damaged}
    for p in BUF_PFNS:
        s = statuses.get(p, PageStatus.ZERO if zero else PageStatus.PRESENT)
        if s is PageStatus.PRESENT:
            assert p not in named
        elif s is PageStatus.OUTSIDE:
            assert p not in named and BUF_PFNS.index(p) in bad_ptr
        else:
            assert named[p].status is s and named[p].index == BUF_PFNS.index(p)
    assert {p for p, f in named.items() if not f.harmless} | \
        {BUF_PFNS[i] for i in bad_ptr} == want_missing
    assert res.exit_code == (1 if want_missing else 0)
    assert len(check_view.lines(res)) >= 1


def test_check_wording_and_reasoning_behind_verbose():
    from tests.shared import run_cli
    rc, out, _ = run_cli(fixture_reader("legacy-unaligned"), "--check")
    assert rc == 0 and "1 buffer page (1880 bytes)" in out and "1 buffer pages" not in out
    assert "its buffer page are in the dump" in out
    assert "layout B rejected" not in out
    rc, out, _ = run_cli(fixture_reader("legacy-unaligned"), "--check", "-v")
    assert "layout B rejected" in out
