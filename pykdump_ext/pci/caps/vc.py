"""Virtual Channel (extended IDs 0x0002 and 0x0009) and Multi-Function Virtual Channel
(0x0008, the same layout): port VC capabilities, arbitration capabilities, one entry per VC
resource, and the VC and Port Arbitration Tables (lspci shows "<?>" for those; pcicrash
decodes them from the config bytes); Root Complex Link Declaration (0x0005)."""

from __future__ import annotations

from typing import List, Optional

from .access import Access
from .model import CapResult, Register, read_regs
from .registry import Ctx, capability, text_for

ARB = ("Fixed", "WRR32", "WRR64", "WRR128", "??4", "??5", "??6", "??7")
VC_ARB = ("Fixed", "WRR32", "WRR64", "WRR128", "TWRR128", "WRR256", "??6", "??7")
PORT = (Register("Caps", 0x04, 4, "EVCCnt@0:3 LPEVC@4:3 RefClk@8:2 PATEntryBits@10:2",
                 words={"RefClk": {0: "100ns"}, "PATEntryBits": lambda r: "%d" % (1 << r["PATEntryBits"])}),
        Register("Arb", 0x08, 4, "Fixed@0 WRR32@1 WRR64@2 WRR128@3 ??4@4 ??5@5 ??6@6 ??7@7 VATOffset@24:8"),
        Register("Ctrl", 0x0C, 2, "LoadVAT@0 ArbSelect@1:3", words={"ArbSelect": ARB}),
        Register("Status", 0x0E, 2, "InProgress@0"))
RES_CAP = "Fixed@0 WRR32@1 WRR64@2 WRR128@3 TWRR128@4 WRR256@5 ??6@6 ??7@7 RejSnoopTrans@15 " \
          "MaxTimeSlots@16:7 PATOffset@24:8"
RES_CTL = "TC/VC@0:8 LoadPAT@16 ArbSelect@17:3 ID@24:3 Enable@31"
RES_STA = "InProgress@0 NegoPending@1"
RESOURCE = (Register("Caps", 0, 4, RES_CAP, words={"MaxTimeSlots": lambda r: "%d" % (r["MaxTimeSlots"] + 1)}),
            Register("Ctrl", 4, 4, RES_CTL, words={"ArbSelect": VC_ARB}),
            Register("Status", 10, 2, RES_STA))


