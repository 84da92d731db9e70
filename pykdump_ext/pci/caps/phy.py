"""Physical-layer extended capabilities lspci 3.9 only names and newer pciutils decodes:
Physical Layer 16.0/32.0/64.0 GT/s (equalization status), Lane Margining at the Receiver,
Device 3 (PCIe 6.0 device capabilities/control/status 3)."""

from __future__ import annotations

from typing import List

from .access import Access
from .model import CapResult, Register, read_regs
from .registry import Ctx, capability, text_for

EQU = "EquComplete@0 EquPhase1@1 EquPhase2@2 EquPhase3@3 LinkEquRequest@4"
PHY16 = (Register("Phy16Cap", 0x04, 4), Register("Phy16Ctl", 0x08, 4), Register("Phy16Sta", 0x0C, 4, EQU),
         Register("LocalDataParityMismatch", 0x10, 4), Register("FirstRetimerDataParityMismatch", 0x14, 4),
         Register("SecondRetimerDataParityMismatch", 0x18, 4))
PHY32 = (Register("Phy32Cap", 0x04, 4, "EqualizationBypass@0 NoEqualizationNeeded@1 ModTsMode0@8 ModTsMode1@9 "
                  "ModTsMode2@10"),
         Register("Phy32Ctl", 0x08, 4, "EqualizationBypassDis@0 NoEqualizationNeededDis@1 ModTsMode@8:3"),
         Register("Phy32Sta", 0x0C, 4, EQU + " ModTsRecv@5 EnhLinkCtl@6:2 TxPrecodeOn@8 TxPrecodeReq@9 "
                  "NoEqualizationNeededRecv@10"),
         Register("RxModTS1", 0x10, 4), Register("RxModTS2", 0x14, 4), Register("TxModTS1", 0x18, 4),
         Register("TxModTS2", 0x1C, 4))
PHY64 = (Register("Phy64Cap", 0x04, 4), Register("Phy64Ctl", 0x08, 4),
         Register("Phy64Sta", 0x0C, 4, EQU + " TxPrecodeOn@5 TxPrecodeReq@6 NoEqualizationNeededRecv@7"))
LMR = (Register("PortCap", 0x04, 2, "UsesDriver@0"), Register("PortSta", 0x06, 2, "MargReady@0 MargSoftReady@1"))
DEV3 = (Register("DevCap3", 0x04, 4, "DMWrRequestRouting@0 14BitTagCompleter@1 14BitTagRequester@2 L0p@3 "
                 "PortL0pExit@4:3 RetimerL0pExit@7:3 UIOMemRdWrCompleter@10 UIOMemRdWrRequester@11"),
        Register("DevCtl3", 0x08, 2, "DMWrRequester@0 DMWrEgressBlocking@1 14BitTagRequester@2 L0p@3 "
                 "TargetLinkWidth@4:3 UIOMemRdWrRequester@7 UIORequest256BBoundaryDis@8"),
        Register("DevSta3", 0x0C, 2, "InitialLinkWidth@0:3 SegmentCaptured@3 RemoteL0p@4"))
MOD_TS_MODES = ("PCI Express", "Training Set Messages", "Alternate Protocol Negotiation")
ENH_LINK_CTL = ("Full Equalization required", "Equalization bypass to highest rate support",
                "No Equalization Needed", "Modified TS1/TS2 Ordered Sets supported")
L0P_EXIT = ("Less than 1us", "1us to less than 2us", "2us to less than 4us", "4us to less than 8us",
            "8us to less than 16us", "16us to less than 32us", "32us-64us", "More than 64us")
WIDTHS = {0: "x1", 1: "x2", 2: "x4", 3: "x8", 4: "x16", 7: "Dynamic"}


def _simple(cid, name, regs, need, span):
    @capability("ext", cid, name, span=span)
    def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
        if a.has(c.offset + 4, need):      # lspci reads the block whole or says <unreadable>
            read_regs(c, a, c.offset, regs)
    return decode


_simple(0x0026, "Physical Layer 16.0 GT/s", PHY16, 0x18, 0x1C)
_simple(0x002A, "Physical Layer 32.0 GT/s", PHY32, 0x1C, 0x20)
_simple(0x0031, "Physical Layer 64.0 GT/s", PHY64, 0x0C, 0x10)
_simple(0x0027, "Lane Margining at the Receiver", LMR, 4, 0x08)
_simple(0x002F, "Device 3", DEV3, 0x0A, 0x10)


