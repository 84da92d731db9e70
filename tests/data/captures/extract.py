"""Regenerate the capture fixtures from ../shared/vmcores (maintainer tool, not a test).

For each scenario: the pages holding the pagemap and every buffer page it
lists (`<scenario>.pages`, concatenated, in the order of `pfns` in
`<scenario>.json`), plus the VMCOREINFO lines a capture reader needs and
the scenario's own scenario.json.  Read with libkdumpfile (physical
addresses), independent of our own readers:

    /usr/bin/python3 tests/data/captures/extract.py
"""
import json
import pathlib
import struct
import sys

import kdumpfile

HERE = pathlib.Path(__file__).resolve().parent
VMCORES = HERE.parents[3] / "shared" / "vmcores"
KEYS = ("OSRELEASE", "PAGESIZE", "CRASHTIME", "PCI_CRASH_PAGEMAP", "PCI_CRASH_VERSION",
        "PCI_CRASH_BUF_SZ")
PS = 4096


def main():
    for sc in sorted(p.name for p in VMCORES.iterdir() if (p / "scenario.json").exists()):
        k = kdumpfile.kdumpfile(str(VMCORES / sc / "d31-zlib.kdump"))
        k.attr["addrxlat.ostype"] = "linux"
        info = {}
        for line in bytes(k.attr["linux.vmcoreinfo.raw"]).decode().splitlines():
            key, _, val = line.partition("=")
            if key in KEYS:
                info[key] = val
        pfns = []
        if "PCI_CRASH_PAGEMAP" in info:
            pm = int(info["PCI_CRASH_PAGEMAP"], 16)
            scen = json.loads((VMCORES / sc / "scenario.json").read_text())
            at = 20 if scen.get("pagemap_layout") == "B" else 16
            n = struct.unpack("<I", k.read(kdumpfile.KDUMP_MACHPHYSADDR, pm + 4, 4))[0]
            end = pm + at + 8 * n
            pfns = list(range(pm // PS, (end - 1) // PS + 1))
            addrs = struct.unpack("<%dQ" % n, k.read(kdumpfile.KDUMP_MACHPHYSADDR, pm + at, 8 * n))
            pfns += [a // PS for a in addrs if a // PS not in pfns]
        data = b"".join(k.read(kdumpfile.KDUMP_MACHPHYSADDR, p * PS, PS) for p in pfns)
        (HERE / ("%s.pages" % sc)).write_bytes(data)
        meta = {"scenario": sc, "source": "%s/d31-zlib.kdump" % sc, "page_size": PS,
                "max_pfn": k.attr["max_pfn"], "vmcoreinfo": info, "pfns": pfns}
        (HERE / ("%s.json" % sc)).write_text(json.dumps(meta, indent=1) + "\n")
        (HERE / ("%s.scenario.json" % sc)).write_text((VMCORES / sc / "scenario.json").read_text())
        print(sc, len(pfns), "pages")


if __name__ == "__main__":
    sys.exit(main())