@capability("ext", 0x0002, "Virtual Channel", span=0x1000)   # the tables lie anywhere after it
def decode(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not a.has(c.offset + 4, 0x18) or not read_regs(c, a, c.offset, PORT):
        return
    vat = c.reg("Arb")["VATOffset"]
    phases = VAT_PHASES.get(c.reg("Ctrl")["ArbSelect"])
    if vat and phases:          # 4 bits a phase: the VC ID that owns it
        c.info["vc_arbitration_table"] = _table(a, c.offset + 16 * vat, phases, 4, 7)
    bits = 1 << c.reg("Caps")["PATEntryBits"]
    for i in range(c.reg("Caps")["EVCCnt"] + 1):
        pos = c.offset + 0x10 + 12 * i
        e = CapResult("vc-resource", i, pos, "VC%d" % i)
        if a.has(pos, 12):
            read_regs(e, a, pos, RESOURCE)
            pat = e.reg("Caps")["PATOffset"]
            phases = PAT_PHASES.get(e.reg("Ctrl")["ArbSelect"])
            if pat and phases:  # PATEntryBits bits a phase: the port number that owns it
                e.info["port_arbitration_table"] = _table(a, c.offset + 16 * pat, phases, bits, (1 << bits) - 1)
        c.entries.append(e)


# phases of the VC Arbitration Table per VC arbitration (WRR32/64/128) and of a Port
# Arbitration Table per port arbitration (WRR32/64/128, time-based WRR128, WRR256)
VAT_PHASES = {1: 32, 2: 64, 3: 128}
PAT_PHASES = {1: 32, 2: 64, 3: 128, 4: 128, 5: 256}


def _table(a: Access, pos: int, phases: int, bits: int, mask: int) -> Optional[List[int]]:
    """An arbitration table of `phases` entries of `bits` bits, or None beyond the bytes."""
    data = a.bytes(pos, phases * bits // 8)
    if len(data) < phases * bits // 8:
        return None
    v = int.from_bytes(data, "little")
    return [(v >> (bits * i)) & mask for i in range(phases)]


capability("ext", 0x0009, "Virtual Channel", span=0x1000)(decode)
capability("ext", 0x0008, "Multi-Function Virtual Channel", span=0x1000)(decode)


@text_for("ext", 0x0002, needs="Status")
def text(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    caps, arb, ctl = c.reg("Caps"), c.reg("Arb"), c.reg("Ctrl")
    out += ["\tCaps:\tLPEVC=%d RefClk=%s PATEntryBits=%s" % (
                caps["LPEVC"], caps.word("RefClk"), caps.word("PATEntryBits")),
            "\tArb:\t" + " ".join(n + ("+" if arb[n] else "-") for n in ARB if n[0] != "?" or arb[n]),
            "\tCtrl:\tArbSelect=%s" % ctl.word("ArbSelect"),
            "\tStatus:\t" + c.reg("Status").flag("InProgress")]
    if arb["VATOffset"]:
        out.append("\tPort Arbitration Table [%x] <?>" % (c.offset + 16 * arb["VATOffset"]))
        out += _table_lines("\t\tVC Arbitration Table (VC ID by phase)", c.info.get("vc_arbitration_table"))
    for e in c.entries:
        if "Status" not in e.regs:
            out.append("\tVC%d:\t<unreadable>" % e.id)
            continue
        rc, rl = e.reg("Caps"), e.reg("Ctrl")
        out += ["\tVC%d:\tCaps:\tPATOffset=%02x MaxTimeSlots=%s %s" % (
                    e.id, rc["PATOffset"], rc.word("MaxTimeSlots"), rc.flag("RejSnoopTrans")),
                "\t\tArb:\t" + " ".join(n + ("+" if rc[n] else "-") for n in VC_ARB if n[0] != "?" or rc[n]),
                "\t\tCtrl:\t%s ID=%d ArbSelect=%s TC/VC=%02x" % (rl.flag("Enable"), rl["ID"], rl.word("ArbSelect"),
                                                                 rl["TC/VC"]),
                "\t\tStatus:\t" + e.reg("Status").flag("NegoPending", "InProgress")]
        if rc["PATOffset"]:
            out.append("\t\tPort Arbitration Table <?>")
            out += _table_lines("\t\t\tPort Arbitration Table (port by phase)", e.info.get("port_arbitration_table"))
    return out


def _table_lines(label: str, table: Optional[List[int]]) -> List[str]:
    """pcicrash's lines for an arbitration table lspci does not decode: 32 phases a line."""
    if not table:
        return []
    return [label + " %d-%d: %s" % (i, min(i + 32, len(table)) - 1, " ".join("%x" % x for x in table[i:i + 32]))
            for i in range(0, len(table), 32)]


text_for("ext", 0x0008, needs="Status")(text)
text_for("ext", 0x0009, needs="Status")(text)

RCLINK_ESD = Register("Desc", 0x04, 4, "EltType@0:8 NumLinks@8:8 ComponentID@16:8 PortNumber@24:8",
                      words={"EltType": ("Config", "Egress", "Internal")})
RCLINK = (Register("Desc", 0, 4, "LinkValid@0 LinkType@1 AssocRCRB@2 TargetComponent@16:8 TargetPort@24:8",
                   words={"LinkType": ("MemMapped", "Config")}),
          # the link's address, one 64-bit register (lspci's "Addr:"); for a configuration-space
          # link its low bits hold the target's bus number width and device/function
          Register("Addr", 8, 8, words={"CfgSpace": lambda r: "%016x" % r.value}))


@capability("ext", 0x0005, "Root Complex Link", span=0x1000)   # up to 255 links
def decode_rclink(a: Access, c: CapResult, ctx: Ctx) -> None:
    if not a.has(c.offset + 4, 12) or not read_regs(c, a, c.offset, (RCLINK_ESD,)):
        return
    for i in range(c.reg("Desc")["NumLinks"]):
        pos = c.offset + 0x10 + 16 * i
        e = CapResult("rc-link", i, pos, "Link%d" % i)
        if a.has(pos, 16):
            read_regs(e, a, pos, RCLINK)
        c.entries.append(e)
        if "Addr" not in e.regs:
            break


@text_for("ext", 0x0005, needs="Desc")
def text_rclink(c: CapResult, ctx: Ctx) -> List[str]:
    out = [c.name]
    d = c.reg("Desc")
    out.append("\tDesc:\tPortNumber=%02x ComponentID=%02x EltType=%s" % (
        d["PortNumber"], d["ComponentID"], d.word("EltType")))
    for e in c.entries:
        if "Addr" not in e.regs:
            out.append("\tLink%d:\t<unreadable>" % e.id)
            break
        ld, addr = e.reg("Desc"), e.reg("Addr")
        lo = addr.value & 0xFFFFFFFF
        out.append("\tLink%d:\tDesc:\tTargetPort=%02x TargetComponent=%02x %s LinkType=%s %s" % (
            e.id, ld["TargetPort"], ld["TargetComponent"], ld.flag("AssocRCRB"),
            ld.word("LinkType"), ld.flag("LinkValid")))
        if ld["LinkType"]:
            n = lo & 7 or 8
            out.append("\t\tAddr:\t%02x:%02x.%d  CfgSpace=%s" % (
                (lo >> 20) & ((1 << n) - 1), (lo >> 15) & 0x1F, (lo >> 12) & 7, addr.word("CfgSpace")))
        else:
            out.append("\t\tAddr:\t%016x" % addr.value)
    return out
