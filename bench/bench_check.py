"""Time `pcicrash --check` (makedumpfile_filter.check.check) on a 1 TiB synthetic kdump-compressed dump.

2^28 pfns of 4 KiB (1 TiB of RAM) with a 6000-page buffer scattered across
it (tests/builders/).  Prints the time to open the dump and the time of
check() on a fresh reader (cold: bitmaps and descriptors not yet looked at)
and again (warm), plus the verdict.  Target: well under a second.

    .venv/bin/python -m bench.bench_check [--pfns N] [--pages N]
"""

import argparse
import os
import pathlib
import tempfile
import time

from tests.builders.capture import scattered_capture_dump
from crash_ext_c.open import open_dump
from makedumpfile_filter.check import check

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pfns", type=lambda s: int(s, 0), default=1 << 28)
    ap.add_argument("--pages", type=int, default=6000, help="buffer pages")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "synth-1t.kdump")
        t0 = time.perf_counter()
        scattered_capture_dump(path, max_pfn=args.pfns, buf_pages=args.pages)
        t_gen = time.perf_counter() - t0
        print("dump: %d pfns (%.1f GiB of RAM), %d buffer pages, file %.1f MiB, generated in %.1f s"
              % (args.pfns, args.pfns * 4096 / 2**30, args.pages,
                 os.path.getsize(path) / 2**20, t_gen))
        best_cold = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            reader = open_dump([path])
            t_open = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = check(reader)
            t_cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            check(reader)
            t_warm = time.perf_counter() - t0
            reader.close()
            best_cold = t_open + t_cold if best_cold is None else min(best_cold, t_open + t_cold)
            print("open_dump %.3f s, check cold %.3f s, warm %.3f s -> exit %d: %s"
                  % (t_open, t_cold, t_warm, res.exit_code, res.verdict))
        print("RESULT check on a %.0f GiB synthetic dump (open + cold check, best of %d): %.3f s"
              % (args.pfns * 4096 / 2**30, args.repeat, best_cold))


if __name__ == "__main__":
    main()
