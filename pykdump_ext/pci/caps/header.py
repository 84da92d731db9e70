"""The type 0/1/2 header: command/status, BARs, Expansion ROM, bridge windows, bridge control.

Everything here comes from the config bytes alone, as `lspci -F` shows it:
BAR sizes need the kernel's sizing (sysfs), so they are not shown; bridge
window sizes follow from base and limit and are.
"""

from __future__ import annotations

from typing import List, Optional

from .access import Access
from .model import CapResult, Register
from .words import DEVSEL, yn

COMMAND = Register("Control", 0x04, 2, "I/O@0 Mem@1 BusMaster@2 SpecCycle@3 MemWINV@4 VGASnoop@5 "
                   "ParErr@6 Stepping@7 SERR@8 FastB2B@9 DisINTx@10")
STATUS = Register("Status", 0x06, 2, "INTx@3 Cap@4 66MHz@5 UDF@6 FastB2B@7 ParErr@8 DEVSEL@9:2 "
                  ">TAbort@11 <TAbort@12 <MAbort@13 >SERR@14 <PERR@15", words={"DEVSEL": DEVSEL})
CACHE_LINE = Register("CacheLine", 0x0C, 1)
LATENCY = Register("Latency", 0x0D, 1)
HTYPE = Register("HeaderType", 0x0E, 1, "Layout@0:7 MultiFunction@7")
BIST = Register("BIST", 0x0F, 1, "Code@0:4 Start@6 Capable@7")
INT_LINE = Register("InterruptLine", 0x3C, 1)
INT_PIN = Register("InterruptPin", 0x3D, 1)
MIN_GNT = Register("MinGnt", 0x3E, 1)
MAX_LAT = Register("MaxLat", 0x3F, 1)
BARS = tuple(Register("BAR%d" % i, 0x10 + 4 * i, 4, "IO@0 Type@1:2 Prefetch@3") for i in range(6))
ROM0 = Register("ROM", 0x30, 4, "Enable@0")
ROM1 = Register("ROM", 0x38, 4, "Enable@0")
# type 1
BUS = Register("Bus", 0x18, 4, "primary@0:8 secondary@8:8 subordinate@16:8 sec-latency@24:8")
IO_BASE = Register("IOBase", 0x1C, 1)
IO_LIMIT = Register("IOLimit", 0x1D, 1)
SEC_STATUS = Register("Secondary status", 0x1E, 2, "66MHz@5 FastB2B@7 ParErr@8 DEVSEL@9:2 >TAbort@11 "
                      "<TAbort@12 <MAbort@13 <SERR@14 <PERR@15", words={"DEVSEL": DEVSEL})
MEM_BASE = Register("MemBase", 0x20, 2)
MEM_LIMIT = Register("MemLimit", 0x22, 2)
PREF_BASE = Register("PrefBase", 0x24, 2)
PREF_LIMIT = Register("PrefLimit", 0x26, 2)
PREF_BASE_UP = Register("PrefBaseUpper", 0x28, 4)
PREF_LIMIT_UP = Register("PrefLimitUpper", 0x2C, 4)
IO_BASE_UP = Register("IOBaseUpper", 0x30, 2)
IO_LIMIT_UP = Register("IOLimitUpper", 0x32, 2)
BRIDGE_CTL = Register("BridgeCtl", 0x3E, 2, "Parity@0 SERR@1 NoISA@2 VGA@3 VGA16@4 MAbort@5 >Reset@6 "
                      "FastB2B@7 PriDiscTmr@8 SecDiscTmr@9 DiscTmrStat@10 DiscTmrSERREn@11")
# type 2 (CardBus)
CB_SEC_STATUS = Register("Secondary status", 0x16, 2, "SERR@14")
CB_BUS = Register("Bus", 0x18, 4, "primary@0:8 secondary@8:8 subordinate@16:8 sec-latency@24:8")
CB_WINDOWS = tuple(Register(n, off, 4) for n, off in (
    ("MemBase0", 0x1C), ("MemLimit0", 0x20), ("MemBase1", 0x24), ("MemLimit1", 0x28),
    ("IOBase0", 0x2C), ("IOLimit0", 0x30), ("IOBase1", 0x34), ("IOLimit1", 0x38)))
CB_BRIDGE_CTL = Register("BridgeCtl", 0x3E, 2, "Parity@0 SERR@1 ISA@2 VGA@3 MAbort@5 >Reset@6 16bInt@7 "
                         "Prefetch0@8 Prefetch1@9 PostWrite@10")
CB_LEGACY = Register("LegacyBase", 0x44, 2)

