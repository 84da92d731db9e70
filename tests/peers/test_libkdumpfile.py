"""Our readers vs libkdumpfile (the real peer) on the same files, pages and statuses.

libkdumpfile runs in a child process (the system python3 has its bindings):
0.5.1 aborts the whole process on some inputs, so it NEVER gets a flattened
file or the shared split pair, and a crash of the child fails one test only.

Status correspondence: our PRESENT <-> libkdumpfile returns the same bytes;
ZERO <-> it returns zeros (the shared zero page); EXCLUDED, OUTSIDE and
ZERO_OR_EXCLUDED (ELF tails) <-> NoDataException; LOST (incomplete dump)
<-> CorruptException or NoDataException.
"""

import hashlib
import os
import random

import pytest

from tests.shared import (SCENARIOS, capture_pfns, elf_vmcore, make_e_dump, needs_peer, needs_shared,
                         peer_read, scenario_dir)
from tests.builders.capture import fake_buffer, pci_crash_pages, scattered_capture_dump, scattered_pfns
from tests.builders.elf import write_elf
from tests.builders.kdump import write_kdump
from crash_ext_c.open import open_dump
from crash_ext_c.reader import PageStatus as S


ZEROS_SHA = hashlib.sha1(bytes(4096)).hexdigest()


def _before_elf_load(reader, pfn):
    """libkdumpfile 0.5.1 quirk (seen on the real raw vmcore: pfns 0, 0xff, 0x13fff): it
    returns zeros for the page right before a PT_LOAD's first page instead of no data."""
    segs = getattr(reader, "segments", None)
    return bool(segs) and any(s.paddr // reader.page_size == pfn + 1 for s in segs)


def compare(reader, peer, pfns):
    """Assert page-by-page agreement; return a count of statuses seen."""
    got = reader.read_pages(pfns)
    seen = {}
    for pfn in pfns:
        st = reader.page_status(pfn)
        seen[st] = seen.get(st, 0) + 1
        kind, val = peer["pages"][pfn]
        where = "%s page 0x%x (%s): libkdumpfile says %s %s" % (reader.name, pfn, st.value, kind, val)
        if st is S.PRESENT:
            assert kind == "data" and val == hashlib.sha1(got[pfn]).hexdigest(), where
        elif st is S.ZERO:
            assert kind == "data" and val == hashlib.sha1(bytes(reader.page_size)).hexdigest(), where
        elif st is S.LOST:
            assert kind == "error" and val in ("CorruptException", "NoDataException"), where
        elif st is S.OUTSIDE and _before_elf_load(reader, pfn):
            assert (kind, val) in (("data", ZEROS_SHA), ("error", "NoDataException")), where
        else:
            assert st in (S.EXCLUDED, S.OUTSIDE, S.ZERO_OR_EXCLUDED), where
            assert kind == "error" and val == "NoDataException", where
    return seen


def sample(reader, seed, n_present=300, n_other=150):
    rng = random.Random(seed)
    statuses = reader.page_statuses(range(reader.max_pfn))
    by = {}
    for p, s in enumerate(statuses):
        by.setdefault(s, []).append(p)
    pfns = set(capture_pfns(reader))
    pfns.update(rng.sample(by.get(S.PRESENT, []), min(n_present, len(by.get(S.PRESENT, [])))))
    for st, lst in by.items():
        if st is not S.PRESENT:
            pfns.update(rng.sample(lst, min(n_other // 3, len(lst))))
    return sorted(pfns)


def real_files():
    out = []
    for sc in SCENARIOS:
        out.append((sc, "d31-zlib.kdump"))
    for name in ("d31-zlib-truncated.kdump", "d31-snappy.kdump", "d31-zstd.kdump"):
        out.append(("aer-uncor", name))
    return out


@needs_shared
@needs_peer
@pytest.mark.parametrize("scenario,name", real_files(), ids=lambda x: x)
def test_real_kdump_files_agree_with_libkdumpfile(scenario, name):
    path = scenario_dir(scenario) / name
    with open_dump([path]) as r:
        pfns = sample(r, seed=hash(name) & 0xFFFF)
        peer = peer_read(path, pfns, r.page_size)
        assert peer["max_pfn"] == r.max_pfn
        assert peer["vmcoreinfo"] == r.vmcoreinfo
        seen = compare(r, peer, pfns)
        assert seen.get(S.PRESENT, 0) >= 300 and seen.get(S.EXCLUDED)
        if "truncated" in name:
            assert seen.get(S.LOST)


@needs_shared
@needs_peer
@pytest.mark.parametrize("which", ["raw", "E-d31"])
def test_real_elf_files_agree_with_libkdumpfile(which):
    path = elf_vmcore("aer-uncor") if which == "raw" else make_e_dump(31)
    with open_dump([path]) as r:
        pfns = sample(r, seed=5)
        # pages only partly inside a PT_LOAD: libkdumpfile reads the covered part
        ps = r.page_size
        partial = {b // ps for s in r.segments for b in (s.paddr, s.paddr + s.memsz) if b % ps}
        pfns = [p for p in pfns if p not in partial]
        peer = peer_read(path, pfns, ps)
        assert peer["max_pfn"] == r.max_pfn
        seen = compare(r, peer, pfns)
        assert seen.get(S.PRESENT, 0) >= 300 and seen.get(S.OUTSIDE)
        if which != "raw":
            assert seen.get(S.ZERO_OR_EXCLUDED)


# -- synthetic files (no ../shared needed) ----------------------------------------

def _synthetic_pages(max_pfn, seed):
    rng = random.Random(seed)
    buf = fake_buffer(40 * 4096 - 123, seed=seed)
    pfns = scattered_pfns(40, max_pfn, seed=seed, avoid=range(10, 13))
    pages, lines = pci_crash_pages(buf, "A", pfns, pagemap_addr=10 * 4096 + 0x200)
    for p in rng.sample(range(max_pfn), 60):
        if p not in pages:
            pages[p] = rng.randbytes(4096) if p % 2 else bytes(rng.randrange(256) for _ in range(16)) * 256
    zeros = [p for p in rng.sample(range(max_pfn), 30) if p not in pages]
    return pages, zeros, lines


@needs_peer
@pytest.mark.parametrize("max_pfn", [1000, 1 << 22])
def test_synthetic_kdump_round_trip_via_libkdumpfile(tmp_path, max_pfn):
    pages, zeros, lines = _synthetic_pages(max_pfn, seed=max_pfn)
    path = write_kdump(tmp_path / "s.kdump", pages, max_pfn=max_pfn, zero_pfns=zeros,
                             ram=[(0, max_pfn // 2), (max_pfn // 2 + 7, max_pfn)],
                             vmcoreinfo_lines=lines)
    with open_dump([path]) as r:
        assert r.max_pfn == max_pfn
        pfns = sorted(set(pages) | set(zeros) | set(random.Random(1).sample(range(max_pfn), 50))
                      | {max_pfn // 2 + 3})
        peer = peer_read(path, pfns)
        assert peer["vmcoreinfo"] == r.vmcoreinfo
        assert peer["vmcoreinfo"]["PCI_CRASH_BUF_SZ"] == str(40 * 4096 - 123)
        seen = compare(r, peer, pfns)
        nonzero = sum(1 for d in pages.values() if any(d))
        # all-zero pages share makedumpfile's zero page (dump level bit 0)
        assert seen[S.PRESENT] == nonzero and seen[S.ZERO] == len(zeros) + len(pages) - nonzero
        assert r.page_status(max_pfn // 2 + 3) is S.OUTSIDE
        for p, data in pages.items():
            assert r.read_page(p) == data


@needs_peer
def test_synthetic_incomplete_kdump_via_libkdumpfile(tmp_path):
    pages, zeros, lines = _synthetic_pages(5000, seed=3)
    path = write_kdump(tmp_path / "i.kdump", pages, max_pfn=5000, vmcoreinfo_lines=lines,
                             incomplete_after=len(pages) // 2)
    with open_dump([path]) as r:
        assert r.incomplete
        pfns = sorted(pages)
        seen = compare(r, peer_read(path, pfns), pfns)
        assert seen[S.LOST] == len(pages) - len(pages) // 2


@needs_peer
def test_synthetic_elf_via_libkdumpfile(tmp_path):
    pages, _zeros, lines = _synthetic_pages(3000, seed=9)
    loads = [(0, 1000 * 4096, 1000 * 4096), (1200 * 4096, 1800 * 4096, 900 * 4096)]
    for aligned in (True, False):
        path = write_elf(tmp_path / ("e%d.elf" % aligned), pages, loads=loads,
                               vmcoreinfo_lines=lines, page_aligned=aligned)
        with open_dump([path]) as r:
            pfns = sorted(set(pages) | {1000, 1100, 1199, 1200, 2099, 2100, 2999})
            seen = compare(r, peer_read(path, pfns), pfns)
            assert seen[S.ZERO_OR_EXCLUDED] and seen[S.OUTSIDE] and seen[S.PRESENT]


def test_synthetic_split_round_trip(tmp_path):
    """Split parts (any order), a missing part, all through open_dump (libkdumpfile 0.5.1
    aborts on split sets, so the peer here is the unsplit file of the same pages)."""
    pages, zeros, lines = _synthetic_pages(1 << 16, seed=4)
    whole = write_kdump(tmp_path / "w.kdump", pages, max_pfn=1 << 16, zero_pfns=zeros,
                              vmcoreinfo_lines=lines)
    parts = write_kdump(tmp_path / "s", pages, max_pfn=1 << 16, zero_pfns=zeros,
                              vmcoreinfo_lines=lines, split=[20000, 40000])
    assert len(parts) == 3
    pfns = sorted(set(pages) | set(zeros) | set(random.Random(2).sample(range(1 << 16), 200)))
    with open_dump([whole]) as w, open_dump(parts[::-1]) as s, open_dump(parts[:2]) as partial:
        assert s.page_statuses(pfns) == w.page_statuses(pfns)
        ws, ss = w.read_pages(pfns), s.read_pages(pfns)
        for p in pfns:
            assert (ws[p] == ss[p]) if isinstance(ws[p], bytes) else not isinstance(ss[p], bytes)
        for p in pfns:
            st = partial.page_status(p)
            if p >= 40000 and w.page_status(p) in (S.PRESENT, S.ZERO):
                assert st is S.NOT_IN_PART
            else:   # every part carries the whole bitmaps: excluded stays excluded
                assert st is w.page_status(p)


@needs_peer
def test_synthetic_1tib_scattered_capture(tmp_path):
    """2^28 pfns (1 TiB), a 300-page buffer scattered across it: the pagemap, every buffer
    page and the bitmaps' extremes agree with libkdumpfile; the file stays small."""
    from pykdump_ext.capture.buffer import read_pagemap
    path, pages, lines, buf = scattered_capture_dump(tmp_path / "t.kdump", max_pfn=1 << 28,
                                                           buf_pages=300, seed=7)
    assert os.stat(path).st_blocks * 512 < 80 << 20
    with open_dump([path]) as r:
        assert r.max_pfn == 1 << 28
        pm = read_pagemap(r)
        assert pm.layout == "A" and pm.num_pages == 300 and pm.buf_size == len(buf)
        pfns = [a // 4096 for a in pm.page_addrs]
        got = r.read_pages(pfns)
        assert b"".join(got[p] for p in pfns) == buf
        extremes = [0, 1, (1 << 28) - 1, (1 << 27) + 12345]
        sample = sorted(set(capture_pfns(r) + extremes))
        seen = compare(r, peer_read(path, sample), sample)
        assert seen[S.PRESENT] >= 300 and seen[S.EXCLUDED] >= 1
