"""Dumps read where they lie, against real servers on 127.0.0.1: nginx (HTTP Range) and
moto's S3 server.  Reports equal local reads; the 1 TiB synthetic dump costs the server
under 40 MiB in a bounded number of requests (counted by the server: nginx's access log,
moto's request recorder); a failing range request, a vanished object and an object cut
short after planning each end as one error record."""

import json
import os
import time

import pytest

pytest.importorskip("fsspec", reason="the fleet extra (pip install '.[fleet]')")
pytest.importorskip("s3fs", reason="the fleet extra (pip install '.[fleet]')")
pytest.importorskip("aiohttp", reason="the fleet extra (pip install '.[fleet]')")
pytest.importorskip("moto", reason="the fleet extra (pip install '.[fleet]')")

from tests.builders import fleet as fleet_gen
from tests.builders.capture import scattered_capture_dump
from tests.shared import CACHE, VMCORES, have_shared
from tests.fleet_servers import NGINX, Moto, Nginx, range_bytes
from crash_ext_c.open import open_dump
from pykdump_ext.output import report_json
from pykdump_ext.analysis.report import analyse
from pykdump_ext.fleet.batch import plan, run
from pykdump_ext.fleet.listing import list_urls

if not os.path.exists(NGINX):
    pytest.skip("nginx is not installed (install.sh installs nginx-light)",
                allow_module_level=True)

MiB = 1 << 20
BIG = "synthetic-2^28-6000pages.kdump"          # the 1 TiB dump bench_kdump.py makes too
SHARED = [("aer-uncor", "d31-zlib.kdump"), ("aer-uncor", "d31-zstd.kdump"),
          ("aer-uncor", "d31-zlib.flat"), ("aer-uncor", "d31-zlib-truncated.kdump"),
          ("layoutB-aer", "d31-zlib.kdump"), ("cor-only", "d31-zlib.kdump"),
          ("legacy-unaligned", "d31-zlib.kdump")]
SPLIT = ("aer-uncor", ("d31-zlib-split.1", "d31-zlib-split.2"))


def big_dump():
    path = CACHE / BIG
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        scattered_capture_dump(str(path) + ".tmp", max_pfn=1 << 28, buf_pages=6000)
        os.rename(str(path) + ".tmp", path)
    return path


def local_files(tmp):
    """{served name: local path} of what the servers hold."""
    elf = os.path.join(str(tmp), "machine.elf")
    fleet_gen.write_machine(elf, ep=fleet_gen.ENDPOINTS[0], err="MalfTLP", port=(3, 0), slot=7,
                            kernel="6.6.30-fleet", state="captured", elf=True)
    files = {"big.kdump": str(big_dump()), "machine.elf": elf}
    if have_shared():
        for scen, name in SHARED:
            files["%s/%s" % (scen, name)] = str(VMCORES / scen / name)
        for name in SPLIT[1]:
            files["%s/%s" % (SPLIT[0], name)] = str(VMCORES / SPLIT[0] / name)
    return files


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("docroot")
    files = local_files(tmp_path_factory.mktemp("made"))
    for name, path in files.items():
        os.makedirs(os.path.dirname(str(root / name)), exist_ok=True)
        os.symlink(path, str(root / name))
    os.symlink(files["big.kdump"], str(root / "broken.kdump"))
    return root, files


@pytest.fixture(scope="module")
def http(served, tmp_path_factory):
    root, _files = served
    srv = Nginx(tmp_path_factory.mktemp("nginx"), root, fail_ranges=["/broken.kdump"])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3(served, tmp_path_factory):
    _root, files = served
    srv = Moto(tmp_path_factory.mktemp("moto"))
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ENDPOINT_URL", srv.url)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    c = srv.client()
    c.create_bucket(Bucket="dumps")
    for name, path in files.items():
        c.upload_file(path, "dumps", name)
    yield srv
    mp.undo()
    srv.stop()


def report(path):
    """(the -j report, the reader's first source: what it read)"""
    with open_dump(path) as r:
        rep = analyse(r, names="system")
        src = r.parts[0].src if hasattr(r, "parts") else r._src
        return report_json.to_dict(rep), src


