"""Smaller standard capabilities: AGP, VPD, Slot ID, PCI-X, Debug port, Subsystem IDs,
Advanced Features, SATA HBA, Enhanced Allocation, and the ones lspci only names."""

from __future__ import annotations

from typing import Callable, List

from .access import Access
from .model import CapResult, Reg, Register, read_regs
from .registry import Ctx, capability, named, text_for

MAX_OUTSTANDING = (1, 2, 3, 4, 8, 12, 16, 32)
SEC_FREQ = ("conv", "66MHz", "100MHz", "133MHz", "?4", "?5", "?6", "?7")


def _agp_rate(rate: int, agp3: bool) -> str:
    r = ",".join("x%d" % (1 << (i + 2 * agp3)) for i in range(3) if rate >> i & 1)
    return r or "<none>"


_AGP_STATUS = "Rate@0:3 AGP3@3 FW@4 64bit@5 HTrans@6 GART64@7 ITACoh@8 SBA@9 Cal@10:3 ArqSz@13:3 Iso@16 RQ@24:8"
_AGP_COMMAND = "Rate@0:3 FW@4 64bit@5 GART64@7 AGP@8 SBA@9 Cal@10:3 ArqSz@13:3 RQ@24:8"


def _rq(r: Reg) -> str:
    return "%d" % (r["RQ"] + 1)         # maximum requests: the field plus one


def _rate(agp3: bool, own_bit: bool) -> Callable[[Reg], str]:
    """The Rate word in AGP3 mode or not; Status also needs its own AGP3 bit set."""
    return lambda r: _agp_rate(r["Rate"], agp3 and (not own_bit or r["AGP3"]))


# The Rate words depend on AGP3 mode (version 3 and the Status AGP3 bit): one pair of
# register specs per mode, chosen by the decoder
AGP_REGS = {agp3: (Register("Status", 0x04, 4, _AGP_STATUS, words={"RQ": _rq, "Rate": _rate(agp3, True)}),
                   Register("Command", 0x08, 4, _AGP_COMMAND, words={"RQ": _rq, "Rate": _rate(agp3, False)}))
            for agp3 in (False, True)}
AGP_VER = Register("Version", 0x02, 1, "Rev@0:4 Ver@4:4")


def _dev(r: Reg) -> str:
    """The function's own bus:device.function, as its PCI-X Status register holds it."""
    return "%02x:%02x.%d" % (r["Bus"], r["Device"], r["Function"])


PCIX_CMD = Register("Command", 0x02, 2, "DPERE@0 ERO@1 MMRBC@2:2 MOST@4:3", words={
    "RBC": lambda r: "%d" % (1 << (9 + r["MMRBC"])), "OST": lambda r: "%d" % MAX_OUTSTANDING[r["MOST"]]})
PCIX_STATUS = Register("Status", 0x04, 4, "Function@0:3 Device@3:5 Bus@8:8 64bit@16 133MHz@17 SCD@18 USC@19 "
                       "DC@20 DMMRBC@21:2 DMOST@23:3 DMCRS@26:3 RSCEM@29 266MHz@30 533MHz@31", words={
                           "Dev": _dev, "DC": ("simple", "bridge"),
                           "DMMRBC": lambda r: "%d" % (1 << (9 + r["DMMRBC"])),
                           "DMOST": lambda r: "%d" % MAX_OUTSTANDING[r["DMOST"]],
                           "DMCRS": lambda r: "%d" % (1 << (3 + r["DMCRS"]))})
PCIXB_SEC = Register("Secondary Status", 0x02, 2, "64bit@0 133MHz@1 SCD@2 USC@3 SCO@4 SRD@5 Freq@6:3",
                     words={"Freq": SEC_FREQ})
PCIXB_STATUS = Register("Status", 0x04, 4, "Function@0:3 Device@3:5 Bus@8:8 64bit@16 133MHz@17 SCD@18 "
                        "USC@19 SCO@20 SRD@21", words={"Dev": _dev})
PCIXB_UP = Register("Upstream", 0x08, 4, "Capacity@0:16 CommitmentLimit@16:16")
PCIXB_DOWN = Register("Downstream", 0x0C, 4, "Capacity@0:16 CommitmentLimit@16:16")
FLAGS = Register("Flags", 0x02, 2)
DEBUG_PORT = Register("Flags", 0x02, 2, "offset@0:13 BAR@13:3")
SSVID = (Register("SubsystemVendor", 0x04, 2), Register("Subsystem", 0x06, 2))
AF = (Register("AFCap", 0x03, 1, "TP@0 FLR@1"), Register("AFCtrl", 0x04, 1, "FLR@0"),
      Register("AFStatus", 0x05, 1, "TP@0"))
SATA = Register("BARs", 0x04, 4, "BAR@0:4 Offset@4:20")
EA_HDR = Register("Flags", 0x02, 2, "NumEntries@0:6")
EA_BUS = (Register("FixedSecondary", 0x04, 1), Register("FixedSubordinate", 0x05, 1))
EA_ENTRY = Register("Header", 0, 4, "EntrySize@0:3 BEI@4:4 PrimaryProperties@8:8 SecondaryProperties@16:8 "
                    "Writable@30 Enable@31")


