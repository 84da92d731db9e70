"""Vendor-specific capabilities: standard ID 0x09 (VirtIO structures decoded), extended
0x000b (header), Designated Vendor-Specific 0x0023 (CXL DVSECs decoded)."""

from __future__ import annotations

from typing import List

from .access import Access
from .model import CapResult, Reg, Register, read_regs
from .registry import Ctx, capability, text_for

VNDR = Register("Flags", 0x02, 2, "Len@0:8 Type@8:8")
VIRTIO = (Register("BAR", 0x04, 1), Register("ID", 0x05, 1), Register("offset", 0x08, 4),
          Register("size", 0x0C, 4))
VIRTIO_NOTIFY = Register("multiplier", 0x10, 4)
VIRTIO_SHM = (Register("offset_hi", 0x10, 4), Register("size_hi", 0x14, 4))
VIRTIO_TYPES = {1: "CommonCfg", 2: "Notify", 3: "ISR", 4: "DeviceCfg", 5: "PCI", 8: "SharedMemory",
                9: "Vendor"}
EVNDR = Register("Header", 0x04, 4, "ID@0:16 Rev@16:4 Len@20:12")
DVSEC1 = Register("Header1", 0x04, 4, "Vendor@0:16 Rev@16:4 Len@20:12")
DVSEC2 = Register("Header2", 0x08, 2, "ID@0:16")
CXL_VENDOR = 0x1E98


def _is_virtio(ctx: Ctx) -> bool:
    return ctx.vendor_id == 0x1AF4 and ctx.device_id is not None and 0x1000 <= ctx.device_id <= 0x107F


