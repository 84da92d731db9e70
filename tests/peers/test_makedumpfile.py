"""The real makedumpfile (Debian 1.7.2) filtering the shared vmcores: what keeps the capture.

Every output is made by makedumpfile itself from aer-uncor's raw ELF vmcore
or from a scenario's d31-zlib.kdump (makedumpfile re-filters kdump-compressed
input), cached under .cache/mdf/ keyed by the command.  For each output:

* `pcicrash --check` (makedumpfile_filter.check.check) must name exactly the capture
  pages that libkdumpfile (the peer) cannot read, with the status the
  makedumpfile options explain (LOST for -L, NOT_IN_PART for a missing
  --split part, ZERO for an all-zero buffer at dump level bit 1), and exit
  0 exactly when every capture page is readable;
* the analysis (pykdump_ext.analysis.report.analyse) must agree: captured with the
  same records as the unfiltered input when check passes, skipped for the
  all-zero buffer, absent without PCI_CRASH lines, partial with the same
  missing pages otherwise;
* the lines shipped in makedumpfile_filter/ (parsed from the files) keep
  every capture page.
"""

import hashlib
import json
import pathlib
import re
import shlex
import shutil
import struct
import subprocess
import sys

import pytest

from tests.shared import SYSTEM_PYTHON, have_system_module
from tests.shared import vmlinux as conftest_vmlinux
from tests.shared import CACHE, ROOT, SCENARIOS, elf_vmcore, have_shared, have_tool, needs_shared, \
    scenario_dir
from crash_ext_c.open import open_dump
from pykdump_ext.analysis.report import analyse
from pykdump_ext.capture.buffer import read_pagemap
from makedumpfile_filter.check import check
from pykdump_ext.output import check_view
from crash_ext_c.reader import PageStatus as S

# Tests that run makedumpfile get the `matrix` fixture, which skips without ../shared or
# without makedumpfile; the others say what they need.

MDF_CACHE = CACHE / "mdf"
FILTER_DIR = ROOT / "makedumpfile_filter"
ZEROS_SHA = hashlib.sha1(bytes(4096)).hexdigest()

# Debian's build has zlib and lzo; -p/-z would silently write uncompressed pages.
COMPRESSIONS = {"zlib": ["-c"], "lzo": ["-l"], "none": []}
LEVELS = (0, 1, 31)
# what the scenario's kernel left (README of ../shared/vmcores)
STATE = {"aer-uncor": "captured", "cor-only": "skipped", "always-clean": "captured",
         "no-buffer": "absent", "layoutB-aer": "captured", "legacy-unaligned": "captured",
         "aer-handled": "captured"}


# ---------------------------------------------------------------- running makedumpfile

def mdf_version():
    out = subprocess.run(["makedumpfile", "-v"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "?"


def _ident(path):
    st = pathlib.Path(path).stat()
    return "%s:%d:%d" % (path, st.st_size, st.st_mtime_ns)


def run_mdf(name, args, src, nout=1, *, stdout_file=False, want_rc=0):
    """makedumpfile ARGS SRC OUT... (or > OUT with -F), cached by the command.

    Returns (list of output paths, return code, log text)."""
    MDF_CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(json.dumps([mdf_version(), args, _ident(src), nout, stdout_file])
                       .encode()).hexdigest()[:12]
    outs = [MDF_CACHE / ("%s-%s%s" % (name, key, ".%d" % (i + 1) if nout > 1 else ""))
            for i in range(nout)]
    meta = MDF_CACHE / ("%s-%s.json" % (name, key))
    if meta.exists():
        m = json.loads(meta.read_text())
        if m["rc"] != 0 and want_rc is None or all(o.exists() for o in outs):
            return [str(o) for o in outs], m["rc"], m["log"]
    for o in outs:
        if o.exists():
            o.unlink()
    cmd = ["makedumpfile"] + args + [str(src)]
    if stdout_file:
        with open(outs[0], "wb") as f:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE)
        log = proc.stderr.decode("utf-8", "replace")
    else:
        proc = subprocess.run(cmd + [str(o) for o in outs], capture_output=True)
        log = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    log = "\n".join(l.split("\r")[-1] for l in log.splitlines())[-3000:]
    assert want_rc is None or proc.returncode == want_rc, \
        "%s -> rc %d:\n%s" % (" ".join(cmd), proc.returncode, log)
    meta.write_text(json.dumps({"cmd": cmd, "rc": proc.returncode, "log": log}))
    return [str(o) for o in outs], proc.returncode, log


# ---------------------------------------------------------------- independent file facts

def elf_loads(f):
    """(file offset, vaddr, paddr, filesz) of each PT_LOAD of the ELF64 core open as `f`."""
    eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32)
    phnum, = struct.unpack_from("<H", eh, 56)
    f.seek(phoff)
    table = f.read(56 * phnum)
    for n in range(phnum):
        p_type, _fl, off, va, pa, fsz, _msz, _al = struct.unpack_from("<IIQQQQQQ", table, 56 * n)
        if p_type == 1:
            yield off, va, pa, fsz


