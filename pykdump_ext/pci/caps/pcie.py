"""PCI Express capability (standard ID 0x10): every register lspci -vvv decodes.

Facts from the PCIe Base Specification and pciutils' lib/header.h; which
registers exist depends on the port type, the Slot Implemented flag and the
capability version (v1 ends after Root Status).
"""

from __future__ import annotations

from typing import Callable, List, Mapping

from .access import Access
from .model import CapResult, Reg, Register
from .registry import Ctx, capability, text_for
from .words import L0S_LATENCY, L1_LATENCY, link_speed, power_limit, yn

from pykdump_ext.pci import regs as R

ENDPOINT, LEG_END, ROOT_PORT, UPSTREAM, DOWNSTREAM, PCI_BRIDGE, PCIE_BRIDGE, RCIEP, RCEC = (
    R.PORT_TYPE_ENDPOINT, R.PORT_TYPE_LEGACY_ENDPOINT, R.PORT_TYPE_ROOT_PORT, R.PORT_TYPE_UPSTREAM,
    R.PORT_TYPE_DOWNSTREAM, R.PORT_TYPE_PCIE_TO_PCI, R.PORT_TYPE_PCI_TO_PCIE, R.PORT_TYPE_RCIEP,
    R.PORT_TYPE_RCEC)
PORT_TYPE_NAMES = R.PORT_TYPE_NAMES
SLOT_TYPES = R.SLOT_PORT_TYPES     # lspci shows "(Slot±)" and the slot registers
NO_LINK = R.NO_LINK_PORT_TYPES
ROOT_TYPES = R.ROOT_PORT_TYPES

TIMEOUT_RANGES = {0: "Not Supported", 1: "Range A", 2: "Range B", 3: "Range AB", 6: "Range BC",
                  7: "Range ABC", 14: "Range BCD", 15: "Range ABCD"}
TIMEOUT_VALUES = {0: "50us to 50ms", 1: "50us to 100us", 2: "1ms to 10ms", 5: "16ms to 55ms",
                  6: "65ms to 210ms", 9: "260ms to 900ms", 10: "1s to 3.5s", 13: "4s to 13s",
                  14: "17s to 64s"}
OBFF_CAP = {1: "Via message", 2: "Via WAKE#", 3: "Via message/WAKE#", 0: "Not Supported"}
OBFF_CTL = {0: "Disabled", 1: "Via message A", 2: "Via message B", 3: "Via WAKE#"}
EPR = {0: "Not Supported", 1: "Dev Specific", 2: "Form Factor Dev Specific", 3: "Reserved"}
LNCLS = {0: "Not Supported", 1: "64byte cachelines", 2: "128byte cachelines", 3: "Reserved"}
TPH_COMP = {0: "TPHComp- ExtTPHComp-", 1: "TPHComp+ ExtTPHComp-", 2: "", 3: "TPHComp+ ExtTPHComp+"}
ASPM_ENABLED = ("Disabled", "L0s Enabled", "L1 Enabled", "L0s L1 Enabled")
INDICATOR = ("Unknown", "On", "Blink", "Off")
DEEMPHASIS = ("-6dB", "-3.5dB")
COMPLIANCE_PRESET = {0: "-6dB de-emphasis, 0dB preshoot", 1: "-3.5dB de-emphasis, 0dB preshoot",
                     2: "-4.4dB de-emphasis, 0dB preshoot", 3: "-2.5dB de-emphasis, 0dB preshoot",
                     4: "0dB de-emphasis, 0dB preshoot", 5: "0dB de-emphasis, 1.9dB preshoot",
                     6: "0dB de-emphasis, 2.5dB preshoot", 7: "-6.0dB de-emphasis, 3.5dB preshoot",
                     8: "-3.5dB de-emphasis, 3.5dB preshoot", 9: "0dB de-emphasis, 3.5dB preshoot"}
TRANSMIT_MARGIN = {0: "Normal Operating Range", 1: "800-1200mV(full-swing)/400-700mV(half-swing)",
                   2: "200-400mV(full-swing)/100-200mV(half-swing)",
                   3: "200-400mV(full-swing)/100-200mV(half-swing)",
                   4: "200-400mV(full-swing)/100-200mV(half-swing)",
                   5: "200-400mV(full-swing)/100-200mV(half-swing)"}
