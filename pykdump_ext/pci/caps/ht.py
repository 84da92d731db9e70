"""HyperTransport (standard ID 0x08): primary/secondary interface blocks, MSI mapping, and
the capability types lspci names."""

from __future__ import annotations

from typing import List, Optional, Tuple

from .access import Access
from .model import CapResult, Reg, Register, read_regs
from .registry import Ctx, capability, text_for

CMD = Register("Command", 0x02, 2, "BaseUnitID@0:5 UnitCnt@5:5 MastHost@10 DefDir@11 DUL@12 "
               "WarmRst@0 DblEnd@1 DevNum@2:5 ChainSide@7 HostHide@8 Slave@10 <EOCErr@11 "
               "Enable@0 Fixed@1")
LCTR = "CFlE@1 CST@2 CFE@3 <LkFail@4 Init@5 EOC@6 TXO@7 <CRCErr@8:4 IsocEn@12 LSEn@13 ExtCTL@14 64b@15"
LCNF = "MLWI@0:3 DwFcIn@3 MLWO@4:3 DwFcOut@7 LWI@8:3 DwFcInEn@11 LWO@12:3 DwFcOutEn@15"
LFRER = "Freq@0:4 <Prot@4 <Ovfl@5 <EOC@6 CTLTm@7"
LFCAP = "200MHz@0 300MHz@1 400MHz@2 500MHz@3 600MHz@4 800MHz@5 1.0GHz@6 1.2GHz@7 1.4GHz@8 1.6GHz@9 Vend@15"
FTR = "IsocFC@0 LDTSTOP@1 CRCTM@2 ECTLT@3 64bA@4 UIDRD@5"
FTR_SEC = FTR + " ExtRS@8 UCnfE@9"
EH = ("PFlE@0 OFlE@1 PFE@2 OFE@3 EOCFE@4 RFE@5 CRCFE@6 SERRFE@7 CF@8 RE@9 PNFE@10 ONFE@11 EOCNFE@12 RNFE@13 "
      "CRCNFE@14 SERRNFE@15")
WIDTHS = ("8bit", "16bit", "[2]", "32bit", "2bit", "4bit", "[6]", "N/C")
FREQS = ("200MHz", "300MHz", "400MHz", "500MHz", "600MHz", "800MHz", "1.0GHz", "1.2GHz", "1.4GHz", "1.6GHz",
         "[a]", "[b]", "[c]", "[d]", "[e]", "Vend")
LCNF_WORDS = {n: WIDTHS for n in ("MLWI", "MLWO", "LWI", "LWO")}
LFRER_WORDS = {"Freq": FREQS}
# The link frequency capability registers are 16 bits wide (1.4GHz, 1.6GHz, Vend in the high
# byte); lspci 3.9 reads one byte of them and so always shows those three as '-'.
PRI = (Register("Link Control 0", 4, 2, LCTR), Register("Link Config 0", 6, 2, LCNF, LCNF_WORDS),
       Register("Link Control 1", 8, 2, LCTR), Register("Link Config 1", 10, 2, LCNF, LCNF_WORDS),
       Register("Revision ID", 12, 1, "Minor@0:5 Major@5:3"), Register("Link Error 0", 13, 1, LFRER, LFRER_WORDS),
       Register("Link Frequency Capability 0", 14, 2, LFCAP),
       Register("Feature Capability", 16, 1, FTR), Register("Link Error 1", 17, 1, LFRER, LFRER_WORDS),
       Register("Link Frequency Capability 1", 18, 2, LFCAP), Register("Error Handling", 22, 2, EH),
       Register("MBU", 24, 1), Register("MLU", 25, 1), Register("Bus Number", 26, 1))
SEC = (Register("Link Control", 4, 2, LCTR), Register("Link Config", 6, 2, LCNF, LCNF_WORDS),
       Register("Revision ID", 8, 1, "Minor@0:5 Major@5:3"), Register("Link Error", 9, 1, LFRER, LFRER_WORDS),
       Register("Link Frequency Capability", 10, 2, LFCAP), Register("Feature Capability", 12, 2, FTR_SEC),
       Register("Error Handling", 18, 2, EH), Register("MBU", 20, 1), Register("MLU", 21, 1))