def same_as_local(url, local):
    remote, _ = report(url)
    mine, _ = report(local)
    # the reports name their source: the URL there, the path here
    assert json.loads(json.dumps(remote).replace(url, local)) == mine


def server_seen(srv, uri, want_requests, timeout=5.0):
    """(requests, body bytes) nginx logged for `uri`, once it logged `want_requests`
    (it writes a line when the response is done, just after the client has it)."""
    end = time.monotonic() + timeout
    while True:
        n, sent = srv.seen(uri)
        if n >= want_requests or time.monotonic() > end:
            return n, sent
        time.sleep(0.05)


# ------------------------------------------------------------------ identical reports

@pytest.mark.skipif(not have_shared(), reason="../shared/vmcores not present")
@pytest.mark.parametrize("name", ["%s/%s" % s for s in SHARED])
def test_shared_dumps_over_http_and_s3_report_as_local(http, s3, served, name):
    local = served[1][name]
    same_as_local("%s/%s" % (http.url, name), local)
    same_as_local("s3://dumps/%s" % name, local)


@pytest.mark.skipif(not have_shared(), reason="../shared/vmcores not present")
def test_split_set_over_s3_found_by_glob_and_grouped(s3, served):
    urls = list_urls("s3://dumps/aer-uncor/d31-zlib-split.*")
    assert urls == ["s3://dumps/aer-uncor/%s" % n for n in SPLIT[1]]
    tasks = plan(["s3://dumps/aer-uncor/"])
    split = [t for t in tasks if len(t.parts) == 2]
    assert len(split) == 1 and split[0].parts == urls
    remote, _ = report(urls)
    local, _ = report([served[1]["aer-uncor/" + n] for n in SPLIT[1]])
    assert remote["capture"] == local["capture"] and remote["devices"] == local["devices"]
    assert remote["verdict"] == local["verdict"]


def test_elf_vmcore_over_http_and_s3_reports_as_local(http, s3, served):
    local = served[1]["machine.elf"]
    for url in ("%s/machine.elf" % http.url, "s3://dumps/machine.elf"):
        same_as_local(url, local)
        rep, src = report(url)
        assert rep["capture"]["state"] == "captured"
        assert 0 < src.bytes_read < 400 * 1024        # of a 16 MiB vmcore


# ------------------------------------------------------------------ 1 TiB: bytes and requests

def test_1tib_dump_over_http_costs_the_server_under_40_mib(http, served):
    url = "%s/big.kdump" % http.url
    before = http.seen("/big.kdump")
    remote, src = report(url)
    n, sent = server_seen(http, "/big.kdump", before[0] + src.reads + 1)
    n, sent = n - before[0], sent - before[1]
    assert remote["capture"]["state"] == "captured" and len(remote["devices"]) > 5000
    # floor: the 32 MiB 2nd bitmap + ~1.1 MiB of compressed capture pages and descriptors
    assert 32 * MiB < sent < 40 * MiB, sent
    assert src.bytes_read == sent                 # what we report is what the server sent
    assert n == src.reads + 1                     # + the HEAD that gives the size
    assert n <= 64, n                             # coalesced: not a request per page (6000)
    local, _ = report(served[1]["big.kdump"])
    assert json.loads(json.dumps(remote).replace(url, served[1]["big.kdump"])) == local


def test_1tib_dump_over_s3_costs_the_server_under_40_mib(s3, served):
    size = os.path.getsize(served[1]["big.kdump"])
    s3.start_recording()
    remote, src = report("s3://dumps/big.kdump")
    seen = [x for x in s3.recorded() if x[1].endswith("/dumps/big.kdump")]
    gets = [x for x in seen if x[0] == "GET"]
    assert all(x[2] for x in gets)                # every GET is a ranged one
    asked = sum(range_bytes(x[2], size) for x in gets)
    assert 32 * MiB < asked < 40 * MiB, asked
    assert asked == src.bytes_read
    assert len(seen) <= 64, len(seen)
    local, _ = report(served[1]["big.kdump"])
    assert remote["devices"] == local["devices"] and remote["verdict"] == local["verdict"]


# ------------------------------------------------------------------ failures in a batch