CROSSLINK_RES = ("unsupported", "Upstream Port", "Downstream Port", "incomplete")
DOWNSTREAM_COMP = {0: "Link Down - Not Determined", 1: "Link Down - Not Present",
                   2: "Link Down - Present", 4: "Link Up - Present",
                   5: "Link Up - Present and DRS Received"}
# Target Link Speed: 0 means the port supports 2.5GT/s only (lspci reads it so)
TARGET_SPEED = {0: "2.5GT/s", 1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s",
                6: "64GT/s"}


def speed_cap(vector: int) -> str:
    """Supported Link Speeds Vector -> '2.5-8GT/s' (rates may not be skipped, PCIe r5.0 8.2.1)."""
    if vector & 0x60:
        return "RsvdP"
    for bit, s in ((0x10, "2.5-32GT/s"), (0x08, "2.5-16GT/s"), (0x04, "2.5-8GT/s"),
                   (0x02, "2.5-5GT/s"), (0x01, "2.5GT/s")):
        if vector & bit:
            return s
    return "Unknown"




def _get(name: str, table: Mapping[int, str], default: str) -> Callable[[Reg], str]:
    """The word of field `name` in `table`, `default` for a code the table lacks."""
    return lambda r: table.get(r[name], default)


def _bytes(name: str) -> Callable[[Reg], str]:
    return lambda r: "%d bytes" % (128 << r[name])


def _power(r: Reg) -> str:
    return power_limit(r["PwrVal"], r["PwrScl"])


def _speed(r: Reg) -> str:
    return link_speed(r["Speed"])


def _width(r: Reg) -> str:
    return "x%d" % r["Width"]


FLAGS = Register("Flags", 0x02, 2, "Version@0:4 Type@4:4 Slot@8 IntMsg@9:5 FlitMode@15")
DEVCAP = Register("DevCap", 0x04, 4, "MaxPayload@0:3 PhantFunc@3:2 ExtTag@5 L0s@6:3 L1@9:3 AttnBtn@12 "
                  "AttnInd@13 PwrInd@14 RBE@15 PwrVal@18:8 PwrScl@26:2 FLReset@28",
                  words={"MaxPayload": _bytes("MaxPayload"), "PhantFunc": lambda r: "%d" % ((1 << r["PhantFunc"]) - 1),
                         "L0s": L0S_LATENCY, "L1": L1_LATENCY, "SlotPowerLimit": _power})
DEVCTL = Register("DevCtl", 0x08, 2, "CorrErr@0 NonFatalErr@1 FatalErr@2 UnsupReq@3 RlxdOrd@4 "
                  "MaxPayload@5:3 ExtTag@8 PhantFunc@9 AuxPwr@10 NoSnoop@11 MaxReadReq@12:3 "
                  "BrConfRtry@15 FLReset@15",
                  words={"MaxPayload": _bytes("MaxPayload"), "MaxReadReq": _bytes("MaxReadReq")})
DEVSTA = Register("DevSta", 0x0A, 2, "CorrErr@0 NonFatalErr@1 FatalErr@2 UnsupReq@3 AuxPwr@4 TransPend@5")
LNKCAP = Register("LnkCap", 0x0C, 4, "Speed@0:4 Width@4:6 ASPM@10:2 L0s@12:3 L1@15:3 ClockPM@18 "
                  "Surprise@19 LLActRep@20 BwNot@21 ASPMOptComp@22 Port@24:8",
                  words={"Speed": _speed, "Width": _width, "ASPM": R.ASPM_SUPPORT, "L0s": L0S_LATENCY,
                         "L1": L1_LATENCY})
LNKCTL = Register("LnkCtl", 0x10, 2, "ASPM@0:2 RCB@3 Disabled@4 Retrain@5 CommClk@6 ExtSynch@7 "
                  "ClockPM@8 AutWidDis@9 BWInt@10 AutBWInt@11 FltModeDis@13",
                  words={"ASPM": ASPM_ENABLED, "RCB": lambda r: "%d bytes" % (128 if r["RCB"] else 64)})
LNKSTA = Register("LnkSta", 0x12, 2, "Speed@0:4 Width@4:6 TrErr@10 Train@11 SlotClk@12 DLActive@13 "
                  "BWMgmt@14 ABWMgmt@15", words={"Speed": _speed, "Width": _width})
SLTCAP = Register("SltCap", 0x14, 4, "AttnBtn@0 PwrCtrl@1 MRL@2 AttnInd@3 PwrInd@4 Surprise@5 HotPlug@6 "
                  "PwrVal@7:8 PwrScl@15:2 Interlock@17 NoCompl@18 Slot@19:13", words={"PowerLimit": _power})
