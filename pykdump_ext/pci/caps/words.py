"""Value words several capabilities share, as lspci prints them (tables only)."""

from __future__ import annotations

from pykdump_ext.pci.regs import LINK_SPEEDS as LINK_SPEED
L0S_LATENCY = ("<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited")
L1_LATENCY = ("<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited")
DEVSEL = {0: "fast", 1: "medium", 2: "slow", 3: "??"}


def yn(v: object) -> str:
    return "+" if v else "-"


def link_speed(code: int) -> str:
    return LINK_SPEED.get(code, "unknown")


def power_limit(value: int, scale: int) -> str:
    """Slot Power Limit value/scale -> '25W' (lspci's %g formatting)."""
    if scale == 0 and value == 0xFF:
        return ">600W"
    if scale == 0 and 0xF0 <= value <= 0xFE:
        value = 250 + 25 * (value - 0xF0)
    return "%gW" % float("%.6g" % (value * (1.0, 0.1, 0.01, 0.001)[scale]))


def ltr_scale(scale: int) -> int:
    return 1 << (scale * 5)


def hx(v: int, width: int) -> str:
    return "%0*x" % (width, v)
