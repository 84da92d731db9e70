"""pcicrash --extract: the triage extract against its source and the real readers.

For every shared dump and format: the extract's JSON report equals the full
dump's (only the fields that describe the file itself differ: source,
format, reader_notes); every page stored in the extract is one the analysis
touched (or one makedumpfile / crash said it must read) and reads back as the
source's bytes; libkdumpfile reads the same bytes at the same physical
addresses and nothing else; `makedumpfile --dump-dmesg` prints the same log.
"""

import hashlib
import json
import os
import subprocess

import pytest

from tests.shared import (ROOT, VMCORES, elf_vmcore, have_shared, have_tool, needs_makedumpfile, needs_peer,
                          needs_shared, peer_read, scenario_dir, vmlinux)
from tests.builders.capture import fake_buffer, pci_crash_pages
from tests.builders.elf import vmcoreinfo_text, write_elf
from tests.builders.kdump import build_kdump, page, write_kdump
from crash_ext_c.kdump import KdumpReader
from crash_ext_c.kdump_write import CODECS
from crash_ext_c.open import open_dump
from pykdump_ext.output import report_json
from pykdump_ext.analysis.report import analyse
from crash_ext_c.errors import PcicrashError
from pykdump_ext.output.extract import EXAMPLE, make_extract, record
from crash_ext_c.reader import PageStatus as S

FILE_FIELDS = ("source", "format", "reader_notes")    # describe the file, not the crash


def report(paths, vmlinux_path=None):
    with open_dump([str(p) for p in paths]) as r:
        kernel = None
        if vmlinux_path:
            from pykdump_ext.kernel.drgn_source import kernel_info
            kernel = kernel_info(r, str(paths[0]), str(vmlinux_path), lazy=True)
        text = report_json.dumps(analyse(r, kernel=kernel, names="system"))
        # messages name the file (a missing page's path): the one other place it shows
        for name in sorted({r.name} | {str(p) for p in paths}, key=len, reverse=True):
            text = text.replace(json.dumps(name)[1:-1], "<DUMP>")
        out = json.loads(text)
    for k in FILE_FIELDS:
        out.pop(k)
    return out


def sources():
    """(id, [paths]) of every shared dump and format."""
    if not have_shared():
        return []
    out = []
    for f in sorted(VMCORES.glob("*/d31-zlib.kdump")):
        out.append(("%s/d31-zlib.kdump" % f.parent.name, [f]))
    d = scenario_dir("aer-uncor")
    for name in ("d31-zlib.flat", "d31-zlib-truncated.kdump", "d31-snappy.kdump",
                 "d31-zstd.kdump"):
        out.append(("aer-uncor/" + name, [d / name]))
    out.append(("aer-uncor/split", [d / "d31-zlib-split.1", d / "d31-zlib-split.2"]))
    out.append(("aer-uncor/vmcore.elf", None))       # decompressed on first use
    return out


SOURCES = dict(sources())


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    """id -> (source paths, ExtractResult), made once per module."""
    out = {}
    tmp = tmp_path_factory.mktemp("extracts")

    def get(key):
        if key not in out:
            paths = SOURCES[key] or [elf_vmcore("aer-uncor")]
            dst = tmp / (key.replace("/", "_") + ".triage.kdump")
            out[key] = (paths, make_extract(paths, dst))
        return out[key]
    return get


@needs_shared
@pytest.mark.parametrize("key", sorted(SOURCES))
def test_extract_report_equals_full_dump(extracts, key):
    paths, res = extracts(key)
    full, ext = report(paths), report([res.path])
    assert ext == full
    assert res.size < res.source_size / 20, (res.size, res.source_size)
    with open_dump([res.path]) as r:
        assert r.extract_of["SOURCE"] == " ".join(os.path.abspath(p) for p in paths)
        assert "pcicrash triage extract" in r.format