MSIM = (Register("AddressLo", 4, 4), Register("AddressHi", 8, 4))
TYPES = {0x4000: "Switch", 0x8000: "Interrupt Discovery and Configuration", 0x9000: "UnitID Clumping",
         0x9800: "Extended Configuration Space Access", 0xA000: "Address Mapping", 0xB000: "DirectRoute",
         0xB800: "VCSet", 0xC000: "Retry Mode", 0xC800: "X86 (reserved)"}


def _kind(cmd: int) -> str:
    hi = cmd & 0xE000
    return "pri" if hi == 0 else "sec" if hi == 0x2000 else "other"


@capability("std", 0x08, "HyperTransport", span=0x1C)
def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not read_regs(c, a, c.offset, (CMD,)):
        return
    k = _kind(c.reg("Command").value)
    c.info["interface"] = k
    if k == "pri" and a.has(c.offset + 4, 24):
        read_regs(c, a, c.offset, PRI)
    elif k == "sec" and a.has(c.offset + 4, 20):
        read_regs(c, a, c.offset, SEC)
    elif k == "other" and c.reg("Command").value & 0xF800 == 0xA800 and not c.reg("Command")["Fixed"]:
        if a.has(c.offset + 4, 8):
            read_regs(c, a, c.offset, MSIM)


def _lctr(r: Reg, new: bool) -> str:
    s = "%s <CRCErr=%x" % (r.flag("CFlE", "CST", "CFE", "<LkFail", "Init", "EOC", "TXO"), r["<CRCErr"])
    return s + (" " + r.flag("IsocEn", "LSEn", "ExtCTL", "64b") if new else "")


def _lcnf(r: Reg, new: bool) -> str:
    w = r.word
    if not new:
        return "MLWI=%s MLWO=%s LWI=%s LWO=%s" % (w("MLWI"), w("MLWO"), w("LWI"), w("LWO"))
    return "MLWI=%s DwFcIn%s MLWO=%s DwFcOut%s LWI=%s DwFcInEn%s LWO=%s DwFcOutEn%s" % (
        w("MLWI"), "+-"[not r["DwFcIn"]], w("MLWO"), "+-"[not r["DwFcOut"]], w("LWI"), "+-"[not r["DwFcInEn"]],
        w("LWO"), "+-"[not r["DwFcOutEn"]])


def _lfrer(r: Reg) -> str:
    return r.flag("<Prot", "<Ovfl", "<EOC", "CTLTm")


def _lfcap(r: Reg) -> str:
    return r.flag("200MHz", "300MHz", "400MHz", "500MHz", "600MHz", "800MHz", "1.0GHz", "1.2GHz", "1.4GHz",
                  "1.6GHz", "Vend")


@text_for("std", 0x08, needs="Command")
def text(c: CapResult, ctx: Ctx) -> List[str]:
    cmd = c.reg("Command")
    k = c.info["interface"]
    if k == "pri":
        return _pri(c, cmd)
    if k == "sec":
        return _sec(c, cmd)
    t = cmd.value & 0xF800
    if t == 0x8800:
        return ["HyperTransport: Revision ID: %d.%02d" % ((cmd.value & 0xE0) >> 5, cmd.value & 0x1F)]
    if t == 0xA800:
        out = ["HyperTransport: MSI Mapping " + cmd.flag("Enable", "Fixed")]
        if "AddressHi" in c.regs:
            out.append("\tMapping Address Base: %016x" % (c.reg("AddressHi").value << 32
                                                          | (c.reg("AddressLo").value & ~0xFFFFF)))
        return out
    return ["HyperTransport: " + TYPES.get(t, "#%02x" % (t >> 11))]