def _regs(cid, name, regs, span=0x10):
    @capability("std", cid, name, span=span)
    def decode(a: Access, c: CapResult, ctx: Ctx, regs=regs) -> None:
        read_regs(c, a, c.offset, regs)
    return decode


@capability("std", 0x02, "AGP", span=0x0C)
def decode_agp(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not read_regs(c, a, c.offset, (AGP_VER,)):
        return
    v3 = c.reg("Version")["Ver"] >= 3
    status, _ = AGP_REGS[v3]
    if read_regs(c, a, c.offset, (status,)):
        read_regs(c, a, c.offset, (AGP_REGS[v3 and c.reg("Status")["AGP3"]][1],))


capability("std", 0x0E, "AGP3", span=0x0C)(decode_agp)
_regs(0x04, "Slot ID", (FLAGS,), span=4)
_regs(0x0A, "Debug port", (DEBUG_PORT,), span=4)
_regs(0x0D, "Subsystem", SSVID, span=8)
_regs(0x12, "SATA HBA", (FLAGS, SATA), span=8)
_regs(0x13, "PCI Advanced Features", AF, span=6)
_regs(0x03, "Vital Product Data", (), span=4)


@text_for("std", 0x02, needs="Version")
def _text_agp(c: CapResult, ctx: Ctx) -> List[str]:
    v = c.reg("Version")
    out = ["AGP version %x.%x" % (v["Ver"], v["Rev"])]
    if "Command" not in c.regs:
        return out
    s, m = c.reg("Status"), c.reg("Command")
    out += ["\tStatus: RQ=%s %s ArqSz=%d Cal=%d %s Rate=%s" % (
                s.word("RQ"), s.flag("Iso"), s["ArqSz"], s["Cal"],
                s.flag("SBA", "ITACoh", "GART64", "HTrans", "64bit", "FW", "AGP3"), s.word("Rate")),
            "\tCommand: RQ=%s ArqSz=%d Cal=%d %s Rate=%s" % (
                m.word("RQ"), m["ArqSz"], m["Cal"], m.flag("SBA", "AGP", "GART64", "64bit", "FW"), m.word("Rate"))]
    return out


@text_for("std", 0x0E)
def _text_agp3(c: CapResult, ctx: Ctx) -> List[str]:
    return ["AGP3 <?>"]


@text_for("std", 0x03)
def _text_vpd(c: CapResult, ctx: Ctx) -> List[str]:
    # the VPD itself is read through the capability's address/data registers: not in a snapshot
    return ["Vital Product Data", "\tNot readable"]


@text_for("std", 0x04, needs="Flags")
def _text_slotid(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.reg("Flags")
    esr, chs = f.value & 0xFF, f.value >> 8
    return ["Slot ID: %d slots, First%s, chassis %02x" % (esr & 0x1F, "+" if esr & 0x20 else "-", chs)]


@text_for("std", 0x0A, needs="Flags")
def _text_debug(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.reg("Flags")
    return ["Debug port: BAR=%d offset=%04x" % (f["BAR"], f["offset"])]


@text_for("std", 0x0D, needs="Subsystem")
def _text_ssvid(c: CapResult, ctx: Ctx) -> List[str]:
    # the names come from pci.ids: the device view fills them in (see device_text)
    return ["Subsystem: [%04x:%04x]" % (c.reg("SubsystemVendor").value, c.reg("Subsystem").value)]


@text_for("std", 0x12, needs="Flags")
def _text_sata(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.reg("Flags")
    s = "SATA HBA v%d.%d" % ((f.value >> 4) & 0xF, f.value & 0xF)
    b = c.r("BARs")
    if b is None:
        return [s]
    bar = b["BAR"]
    if 4 <= bar <= 9:
        return [s + " BAR%d Offset=%08x" % (bar - 4, b["Offset"])]
    return [s + (" InCfgSpace" if bar == 15 else " BAR??%d" % bar)]


@text_for("std", 0x13, needs="AFStatus")
def _text_af(c: CapResult, ctx: Ctx) -> List[str]:
    return [c.name, "\tAFCap: " + c.reg("AFCap").flag("TP", "FLR"), "\tAFCtrl: " + c.reg("AFCtrl").flag("FLR"),
            "\tAFStatus: " + c.reg("AFStatus").flag("TP")]


@capability("std", 0x07, "PCI-X", span=0x10)
def decode_pcix(a: Access, c: CapResult, ctx: Ctx) -> None:
    if ctx.header_type == 1:
        if a.has(c.offset + 4, 12):
            read_regs(c, a, c.offset, (PCIXB_SEC, PCIXB_STATUS, PCIXB_UP, PCIXB_DOWN))
    elif a.has(c.offset + 4, 4):
        read_regs(c, a, c.offset, (PCIX_CMD, PCIX_STATUS))


@text_for("std", 0x07)
def text_pcix(c: CapResult, ctx: Ctx) -> List[str]:
    if ctx.header_type == 1:
        out = ["PCI-X bridge device"]
        if "Downstream" in c.regs:
            ss, st = c.reg("Secondary Status"), c.reg("Status")
            out += ["\tSecondary Status: %s Freq=%s" % (ss.flag("64bit", "133MHz", "SCD", "USC", "SCO", "SRD"),
                                                       ss.word("Freq")),
                    "\tStatus: Dev=%s %s" % (st.word("Dev"), st.flag("64bit", "133MHz", "SCD", "USC", "SCO", "SRD"))]
            for n in ("Upstream", "Downstream"):
                r = c.reg(n)
                out.append("\t%s: Capacity=%d CommitmentLimit=%d" % (n, r["Capacity"], r["CommitmentLimit"]))
        return out
    if ctx.header_type != 0:        # lspci words it for header types 0 and 1 only
        return [c.name]
    out = ["PCI-X non-bridge device"]
    if "Status" in c.regs:
        m, s = c.reg("Command"), c.reg("Status")
        out += ["\tCommand: %s RBC=%s OST=%s" % (m.flag("DPERE", "ERO"), m.word("RBC"), m.word("OST")),
                "\tStatus: Dev=%s %s DC=%s DMMRBC=%s DMOST=%s DMCRS=%s %s" % (
                    s.word("Dev"), s.flag("64bit", "133MHz", "SCD", "USC"), s.word("DC"), s.word("DMMRBC"),
                    s.word("DMOST"), s.word("DMCRS"), s.flag("RSCEM", "266MHz", "533MHz"))]
    return out


@capability("std", 0x14, "Enhanced Allocation (EA)", span=0xC0)
def decode_ea(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not read_regs(c, a, c.offset, (EA_HDR,)):
        return
    base = c.offset + 4
    if ctx.header_type == 1:
        if not read_regs(c, a, c.offset, EA_BUS):
            return
        base += 4
    for n in range(c.reg("Flags")["NumEntries"]):
        h = EA_ENTRY.read(a, base)
        if h is None:
            break
        es = h["EntrySize"]
        words = a.u32s(base + 4, es)
        if words is None:
            break
        e = CapResult("ea-entry", n, base, "Entry %d" % n)
        e.regs["Header"] = h
        lo = words[0] if es > 0 else 0
        mx = words[1] if es > 1 else 0
        i = 2
        hi = mhi = None
        if lo & 2 and es > i:
            hi = words[i]
            i += 1
        if mx & 2 and es > i:
            mhi = words[i]
        e.info.update(base=(hi or 0) << 32 | (lo & ~3), max_offset=(mhi or 0) << 32 | (mx | 3),
                      base_text=("%x" % hi if hi is not None else "") + "%08x" % (lo & ~3),
                      max_offset_text=("%x" % mhi if mhi is not None else "") + "%08x" % ((mx | 3) & 0xFFFFFFFF))
        c.entries.append(e)
        base += 4 + 4 * es


EA_PROPS = {0x00: "memory space, non-prefetchable", 0x01: "memory space, prefetchable", 0x02: "I/O space",
            0x03: "VF memory space, prefetchable", 0x04: "VF memory space, non-prefetchable",
            0x05: "allocation behind bridge, non-prefetchable memory",
            0x06: "allocation behind bridge, prefetchable memory", 0x07: "allocation behind bridge, I/O space",
            0xFD: "memory space resource unavailable for use", 0xFE: "I/O space resource unavailable for use",
            0xFF: "entry unavailable for use"}


def _bei(b: int) -> str:
    return ("BAR %d" % b if b <= 5 else "resource behind function" if b == 6 else "not indicated" if b == 7
            else "expansion ROM" if b == 8 else "VF-BAR %d" % (b - 9) if b <= 14 else "reserved")


@text_for("std", 0x14, needs="Flags")
def text_ea(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.reg("Flags")
    s = "Enhanced Allocation (EA): NumEntries=%d" % f["NumEntries"]
    if ctx.header_type == 1 and "FixedSubordinate" in c.regs:
        s += ", secondary=%d, subordinate=%d" % (c.reg("FixedSecondary").value, c.reg("FixedSubordinate").value)
    out = [s]
    for e in c.entries:
        h = e.regs["Header"]
        pp, sp = h["PrimaryProperties"], h["SecondaryProperties"]
        sp_text = ("entry unavailable for use, PrimaryProperties should be used" if sp == 0xFF
                   else EA_PROPS.get(sp, "[%02x]" % sp))
        out += ["\tEntry %d: %s EntrySize=%d" % (e.id, h.flag("Enable", "Writable"), h["EntrySize"]),
                "\t\t BAR Equivalent Indicator: " + _bei(h["BEI"]),
                "\t\t PrimaryProperties: " + EA_PROPS.get(pp, "[%02x]" % pp),
                "\t\t SecondaryProperties: " + sp_text,
                "\t\t Base: " + e.info["base_text"], "\t\t MaxOffset: " + e.info["max_offset_text"]]
    return out


named("std", {0x00: "Null", 0x06: "CompactPCI hot-swap <?>", 0x0B: "CompactPCI central resource control <?>",
              0x0C: "Hot-plug capable", 0x0F: "Secure device <?>", 0x15: "Flattening Portal Bridge"})