COMMON = (COMMAND, STATUS, CACHE_LINE, LATENCY, HTYPE, BIST, INT_LINE, INT_PIN)
LAYOUT = {0: COMMON + BARS + (ROM0, MIN_GNT, MAX_LAT),
          1: COMMON + BARS[:2] + (BUS, IO_BASE, IO_LIMIT, SEC_STATUS, MEM_BASE, MEM_LIMIT, PREF_BASE,
                                  PREF_LIMIT, PREF_BASE_UP, PREF_LIMIT_UP, IO_BASE_UP, IO_LIMIT_UP,
                                  ROM1, BRIDGE_CTL),
          2: COMMON + BARS[:1] + (CB_SEC_STATUS, CB_BUS) + CB_WINDOWS + (CB_BRIDGE_CTL, CB_LEGACY)}


_CACHE: dict = {}
_HEADER_BYTES = 0x48        # every register above lies below this


def decode(raw: bytes) -> CapResult:
    """The header as a CapResult (kind "hdr", id = layout); registers beyond the bytes are left
    out.  Equal header bytes share one result (read-only), bounded."""
    key = raw[:_HEADER_BYTES]
    c = _CACHE.get(key)
    if c is None:
        if len(_CACHE) >= 8192:
            _CACHE.clear()
        c = _CACHE[key] = _decode(key)
    return c


def _decode(raw: bytes) -> CapResult:
    a = Access(raw)
    ht = a.u8(0x0E)
    layout = None if ht is None else ht & 0x7F
    c = CapResult("hdr", -1 if layout is None else layout, 0, "Header")
    for s in COMMON if layout is None else LAYOUT.get(layout, COMMON):
        r = s.read(a, 0)
        if r is None:
            c.truncated = True
        else:
            c.regs[s.name] = r
    if layout in LAYOUT:
        c.info.update(bars=_bars(c, layout), rom=_rom(c))
        if layout == 1:
            c.info["windows"] = _windows(c)
    return c


def _bars(c: CapResult, layout: int) -> List[dict]:
    """BARs as libpci fills them from config bytes (64-bit pairs joined, the upper half then
    shown on its own as lspci does), each {"index", "flags", "address", "kind", ...}."""
    cnt = {0: 6, 1: 2, 2: 1}[layout]
    vals = [c.value("BAR%d" % i) for i in range(cnt)]
    base = [0] * cnt
    i = 0
    while i < cnt:
        x = vals[i]
        if x and x != 0xFFFFFFFF:
            if x & 1 or (x >> 1) & 3 != 2:
                base[i] = x
            elif i < cnt - 1:
                i += 1
                base[i - 1] = x | (vals[i] << 32)
        i += 1
    c.info["has_mem_bar"] = any(b and not b & 1 for b in base)    # lspci's test, on the joined BARs
    out = []
    for i in range(cnt):
        flg = vals[i]
        if flg == 0xFFFFFFFF:
            flg = 0
        pos = base[i]
        if not pos and not flg:
            continue
        if flg & 1:
            out.append({"index": i, "space": "io", "address": pos & ~3 & 0xFFFFFFFFFFFFFFFF,
                        "raw": vals[i]})
        else:
            t = (flg >> 1) & 3
            out.append({"index": i, "space": "memory", "address": pos & ~0xF & 0xFFFFFFFFFFFFFFFF,
                        "width": ("32-bit", "low-1M", "64-bit", "type 3")[t],
                        "prefetchable": bool(flg & 8), "raw": vals[i]})
    return out


def _rom(c: CapResult) -> Optional[dict]:
    r = c.regs.get("ROM")
    if r is None:
        return None
    flg = r.value
    rom = 0 if flg == 0xFFFFFFFF else flg
    if not rom and not flg:
        return None
    return {"address": rom & ~0x7FF, "assigned": bool(rom & ~0x7FF), "ignored": not (rom & ~0x7FF)
            and bool(flg & ~0x7FF), "enabled": bool(flg & 1), "raw": flg}


