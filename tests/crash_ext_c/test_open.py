"""Every dump format through open_dump: same bytes and same page statuses as the raw ELF vmcore.

aer-uncor has every variant plus the raw /proc/vmcore copy (the reference);
the -E ELF variant is made here with the real makedumpfile.  Samples are
bounded: the pci_crash pagemap and buffer pages, a few hundred random
present pages and some random pfns of any status.
"""

import random

import pytest

from tests.shared import SCENARIOS, capture_pfns, elf_vmcore, make_e_dump, needs_shared, scenario_dir
from tests.builders.elf import write_elf
from tests.builders.kdump import write_kdump
from crash_ext_c.open import open_dump, sniff
from crash_ext_c.errors import DumpFormatError, PageUnavailable, PcicrashError
from crash_ext_c.reader import PageStatus as S

NOT_STORED = (S.EXCLUDED, S.ZERO_OR_EXCLUDED, S.OUTSIDE)


def sample_pfns(reader, statuses, seed, n_present=300, n_any=100):
    rng = random.Random(seed)
    present = [p for p, s in enumerate(statuses) if s is S.PRESENT]
    pfns = capture_pfns(reader)
    pfns += rng.sample(present, min(n_present, len(present)))
    pfns += [rng.randrange(reader.max_pfn) for _ in range(n_any)]
    return sorted(set(pfns))


def aer_variants():
    d = scenario_dir("aer-uncor")
    out = [(f.name,) for f in sorted(d.glob("*.kdump"))] + [("d31-zlib.flat",)]
    out.append(("d31-zlib-split.1", "d31-zlib-split.2"))
    out.append(("d31-zlib-split.2", "d31-zlib-split.1"))    # any order
    return out


@pytest.fixture(scope="module")
def raw():
    r = open_dump([elf_vmcore("aer-uncor")])
    yield r
    r.close()


@pytest.fixture(scope="module")
def full_kdump():
    r = open_dump([scenario_dir("aer-uncor") / "d31-zlib.kdump"])
    yield r, r.page_statuses(range(r.max_pfn))
    r.close()


def check_against_raw(variant, raw, seed):
    statuses = variant.page_statuses(range(variant.max_pfn))
    pfns = sample_pfns(variant, statuses, seed)
    assert len(pfns) > 300
    got = variant.read_pages(pfns)
    counts = {}
    for pfn in pfns:
        st = variant.page_status(pfn)
        counts[st] = counts.get(st, 0) + 1
        data = got[pfn]
        if st is S.PRESENT:
            assert data == raw.read_page(pfn), "%s: page 0x%x differs" % (variant.name, pfn)
        elif st in (S.ZERO, S.ZERO_OR_EXCLUDED):
            assert data == bytes(variant.page_size)
            if st is S.ZERO:
                assert raw.read_page(pfn) == bytes(raw.page_size)
        else:
            assert isinstance(data, PageUnavailable) and data.status is st
            if st is S.EXCLUDED:
                assert raw.page_status(pfn) is S.PRESENT
    for pfn in capture_pfns(variant):
        assert variant.page_status(pfn) in (S.PRESENT, S.ZERO), hex(pfn)
    return statuses, counts


@needs_shared
@pytest.mark.parametrize("names", aer_variants(), ids="+".join)
def test_aer_uncor_variant_matches_raw_elf(names, raw, full_kdump):
    paths = [scenario_dir("aer-uncor") / n for n in names]
    with open_dump(paths) as v:
        assert v.vmcoreinfo == raw.vmcoreinfo
        assert v.max_pfn == raw.max_pfn
        statuses, counts = check_against_raw(v, raw, seed=len(names[0]))
        ref = full_kdump[1]
        if "truncated" in names[0]:
            assert counts.get(S.LOST) or S.LOST in statuses
            for a, b in zip(statuses, ref):
                assert a is b or (a is S.LOST and b in (S.PRESENT, S.ZERO))
        else:
            # every complete kdump-compressed variant (flat, split, snappy, zstd) agrees exactly
            assert statuses == ref


@needs_shared
def test_aer_uncor_E_elf_matches_raw_and_kdump(raw, full_kdump):
    with open_dump([make_e_dump(31)]) as e:
        assert "makedumpfile -E" in e.format
        statuses, _ = check_against_raw(e, raw, seed=11)
        ps = raw.page_size
        # pages only partly inside a PT_LOAD: ELF holds their RAM part, kdump's
        # 1st bitmap leaves them out
        partial = {b // ps for s in raw.segments for b in (s.paddr, s.paddr + s.memsz) if b % ps}
        assert partial
        for p, (a, b) in enumerate(zip(statuses, full_kdump[1])):
            if p in partial and b is S.OUTSIDE:
                continue
            if a is S.ZERO_OR_EXCLUDED:
                assert b in (S.ZERO, S.EXCLUDED), hex(p)
            elif a is S.PRESENT:
                # runs of < 256 filtered pages are stored by -E as zeros
                assert b in (S.PRESENT, S.ZERO, S.EXCLUDED), hex(p)
            elif b is S.PRESENT:
                pytest.fail("page 0x%x stored in kdump, %s in -E" % (p, a))


@needs_shared
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "aer-uncor"])
def test_other_scenarios_open_and_hold_their_capture_pages(scenario):
    """Only d31-zlib.kdump exists: its capture pages are stored and its VMCOREINFO is the file's."""
    from crash_ext_c import vmcoreinfo
    path = scenario_dir(scenario) / "d31-zlib.kdump"
    with open_dump([path]) as r:
        txt = (scenario_dir(scenario) / "vmcoreinfo.txt").read_text()
        assert r.vmcoreinfo == vmcoreinfo.parse(txt)
        pfns = capture_pfns(r)
        if scenario == "no-buffer":
            assert pfns == []
            return
        assert pfns
        pages = r.read_pages(pfns)
        for p in pfns:
            assert isinstance(pages[p], bytes), (hex(p), pages[p])
        assert r.page_statuses(pfns) == [r.page_status(p) for p in pfns]


