"""TLP header-log decoding (tlp.py) and DPC decoding, with byte-built inputs.

TLPs are built byte by byte in wire order from the PCI Express Base
Specification's header layouts, stored into a real device's AER Header Log the
way a device does (TLP byte 0 of each dword in bits 31:24), and the dword
values checked against what the installed `lspci -F` prints as HeaderLog.
"""

import re
import subprocess

import pytest

from tests.shared import needs_lspci
from tests.builders.tlp import CASES, DEVS, with_dpc, with_header_log
from pykdump_ext.pci import config, lspci_hex, tlp
from pykdump_ext.output import tlp_view


# What the specification says each header holds (field values chosen when building it)
EXPECT = {
    "mrd64": dict(kind="MRd(4DW)", category="memory", header_dwords=4, has_data=False, length=4, tc=2,
                  attr=0b011, requester_id=0x0100, tag=0x2A, last_be=0xF, first_be=0xF,
                  address=0x123456789C, address_bits=64),
    "mrd32": dict(kind="MRd(3DW)", ep=True, requester_id=0x0018, tag=5, first_be=3, last_be=0,
                  address=0xFEBF1000, address_bits=32),
    "mwr32": dict(kind="MWr(3DW)", has_data=True, length=0x3FF, td=True, requester_id=0x0300, tag=0xFF,
                  address=0xFD600004),
    "mwr64": dict(kind="MWr(4DW)", tc=7, length=0, address=0x180000000, address_bits=64),
    "iord": dict(kind="IORd", category="io", address=0xE080, first_be=0xF),
    "iowr": dict(kind="IOWr", category="io", address=0xCF8, first_be=1, has_data=True),
    "cfgrd0": dict(kind="CfgRd0", category="config", target_id=0x0100, register=0x104, tag=7),
    "cfgwr1": dict(kind="CfgWr1", category="config", target_id=0x05FF, register=0xFFC, first_be=3),
    "msg_err_fatal": dict(kind="Msg", category="message", routing=0, requester_id=0x0100,
                          message_code=0x33, message_name="ERR_FATAL", target_id=None),
    "msg_by_id": dict(kind="Msg", routing=2, routing_name="routed by ID", target_id=0x0400,
                      message_code=0x7E, requester_id=0x0010),
    "msgd_by_id": dict(kind="MsgD", has_data=True, length=2, tag=3, message_code=0x7F, target_id=0x0400),
    "cpl_ur": dict(kind="Cpl", category="completion", completer_id=0x0100, completion_status=1,
                   byte_count=4, requester_id=0x0010, tag=0x2A, lower_address=0, bcm=False),
    "cpld": dict(kind="CplD", completion_status=0, bcm=True, byte_count=8, lower_address=0x44, tag=0x2B),
    "cpllk_ca": dict(kind="CplLk", completer_id=0x0208, completion_status=4, requester_id=0x0000, tag=1),
    "cpldlk": dict(kind="CplDLk", has_data=True, byte_count=4, tag=2),
    "fetchadd": dict(kind="FetchAdd(3DW)", category="memory", address=0xFE000010, tag=0x33),
    "swap64": dict(kind="Swap(4DW)", address=0x200001000, address_bits=64),
    "cas": dict(kind="CAS(3DW)", length=4, address=0xFE000020),
    "tcfgrd": dict(kind="TCfgRd", category="config", target_id=0x0200, register=0x008),
    "prefix_pasid": dict(kind="End-End Prefix PASID", category="prefix", requester_id=None),
    "tag10": dict(kind="MRd(3DW)", tag=0x380),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tlp_fields(name):
    wire = CASES[name]
    dwords = tlp.dwords_from_wire(wire.ljust(16, b"\0"))
    t = tlp.decode(dwords)
    assert t is not None
    for key, want in EXPECT[name].items():
        assert getattr(t, key) == want, (name, key, getattr(t, key), want)
    lines = tlp_view.lines(t, domain=0)
    assert lines and t.kind in lines[0]
    if t.requester_id is not None:
        assert config.rid_to_bdf(0, t.requester_id) in "\n".join(lines)


def test_zero_log_means_nothing_logged():
    assert tlp.decode((0, 0, 0, 0)) is None
    assert tlp.decode(()) is None


def test_unknown_and_reserved_encodings_do_not_raise():
    assert tlp.decode((0x1F << 24, 1, 2, 3)).kind.startswith("Unknown")
    assert tlp.decode((0xE0000000, 0, 0, 0)).kind.startswith("Reserved")
    assert tlp.decode((0xFFFFFFFF,) * 4) is not None
    assert tlp.decode((1 << 40, -5, "x" and 7, 0)) is not None


@needs_lspci
def test_header_log_dwords_equal_lspci(tmp_path):
    bdfs = sorted(bdf for bdf, raw in DEVS.items() if config.decode(raw).aer is not None)
    names = sorted(CASES)
    devices, expect = {}, {}
    for i, name in enumerate(names):
        bdf = "0000:00:%02x.0" % i        # lspci -F needs no topology: one slot per case
        devices[bdf] = with_header_log(bdfs[i % len(bdfs)], CASES[name])
        expect[bdf] = name
    f = tmp_path / "d.txt"
    f.write_text("".join(lspci_hex.hexdump(b, r) for b, r in devices.items()))
    out = subprocess.run(["lspci", "-F", str(f), "-vvv"], capture_output=True, text=True, check=True).stdout
    shown = {bdf: [l for l in lines if "HeaderLog:" in l][0].split()[1:]
             for bdf, lines in lspci_hex.split_lspci_verbose(out).items()}
    assert set(shown) == set(devices)
    for bdf, raw in devices.items():
        cfg = config.decode(raw)
        assert shown[bdf] == ["%08x" % x for x in cfg.aer.header_log], expect[bdf]
        assert cfg.aer.tlp is not None and cfg.aer.tlp.kind == EXPECT[expect[bdf]]["kind"]
        assert ["%08x" % x for x in tlp.dwords_from_wire(CASES[expect[bdf]].ljust(16, b"\0"))] == shown[bdf]


DPC_CASES = [
    # status, source, rp pio status, expected reason
    (0x0001, 0x0100, 0, "unmasked uncorrectable error"),
    (0x0001 | 1 << 1, 0x0300, 0, "ERR_NONFATAL received"),
    (0x0001 | 2 << 1 | 0x08, 0x0400, 0, "ERR_FATAL received"),
    (0x0001 | 3 << 1 | 0 << 5 | 18 << 8, 0x0000, 1 << 18, "RP PIO error"),
    (0x0001 | 3 << 1 | 1 << 5, 0x0000, 0, "software trigger"),
    (0x0000, 0x0000, 0, ""),
]


@pytest.mark.parametrize("status,source,pio,reason", DPC_CASES)
def test_dpc_decode(status, source, pio, reason):
    cfg = config.decode(with_dpc(status, source, pio))
    assert cfg.problems == []
    d = cfg.dpc
    assert [c.offset for c in cfg.ext_caps] == [0x100, 0x148, 0x180]
    assert d.triggered == bool(status & 1)
    assert d.trigger_reason == reason
    assert d.source_id == source
    assert d.rp_extensions and d.rp_pio_status == pio
    if pio:
        assert d.rp_pio_errors == ["Memory Request Completion Timeout"] and d.rp_pio_fep == 18


@needs_lspci
def test_dpc_agrees_with_lspci(tmp_path):
    devices = {"0000:00:02.%d" % i: with_dpc(s, src, pio) for i, (s, src, pio, _) in enumerate(DPC_CASES)}
    f = tmp_path / "d.txt"
    f.write_text("".join(lspci_hex.hexdump(b, r) for b, r in devices.items()))
    out = subprocess.run(["lspci", "-F", str(f), "-vvv"], capture_output=True, text=True, check=True).stdout
    blocks = lspci_hex.split_lspci_verbose(out)
    for bdf, raw in devices.items():
        d = config.decode(raw).dpc
        text = " ".join(blocks[bdf])
        assert "Capabilities: [180 v1] Downstream Port Containment" in text
        sta = re.search(r"DpcSta:\s+Trigger([+-]) Reason:([0-9a-f]{2}) INT([+-]) RPBusy([+-]) "
                        r"TriggerExt:([0-9a-f]{2}) RP PIO ErrPtr:([0-9a-f]{2})", text)
        assert (sta.group(1) == "+") == d.triggered
        assert int(sta.group(2), 16) == d.trigger_reason_code
        assert (sta.group(3) == "+") == ("INT" in d.status_flags)
        assert int(sta.group(6), 16) == d.rp_pio_fep
        assert int(re.search(r"Source:\s+([0-9a-f]{4})", text).group(1), 16) == d.source_id
        cap = re.search(r"DpcCap:\s+(?:INT Msg #|IntMsgNum )(\d+), RPExt([+-])", text)
        assert int(cap.group(1)) == d.interrupt_message and (cap.group(2) == "+") == d.rp_extensions
