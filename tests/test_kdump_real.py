"""KdumpReader / FlatReader on the real dumps of ../shared and on makedumpfile
variants made here from the raw ELF vmcore; references: the ELF vmcore's
bytes, the scenario's VMCOREINFO note, and libkdumpfile."""

import hashlib
import json
import os
import subprocess
import zlib

import pytest

from conftest import (CACHE, SCENARIOS, dump_files, elf_vmcore, have_tool, needs_shared,
                      scenario_dir)
from crash_ext_c.flat import FlatReader
from crash_ext_c.kdump import KdumpReader
from crash_ext_c import vmcoreinfo as vmcoreinfo_mod
from crash_ext_c.errors import PageUnavailable
from crash_ext_c.reader import PageStatus

pytestmark = needs_shared
PS = 4096


def open_any(paths):
    paths = [str(p) for p in paths]
    if len(paths) == 1 and paths[0].endswith(".flat"):
        return FlatReader(paths[0])
    return KdumpReader(paths)


def shipped():
    if not (scenario_dir("aer-uncor") / "scenario.json").exists():
        return []
    return [(name, files) for name in SCENARIOS for files in dump_files(name)]


@pytest.mark.parametrize("name,files", shipped(),
                         ids=lambda x: x if isinstance(x, str) else "+".join(p.name for p in x))
def test_every_shipped_dump_opens_with_its_vmcoreinfo(name, files):
    r = open_any(files)
    truth = vmcoreinfo_mod.parse((scenario_dir(name) / "vmcoreinfo.txt").read_bytes())
    assert r.vmcoreinfo == truth
    assert r.page_size == PS and r.max_pfn > 0
    st = r.page_statuses(range(r.max_pfn))
    assert st.count(PageStatus.PRESENT) > 1000
    assert ("truncated" in files[0].name) == (PageStatus.LOST in st) == r.incomplete


# -------------------------------------------------------------- ELF reference

@pytest.fixture(scope="module")
def elf():
    from crash_ext_c.elf import ElfReader
    return ElfReader(elf_vmcore())


@pytest.fixture(scope="module")
def elf_zero_pfns(elf):
    zero = bytes(PS)
    pfns = [p for p, s in enumerate(elf.page_statuses(range(elf.max_pfn))) if s.readable]
    out = set()
    for i in range(0, len(pfns), 4096):
        got = elf.read_pages(pfns[i:i + 4096])
        out.update(p for p, d in got.items() if d == zero)
    return out


def check_against_elf(r, elf, elf_zero_pfns, *, zero_dedup):
    pfns = range(r.max_pfn)
    st = r.page_statuses(pfns)
    est = elf.page_statuses(pfns)
    readable = [p for p, s in zip(pfns, st) if s.readable]
    got = r.read_pages(readable)
    ref = elf.read_pages(readable)
    bad = [p for p in readable if got[p] != ref[p]]
    assert not bad, "pages differ from the ELF vmcore: %s" % bad[:10]
    # makedumpfile's 1st bitmap holds the whole pages of the ELF's PT_LOADs;
    # a page a segment covers only in part is not RAM to it.
    partial = {a // PS for seg in elf.segments for a in (seg.paddr, seg.paddr + seg.memsz)
               if a % PS}
    for pfn, s, e in zip(pfns, st, est):
        if pfn in partial:
            assert s is PageStatus.OUTSIDE, pfn
        else:
            assert (s is PageStatus.OUTSIDE) == (e is PageStatus.OUTSIDE), pfn
        if s is PageStatus.ZERO:
            assert pfn in elf_zero_pfns
        elif s is PageStatus.PRESENT and zero_dedup:
            assert pfn not in elf_zero_pfns, "all-zero page 0x%x not shared" % pfn
    return st


@pytest.mark.parametrize("fname", ["d31-zlib.kdump", "d31-snappy.kdump", "d31-zstd.kdump",
                                   "d31-zlib.flat", "d31-zlib-truncated.kdump"])
def test_shipped_variants_read_like_the_elf(elf, elf_zero_pfns, fname):
    r = open_any([scenario_dir("aer-uncor") / fname])
    st = check_against_elf(r, elf, elf_zero_pfns, zero_dedup=True)
    assert PageStatus.ZERO in st and PageStatus.EXCLUDED in st
    assert r.compression == fname.split("-")[1].split(".")[0]


# -------------------------------------------------------------- made here

def variant(args, name):
    """makedumpfile <args> ELF <cache file>, made once and cached by command."""
    elf_path = elf_vmcore()
    d = CACHE / "kdump-variants"
    d.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(" ".join(args).encode()).hexdigest()[:10]
    out = d / ("%s-%s" % (name, key))
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        tmp.unlink(missing_ok=True)
        if "-F" in args:
            with open(tmp, "wb") as fh:
                subprocess.run(["makedumpfile"] + args + [str(elf_path)], stdout=fh,
                               check=True, stderr=subprocess.PIPE)
        else:
            proc = subprocess.run(["makedumpfile"] + args + [str(elf_path), str(tmp)],
                                  capture_output=True)
            # -L exits non-zero once the limit is hit but leaves a valid file.
            if proc.returncode and "-L" not in args:
                raise AssertionError(proc.stderr.decode()[-500:])
        tmp.rename(out)
    return out