SLTCTL = Register("SltCtl", 0x18, 2, "AttnBtn@0 PwrFlt@1 MRL@2 PresDet@3 CmdCplt@4 HPIrq@5 AttnInd@6:2 "
                  "PwrInd@8:2 Power@10 Interlock@11 LinkChg@12", words={"AttnInd": INDICATOR, "PwrInd": INDICATOR})
SLTSTA = Register("SltSta", 0x1A, 2, "AttnBtn@0 PowerFlt@1 MRLChg@2 PresDetChg@3 CmdCplt@4 MRL@5 "
                  "PresDet@6 Interlock@7 LinkState@8")
RTCTL = Register("RootCtl", 0x1C, 2, "ErrCorrectable@0 ErrNon-Fatal@1 ErrFatal@2 PMEIntEna@3 CRSVisible@4")
RTCAP = Register("RootCap", 0x1E, 2, "CRSVisible@0")
RTSTA = Register("RootSta", 0x20, 4, "ReqID@0:16 PMEStatus@16 PMEPending@17")
DEVCAP2 = Register("DevCap2", 0x24, 4, "TimeoutRange@0:4 TimeoutDis@4 ARIFwd@5 Routing@6 32bit@7 64bit@8 "
                   "128bitCAS@9 NROPrPrP@10 LTR@11 TPHComp@12 ExtTPHComp@13 LNCLS@14:2 10BitTagComp@16 "
                   "10BitTagReq@17 OBFF@18:2 ExtFmt@20 EETLPPrefix@21 MaxEETLPPrefixes@22:2 "
                   "EmergencyPowerReduction@24:2 EmergencyPowerReductionInit@26 FRS@31",
                   words={"TimeoutRange": _get("TimeoutRange", TIMEOUT_RANGES, "Unknown"), "OBFF": OBFF_CAP,
                          "EmergencyPowerReduction": EPR, "LNCLS": LNCLS,
                          "MaxEETLPPrefixes": lambda r: "%d" % (r["MaxEETLPPrefixes"] or 4)})
DEVCTL2 = Register("DevCtl2", 0x28, 2, "Timeout@0:4 TimeoutDis@4 ARIFwd@5 ReqEn@6 EgressBlck@7 IDOReq@8 "
                   "IDOCompl@9 LTR@10 EmergencyPowerReductionReq@11 10BitTagReq@12 OBFF@13:2 "
                   "EETLPPrefixBlk@15",
                   words={"Timeout": _get("Timeout", TIMEOUT_VALUES, "Unknown"), "OBFF": OBFF_CTL})
DEVSTA2 = Register("DevSta2", 0x2A, 2, "")
LNKCAP2 = Register("LnkCap2", 0x2C, 4, "Speeds@1:7 Crosslink@8 Retimer@23 2Retimers@24 DRS@31",
                   words={"Speeds": lambda r: speed_cap(r["Speeds"])})
LNKCTL2 = Register("LnkCtl2", 0x30, 2, "TargetSpeed@0:4 EnterCompliance@4 SpeedDis@5 DeEmphasis@6 "
                   "TransmitMargin@7:3 EnterModifiedCompliance@10 ComplianceSOS@11 CompliancePreset@12:4",
                   words={"TargetSpeed": _get("TargetSpeed", TARGET_SPEED, "Unknown"), "DeEmphasis": DEEMPHASIS,
                          "TransmitMargin": _get("TransmitMargin", TRANSMIT_MARGIN, "Unknown"),
                          "CompliancePreset": _get("CompliancePreset", COMPLIANCE_PRESET, "Unknown")})
LNKSTA2 = Register("LnkSta2", 0x32, 2, "DeEmphasis@0 EqualizationComplete@1 EqualizationPhase1@2 "
                   "EqualizationPhase2@3 EqualizationPhase3@4 LinkEqualizationRequest@5 Retimer@6 "
                   "2Retimers@7 CrosslinkRes@8:2 FltMode@10 DownstreamComp@12:3 DRS@15",
                   words={"DeEmphasis": DEEMPHASIS, "CrosslinkRes": CROSSLINK_RES,
                          "DownstreamComp": _get("DownstreamComp", DOWNSTREAM_COMP, "Reserved")})