def elf_file_offset(path, paddr, *, segment_start=False):
    """File offset of physical address `paddr` in an ELF64 core (PT_LOAD headers), or of
    the start of the segment holding it."""
    with open(path, "rb") as f:
        for off, _va, pa, fsz in elf_loads(f):
            if pa <= paddr < pa + fsz:
                return off if segment_start else off + paddr - pa
    raise AssertionError("0x%x not stored in %s" % (paddr, path))


def elf_segment_offsets(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phnum, = struct.unpack_from("<H", eh, 56)
        f.seek(phoff)
        phs = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    return sorted(p[2] for p in phs if p[0] == 1 and p[5])


def kdump_layout(path):
    """(block_size, split start_pfn, end_pfn) from a kdump-compressed header."""
    with open(path, "rb") as f:
        head = f.read(440)
        bs, = struct.unpack_from("<i", head, 428)
        f.seek(bs)
        sub = f.read(104)
    start, end = struct.unpack_from("<QQ", sub, 80)
    return bs, start, end


def kdump_data_offset(path, pfn):
    """File offset of `pfn`'s page data through the 2nd bitmap and its page descriptor."""
    with open(path, "rb") as f:
        head = f.read(440)
        bs, sub_blocks, bm_blocks = struct.unpack_from("<iiI", head, 428)
        bm_off = bs * (1 + sub_blocks)
        half = bm_blocks * bs // 2
        f.seek(bm_off + half)
        bm2 = f.read((pfn >> 3) + 1)
        before = sum(bin(b).count("1") for b in bm2[:pfn >> 3])
        before += bin(bm2[pfn >> 3] & ((1 << (pfn & 7)) - 1)).count("1")
        assert bm2[pfn >> 3] >> (pfn & 7) & 1, "pfn 0x%x not dumpable" % pfn
        f.seek(bm_off + 2 * half + 24 * before)
        off, size, _flags, _pf = struct.unpack("<qIIQ", f.read(24))
    return off


PEER = r"""
import hashlib, json, sys
import kdumpfile
req = json.load(sys.stdin)
k = kdumpfile.kdumpfile(req["path"])
out = {}
for pfn in req["pfns"]:
    try:
        data = bytes(k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * 4096, 4096))
        out[str(pfn)] = hashlib.sha1(data).hexdigest()
    except Exception as exc:
        out[str(pfn)] = "error:" + type(exc).__name__
json.dump(out, sys.stdout)
"""


def have_peer():
    return have_system_module("kdumpfile")


def peer_pages(path, pfns):
    """{pfn: sha1 of the page or 'error:...'} as libkdumpfile reads it (child process)."""
    res = subprocess.run([SYSTEM_PYTHON, "-c", PEER], input=json.dumps(
        {"path": str(path), "pfns": sorted(pfns)}), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, "libkdumpfile failed on %s: %s" % (path, res.stderr[-1500:])
    return {int(k): v for k, v in json.loads(res.stdout).items()}


# ---------------------------------------------------------------- inputs and truth

def capture_pfns(reader):
    """{pfn: ('pagemap', None) | ('buffer', index)} from the unfiltered input."""
    pm = read_pagemap(reader)
    if pm is None:
        return {}
    ps = reader.page_size
    end = pm.phys_addr + (16 if pm.layout == "A" else 20) + 8 * pm.num_pages
    out = {p: ("pagemap", None) for p in range(pm.phys_addr // ps, (end - 1) // ps + 1)}
    for i, a in enumerate(pm.page_addrs):
        out[a // ps] = ("buffer", i)
    return out


class Source:
    """One unfiltered input: its path, capture pages and their contents (sha1)."""

    def __init__(self, scenario, path):
        self.scenario, self.path = scenario, str(path)
        with open_dump([self.path]) as r:
            self.pfns = capture_pfns(r)
            got = r.read_pages(sorted(self.pfns))
            self.sha = {p: hashlib.sha1(d).hexdigest() for p, d in got.items()}
            rep = analyse(r, names="system")
            self.state = rep.capture.state
            self.records = [(x.bdf, x.config) for x in rep.capture.records]


def zero_buffer_elf(src):
    """A copy of aer-uncor's raw vmcore with the buffer pages zeroed: the all-zero buffer a
    skipped capture leaves (pagemap intact), for makedumpfile's zero-page handling."""
    dst = MDF_CACHE / "aer-uncor-zero-buffer.elf"
    if dst.exists() and dst.stat().st_size == pathlib.Path(src).stat().st_size:
        return dst
    MDF_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    with open_dump([str(src)]) as r:
        pm = read_pagemap(r)
    with open(tmp, "r+b") as f:
        for a in pm.page_addrs:
            f.seek(elf_file_offset(tmp, a))
            f.write(bytes(4096))
    tmp.rename(dst)
    return dst


def zero_run_elf(src):
    """A copy of aer-uncor's raw vmcore whose pagemap points at 12 zero pages in the middle
    of the longest run of zero kernel pages: a skipped capture whose all-zero buffer lies in
    a long run of excluded pages, which makedumpfile -E turns into a p_filesz < p_memsz tail.
    The run is found with makedumpfile's own outputs (-E -d 31 tail, -c -d 31 zero page)."""
    dst = MDF_CACHE / "aer-uncor-zero-run.elf"
    if dst.exists() and dst.stat().st_size == pathlib.Path(src).stat().st_size:
        return dst
    (e31,), _, _ = run_mdf("aer-uncor-E-d31", ["-E", "-d", "31"], src)
    (k31,), _, _ = run_mdf("aer-uncor-d31-zlib", ["-c", "-d", "31"], src)
    with open_dump([str(src)]) as r:
        pm = read_pagemap(r)
    n = len(pm.page_addrs)
    with open_dump([e31]) as e, open_dump([k31]) as k:
        es = e.page_statuses(range(e.max_pfn))
        ks = k.page_statuses(range(e.max_pfn))
    ok = [es[p] is S.ZERO_OR_EXCLUDED and ks[p] is S.ZERO for p in range(len(es))]
    best, run = (0, 0), 0
    for p, good in enumerate(ok):
        run = run + 1 if good else 0
        if run > best[0]:
            best = (run, p - run + 1)
    assert best[0] >= n + 256, "no long zero run in this vmcore: %r" % (best,)
    first = best[1] + best[0] // 2 - n // 2
    MDF_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    addrs_at = pm.phys_addr + (16 if pm.layout == "A" else 20)
    with open(tmp, "r+b") as f:
        f.seek(elf_file_offset(tmp, addrs_at))
        f.write(struct.pack("<%dQ" % n, *((first + i) * 4096 for i in range(n))))
    tmp.rename(dst)
    return dst


# ---------------------------------------------------------------- the matrix

class Run:
    def __init__(self, name, source, paths, *, expect=(), note="", peer=True, args=()):
        self.name, self.source, self.paths = name, source, paths
        self.expect = expect          # statuses check must find (set); empty = all kept
        self.note, self.peer, self.args = note, peer, list(args)


def build_matrix():
    runs = []
    raw = elf_vmcore("aer-uncor")
    sources = {"aer-uncor": Source("aer-uncor", raw)}
    zero = zero_buffer_elf(raw)
    sources["aer-uncor-zero"] = Source("cor-only", zero)
    sources["aer-uncor-zero-run"] = Source("cor-only", zero_run_elf(raw))
    for sc in SCENARIOS:
        if sc != "aer-uncor":
            sources[sc] = Source(sc, scenario_dir(sc) / "d31-zlib.kdump")

    def add(name, src_key, args, *, expect=(), nout=1, stdout_file=False, want_rc=0, peer=True,
            paths_filter=None):
        src = sources[src_key]
        paths, _rc, _log = run_mdf(name, args, src.path, nout, stdout_file=stdout_file,
                                   want_rc=want_rc)
        if paths_filter:
            paths = paths_filter(paths)
        runs.append(Run(name, src, paths, expect=set(expect), peer=peer, args=args))
        return paths

    # dump level x compression, from the raw ELF and re-filtering every d31-zlib.kdump
    for key in ["aer-uncor"] + [s for s in SCENARIOS if s != "aer-uncor"]:
        for level in LEVELS:
            for comp, opt in COMPRESSIONS.items():
                add("%s-d%d-%s" % (key, level, comp), key, opt + ["-d", str(level)])
    # ELF output (-E) and flattened (-F, read in place), from the raw ELF
    for level in LEVELS:
        add("aer-uncor-E-d%d" % level, "aer-uncor", ["-E", "-d", str(level)])
    add("aer-uncor-F-d31-zlib", "aer-uncor", ["-F", "-c", "-d", "31"], stdout_file=True,
        peer=False)
    # all-zero buffer (skipped capture) at dump level bit 1: shared zero page / -E
    for level in (1, 31):
        add("zero-d%d-zlib" % level, "aer-uncor-zero", ["-c", "-d", str(level)],
            expect={S.ZERO})
        add("zero-E-d%d" % level, "aer-uncor-zero", ["-E", "-d", str(level)])
    add("zero-d0-zlib", "aer-uncor-zero", ["-c", "-d", "0"])
    # the same in a long zero run: -E makes it a tail (ZERO_OR_EXCLUDED, read as zeros)
    for level in (1, 31):
        add("zero-run-E-d%d" % level, "aer-uncor-zero-run", ["-E", "-d", str(level)],
            expect={S.ZERO_OR_EXCLUDED})
        add("zero-run-d%d-zlib" % level, "aer-uncor-zero-run", ["-c", "-d", str(level)],
            expect={S.ZERO})
    return runs, sources


@pytest.fixture(scope="session")
def matrix():
    if not have_shared():
        pytest.skip("../shared/vmcores not present")
    if not have_tool("makedumpfile"):
        pytest.skip("makedumpfile not installed")
    return build_matrix()


def _findings(res):
    return {f.pfn: f for f in res.findings if f.pfn is not None and f.what != "eraseinfo"}


def verify(run, reader, res, *, peer=None):
    """check and analysis against the source's truth and (when given) libkdumpfile's reading."""
    src = run.source
    found = _findings(res)
    if not src.pfns:                  # no PCI_CRASH lines at all
        assert res.exit_code == 1 and "no capture" in res.verdict, (run.name, check_view.lines(res))
        assert analyse(reader, names="system").capture.state == "absent"
        return
    statuses = {f.status for f in found.values() if not f.harmless}
    if peer is not None:
        for pfn, (what, _idx) in src.pfns.items():
            p = peer[pfn]
            f = found.get(pfn)
            where = "%s %s pfn 0x%x: peer %s, check %s" % (
                run.name, what, pfn, p, check_view.finding_line(f) if f else "stored")
            if p.startswith("error:") and f is not None and f.status is S.ZERO_OR_EXCLUDED:
                # an -E tail: libkdumpfile has no data, check reads it as the zeros it was
                assert f.harmless and src.sha[pfn] == ZEROS_SHA, where
            elif p.startswith("error:"):
                # missing for libkdumpfile: check names it, unless it stopped at the pagemap
                pm_missing = any(g.what == "pagemap" for g in found.values() if not g.harmless)
                assert (f is not None and not f.harmless) or (pm_missing and what == "buffer"), where
            else:
                assert p == src.sha[pfn], where + " (content changed)"
                assert f is None or (f.harmless and p == ZEROS_SHA), where
    for st in run.expect:
        assert any(f.status is st for f in found.values()), (run.name, st, check_view.lines(res))
    bad = [f for f in res.findings if not f.harmless]
    assert res.exit_code == (1 if bad else 0), (run.name, check_view.lines(res))
    cap = analyse(reader, names="system").capture
    if res.exit_code == 0:
        assert cap.state == src.state, (run.name, cap.state, cap.reason)
        assert [(x.bdf, x.config) for x in cap.records] == src.records, run.name
    else:
        assert cap.state in ("partial", "corrupt"), (run.name, cap.state)
        missing = {(i, pfn, st) for i, pfn, st in cap.missing}
        want = {(f.index, f.pfn, f.status) for f in bad if f.what == "buffer"}
        assert missing == want, (run.name, missing, want)
    return statuses


@pytest.mark.slow
def test_matrix_check_and_analysis_agree_with_libkdumpfile(matrix):
    runs, _sources = matrix
    use_peer = have_peer()
    for run in runs:
        with open_dump(run.paths) as reader:
            res = check(reader)
            peer = peer_pages(run.paths[0], run.source.pfns) if (use_peer and run.peer
                                                                and run.source.pfns) else None
            verify(run, reader, res, peer=peer)
            # every level keeps the capture: bits 2/4/8/16 never drop kvmalloc'd kernel memory
            if run.source.state == "captured":
                assert res.exit_code == 0, (run.name, check_view.lines(res))


def test_flattened_read_in_place_equals_rearranged(matrix):
    runs, _ = matrix
    flat = next(r for r in runs if r.name == "aer-uncor-F-d31-zlib")
    normal = next(r for r in runs if r.name == "aer-uncor-d31-zlib")
    with open_dump(flat.paths) as a, open_dump(normal.paths) as b:
        assert "flattened" in a.format
        ra, rb = check(a), check(b)
        assert ra.exit_code == rb.exit_code == 0
        assert (ra.pages_stored, ra.num_pages) == (rb.pages_stored, rb.num_pages)


def test_zero_buffer_reads_as_skipped_in_every_form(matrix):
    runs, _ = matrix
    by = {r.name: r for r in runs}
    for name, want in (("zero-d1-zlib", S.ZERO), ("zero-d31-zlib", S.ZERO),
                       ("zero-E-d31", None), ("zero-d0-zlib", None),
                       ("zero-run-E-d31", S.ZERO_OR_EXCLUDED), ("zero-run-E-d1", S.ZERO_OR_EXCLUDED),
                       ("zero-run-d31-zlib", S.ZERO)):
        with open_dump(by[name].paths) as r:
            res = check(r)
            assert res.exit_code == 0 and "skipped" in res.verdict, (name, check_view.lines(res))
            sts = {f.status for f in res.findings}
            # kdump: bit 1 shares one stored zero page; -E: a 12-page zero run is
            # shorter than 256 pages, so makedumpfile still writes it (as zeros)
            assert sts == ({want} if want else set()), (name, check_view.lines(res))
            assert analyse(r, names="system").capture.state == "skipped"


# ---------------------------------------------------------------- -L and --split

def test_size_limit_cuts_pages_written_last(matrix):
    _runs, sources = matrix
    src = sources["aer-uncor"]
    buf = sorted(p for p, (w, _i) in src.pfns.items() if w == "buffer")
    # uncompressed -d 31: page data is in pfn order, one page each; cut inside the middle
    # buffer page's data (the dump made without -L tells where that is)
    (full,), _, _ = run_mdf("L-ref-d31-none", ["-d", "31"], src.path)
    mid = buf[len(buf) // 2]
    limit = kdump_data_offset(full, mid) + 2048
    (cut,), rc, log = run_mdf("L-d31-none-%d" % limit, ["-d", "31", "-L", str(limit)],
                              src.path, want_rc=1)
    assert "Size limit" in log and pathlib.Path(cut).stat().st_size == limit
    run = Run("L-cut", src, [cut], expect={S.LOST})
    with open_dump([cut]) as r:
        assert r.incomplete
        res = check(r)
        verify(run, r, res, peer=peer_pages(cut, src.pfns) if have_peer() else None)
        lost = sorted(f.pfn for f in res.findings if f.status is S.LOST)
        # what is lost is the tail in pfn order: pages below the cut survive
        assert lost and lost == [p for p in buf if p >= lost[0]], check_view.lines(res)
        assert mid in lost and buf[0] not in lost
        assert not any(f.what == "pagemap" for f in res.findings)
    # compressed: a limit below the pagemap's data loses the pagemap: nothing can be located
    (zfull,), _, _ = run_mdf("aer-uncor-d31-zlib", ["-c", "-d", "31"], src.path)
    pm_pfn = min(p for p, (w, _i) in src.pfns.items() if w == "pagemap")
    zlimit = kdump_data_offset(zfull, pm_pfn)
    (zcut,), _, _ = run_mdf("L-d31-zlib-%d" % zlimit, ["-c", "-d", "31", "-L", str(zlimit)],
                            src.path, want_rc=1)
    with open_dump([zcut]) as r:
        res = check(r)
        assert res.exit_code == 1 and "pagemap" in res.verdict
        (f,) = res.findings
        assert f.what == "pagemap" and f.status is S.LOST and f.pfn == pm_pfn
        verify(Run("L-zcut", src, [zcut], expect={S.LOST}), r, res,
               peer=peer_pages(zcut, src.pfns) if have_peer() else None)


def test_size_limit_on_elf_output(matrix):
    """makedumpfile -E -L: data is written segment by segment in program-header order, and a
    segment's header only when it is reached: pages past the cut are LOST (segment header
    written) or in no segment at all (OUTSIDE, which check explains as a cut)."""
    _runs, sources = matrix
    src = sources["aer-uncor"]
    buf = sorted(p for p, (w, _i) in src.pfns.items() if w == "buffer")
    pm_pfn = min(p for p, (w, _i) in src.pfns.items() if w == "pagemap")
    (full,), _, _ = run_mdf("aer-uncor-E-d31", ["-E", "-d", "31"], src.path)
    mid = buf[len(buf) // 2]
    limit = elf_file_offset(full, mid * 4096) + 2048
    (cut,), _, log = run_mdf("EL-d31-%d" % limit, ["-E", "-d", "31", "-L", str(limit)],
                             src.path, want_rc=1)
    assert "Size limit" in log
    with open_dump([cut]) as r:
        res = check(r)
        # no libkdumpfile here: 0.5.1 dies of SIGBUS on a cut ELF file (it maps past EOF)
        verify(Run("EL-cut", src, [cut], expect={S.LOST}), r, res)
        lost = sorted(f.pfn for f in res.findings if f.status is S.LOST)
        assert lost == [p for p in buf if p >= mid], check_view.lines(res)
    # a cut before the capture's segment: its PT_LOAD header was never written
    # (halfway through the segment before it: makedumpfile writes a segment's header a
    # little ahead of its data)
    seg = elf_file_offset(full, pm_pfn * 4096, segment_start=True)
    prev = max(o for o in elf_segment_offsets(full) if o < seg)
    limit = (prev + seg) // 2
    (cut,), _, _ = run_mdf("EL-d31-%d" % limit, ["-E", "-d", "31", "-L", str(limit)],
                           src.path, want_rc=1)
    with open_dump([cut]) as r:
        res = check(r)
        assert res.exit_code == 1
        (f,) = res.findings
        assert f.what == "pagemap" and f.status is S.OUTSIDE and "incomplete" in f.reason
        assert analyse(r, names="system").capture.state in ("partial", "corrupt")


def test_split_parts_and_a_missing_part(matrix):
    _runs, sources = matrix
    src = sources["aer-uncor"]
    n = 13       # 4 KiB split blocks: with 13 parts the pagemap and the buffer fall apart
    parts, _, _ = run_mdf("split13-d31-zlib", ["--split", "--splitblock-size", "4", "-c",
                                               "-d", "31"], src.path, n)
    ranges = [kdump_layout(p)[1:] for p in parts]
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))

    def holder(pfn):
        return next(i for i, (lo, hi) in enumerate(ranges) if lo <= pfn < hi)

    with open_dump(list(reversed(parts))) as r:
        res = check(r)
        assert res.exit_code == 0, check_view.lines(res)
        verify(Run("split-all", src, parts, expect=()), r, res)
    pm_part = holder(min(p for p, (w, _i) in src.pfns.items() if w == "pagemap"))
    buf_parts = {holder(p) for p, (w, _i) in src.pfns.items() if w == "buffer"}
    for gone in sorted({pm_part} | buf_parts):
        given = [p for i, p in enumerate(parts) if i != gone]
        lo, hi = ranges[gone]
        with open_dump(given) as r:
            res = check(r)
            assert res.exit_code == 1
            nip = [f for f in res.findings if f.status is S.NOT_IN_PART]
            want = sorted(p for p in src.pfns if lo <= p < hi)
            if gone == pm_part:
                assert [f.pfn for f in nip] == [p for p in want if src.pfns[p][0] == "pagemap"]
            else:
                assert sorted(f.pfn for f in nip) == want
            assert all("0x%x-0x%x" % (lo, hi) in f.reason for f in nip), check_view.lines(res)
            verify(Run("split-without-%d" % (gone + 1), src, given, expect={S.NOT_IN_PART}),
                   r, res)


# ---------------------------------------------------------------- the shipped lines

def shipped_arg_lines():
    """(file, makedumpfile arguments) for every line of the shipped configuration: the
    active ones and the commented-out alternatives (`#core_collector ...`, e.g. ssh's -F)."""
    out = []
    conf = FILTER_DIR / "kdump.conf"
    for line in conf.read_text().splitlines():
        m = re.match(r"^#?\s*core_collector\s+makedumpfile\s+(.*)$", line)
        if m:
            out.append(("kdump.conf", shlex.split(m.group(1))))
    default = FILTER_DIR / "kdump-tools" / "kdump-tools.default"
    for line in default.read_text().splitlines():
        m = re.match(r"^\s*MAKEDUMP_ARGS=(.*)$", line)
        if m:
            out.append(("kdump-tools.default", shlex.split(shlex.split(m.group(1))[0])))
    return out


def test_shipped_files_have_lines():
    lines = shipped_arg_lines()
    assert {f for f, _ in lines} == {"kdump.conf", "kdump-tools.default"}
    for _f, args in lines:
        assert "-d" in args


def test_shipped_lines_keep_every_capture_page(matrix):
    _runs, sources = matrix
    for i, (fname, args) in enumerate(shipped_arg_lines()):
        for key in ("aer-uncor", "aer-uncor-zero", "legacy-unaligned", "layoutB-aer"):
            src = sources[key]
            flat = "-F" in args
            (out,), _, log = run_mdf("shipped%d-%s" % (i, key), args, src.path,
                                     stdout_file=flat)
            run = Run("%s %s on %s" % (fname, " ".join(args), key), src, [out])
            with open_dump([out]) as r:
                res = check(r)
                assert res.exit_code == 0, (run.name, check_view.lines(res))
                verify(run, r, res, peer=peer_pages(out, src.pfns)
                       if have_peer() and not flat else None)


def test_cli_check_on_a_filtered_dump(matrix):
    runs, _ = matrix
    by = {r.name: r for r in runs}
    from pykdump_ext.frontends.cli import main as cli
    for name, code in (("aer-uncor-d31-lzo", 0), ("no-buffer-d31-zlib", 1)):
        proc = subprocess.run([sys.executable, "-m", "pykdump_ext.frontends.cli.main",
                               "--check"] + by[name].paths, capture_output=True, text=True,
                              cwd=str(ROOT))
        assert proc.returncode == code, (name, proc.stdout, proc.stderr)
        assert proc.stdout.startswith(by[name].paths[0])
    assert cli  # imported: the hook exists


# ---------------------------------------------------------------- --config erase rules

ERASE_RULES = {
    # rule -> does it overwrite capture bytes?
    "erase pci_crash_buffer size pci_crash_buffer_size": True,   # the data the pointer points at
    "erase pci_crash_pagemap": True,                             # the pagemap struct
    "erase pci_crash_buffer_size": False,                        # a size_t variable
}


def elf_read_virt(path, vaddr, size):
    """Bytes at kernel virtual address `vaddr` of an ELF core (PT_LOAD p_vaddr)."""
    with open(path, "rb") as f:
        for off, va, _pa, fsz in list(elf_loads(f)):
            if va <= vaddr and vaddr + size <= va + fsz:
                f.seek(off + vaddr - va)
                return f.read(size)
    raise AssertionError("0x%x not in %s" % (vaddr, path))


def kernel_symbol(name, kernel_dir="kernel"):
    smap = scenario_dir("aer-uncor").parent / kernel_dir / "System.map"
    for line in smap.read_text().splitlines():
        addr, _t, sym = line.split()[:3]
        if sym == name:
            return int(addr, 16)
    raise AssertionError("%s not in %s" % (name, smap))


@pytest.mark.parametrize("rule", sorted(ERASE_RULES))
def test_config_erase_rule(matrix, rule):
    """makedumpfile --config with an erase rule on the pci_crash symbols.

    Debian's 1.7.2 loads the symbols of every loaded module before any rule
    (erase_info.c load_module_symbols) and gives up when there is none
    ("Can't get module count"); the lab kernels have every driver built in.
    When that happens the test checks that reason against the vmcore (the
    kernel's `modules` list is empty) and that no dump was written; if
    makedumpfile does write the dump, --check must report the eraseinfo rule
    and whether it touched the capture."""
    _runs, sources = matrix
    src = sources["aer-uncor"]
    conf = MDF_CACHE / ("erase-%s.conf" % hashlib.sha1(rule.encode()).hexdigest()[:8])
    conf.write_text("[vmlinux]\n%s\n" % rule)
    vmlinux = conftest_vmlinux("kernel")
    (out,), rc, log = run_mdf("erase-%s" % conf.stem, ["-c", "-d", "31", "-x", str(vmlinux),
                                                        "--config", str(conf)],
                              src.path, want_rc=None)
    if rc != 0:
        assert "Can't get module count" in log, log
        assert not pathlib.Path(out).exists() or pathlib.Path(out).stat().st_size == 0
        # the crashed kernel's module list is empty: `modules` (a list_head) points at itself
        with open_dump([src.path]) as r:
            stext = int(r.vmcoreinfo["SYMBOL(_stext)"], 16)
        head = kernel_symbol("modules") + stext - kernel_symbol("_stext")
        nxt, prv = struct.unpack("<QQ", elf_read_virt(src.path, head, 16))
        assert nxt == prv == head, "modules list not empty: next 0x%x prev 0x%x" % (nxt, prv)
        return
    with open_dump([out]) as r:
        res = check(r)
        assert res.eraseinfo and rule.split()[1] in res.eraseinfo
        touched = [f for f in res.findings if f.what == "eraseinfo" and not f.harmless]
        assert bool(touched) is ERASE_RULES[rule], check_view.lines(res)
        assert res.exit_code == (1 if ERASE_RULES[rule] else 0)


@needs_shared
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_shared_dump_files(scenario):
    """Every shipped dump (upstream snappy/zstd builds, the capture kernel's flattened
    stream, the 90% -L cut, the split pair): --check agrees with what the scenario left."""
    from tests.shared import dump_files
    for paths in dump_files(scenario):
        with open_dump([str(p) for p in paths]) as r:
            res = check(r)
            cap = analyse(r, names="system").capture
            want = 1 if STATE[scenario] == "absent" else 0
            assert res.exit_code == want, (paths, check_view.lines(res))
            assert cap.state == STATE[scenario], (paths, cap.state)
            if STATE[scenario] == "skipped":
                assert res.pages_zero == res.num_pages and "skipped" in res.verdict
