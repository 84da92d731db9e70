"""A generated fleet: many small kdump-compressed dumps with varied devices, errors,
slots, kernels and capture states, and what was put in each (the truth the fleet
summary is checked against).

Each dump is a machine with a host bridge, a root port (in one of several
positions, with a physical slot number) and an endpoint behind it that
reported one error (an AER uncorrectable error sent to the root port as
ERR_NONFATAL, or a correctable one), plus a clean second root port and NIC.
States: captured; partial (the last buffer page, only padding, filtered out:
every record is still read); skipped (the buffer all zero); absent (no
PCI_CRASH lines).  Written with kdump.write_kdump and the capture builder
config spaces.
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass
from typing import List, Optional

from tests.builders import capture as cb
from tests.builders.capture import pci_crash_pages
from tests.builders.elf import write_elf
from tests.builders.kdump import write_kdump

PAGE = 4096
MAX_PFN = 1 << 12

# (vendor, device, subsystem vendor, subsystem device)
ENDPOINTS = [(0x8086, 0x10d3, 0x8086, 0xa01f), (0x15b3, 0x1017, 0x15b3, 0x0020),
             (0x14e4, 0x16d7, 0x14e4, 0x1402), (0x1af4, 0x1041, 0x1af4, 0x1100),
             (0x8086, 0x1572, 0x8086, 0x0001), (0x15b3, 0x1017, 0x1028, 0x0066)]
# AER short name -> (uncorrectable bit or None, correctable bit or None)
ERRORS = {"CmpltTO": (cb.UE_COMP_TIME, None), "CmpltAbrt": (cb.UE_COMP_ABORT, None),
          "UnxCmplt": (cb.UE_UNX_COMP, None), "MalfTLP": (cb.UE_MALF_TLP, None),
          "BadTLP": (None, cb.CE_BAD_TLP)}
# (device, function) of the root port on bus 0, and its physical slot number
PORTS = [((2, 0), 1), ((2, 1), 2), ((3, 0), 7), ((1, 0), 12)]
KERNELS = ["6.1.0-18-amd64", "6.6.30-fleet", "5.15.0-105-generic"]
STATES = ["captured"] * 7 + ["partial", "skipped", "absent"]


@dataclass
class Truth:
    path: str
    state: str
    kernel: str
    ids: Optional[str] = None          # the blamed endpoint
    subsystem: Optional[str] = None
    error: Optional[str] = None
    root_port: Optional[str] = None
    slot: Optional[int] = None


def _sltcap(psn):
    return struct.pack("<I", psn << 19)


def machine_buffer(ep, err, port, slot):
    """Buffer of one machine: host bridge, faulty root port + endpoint, clean port + NIC."""
    (dev, fn) = port
    vid, did, svid, sdid = ep
    ue, ce = ERRORS[err]
    rp_aer = {"root_status": (cb.ROOT_UNCOR_RCV | cb.ROOT_NONFATAL_MSG) if ue else cb.ROOT_COR_RCV}
    rp_aer["src_uncor" if ue else "src_cor"] = 0x0100          # 01:00.0
    rp = cb.config(0x8086, 0x2030, klass=0x060400, port_type=cb.ROOT_PORT, bus_range=(1, 1),
                   dllla_capable=True, dllla=True, slot_presence=True, aer=rp_aer,
                   extra_caps={0x54: _sltcap(slot)})
    ep_aer = {"uncor_status": ue, "fep": ue.bit_length() - 1} if ue else {"cor_status": ce,
                                                                          "cor_mask": 0}
    epc = cb.config(vid, did, port_type=cb.ENDPOINT, devsta=0x2 if ue else 0x1, aer=ep_aer,
                    extra_caps={0x2c: struct.pack("<HH", svid, sdid)})
    other = (4, 0) if port != (4, 0) else (5, 0)
    rp2 = cb.config(0x8086, 0x2031, klass=0x060400, port_type=cb.ROOT_PORT, bus_range=(2, 2),
                    dllla_capable=True, dllla=True, aer={})
    nic = cb.config(0x8086, 0x10fb, port_type=cb.ENDPOINT, aer={},
                    extra_caps={0x2c: struct.pack("<HH", 0x8086, 0x000c)})
    host = cb.config(0x8086, 0x29c0, size=256, klass=0x060000)
    recs = [cb.record(0, 0, 0, 0, host), cb.record(0, 0, dev, fn, rp), cb.record(0, 1, 0, 0, epc),
            cb.record(0, 0, other[0], other[1], rp2), cb.record(0, 2, 0, 0, nic)]
    return cb.buffer(recs)


def write_machine(path, *, ep, err, port, slot, kernel, state, seed=0, elf=False):
    """One dump (kdump-compressed, or an ELF vmcore with `elf`); returns its Truth."""
    rng = random.Random(seed)
    t = Truth(path=str(path), state=state, kernel=kernel)
    lines = ["CRASHTIME=1795241199"]
    pages = {}
    if state != "absent":
        buf = machine_buffer(ep, err, port, slot)
        n = -(-len(buf) // PAGE) + (1 if state == "partial" else 0)
        buf = buf + bytes(n * PAGE - len(buf)) if state == "partial" else buf
        if state == "skipped":
            buf = bytes(len(buf))
        pfns = rng.sample(range(16, MAX_PFN - 16), n)
        pm_addr = 8 * PAGE + 0x80
        pages, pl = pci_crash_pages(buf, "A", pfns, pagemap_addr=pm_addr)
        lines += pl
        if state == "partial":
            del pages[pfns[-1]]           # the padding page, filtered out of the dump
        if state in ("captured", "partial"):
            vid, did, svid, sdid = ep
            t.ids = "%04x:%04x" % (vid, did)
            t.subsystem = "%04x:%04x" % (svid, sdid)
            t.error = err
            t.root_port = "0000:00:%02x.%d" % port
            t.slot = slot
    if elf:
        write_elf(str(path), pages, loads=[(0, MAX_PFN * PAGE, MAX_PFN * PAGE)],
                        vmcoreinfo_lines=lines, release=kernel)
    else:
        write_kdump(str(path), pages, max_pfn=MAX_PFN, vmcoreinfo_lines=lines,
                          release=kernel)
    return t


def write_fleet(directory, n, *, seed=11) -> List[Truth]:
    """`n` dumps in `directory`, the machine of each drawn at random (seeded)."""
    rng = random.Random(seed)
    out = []
    os.makedirs(str(directory), exist_ok=True)
    for i in range(n):
        port, slot = rng.choice(PORTS)
        out.append(write_machine(
            os.path.join(str(directory), "host%04d.kdump" % i), ep=rng.choice(ENDPOINTS),
            err=rng.choice(sorted(ERRORS)), port=port, slot=slot,
            kernel=rng.choice(KERNELS), state=rng.choice(STATES), seed=i))
    return out
