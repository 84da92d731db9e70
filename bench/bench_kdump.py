"""Figures for the kdump-compressed reader: open, status and read times on
the real dumps, C (crash_ext_c._pfnmap) versus Python decompression, and
the bytes read from each part of a 1 TiB synthetic dump (2^28 pfns, 6000
scattered buffer pages) by capture.read_pagemap and two read_pages() of the
buffer, with and without the reader's classification cache.

    .venv/bin/python -m bench.bench_kdump [DUMP_DIR]
"""

import os
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
    for _o, n, _, _ in descs:
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
        for (_o, n, _, _), q in zip(descs, rel):
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


class _CountingFile:
    """pread() over a file, adding up the bytes that fall in named ranges."""

    def __init__(self, path):
        self.name, self.size = path, os.path.getsize(path)
        self._fd = os.open(path, os.O_RDONLY)
        self.ranges, self.got, self.calls = {}, {}, 0

    def pread(self, offset, size):
        data = os.pread(self._fd, size, offset)
        self.calls += 1
        for name, (lo, hi) in self.ranges.items():
            self.got[name] = self.got.get(name, 0) + max(
                0, min(offset + len(data), hi) - max(offset, lo))
        return data

    def close(self):
        os.close(self._fd)


def io_figures(bits=28, buf_pages=6000):
    """Bytes of each bitmap read by read_pagemap + read_pages twice, 1 TiB synthetic dump."""
    root = os.path.join(HERE, "..")
    from tests.builders.capture import scattered_capture_dump
    from pykdump_ext.capture.buffer import read_pagemap
    cache = os.environ.get("PCICRASH_CACHE", os.path.join(root, ".cache"))
    path = os.path.join(cache, "synthetic-2^%d-%dpages.kdump" % (bits, buf_pages))
    if not os.path.exists(path):        # same file as bench_readers.py makes
        os.makedirs(cache, exist_ok=True)
        scattered_capture_dump(path + ".tmp", max_pfn=1 << bits, buf_pages=buf_pages)
        os.rename(path + ".tmp", path)
    print("%-30s %-16s %7s %10s %10s %10s %8s" % (
        "2^%d pfns, %d buffer pages" % (bits, buf_pages), "step", "preads", "2nd bitmap",
        "1st bitmap", "all bytes", "ms"))
    saved = kdump_mod.CLASS_CACHE
    for label, size in (("with cache", saved), ("without cache", 0)):
        kdump_mod.CLASS_CACHE = size
        src = _CountingFile(path)
        r = KdumpReader([src])
        p = r.parts[0]
        src.ranges = {"bm1": (p.bitmap_off, p.bitmap_off + p.bitmap_len),
                      "bm2": (p.bitmap_off + p.bitmap_len, p.bitmap_off + 2 * p.bitmap_len),
                      "all": (0, p.size)}
        pfns = []

        def pagemap():
            pfns.extend(a // r.page_size for a in read_pagemap(r).page_addrs)

        for step, fn in (("read_pagemap", pagemap),
                         ("read_pages", lambda: r.read_pages(pfns)),
                         ("read_pages again", lambda: r.read_pages(pfns))):
            src.got, src.calls = {}, 0
            t = time.perf_counter()
            fn()
            t = time.perf_counter() - t
            print("%-30s %-16s %7d %10d %10d %10d %8.1f" % (
                label, step, src.calls, src.got.get("bm2", 0), src.got.get("bm1", 0),
                src.got.get("all", 0), t * 1e3))
        print("%-30s running counts: %d entries of %d bytes (2nd bitmap: %d bytes)"
              % ("", len(p._counts), p._counts.itemsize, p.bitmap_len))
        r.close()
    kdump_mod.CLASS_CACHE = saved


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    reader_figures(d)
    print()
    codec_figures(d)
    print()
    io_figures()
