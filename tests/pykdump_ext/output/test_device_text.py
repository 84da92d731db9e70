"""device_text.describe() and pciids, checked against lspci -F on the same bytes and pci.ids."""

import re
import subprocess

import pytest

from pykdump_ext.pci import config, lspci_hex, regs
from pykdump_ext.output import device_text
from tests.builders.tlp import CASES, wire_to_log, with_dpc, with_header_log
from tests.shared import DATA, SCENARIOS, SYSTEM_IDS, needs_ids, needs_lspci


def devices(scenario):
    return lspci_hex.parse_lspci_hex((DATA / "lspci" / scenario / "lspci-xxxx.txt").read_text())


def lspci_F(tmp_path, devs, *opts):
    f = tmp_path / "d.txt"
    f.write_text("".join(lspci_hex.hexdump(b, r) for b, r in devs.items()))
    out = subprocess.run(["lspci", "-F", str(f)] + list(opts), capture_output=True, text=True, check=True).stdout
    return lspci_hex.split_lspci_verbose(out)


@needs_lspci
@needs_ids
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_titles_and_subsystems_match_lspci(scenario, tmp_path):
    """Same pci.ids, same bytes: our heading and Subsystem line are lspci's (ids with 0x-less hex as lspci)."""
    devs = devices(scenario)
    want = lspci_F(tmp_path, devs, "-vv", "-nn")
    for bdf, raw in devs.items():
        lines = device_text.describe(config.decode(raw), bdf=bdf, names=SYSTEM_IDS)
        assert lines[0].split(" ", 1)[1] == want[bdf][0].split(" ", 1)[1]
        sub = [l.strip() for l in want[bdf] if l.startswith("\tSubsystem:")]
        assert [l.strip() for l in lines if l.startswith("\tSubsystem:")] == sub
        heads = [re.match(r"\tCapabilities: \[([0-9a-f]+(?: v\d+)?)\]", l) for l in lines]
        lheads = [re.match(r"\tCapabilities: \[([0-9a-f]+(?: v\d+)?)\]", l) for l in want[bdf]]
        assert [m.group(1) for m in heads if m] == [m.group(1) for m in lheads if m]


def test_describe_without_names_shows_numbers():
    raw = devices("aer-uncor")["0000:01:00.0"]
    lines = device_text.describe(config.decode(raw), bdf="0000:01:00.0")
    assert lines[0].startswith("0000:01:00.0 Class [0200]: Device [1af4:1041]")


def test_describe_names_aer_errors_and_source():
    devs = devices("aer-uncor")
    ep = "\n".join(device_text.describe(config.decode(devs["0000:01:00.0"]), bdf="0000:01:00.0"))
    assert re.search(r"\[14\] CmpltTO\s+Completion Timeout: non-fatal, unmasked, FIRST ERROR", ep)
    assert "(nothing logged)" in ep
    rp = "\n".join(device_text.describe(config.decode(devs["0000:00:02.0"]), bdf="0000:00:02.0"))
    assert "ERR_FATAL/NONFATAL: 0x0100 = 0000:01:00.0" in rp
    assert "UERcvd+" in rp
    # the register alone (DLActive- on a port claiming LLActRep+) is not stated as the link state
    assert "link DOWN" not in rp and "DLActive- (alone, not a conclusion)" in rp


def test_describe_decodes_tlp_with_domain():
    raw = with_header_log("0000:01:00.0", CASES["mrd64"])
    text = "\n".join(device_text.describe(config.decode(raw), bdf="0002:01:00.0"))
    assert "TLP header:" in text and "MRd(4DW)" in text
    assert "Requester 0002:01:00.0, Tag 0x02a" in text
    assert "Address 0x000000123456789c (64-bit)" in text


def test_describe_dpc_and_downtraining():
    raw = with_dpc(0x0001 | 2 << 1, 0x0400)
    text = "\n".join(device_text.describe(config.decode(raw), bdf="0000:00:02.0"))
    assert "CONTAINED: DPC triggered by ERR_FATAL received; source 0000:04:00.0" in text
    raw = bytearray(devices("aer-uncor")["0000:04:00.0"])
    p = config.decode(bytes(raw)).pcie.offset
    raw[p + regs.EXP_LNKCAP:p + regs.EXP_LNKCAP + 4] = (0x3 | 8 << 4).to_bytes(4, "little")
    raw[p + regs.EXP_LNKSTA:p + regs.EXP_LNKSTA + 2] = (0x1 | 4 << 4).to_bytes(2, "little")
    text = "\n".join(device_text.describe(config.decode(bytes(raw)), bdf="0000:04:00.0"))
    assert "DOWNTRAINED: running 2.5GT/s x4, capable of 8GT/s x8" in text


@pytest.mark.parametrize("raw", [b"\xff" * 4096, b"", b"\x86\x80", bytes(4096), b"\x86\x80\x00\x00" * 64])
def test_describe_never_fails_on_odd_input(raw):
    lines = device_text.describe(config.decode(raw), bdf="0000:00:00.0", names=None)
    assert lines[0].startswith("0000:00:00.0")
    cfg = config.decode(raw)
    if cfg.problems:
        assert any(cfg.problems[0] in l for l in lines)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_describe_every_real_device(scenario):
    for bdf, raw in devices(scenario).items():
        cfg = config.decode(raw)
        lines = device_text.describe(cfg, bdf=bdf, names=None)
        assert lines[0].startswith(bdf)
        assert sum(l.startswith("\tCapabilities:") for l in lines) == len(cfg.caps) + len(cfg.ext_caps)
        for e in (cfg.aer.uncor_errors + cfg.aer.cor_errors) if cfg.aer else ():
            assert any(e.name in l and e.short in l for l in lines)


def test_describe_dpc_rp_pio_tlp():
    raw = bytearray(with_dpc(0x0001 | 3 << 1 | 0 << 5 | 18 << 8, 0x0000, 1 << 18))
    raw[0x1A0:0x1B0] = wire_to_log(CASES["mrd32"])       # RP PIO Header Log at DPC + 0x20
    cfg = config.decode(bytes(raw))
    assert cfg.dpc.rp_pio_tlp is not None and cfg.dpc.rp_pio_tlp.address == 0xFEBF1000
    text = "\n".join(device_text.describe(cfg, bdf="0000:00:02.0"))
    assert "CONTAINED: DPC triggered by RP PIO error" in text
    assert "Memory Request Completion Timeout" in text and "Address 0xfebf1000 (32-bit)" in text


def test_header_log_expectation():
    # 01:00.0 reports a Completion Timeout: not a kind the kernel logs a TLP header for
    raw = bytearray(with_header_log("0000:01:00.0", CASES["cpl_ur"]))
    cfg = config.decode(bytes(raw))
    assert not cfg.aer.header_log_expected
    assert "may be older" in "\n".join(device_text.describe(cfg, bdf="0000:01:00.0"))
    aer = cfg.aer.offset
    raw[aer + regs.AER_UNCOR_STATUS:aer + regs.AER_UNCOR_STATUS + 4] = (1 << 16).to_bytes(4, "little")
    cfg = config.decode(bytes(raw))              # Unexpected Completion: the header is the stray Cpl
    assert cfg.aer.header_log_expected and cfg.aer.tlp.kind == "Cpl"
    assert "may be older" not in "\n".join(device_text.describe(cfg, bdf="0000:01:00.0"))
    raw[aer + regs.AER_UNCOR_MASK:aer + regs.AER_UNCOR_MASK + 4] = (1 << 16).to_bytes(4, "little")
    assert not config.decode(bytes(raw)).aer.header_log_expected     # masked: nothing is logged