V1_REGS = (DEVCAP, DEVCTL, DEVSTA)
LINK_REGS = (LNKCAP, LNKCTL, LNKSTA)
SLOT_REGS = (SLTCAP, SLTCTL, SLTSTA)
ROOT_REGS = (RTCTL, RTCAP, RTSTA)
V2_REGS = (DEVCAP2, DEVCTL2, DEVSTA2)
LINK2_REGS = (LNKCAP2, LNKCTL2, LNKSTA2)


def registers(ptype: int, version: int, slot: bool) -> List[Register]:
    """The registers a function of this port type / version / slot bit has, in offset order."""
    out = list(V1_REGS)
    if ptype not in NO_LINK:
        out += LINK_REGS
    if slot:
        out += SLOT_REGS
    if ptype in ROOT_TYPES:
        out += ROOT_REGS
    if version >= 2:
        out += V2_REGS
        if ptype not in NO_LINK:
            out += LINK2_REGS
    return out


@capability("std", 0x10, "Express", span=0x3C)
def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
    f = FLAGS.read(a, c.offset)
    if f is None:
        c.truncated = True
        c.problems.append("PCI Express capability at 0x%02x truncated" % c.offset)
        return
    c.regs["Flags"] = f
    ptype, ver = f["Type"], f["Version"]
    slot = f["Slot"] and ptype in SLOT_TYPES
    c.info.update(port_type=ptype, port_type_name=PORT_TYPE_NAMES.get(ptype, "Unknown type %d" % ptype),
                  version=ver)
    for s in registers(ptype, ver, slot):
        r = s.read(a, c.offset)
        if r is None:
            c.truncated = True
            c.problems.append("PCI Express capability at 0x%02x: register +0x%02x lies beyond 0x%x"
                              % (c.offset, s.rel, a.n))
            break        # later registers lie further out
        c.regs[s.name] = r