def _rid(c: CapResult) -> Tuple[int, str]:
    r = c.reg("Revision ID")
    return r.value, "\tRevision ID: %d.%02d" % (r["Major"], r["Minor"])


def _head(c: CapResult, title: str, last: str) -> Tuple[List[str], Optional[str], bool]:
    """The interface's title line, and (unless the capability is cut before `last`) its
    Revision ID line and whether the revision has the later registers (1.03 and up)."""
    out = ["HyperTransport: " + title]
    if last not in c.regs:
        return out, None, False
    rid, ridline = _rid(c)
    if 0x11 < rid < 0x22:
        out.append("\t!!! Possibly incomplete decoding")
    return out, ridline, rid >= 0x22


def _pri(c: CapResult, cmd: Reg) -> List[str]:
    out, ridline, new = _head(c, "Slave or Primary Interface", "Bus Number")
    if ridline is None:
        return out
    g = c.reg
    s = "\tCommand: BaseUnitID=%d UnitCnt=%d %s" % (cmd["BaseUnitID"], cmd["UnitCnt"], cmd.flag("MastHost", "DefDir"))
    out.append(s + (" " + cmd.flag("DUL") if new else ""))
    out += ["\tLink Control 0: " + _lctr(g("Link Control 0"), new),
            "\tLink Config 0: " + _lcnf(g("Link Config 0"), new),
            "\tLink Control 1: " + _lctr(g("Link Control 1"), new),
            "\tLink Config 1: " + _lcnf(g("Link Config 1"), new),
            ridline]
    if not new:
        return out
    f = g("Feature Capability")
    return out + [
        "\tLink Frequency 0: " + g("Link Error 0").word("Freq"), "\tLink Error 0: " + _lfrer(g("Link Error 0")),
        "\tLink Frequency Capability 0: " + _lfcap(g("Link Frequency Capability 0")),
        "\tFeature Capability: " + f.flag("IsocFC", "LDTSTOP", "CRCTM", "ECTLT", "64bA", "UIDRD"),
        "\tLink Frequency 1: " + g("Link Error 1").word("Freq"), "\tLink Error 1: " + _lfrer(g("Link Error 1")),
        "\tLink Frequency Capability 1: " + _lfcap(g("Link Frequency Capability 1")),
        "\tError Handling: " + g("Error Handling").flag(*[x.name for x in g("Error Handling").spec.fields]),
        "\tPrefetchable memory behind bridge Upper: %02x-%02x" % (g("MBU").value, g("MLU").value),
        "\tBus Number: %02x" % g("Bus Number").value]


def _sec(c: CapResult, cmd: Reg) -> List[str]:
    out, ridline, new = _head(c, "Host or Secondary Interface", "MLU")
    if ridline is None:
        return out
    g = c.reg
    if new:
        out.append("\tCommand: %s DevNum=%d %s" % (cmd.flag("WarmRst", "DblEnd"), cmd["DevNum"],
                                                   cmd.flag("ChainSide", "HostHide", "Slave", "<EOCErr", "DUL")))
    else:
        out.append("\tCommand: " + cmd.flag("WarmRst", "DblEnd"))
    out += ["\tLink Control: " + _lctr(g("Link Control"), new), "\tLink Config: " + _lcnf(g("Link Config"), new),
            ridline]
    if not new:
        return out
    f = g("Feature Capability")
    out += ["\tLink Frequency: " + g("Link Error").word("Freq"), "\tLink Error: " + _lfrer(g("Link Error")),
            "\tLink Frequency Capability: " + _lfcap(g("Link Frequency Capability")),
            "\tFeature Capability: " + f.flag("IsocFC", "LDTSTOP", "CRCTM", "ECTLT", "64bA", "UIDRD", "ExtRS",
                                              "UCnfE")]
    if f["ExtRS"]:
        out += ["\tError Handling: " + g("Error Handling").flag(*[x.name for x in g("Error Handling").spec.fields]),
                "\tPrefetchable memory behind bridge Upper: %02x-%02x" % (g("MBU").value, g("MLU").value)]
    return out
