"""Figures for the fleet mode: dumps per second of `pcicrash --jsonl` on 1,000 small
generated dumps with 1 and 2 local workers and on a 2-worker Dask LocalCluster, the
bytes read per dump, against the way without the batch mode (one `pcicrash -j` process
per dump, measured on a sample in the same run); and, when nginx is installed, the
bytes and requests the 1 TiB synthetic dump costs over HTTP.

    .venv/bin/python -m bench.bench_fleet [N]
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")

from tests.builders import fleet as fleet_gen  # noqa: E402
from pykdump_ext.fleet.batch import plan, run  # noqa: E402

SAMPLE = 60          # dumps run one process each, for the baseline


def _cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def batch(tasks, out, **kw):
    """Wall seconds; CPU seconds of this process and of its (local pool) workers."""
    if os.path.exists(out):
        os.unlink(out)
    c0 = _cpu()
    t = time.perf_counter()
    res = run(tasks, out, **kw)
    dt = time.perf_counter() - t
    c1 = _cpu()
    assert res.written == len(tasks), res
    batch.cpu = (c1[0] - c0[0], c1[1] - c0[1])
    return dt


def per_dump(out):
    recs = [json.loads(line) for line in open(out)]
    return ([r["bytes_read"] for r in recs], [r["requests"] for r in recs],
            [r["size"] for r in recs], [r["seconds"] for r in recs])


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    work = tempfile.mkdtemp(prefix="bench_fleet.")
    try:
        t = time.perf_counter()
        fleet_gen.write_fleet(os.path.join(work, "dumps"), n)
        print("generated %d dumps in %.1f s" % (n, time.perf_counter() - t))
        tasks = plan([os.path.join(work, "dumps")])
        out = os.path.join(work, "out.jsonl")
        print("load average before: %s" % open("/proc/loadavg").read().split()[0])
        print("%-40s %8s %10s %8s  %s" % ("run", "seconds", "dumps/s", "ratio",
                                          "CPU ms/dump (batch process + workers)"))
        # baseline: a process per dump, as a shell loop over pcicrash -j would
        t = time.perf_counter()
        for task in tasks[:SAMPLE]:
            subprocess.run([sys.executable, "-m", "pykdump_ext", "-j"] + task.parts,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        base = SAMPLE / (time.perf_counter() - t)
        print("%-40s %8s %10.1f %8s" % ("pcicrash -j, one process per dump (%d)" % SAMPLE,
                                        "", base, "1.00"))
        for w in (1, 2):
            dt = batch(tasks, out, workers=w)
            print("%-40s %8.2f %10.1f %8.2f  %.2f + %.2f" % (
                "--jsonl -P %d" % w, dt, n / dt, n / dt / base, batch.cpu[0] / n * 1e3,
                batch.cpu[1] / n * 1e3))
        try:
            import distributed
        except ImportError:
            print("(Dask not installed: pip install '.[fleet]')")
        else:
            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                          host="127.0.0.1", dashboard_address=None,
                                          silence_logs=50) as cl:
                dt = batch(tasks, out, scheduler=cl.scheduler_address)
            print("%-40s %8.2f %10.1f %8.2f" % ("--jsonl --scheduler (LocalCluster, 2)", dt,
                                                n / dt, n / dt / base))
        got, reqs, sizes, secs = per_dump(out)
        print("bytes read per dump: median %d, max %d (file sizes: median %d); reads per dump:"
              " median %d; analysis per dump: median %.2f ms"
              % (statistics.median(got), max(got), statistics.median(sizes),
                 statistics.median(reqs), statistics.median(secs) * 1e3))
        print("load average after: %s (2 cores: above 2 the workers wait for a CPU, so "
              "dumps/s says more about the machine than about the batch)"
              % open("/proc/loadavg").read().split()[0])
        remote_figures(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def remote_figures(work):
    from tests.fleet_servers import NGINX, Nginx
    if not os.path.exists(NGINX):
        print("(nginx not installed: no HTTP figures)")
        return
    from tests.builders.capture import scattered_capture_dump
    from crash_ext_c.open import open_dump
    from pykdump_ext.analysis.report import analyse
    cache = os.environ.get("PCICRASH_CACHE", os.path.join(ROOT, ".cache"))
    big = os.path.join(cache, "synthetic-2^28-6000pages.kdump")
    if not os.path.exists(big):
        os.makedirs(cache, exist_ok=True)
        scattered_capture_dump(big + ".tmp", max_pfn=1 << 28, buf_pages=6000)
        os.rename(big + ".tmp", big)
    root = os.path.join(work, "root")
    os.makedirs(root)
    os.symlink(os.path.abspath(big), os.path.join(root, "big.kdump"))
    srv = Nginx(work, root)
    try:
        for label, path in (("local file", big), ("HTTP (nginx)", srv.url + "/big.kdump")):
            t = time.perf_counter()
            with open_dump(path) as r:
                rep = analyse(r, names="system")
                src = r.parts[0].src
            dt = time.perf_counter() - t
            print("1 TiB synthetic, %-13s %s, %d devices: %.1f MiB in %d reads, %.2f s"
                  % (label, rep.capture.state, len(rep.devices), src.bytes_read / 2 ** 20,
                     src.reads, dt))
        time.sleep(0.2)
        n, sent = srv.seen("/big.kdump")
        print("nginx access log: %d requests, %.1f MiB body bytes (file: %.1f MiB, "
              "machine: 1 TiB)" % (n, sent / 2 ** 20, os.path.getsize(big) / 2 ** 20))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
