"""MSI (standard ID 0x05) and MSI-X (0x11): control, address/data, mask/pending, table and PBA."""

from __future__ import annotations

from typing import List

from .access import Access
from .model import CapResult, Register, read_regs
from .registry import Ctx, capability, text_for

# MSI's Count is "enabled/capable" vectors, each field a power of two
MSI_CTL = Register("Control", 0x02, 2, "Enable@0 Count-max@1:3 Count@4:3 64bit@7 Maskable@8",
                   words={"Count": lambda r: "%d/%d" % (1 << r["Count"], 1 << r["Count-max"])})
ADDR_LO = Register("Address", 0x04, 4)
ADDR_HI = Register("AddressHi", 0x08, 4)
DATA32 = Register("Data", 0x08, 2)
DATA64 = Register("Data", 0x0C, 2)
MASK32, PEND32 = Register("Masking", 0x0C, 4), Register("Pending", 0x10, 4)
MASK64, PEND64 = Register("Masking", 0x10, 4), Register("Pending", 0x14, 4)

MSIX_CTL = Register("Control", 0x02, 2, "TableSize@0:11 Masked@14 Enable@15",
                    words={"Count": lambda r: "%d" % (r["TableSize"] + 1)})
_BAR_OFFSET = {"offset": lambda r: "%08x" % (r.value & ~7)}     # the BIR bits are not offset
MSIX_TABLE = Register("Vector table", 0x04, 4, "BAR@0:3", words=_BAR_OFFSET)
MSIX_PBA = Register("PBA", 0x08, 4, "BAR@0:3", words=_BAR_OFFSET)


@capability("std", 0x05, "MSI", span=0x18)
def decode_msi(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not read_regs(c, a, c.offset, (MSI_CTL,)):
        return
    f = c.reg("Control")
    regs = (ADDR_LO, ADDR_HI, DATA64) if f["64bit"] else (ADDR_LO, DATA32)
    if read_regs(c, a, c.offset, regs) and f["Maskable"]:
        read_regs(c, a, c.offset, (MASK64, PEND64) if f["64bit"] else (MASK32, PEND32))
    c.info.update(enabled=f["Enable"], vectors=1 << f["Count"], vectors_max=1 << f["Count-max"])
    if "Data" in c.regs:
        hi = c.value("AddressHi")
        c.info.update(address=hi << 32 | c.reg("Address").value, data=c.reg("Data").value)


@text_for("std", 0x05)
def text_msi(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.r("Control")
    if f is None:
        return ["MSI: <truncated>"]
    out = ["MSI: %s Count=%s %s" % (f.flag("Enable"), f.word("Count"), f.flag("Maskable", "64bit"))]
    if "Data" in c.regs:
        hi = "%08x" % c.reg("AddressHi").value if "AddressHi" in c.regs else ""
        out.append("\tAddress: %s%08x  Data: %04x" % (hi, c.reg("Address").value, c.reg("Data").value))
    if "Pending" in c.regs:
        out.append("\tMasking: %08x  Pending: %08x" % (c.reg("Masking").value, c.reg("Pending").value))
    return out


@capability("std", 0x11, "MSI-X", span=0x0C)
def decode_msix(a: Access, c: CapResult, ctx: Ctx) -> None:
    read_regs(c, a, c.offset, (MSIX_CTL, MSIX_TABLE, MSIX_PBA))
    f = c.r("Control")
    if f is not None:
        c.info.update(enabled=f["Enable"], masked=f["Masked"], vectors=f["TableSize"] + 1)
    for key, name in (("table", "Vector table"), ("pba", "PBA")):
        r = c.r(name)
        if r is not None:
            c.info[key] = {"bar": r["BAR"], "offset": r.value & ~7}


@text_for("std", 0x11)
def text_msix(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.r("Control")
    if f is None:
        return ["MSI-X: <truncated>"]
    out = ["MSI-X: %s Count=%s %s" % (f.flag("Enable"), f.word("Count"), f.flag("Masked"))]
    if "PBA" in c.regs:
        for name in ("Vector table", "PBA"):
            r = c.reg(name)
            out.append("\t%s: BAR=%d offset=%s" % (name, r["BAR"], r.word("offset")))
    return out
