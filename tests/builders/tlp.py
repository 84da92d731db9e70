"""TLP headers built byte by byte in wire order (the PCI Express Base Specification's header
layouts), and a real device's config space (aer-uncor's guest lspci -xxxx) with one stored in
its AER Header Log, or with a DPC capability appended."""

from pykdump_ext.pci import config, lspci_hex, regs
from tests.shared import DATA

DEVS = lspci_hex.parse_lspci_hex((DATA / "lspci" / "aer-uncor" / "lspci-xxxx.txt").read_text())


def dw0(fmt, typ, length=0, tc=0, attr=0, td=0, ep=0, at=0, th=0, t9=0, t8=0):
    """First TLP dword as 4 wire bytes, field by field (spec: Fmt[7:5] Type[4:0] | T9 TC T8 Attr2 LN TH |
    TD EP Attr[1:0] AT Length[9:8] | Length[7:0])."""
    b0 = fmt << 5 | typ
    b1 = t9 << 7 | tc << 4 | t8 << 3 | (attr >> 2 & 1) << 2 | th
    b2 = td << 7 | ep << 6 | (attr & 3) << 4 | at << 2 | length >> 8
    return bytes((b0, b1, b2, length & 0xFF))


def req_dw1(rid, tag, last_be, first_be):
    return rid.to_bytes(2, "big") + bytes((tag, last_be << 4 | first_be))


def wire_to_log(wire):
    """16 wire bytes -> the 16 config-space bytes of the Header Log (each dword little-endian)."""
    wire = wire.ljust(16, b"\0")
    return b"".join(wire[i:i + 4][::-1] for i in range(0, 16, 4))


CASES = {
    "mrd64": (dw0(1, 0x00, length=4, tc=2, attr=0b011) + req_dw1(0x0100, 0x2A, 0xF, 0xF)
              + (0x00000012).to_bytes(4, "big") + (0x3456789C).to_bytes(4, "big")),
    "mrd32": dw0(0, 0x00, length=1, ep=1) + req_dw1(0x0018, 0x05, 0x0, 0x3) + (0xFEBF1000).to_bytes(4, "big"),
    "mwr32": dw0(2, 0x00, length=0x3FF, td=1) + req_dw1(0x0300, 0xFF, 0xF, 0xF) + (0xFD600004).to_bytes(4, "big"),
    "mwr64": dw0(3, 0x00, length=0, tc=7) + req_dw1(0x0400, 0x01, 0xF, 0xF) + (0x1).to_bytes(4, "big")
             + (0x80000000).to_bytes(4, "big"),
    "iord": dw0(0, 0x02, length=1) + req_dw1(0x0000, 0x10, 0x0, 0xF) + (0x0000E080).to_bytes(4, "big"),
    "iowr": dw0(2, 0x02, length=1) + req_dw1(0x0000, 0x11, 0x0, 0x1) + (0x00000CF8).to_bytes(4, "big"),
    "cfgrd0": dw0(0, 0x04, length=1) + req_dw1(0x0000, 0x07, 0x0, 0xF) + bytes((0x01, 0x00 << 3 | 0, 0x01, 0x04)),
    "cfgwr1": dw0(2, 0x05, length=1) + req_dw1(0x0000, 0x08, 0x0, 0x3) + bytes((0x05, 0x1F << 3 | 7, 0x0F, 0xFC)),
    "msg_err_fatal": dw0(1, 0x10) + bytes((0x01, 0x00, 0x00, 0x33)) + bytes(8),
    "msg_by_id": dw0(1, 0x12) + bytes((0x00, 0x10, 0x00, 0x7E)) + bytes((0x04, 0x00, 0x1A, 0xF4)) + bytes(4),
    "msgd_by_id": dw0(3, 0x12, length=2) + bytes((0x00, 0x10, 0x03, 0x7F)) + bytes((0x04, 0x00, 0x1A, 0xF4)) + bytes(4),
    "cpl_ur": dw0(0, 0x0A) + bytes((0x01, 0x00, 0x1 << 5, 0x04)) + bytes((0x00, 0x10, 0x2A, 0x00)),
    "cpld": dw0(2, 0x0A, length=2) + bytes((0x01, 0x00, 0x00 | 0x1 << 4 | 0x0, 0x08))
            + bytes((0x00, 0x10, 0x2B, 0x44)),
    "cpllk_ca": dw0(0, 0x0B) + bytes((0x02, 0x08, 0x4 << 5, 0x00)) + bytes((0x00, 0x00, 0x01, 0x00)),
    "cpldlk": dw0(2, 0x0B, length=1) + bytes((0x02, 0x08, 0x00, 0x04)) + bytes((0x00, 0x00, 0x02, 0x00)),
    "fetchadd": dw0(2, 0x0C, length=1) + req_dw1(0x0100, 0x33, 0x0, 0xF) + (0xFE000010).to_bytes(4, "big"),
    "swap64": dw0(3, 0x0D, length=2) + req_dw1(0x0100, 0x34, 0xF, 0xF) + (0x2).to_bytes(4, "big")
              + (0x00001000).to_bytes(4, "big"),
    "cas": dw0(2, 0x0E, length=4) + req_dw1(0x0100, 0x35, 0xF, 0xF) + (0xFE000020).to_bytes(4, "big"),
    "tcfgrd": dw0(0, 0x1B, length=1) + req_dw1(0x0000, 0x01, 0x0, 0xF) + bytes((0x02, 0x00, 0x00, 0x08)),
    "prefix_pasid": dw0(4, 0x11) + bytes(12),
    "tag10": dw0(0, 0x00, length=1, t9=1, t8=1) + req_dw1(0x0100, 0x80, 0x0, 0xF) + (0x1000).to_bytes(4, "big"),
}


def with_header_log(bdf, wire):
    raw = bytearray(DEVS[bdf])
    aer = config.decode(bytes(raw)).aer.offset
    raw[aer + regs.AER_HEADER_LOG:aer + regs.AER_HEADER_LOG + 16] = wire_to_log(wire)
    return bytes(raw)


def with_dpc(status, source, rp_pio_status=0, cap=0x0420 | 3, ctl=0x0002 | 0x0008):
    """Root port 00:02.0 with a DPC capability appended at 0x180 (ACS at 0x148 points to it)."""
    raw = bytearray(DEVS["0000:00:02.0"])
    hdr = int.from_bytes(raw[0x148:0x14C], "little")
    raw[0x148:0x14C] = ((hdr & 0xFFFFF) | 0x180 << 20).to_bytes(4, "little")
    raw[0x180:0x184] = (regs.EXT_CAP_ID_DPC | 1 << 16).to_bytes(4, "little")
    raw[0x184:0x186] = cap.to_bytes(2, "little")
    raw[0x186:0x188] = ctl.to_bytes(2, "little")
    raw[0x188:0x18A] = status.to_bytes(2, "little")
    raw[0x18A:0x18C] = source.to_bytes(2, "little")
    raw[0x18C:0x190] = rp_pio_status.to_bytes(4, "little")
    return bytes(raw)