# -- open_dump: dispatch and bad paths --------------------------------------------

def test_sniff_and_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(DumpFormatError) as exc:
        open_dump([empty])
    assert "empty" in str(exc.value) and str(empty) in str(exc.value)
    junk = tmp_path / "junk"
    junk.write_bytes(b"PK\x03\x04 not a dump at all")
    with pytest.raises(DumpFormatError) as exc:
        open_dump([junk])
    msg = str(exc.value)
    assert str(junk) in msg and "PK" in msg and "KDUMP" in msg and "offset 0x0" in msg
    with pytest.raises(PcicrashError) as exc:
        open_dump([tmp_path / "missing"])
    assert "missing" in str(exc.value)
    with pytest.raises(PcicrashError):
        open_dump([tmp_path])
    with pytest.raises(PcicrashError):
        open_dump([])
    elf = write_elf(tmp_path / "a.elf", {}, loads=[(0, 4096, 4096)])
    kd = write_kdump(tmp_path / "a.kdump", {}, max_pfn=8)
    assert sniff(elf) == "elf" and sniff(kd) == "kdump"
    with pytest.raises(DumpFormatError) as exc:
        open_dump([kd, elf])
    assert str(elf) in str(exc.value)


def test_open_dump_dispatches_and_overrides_vmcoreinfo(tmp_path):
    pages = {3: b"\x11" * 4096, 5: bytes(4096)}
    elf = write_elf(tmp_path / "a.elf", pages, loads=[(0, 8 * 4096, 8 * 4096)],
                          vmcoreinfo_lines=["FROM=dump"])
    kd = write_kdump(tmp_path / "a.kdump", pages, max_pfn=8, vmcoreinfo_lines=["FROM=dump"])
    info = tmp_path / "vmcoreinfo.txt"
    info.write_text("OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\nFROM=file\n")
    other = tmp_path / "other.txt"
    other.write_text("OSRELEASE=x\nPAGESIZE=4096\nFROM=file\n")
    for path, cls in ((elf, "ElfReader"), (kd, "KdumpReader")):
        with open_dump(path) as r:
            assert type(r).__name__ == cls
            assert r.vmcoreinfo["FROM"] == "dump"
            assert r.read_page(3) == pages[3]
        with open_dump([path], vmcoreinfo=info) as r:
            assert r.vmcoreinfo["FROM"] == "file"
            assert any("vmcoreinfo.txt" in n for n in r.notes)
        # another kernel's VMCOREINFO is refused, naming both values
        with pytest.raises(PcicrashError) as exc:
            open_dump([path], vmcoreinfo=other)
        assert "OSRELEASE=x in the file, 6.1.0-synthetic in the dump" in str(exc.value)
    bad = tmp_path / "bad.txt"
    bad.write_text("no key value lines here\n")
    with pytest.raises(DumpFormatError):
        open_dump([kd], vmcoreinfo=bad)


def test_vmcoreinfo_file_page_size_held_against_an_elf_dumps_own_note(tmp_path):
    """An ELF reader takes its page size from the VMCOREINFO file; the file is still held
    against the dump's own note (vmcoreinfo_file.apply, as for kdump files)."""
    elf = write_elf(tmp_path / "p.elf", {1: b"z" * 16384},
                          loads=[(0, 4 * 16384, 4 * 16384)], page_size=16384)
    info = tmp_path / "vmcoreinfo.txt"
    info.write_text("PAGESIZE=4096\n")
    with pytest.raises(PcicrashError) as exc:
        open_dump([elf], vmcoreinfo=info)
    assert "PAGESIZE=4096 in the file, 16384 in the dump's own VMCOREINFO" in str(exc.value)
    info.write_text("PAGESIZE=16384\nX=1\n")
    with open_dump([elf], vmcoreinfo=info) as r:
        assert r.page_size == 16384 and r.vmcoreinfo["X"] == "1"


@needs_shared
def test_synthetic_kdump_layout_matches_makedumpfile(tmp_path):
    """Same inputs as makedumpfile had (max_mapnr, notes, VMCOREINFO) -> same header layout."""
    import struct
    real = scenario_dir("aer-uncor") / "d31-zlib.kdump"
    head = real.read_bytes()[:8192]
    txt = (scenario_dir("aer-uncor") / "vmcoreinfo.txt").read_text()
    lines = [l for l in txt.split("\n") if l]
    cores = [("CORE", 1, bytes(336))] * 2
    with open_dump([real]) as r:
        path = write_kdump(tmp_path / "s.kdump", {}, max_pfn=r.max_pfn,
                                 vmcoreinfo_lines=lines, extra_notes=cores)
    mine = open(path, "rb").read(8192)
    hdr = lambda b: (b[:12],) + struct.unpack_from("<iiIII", b, 428)[:4]
    assert hdr(mine) == hdr(head)       # signature, version, block size, sub-header and bitmap blocks
    sub = lambda b: struct.unpack_from("<qQqQ", b, 4096 + 32)   # vmcoreinfo and note offsets/sizes
    assert sub(mine) == sub(head)
    assert struct.unpack_from("<QQQ", mine, 4096 + 80)[2] == struct.unpack_from("<QQQ", head, 4096 + 80)[2]
