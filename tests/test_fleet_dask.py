"""The batch on a Dask LocalCluster (2 worker processes) over 1,000 generated dumps: the
summary's counts are what the generator put in."""

import collections
import json

import pytest

distributed = pytest.importorskip("distributed", reason="the fleet extra (pip install '.[fleet]')")

import fleet_gen
from pykdump_ext.fleet import summary
from pykdump_ext.fleet.batch import plan, run

N = 1000


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 host="127.0.0.1", dashboard_address=None,
                                 silence_logs=50)
    yield c
    c.close()


def expected(truth):
    """{dimension: {key: count}} the summary must show."""
    exp = collections.defaultdict(collections.Counter)
    for t in truth:
        exp["state"]["partial (excluded by filtering)" if t.state == "partial" else t.state] += 1
        exp["kernel"][t.kernel] += 1
        blamed = t.ids is not None
        exp["device"][t.ids if blamed else summary.NONE] += 1
        exp["subsystem"]["%s subsystem %s" % (t.ids, t.subsystem) if blamed else summary.NONE] += 1
        exp["error"][t.error if blamed else summary.NONE] += 1
        exp["root_port"][t.root_port if blamed else summary.NONE] += 1
        exp["slot"][str(t.slot) if blamed else summary.NONE] += 1
    return exp


def test_dask_local_cluster_processes_1000_dumps_and_the_summary_counts_match(
        cluster, tmp_path):
    truth = fleet_gen.write_fleet(tmp_path / "fleet", N)
    tasks = plan([str(tmp_path / "fleet")])
    assert len(tasks) == N
    out = tmp_path / "out.jsonl"
    res = run(tasks, str(out), scheduler=cluster.scheduler_address)
    assert res.written == N and res.errors == 0
    with open(out) as f:
        recs = [json.loads(line) for line in f]
    assert sorted(r["path"] for r in recs) == sorted(t.path for t in truth)
    # both worker processes did some of it
    assert len({r["worker"] for r in recs}) == 2
    s = summary.summarize([str(out)])
    assert s.dumps == N
    exp = expected(truth)
    for dim in summary.DIMENSIONS:
        got = {k: r.count for k, r in s.of(dim).items()}
        assert got == dict(exp[dim]), dim
    # the dumps behind each row are the generator's
    by_path = {t.path: t for t in truth}
    for key, row in s.of("device").items():
        assert all((by_path[p].ids or summary.NONE) == key for p in row.dumps)
    # varied enough to mean something
    assert len(exp["device"]) >= 6 and len(exp["error"]) >= 5 and len(exp["slot"]) >= 4
    assert all(exp["state"][st] > 0 for st in ("captured", "skipped", "absent",
                                               "partial (excluded by filtering)"))
    # resumed against the same scheduler: nothing left to do
    again = run(tasks, str(out), scheduler=cluster.scheduler_address)
    assert again.written == 0 and again.skipped == N


def test_unreachable_scheduler_is_a_usage_error(tmp_path):
    from fleet_servers import free_port
    from crash_ext_c.errors import UsageError
    fleet_gen.write_fleet(tmp_path / "f", 1)
    with pytest.raises(UsageError) as exc:
        from pykdump_ext.fleet.cluster import run_on_dask
        run_on_dask(plan([str(tmp_path / "f")]), "tcp://127.0.0.1:%d" % free_port(),
                    lambda line: None, connect_timeout="2s")
    assert "cannot reach the Dask scheduler" in str(exc.value)
