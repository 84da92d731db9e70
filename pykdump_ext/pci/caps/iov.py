"""Virtualization and routing extended capabilities: ACS, ARI, ATS, PRI, PASID, SR-IOV, Multicast."""

from __future__ import annotations

from typing import List

from .access import Access
from .model import CapResult, Register, read_regs
from .registry import Ctx, capability, text_for

ACS_FIELDS = "SrcValid@0 TransBlk@1 ReqRedir@2 CmpltRedir@3 UpstreamFwd@4 EgressCtrl@5 DirectTrans@6"
ACSCAP = Register("ACSCap", 0x04, 2, ACS_FIELDS + " EgressVectorSize@8:8")
ACSCTL = Register("ACSCtl", 0x06, 2, ACS_FIELDS)
ACS_NAMES = ("SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "EgressCtrl", "DirectTrans")

ARICAP = Register("ARICap", 0x04, 2, "MFVC@0 ACS@1 NextFunction@8:8")
ARICTL = Register("ARICtl", 0x06, 2, "MFVC@0 ACS@1 FunctionGroup@4:3")

ATSCAP = Register("ATSCap", 0x04, 2, "InvalidateQueueDepth@0:5 PageAligned@5 GlobalInvalidate@6")
ATSCTL = Register("ATSCtl", 0x06, 2, "STU@0:5 Enable@15")

PRICTL = Register("PRICtl", 0x04, 2, "Enable@0 Reset@1")
PRISTA = Register("PRISta", 0x06, 2, "RF@0 UPRGI@1 Stopped@8 PASID@15")
PRICAPACITY = Register("Page Request Capacity", 0x08, 4)
PRIALLOC = Register("Page Request Allocation", 0x0C, 4)

PASIDCAP = Register("PASIDCap", 0x04, 2, "Exec@1 Priv@2 Width@8:5")
PASIDCTL = Register("PASIDCtl", 0x06, 2, "Enable@0 Exec@1 Priv@2")

IOVCAP = Register("IOVCap", 0x04, 4, "Migration@0 ARIPreserved@1 10BitTagReq@2 IMN@21:11")
IOVCTL = Register("IOVCtl", 0x08, 2, "Enable@0 Migration@1 Interrupt@2 MSE@3 ARIHierarchy@4 10BitTagReq@5")
IOVSTA = Register("IOVSta", 0x0A, 2, "Migration@0")
IOV_REGS = (IOVCAP, IOVCTL, IOVSTA) + tuple(Register(n, off, size) for n, off, size in (
    ("Initial VFs", 0x0C, 2), ("Total VFs", 0x0E, 2), ("Number of VFs", 0x10, 2),
    ("Function Dependency Link", 0x12, 1), ("VF offset", 0x14, 2), ("stride", 0x16, 2),
    ("Device ID", 0x1A, 2), ("Supported Page Size", 0x1C, 4), ("System Page Size", 0x20, 4))) + tuple(
    Register("VFBAR%d" % i, 0x24 + 4 * i, 4) for i in range(6)) + (
    Register("VF Migration", 0x3C, 4, "BIR@0:3"),)

MCCAP = Register("McastCap", 0x04, 2, "MaxGroups@0:6 WindowSz@8:6 ECRCRegen@15")
MCCTL = Register("McastCtl", 0x06, 2, "NumGroups@0:6 Enable@15")
MC_REGS = (MCCAP, MCCTL) + tuple(Register(n, off, 8) for n, off in (
    ("McastBAR", 0x08), ("McastReceiveVec", 0x10), ("McastBlockAllVec", 0x18),
    ("McastBlockUntransVec", 0x20), ("McastOverlayBAR", 0x28)))


def _simple(cid, name, regs, span=0x10):
    @capability("ext", cid, name, span=span)
    def decode(a: Access, c: CapResult, ctx: Ctx, regs=regs) -> None:
        read_regs(c, a, c.offset, regs)
    return decode


_simple(0x000D, "Access Control Services", (ACSCAP, ACSCTL))
_simple(0x000E, "Alternative Routing-ID Interpretation (ARI)", (ARICAP, ARICTL))
_simple(0x000F, "Address Translation Service (ATS)", (ATSCAP, ATSCTL))
_simple(0x0013, "Page Request Interface (PRI)", (PRICTL, PRISTA, PRICAPACITY, PRIALLOC))
_simple(0x001B, "Process Address Space ID (PASID)", (PASIDCAP, PASIDCTL))
_simple(0x0010, "Single Root I/O Virtualization (SR-IOV)", IOV_REGS, span=0x40)
_simple(0x0012, "Multicast", MC_REGS, span=0x30)


# the wordings need the last register of their read (and so every one before it)
@text_for("ext", 0x000D, needs="ACSCtl")
def text_acs(c: CapResult, ctx: Ctx) -> List[str]:
    return [c.name, "\tACSCap:\t" + c.reg("ACSCap").flag(*ACS_NAMES), "\tACSCtl:\t" + c.reg("ACSCtl").flag(*ACS_NAMES)]


@text_for("ext", 0x000E, needs="ARICtl")
def text_ari(c: CapResult, ctx: Ctx) -> List[str]:
    cap, ctl = c.reg("ARICap"), c.reg("ARICtl")
    return [c.name, "\tARICap:\t%s, Next Function: %d" % (cap.flag("MFVC", "ACS"), cap["NextFunction"]),
            "\tARICtl:\t%s, Function Group: %d" % (ctl.flag("MFVC", "ACS"), ctl["FunctionGroup"])]


@text_for("ext", 0x000F, needs="ATSCtl")
def text_ats(c: CapResult, ctx: Ctx) -> List[str]:
    ctl = c.reg("ATSCtl")
    return [c.name, "\tATSCap:\tInvalidate Queue Depth: %02x" % c.reg("ATSCap")["InvalidateQueueDepth"],
            "\tATSCtl:\t%s, Smallest Translation Unit: %02x" % (ctl.flag("Enable"), ctl["STU"])]


@text_for("ext", 0x0013, needs="Page Request Allocation")
def text_pri(c: CapResult, ctx: Ctx) -> List[str]:
    return [c.name, "\tPRICtl: " + c.reg("PRICtl").flag("Enable", "Reset"),
            "\tPRISta: " + c.reg("PRISta").flag("RF", "UPRGI", "Stopped"),
            "\tPage Request Capacity: %08x, Page Request Allocation: %08x" % (
                c.reg("Page Request Capacity").value, c.reg("Page Request Allocation").value)]


@text_for("ext", 0x001B, needs="PASIDCtl")
def text_pasid(c: CapResult, ctx: Ctx) -> List[str]:
    cap = c.reg("PASIDCap")
    return [c.name, "\tPASIDCap: %s, Max PASID Width: %02x" % (cap.flag("Exec", "Priv"), cap["Width"]),
            "\tPASIDCtl: " + c.reg("PASIDCtl").flag("Enable", "Exec", "Priv")]


@text_for("ext", 0x0010, needs="VF Migration")
def text_sriov(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    v = lambda n: c.reg(n).value   # noqa: E731
    cap = c.reg("IOVCap")
    out += ["\tIOVCap:\t%s Interrupt Message Number: %03x" % (cap.flag("Migration", "10BitTagReq"), cap["IMN"]),
            "\tIOVCtl:\t" + c.reg("IOVCtl").flag("Enable", "Migration", "Interrupt", "MSE", "ARIHierarchy",
                                                 "10BitTagReq"),
            "\tIOVSta:\t" + c.reg("IOVSta").flag("Migration"),
            "\tInitial VFs: %d, Total VFs: %d, Number of VFs: %d, Function Dependency Link: %02x" % (
                v("Initial VFs"), v("Total VFs"), v("Number of VFs"), v("Function Dependency Link")),
            "\tVF offset: %d, stride: %d, Device ID: %04x" % (v("VF offset"), v("stride"), v("Device ID")),
            "\tSupported Page Size: %08x, System Page Size: %08x" % (v("Supported Page Size"),
                                                                     v("System Page Size"))]
    for b in vf_bars(c):
        out.append("\tRegion %d: Memory at %s (%s-bit, %sprefetchable)" % (
            b["index"], b["address_text"], b["bits"], "" if b["prefetchable"] else "non-"))
    m = c.reg("VF Migration")
    out.append("\tVF Migration: offset: %08x, BIR: %x" % (m.value & ~7, m["BIR"]))
    return out


def vf_bars(c: CapResult) -> List[dict]:
    """The VF BARs as lspci lists them (64-bit pairs joined, zero/all-ones BARs skipped)."""
    out = []
    i = 0
    while i < 6:
        lo = c.reg("VFBAR%d" % i).value
        if lo == 0xFFFFFFFF:
            lo = 0
        if not lo:
            i += 1
            continue
        idx = i
        t = lo & 6
        text_ = ""
        addr = lo & ~0xF
        if t == 4:
            i += 1
            hi = c.reg("VFBAR%d" % i).value if i < 6 else 0
            text_ = "%08x" % hi
            addr |= hi << 32
        out.append({"index": idx, "address": addr, "address_text": text_ + "%08x" % (lo & ~0xF),
                    "bits": 32 if t == 0 else 64, "prefetchable": bool(lo & 8)})
        i += 1
    return out


@text_for("ext", 0x0012, needs="McastOverlayBAR")
def text_mcast(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    t = ctx.port_type
    cap, ctl = c.reg("McastCap"), c.reg("McastCtl")
    s = "\tMcastCap: MaxGroups %d" % (cap["MaxGroups"] + 1)
    if t in (0, 9):
        s += ", WindowSz %d (%d bytes)" % (cap["WindowSz"], 1 << cap["WindowSz"])
    if t in (4, 5, 6):
        s += ", " + cap.flag("ECRCRegen")
    out.append(s)
    bar = c.reg("McastBAR").value
    out += ["\tMcastCtl: NumGroups %d, %s" % (ctl["NumGroups"] + 1, ctl.flag("Enable")),
            "\tMcastBAR: IndexPos %d, BaseAddr %016x" % (bar & 0x3F, bar & ~0xFFF & (2 ** 64 - 1)),
            "\tMcastReceiveVec:      %016x" % c.reg("McastReceiveVec").value,
            "\tMcastBlockAllVec:     %016x" % c.reg("McastBlockAllVec").value,
            "\tMcastBlockUntransVec: %016x" % c.reg("McastBlockUntransVec").value]
    if t in (0, 9):
        return out
    ovl = c.reg("McastOverlayBAR").value
    size = ovl & 0x3F
    out.append("\tMcastOverlayBAR: OverlaySize %d %s, BaseAddr %016x" % (
        size, "(%d bytes)" % (1 << size) if size >= 6 else "(disabled)", ovl & ~0x3F & (2 ** 64 - 1)))
    return out