def test_failing_range_vanished_and_cut_objects_are_one_error_record_each(
        http, s3, served, tmp_path):
    _root, files = served
    c = s3.client()
    small = files.get("aer-uncor/d31-zlib.kdump") or files["big.kdump"]
    c.upload_file(small, "dumps", "fleet/ok.kdump")
    c.upload_file(small, "dumps", "fleet/gone.kdump")
    c.upload_file(small, "dumps", "fleet/cut.kdump")
    c.put_object(Bucket="dumps", Key="fleet/README.txt", Body=b"dumps of week 49\n")
    args = ["%s/broken.kdump" % http.url, "%s/no-such.kdump" % http.url, "s3://dumps/fleet/"]
    tasks = plan(args)
    assert len(tasks) == 5                        # the listing's README.txt is no dump
    # after planning, while the batch has not read them
    c.delete_object(Bucket="dumps", Key="fleet/gone.kdump")
    with open(small, "rb") as f:
        c.put_object(Bucket="dumps", Key="fleet/cut.kdump", Body=f.read(6000))
    out = tmp_path / "out.jsonl"
    res = run(tasks, str(out), workers=2)
    assert res.written == 5
    recs = {r["path"]: r for r in map(json.loads, open(out))}
    broken = recs["%s/broken.kdump" % http.url]
    assert broken["exit"] == 2 and "ranged read" in broken["error"] and "500" in broken["error"]
    assert recs["%s/no-such.kdump" % http.url]["exit"] == 2
    assert "no such object" in recs["%s/no-such.kdump" % http.url]["error"]
    gone = recs["s3://dumps/fleet/gone.kdump"]
    assert gone["exit"] == 2 and "gone.kdump" in gone["error"]
    cut = recs["s3://dumps/fleet/cut.kdump"]
    assert cut["exit"] == 2 and "past the end of the file" in cut["error"], cut["error"]
    ok = recs["s3://dumps/fleet/ok.kdump"]
    assert ok["exit"] < 2 and ok["fleet"] is not None and 0 < ok["bytes_read"] < ok["size"]


@pytest.mark.skipif(not have_shared(), reason="../shared/vmcores not present")
def test_plain_pcicrash_reads_a_url(http, served):
    import subprocess
    import sys
    from tests.shared import ROOT
    url, local = "%s/aer-uncor/d31-zlib.kdump" % http.url, served[1]["aer-uncor/d31-zlib.kdump"]
    run_ = lambda *a: subprocess.run([sys.executable, "-m", "pykdump_ext"] + list(a),
                                     capture_output=True, text=True, cwd=str(ROOT))
    for opt in ("-j", "-a", "--check"):
        remote, mine = run_(opt, url), run_(opt, local)
        assert remote.returncode == mine.returncode == 0, remote.stderr
        assert remote.stdout.replace(url, local) == mine.stdout
    p = run_("-j", "%s/broken.kdump" % http.url)
    assert p.returncode == 2 and "ranged read of bytes" in p.stderr and "Traceback" not in p.stderr


def test_dask_workers_read_dumps_from_s3(s3, tmp_path):
    """The batch on a Dask LocalCluster whose workers read the dumps from the S3 server:
    the same records as a local batch over the same files."""
    distributed = pytest.importorskip("distributed")
    truth = fleet_gen.write_fleet(tmp_path / "f", 24, seed=3)
    c = s3.client()
    for t in truth:
        c.upload_file(t.path, "dumps", "dask/" + os.path.basename(t.path))
    env = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                      "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    out, ref = tmp_path / "s3.jsonl", tmp_path / "local.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None, silence_logs=50,
                                  env=env) as cl:
        res = run(plan(["s3://dumps/dask/"]), str(out), scheduler=cl.scheduler_address)
    assert res.written == 24 and res.errors == 0
    run(plan([str(tmp_path / "f")]), str(ref), workers=1)
    name = lambda r: os.path.basename(r["path"])
    got = {name(r): r for r in map(json.loads, open(out))}
    want = {name(r): r for r in map(json.loads, open(ref))}
    assert sorted(got) == sorted(want)
    for k, r in got.items():
        assert r["fleet"] == want[k]["fleet"] and r["exit"] == want[k]["exit"]
        assert r["devices"] == want[k]["devices"]
        assert 0 < r["bytes_read"] <= 2 * 64 * 1024 and r["requests"] >= 1
    assert len({r["worker"] for r in got.values()}) == 2
