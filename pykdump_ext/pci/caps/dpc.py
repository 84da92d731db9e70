"""Downstream Port Containment (extended ID 0x001d): capability, control, status, source,
RP PIO registers.  The trigger reason in words lives in the typed `config.Dpc`."""

from __future__ import annotations

from typing import List

from .access import Access
from .model import CapResult, Register, read_regs
from .registry import Ctx, capability, text_for

DPCCAP = Register("DpcCap", 0x04, 2, "IntMsg@0:5 RPExt@5 PoisonedTLP@6 SwTrigger@7 RPPIOLog@8:4 "
                  "DL_ActiveErr@12")
DPCCTL = Register("DpcCtl", 0x06, 2, "Trigger@0:2 Cmpl@2 INT@3 ErrCor@4 PoisonedTLP@5 SwTrigger@6 "
                  "DL_ActiveErr@7")
DPCSTA = Register("DpcSta", 0x08, 2, "Trigger@0 Reason@1:2 INT@3 RPBusy@4 TriggerExt@5:2 ErrPtr@8:5")
SOURCE = Register("Source", 0x0A, 2)
RP_PIO = tuple(Register(n, off, 4) for n, off in (
    ("RPPIOStatus", 0x0C), ("RPPIOMask", 0x10), ("RPPIOSeverity", 0x14), ("RPPIOSysError", 0x18),
    ("RPPIOException", 0x1C), ("RPPIOHeaderLog0", 0x20), ("RPPIOHeaderLog1", 0x24),
    ("RPPIOHeaderLog2", 0x28), ("RPPIOHeaderLog3", 0x2C)))


@capability("ext", 0x001D, "Downstream Port Containment", span=0x30)
def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not read_regs(c, a, c.offset, (DPCCAP, DPCCTL, DPCSTA, SOURCE)):
        c.problems.append("DPC capability at 0x%03x truncated" % c.offset)
        return
    if c.reg("DpcCap")["RPExt"]:
        read_regs(c, a, c.offset, RP_PIO)


@text_for("ext", 0x001D, needs="Source")     # the last of the four, read all or none
def text(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    cap, ctl, sta = c.reg("DpcCap"), c.reg("DpcCtl"), c.reg("DpcSta")
    out += ["\tDpcCap:\tINT Msg #%d, %s RP PIO Log %d, %s" % (
                cap["IntMsg"], cap.flag("RPExt", "PoisonedTLP", "SwTrigger"), cap["RPPIOLog"],
                cap.flag("DL_ActiveErr")),
            "\tDpcCtl:\tTrigger:%x %s" % (ctl["Trigger"], ctl.flag("Cmpl", "INT", "ErrCor", "PoisonedTLP",
                                                                    "SwTrigger", "DL_ActiveErr")),
            "\tDpcSta:\t%s Reason:%02x %s TriggerExt:%02x RP PIO ErrPtr:%02x" % (
                sta.flag("Trigger"), sta["Reason"], sta.flag("INT", "RPBusy"), sta["TriggerExt"], sta["ErrPtr"]),
            "\tSource:\t%04x" % c.reg("Source").value]
    return out
