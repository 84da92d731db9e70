"""Hostile topologies (issue 15): each of -j, -a, --check must end within 10 s and 500 MiB.

Builds kdump-compressed dumps holding captures whose bus numbers are hostile and runs the
real command on each, printing wall time, the child's peak RSS, exit status and output size:

- 2000 PCIe bridges whose bus number dword reads 0xFFFFFFFF (a failed config read): once
  1,999,000 "both claim secondary bus ff" lines and 900 MiB; now one aggregated line;
- 5840 PCIe bridges (the producer's 24 MiB cap) with overlapping, crossing bus ranges: once
  13 s for -j plus -a; now n log n checks;
- 5840 functions where every other record repeats the previous record's BDF.

    .venv/bin/python -m bench.bench_topology
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.builders import capture as cb
from tests.builders.capture import pci_crash_pages
from tests.builders.elf import PAGE_SIZE
from tests.builders.kdump import write_kdump


ROOT = Path(__file__).resolve().parent.parent
LIMIT_S, LIMIT_MIB = 10.0, 500


def failed_bus_dword(n=2000):
    rp = bytearray(cb.config(0x1b36, 0x000c, klass=0x060400, port_type=cb.ROOT_PORT,
                             bus_range=(1, 1), aer={}))
    rp[0x18:0x1C] = b"\xff" * 4
    return [cb.record(0, i >> 8, (i >> 3) & 31, i & 7, bytes(rp)) for i in range(n)]


def overlapping(n=5840):
    out = []
    for i in range(n):
        sec = 1 + (i * 7) % 250
        cfg = cb.config(0x1b36, 0x000c, klass=0x060400, port_type=cb.ROOT_PORT,
                        bus_range=(sec, min(255, sec + 1 + i % 9)), aer={})
        out.append(cb.record(0, (i // 256) % 256, (i >> 3) & 31, i & 7, cfg))
    return out


def duplicates(n=5840):
    ep = cb.config(0x8086, 0x10d3, port_type=cb.ENDPOINT, aer={})
    return [cb.record(0, (i // 2) >> 8, ((i // 2) >> 3) & 31, (i // 2) & 7, ep)
            for i in range(n)]


def write_dump(path, records):
    buf = cb.buffer(records)
    pages = -(-len(buf) // PAGE_SIZE)
    pfns = [0x20000 + 3 * i for i in range(pages)]
    mem, lines = pci_crash_pages(buf, "A", pfns, pagemap_addr=0x10000 * PAGE_SIZE)
    write_kdump(path, mem, max_pfn=1 << 20,
                      vmcoreinfo_lines=["CRASHTIME=1795241199"] + lines)
    return len(buf)


def run(dump, opt):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t = time.monotonic()
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as out:
        p = subprocess.Popen([sys.executable, "-m", "pykdump_ext.frontends.cli.main", opt, str(dump)],
                             stdout=out, stderr=null, env=env)
        _pid, status, usage = os.wait4(p.pid, 0)
        size = out.tell()
    wall = time.monotonic() - t
    return (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
            os.waitstatus_to_exitcode(status), size)


def main():
    cases = [("2000 bridges, bus dword 0xffffffff", failed_bus_dword()),
             ("5840 bridges, overlapping ranges", overlapping()),
             ("5840 records, every BDF twice", duplicates())]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        print("%-36s %-8s %7s %6s %9s %5s %12s" % ("capture", "option", "wall s", "cpu s",
                                                    "peak MiB", "exit", "output bytes"))
        for i, (name, recs) in enumerate(cases):
            dump = Path(tmp) / ("case%d.kdump" % i)
            write_dump(dump, recs)
            for opt in ("-j", "-a", "--check"):
                wall, cpu, mib, rc, size = run(dump, opt)
                ok = wall < LIMIT_S and mib < LIMIT_MIB and rc in (0, 1, 2)
                bad += not ok
                print("%-36s %-8s %7.2f %6.2f %9.0f %5d %12d%s"
                      % (name, opt, wall, cpu, mib, rc, size, "" if ok else "  OVER LIMIT"))
    print("limits: %.0f s, %d MiB, exit 0/1/2: %s" % (LIMIT_S, LIMIT_MIB,
                                                      "all within" if not bad else
                                                      "%d over" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
