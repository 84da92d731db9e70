"""Advanced Error Reporting (extended ID 0x0001): every status/mask/severity bit of every
spec revision, the capability/control register, header log, root registers, prefix log.

The error names, severities and the decoded TLP header pcicrash adds live in the
typed `config.Aer` built from these registers (see config.py)."""

from __future__ import annotations

from typing import List

from pykdump_ext.pci import regs as R
from .access import Access
from .model import CapResult, Register, read_regs
from .registry import Ctx, capability, text_for

UNCOR_FIELDS = ("Train@0 DLP@4 SDES@5 TLP@12 FCP@13 CmpltTO@14 CmpltAbrt@15 UnxCmplt@16 RxOF@17 MalfTLP@18 "
                "ECRC@19 UnsupReq@20 ACSViol@21 UncorrIntErr@22 BlockedTLP@23 AtomicOpBlocked@24 "
                "TLPBlockedErr@25 PoisonTLPBlocked@26 DMWrReqBlocked@27 IDECheck@28 MisIDETLP@29 "
                "PCRC_CHECK@30 TLPXlatBlocked@31")
COR_FIELDS = ("RxErr@0 BadTLP@6 BadDLLP@7 Rollover@8 Timeout@12 AdvNonFatalErr@13 CorrIntErr@14 "
              "HeaderOF@15")
UESTA = Register("UESta", 0x04, 4, UNCOR_FIELDS)
UEMSK = Register("UEMsk", 0x08, 4, UNCOR_FIELDS)
UESVRT = Register("UESvrt", 0x0C, 4, UNCOR_FIELDS)
CESTA = Register("CESta", 0x10, 4, COR_FIELDS)
CEMSK = Register("CEMsk", 0x14, 4, COR_FIELDS)
AERCAP = Register("AERCap", 0x18, 4, "FirstErrorPointer@0:5 ECRCGenCap@5 ECRCGenEn@6 ECRCChkCap@7 "
                  "ECRCChkEn@8 MultHdrRecCap@9 MultHdrRecEn@10 TLPPfxPres@11 HdrLogCap@12")
HEADER_LOG = tuple(Register("HeaderLog%d" % i, 0x1C + 4 * i, 4) for i in range(4))
ROOTCMD = Register("RootCmd", 0x2C, 4, "CERptEn@0 NFERptEn@1 FERptEn@2")
ROOTSTA = Register("RootSta", 0x30, 4, "CERcvd@0 MultCERcvd@1 UERcvd@2 MultUERcvd@3 FirstFatal@4 "
                   "NonFatalMsg@5 FatalMsg@6 IntMsg@27:5")
SRC_COR = Register("ErrorSrcCor", 0x34, 2)
SRC_UNCOR = Register("ErrorSrcUncor", 0x36, 2)
PREFIX_LOG = tuple(Register("TLPPrefixLog%d" % i, 0x38 + 4 * i, 4) for i in range(4))
MAIN = (UESTA, UEMSK, UESVRT, CESTA, CEMSK, AERCAP) + HEADER_LOG
ROOT = (ROOTCMD, ROOTSTA, SRC_COR, SRC_UNCOR)
# lspci 3.9's lines name the bits up to ACSViol (uncorrectable) and AdvNonFatalErr
# (correctable); the later revisions' bits follow on a line of their own
UNCOR_LINES = (("DLP", "SDES", "TLP", "FCP", "CmpltTO", "CmpltAbrt", "UnxCmplt", "RxOF", "MalfTLP", "ECRC",
                "UnsupReq", "ACSViol"),
               ("UncorrIntErr", "BlockedTLP", "AtomicOpBlocked", "TLPBlockedErr", "PoisonTLPBlocked",
                "DMWrReqBlocked", "IDECheck", "MisIDETLP", "PCRC_CHECK", "TLPXlatBlocked"))
COR_LINES = (("RxErr", "BadTLP", "BadDLLP", "Rollover", "Timeout", "AdvNonFatalErr"), ("CorrIntErr", "HeaderOF"))


@capability("ext", 0x0001, "Advanced Error Reporting", span=0x48)
def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
    for s in MAIN[:6]:
        if not read_regs(c, a, c.offset, (s,)):
            c.problems.append("AER capability at 0x%03x truncated at +0x%02x" % (c.offset, s.rel))
            return
    if not read_regs(c, a, c.offset, HEADER_LOG):
        c.problems.append("AER header log at 0x%03x truncated" % (c.offset + 0x1C))
    if ctx.port_type in R.ROOT_PORT_TYPES:
        read_regs(c, a, c.offset, ROOT)
    if c.reg("AERCap")["TLPPfxPres"]:
        read_regs(c, a, c.offset, PREFIX_LOG)


@text_for("ext", 0x0001, needs="AERCap")     # the last of the six the decoder requires
def text(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    for name in ("UESta", "UEMsk", "UESvrt"):
        r = c.reg(name)
        out += ["\t%s:\t%s" % (name, r.flag(*UNCOR_LINES[0])), "\t\t" + r.flag(*UNCOR_LINES[1])]
    for name in ("CESta", "CEMsk"):
        r = c.reg(name)
        out += ["\t%s:\t%s" % (name, r.flag(*COR_LINES[0])), "\t\t" + r.flag(*COR_LINES[1])]
    cap = c.reg("AERCap")
    out += ["\tAERCap:\tFirst Error Pointer: %02x, %s" % (cap["FirstErrorPointer"], cap.flag(
                "ECRCGenCap", "ECRCGenEn", "ECRCChkCap", "ECRCChkEn")),
            "\t\t" + cap.flag("MultHdrRecCap", "MultHdrRecEn", "TLPPfxPres", "HdrLogCap"),
            "\tHeaderLog: " + " ".join("%08x" % c.value("HeaderLog%d" % i) for i in range(4))]
    if "ErrorSrcUncor" in c.regs:   # the last root register: the three before it are there
        rs = c.reg("RootSta")
        out += ["\tRootCmd: " + c.reg("RootCmd").flag("CERptEn", "NFERptEn", "FERptEn"),
                "\tRootSta: " + rs.flag("CERcvd", "MultCERcvd", "UERcvd", "MultUERcvd"),
                "\t\t %s IntMsg %d" % (rs.flag("FirstFatal", "NonFatalMsg", "FatalMsg"), rs["IntMsg"]),
                "\tErrorSrc: ERR_COR: %04x ERR_FATAL/NONFATAL: %04x" % (c.reg("ErrorSrcCor").value,
                                                                        c.reg("ErrorSrcUncor").value)]
    return out