VARIANTS = [
    (["-l", "-d", "31"], "lzo-d31", dict(compression="lzo", zero=True)),
    (["-c", "-d", "1"], "zlib-d1", dict(compression="zlib", zero=True)),
    (["-d", "31"], "raw-d31", dict(compression="none", zero=True)),
    (["-c", "-d", "30"], "zlib-d30", dict(compression="zlib", zero=False)),
    (["-F", "-l", "-d", "31"], "lzo-d31-flat", dict(compression="lzo", zero=True)),
    (["-c", "-d", "31", "-L", "3000000"], "zlib-d31-L3M", dict(compression="zlib", zero=True,
                                                              incomplete=True)),
]


@pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
@pytest.mark.parametrize("args,name,want", VARIANTS, ids=[v[1] for v in VARIANTS])
def test_makedumpfile_variants(elf, elf_zero_pfns, args, name, want):
    path = variant(args, name)
    r = FlatReader(str(path)) if "-F" in args else KdumpReader(str(path))
    assert r.compression == want["compression"]
    assert r.dump_level == int(args[args.index("-d") + 1])
    assert r.incomplete == want.get("incomplete", False)
    st = check_against_elf(r, elf, elf_zero_pfns, zero_dedup=want["zero"])
    assert (PageStatus.ZERO in st) == want["zero"]
    assert (PageStatus.LOST in st) == want.get("incomplete", False)
    if r.dump_level == 1:
        assert PageStatus.EXCLUDED not in st       # only zero pages were dropped
    if want.get("incomplete"):
        lost = [p for p, s in enumerate(st) if s is PageStatus.LOST]
        with pytest.raises(PageUnavailable):
            r.read_page(lost[0])


# -------------------------------------------------------------- libkdumpfile

LIBKDUMPFILE_SCRIPT = r"""
import json, sys, zlib
import kdumpfile
k = kdumpfile.kdumpfile(sys.argv[1])
maxpfn = k.attr['max_pfn']
ram = k.attr['memory.pagemap'].get_bits(0, maxpfn - 1)
out = {'max_pfn': maxpfn, 'ram': bytes(ram).hex(), 'pages': {}}
for pfn in range(maxpfn):
    try:
        data = k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * 4096, 4096)
        out['pages'][pfn] = zlib.crc32(bytes(data))
    except kdumpfile.exceptions.NoDataException:
        pass
    except kdumpfile.exceptions.CorruptException:
        out['pages'][pfn] = 'corrupt'
json.dump(out, sys.stdout)
"""


def libkdumpfile_view(path):
    # A separate process: libkdumpfile aborts on some inputs, which would take
    # pytest down with it.  Never hand it split sets or flattened files.
    py = "/usr/bin/python3"
    if subprocess.run([py, "-c", "import kdumpfile"], capture_output=True).returncode:
        pytest.skip("python3-libkdumpfile is not installed")
    proc = subprocess.run([py, "-c", LIBKDUMPFILE_SCRIPT, str(path)], capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    return json.loads(proc.stdout)


def compare_with_libkdumpfile(r, path):
    ref = libkdumpfile_view(path)
    assert ref["max_pfn"] == r.max_pfn
    ram = bytes.fromhex(ref["ram"])
    pages = {int(k): v for k, v in ref["pages"].items()}
    pfns = range(r.max_pfn)
    st = r.page_statuses(pfns)
    readable = [p for p, s in zip(pfns, st) if s.readable]
    got = r.read_pages(readable)
    for pfn, s in zip(pfns, st):
        in_ram = bool(ram[pfn >> 3] >> (pfn & 7) & 1)
        lk = pages.get(pfn)
        if s.readable:
            assert lk == zlib.crc32(got[pfn]), pfn
        elif s is PageStatus.LOST:
            assert lk == "corrupt", pfn        # libkdumpfile: "Wrong page size: 0"
        else:
            assert lk is None, pfn
            assert in_ram == (s is PageStatus.EXCLUDED), pfn
    return st


@pytest.mark.parametrize("fname", ["d31-zlib.kdump", "d31-zlib-truncated.kdump"])
def test_statuses_agree_with_libkdumpfile(fname):
    path = scenario_dir("aer-uncor") / fname
    st = compare_with_libkdumpfile(KdumpReader(str(path)), path)
    assert (PageStatus.LOST in st) == ("truncated" in fname)


@pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
def test_lzo_variant_agrees_with_libkdumpfile():
    path = variant(*VARIANTS[0][:2])
    compare_with_libkdumpfile(KdumpReader(str(path)), path)


def test_pci_crash_pagemap_page_is_readable():
    """The page VMCOREINFO's PCI_CRASH_PAGEMAP points at is in every d31 variant."""
    for fname in ("d31-zlib.kdump", "d31-snappy.kdump", "d31-zstd.kdump", "d31-zlib.flat"):
        r = open_any([scenario_dir("aer-uncor") / fname])
        addr = int(r.vmcoreinfo["PCI_CRASH_PAGEMAP"], 16)
        assert r.page_status(addr // PS) is PageStatus.PRESENT
        assert len(r.read_phys(addr, 64)) == 64
