"""Whole-process time of `pcicrash -j DUMP` against a libkdumpfile script that only
extracts the same capture (issue 12: at most 1.5x on the real aer-uncor dump, at most
1.0x on a 5824-function capture).

The peer runs with Debian's /usr/bin/python3 and python3-libkdumpfile (0.5.1): it opens
the dump, reads PCI_CRASH_PAGEMAP from VMCOREINFO, reads the pagemap and every buffer
page through KDUMP_MACHPHYSADDR (no OS type set, as tests/peers/test_libkdumpfile.py does)
and writes the capture bytes out.  pcicrash runs on the same interpreter
(`/usr/bin/python3 -m pykdump_ext`, this checkout on PYTHONPATH, its C helper built
in place): the ratio is then of the two programs, not of two interpreters' start-up.
The venv's console script is timed too and printed beside it: a venv's site also runs
its .pth files (on this machine a sandbox's certifi hook, about 30 ms, which is no part
of pcicrash).  Everything writes to /dev/null; runs alternate (peer, pcicrash, peer,
...) so a change of machine load hits both; the figure is the median of N runs, and
the CPU time (user + system) is printed too.

The 5824-function capture (root ports and PCIe endpoints with AER, 4096-byte config
spaces, every function its own BAR0 as on real hardware) is built into a
kdump-compressed file (makedumpfile's format: tests/builders/kdump.py) in a temporary
directory; the peer reading it back the same bytes is checked before timing.

    .venv/bin/python -m bench.bench_startup [-n RUNS] [--dump FILE]
"""

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

SYSTEM_PYTHON = "/usr/bin/python3"
REAL = ROOT.parent / "shared" / "vmcores" / "aer-uncor" / "d31-zlib.kdump"
TARGETS = {"real": 1.5, "big": 1.0}

PEER = r"""
import struct, sys
import kdumpfile
k = kdumpfile.kdumpfile(sys.argv[1])
info = bytes(k.attr["linux.vmcoreinfo.raw"]).decode("utf-8", "replace")
lines = dict(l.split("=", 1) for l in info.splitlines() if "=" in l)
pm = int(lines["PCI_CRASH_PAGEMAP"], 16)
P = kdumpfile.KDUMP_MACHPHYSADDR
magic, num, size, off16 = struct.unpack_from("<IIQI", bytes(k.read(P, pm, 20)))
# layout B (u32 buf_offset at 16, addresses at 20) when num_pages fits it, else A
layout_b = off16 < 4096 and -(-(off16 + size) // 4096) == num
at, off = (20, off16) if layout_b else (16, 0)
addrs = struct.unpack("<%dQ" % num, bytes(k.read(P, pm + at, 8 * num)))
data = b"".join(bytes(k.read(P, a, 4096)) for a in addrs)
sys.stdout.buffer.write(data[off:off + size])
"""


# The floor of any -j: this checkout's reader loads the capture records (no decoding) and
# writes only what pcicrash/1 requires of every device, its BDF and config bytes as hex.
FLOOR = r"""
import json, sys
from crash_ext_c.open import open_dump
from pykdump_ext.capture.buffer import load_capture
with open_dump([sys.argv[1]]) as r:
    cap = load_capture(r)
sys.stdout.write('{"devices":[' + ",".join('{"bdf":%s,"config":"%s"}' % (json.dumps(x.bdf), x.config.hex())
                                           for x in cap.records) + "]}\n")
"""


def pcicrash_cmd(ours=None):
    """pcicrash on Debian's python3 with this checkout (the peer's interpreter)."""
    if ours:
        return ours.split()
    return ["env", "PYTHONPATH=%s" % ROOT, SYSTEM_PYTHON, "-m", "pykdump_ext"]


def venv_cmd():
    exe = ROOT / ".venv" / "bin" / "pcicrash"
    return [str(exe)] if exe.exists() else None


