"""Decode the TLP header an AER (or DPC RP PIO) Header Log captured.

The Header Log holds the first 4 dwords of the TLP that caused the error.
Each dword, read from config space as a little-endian 32-bit value (what the
kernel prints as "TLP Header: %08x %08x %08x %08x" and lspci as "HeaderLog:"),
carries TLP byte 0 of that dword in bits 31:24: the dword values are the TLP's
bytes in wire order read big-endian.  Field positions per the PCI Express Base
Specification (TLP header formats, chapter 2).  Pure, standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from .bdf import rid_bdf

# (fmt, type) -> kind.  fmt: 0 3DW no data, 1 4DW no data, 2 3DW data, 3 4DW data, 4 prefix.
TLP_KINDS = {
    (0, 0x00): "MRd(3DW)", (1, 0x00): "MRd(4DW)",
    (0, 0x01): "MRdLk(3DW)", (1, 0x01): "MRdLk(4DW)",
    (2, 0x00): "MWr(3DW)", (3, 0x00): "MWr(4DW)",
    (0, 0x02): "IORd", (2, 0x02): "IOWr",
    (0, 0x04): "CfgRd0", (2, 0x04): "CfgWr0",
    (0, 0x05): "CfgRd1", (2, 0x05): "CfgWr1",
    (0, 0x1B): "TCfgRd", (2, 0x1B): "TCfgWr", (3, 0x1B): "DMWr(4DW)",
    (0, 0x0A): "Cpl", (2, 0x0A): "CplD",
    (0, 0x0B): "CplLk", (2, 0x0B): "CplDLk",
    (2, 0x0C): "FetchAdd(3DW)", (3, 0x0C): "FetchAdd(4DW)",
    (2, 0x0D): "Swap(3DW)", (3, 0x0D): "Swap(4DW)",
    (2, 0x0E): "CAS(3DW)", (3, 0x0E): "CAS(4DW)",
}
# What each kind is, to pick the layout of dwords 1..3
MEMORY_TYPES = frozenset((0x00, 0x01, 0x0C, 0x0D, 0x0E))     # + DMWr (fmt 3, type 0x1B)
IO_TYPES = frozenset((0x02,))
CONFIG_TYPES = frozenset((0x04, 0x05, 0x1B))
COMPLETION_TYPES = frozenset((0x0A, 0x0B))
MESSAGE_TYPE_MASK = 0x18        # type 10rrr
MESSAGE_TYPE_VALUE = 0x10

MESSAGE_ROUTING = {
    0: "routed to Root Complex",
    1: "routed by address",
    2: "routed by ID",
    3: "broadcast from Root Complex",
    4: "local, terminate at receiver",
    5: "gathered and routed to Root Complex",
    6: "reserved routing 6",
    7: "reserved routing 7",
}
MESSAGE_CODES = {
    0x00: "Unlock",
    0x01: "Invalidate Request",
    0x02: "Invalidate Completion",
    0x04: "Page Request",
    0x05: "PRG Response",
    0x10: "LTR",
    0x12: "OBFF",
    0x14: "PM_Active_State_Nak",
    0x18: "PM_PME",
    0x19: "PME_Turn_Off",
    0x1B: "PME_TO_Ack",
    0x20: "Assert_INTA", 0x21: "Assert_INTB", 0x22: "Assert_INTC", 0x23: "Assert_INTD",
    0x24: "Deassert_INTA", 0x25: "Deassert_INTB", 0x26: "Deassert_INTC", 0x27: "Deassert_INTD",
    0x30: "ERR_COR",
    0x31: "ERR_NONFATAL",
    0x33: "ERR_FATAL",
    0x40: "Attention_Indicator_Off", 0x41: "Attention_Indicator_On",
    0x43: "Attention_Indicator_Blink", 0x44: "Power_Indicator_On",
    0x45: "Power_Indicator_Blink", 0x47: "Power_Indicator_Off",
    0x48: "Attention_Button_Pressed",
    0x50: "Set_Slot_Power_Limit",
    0x52: "PTM Request",
    0x53: "PTM Response",
    0x7E: "Vendor_Defined Type 0",
    0x7F: "Vendor_Defined Type 1",
}
COMPLETION_STATUS = {
    0: "SC (Successful Completion)",
    1: "UR (Unsupported Request)",
    2: "CRS (Configuration Request Retry Status)",
    4: "CA (Completer Abort)",
}
# TLP prefixes (fmt 4): type bit 4 = end-to-end
PREFIX_KINDS = {
    0x00: "Local Prefix MR-IOV",
    0x0E: "Local Prefix VendPrefixL0",
    0x0F: "Local Prefix VendPrefixL1",
    0x10: "End-End Prefix ExtTPH",
    0x11: "End-End Prefix PASID",
    0x1E: "End-End Prefix VendPrefixE0",
    0x1F: "End-End Prefix VendPrefixE1",
}
ATTR_NAMES = ((0x1, "NS"), (0x2, "RO"), (0x4, "IDO"))   # No Snoop, Relaxed Ordering, ID-based Ordering
AT_NAMES = {0: "untranslated", 1: "translation request", 2: "translated", 3: "reserved"}


@dataclass
class Tlp:
    """A TLP header (from an AER Header Log) decoded: format, type, and its fields."""
    dwords: Tuple[int, int, int, int]
    fmt: int
    type: int
    kind: str                  # "MRd(4DW)", "CplD", "Msg", ...
    category: str              # memory | io | config | completion | message | prefix | unknown
    header_dwords: int         # 3 or 4 (per fmt); 1 for a prefix
    has_data: bool
    length: int                # payload length in DW (0 encodes 1024)
    tc: int
    attr: int                  # 3 bits: IDO RO NS
    th: bool
    td: bool                   # TLP digest (ECRC) present
    ep: bool                   # poisoned
    at: int
    requester_id: Optional[int] = None
    tag: Optional[int] = None
    first_be: Optional[int] = None
    last_be: Optional[int] = None
    address: Optional[int] = None
    address_bits: Optional[int] = None   # 32 or 64
    completer_id: Optional[int] = None
    completion_status: Optional[int] = None
    completion_status_name: Optional[str] = None
    bcm: Optional[bool] = None
    byte_count: Optional[int] = None
    lower_address: Optional[int] = None
    target_id: Optional[int] = None      # config requests and ID-routed messages
    register: Optional[int] = None       # config requests: byte offset of the dword
    message_code: Optional[int] = None
    message_name: Optional[str] = None
    routing: Optional[int] = None
    routing_name: Optional[str] = None

    @property
    def attr_names(self) -> List[str]:
        return [n for m, n in ATTR_NAMES if self.attr & m]

    def lines(self, domain: int = 0) -> List[str]:
        """Human lines describing the TLP; BDFs in 'dddd:bb:dd.f' form within `domain`."""
        out = ["%s, Fmt %d Type 0x%02x, Length %d DW, TC %d, Attr %s, TD%s EP%s%s" % (
            self.kind, self.fmt, self.type, self.length or (1024 if self.has_data else 0),
            self.tc, "+".join(self.attr_names) or "none", "+" if self.td else "-",
            "+" if self.ep else "-", ", AT %s" % AT_NAMES[self.at] if self.at else "")]
        if self.requester_id is not None:
            out.append("Requester %s, Tag 0x%03x" % (_bdf(domain, self.requester_id), self.tag or 0))
        fbe, lbe = self.first_be, self.last_be
        if fbe is not None and lbe is not None and self.category in ("memory", "io", "config"):
            out.append("First BE 0x%x, Last BE 0x%x" % (fbe, lbe))
        addr, bits = self.address, self.address_bits
        if addr is not None and bits is not None:
            out.append("Address 0x%0*x (%d-bit)" % (16 if bits == 64 else 8, addr, bits))
        if self.category == "config" and self.target_id is not None and self.register is not None:
            out.append("Target %s, Register 0x%03x" % (_bdf(domain, self.target_id), self.register))
        cpl, count, low = self.completer_id, self.byte_count, self.lower_address
        if self.category == "completion" and cpl is not None and count is not None and low is not None:
            out.append("Completer %s, Status %s, Byte Count %d%s, Lower Address 0x%02x" % (
                _bdf(domain, cpl), self.completion_status_name,
                count, " (BCM)" if self.bcm else "", low))
        if self.category == "message" and self.message_code is not None:
            out.append("Message 0x%02x %s, %s%s" % (
                self.message_code, self.message_name or "(unknown code)", self.routing_name,
                ", Target %s" % _bdf(domain, self.target_id) if self.target_id is not None else ""))
        return out


_bdf = rid_bdf


def dwords_from_wire(data: bytes) -> Tuple[int, ...]:
    """TLP bytes in wire order (byte 0 first) -> header-log dword values (big-endian per dword)."""
    n = len(data) // 4
    return tuple(int.from_bytes(data[4 * i:4 * i + 4], "big") for i in range(n))


def decode(dwords: Sequence[int]) -> Optional[Tlp]:
    """Decode 4 header-log dwords; None when all are zero (nothing logged). Never raises."""
    dw = tuple((int(x) & 0xFFFFFFFF) for x in tuple(dwords)[:4])
    dw = dw + (0,) * (4 - len(dw))
    if not any(dw):
        return None
    d0, d1, d2, d3 = dw
    fmt = (d0 >> 29) & 0x7
    typ = (d0 >> 24) & 0x1F
    t9 = (d0 >> 23) & 1
    tc = (d0 >> 20) & 0x7
    t8 = (d0 >> 19) & 1
    attr = ((d0 >> 12) & 0x3) | (((d0 >> 18) & 1) << 2)
    tlp = Tlp(dwords=(d0, d1, d2, d3), fmt=fmt, type=typ, kind="", category="unknown",
              header_dwords=4 if fmt & 1 else 3, has_data=bool(fmt & 2),
              length=d0 & 0x3FF, tc=tc, attr=attr, th=bool((d0 >> 16) & 1),
              td=bool((d0 >> 15) & 1), ep=bool((d0 >> 14) & 1), at=(d0 >> 10) & 0x3)
    ext_tag = (t9 << 9) | (t8 << 8)
    if fmt == 4:
        tlp.kind = PREFIX_KINDS.get(typ, "TLP Prefix 0x%02x" % typ)
        tlp.category = "prefix"
        tlp.header_dwords = 1
        tlp.has_data = False
        return tlp
    if fmt > 4:
        tlp.kind = "Reserved Fmt %d" % fmt
        return tlp
    if (typ & MESSAGE_TYPE_MASK) == MESSAGE_TYPE_VALUE and fmt in (1, 3):
        tlp.category = "message"
        tlp.kind = "MsgD" if tlp.has_data else "Msg"
        tlp.routing = typ & 0x7
        tlp.routing_name = MESSAGE_ROUTING[tlp.routing]
        tlp.requester_id = d1 >> 16
        tlp.tag = ((d1 >> 8) & 0xFF) | ext_tag
        tlp.message_code = d1 & 0xFF
        tlp.message_name = MESSAGE_CODES.get(tlp.message_code)
        if tlp.routing == 2:
            tlp.target_id = d2 >> 16
        elif tlp.routing == 1:
            tlp.address, tlp.address_bits = ((d2 << 32) | (d3 & ~0x3 & 0xFFFFFFFF)), 64
        return tlp
    tlp.kind = TLP_KINDS.get((fmt, typ), "Unknown Fmt %d Type 0x%02x" % (fmt, typ))
    if (fmt, typ) not in TLP_KINDS:
        return tlp
    if typ in COMPLETION_TYPES:
        tlp.category = "completion"
        tlp.completer_id = d1 >> 16
        tlp.completion_status = (d1 >> 13) & 0x7
        tlp.completion_status_name = COMPLETION_STATUS.get(
            tlp.completion_status, "reserved (%d)" % tlp.completion_status)
        tlp.bcm = bool((d1 >> 12) & 1)
        tlp.byte_count = d1 & 0xFFF
        tlp.requester_id = d2 >> 16
        tlp.tag = ((d2 >> 8) & 0xFF) | ext_tag
        tlp.lower_address = d2 & 0x7F
        return tlp
    # Requests: dword 1 = requester ID, tag, last/first DW byte enables
    tlp.requester_id = d1 >> 16
    tlp.tag = ((d1 >> 8) & 0xFF) | ext_tag
    tlp.last_be = (d1 >> 4) & 0xF
    tlp.first_be = d1 & 0xF
    if typ in CONFIG_TYPES and fmt in (0, 2):
        tlp.category = "config"
        tlp.target_id = d2 >> 16
        tlp.register = d2 & 0xFFC
    elif typ in IO_TYPES:
        tlp.category = "io"
        tlp.address, tlp.address_bits = d2 & 0xFFFFFFFC, 32
    else:   # memory, atomics, DMWr
        tlp.category = "memory"
        if fmt & 1:
            tlp.address, tlp.address_bits = (d2 << 32) | (d3 & 0xFFFFFFFC), 64
        else:
            tlp.address, tlp.address_bits = d2 & 0xFFFFFFFC, 32
    return tlp
