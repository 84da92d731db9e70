"""--summarize views (table, CSV, JSON, Parquet) from one Summary, and the optional
packages staying optional (the message names the extra)."""

import csv
import io
import json
import subprocess
import sys

import pytest

from tests.builders import fleet as fleet_gen
from tests.builders.kdump import write_kdump
from tests.shared import ROOT
from pykdump_ext.output import report_json
from pykdump_ext.fleet import summary
from pykdump_ext.fleet.batch import plan, process_task, run


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet")
    truth = fleet_gen.write_fleet(d / "dumps", 40, seed=5)
    out = d / "out.jsonl"
    run(plan([str(d / "dumps")]), str(out), workers=2)
    return truth, out


def cli(*args, block=()):
    """pcicrash in a child python; the modules in `block` fail to import there."""
    code = ("import sys\nfor m in %r: sys.modules[m] = None\n"
            "from pykdump_ext.frontends.cli.main import main\nsys.exit(main(%r))\n" % (list(block), list(args)))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=str(ROOT))


def test_views_agree(fleet, tmp_path):
    truth, out = fleet
    s = summary.summarize([str(out)])
    rows = {(r.dimension, r.key): r for r in s.rows}
    kernels = {t.kernel for t in truth}
    assert {k for d, k in rows if d == "kernel"} == kernels
    assert sum(r.count for (d, _k), r in rows.items() if d == "kernel") == len(truth)
    # CSV
    got = list(csv.DictReader(io.StringIO(summary.to_csv(s))))
    assert len(got) == len(s.rows)
    for g in got:
        r = rows[g["dimension"], g["key"]]
        assert int(g["count"]) == r.count == len(g["dumps"].split(";")) and g["label"] == r.label
    # JSON
    j = json.loads(cli("--summarize", str(out), "--format", "json").stdout)
    assert j["schema"] == summary.SCHEMA and j["dumps"] == len(truth)
    assert {(x["dimension"], x["key"]): x["dumps"] for x in j["rows"]} == \
        {k: r.dumps for k, r in rows.items()}
    # table: one line per row, count first
    text = cli("--summarize", str(out)).stdout
    assert text.startswith("%d dumps\n" % len(truth))
    for (dim, key), r in rows.items():
        assert any(line.split()[:2] == [str(r.count), key.split()[0]] for line in
                   text.splitlines()), (dim, key)


def test_parquet(fleet, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="the fleet extra (pip install '.[fleet]')")
    _truth, out = fleet
    p = cli("--summarize", str(out), "--format", "parquet", "-o", str(tmp_path / "s.parquet"))
    assert p.returncode == 0, p.stderr
    t = pq.read_table(str(tmp_path / "s.parquet")).to_pylist()
    s = summary.summarize([str(out)])
    assert [(x["dimension"], x["key"], x["count"], x["dumps"]) for x in t] == \
        [(r.dimension, r.key, r.count, r.dumps) for r in s.rows]
    p = cli("--summarize", str(out), "--format", "parquet")
    assert p.returncode == 2 and "needs -o FILE" in p.stderr


def test_last_record_of_a_dump_wins_and_cut_lines_are_counted(fleet, tmp_path):
    truth, out = fleet
    lines = out.read_text().splitlines(True)
    first = json.loads(lines[0])
    redo = json.loads(process_task(plan([first["path"]])[0]))
    redo["fleet"]["osrelease"] = "9.9.9-again"
    f2 = tmp_path / "more.jsonl"
    f2.write_text(json.dumps(redo, separators=(",", ":")) + "\n" + lines[1][:50])
    s = summary.summarize([str(out), str(f2)])
    assert s.dumps == len(truth) and s.skipped_lines == 1
    assert s.of("kernel")["9.9.9-again"].dumps == [first["path"]]


def test_optional_packages_stay_optional(fleet, tmp_path):
    _truth, out = fleet
    dump = fleet[0][0].path
    blocked = ("fsspec", "distributed", "pyarrow", "pyarrow.parquet")
    # the plain tool and local batches do not need them
    p = cli("-j", dump, block=blocked)
    assert p.returncode in (0, 1) and json.loads(p.stdout)["schema"] == report_json.SCHEMA
    p = cli("--jsonl", str(tmp_path / "o.jsonl"), "-P", "1", dump, block=blocked)
    assert p.returncode == 0, p.stderr
    assert cli("--summarize", str(out), block=blocked).returncode == 0
    # each feature that needs one says which extra brings it
    for args, what in ((["-j", "s3://bucket/vmcore"], "fsspec"),
                       (["--jsonl", str(tmp_path / "o2.jsonl"), "--scheduler",
                         "tcp://127.0.0.1:1", dump], "distributed"),
                       (["--summarize", str(out), "--format", "parquet", "-o",
                         str(tmp_path / "x.parquet")], "pyarrow")):
        p = cli(*args, block=blocked)
        assert p.returncode == 2, (args, p.stderr)
        assert what in p.stderr and "pcicrash[fleet]" in p.stderr and "Traceback" not in p.stderr


def test_a_set_read_later_replaces_its_part_read_alone(tmp_path):
    pages = {5: b"\x11" * 4096, 900: b"\x22" * 4096}
    a = write_kdump(str(tmp_path / "x"), pages, max_pfn=1024, split=[512])
    out = tmp_path / "out.jsonl"
    run(plan([a[0]]), str(out), workers=1)              # the first part came alone
    run(plan(a), str(out), workers=1)                   # then the set
    assert len(out.read_text().splitlines()) == 2
    s = summary.summarize([str(out)])
    assert s.dumps == 1 and s.of("state")["absent"].dumps == [a[0]]