def _windows(c: CapResult) -> List[dict]:
    """Type 1 I/O, memory and prefetchable windows from base/limit (size follows from them)."""
    g = c.value
    out = []
    iob, iol = g("IOBase"), g("IOLimit")
    t = iob & 0xF
    if t != (iol & 0xF) or t not in (0, 1):
        out.append({"kind": "io", "error": "!!! Unknown I/O range types %x/%x" % (iob, iol)})
    else:
        base, limit = (iob & 0xF0) << 8, (iol & 0xF0) << 8
        if t == 1:
            base |= g("IOBaseUpper") << 16
            limit |= g("IOLimitUpper") << 16
        out.append(_window("io", "I/O behind bridge", base, limit + 0xFFF, 32 if t == 1 else 16))
    mb, ml = g("MemBase"), g("MemLimit")
    if (mb & 0xF) != (ml & 0xF) or mb & 0xF:
        out.append({"kind": "memory", "error": "!!! Unknown memory range types %x/%x" % (mb, ml)})
    else:
        out.append(_window("memory", "Memory behind bridge", (mb & ~0xF) << 16,
                           ((ml & ~0xF) << 16) + 0xFFFFF, 32))
    pb, pl = g("PrefBase"), g("PrefLimit")
    t = pb & 0xF
    if t != (pl & 0xF) or t not in (0, 1):
        out.append({"kind": "prefetchable",
                    "error": "!!! Unknown prefetchable memory range types %x/%x" % (pb, pl)})
    else:
        base, limit = (pb & ~0xF) << 16, (pl & ~0xF) << 16
        if t == 1:
            base |= g("PrefBaseUpper") << 32
            limit |= g("PrefLimitUpper") << 32
        out.append(_window("prefetchable", "Prefetchable memory behind bridge", base, limit + 0xFFFFF,
                           64 if t == 1 else 32))
    return out


def _window(kind: str, label: str, base: int, limit: int, bits: int) -> dict:
    return {"kind": kind, "label": label, "base": base, "limit": limit, "bits": bits,
            "enabled": base <= limit, "size": limit - base + 1 if base <= limit else 0}


def size_text(x: int) -> str:
    """lspci's ' [size=4K]' for a size known from config bytes."""
    if not x:
        return ""
    suffixes = ("", "K", "M", "G", "T")
    i = 0
    while i < 4 and x % 1024 == 0:
        x //= 1024
        i += 1
    return " [size=%d%s]" % (x, suffixes[i])


def text(h: CapResult, class_code: Optional[int]) -> List[str]:
    """The header lines of lspci -vvv (after the Subsystem line), with one leading tab."""
    g = h.regs.get
    out: List[str] = []
    layout = h.id
    cmd, st = g("Control"), g("Status")
    cls = (class_code or 0) >> 8
    if layout == 0 and cls == 0x0604 or layout in (1, 2) and cls >> 8 != 0x06:
        out.append("\t!!! Invalid class %04x for header type %02x" % (cls, layout))
    if layout not in (0, 1, 2):
        if layout >= 0:
            out.append("\t!!! Unknown header type %02x" % layout)
        return out
    if cmd is not None and st is not None:
        out.append("\tControl: " + cmd.flag("I/O", "Mem", "BusMaster", "SpecCycle", "MemWINV", "VGASnoop",
                                            "ParErr", "Stepping", "SERR", "FastB2B", "DisINTx"))
        out.append("\tStatus: %s DEVSEL=%s %s" % (
            st.flag("Cap", "66MHz", "UDF", "FastB2B", "ParErr"), st.word("DEVSEL"),
            st.flag(">TAbort", "<TAbort", "<MAbort", ">SERR", "<PERR", "INTx")))
        if cmd["BusMaster"]:
            # a known layout means the bytes reach the header type (0x0e): latency and
            # cache line size (0x0d, 0x0c) are there
            s = "\tLatency: %d" % h.reg("Latency").value
            mg = h.value("MinGnt") if layout == 0 else 0
            ml = h.value("MaxLat") if layout == 0 else 0
            if mg or ml:
                s += " (%s)" % ", ".join(x for x in ("%dns min" % (mg * 250) if mg else "",
                                                     "%dns max" % (ml * 250) if ml else "") if x)
            if h.reg("CacheLine").value:
                s += ", Cache Line Size: %d bytes" % (h.reg("CacheLine").value * 4)
            out.append(s)
    pin = h.value("InterruptPin")
    irq = h.value("InterruptLine")
    if pin or irq:
        # lspci prints the byte 'A' + pin - 1 as a character; a pin beyond D is invalid and
        # shown as that character only while it is a printable one
        ch = (0x40 + pin) & 0xFF
        out.append("\tInterrupt: pin %s routed to IRQ %d" % (chr(ch) if pin and 0x21 <= ch < 0x7F else "?", irq))
    bist = g("BIST")
    if bist is not None and bist["Capable"]:
        out.append("\tBIST is running" if bist["Start"] else "\tBIST result: %02x" % bist["Code"])
    cmdv = cmd.value if cmd is not None else 0
    for b in h.info.get("bars", ()):
        if b["space"] == "io":
            a = ("%04x" % b["address"]) if b["address"] or cmdv & 1 else "<unassigned>"
            out.append("\tRegion %d: I/O ports at %s%s" % (b["index"], a, "" if cmdv & 1 else " [disabled]"))
        else:
            a = ("%08x" % b["address"]) if b["address"] else "<unassigned>"
            out.append("\tRegion %d: Memory at %s (%s, %sprefetchable)%s" % (
                b["index"], a, b["width"], "" if b["prefetchable"] else "non-",
                "" if cmdv & 2 else " [disabled]"))
    if layout == 0:
        out += _rom_text(h, cmdv)
    elif layout == 1:
        bus = g("Bus")
        if bus is not None:
            out.append("\tBus: primary=%02x, secondary=%02x, subordinate=%02x, sec-latency=%d" % (
                bus["primary"], bus["secondary"], bus["subordinate"], bus["sec-latency"]))
        for w in h.info.get("windows", ()):
            if "error" in w:
                out.append("\t" + w["error"])
                continue
            width = (w["bits"] + 3) // 4
            # as lspci -vvv: the range even when empty (base above limit), then why
            s = "\t%s: %0*x-%0*x" % (w["label"], width, w["base"], width, w["limit"])
            s += size_text(w["size"]) if w["enabled"] else " [disabled]"
            out.append(s + " [%d-bit]" % w["bits"])
        ss = g("Secondary status")
        if ss is not None:
            out.append("\tSecondary status: %s DEVSEL=%s %s" % (
                ss.flag("66MHz", "FastB2B", "ParErr"), ss.word("DEVSEL"),
                ss.flag(">TAbort", "<TAbort", "<MAbort", "<SERR", "<PERR")))
        out += _rom_text(h, cmdv)
        bc = g("BridgeCtl")
        if bc is not None:
            out.append("\tBridgeCtl: " + bc.flag("Parity", "SERR", "NoISA", "VGA", "VGA16", "MAbort",
                                                 ">Reset", "FastB2B"))
            out.append("\t\t" + bc.flag("PriDiscTmr", "SecDiscTmr", "DiscTmrStat", "DiscTmrSERREn"))
    else:
        out += _cardbus_text(h, cmdv)
    return out