@capability("std", 0x09, "Vendor Specific Information", span=0x20)
def decode_vndr(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not read_regs(c, a, c.offset, (VNDR,)):
        return
    f = c.reg("Flags")
    if _is_virtio(ctx) and f["Len"] >= 16 and a.has(c.offset, f["Len"]):
        read_regs(c, a, c.offset, VIRTIO)
        t = f["Type"]
        c.info["virtio"] = VIRTIO_TYPES.get(t, "<unknown>")
        if t == 2 and f["Len"] >= 20:
            read_regs(c, a, c.offset, (VIRTIO_NOTIFY,))
        if t == 8 and f["Len"] >= 24:
            read_regs(c, a, c.offset, VIRTIO_SHM)


@text_for("std", 0x09)
def text_vndr(c: CapResult, ctx: Ctx) -> List[str]:
    f = c.r("Flags")
    if f is None:
        return [c.name + ": <truncated>"]
    if "virtio" not in c.info or "size" not in c.regs:
        return ["Vendor Specific Information: Len=%02x <?>" % f["Len"]]
    v = lambda n: c.reg(n).value     # noqa: E731
    t = f["Type"]
    out = ["Vendor Specific Information: VirtIO: " + (c.info["virtio"] if 1 <= t <= 4 else "<unknown>")]
    s = "\tBAR=%d offset=%08x size=%08x" % (v("BAR"), v("offset"), v("size"))
    if "multiplier" in c.regs:
        s += " multiplier=%08x" % v("multiplier")
    out.append(s)
    if "offset_hi" in c.regs:      # lspci 3.9 shows the low halves only: the whole region
        out.append("\tVirtIO %s: id %d, BAR %d, offset 0x%x, size 0x%x (64-bit)" % (
            c.info["virtio"], v("ID"), v("BAR"), v("offset_hi") << 32 | v("offset"), v("size_hi") << 32 | v("size")))
    elif not 1 <= t <= 4:
        out.append("\tVirtIO structure type %d (%s)" % (t, c.info["virtio"]))
    return out


@capability("ext", 0x000B, "Vendor Specific Information", span=0x08)
def decode_evndr(a: Access, c: CapResult, ctx: Ctx) -> None:
    read_regs(c, a, c.offset, (EVNDR,))


@text_for("ext", 0x000B)
def text_evndr(c: CapResult, ctx: Ctx) -> List[str]:
    h = c.r("Header")
    if h is None:
        return ["Vendor Specific Information: <unreadable>"]
    return ["Vendor Specific Information: ID=%04x Rev=%d Len=%03x <?>" % (h["ID"], h["Rev"], h["Len"])]


RANGE_FIELDS = "Valid@0 Active@1 Type@2:3 Class@5:3 Interleave@8:5 Timeout@13:3"
INTERLEAVE = (0, 256, 4096, 512, 1024, 2048, 8192, 16384)
RANGE_TYPE = ("Volatile", "Non-volatile", "CDAT", "?")
RANGE_CLASS = ("DRAM", "Storage", "CDAT", "?")
# lspci's words for a range's size-low register (it reads Type with two bits, Interleave with three)
RANGE_WORDS = {"Type": lambda r: RANGE_TYPE[r["Type"] & 3],
               "Class": lambda r: RANGE_CLASS[r["Class"] & 3] if r["Class"] < 3 else "?",
               "interleave": lambda r: "%d" % INTERLEAVE[r["Interleave"] & 7],
               "timeout": lambda r: "%ds" % (1 << (r["Timeout"] * 2))}
# CXL DVSECs (CXL 2.0 chapter 8.1), by DVSEC ID: registers at offsets from the capability
CXL_DEVICE = (Register("CXLCap", 0x0A, 2, "Cache@0 IO@1 Mem@2 MemHWInit@3 HDMCount@4:2 Viral@14"),
              Register("CXLCtl", 0x0C, 2, "Cache@0 IO@1 Mem@2 CacheSFCov@3:5 CacheSFGran@8:3 "
                       "CacheClean@11 Viral@14"),
              Register("CXLSta", 0x0E, 2, "Viral@14"),
              Register("CXLSta2", 0x12, 2, "ResetComplete@1 ResetError@2 PMComplete@15"),
              Register("CXLCap2", 0x16, 2, "CacheUnit@0:4 CacheSize@8:8"),
              Register("Range1SizeHi", 0x18, 4), Register("Range1SizeLo", 0x1C, 4, RANGE_FIELDS, RANGE_WORDS),
              Register("Range1BaseHi", 0x20, 4), Register("Range1BaseLo", 0x24, 4),
              Register("Range2SizeHi", 0x28, 4), Register("Range2SizeLo", 0x2C, 4, RANGE_FIELDS, RANGE_WORDS),
              Register("Range2BaseHi", 0x30, 4), Register("Range2BaseLo", 0x34, 4))
CXL_PORT = (Register("CXLPortSta", 0x0A, 2, "PMComplete@0"),
            Register("CXLPortCtl", 0x0C, 2, "UnmaskSBR@0 UnmaskLinkDisable@1 AltMem@2 AltBME@3 "
                     "ViralEnable@14"),
            Register("AltBusBase", 0x0E, 1), Register("AltBusLimit", 0x0F, 1),
            Register("AltMemBase", 0x10, 2), Register("AltMemLimit", 0x12, 2))
CXL_GPF_PORT = (Register("Phase1", 0x0C, 2, "Base@0:4 Scale@8:4"), Register("Phase2", 0x0E, 2, "Base@0:4 Scale@8:4"))
CXL_GPF_DEV = (Register("Phase2Duration", 0x0A, 2, "Base@0:4 Scale@8:4"), Register("Phase2Power", 0x0C, 4))
CXL_FLEXBUS = (Register("FBCap", 0x0A, 2, "Cache@0 IO@1 Mem@2 68BFlit@5 MltLogDev@6 256BFlit@13 PBRFlit@14"),
               Register("FBCtl", 0x0C, 2, "Cache@0 IO@1 Mem@2 SynHdrByp@3 DrftBuf@4 68BFlit@5 MltLogDev@6 "
                        "RCD@7 Retimer1@8 Retimer2@9 256BFlit@13 PBRFlit@14"),
               Register("FBSta", 0x0E, 2, "Cache@0 IO@1 Mem@2 SynHdrByp@3 DrftBuf@4 68BFlit@5 MltLogDev@6 "
                        "256BFlit@13 PBRFlit@14"),
               Register("FBModTS", 0x10, 4, "Data@0:24"),
               Register("FBCap2", 0x14, 4, "NOPHint@0"), Register("FBCtl2", 0x18, 4, "NOPHint@0"),
               Register("FBSta2", 0x1C, 4, "NOPHintInfo@0:2"))
CXL_MLD = (Register("NumLogDevs", 0x0A, 2),)
CXL_FUNMAP = tuple(Register("FuncMap %d" % i, 0x0C + 4 * i, 2) for i in range(8))
CXL_REGS = {0: CXL_DEVICE, 2: CXL_FUNMAP, 3: CXL_PORT, 4: CXL_GPF_PORT, 5: CXL_GPF_DEV, 7: CXL_FLEXBUS,
            9: CXL_MLD}


@capability("ext", 0x0023, "Designated Vendor-Specific", span=0x1000)   # its own length
def decode_dvsec(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not read_regs(c, a, c.offset, (DVSEC1, DVSEC2)):
        return
    h = c.reg("Header1")
    length, did = h["Len"], c.reg("Header2").value
    c.info.update(vendor=h["Vendor"], id=did, rev=h["Rev"], length=length)
    if h["Vendor"] != CXL_VENDOR or length < 16 or not a.has(c.offset, length):
        return
    sub = Access(a.raw, min(a.n, c.offset + length))      # a DVSEC's registers stay inside its length
    if did == 8:
        blocks = []
        i = 0
        while c.offset + 0x0C + 8 * i + 7 < c.offset + length:
            lo = Register("Block%dLo" % (i + 1), 0x0C + 8 * i, 4, "BIR@0:3 ID@8:8 OffsetLo@16:16")
            hi = Register("Block%dHi" % (i + 1), 0x10 + 8 * i, 4)
            if not read_regs(c, sub, c.offset, (lo, hi)):
                break
            blocks.append(i + 1)
            i += 1
        c.info["blocks"] = blocks
    elif did in CXL_REGS:
        read_regs(c, sub, c.offset, CXL_REGS[did])


@text_for("ext", 0x0023)
def text_dvsec(c: CapResult, ctx: Ctx) -> List[str]:
    if "length" not in c.info:
        return ["Designated Vendor-Specific: <unreadable>"]
    i = c.info
    head = "Designated Vendor-Specific: Vendor=%04x ID=%04x Rev=%d Len=%d" % (i["vendor"], i["id"], i["rev"],
                                                                             i["length"])
    if i["vendor"] != CXL_VENDOR or i["length"] < 16:
        return [head + " <?>"]
    return [head + ": CXL"] + _cxl(c, i["id"], i["rev"])


CXL_BLOCK_IDS = {0: "empty", 1: "component registers", 2: "BAR virtualization", 3: "CXL device registers",
                 4: "CPMU registers", 0xFF: "vendor-specific"}


def _gpf(r: Reg, label: str) -> List[str]:
    base, scale = r["Base"], r["Scale"]
    out = []
    mult = {0: 1, 1: 10, 2: 100, 3: 1, 4: 10, 5: 100, 6: 1, 7: 10}.get(scale)
    if mult is None:
        out.append("\tReserved time scale encoding %x" % scale)
        mult = 1
    unit = "us" if scale < 3 else "ms" if scale < 6 else "s" if scale == 6 else "<?>"
    return out + ["\t%s: %d%s" % (label, base * mult, unit)]


def _cxl(c: CapResult, did: int, rev: int) -> List[str]:
    g, reg = c.regs.get, c.reg      # g() tests for a register, reg() takes one the test found
    out: List[str] = []
    if did == 0:
        if rev < 1 or g("Range2BaseLo") is None or c.info["length"] < 0x38:
            return out
        cap, ctl = reg("CXLCap"), reg("CXLCtl")
        out += ["\tCXLCap:\t%s Mem HW Init%s HDMCount %d %s" % (cap.flag("Cache", "IO", "Mem"),
                                                              "+" if cap["MemHWInit"] else "-",
                                                              cap["HDMCount"], cap.flag("Viral")),
                "\tCXLCtl:\t%s Cache SF Cov %d Cache SF Gran %d Cache Clean%s %s" % (
                    ctl.flag("Cache", "IO", "Mem"), ctl["CacheSFCov"], ctl["CacheSFGran"],
                    "+" if ctl["CacheClean"] else "-", ctl.flag("Viral")),
                "\tCXLSta:\t" + reg("CXLSta").flag("Viral"),
                "\tCXLSta2:\t" + reg("CXLSta2").flag("ResetComplete", "ResetError", "PMComplete")]
        c2 = reg("CXLCap2")
        unit, size = c2["CacheUnit"], c2["CacheSize"]
        out.append("\tCache Size: %08x" % (size << 20) if unit == 2 else "\tCache Size: %08x" % (size * (64 << 10))
                   if unit == 1 else "\tCache Size Not Reported" if unit == 0 else
                   "\tCache Size: %d of unknown unit size (%d)" % (size, unit))
        for n in (1, 2):
            lo = reg("Range%dSizeLo" % n)
            size = (reg("Range%dSizeHi" % n).value << 32 | lo.value) & ~0x0FFFFFFF
            base = reg("Range%dBaseHi" % n).value << 32 | reg("Range%dBaseLo" % n).value
            out += ["\tRange%d: %016x-%016x" % (n, base, (base + size - 1) & (2 ** 64 - 1)),
                    "\t\t%s Type=%s Class=%s interleave=%s timeout=%s" % (
                        lo.flag("Valid", "Active"), lo.word("Type"), lo.word("Class"), lo.word("interleave"),
                        lo.word("timeout"))]
    elif did == 2 and g("FuncMap 7") is not None:
        out += ["\tFuncMap %d: %08x" % (i, reg("FuncMap %d" % i).value) for i in range(8)]
    elif did == 3 and g("AltMemLimit") is not None and c.info["length"] >= 0x28:
        out += ["\tCXLPortSta:\t" + reg("CXLPortSta").flag("PMComplete"),
                "\tCXLPortCtl:\t" + reg("CXLPortCtl").flag("UnmaskSBR", "UnmaskLinkDisable", "AltMem", "AltBME",
                                                           "ViralEnable"),
                "\tAlternateBus:\t%02x-%02x" % (reg("AltBusBase").value, reg("AltBusLimit").value),
                "\tAlternateBus:\t%04x-%04x" % (reg("AltMemBase").value, reg("AltMemLimit").value)]
    elif did == 4 and g("Phase2") is not None:
        out += _gpf(reg("Phase1"), "GPF Phase 1 Timeout") + _gpf(reg("Phase2"), "GPF Phase 2 Timeout")
    elif did == 5 and g("Phase2Power") is not None:
        out += _gpf(reg("Phase2Duration"), "GPF Phase 2 Duration")
        out.append("\tGPF Phase 2 Power: %dmW" % reg("Phase2Power").value)
    elif did == 7:
        if rev < 1:
            return ["\tRevision %d not supported" % rev]
        if g("FBModTS") is None:
            return out
        more = ("256BFlit", "PBRFlit") if rev > 1 else ()
        out += ["\tFBCap:\t" + reg("FBCap").flag("Cache", "IO", "Mem", "68BFlit", "MltLogDev", *more),
                "\tFBCtl:\t" + reg("FBCtl").flag("Cache", "IO", "Mem", "SynHdrByp", "DrftBuf", "68BFlit",
                                                 "MltLogDev", "RCD", "Retimer1", "Retimer2", *more),
                "\tFBSta:\t" + reg("FBSta").flag("Cache", "IO", "Mem", "SynHdrByp", "DrftBuf", "68BFlit",
                                                 "MltLogDev", *more),
                "\tFBModTS:\tReceived FB Data: %06x" % reg("FBModTS")["Data"]]
        if rev > 1 and g("FBSta2") is not None:
            out += ["\tFBCap2:\t" + reg("FBCap2").flag("NOPHint"), "\tFBCtl2:\t" + reg("FBCtl2").flag("NOPHint"),
                    "\tFBSta2:\tNOPHintInfo: %x" % reg("FBSta2")["NOPHintInfo"]]
    elif did == 8:
        for n in c.info.get("blocks", ()):
            lo, hi = reg("Block%dLo" % n), reg("Block%dHi" % n)
            if not lo["ID"]:
                continue
            out.append("\tBlock%d: BIR: bar%d, ID: %s, offset: %016x" % (
                n, lo["BIR"], CXL_BLOCK_IDS.get(lo["ID"], "<?>"), lo["OffsetLo"] << 16 | hi.value << 32))
    elif did == 9 and g("NumLogDevs") is not None:
        w = reg("NumLogDevs").value
        if w and w <= 16:
            out.append("\tNumLogDevs: %d" % w)
    elif did not in CXL_REGS and did != 8:
        out.append("\tUnknown ID %04x" % did)
    return out
