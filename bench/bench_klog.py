"""Kernel log extraction: `pcicrash --dmesg` against `makedumpfile --dump-dmesg` (same run),
and what the log costs on the 1 TiB synthetic dump beyond the capture.

1. Every shared dump makedumpfile reads (each scenario's d31-zlib.kdump, the
   raw ELF vmcore when cached): best of N wall times of makedumpfile
   --dump-dmesg (a process, writing its file) and of pcicrash --dmesg, both
   as a process (python start-up included) and in process (open_dump +
   read_kernel_log + the text); the ratios are pcicrash / makedumpfile.
   The outputs are compared byte for byte in the same run.
2. 2^28 pfns of 4 KiB (1 TiB) with the 6000-page scattered capture of
   bench_kdump/bench_readers plus a kernel with a 256 KiB printk ring
   (8192 descriptors, full and wrapped): file bytes and preads of the
   capture alone (read_pagemap + read_pages), then of read_kernel_log on
   the same reader: the log adds its own pages (and the page-table pages
   it walks), nothing else: no second pass over the bitmaps.

    .venv/bin/python -m bench.bench_klog [--repeat N] [--no-synthetic]
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

from bench.bench_kdump import _CountingFile, best  # noqa: E402
from crash_ext_c.kdump import KdumpReader  # noqa: E402
from crash_ext_c.open import open_dump  # noqa: E402
from pykdump_ext.kernel.klog.dmesg import dmesg_bytes  # noqa: E402
from pykdump_ext.kernel.klog.reader import read_kernel_log  # noqa: E402

VMCORES = ROOT.parent / "shared" / "vmcores"
CACHE = pathlib.Path(os.environ.get("PCICRASH_CACHE", ROOT / ".cache"))


def shared_dumps():
    out = []
    if VMCORES.is_dir():
        out += sorted(VMCORES.glob("*/d31-zlib.kdump"))
    elf = CACHE / "aer-uncor-vmcore.elf"
    if elf.exists():
        out.append(elf)
    return out


def in_process(path):
    with open_dump([str(path)]) as r:
        return dmesg_bytes(read_kernel_log(r).records)


def peer_figures(repeat):
    print("%-40s %9s %9s %9s %7s %7s %s" % ("dump", "mdf ms", "cli ms", "core ms",
                                          "cli/mdf", "core/mdf", "same bytes"))
    tmp = tempfile.mkdtemp(prefix="bench-klog-")
    out = os.path.join(tmp, "dmesg")
    cli = [sys.executable, "-m", "pykdump_ext.frontends.cli.main", "--dmesg"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ratios = []
    try:
        for path in shared_dumps():
            def mdf():
                if os.path.exists(out):
                    os.unlink(out)
                subprocess.run(["makedumpfile", "--dump-dmesg", str(path), out],
                               capture_output=True, check=True)
            t_mdf = best(mdf, repeat)
            with open(out, "rb") as f:
                want = f.read()
            got = [b""]

            def ours_cli():
                got[0] = subprocess.run(cli + [str(path)], capture_output=True, env=env,
                                        cwd=str(ROOT)).stdout
            t_cli = best(ours_cli, repeat)
            t_core = best(lambda: in_process(path), repeat)
            same = got[0] == want == in_process(path)
            name = "%s/%s" % (path.parent.name, path.name) if path.parent != CACHE \
                else path.name
            ratios.append((t_cli / t_mdf, t_core / t_mdf))
            print("%-40s %9.1f %9.1f %9.1f %7.1f %7.2f %s" % (
                name, t_mdf * 1e3, t_cli * 1e3, t_core * 1e3, t_cli / t_mdf, t_core / t_mdf,
                "yes" if same else "NO"))
    finally:
        if os.path.exists(out):
            os.unlink(out)
        os.rmdir(tmp)
    if ratios:
        print("median ratio: cli %.1f x, core %.2f x makedumpfile" % (
            sorted(r[0] for r in ratios)[len(ratios) // 2],
            sorted(r[1] for r in ratios)[len(ratios) // 2]))


def synthetic_dump(bits=28, buf_pages=6000):
    """The scattered 1 TiB capture dump plus a kernel with a full 256 KiB printk ring."""
    from tests.builders import klog as kb
    from tests.builders.capture import fake_buffer, pci_crash_pages, scattered_pfns
    from tests.builders.kdump import write_kdump
    path = CACHE / ("synthetic-2^%d-%dpages-klog.kdump" % (bits, buf_pages))
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    k = kb.X86Kernel()
    prb = kb.Prb(13, 18)
    for i in range(12000):             # wraps both rings
        prb.add(kb.Rec(i * 1_000_003, "pcieport 0000:00:%02x.0: AER: message %d %s"
                       % (i % 32, i, "z" * (i % 50))))
    k.place_prb(prb)
    kernel_pages = k.mem.frozen()
    buf = fake_buffer(buf_pages * 4096, seed=1)
    max_pfn = 1 << bits
    pm_pfn = max_pfn // 3
    pfns = scattered_pfns(buf_pages, max_pfn, seed=1,
                                avoid=set(kernel_pages) | set(range(pm_pfn, pm_pfn + 13)))
    pages, lines = pci_crash_pages(buf, "A", pfns, pagemap_addr=pm_pfn * 4096 + 0x380)
    assert not set(pages) & set(kernel_pages)
    pages.update(kernel_pages)
    write_kdump(str(path) + ".tmp", pages, max_pfn=max_pfn,
                      vmcoreinfo_lines=["CRASHTIME=1795241199"] + lines + k.lines,
                      phys_base=k.phys_base)
    os.rename(str(path) + ".tmp", path)
    return path


def synthetic_figures():
    from pykdump_ext.capture.buffer import read_pagemap
    path = synthetic_dump()
    src = _CountingFile(str(path))
    r = KdumpReader([src])
    p = r.parts[0]
    src.ranges = {"bm1": (p.bitmap_off, p.bitmap_off + p.bitmap_len),
                  "bm2": (p.bitmap_off + p.bitmap_len, p.bitmap_off + 2 * p.bitmap_len),
                  "all": (0, p.size)}
    print("%-34s %7s %11s %11s %11s %7s %8s" % ("1 TiB synthetic (2^28 pfns)", "preads",
                                              "2nd bitmap", "1st bitmap", "all bytes",
                                              "pages", "ms"))
    pfns = []

    def capture():
        pfns.extend(a // r.page_size for a in read_pagemap(r).page_addrs)
        r.read_pages(pfns)
        return len(set(pfns)) + 1
    logs = []

    def klog():
        logs.append(read_kernel_log(r))
        return len(logs[-1].pfns)
    for step, fn in (("capture (pagemap + buffer)", capture), ("kernel log after it", klog)):
        src.got, src.calls = {}, 0
        t = time.perf_counter()
        n = fn()
        t = time.perf_counter() - t
        print("%-34s %7d %11d %11d %11d %7d %8.1f" % (
            step, src.calls, src.got.get("bm2", 0), src.got.get("bm1", 0),
            src.got.get("all", 0), n, t * 1e3))
    log = logs[-1]
    stored = r.page_statuses(sorted(log.pfns))
    print("kernel log: %d records, %d pages (%d KiB of RAM), complete=%s, all stored=%s; "
          "file is %d MiB" % (len(log.records), len(log.pfns), len(log.pfns) * 4,
                              log.complete, all(s.name == "PRESENT" for s in stored),
                              p.size >> 20))
    r.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-synthetic", action="store_true")
    a = ap.parse_args(argv)
    peer_figures(a.repeat)
    if not a.no_synthetic:
        print()
        synthetic_figures()


if __name__ == "__main__":
    main()
