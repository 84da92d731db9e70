"""Integrity & Data Encryption (extended ID 0x0030): capability/control, the Link IDE stream
blocks and the Selective IDE stream blocks with their RID and address associations."""

from __future__ import annotations

from typing import List, Sequence

from .access import Access
from .model import CapResult, Reg, Register, read_regs
from .registry import Ctx, capability, text_for

IDECAP = Register("IDECap", 0x04, 4, "LinkIDE@0 SelectiveIDE@1 FlowThru@2 PartHdr@3 Aggr@4 PCPC@5 IDE_KM@6 "
                  "SelCfg@7 Alg@8:5 LinkTCs@13:3 SelectiveStreams@16:8 TeeLim@24 XT@25")
IDECTL = Register("IDECtl", 0x08, 4, "FTEn@2")
STREAM_CTL = "En@0 XT@1 NPR@2:2 PR@4:2 CPL@6:2 PCRC@8 CFG@9 HdrEnc@10:4 Alg@14:5 TC@19:3 Default@22 TeeLim@23 ID@24:8"
STREAM_STA = "Status@0:4 RecvChkFail@31"
# the blocks after the capability/control registers, offsets from each block
LINK_STREAM = (Register("Ctl", 0, 4, STREAM_CTL), Register("Sta", 4, 4, STREAM_STA))
SEL_STREAM = (Register("Cap", 0, 4, "Blocks@0:4"), Register("Ctl", 4, 4, STREAM_CTL),
              Register("Sta", 8, 4, STREAM_STA), Register("RID1", 12, 4, "Limit@8:16"),
              Register("RID2", 16, 4, "Valid@0 Base@8:16 SegBase@24:8"))
ADDR_BLOCK = (Register("Addr1", 0, 4, "Valid@0 BaseLow@8:12 LimitLow@20:12"), Register("Addr2", 4, 4),
              Register("Addr3", 8, 4))
HDR_ENC = ("no", "17:2", "25:2", "33:2", "41:2")
STATES = ("insecure", "reserved", "secure")
AGGR = ("-", "=2", "=4", "=8")


def _alg(v: int) -> str:
    return "AES-GCM-256-96b" if v == 0 else "reserved"


def _table(t: Sequence[str], v: int) -> str:
    return t[v] if v < len(t) else "??%d" % v


@capability("ext", 0x0030, "Integrity & Data Encryption", span=0x1000)   # variable blocks
def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not a.has(c.offset + 4, 8) or not read_regs(c, a, c.offset, (IDECAP, IDECTL)):
        return
    cap = c.reg("IDECap")
    links = cap["LinkTCs"] + 1 if cap["LinkIDE"] else 0
    sels = cap["SelectiveStreams"] + 1 if cap["SelectiveIDE"] else 0
    off = c.offset + 0x0C
    for i in range(links):
        e = CapResult("ide-link", i, off, "LinkIDE#%d" % i)
        if not read_regs(e, a, off, LINK_STREAM):
            c.truncated = True
            return
        c.entries.append(e)
        off += 8
    for i in range(sels):
        e = CapResult("ide-selective", i, off, "SelectiveIDE#%d" % i)
        if not read_regs(e, a, off, SEL_STREAM):
            c.truncated = True
            return
        c.entries.append(e)
        off += 20
        for j in range(e.reg("Cap")["Blocks"]):
            b = CapResult("ide-address", j, off, "SelectiveIDE#%d RID#%d" % (i, j))
            if not read_regs(b, a, off, ADDR_BLOCK):
                c.truncated = True
                return
            b.info.update(base=b.reg("Addr3").value << 32 | b.reg("Addr1")["BaseLow"] << 20,
                          limit=b.reg("Addr2").value << 32 | b.reg("Addr1")["LimitLow"] << 20 | 0xFFFFF)
            e.entries.append(b)
            off += 12


def _ctl(r: Reg, selective: bool) -> str:
    s = "%s NPR%s PR%s CPL%s %s" % (r.flag("En", "XT"), AGGR[r["NPR"]], AGGR[r["PR"]], AGGR[r["CPL"]],
                                    r.flag("PCRC", "CFG") if selective else r.flag("PCRC"))
    s += " HdrEnc=%s Alg='%s' TC%d" % (_table(HDR_ENC, r["HdrEnc"]), _alg(r["Alg"]), r["TC"])
    if selective:
        return s + " %s ID%d%s" % (r.flag("TeeLim"), r["ID"], " Default" if r["Default"] else "")
    return s + " ID%d" % r["ID"]


@text_for("ext", 0x0030, needs="IDECap", unreadable=True)     # read with IDECtl or not at all
def text(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    cap = c.reg("IDECap")
    out += ["\tIDECap: Lnk=%d Sel=%d %s Alg='%s' TCs=%d %s" % (
                cap["LinkTCs"] + 1 if cap["LinkIDE"] else 0,
                cap["SelectiveStreams"] + 1 if cap["SelectiveIDE"] else 0,
                cap.flag("FlowThru", "PartHdr", "Aggr", "PCPC", "IDE_KM", "SelCfg"), _alg(cap["Alg"]),
                cap["LinkTCs"] + 1, cap.flag("TeeLim", "XT")),
            "\tIDECtl: " + c.reg("IDECtl").flag("FTEn")]
    for e in c.entries:
        if e.kind == "ide-link":
            out += ["\tLinkIDE#%d Ctl: %s" % (e.id, _ctl(e.reg("Ctl"), False)),
                    "\tLinkIDE#%d Sta: Status=%s %s" % (e.id, _table(STATES, e.reg("Sta")["Status"]),
                                                        e.reg("Sta").flag("RecvChkFail"))]
            continue
        i = e.id
        r1, r2 = e.reg("RID1"), e.reg("RID2")
        out += ["\tSelectiveIDE#%d Cap: RID#=%d" % (i, e.reg("Cap")["Blocks"]),
                "\tSelectiveIDE#%d Ctl: %s" % (i, _ctl(e.reg("Ctl"), True)),
                "\tSelectiveIDE#%d Sta: %s %s" % (i, _table(STATES, e.reg("Sta")["Status"]),
                                                  e.reg("Sta").flag("RecvChkFail")),
                "\tSelectiveIDE#%d RID: %s Base=%x Limit=%x SegBase=%x" % (
                    i, r2.flag("Valid"), r2["Base"], r1["Limit"], r2["SegBase"])]
        for b in e.entries:
            out.append("\tSelectiveIDE#%d RID#%d: %s Base=%x Limit=%x" % (
                i, b.id, b.reg("Addr1").flag("Valid"), b.info["base"], b.info["limit"]))
    if c.truncated:
        out.append("\t<unreadable>")
    return out
