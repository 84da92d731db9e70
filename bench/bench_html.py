"""The HTML report of the 24 MiB capture (6000 PCIe functions, built as bench_decode.py
builds it): size, generation time, and how long headless Chromium takes to open it.

    .venv/bin/python -m bench.bench_html [-n 6000] [--repeat 3] [--keep FILE]

Prints the report's size, the time of analyse() and of rendering the HTML (best
of --repeat), and the browser's navigation timing for the file (domInteractive,
DOMContentLoaded, load event; best and median of --repeat loads in one browser)
next to the same timings for the aer-uncor shared dump's report as a baseline.
Also the same 6000 functions with every config space distinct (a serial
number capability per function), so nothing in the file repeats.
Target: load event under 2 s for the 6000-function report.
"""

import argparse
import os
import pathlib
import statistics
import struct
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent

from bench import bench_decode  # noqa: E402
from bench.bench_decode import best  # noqa: E402
from tests import browser  # noqa: E402
from tests.builders import capture as cb  # noqa: E402
from pykdump_ext.output import report_html  # noqa: E402
from pykdump_ext.pci.caps.registry import clear_caches  # noqa: E402
from pykdump_ext.analysis.report import analyse, load_names, no_gc  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "vmcores"


def synthetic_reader(n, distinct=False):
    recs = bench_decode.build(n)
    if distinct:
        # a Device Serial Number extended capability after AER in every function: each
        # config space (and so each decode text and hex dump) differs from all the others
        out = []
        for i, r in enumerate(recs):
            cfg = bytearray(r[8:])
            if len(cfg) == 4096 and cfg[0x100:0x102] == b"\x01\x00":
                hdr = struct.unpack_from("<I", cfg, 0x100)[0]
                struct.pack_into("<I", cfg, 0x100, (hdr & 0xFFFFF) | (0x160 << 20))
                struct.pack_into("<IQ", cfg, 0x160, 0x0003 | (1 << 16), 0x0011223300000000 | i)
            out.append(r[:8] + bytes(cfg))
        recs = out
    buf = cb.buffer(recs)
    return cb.reader(buf, layout="B", buf_offset=0x40,
                     buffer_pfns=[0x40000 + ((i * 7919) % 20000)
                                  for i in range(-(-len(buf) // 4096) + 1)])


def text_all(rep, names):
    """The -a text of the same report, for the ratio (the HTML carries that decode)."""
    from pykdump_ext.output import render
    from pykdump_ext.frontends.run import parse_argv
    a = parse_argv(["-a", "x"]).view
    return "\n".join(render.render_text(rep, a, names=names))


def cold(fresh, k, fn):
    """Best of k runs of fn(report), each on a report analysed afresh with cold decode caches
    (renders memoise text on the decoded results; one pcicrash process starts cold)."""
    reps = []
    for _ in range(k):
        clear_caches()
        reps.append(fresh())
    return best(lambda: fn(reps.pop()), k)


def measure(label, fresh, names, k, drv, keep=None):
    rep = fresh()
    with no_gc():
        text, t_html = cold(fresh, k, lambda r: report_html.render(r, names))
        c_html = best.cpu
        _a, t_a = cold(fresh, k, lambda r: text_all(r, names))
        c_a = best.cpu
    data = text.encode()
    path = pathlib.Path(keep) if keep else pathlib.Path(tempfile.mkdtemp()) / "report.html"
    path.write_bytes(data)
    loads, cpus = [], []
    if drv is not None:
        for _ in range(k):
            drv.get("about:blank")
            time.sleep(0.5)                      # let the blank page settle
            c0 = browser.cpu_seconds(drv)
            drv.get(path.as_uri())
            loads.append(browser.load_times(drv))
            cpus.append(browser.cpu_seconds(drv) - c0)
    print("%s: %d devices" % (label, len(rep.devices)))
    print("  %-42s %8.1f MB" % ("HTML size", len(data) / 1e6))
    print("  %-42s %8.3f s  (cpu %.3f s)" % ("render HTML (best of %d)" % k, t_html, c_html))
    print("  %-42s %8.3f s  (cpu %.3f s; HTML/-a cpu ratio %.2f)" % (
        "render -a text, same report", t_a, c_a, c_html / c_a if c_a else 0))
    if loads:
        for i, name in enumerate(("domInteractive", "DOMContentLoaded end", "load event end")):
            xs = [l[i] / 1000 for l in loads]
            print("  %-42s %8.3f s  (median %.3f s)" % ("browser %s, best" % name, min(xs),
                                                         statistics.median(xs)))
        print("  %-42s %8.3f s  (median %.3f s; all its processes)" % (
            "browser CPU time of the load, best", min(cpus), statistics.median(cpus)))
    return t_html, loads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", metavar="FILE", help="also keep the 6000-function report here")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    names = load_names()
    why = "" if not args.no_browser else "--no-browser"
    why = why or browser.available()
    if why:
        print("browser timings skipped: " + why)

    print("load average at start: %.1f %.1f %.1f on %d cores (the figures scale with it)"
          % (os.getloadavg() + (os.cpu_count() or 1,)))

    def run(drv):
        dump = SHARED / "aer-uncor" / "d31-zlib.kdump"
        if dump.exists():
            from crash_ext_c.open import open_dump
            with open_dump([str(dump)]) as r:
                measure("aer-uncor (real dump, baseline)", lambda: analyse(r, names="system"), names,
                        args.repeat, drv)
        for distinct in (False, True):
            reader = synthetic_reader(args.n, distinct)
            rep, t_an = best(lambda: (clear_caches(), analyse(reader, names="system"))[1], args.repeat)
            c_an = best.cpu
            label = "synthetic 24 MiB capture%s" % (", every config space distinct" if distinct
                                                    else " (bench_decode.py)")
            t_html, loads = measure(label, lambda: analyse(reader, names="system"), names, args.repeat, drv,
                                    keep=args.keep if not distinct else None)
            print("  %-42s %8.3f s  (cpu %.3f s)" % ("analyse() (best of %d)" % args.repeat,
                                                    t_an, c_an))
            print("  %-42s %8.3f s" % ("analyse + render = pcicrash --html", t_an + t_html))
            if loads:
                ok = min(l[2] for l in loads) < 2000
                print("  load event < 2 s: %s" % ("yes" if ok else "NO"))

    if why:
        run(None)
    else:
        with browser.chromium(1280, 1000) as drv:
            run(drv)


if __name__ == "__main__":
    main()