def build_big(path, n=5824):
    """A kdump-compressed dump holding an n-function capture; returns the buffer bytes."""
    from bench import bench_decode
    from tests.builders import capture as cb
    from tests.builders.kdump import write_kdump
    recs = bench_decode.build(n)
    recs = recs[:1] + bench_decode.distinct(recs[1:])
    buf = cb.buffer(recs)
    pages_n = -(-len(buf) // 4096)
    max_pfn = 1 << 18                     # 1 GiB of physical memory
    pm_pfn = 0x1000
    pfns = cb.scattered_pfns(pages_n, max_pfn, seed=5, avoid=range(pm_pfn, pm_pfn + 16))
    pages, lines = cb.pci_crash_pages(buf, "A", pfns, pagemap_addr=pm_pfn * 4096 + 0x380)
    write_kdump(path, pages, max_pfn=max_pfn,
                      vmcoreinfo_lines=["CRASHTIME=1795241199"] + lines)
    return buf


# .pyc files are written and used, as in an installed copy (a test environment may say not to)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd):
    """Wall time of one whole process; run.cpu is its CPU time (user + system, from wait4:
    less disturbed by other load on a shared machine than the wall time)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    err = proc.stderr.read()
    _pid, status, ru = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode not in (0, 1):
        raise SystemExit("%s failed (%d): %s" % (" ".join(cmd), proc.returncode,
                                                 err.decode()[-500:]))
    run.cpu = ru.ru_utime + ru.ru_stime
    return dt


def compare(label, dump, runs, ours_cmd):
    peer = [SYSTEM_PYTHON, "-c", PEER, str(dump)]
    cmds = {"pcicrash -j": ours_cmd + ["-j", str(dump)]}
    venv = venv_cmd()
    if venv is not None:
        cmds["venv pcicrash -j"] = venv + ["-j", str(dump)]
    cmds["floor (capture read, hex written)"] = ["env", "PYTHONPATH=%s" % ROOT, SYSTEM_PYTHON, "-c", FLOOR,
                                                 str(dump)]
    run(peer)
    for c in cmds.values():      # warm the page cache and .pyc files
        run(c)
    tp, cp = [], []
    times = {k: ([], []) for k in cmds}
    for _ in range(runs):
        tp.append(run(peer))
        cp.append(run.cpu)
        for k, c in cmds.items():
            times[k][0].append(run(c))
            times[k][1].append(run.cpu)
    mp, mcp = statistics.median(tp), statistics.median(cp)
    target = TARGETS["real" if "aer-uncor" in label else "big"]
    print("%-40s peer %7.1f ms (CPU %.1f ms)" % (label, mp * 1e3, mcp * 1e3))
    for k, (walls, cpus) in times.items():
        mo, mco = statistics.median(walls), statistics.median(cpus)
        print("  %-38s %7.1f ms  ratio %.2f (target <= %.1f); CPU %.1f ms, ratio %.2f"
              % (k, mo * 1e3, mo / mp, target, mco * 1e3, mco / mcp))
    return statistics.median(times["pcicrash -j"][0]) / mp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--runs", type=int, default=9, help="runs of each (median)")
    ap.add_argument("--dump", default=str(REAL), help="the real dump (default: aer-uncor d31-zlib)")
    ap.add_argument("--functions", type=int, default=5824)
    ap.add_argument("--real-only", action="store_true", help="only the real dump")
    ap.add_argument("--ours", help="the pcicrash command to time (default: the venv's console "
                                   "script), e.g. 'env PYTHONPATH=OLD .venv/bin/python -m pykdump_ext'")
    args = ap.parse_args()
    if subprocess.run([SYSTEM_PYTHON, "-c", "import kdumpfile"],
                      capture_output=True).returncode != 0:
        raise SystemExit("python3-libkdumpfile is not installed for %s" % SYSTEM_PYTHON)
    print("load: %s" % open("/proc/loadavg").read().strip())
    ours = pcicrash_cmd(args.ours)
    # the floor under both: an interpreter that does nothing (the venv's site runs its .pth files)
    venv_python = str(ROOT / ".venv" / "bin" / "python")
    for label, cmd in (("system python3 -c pass", [SYSTEM_PYTHON, "-c", "pass"]),
                       ("venv python -c pass", [venv_python, "-c", "pass"]),
                       ("system python3 -c 'import kdumpfile'",
                        [SYSTEM_PYTHON, "-c", "import kdumpfile"])):
        if os.path.exists(cmd[0]):
            run(cmd)
            walls, cpus = [], []
            for _ in range(args.runs):
                walls.append(run(cmd))
                cpus.append(run.cpu)
            print("%-40s %7.1f ms (CPU %.1f ms)" % (label, statistics.median(walls) * 1e3,
                                                   statistics.median(cpus) * 1e3))
    ratios = {}
    if os.path.exists(args.dump):
        ratios["real"] = compare("aer-uncor (%s)" % os.path.basename(args.dump), args.dump,
                                 args.runs, ours)
    else:
        print("%s not found: real-dump ratio skipped" % args.dump)
    if args.real_only:
        return report(ratios, args.runs)
    tmp = tempfile.mkdtemp(prefix="bench-startup-")
    try:
        big = os.path.join(tmp, "big.kdump")
        buf = build_big(big, args.functions)
        got = subprocess.run([SYSTEM_PYTHON, "-c", PEER, big], capture_output=True)
        assert got.returncode == 0 and got.stdout == buf, "libkdumpfile does not read the dump back"
        print("built %s: %d functions, buffer %.1f MiB, dump %.1f MiB; libkdumpfile reads it back"
              % (big, args.functions, len(buf) / 2**20, os.path.getsize(big) / 2**20))
        ratios["big"] = compare("%d-function capture" % args.functions, big, args.runs, ours)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(ratios, args.runs)


def report(ratios, runs):
    print("load: %s" % open("/proc/loadavg").read().strip())
    print("RESULT ratios (median of %d, whole process): %s" % (
        runs, ", ".join("%s %.2f (target %.1f)" % (k, v, TARGETS[k]) for k, v in ratios.items())))


if __name__ == "__main__":
    main()