@text_for("ext", 0x0026, needs="Phy16Sta", unreadable=True)
def text_phy16(c: CapResult, ctx: Ctx) -> List[str]:
    return [c.name, "\tPhy16Sta: " + c.reg("Phy16Sta").flag(*EQU_NAMES)]


EQU_NAMES = ("EquComplete", "EquPhase1", "EquPhase2", "EquPhase3", "LinkEquRequest")


@text_for("ext", 0x002A, needs="Phy32Sta", unreadable=True)
def text_phy32(c: CapResult, ctx: Ctx) -> List[str]:
    cap, ctl, sta = c.reg("Phy32Cap"), c.reg("Phy32Ctl"), c.reg("Phy32Sta")
    mode = ctl["ModTsMode"]
    return [c.name,
            "\tPhy32Cap: " + cap.flag("EqualizationBypass", "NoEqualizationNeeded"),
            "\t\t  " + cap.flag("ModTsMode0", "ModTsMode1", "ModTsMode2"),
            "\tPhy32Ctl: " + ctl.flag("EqualizationBypassDis", "NoEqualizationNeededDis"),
            "\t\t  Modified TS Usage Mode: " + (MOD_TS_MODES[mode] if mode < 3 else "??%d" % mode),
            "\tPhy32Sta: " + sta.flag(*EQU_NAMES),
            "\t\t  Received Enhanced Link Behavior Control: " + ENH_LINK_CTL[sta["EnhLinkCtl"]],
            "\t\t  " + sta.flag("ModTsRecv", "TxPrecodeOn", "TxPrecodeReq", "NoEqualizationNeededRecv")]


@text_for("ext", 0x0031, needs="Phy64Sta", unreadable=True)
def text_phy64(c: CapResult, ctx: Ctx) -> List[str]:
    s = c.reg("Phy64Sta")
    return [c.name, "\tPhy64Sta: " + s.flag(*EQU_NAMES),
            "\t\t  " + s.flag("TxPrecodeOn", "TxPrecodeReq", "NoEqualizationNeededRecv")]


@text_for("ext", 0x0027, needs="PortSta")
def text_lmr(c: CapResult, ctx: Ctx) -> List[str]:
    return [c.name, "\tPortCap: Uses Driver%s" % ("+" if c.reg("PortCap")["UsesDriver"] else "-"),
            "\tPortSta: " + c.reg("PortSta").flag("MargReady", "MargSoftReady")]


def _pm(v: bool) -> str:
    return "+" if v else "-"


@text_for("ext", 0x002F, needs="DevCap3")
def text_dev3(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    cap = c.reg("DevCap3")
    s = "\t\t L0p%s" % _pm(cap["L0p"])
    if cap["L0p"]:
        s += ", Port L0p Exit Latency: %s, Retimer L0p Exit Latency: %s" % (
            L0P_EXIT[cap["PortL0pExit"]], L0P_EXIT[cap["RetimerL0pExit"]])
    out += ["\tDevCap3: DMWr Request Routing%s, 14-Bit Tag Completer%s, 14-Bit Tag Requester%s" % (
                _pm(cap["DMWrRequestRouting"]), _pm(cap["14BitTagCompleter"]), _pm(cap["14BitTagRequester"])),
            s, "\t\t UIO Mem RdWr Completer%s, UIO Mem RdWr Requester%s" % (
                _pm(cap["UIOMemRdWrCompleter"]), _pm(cap["UIOMemRdWrRequester"]))]
    ctl = c.r("DevCtl3")
    if ctl is None:
        return out
    w = ctl["TargetLinkWidth"]
    out += ["\tDevCtl3: DMWr Requester%s, DMWr Egress Blocking%s, 14-Bit Tag Requester%s" % (
                _pm(ctl["DMWrRequester"]), _pm(ctl["DMWrEgressBlocking"]), _pm(ctl["14BitTagRequester"])),
            "\t\t L0p%s, Target Link Width: %s" % (_pm(ctl["L0p"]), WIDTHS.get(w, "Unknown (%d)" % w)),
            "\t\t UIO Mem RdWr Requester%s, UIO Request 256B Boundary%s" % (
                _pm(ctl["UIOMemRdWrRequester"]), _pm(not ctl["UIORequest256BBoundaryDis"]))]
    sta = c.r("DevSta3")
    if sta is not None:
        w = sta["InitialLinkWidth"]
        out.append("\tDevSta3: Initial Link Width: %s, Segment Captured%s, Remote L0p%s" % (
            WIDTHS.get(w, "Unknown (%d)" % w), _pm(sta["SegmentCaptured"]), _pm(sta["RemoteL0p"])))
    return out
