"""pcicrash --jsonl / --summarize on local dumps: records equal `pcicrash -j`, split sets
grouped by header, resume (with a cut last line), one error record per bad dump."""

import io
import json
import os
import subprocess
import sys


from tests.builders import fleet as fleet_gen
from tests.builders.kdump import write_kdump
from tests.shared import ROOT, VMCORES, needs_shared
from pykdump_ext.fleet import batch, summary
from pykdump_ext.fleet.batch import plan, process_task, run

PCICRASH = [sys.executable, "-m", "pykdump_ext"]


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def report_part(rec):
    """The `pcicrash -j` part of a record."""
    extra = {"batch", "parts", "path", "size", "bytes_read", "requests", "seconds", "exit",
             "exit_class", "error", "plan_note", "worker", "fleet"}
    return {k: v for k, v in rec.items() if k not in extra}


def cli(*args, **kw):
    return subprocess.run(PCICRASH + list(args), capture_output=True, text=True, cwd=str(ROOT),
                          **kw)


@needs_shared
def test_records_equal_pcicrash_j_and_split_parts_are_one_dump(tmp_path):
    d = VMCORES / "aer-uncor"
    out = tmp_path / "out.jsonl"
    p = cli("--jsonl", str(out), "-P", "2", str(d))
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""                        # stderr is not a tty: no progress either
    recs = {tuple(r["parts"]): r for r in records(out)}
    split = (str(d / "d31-zlib-split.1"), str(d / "d31-zlib-split.2"))
    assert split in recs                         # grouped by their headers, in pfn order
    kdumps = sorted(str(f) for f in d.iterdir() if f.suffix in (".kdump", ".flat"))
    assert sorted(k for k in recs if len(k) == 1) == [(k,) for k in kdumps]
    for parts, rec in recs.items():
        j = cli("-j", *parts)
        assert j.returncode == rec["exit"]
        assert report_part(rec) == json.loads(j.stdout), parts
        assert rec["size"] == sum(os.path.getsize(x) for x in parts)
        # what a reader needs, not the file: the 5 MB dumps are read in a few KB
        assert 0 < rec["bytes_read"] < rec["size"] / 50 and rec["requests"] > 0
        assert rec["seconds"] > 0 and rec["exit_class"] == "ok" and rec["error"] is None
        f = rec["fleet"]
        assert f["osrelease"] == "6.1.192-pcicrash" and f["state"] == "captured"
        assert f["culprit"]["bdf"] == "0000:01:00.0" and f["culprit"]["errors"] == ["CmpltTO"]
        assert f["culprit"]["ids"] == "1af4:1041" and f["culprit"]["root_port"] == "0000:00:02.0"


def test_split_parts_grouped_by_header_not_by_name(tmp_path):
    pages = {5: b"\x11" * 4096, 900: b"\x22" * 4096}
    a = write_kdump(str(tmp_path / "x"), pages, max_pfn=1024, split=[512])
    b = write_kdump(str(tmp_path / "y"), pages, max_pfn=1024, split=[300],
                          release="6.9.0-other")
    lone = write_kdump(str(tmp_path / "z"), pages, max_pfn=1024, split=[100])[1]
    # z.2 has x's header (same kernel, same time stamp) but not the pfns x.1 ends at
    tasks = {tuple(t.parts): t for t in plan([a[1], b[0], a[0], b[1], lone])}
    assert sorted(tasks) == sorted([tuple(a), tuple(b), (lone,)])
    assert tasks[(lone,)].note and tasks[tuple(a)].note is None
    rec = json.loads(process_task(tasks[(lone,)]))
    assert rec["plan_note"] == tasks[(lone,)].note
    assert any("split part that was not given" in n for n in rec["reader_notes"])


