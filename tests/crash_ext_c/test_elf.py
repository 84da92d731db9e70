"""ElfReader on the real raw vmcore, on real makedumpfile -E output, on synthetic and bad files."""

import random
import re
import struct
import subprocess

import pytest

from tests.shared import CACHE, have_tool, needs_shared, scenario_dir, elf_vmcore
from tests.builders.elf import write_elf
from crash_ext_c.elf import ElfReader
from crash_ext_c import vmcoreinfo
from crash_ext_c.errors import DumpFormatError, PageUnavailable, PcicrashError
from crash_ext_c.reader import PageStatus

PS = 4096


def readelf_notes(path):
    """[(owner, size)] as binutils' readelf -n lists them."""
    out = subprocess.run(["readelf", "-n", "-W", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [(m.group(1), int(m.group(2), 16))
            for m in re.finditer(r"^\s+(\S+)\s+0x([0-9a-f]+)\s", out, re.M)]


def readelf_loads(path):
    """[(offset, paddr, filesz, memsz)] of the PT_LOADs, from readelf -l -W."""
    out = subprocess.run(["readelf", "-l", "-W", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [tuple(int(x, 16) for x in (m.group(1), m.group(2), m.group(3), m.group(4)))
            for m in re.finditer(r"^\s+LOAD\s+0x(\S+)\s+0x\S+\s+0x(\S+)\s+0x(\S+)\s+0x(\S+)",
                                 out, re.M)]


def make_e_dump(level=31):
    """makedumpfile -E -d LEVEL of aer-uncor's raw vmcore, made once into the cache."""
    src = elf_vmcore("aer-uncor")
    if not have_tool("makedumpfile"):
        pytest.skip("makedumpfile not installed")
    dst = CACHE / ("aer-uncor-E-d%d.elf" % level)
    if not dst.exists():
        tmp = dst.with_suffix(".tmp")
        if tmp.exists():
            tmp.unlink()
        subprocess.run(["makedumpfile", "-E", "-d", str(level), str(src), str(tmp)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tmp.rename(dst)
    return dst


# -- real files -----------------------------------------------------------------

@needs_shared
def test_raw_vmcore_headers_match_readelf_and_vmcoreinfo_txt():
    path = elf_vmcore("aer-uncor")
    with ElfReader(path) as r:
        assert "/proc/vmcore" in r.format
        assert [(n.name, n.size) for n in r.notes_list] == readelf_notes(path)
        assert sorted((s.offset, s.paddr, s.filesz, s.memsz) for s in r.segments) == \
            sorted(readelf_loads(path))
        txt = (scenario_dir("aer-uncor") / "vmcoreinfo.txt").read_text()
        assert r.vmcoreinfo == vmcoreinfo.parse(txt)
        assert r.page_size == int(r.vmcoreinfo["PAGESIZE"])
        top = max(p + m for _o, p, _f, m in readelf_loads(path))
        assert r.max_pfn == -(-top // PS)
        assert r.eraseinfo is None and r.device_dumps == []
        assert not r.made_by_makedumpfile


@needs_shared
def test_raw_vmcore_pages_are_the_file_bytes():
    """Every sampled page reads as the bytes at the offset readelf gives for it."""
    path = elf_vmcore("aer-uncor")
    loads = readelf_loads(path)
    rng = random.Random(7)
    with ElfReader(path) as r, open(path, "rb") as f:
        for off, paddr, filesz, _m in loads:
            for _ in range(20):
                pfn = (paddr + rng.randrange(filesz)) // PS
                if pfn * PS < paddr or (pfn + 1) * PS > paddr + filesz:
                    continue
                f.seek(off + pfn * PS - paddr)
                assert r.read_page(pfn) == f.read(PS)
                assert r.page_status(pfn) is PageStatus.PRESENT
        # a hole between the loads and the end of the physical range
        covered = lambda a: any(p <= a < p + m for _o, p, _f, m in loads)
        hole = next(p for p in range(r.max_pfn) if not covered(p * PS) and not covered(p * PS + PS - 1))
        assert r.page_status(hole) is PageStatus.OUTSIDE
        with pytest.raises(PageUnavailable) as exc:
            r.read_page(hole)
        assert exc.value.status is PageStatus.OUTSIDE
        assert r.page_status(r.max_pfn + 10) is PageStatus.OUTSIDE


@needs_shared
def test_makedumpfile_E_output_against_raw():
    raw_path = elf_vmcore("aer-uncor")
    e_path = make_e_dump(31)
    with ElfReader(raw_path) as raw, ElfReader(e_path) as e:
        assert "makedumpfile -E" in e.format and e.made_by_makedumpfile
        assert any("cannot tell" in n for n in e.notes)
        assert [(n.name, n.size) for n in e.notes_list] == readelf_notes(e_path)
        assert e.vmcoreinfo == raw.vmcoreinfo
        statuses = e.page_statuses(range(raw.max_pfn))
        rng = random.Random(3)
        present = [p for p, s in zip(range(raw.max_pfn), statuses) if s is PageStatus.PRESENT]
        tails = [p for p, s in zip(range(raw.max_pfn), statuses)
                 if s is PageStatus.ZERO_OR_EXCLUDED]
        assert present and tails
        for p in rng.sample(present, 300):
            assert e.read_page(p) == raw.read_page(p)
        for p in rng.sample(tails, 50):
            assert e.read_page(p) == bytes(PS)
            assert raw.page_status(p) is PageStatus.PRESENT
        # outside pages agree
        for p, s in zip(range(raw.max_pfn), statuses):
            assert (s is PageStatus.OUTSIDE) == (raw.page_status(p) is PageStatus.OUTSIDE)
        # the pci_crash pagemap survives -d 31 (it is kmalloc'd kernel data)
        pm = int(e.vmcoreinfo["PCI_CRASH_PAGEMAP"], 16)
        assert e.read_phys(pm, 16) == raw.read_phys(pm, 16)


@needs_shared
def test_truncated_raw_copy_loses_pages_past_eof(tmp_path):
    src = elf_vmcore("aer-uncor")
    cut = 40 << 20
    dst = tmp_path / "cut.elf"
    with open(src, "rb") as f, open(dst, "wb") as g:
        g.write(f.read(cut))
    with ElfReader(dst) as r, ElfReader(src) as full:
        assert any("cut short" in n for n in r.notes)
        lost = present = 0
        for off, paddr, filesz, _m in readelf_loads(src):
            for pfn in (paddr // PS, (paddr + filesz) // PS - 1):
                inside = off + (pfn * PS - paddr) + PS <= cut
                st = r.page_status(pfn)
                if inside:
                    present += 1
                    assert st is PageStatus.PRESENT
                    assert r.read_page(pfn) == full.read_page(pfn)
                else:
                    lost += 1
                    assert st is PageStatus.LOST
                    with pytest.raises(PageUnavailable):
                        r.read_page(pfn)
        assert lost and present


# -- synthetic files --------------------------------------------------------------

def test_synthetic_elf_tails_notes_and_eraseinfo(tmp_path):
    pages = {p: bytes([p & 0xFF]) * PS for p in range(0, 64)}
    dd = b"cxgb4_0000:02:00.4".ljust(44, b"\0") + b"\xAA" * 100
    path = write_elf(
        tmp_path / "s.elf", pages,
        loads=[(0, 16 * PS, 16 * PS), (32 * PS, 32 * PS, 8 * PS)],
        vmcoreinfo_lines=["PCI_CRASH_VERSION=1"], page_aligned=False,
        extra_notes=[("CORE", 1, bytes(336)), ("LINUX", 0x700, dd),
                     ("VMCOREDD_old_style", 0x700, b"x" * 10),
                     ("ERASEINFO", 0, b"erase jiffies size 8\n")])
    with ElfReader(path) as r:
        assert [(n.name, n.size) for n in r.notes_list] == readelf_notes(path)
        assert r.vmcoreinfo["PCI_CRASH_VERSION"] == "1"
        assert r.eraseinfo == "erase jiffies size 8\n"
        assert [(d.name, d.size) for d in r.device_dumps] == [
            ("cxgb4_0000:02:00.4", 100), ("old_style", 10)]
        assert "makedumpfile -E" in r.format
        assert r.max_pfn == 64
        assert r.page_status(3) is PageStatus.PRESENT and r.read_page(3) == pages[3]
        assert r.page_status(20) is PageStatus.OUTSIDE
        assert r.page_status(39) is PageStatus.PRESENT and r.read_page(39) == pages[39]
        assert r.page_status(40) is PageStatus.ZERO_OR_EXCLUDED
        assert r.read_page(40) == bytes(PS)
        got = r.read_pages([40, 3, 20])
        assert got[3] == pages[3] and got[40] == bytes(PS)
        assert isinstance(got[20], PageUnavailable)
        assert r.read_phys(39 * PS + 4090, 12) == pages[39][4090:] + bytes(6)


def test_synthetic_overlapping_loads_first_listed_wins(tmp_path):
    a = {p: b"a" * PS for p in range(8)}
    path = write_elf(tmp_path / "o.elf", a, loads=[(0, 8 * PS, 8 * PS), (4 * PS, 8 * PS, 8 * PS)])
    with ElfReader(path) as r:
        assert r.page_status(10) is PageStatus.PRESENT
        assert r.read_page(5) == b"a" * PS and r.read_page(10) == bytes(PS)
        assert "/proc/vmcore" in r.format


def test_many_overlapping_loads_one_disagreeing_is_named(tmp_path):
    """300 PT_LOADs over one page store equal bytes but one (the 100th) changes byte 700:
    the first-listed wins, the note names the two segments that stored byte 700
    differently, and nothing else is said."""
    n = 300
    path = write_elf(tmp_path / "m.elf", {0: b"m" * PS}, loads=[(0, PS, PS)] * n)
    raw = bytearray(open(path, "rb").read())
    offsets = [struct.unpack_from("<Q", raw, 64 + i * 56 + 8)[0] for i in range(n + 1)]
    loads = [o for i, o in enumerate(offsets) if struct.unpack_from("<I", raw, 64 + i * 56)[0] == 1]
    assert len(loads) == n
    raw[loads[99] + 700] ^= 0xFF
    bent = tmp_path / "bent.elf"
    bent.write_bytes(bytes(raw))
    with ElfReader(str(bent)) as r:
        assert r.read_page(0) == b"m" * PS
        notes = [x for x in r.notes if "disagree" in x]
        assert len(notes) == 1, r.notes
        # read from the last-listed up: segment 100 differs from segment 101 (its writer)
        assert "0x%x and 0x%x" % (loads[99], loads[100]) in notes[0], notes[0]


def test_page_size_from_vmcoreinfo_and_override(tmp_path):
    pages = {1: b"z" * 16384}
    path = write_elf(tmp_path / "p.elf", pages, loads=[(0, 4 * 16384, 4 * 16384)],
                           page_size=16384)
    with ElfReader(path) as r:
        assert r.page_size == 16384 and r.max_pfn == 4 and r.read_page(1) == pages[1]
    with ElfReader(path, vmcoreinfo={"PAGESIZE": "4096", "X": "1"}) as r:
        assert r.page_size == 4096 and r.max_pfn == 16 and r.vmcoreinfo["X"] == "1"
        assert r.dump_vmcoreinfo["PAGESIZE"] == "16384"


# -- bad input --------------------------------------------------------------------

def _good(tmp_path):
    return write_elf(tmp_path / "g.elf", {0: b"q" * PS}, loads=[(0, PS, PS)])


def _expect_error(path, *words):
    with pytest.raises(DumpFormatError) as exc:
        ElfReader(path)
    msg = str(exc.value)
    assert str(path) in msg and "offset 0x" in msg and "expected" in msg, msg
    for w in words:
        assert w in msg, msg
    return exc.value


def test_bad_truncated_header(tmp_path):
    data = open(_good(tmp_path), "rb").read()
    bad = tmp_path / "short.elf"
    bad.write_bytes(data[:40])
    _expect_error(bad, "too short")


def test_bad_empty_and_random(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    _expect_error(empty)
    rnd = tmp_path / "random"
    rnd.write_bytes(random.Random(1).randbytes(5000))
    _expect_error(rnd, "not an ELF")


def test_bad_phnum_past_eof(tmp_path):
    data = bytearray(open(_good(tmp_path), "rb").read())
    struct.pack_into("<H", data, 56, 60000)
    bad = tmp_path / "phnum.elf"
    bad.write_bytes(bytes(data))
    e = _expect_error(bad, "program headers")
    assert e.offset == 32


def _notes_damaged(path, *words):
    """A broken note costs only itself and what follows it: the reader opens, pages read,
    and one note says what and where."""
    with ElfReader(path) as r:
        assert r.read_page(0) == b"q" * PS
        hit = [n for n in r.notes if all(w in n for w in words)]
        assert len(hit) == 1 and str(path) in hit[0], r.notes
        return r, hit[0]


def test_bad_huge_note_sizes(tmp_path):
    path = _good(tmp_path)
    with ElfReader(path) as r:
        note_hdr = r.notes_list[0].offset - 12 - 12   # "VMCOREINFO\0" padded to 12
    data = bytearray(open(path, "rb").read())
    big = bytearray(data)
    struct.pack_into("<I", big, note_hdr, 0xFFFFFFF0)
    (tmp_path / "namesz.elf").write_bytes(bytes(big))
    r, note = _notes_damaged(tmp_path / "namesz.elf", "name size")
    assert "note at 0x%x" % note_hdr in note and not r.vmcoreinfo
    big = bytearray(data)
    struct.pack_into("<I", big, note_hdr + 4, 0x7FFFFFFF)
    (tmp_path / "descsz.elf").write_bytes(bytes(big))
    _notes_damaged(tmp_path / "descsz.elf", "runs past")


def test_bad_note_segment_past_eof_and_filesz(tmp_path):
    data = bytearray(open(_good(tmp_path), "rb").read())
    # PT_NOTE is program header 0: p_filesz at 64 + 32
    struct.pack_into("<Q", data, 64 + 32, 1 << 40)
    (tmp_path / "n.elf").write_bytes(bytes(data))
    _notes_damaged(tmp_path / "n.elf", "PT_NOTE", "notes are ignored")
    data = bytearray(open(_good(tmp_path), "rb").read())
    struct.pack_into("<Q", data, 64 + 56 + 32, 2 * PS)   # PT_LOAD p_filesz > p_memsz
    (tmp_path / "l.elf").write_bytes(bytes(data))
    _expect_error(tmp_path / "l.elf", "p_filesz")


def test_bad_not_core_and_class(tmp_path):
    data = bytearray(open(_good(tmp_path), "rb").read())
    data[4] = 1
    (tmp_path / "c.elf").write_bytes(bytes(data))
    _expect_error(tmp_path / "c.elf", "ELF class")
    data[4] = 2
    struct.pack_into("<H", data, 16, 2)
    (tmp_path / "t.elf").write_bytes(bytes(data))
    _expect_error(tmp_path / "t.elf", "ET_CORE")


def test_missing_file_is_pcicrash_error(tmp_path):
    with pytest.raises(PcicrashError) as exc:
        ElfReader(tmp_path / "nope")
    assert "nope" in str(exc.value)


def test_fuzz_header_mutations_never_escape(tmp_path):
    """Random byte flips in the headers give either a reader or a PcicrashError."""
    base = open(write_elf(tmp_path / "f.elf", {0: b"q" * PS, 3: b"r" * PS},
                                loads=[(0, 4 * PS, 4 * PS)], page_aligned=False), "rb").read()
    rng = random.Random(5)
    hdr_len = 64 + 2 * 56 + 200
    for _i in range(300):
        data = bytearray(base)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(hdr_len)] = rng.randrange(256)
        p = tmp_path / "m.elf"
        p.write_bytes(bytes(data))
        try:
            r = ElfReader(p)
        except PcicrashError:
            continue
        with r:
            for pfn in (0, 3, r.max_pfn - 1 if r.max_pfn else 0):
                try:
                    r.read_page(pfn)
                except PcicrashError:
                    pass


def test_extended_program_header_numbering(tmp_path):
    """e_phnum = PN_XNUM: the real count is sh_info of section header 0 (readelf agrees)."""
    pages = {p: bytes([p]) * PS for p in range(0, 40, 3)}
    loads = [(p * PS, PS, PS) for p in range(0, 40, 3)]
    path = write_elf(tmp_path / "x.elf", pages, loads=loads, xnum=True, page_aligned=False)
    assert open(path, "rb").read(64)[56:58] == b"\xff\xff"
    with ElfReader(path) as r:
        assert r.phnum == 1 + len(loads)
        assert sorted((s.offset, s.paddr, s.filesz, s.memsz) for s in r.segments) == \
            sorted(readelf_loads(path))
        for p in range(40):
            assert r.page_status(p) is (PageStatus.PRESENT if p in pages else PageStatus.OUTSIDE)
            if p in pages:
                assert r.read_page(p) == pages[p]
    data = bytearray(open(path, "rb").read())
    struct.pack_into("<Q", data, 40, len(data) + 10)    # e_shoff past EOF
    (tmp_path / "y.elf").write_bytes(bytes(data))
    _expect_error(tmp_path / "y.elf", "PN_XNUM")
