"""Time `pcicrash --extract` on a 1 TiB synthetic dump and on the shared lab dumps.

Synthetic: 2^28 pfns (1 TiB of RAM), a 6000-page buffer scattered across it
(tests/builders/); the extract is written without the makedumpfile probe (the
synthetic kernel has no page tables), and then re-read completely.  Real: the
shared aer-uncor dumps with the probe, next to makedumpfile re-filtering the
same dump (`makedumpfile -c -d 31`, the peer's cheapest full pass), measured in
the same run.  Prints seconds, peak RSS, extract sizes and the ratios.

    .venv/bin/python -m bench.bench_extract [--pfns N] [--pages N]
"""

import argparse
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from tests.builders.capture import scattered_capture_dump
from tests.shared import have_shared, scenario_dir
from crash_ext_c.kdump import KdumpReader
from pykdump_ext.output.extract import make_extract

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pfns", type=lambda s: int(s, 0), default=1 << 28)
    ap.add_argument("--pages", type=int, default=6000, help="buffer pages")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "synth.kdump")
        scattered_capture_dump(src, max_pfn=args.pfns, buf_pages=args.pages)
        before = rss_mib()
        t0 = time.perf_counter()
        res = make_extract([src], os.path.join(tmp, "x.kdump"), makedumpfile_check=False)
        dt = time.perf_counter() - t0
        du = os.stat(res.path).st_blocks * 512
        print("synthetic %d pfns (%.0f GiB), %d buffer pages: dump %.1f MiB -> extract %.1f MiB"
              " (%.1f MiB on disk: the 2nd bitmap is sparse), %d pages, %.2f s, peak RSS %.0f MiB"
              " (%.0f before)" % (args.pfns, args.pfns * 4096 / 2**30, args.pages,
                                  res.source_size / 2**20, res.size / 2**20, du / 2**20,
                                  len(res.pfns), dt, rss_mib(), before))
        with KdumpReader(res.path) as x:
            t0 = time.perf_counter()
            x.read_pages(res.pfns)
            print("  re-read every page of the extract: %.2f s" % (time.perf_counter() - t0))
    if not have_shared() or not shutil.which("makedumpfile"):
        print("no ../shared or no makedumpfile: real-dump comparison skipped")
        return 0
    src = scenario_dir("aer-uncor") / "d31-zlib.kdump"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = make_extract([src], os.path.join(tmp, "x.kdump"))
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(["makedumpfile", "-c", "-d", "31", str(src), os.path.join(tmp, "peer")],
                       capture_output=True, check=True)
        peer = time.perf_counter() - t0
        print("aer-uncor/d31-zlib.kdump (%d bytes): extract %d bytes in %.2f s (makedumpfile"
              " probe included); makedumpfile -c -d 31 re-filter %.2f s (%d bytes); ratio %.2f"
              % (res.source_size, res.size, ours, peer,
                 os.path.getsize(os.path.join(tmp, "peer")), ours / peer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