@text_for("std", 0x10)
def text(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.regs.get("Flags")
    if f is None:
        return ["Express <truncated>"]
    t = f["Type"]
    head = "Express (v%d) %s" % (f["Version"], PORT_TYPE_NAMES.get(t, "Unknown type %d" % t))
    if t in SLOT_TYPES:
        head += " (Slot%s)" % yn(f["Slot"])
    out = [head + ", MSI %02x" % f["IntMsg"]]
    # the decoder reads the registers in order and stops at the first cut off, so a
    # group's status register being there means its capability and control are too
    g, reg = c.regs.get, c.reg
    if g("DevSta") is None:
        return out
    out += _dev(reg("DevCap"), reg("DevCtl"), reg("DevSta"), t)
    if g("LnkSta") is not None:
        out += _link(reg("LnkCap"), reg("LnkCtl"), reg("LnkSta"), t)
    if g("SltSta") is not None:
        out += _slot(reg("SltCap"), reg("SltCtl"), reg("SltSta"))
    rc, rl, rs = g("RootCap"), g("RootCtl"), g("RootSta")
    if rc is not None:      # (a register past the 256-byte space is left out with a problem)
        out.append("\tRootCap: " + rc.flag("CRSVisible"))
    if rl is not None:
        out.append("\tRootCtl: " + rl.flag("ErrCorrectable", "ErrNon-Fatal", "ErrFatal", "PMEIntEna",
                                            "CRSVisible"))
    if rs is not None:
        out.append("\tRootSta: PME ReqID %04x, %s" % (rs["ReqID"], rs.flag("PMEStatus", "PMEPending")))
    if g("DevSta2") is not None:
        out += _dev2(reg("DevCap2"), reg("DevCtl2"), t, ctx)
    ls2 = g("LnkSta2")
    if ls2 is not None:
        out += _link2(reg("LnkCap2"), reg("LnkCtl2"), ls2, t, ctx)
    # Flit mode (PCIe 6.0): lspci 3.9 shows none of it; newer lspci words it so
    lc = g("LnkCtl")
    flit = [x for x in (("FLIT Mode Supported", f["FlitMode"]),
                        ("FltModeDis", lc is not None and lc["FltModeDis"]),
                        ("FltMode", ls2 is not None and ls2["FltMode"])) if x[1]]
    if flit:
        out.append("\tFlit: " + " ".join(n + "+" for n, _v in flit))
    return out


def _dev(cap: Reg, ctl: Reg, sta: Reg, t: int) -> List[str]:
    s = "\tDevCap:\tMaxPayload %s, PhantFunc %s" % (cap.word("MaxPayload"), cap.word("PhantFunc"))
    if t in (ENDPOINT, LEG_END):
        s += ", Latency L0s %s, L1 %s" % (cap.word("L0s"), cap.word("L1"))
    s2 = "\t\t" + cap.flag("ExtTag")
    if t in (ENDPOINT, LEG_END, UPSTREAM, PCI_BRIDGE):
        s2 += " " + cap.flag("AttnBtn", "AttnInd", "PwrInd")
    s2 += " " + cap.flag("RBE")
    if t in (ENDPOINT, LEG_END, RCIEP):
        s2 += " " + cap.flag("FLReset")
    if t in (ENDPOINT, UPSTREAM, PCI_BRIDGE):
        s2 += " SlotPowerLimit " + cap.word("SlotPowerLimit")
    c2 = "\t\t" + ctl.flag("RlxdOrd", "ExtTag", "PhantFunc", "AuxPwr", "NoSnoop")
    if t == PCI_BRIDGE:
        c2 += " " + ctl.flag("BrConfRtry")
    if t in (ENDPOINT, LEG_END, RCIEP) and cap["FLReset"]:
        c2 += " " + ctl.flag("FLReset")
    return [s, s2,
            "\tDevCtl:\t" + ctl.flag("CorrErr", "NonFatalErr", "FatalErr", "UnsupReq"), c2,
            "\t\tMaxPayload %s, MaxReadReq %s" % (ctl.word("MaxPayload"), ctl.word("MaxReadReq")),
            "\tDevSta:\t" + sta.flag("CorrErr", "NonFatalErr", "FatalErr", "UnsupReq", "AuxPwr", "TransPend")]


def _compare(t: int, sta: int, cap: int) -> str:
    if sta > cap:
        return " (overdriven)"
    if sta == cap or t in SLOT_TYPES:
        return ""
    return " (downgraded)"


def _link(cap: Reg, ctl: Reg, sta: Reg, t: int) -> List[str]:
    aspm = cap["ASPM"]
    s = "\tLnkCap:\tPort #%d, Speed %s, Width %s, ASPM %s" % (
        cap["Port"], cap.word("Speed"), cap.word("Width"), cap.word("ASPM"))
    if aspm:
        s += ", Exit Latency "
        if aspm & 1:
            s += "L0s %s" % cap.word("L0s")
        if aspm & 2:
            s += "%sL1 %s" % (", " if aspm & 1 else "", cap.word("L1"))
    c = "\tLnkCtl:\tASPM %s;" % ctl.word("ASPM")
    if t in (ROOT_PORT, ENDPOINT, LEG_END, PCI_BRIDGE):
        c += " RCB %s," % ctl.word("RCB")
    c += " " + ctl.flag("Disabled", "CommClk")
    return [s, "\t\t" + cap.flag("ClockPM", "Surprise", "LLActRep", "BwNot", "ASPMOptComp"),
            c, "\t\t" + ctl.flag("ExtSynch", "ClockPM", "AutWidDis", "BWInt", "AutBWInt"),
            "\tLnkSta:\tSpeed %s%s, Width %s%s" % (
                sta.word("Speed"), _compare(t, sta["Speed"], cap["Speed"]),
                sta.word("Width"), _compare(t, sta["Width"], cap["Width"])),
            "\t\t" + sta.flag("TrErr", "Train", "SlotClk", "DLActive", "BWMgmt", "ABWMgmt")]


def _slot(cap: Reg, ctl: Reg, sta: Reg) -> List[str]:
    return ["\tSltCap:\t" + cap.flag("AttnBtn", "PwrCtrl", "MRL", "AttnInd", "PwrInd", "HotPlug", "Surprise"),
            "\t\tSlot #%d, PowerLimit %s; %s" % (cap["Slot"], cap.word("PowerLimit"), cap.flag("Interlock", "NoCompl")),
            "\tSltCtl:\tEnable: " + ctl.flag("AttnBtn", "PwrFlt", "MRL", "PresDet", "CmdCplt", "HPIrq", "LinkChg"),
            "\t\tControl: AttnInd %s, PwrInd %s, %s" % (ctl.word("AttnInd"), ctl.word("PwrInd"),
                                                       ctl.flag("Power", "Interlock")),
            "\tSltSta:\tStatus: " + sta.flag("AttnBtn", "PowerFlt", "MRL", "CmdCplt", "PresDet", "Interlock"),
            "\t\tChanged: MRL%s PresDet%s %s" % (yn(sta["MRLChg"]), yn(sta["PresDetChg"]), sta.flag("LinkState"))]


def _dev2(cap: Reg, ctl: Reg, t: int, ctx: Ctx) -> List[str]:
    out = []
    s = "\tDevCap2: Completion Timeout: %s, %s" % (cap.word("TimeoutRange"), cap.flag("TimeoutDis", "NROPrPrP", "LTR"))
    out.append(s)
    s = "\t\t %s OBFF %s, %s" % (cap.flag("10BitTagComp", "10BitTagReq"), cap.word("OBFF"),
                                cap.flag("ExtFmt", "EETLPPrefix"))
    if cap["EETLPPrefix"]:
        s += ", MaxEETLPPrefixes %s" % cap.word("MaxEETLPPrefixes")
    out.append(s)
    out.append("\t\t EmergencyPowerReduction %s, %s" % (cap.word("EmergencyPowerReduction"),
                                                       cap.flag("EmergencyPowerReductionInit")))
    s = "\t\t " + cap.flag("FRS")
    if t == ROOT_PORT:
        s += " LN System CLS %s," % cap.word("LNCLS")
    if t in (ROOT_PORT, ENDPOINT):
        s += " " + TPH_COMP[(cap.value >> 12) & 3]
    if t in (ROOT_PORT, DOWNSTREAM):
        s += " " + cap.flag("ARIFwd")
    out.append(s)
    switchish = t in (ROOT_PORT, UPSTREAM, DOWNSTREAM)
    if switchish or ctx.has_mem_bar:
        s = "\t\t AtomicOpsCap:"
        if switchish:
            s += " " + cap.flag("Routing")
        if t == ROOT_PORT or ctx.has_mem_bar:
            s += " " + cap.flag("32bit", "64bit", "128bitCAS")
        out.append(s)
    s = "\tDevCtl2: Completion Timeout: %s, %s OBFF %s," % (
        ctl.word("Timeout"), ctl.flag("TimeoutDis", "LTR", "10BitTagReq"), ctl.word("OBFF"))
    if t in (ROOT_PORT, DOWNSTREAM):
        s += " " + ctl.flag("ARIFwd")
    out.append(s)
    if t in (ROOT_PORT, UPSTREAM, DOWNSTREAM, ENDPOINT, RCIEP, LEG_END):
        s = "\t\t AtomicOpsCtl:"
        if t in (ROOT_PORT, ENDPOINT, RCIEP, LEG_END):
            s += " " + ctl.flag("ReqEn")
        if switchish:
            s += " " + ctl.flag("EgressBlck")
        out.append(s)
    return out


def _link2(cap: Reg, ctl: Reg, sta: Reg, t: int, ctx: Ctx) -> List[str]:
    out = []
    lc = 0
    # lspci: Link Capabilities/Control 2 of endpoints other than function 0 were reserved
    # before PCIe r3.0, so it shows them for function 0 of device 0 only
    show = not (t in (ENDPOINT, LEG_END) and ctx.devfn not in (0, None))
    if show:
        lc = cap.value
        if lc:
            out.append("\tLnkCap2: Supported Link Speeds: %s, %s" % (
                cap.word("Speeds"), cap.flag("Crosslink", "Retimer", "2Retimers", "DRS")))
        s = "\tLnkCtl2: Target Link Speed: %s, %s" % (ctl.word("TargetSpeed"), ctl.flag("EnterCompliance", "SpeedDis"))
        if t == DOWNSTREAM:
            s += ", Selectable De-emphasis: %s" % ctl.word("DeEmphasis")
        out += [s, "\t\t Transmit Margin: %s, %s" % (ctl.word("TransmitMargin"),
                                                     ctl.flag("EnterModifiedCompliance", "ComplianceSOS")),
                "\t\t Compliance Preset/De-emphasis: %s" % ctl.word("CompliancePreset")]
    out += ["\tLnkSta2: Current De-emphasis Level: %s, %s" % (
                sta.word("DeEmphasis"), sta.flag("EqualizationComplete", "EqualizationPhase1")),
            "\t\t " + sta.flag("EqualizationPhase2", "EqualizationPhase3", "LinkEqualizationRequest")]
    s = "\t\t %s CrosslinkRes: %s" % (sta.flag("Retimer", "2Retimers"), sta.word("CrosslinkRes"))
    if t in SLOT_TYPES and lc & (1 << 31):
        out += [s + ", " + sta.flag("DRS"),
                "\t\t DownstreamComp: %s" % sta.word("DownstreamComp")]
    else:
        out.append(s)
    return out
