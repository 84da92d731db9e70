"""Smaller extended capabilities: DSN, TPH, LTR, Secondary PCIe (lane errors), L1 PM Substates,
PTM, Resizable BAR, DOE, RCEC association, and the ones lspci only names."""

from __future__ import annotations

from typing import List

from .access import Access
from .model import CapResult, Reg, Register, read_regs
from .registry import Ctx, capability, named, text_for
from .words import ltr_scale

DSN = (Register("DSNLow", 0x04, 4), Register("DSNHigh", 0x08, 4))
TPHCAP = Register("TPHCap", 0x04, 4, "NoST@0 IntVec@1 DevSpec@2 ExtReq@8 STLoc@9:2 STSize@16:11")
LTR = (Register("Max snoop latency", 0x04, 2, "Value@0:10 Scale@10:3"),
       Register("Max no snoop latency", 0x06, 2, "Value@0:10 Scale@10:3"))
LNKCTL3 = Register("LnkCtl3", 0x04, 4, "PerformEqu@0 LnkEquIntrruptEn@1 LowerSKPOSGenVec@9:7")
LANE_ERR = Register("LaneErrStat", 0x08, 4)


def _pwron(r: Reg) -> str:
    """T_PowerOn: its value times the scale's 2/10/100 us (scale 3 is reserved)."""
    scale = r["PwrOnScale"]
    return "%dus" % ((2, 10, 100)[scale] * r["PwrOnValue"]) if scale < 3 else "<error>"


def _ltr12(r: Reg) -> str:
    scale = r["LTR1.2_ThresholdScale"]
    return "<error>" if scale > 5 else "%dns" % (r["LTR1.2_ThresholdValue"] * ltr_scale(scale))


L1SUBCAP = Register("L1SubCap", 0x04, 4, "PCI-PM_L1.2@0 PCI-PM_L1.1@1 ASPM_L1.2@2 ASPM_L1.1@3 "
                    "L1_PM_Substates@4 PortCommonModeRestoreTime@8:8 PwrOnScale@16:2 PwrOnValue@19:5",
                    words={"PortCommonModeRestoreTime": lambda r: "%dus" % r["PortCommonModeRestoreTime"],
                           "PortTPowerOnTime": _pwron})
L1SUBCTL1 = Register("L1SubCtl1", 0x08, 4, "PCI-PM_L1.2@0 PCI-PM_L1.1@1 ASPM_L1.2@2 ASPM_L1.1@3 "
                     "T_CommonMode@8:8 LTR1.2_ThresholdValue@16:10 LTR1.2_ThresholdScale@29:3",
                     words={"T_CommonMode": lambda r: "%dus" % r["T_CommonMode"], "LTR1.2_Threshold": _ltr12})
L1SUBCTL2 = Register("L1SubCtl2", 0x0C, 4, "PwrOnScale@0:2 PwrOnValue@3:5", words={"T_PwrOn": _pwron})
PTMCAP = Register("PTMCap", 0x04, 4, "Requester@0 Responder@1 Root@2 ClockGranularity@8:8")
PTMCTL = Register("PTMControl", 0x08, 4, "Enabled@0 RootSelected@1 EffectiveGranularity@8:8")
DOE = (Register("DOECap", 0x04, 4, "IntSup@0 IntMsg@1:11"), Register("DOECtl", 0x08, 4, "Abort@0 IntEn@1 Go@31"),
       Register("DOESta", 0x0C, 4, "Busy@0 IntSta@1 Error@2 ObjectReady@31"))
RCEC = (Register("RCiEPBitmap", 0x04, 4), Register("AssociatedBusNumbers", 0x08, 4, "Next@8:8 Last@16:8"))


@capability("ext", 0x0003, "Device Serial Number", span=0x0C)
def decode_dsn(a: Access, c: CapResult, ctx: Ctx) -> None:
    if read_regs(c, a, c.offset, DSN):
        c.info["serial"] = serial(c)


def serial(c: CapResult) -> str:
    sn = c.reg("DSNHigh").value << 32 | c.reg("DSNLow").value
    return "-".join("%02x" % (sn >> s & 0xFF) for s in range(56, -8, -8))


@text_for("ext", 0x0003)
def text_dsn(c: CapResult, ctx: Ctx) -> List[str]:
    return ["Device Serial Number " + serial(c)] if "DSNHigh" in c.regs else ["Device Serial Number"]


@capability("ext", 0x0017, "Transaction Processing Hints", span=0x08)
def decode_tph(a: Access, c: CapResult, ctx: Ctx) -> None:
    read_regs(c, a, c.offset, (TPHCAP,))


ST_LOCATION = ("No steering table available", "Steering table in TPH capability structure",
               "Steering table in MSI-X table", "Reserved steering table location")


