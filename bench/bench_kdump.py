"""Figures for the kdump-compressed reader: open, status and read times on
the real dumps, and C (crash_ext_c._pfnmap) versus Python decompression.

    PYTHONPATH=. .venv/bin/python bench/bench_kdump.py [DUMP_DIR]
"""

import os
import struct
import sys
import time
import zlib

from crash_ext_c import kdump as kdump_mod
from crash_ext_c.flat import FlatReader
from crash_ext_c.kdump import KdumpReader

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "shared", "vmcores", "aer-uncor")


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def reader_figures(d):
    print("%-36s %8s %10s %9s %9s %6s" % ("dump", "open ms", "1 page ms", "status ms",
                                          "read ms", "pages"))
    sets = [["d31-zlib.kdump"], ["d31-snappy.kdump"], ["d31-zstd.kdump"],
            ["d31-zlib-truncated.kdump"], ["d31-zlib-split.1", "d31-zlib-split.2"],
            ["d31-zlib.flat"]]
    for names in sets:
        paths = [os.path.join(d, n) for n in names]
        if not all(os.path.exists(p) for p in paths):
            continue
        opener = (lambda: FlatReader(paths[0])) if names[0].endswith(".flat") \
            else (lambda: KdumpReader(paths))
        t_open = best(opener)
        r = opener()
        if kdump_mod.c_helper() is None and r.compression not in ("zlib", "none"):
            print("%-36s needs the C helper (%s)" % ("+".join(names), r.compression))
            continue
        pm = int(r.vmcoreinfo.get("PCI_CRASH_PAGEMAP", "0x1000"), 16) // r.page_size
        t_first = best(lambda: opener().read_page(pm))     # open + the pagemap page
        pfns = range(r.max_pfn)
        t_stat = best(lambda: opener().page_statuses(pfns), 3)
        readable = [p for p, s in zip(pfns, r.page_statuses(pfns)) if s.readable]
        t_read = best(lambda: opener().read_pages(readable), 3)
        print("%-36s %8.2f %10.2f %9.1f %9.1f %6d" % ("+".join(names), t_open * 1e3,
                                                    t_first * 1e3, t_stat * 1e3,
                                                    t_read * 1e3, len(readable)))


def codec_figures(d):
    """Decompress every zlib page of d31-zlib.kdump: one C batch vs Python zlib."""
    path = os.path.join(d, "d31-zlib.kdump")
    if not os.path.exists(path):
        return
    r = KdumpReader(path)
    part = r.parts[0]
    stored = [p for p, s in zip(range(r.max_pfn), r.page_statuses(range(r.max_pfn)))
              if s.name == "PRESENT"]
    cls = r._classify(stored)
    descs = [cls[p][2] for p in stored if cls[p][2][2] & 1]
    blob = part.src.pread(0, part.size)
    src = b"".join(blob[o:o + n] for o, n, _, _ in descs)
    rel, pos = [], 0
    for o, n, _, _ in descs:
        rel.append(pos)
        pos += n
    ps = r.page_size
    c = kdump_mod.c_helper()
    if c is None:
        print("C helper not built: no comparison")
        return

    def via_c():
        kdump_mod.KdumpReader._codec(descs, rel, src, ps)

    def via_python_zlib():
        for (o, n, _, _), q in zip(descs, rel):
            zlib.decompress(src[q:q + n])

    def via_python_checked():
        for d_, q in zip(descs, rel):
            kdump_mod._py_page(src[q:q + d_[1]], d_[1], d_[2], ps)

    n = len(descs)
    for label, fn in (("C batch (pfnmap_decompress)", via_c),
                      ("Python zlib.decompress", via_python_zlib),
                      ("Python checked (_py_page)", via_python_checked)):
        t = best(fn)
        print("%-30s %6d pages %8.1f ms %7.2f us/page %7.0f MB/s"
              % (label, n, t * 1e3, t / n * 1e6, n * ps / t / 1e6))


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    reader_figures(d)
    print()
    codec_figures(d)