def test_resume_skips_done_dumps_and_drops_a_cut_last_line(tmp_path):
    truth = fleet_gen.write_fleet(tmp_path / "fleet", 12)
    out = tmp_path / "out.jsonl"
    tasks = plan([str(tmp_path / "fleet")])
    assert len(tasks) == 12
    first = run(tasks[:5], str(out), workers=1)
    assert first.written == 5 and first.skipped == 0
    # an interrupted run: half a record at the end, no newline
    line = process_task(tasks[5])
    with open(out, "a") as f:
        f.write(line[:len(line) // 2])
    warned = []
    res = run(tasks, str(out), workers=2, warn=warned.append)
    assert res.skipped == 5 and res.written == 7
    assert any("cut short" in w for w in warned)
    recs = records(out)                           # every line parses again
    assert sorted(r["path"] for r in recs) == sorted(t.path for t in truth)
    again = run(tasks, str(out), workers=2)
    assert again.written == 0 and again.skipped == 12


def test_vanished_truncated_and_garbage_dumps_are_one_error_record_each(tmp_path):
    fleet_gen.write_fleet(tmp_path / "fleet", 6)
    tasks = plan([str(tmp_path / "fleet")])
    gone, cut, junk = tasks[0].parts[0], tasks[1].parts[0], tasks[2].parts[0]
    # after planning, before the workers read them
    os.unlink(gone)
    with open(cut, "r+b") as f:
        f.truncate(4096 + 100)                    # inside the sub-header
    with open(junk, "wb") as f:
        f.write(b"PK\x03\x04 not a dump")
    out = tmp_path / "out.jsonl"
    res = run(tasks, str(out), workers=2)
    assert res.written == 6 and res.errors == 3
    recs = {r["path"]: r for r in records(out)}
    assert len(recs) == 6
    for p in (gone, cut, junk):
        assert recs[p]["exit"] == 2 and recs[p]["exit_class"] == "unreadable"
        assert recs[p]["fleet"] is None and recs[p]["capture"] is None
    assert "No such file" in recs[gone]["error"] and gone in recs[gone]["error"]
    assert "past the end of the file" in recs[cut]["error"]
    assert "unknown signature" in recs[junk]["error"]
    ok = [r for r in recs.values() if r["exit"] < 2]
    assert len(ok) == 3 and all(r["fleet"] for r in ok)
    s = summary.summarize([str(out)])
    assert s.of("state")["not read (unreadable)"].count == 3


def test_directory_and_glob_expansion_skip_non_dumps(tmp_path):
    fleet_gen.write_fleet(tmp_path / "a", 2)
    (tmp_path / "a" / "notes.txt").write_text("not a dump\n")
    (tmp_path / "a" / "empty.kdump").write_bytes(b"")
    got = batch.expand([str(tmp_path / "a")])
    names = sorted(os.path.basename(p) for p in got)
    assert names == ["empty.kdump", "host0000.kdump", "host0001.kdump"]
    assert sorted(batch.expand([str(tmp_path / "a" / "host*.kdump")])) == \
        sorted(p for p in got if "host" in p)
    # a named file is kept even when it is not a dump: its record says what it is
    assert batch.expand([str(tmp_path / "a" / "notes.txt")]) == [str(tmp_path / "a" / "notes.txt")]


def test_progress_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    quiet, loud = io.StringIO(), Tty()
    for stream in (quiet, loud):
        p = batch.Progress(3, stream)
        for failed in (False, True, False):
            p.step(failed)
        p.close()
    assert quiet.getvalue() == ""
    assert "3/3 dumps, 1 not ok" in loud.getvalue() and loud.getvalue().endswith("\n")


_REAL_PROCESS = batch.process_task
_VICTIM = []


def _dying(task):
    """process_task, except that the worker dies on the victim (as a segfault would)."""
    if task.parts[0] in _VICTIM:
        os._exit(9)
    return _REAL_PROCESS(task)


def test_worker_that_dies_costs_only_its_dump(tmp_path, monkeypatch):
    fleet_gen.write_fleet(tmp_path / "fleet", 4)
    tasks = plan([str(tmp_path / "fleet")])
    victim = tasks[1].parts[0]
    _VICTIM[:] = [victim]
    monkeypatch.setattr(batch, "process_task", _dying)
    out = tmp_path / "out.jsonl"
    res = run(tasks, str(out), workers=2)
    recs = {r["path"]: r for r in records(out)}
    assert res.written == 4 and len(recs) == 4
    assert recs[victim]["exit_class"] == "internal" and "died" in recs[victim]["error"]
    assert all(r["exit"] < 2 for p, r in recs.items() if p != victim)
    _VICTIM.clear()


def test_cli_errors_and_exit_status(tmp_path):
    p = cli("--jsonl", str(tmp_path / "o.jsonl"))
    assert p.returncode == 2 and "needs at least one DUMP" in p.stderr
    p = cli("--jsonl", str(tmp_path / "o.jsonl"), str(tmp_path / "nothing-*.kdump"))
    assert p.returncode == 2 and "no dump files found" in p.stderr
    p = cli("--summarize", str(tmp_path / "missing.jsonl"))
    assert p.returncode == 2 and "cannot read" in p.stderr and "Traceback" not in p.stderr