@needs_shared
@pytest.mark.parametrize("key", sorted(SOURCES))
def test_extract_keeps_only_the_listed_pages_byte_identical(extracts, key):
    paths, res = extracts(key)
    with open_dump([str(p) for p in paths]) as src:
        _, rec = record(src)                       # an independent run of the analysis
        listed = rec.pfns | res.support
        with KdumpReader(res.path) as ext:
            part = ext.parts[0]
            # every bit of the extract's 2nd bitmap, read straight from the file
            bm = part._bitmap_bytes(True, 0, -(-ext.max_pfn // 8))
            in_bitmap = {i * 8 + b for i, byte in enumerate(bm) if byte
                         for b in range(8) if byte >> b & 1}
            assert in_bitmap == set(res.pfns)
            assert in_bitmap <= listed, sorted(in_bitmap - listed)[:10]
            # the kernel log's pages are kept (the ones the source has)
            log = rec.kernel_log.pfns
            assert log and {p for p in log if src.page_status(p).readable or
                            src.page_status(p) is S.LOST} <= in_bitmap
            # the analysis sees the same status for every page it touched
            src_st = dict(zip(sorted(rec.pfns), src.page_statuses(sorted(rec.pfns))))
            ext_st = dict(zip(sorted(rec.pfns), ext.page_statuses(sorted(rec.pfns))))
            for pfn in rec.pfns:
                want = {S.NOT_IN_PART: S.EXCLUDED, S.ZERO_OR_EXCLUDED: S.ZERO}.get(
                    src_st[pfn], src_st[pfn])
                if src_st[pfn] is S.PRESENT and ext_st[pfn] is S.ZERO:
                    want = S.ZERO                  # ELF source: an all-zero page
                assert ext_st[pfn] is want, (hex(pfn), src_st[pfn], ext_st[pfn])
            readable = [p for p in res.pfns if ext_st.get(p, ext.page_status(p)).readable]
            mine, theirs = ext.read_pages(readable), src.read_pages(readable)
            for pfn in readable:
                assert mine[pfn] == theirs[pfn], hex(pfn)
            # stored bytes copied unchanged where the codec matches
            if hasattr(src, "stored_pages") and res.copied:
                a, b = ext.stored_pages(readable), src.stored_pages(readable)
                same = [p for p in a if p in b and a[p][0] == b[p][0]]
                assert len(same) == res.copied
                assert all(a[p] == b[p] for p in same)


@needs_shared
def test_analysis_pages_only_is_exactly_what_the_analysis_touched(tmp_path, capsys):
    from pykdump_ext.frontends.cli.main import main
    src = scenario_dir("aer-handled") / "d31-zlib.kdump"
    out = tmp_path / "x.kdump"
    assert main(["--extract", str(out), "--analysis-pages-only", str(src)]) == 0
    assert "not tried (--analysis-pages-only)" in capsys.readouterr().out
    with open_dump([src]) as s:
        _, rec = record(s)
        keep = {p for p, st in zip(sorted(rec.pfns), s.page_statuses(sorted(rec.pfns)))
                if st.readable or st is S.LOST}
    with KdumpReader(out) as x:
        bm = x.parts[0]._bitmap_bytes(True, 0, -(-x.max_pfn // 8))
        stored = {i * 8 + b for i, byte in enumerate(bm) if byte for b in range(8) if byte >> b & 1}
    assert stored == keep
    assert report([out]) == report([src])


@needs_shared
def test_elf_source_header_is_what_makedumpfile_wrote_for_the_same_crash(extracts):
    _, res = extracts("aer-uncor/vmcore.elf")
    with KdumpReader(res.path) as x, KdumpReader(scenario_dir("aer-uncor") / "d31-zlib.kdump") as k:
        assert x.utsname == k.utsname              # read from the kernel's init_uts_ns
        assert (x.phys_base, x.max_pfn) == (k.phys_base, k.max_pfn)


@needs_shared
@needs_peer
@pytest.mark.parametrize("key", sorted(SOURCES))
def test_libkdumpfile_reads_the_same_bytes_and_nothing_else(extracts, key):
    # the extract is a plain kdump file even when its source was flattened or split,
    # which libkdumpfile 0.5.1 cannot be given
    paths, res = extracts(key)
    kept = sorted(res.pfns)
    others = [p for p in range(0, 0x20000, 997) if p not in res.pfns]
    peer = peer_read(res.path, kept + others)
    with open_dump([str(p) for p in paths]) as src:
        assert peer["vmcoreinfo"] == src.vmcoreinfo
        got = src.read_pages(kept)
        statuses = dict(zip(kept, src.page_statuses(kept)))
        for pfn in kept:
            kind, val = peer["pages"][pfn]
            if statuses[pfn] is S.LOST:
                assert kind == "error", hex(pfn)
            else:
                assert (kind, val) == ("data", hashlib.sha1(got[pfn]).hexdigest()), hex(pfn)
    for pfn in others:
        assert peer["pages"][pfn] == ["error", "NoDataException"], hex(pfn)


def _dmesg(path, tmp_path):
    out = tmp_path / ("dmesg-%s.txt" % hashlib.sha1(str(path).encode()).hexdigest()[:8])
    r = subprocess.run(["makedumpfile", "--dump-dmesg", str(path), str(out)],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, out.read_bytes() if r.returncode == 0 else r.stdout + r.stderr


@needs_shared
@needs_makedumpfile
@pytest.mark.parametrize("key", sorted(SOURCES))
def test_makedumpfile_dump_dmesg_prints_the_same_log(extracts, key, tmp_path):
    paths, res = extracts(key)
    rc, log = _dmesg(res.path, tmp_path)
    name = str(paths[0])
    if name.endswith(("-snappy.kdump", "-zstd.kdump")):
        # Debian's makedumpfile has neither codec: it fails on the dump and on the
        # extract alike; the same pages as zlib (-c) give the log
        src_rc, src_log = _dmesg(paths[0], tmp_path)
        assert rc != 0 and src_rc != 0 and "compression unsupported" in log
        assert "compression unsupported" in src_log
        res = make_extract(paths, tmp_path / "c.kdump", codec="zlib")
        rc, log = _dmesg(res.path, tmp_path)
    # no flattened file in place, no split set: compared with the zlib dump of the crash
    direct = len(paths) == 1 and not name.endswith((".flat", "-snappy.kdump", "-zstd.kdump"))
    ref = paths[0] if direct else scenario_dir(key.split("/")[0]) / "d31-zlib.kdump"
    ref_rc, ref_log = _dmesg(ref, tmp_path)
    if ref_rc != 0:
        # the full dump's log is unreadable too (truncated: its page tables are lost)
        assert rc != 0 and "makedumpfile Failed" in log
        assert res.makedumpfile.startswith("cannot read it")
    else:
        assert rc == 0, log
        assert log == ref_log and b"Linux version" in log
        assert res.makedumpfile == "reads it"
        # pcicrash's own log reader: the same bytes from the extract as from the dump
        assert _our_dmesg([res.path]) == _our_dmesg(paths) == log


def _our_dmesg(paths):
    from pykdump_ext.frontends.cli.main import execute, make_parser
    import io
    out = io.StringIO()
    with open_dump([str(p) for p in paths]) as r:
        execute(r, make_parser().parse_args(["--dmesg", str(paths[0])]), out, err=io.StringIO())
    return out.getvalue().encode("utf-8", "surrogateescape")


@needs_shared
@pytest.mark.skipif(not have_tool("crash"), reason="crash missing")
def test_crash_minimal_opens_an_extract_made_with_vmlinux(tmp_path):
    src = scenario_dir("aer-uncor") / "d31-zlib.kdump"
    vml = vmlinux("kernel")
    res = make_extract([src], tmp_path / "x.kdump", vmlinux=vml)
    assert res.crash == "reads it"
    cmds = tmp_path / "cmds"
    pm = int(json.loads(report_json.dumps(res.report))["capture"]["pagemap"]["phys_addr"])
    cmds.write_text("log\nrd -p 0x%x 16\nq\n" % pm)

    def run(dump, *opts):
        r = subprocess.run(["crash", "--minimal", *opts, "-i", str(cmds), str(vml), str(dump)],
                           capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        return r.stdout[r.stdout.find("crash> "):] if "crash> " in r.stdout else r.stdout
    full, ext = run(src), run(res.path)
    assert "pci_crash" in full and ext == full
    # the report with the kernel's view is the same too
    assert report([res.path], vml) == report([src], vml)
    # made without --vmlinux, crash --minimal needs --zero_excluded (one kernel variable)
    plain = make_extract([src], tmp_path / "y.kdump")
    assert "pci_crash" not in run(plain.path)
    assert run(plain.path, "--zero_excluded") == full


# ---- compression, without or with the shared dumps

def _synthetic(tmp_path, **kw):
    buf = fake_buffer(3 * 4096 + 100, seed=3)
    pfns = [0x300, 0x512, 0x513, 0x7ff]
    pages, lines = pci_crash_pages(buf, "A", pfns, pagemap_addr=0x200040)
    filler = {p: fake_buffer(4096, seed=p) for p in range(0x100, 0x140)}
    filler.update({p: bytes(4096) for p in range(0x140, 0x150)})
    pages.update(filler)
    return write_kdump(str(tmp_path / "src.kdump"), pages, max_pfn=0x1000,
                             vmcoreinfo_lines=lines, **kw), pages


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_chosen_codec_and_copy_when_it_matches(tmp_path, codec):
    src, pages = _synthetic(tmp_path)
    res = make_extract([src], tmp_path / "x.kdump", codec=codec, makedumpfile_check=False)
    with open_dump([src]) as s, KdumpReader(res.path) as x:
        assert x.compression == codec
        flags = {f for f, _, _ in x.stored_pages(res.pfns).values()}
        assert flags <= {0, CODECS[codec]}
        if codec != "none":
            assert CODECS[codec] in flags        # these pages do compress
        assert x.read_pages(res.pfns) == s.read_pages(res.pfns)
        assert res.copied == (len(x.stored_pages(res.pfns)) if codec == "zlib" else 0)
        assert report([res.path]) == report([src])
        # filler pages the analysis never read are not in the extract
        assert not set(res.pfns) & set(range(0x100, 0x150))


def test_lost_pages_stay_lost_and_the_extract_is_incomplete(tmp_path):
    src, _ = _synthetic(tmp_path, incomplete_after=45)   # the last buffer pages are cut
    res = make_extract([src], tmp_path / "x.kdump", makedumpfile_check=False)
    assert res.lost >= 1
    with KdumpReader(res.path) as x:
        assert x.incomplete
        assert [p for p in res.pfns if x.page_status(p) is S.LOST]
    full, ext = report([src]), report([res.path])
    assert full["capture"]["state"] == "partial" and ext == full


def test_elf_source_gets_zlib_and_a_header_from_vmcoreinfo(tmp_path):
    buf = fake_buffer(2 * 4096, seed=5)
    pages, lines = pci_crash_pages(buf, "A", [0x20, 0x21], pagemap_addr=0x10000)
    src = write_elf(str(tmp_path / "src.elf"), pages, loads=[(0, 0x100 * 4096, 0x100 * 4096)],
                          vmcoreinfo_lines=lines)
    res = make_extract([src], tmp_path / "x.kdump", makedumpfile_check=False)
    assert res.codec == "zlib" and res.recompressed == res.stored
    with KdumpReader(res.path) as x:
        assert x.utsname["release"] == "6.1.0-synthetic" and x.utsname["sysname"] == "Linux"
        assert x.max_pfn == 0x100
        assert x.page_status(0x50) is S.EXCLUDED      # RAM, not kept
        assert x.page_status(0x150) is S.OUTSIDE
    assert report([res.path]) == report([src])


def test_bad_requests_are_one_line_errors(tmp_path, capsys):
    from pykdump_ext.frontends.cli.main import main
    src, _ = _synthetic(tmp_path)
    with pytest.raises(PcicrashError, match="overwrite its own source"):
        make_extract([src], src)
    for argv, what in ((["--extract", str(tmp_path / "x"), str(tmp_path / "missing")],
                        "missing: cannot"),
                       (["-z", src], "choose the compression of --extract"),
                       (["--example", src], "--example takes no DUMP"),
                       (["--extract", str(tmp_path / "x"), "--compress", "none", "-z", str(
                           tmp_path / "missing")], "missing")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("pcicrash: ") and what in err[-1], err
    assert not (tmp_path / "x").exists()


# ---- the shipped example

def test_shipped_example_is_small_and_says_what_it_is():
    assert os.path.getsize(EXAMPLE) < 128 * 1024
    with KdumpReader(EXAMPLE) as x:
        assert x.extract_of["SOURCE"].endswith("aer-uncor/d31-zlib.kdump")
        assert x.extract_of["PEERS_CHECKED"].startswith("makedumpfile --dump-dmesg reads it")


@needs_shared
def test_shipped_example_is_current(tmp_path):
    """Regenerate with: pcicrash --vmlinux VMLINUX --extract pykdump_ext/examples/
    aer-uncor.triage.kdump ../shared/vmcores/aer-uncor/d31-zlib.kdump"""
    src = scenario_dir("aer-uncor") / "d31-zlib.kdump"
    assert report([EXAMPLE]) == report([src])


def test_example_command_on_a_fresh_clone_without_shared(tmp_path):
    root = str(ROOT)
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True,
                           check=True).stdout.split()
    clone = tmp_path / "clone"
    for f in files:
        dst = clone / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes((open(os.path.join(root, f), "rb")).read())
    env = dict(os.environ, PYTHONPATH=str(clone), PCICRASH_SHARED=str(tmp_path / "no-shared"))
    r = subprocess.run([os.sys.executable, "-c",
                        "import sys; from pykdump_ext.frontends.cli.main import main; sys.exit(main(['--example']))"],
                       cwd=str(clone), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("Verdict: ") and "0000:01:00.0" in r.stdout
    assert "clone/pykdump_ext/examples/aer-uncor.triage.kdump" in r.stdout
    if have_shared():           # the same verdict as on the lab dump it came from
        full = subprocess.run([os.sys.executable, "-m", "pykdump_ext.frontends.cli.main",
                               str(scenario_dir("aer-uncor") / "d31-zlib.kdump")],
                              capture_output=True, text=True, timeout=120)
        assert full.stdout.splitlines()[0] == first


def test_a_damaged_marker_note_costs_a_note_not_the_dump(tmp_path):
    src, _ = _synthetic(tmp_path, extra_notes=[("PCICRASH", 1, b"SOURCE=" + b"x" * 5000)])
    with KdumpReader(src) as r:
        assert r.extract_of == {}
        assert any("PCICRASH note" in n and "5007 characters" in n for n in r.notes), r.notes
        assert r.read_pages([0x300])[0x300] is not None
    plain, _ = _synthetic(tmp_path / "p" if (tmp_path / "p").mkdir() is None else tmp_path)
    with KdumpReader(plain) as r:
        assert r.extract_of is None and "triage extract" not in r.format


def test_vmcoreinfo_file_is_what_the_extract_carries(tmp_path):
    src, _ = _synthetic(tmp_path)
    with open_dump([src]) as r:
        info = dict(r.vmcoreinfo)
    info["FROM_FILE"] = "1"     # not an identity key: another OSRELEASE is refused (issue 15)
    f = tmp_path / "vmcoreinfo.txt"
    f.write_text("".join("%s=%s\n" % kv for kv in info.items()))
    res = make_extract([src], tmp_path / "x.kdump", vmcoreinfo=str(f), makedumpfile_check=False)
    with KdumpReader(res.path) as x:
        assert x.vmcoreinfo == info
        assert x.extract_of["VMCOREINFO_FROM"] == str(f)
    with open_dump([src], vmcoreinfo=str(f)) as r:
        full = json.loads(report_json.dumps(analyse(r, names="system")))
    with open_dump([res.path]) as r:
        ext = json.loads(report_json.dumps(analyse(r, names="system")))
    assert ext["capture"] == full["capture"] and ext["devices"] == full["devices"]


# ---- the writer alone: any page set, read back by our reader and (below) libkdumpfile

from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.integers(0, 5000), st.sampled_from(["zero", "lost", "data", "raw"]),
                       max_size=40),
       st.sampled_from(sorted(CODECS)), st.integers(5001, 70000))
def test_writer_round_trip(tmp_path_factory, kinds, codec, max_mapnr):
    from crash_ext_c.kdump_write import LOST, ZERO, KdumpLayout, Page, compress_page, write_kdump
    path = tmp_path_factory.mktemp("w") / "x.kdump"
    pages, want = {}, {}
    for pfn, kind in kinds.items():
        data = fake_buffer(4096, seed=pfn) if kind != "zero" else bytes(4096)
        if kind == "zero":
            pages[pfn] = ZERO
        elif kind == "lost":
            pages[pfn] = LOST
        elif kind == "raw":
            pages[pfn] = Page(0, data)
        else:
            pages[pfn] = compress_page(codec, data)
        want[pfn] = data
    lay = KdumpLayout(block_size=4096, max_mapnr=max_mapnr, header=b"", codec=codec,
                      notes=b"")
    res = write_kdump(str(path), lay, pages, [b"\xff" * 100])
    with KdumpReader(str(path)) as r:
        assert r.max_pfn == max_mapnr and r.compression == codec
        assert r.incomplete == any(k == "lost" for k in kinds.values())
        got = r.read_pages(sorted(pages))
        for pfn, kind in kinds.items():
            if kind == "lost":
                assert r.page_status(pfn) is S.LOST
            else:
                assert got[pfn] == want[pfn], (pfn, kind)
        assert r.parts[0].count_stored(0, max_mapnr) == len(pages) == len(res.pfns)
        # 1st bitmap: the given bytes (pfns 0-799), then only the written pages
        probe = [p for p in (0, 799, 800, 4999, 5000) if p not in pages]
        for p, s_ in zip(probe, r.page_statuses(probe)):
            assert s_ is (S.EXCLUDED if p < 800 else S.OUTSIDE), p


@pytest.mark.parametrize("word,endian,sub_layout", [(64, ">", None), (32, "<", "32pack"),
                                                    (32, "<", "32pad"), (32, ">", "32pack")])
def test_word_size_and_byte_order_of_the_source_are_kept(tmp_path, word, endian, sub_layout):
    buf = fake_buffer(2 * 4096 + 10, seed=9)
    pages, lines = pci_crash_pages(buf, "A", [0x40, 0x41, 0x42], pagemap_addr=0x20100)
    pages.update({p: page(p) for p in range(0x60, 0x70)})
    text = vmcoreinfo_text(lines)
    raw, _ = build_kdump(pages, max_mapnr=0x400, vmcoreinfo=text, word=word,
                                     endian=endian, sub_layout=sub_layout)
    src = tmp_path / "src.kdump"
    src.write_bytes(raw)
    res = make_extract([src], tmp_path / "x.kdump", makedumpfile_check=False)
    with KdumpReader(str(src)) as s, KdumpReader(res.path) as x:
        assert (x.parts[0].word, x.parts[0].endian) == (word, endian)
        assert x.parts[0].sub_layout == s.parts[0].sub_layout
        assert x.utsname == s.utsname and x.vmcoreinfo == s.vmcoreinfo
        assert x.read_pages(res.pfns) == s.read_pages(res.pfns)
        assert res.copied == res.stored > 0
    assert report([res.path]) == report([src])