@text_for("ext", 0x0017, needs="TPHCap")
def text_tph(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    t = c.reg("TPHCap")
    if t["IntVec"]:
        out.append("\tInterrupt vector mode supported")
    if t["DevSpec"]:
        out.append("\tDevice specific mode supported")
    if t["ExtReq"]:
        out.append("\tExtended requester support")
    return out + ["\t" + ST_LOCATION[t["STLoc"]]]


@capability("ext", 0x0018, "Latency Tolerance Reporting", span=0x08)
def decode_ltr(a: Access, c: CapResult, ctx: Ctx) -> None:
    if read_regs(c, a, c.offset, LTR):
        for key, r in zip(("max_snoop_ns", "max_no_snoop_ns"), LTR):
            v = c.reg(r.name)
            # scales 6 and 7 are reserved (lspci 3.9 shifts past 32 bits for them)
            c.info[key] = v["Value"] * ltr_scale(v["Scale"]) if v["Scale"] <= 5 else None


@text_for("ext", 0x0018)
def text_ltr(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    for key, r in zip(("max_snoop_ns", "max_no_snoop_ns"), LTR):
        if key not in c.info:
            break
        v = c.reg(r.name)
        out.append("\t%s: %s" % (r.name, "%dns" % c.info[key] if c.info[key] is not None else
                                  "<reserved scale %d, value %d>" % (v["Scale"], v["Value"])))
    return out


@capability("ext", 0x0019, "Secondary PCI Express", span=0x10)
def decode_secpci(a: Access, c: CapResult, ctx: Ctx) -> None:
    if read_regs(c, a, c.offset, (LNKCTL3, LANE_ERR)) and a.has(c.offset + 0x0C, 4):
        v = c.reg("LaneErrStat").value & 0xFFFF
        c.info["lanes_in_error"] = [i for i in range(16) if v >> i & 1]


@text_for("ext", 0x0019)
def text_secpci(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    if "lanes_in_error" not in c.info:
        return out
    lanes = c.info["lanes_in_error"]
    out += ["\tLnkCtl3: " + c.reg("LnkCtl3").flag("LnkEquIntrruptEn", "PerformEqu"),
            "\tLaneErrStat: " + ("LaneErr at lane: " + " ".join(map(str, lanes)) if lanes else "0")]
    return out


@capability("ext", 0x001E, "L1 PM Substates", span=0x10)
def decode_l1pm(a: Access, c: CapResult, ctx: Ctx) -> None:
    read_regs(c, a, c.offset, (L1SUBCAP, L1SUBCTL1, L1SUBCTL2))


@text_for("ext", 0x001E, needs="L1SubCtl2", unreadable=True)
def text_l1pm(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    cap, c1, c2 = c.reg("L1SubCap"), c.reg("L1SubCtl1"), c.reg("L1SubCtl2")
    l12 = cap["PCI-PM_L1.2"] or cap["ASPM_L1.2"]
    out.append("\tL1SubCap: " + cap.flag("PCI-PM_L1.2", "PCI-PM_L1.1", "ASPM_L1.2", "ASPM_L1.1",
                                         "L1_PM_Substates"))
    if l12:
        out.append("\t\t  PortCommonModeRestoreTime=%s PortTPowerOnTime=%s" % (
            cap.word("PortCommonModeRestoreTime"), cap.word("PortTPowerOnTime")))
    out.append("\tL1SubCtl1: " + c1.flag("PCI-PM_L1.2", "PCI-PM_L1.1", "ASPM_L1.2", "ASPM_L1.1"))
    if l12:
        s = "\t\t   T_CommonMode=" + c1.word("T_CommonMode")
        if cap["ASPM_L1.2"]:
            s += " LTR1.2_Threshold=" + c1.word("LTR1.2_Threshold")
        out.append(s)
    out.append("\tL1SubCtl2:" + (" T_PwrOn=" + c2.word("T_PwrOn") if l12 else ""))
    return out


@capability("ext", 0x001F, "Precision Time Measurement", span=0x0C)
def decode_ptm(a: Access, c: CapResult, ctx: Ctx) -> None:
    read_regs(c, a, c.offset, (PTMCAP, PTMCTL))


def _gran(v: int, zero: str) -> str:
    return zero if v == 0 else "Greater than 254ns" if v == 0xFF else "%dns" % v


@text_for("ext", 0x001F, needs="PTMControl", unreadable=True)
def text_ptm(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    cap, ctl = c.reg("PTMCap"), c.reg("PTMControl")
    return out + ["\tPTMCap: Requester:%s Responder:%s Root:%s" % tuple(
                      "+" if cap[n] else "-" for n in ("Requester", "Responder", "Root")),
                  "\tPTMClockGranularity: " + _gran(cap["ClockGranularity"], "Unimplemented"),
                  "\tPTMControl: Enabled:%s RootSelected:%s" % tuple(
                      "+" if ctl[n] else "-" for n in ("Enabled", "RootSelected")),
                  "\tPTMEffectiveGranularity: " + _gran(ctl["EffectiveGranularity"], "Unknown")]


def _decode_rebar(a: Access, c: CapResult, ctx: Ctx) -> None:
    """Resizable BAR entries: (capability, control) pairs; the first control says how many."""
    num = 1
    i = 0
    while i < num:
        cap = Register("BAR%dCap" % i, 0x04 + 8 * i, 4)
        ctl = Register("BAR%dCtl" % i, 0x08 + 8 * i, 4, "Index@0:3 NumBARs@5:3 Size@8:6 ExtSizes@16:16")
        if not read_regs(c, a, c.offset, (cap, ctl)):
            break
        r = c.reg(ctl.name)
        if i == 0:
            num = r["NumBARs"]
            if not 1 <= num <= 6:
                c.info["error"] = "num_bars=%d is out of specification" % num
                break
        sizes = [b for b in range(28) if c.reg(cap.name).value >> 4 >> b & 1] + [
            b + 28 for b in range(16) if r["ExtSizes"] >> b & 1]
        c.info.setdefault("bars", []).append({"index": r["Index"], "current": r["Size"], "supported": sizes})
        i += 1


capability("ext", 0x0015, "Physical Resizable BAR", span=0x34)(_decode_rebar)
capability("ext", 0x0024, "Virtual Resizable BAR", span=0x34)(_decode_rebar)


def rebar_size(n: int) -> str:
    for lo, unit in ((0, "MB"), (10, "GB"), (20, "TB"), (30, "PB"), (40, "EB")):
        if lo <= n < lo + 10 and n < 44:
            return " %d%s" % (1 << (n - lo), unit)
    return " <unknown>"


def _text_rebar(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    for b in c.info.get("bars", ()):
        s = "\tBAR %d: current size:%s" % (b["index"], rebar_size(b["current"]))
        if b["supported"]:
            s += ", supported:" + "".join(rebar_size(x) for x in b["supported"])
        out.append(s)
    if "error" in c.info:
        out.append("\t<error in resizable BAR: %s>" % c.info["error"])
    return out


text_for("ext", 0x0015)(_text_rebar)
text_for("ext", 0x0024)(_text_rebar)


@capability("ext", 0x002E, "Data Object Exchange", span=0x18)
def decode_doe(a: Access, c: CapResult, ctx: Ctx) -> None:
    if a.has(c.offset + 4, 0x14):
        read_regs(c, a, c.offset, DOE)


@text_for("ext", 0x002E, needs="DOESta", unreadable=True)
def text_doe(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    cap = c.reg("DOECap")
    out.append("\tDOECap: " + cap.flag("IntSup"))
    if cap["IntSup"]:
        out.append("\t\tInterrupt Message Number %03x" % cap["IntMsg"])
    return out + ["\tDOECtl: " + c.reg("DOECtl").flag("IntEn"),
                  "\tDOESta: " + c.reg("DOESta").flag("Busy", "IntSta", "Error", "ObjectReady")]


@capability("ext", 0x0007, "Root Complex Event Collector Endpoint Association", span=0x0C)
def decode_rcec(a: Access, c: CapResult, ctx: Ctx) -> None:
    if a.has(c.offset, 12):
        read_regs(c, a, c.offset, RCEC)


@text_for("ext", 0x0007, needs="AssociatedBusNumbers")
def text_rcec(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    bmap = c.reg("RCiEPBitmap").value
    if bmap:
        parts, dev = [], 0
        while dev < 32:
            if bmap >> dev & 1:
                end = dev
                while end + 1 < 32 and bmap >> (end + 1) & 1:
                    end += 1
                parts.append("%d-%d" % (dev, end) if end > dev else "%d" % dev)
                dev = end + 1
            else:
                dev += 1
        out.append("\tRCiEPBitmap: RCiEP at Device(s): " + ", ".join(parts))
    else:
        out.append("\tRCiEPBitmap: 00000000 [none]")
    if (c.version or 0) >= 2:
        b = c.reg("AssociatedBusNumbers")
        out.append("\tAssociatedBusNumbers: " + ("ff-00 [none]" if (b["Last"], b["Next"]) == (0, 0xFF)
                                                 else "%02x-%02x" % (b["Next"], b["Last"])))
    return out


# lspci names these and decodes nothing of them
named("ext", {0x0000: "Null", 0x0004: "Power Budgeting <?>", 0x0006: "Root Complex Internal Link <?>",
              0x000A: "Root Complex Register Block <?>",
              0x0011: "Multi-Root I/O Virtualization <?>", 0x0016: "Dynamic Power Allocation <?>",
              0x001A: "Protocol Multiplexing <?>", 0x001C: "LN Requester <?>",
              0x0020: "PCI Express over M_PHY <?>", 0x0021: "FRS Queueing <?>",
              0x0022: "Readiness Time Reporting <?>", 0x0025: "Data Link Feature <?>",
              0x0028: "Hierarchy ID <?>", 0x0029: "Native PCIe Enclosure Management <?>"})
