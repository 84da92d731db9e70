"""Power Management (standard ID 0x01): PMC flags, PMCSR state, bridge extensions."""

from __future__ import annotations

from typing import List

from .access import Access
from .model import CapResult, Register, read_regs
from .registry import Ctx, capability, text_for

AUX_CURRENT_MA = (0, 55, 100, 160, 220, 270, 320, 375)
PMC = Register("Flags", 0x02, 2, "Version@0:3 PMEClk@3 DSI@5 AuxCurrent@6:3 D1@9 D2@10 PME-D0@11 "
               "PME-D1@12 PME-D2@13 PME-D3hot@14 PME-D3cold@15",
               words={"AuxCurrent": tuple("%dmA" % m for m in AUX_CURRENT_MA)})
PMCSR = Register("Status", 0x04, 2, "State@0:2 NoSoftRst@3 PME-Enable@8 DSel@9:4 DScale@13:2 PME@15")
BRIDGE = Register("Bridge", 0x06, 1, "B2/B3@6 PM@7")


@capability("std", 0x01, "Power Management", span=8)
def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
    read_regs(c, a, c.offset, (PMC, PMCSR, BRIDGE))
    f = c.r("Flags")
    if f is not None:
        c.info["aux_current_ma"] = AUX_CURRENT_MA[f["AuxCurrent"]]
    s = c.r("Status")
    if s is not None:
        c.info["power_state"] = "D%d" % s["State"]


@text_for("std", 0x01)
def text(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.r("Flags")
    if f is None:
        return ["Power Management <truncated>"]
    out = ["Power Management version %d" % f["Version"],
           "\tFlags: %s AuxCurrent=%s PME(%s)" % (
               f.flag("PMEClk", "DSI", "D1", "D2"), f.word("AuxCurrent"),
               ",".join(n + ("+" if f["PME-" + n] else "-") for n in ("D0", "D1", "D2", "D3hot", "D3cold")))]
    s = c.r("Status")
    if s is None:
        return out
    out.append("\tStatus: D%d %s DSel=%d DScale=%d %s" % (s["State"], s.flag("NoSoftRst", "PME-Enable"),
                                                         s["DSel"], s["DScale"], s.flag("PME")))
    b = c.r("Bridge")
    if b is not None and b.value:
        out.append("\tBridge: PM%s B3%s" % ("+" if b["PM"] else "-", "-" if b["B2/B3"] else "+"))
    return out
