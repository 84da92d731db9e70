"""The text of a decoded TLP header (pci/tlp.Tlp): the lines -a prints under an AER or DPC
RP PIO Header Log, and the kernel log events' decoded TLPs."""

from __future__ import annotations

from typing import List

from pykdump_ext.pci.bdf import rid_bdf
from pykdump_ext.pci.tlp import AT_NAMES, Tlp


def lines(t: Tlp, domain: int = 0) -> List[str]:
    """Human lines describing the TLP; BDFs in 'dddd:bb:dd.f' form within `domain`."""
    out = ["%s, Fmt %d Type 0x%02x, Length %d DW, TC %d, Attr %s, TD%s EP%s%s" % (
        t.kind, t.fmt, t.type, t.length or (1024 if t.has_data else 0),
        t.tc, "+".join(t.attr_names) or "none", "+" if t.td else "-",
        "+" if t.ep else "-", ", AT %s" % AT_NAMES[t.at] if t.at else "")]
    if t.requester_id is not None:
        out.append("Requester %s, Tag 0x%03x" % (rid_bdf(domain, t.requester_id), t.tag or 0))
    fbe, lbe = t.first_be, t.last_be
    if fbe is not None and lbe is not None and t.category in ("memory", "io", "config"):
        out.append("First BE 0x%x, Last BE 0x%x" % (fbe, lbe))
    addr, bits = t.address, t.address_bits
    if addr is not None and bits is not None:
        out.append("Address 0x%0*x (%d-bit)" % (16 if bits == 64 else 8, addr, bits))
    if t.category == "config" and t.target_id is not None and t.register is not None:
        out.append("Target %s, Register 0x%03x" % (rid_bdf(domain, t.target_id), t.register))
    cpl, count, low = t.completer_id, t.byte_count, t.lower_address
    if t.category == "completion" and cpl is not None and count is not None and low is not None:
        out.append("Completer %s, Status %s, Byte Count %d%s, Lower Address 0x%02x" % (
            rid_bdf(domain, cpl), t.completion_status_name,
            count, " (BCM)" if t.bcm else "", low))
    if t.category == "message" and t.message_code is not None:
        out.append("Message 0x%02x %s, %s%s" % (
            t.message_code, t.message_name or "(unknown code)", t.routing_name,
            ", Target %s" % rid_bdf(domain, t.target_id) if t.target_id is not None else ""))
    return out