def _rom_text(h: CapResult, cmdv: int) -> List[str]:
    r = h.info.get("rom")
    if r is None:
        return []
    s = "\tExpansion ROM at " + ("%08x" % r["address"] if r["assigned"] else
                                 "<ignored>" if r["ignored"] else "<unassigned>")
    if not r["enabled"]:
        s += " [disabled]"
    elif not cmdv & 2:
        s += " [disabled by cmd]"
    return [s]


def _cardbus_text(h: CapResult, cmdv: int) -> List[str]:
    g = h.regs.get
    out = []
    bus = g("Bus")
    if bus is not None:
        out.append("\tBus: primary=%02x, secondary=%02x, subordinate=%02x, sec-latency=%d" % (
            bus["primary"], bus["secondary"], bus["subordinate"], bus["sec-latency"]))
    bc = g("BridgeCtl")
    bcv = bc.value if bc is not None else 0
    for i in range(2):
        b, l = g("MemBase%d" % i), g("MemLimit%d" % i)
        if b is None or l is None:
            continue
        base, limit = b.value, (l.value + 0xFFF) & 0xFFFFFFFF
        # as lspci -vvv: every window, also an empty one (base above limit)
        out.append("\tMemory window %d: %08x-%08x%s%s" % (
            i, base, limit, "" if cmdv & 2 else " [disabled]",
            " (prefetchable)" if bcv & (0x100 << i) else ""))
    for i in range(2):
        b, l = g("IOBase%d" % i), g("IOLimit%d" % i)
        if b is None or l is None:
            continue
        base, limit = b.value, l.value
        if not base & 1:
            base &= 0xFFFF
            limit &= 0xFFFF
        base &= ~3 & 0xFFFFFFFF
        limit = ((limit & ~3) + 3) & 0xFFFFFFFF
        out.append("\tI/O window %d: %08x-%08x%s" % (i, base, limit, "" if cmdv & 1 else " [disabled]"))
    ss = g("Secondary status")
    if ss is not None and ss["SERR"]:
        out.append("\tSecondary status: SERR")
    if bc is not None:
        out.append("\tBridgeCtl: " + bc.flag("Parity", "SERR", "ISA", "VGA", "MAbort", ">Reset", "16bInt",
                                             "PostWrite"))
    lg = g("LegacyBase")
    if lg is not None and lg.value:
        out.append("\t16-bit legacy interface ports at %04x" % lg.value)
    return out


__all__ = ["decode", "text", "size_text", "yn"]
