"""The real captures of tests/data/captures (each shared scenario's pagemap and buffer pages,
extracted with libkdumpfile) as readers, and captures rebuilt from them record by record."""

import json
import re
import struct

from pykdump_ext.capture.buffer import load_capture
from pykdump_ext.pci.config import decode
from tests.builders import capture as cb
from tests.shared import DATA

CAPTURES = DATA / "captures"
LSPCI = DATA / "lspci"
SCENARIOS = sorted(p.name[:-5] for p in CAPTURES.glob("*.json")
                   if not p.name.endswith(".scenario.json"))


def fixture_reader(name):
    """The pages of a real dump that hold its pagemap and buffer (tests/data/captures,
    extracted with libkdumpfile by extract.py), as a reader over that physical range."""
    meta = json.loads((CAPTURES / (name + ".json")).read_text())
    data = (CAPTURES / (name + ".pages")).read_bytes()
    ps = meta["page_size"]
    pages = {p: data[i * ps:(i + 1) * ps] for i, p in enumerate(meta["pfns"])}
    return cb.Reader(pages, page_size=ps, vmcoreinfo=meta["vmcoreinfo"], max_pfn=meta["max_pfn"],
                     name=meta["source"])


def scenario(name):
    return json.loads((CAPTURES / (name + ".scenario.json")).read_text())


def console_capture_count(scen):
    """'pci_crash: CAPTURE: N devices, M bytes' on the panic console, or None."""
    for line in scen["panic_console_lines"]:
        m = re.search(r"pci_crash: CAPTURE: (\d+) devices, (\d+) bytes", line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


CAPTURED = [s for s in SCENARIOS if console_capture_count(scenario(s))]


def meta(name):
    return json.loads((CAPTURES / (name + ".json")).read_text())


def built_from(name, *, ff=(), patch=None, rebus=None):
    """The capture of real scenario `name`, rebuilt record by record: the records in `ff`
    all 0xFF (as a layout-B producer writes a device it skips), patch(bdf, bytearray) may
    change config bytes, rebus {bdf: (bus, devfn)} gives a record another address."""
    cap = load_capture(fixture_reader(name))
    recs = []
    for r in cap.records:
        cfg = bytearray(b"\xff" * len(r.config) if r.bdf in ff else r.config)
        if patch is not None:
            patch(r.bdf, cfg)
        bus, devfn = (rebus or {}).get(r.bdf, (r.bus, r.devfn))
        recs.append(cb.record(r.domain, bus, devfn >> 3, devfn & 7, bytes(cfg)))
    buf = cb.buffer(recs, timestamp=cap.header.timestamp)
    crashtime = meta(name)["vmcoreinfo"]["CRASHTIME"]
    return cb.reader(buf, layout=cap.layout, vmcoreinfo={"CRASHTIME": crashtime})


def set_aer(bdf_want, reg, value):
    """patch() that writes a 32-bit AER register (offset from the AER capability)."""
    def patch(bdf, cfg):
        if bdf == bdf_want:
            c = decode(bytes(cfg))
            struct.pack_into("<I", cfg, c.aer.offset + reg, value)
    return patch


# below the QEMU guests' switch upstream port 02:00.0: its two downstream ports and their endpoints
SWITCH_BELOW = ("0000:03:00.0", "0000:03:01.0", "0000:04:00.0", "0000:05:00.0")


def duplicated():
    """aer-uncor with 03:01.0's record carrying 03:00.0's address (both bridges)."""
    return built_from("aer-uncor", rebus={"0000:03:01.0": (0x03, 0x00)})
