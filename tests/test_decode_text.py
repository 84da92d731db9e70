"""device_text.describe() and pciids, checked against lspci -F on the same bytes and pci.ids."""

import re
import subprocess

import pytest

from tests.shared import DATA, SCENARIOS, have_tool
from pykdump_ext import config, device_text, lspci_hex, pciids, regs
from tests.test_decode_tlp import CASES, _with_dpc, _with_header_log

needs_lspci = pytest.mark.skipif(not have_tool("lspci"), reason="pciutils (lspci) not installed")
SYSTEM_IDS = pciids.PciIds.load()
needs_ids = pytest.mark.skipif(SYSTEM_IDS.path is None, reason="no system pci.ids")


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


@needs_ids
def test_pciids_lookups_against_system_file():
    # lines taken from the system pci.ids itself, so the check follows whatever version is installed
    text = open(SYSTEM_IDS.path, encoding="utf-8", errors="replace").read().split("\n")
    vline = next(i for i, l in enumerate(text) if l.startswith("8086  "))
    dline = next(l for l in text[vline + 1:] if l.startswith("\t") and not l.startswith("\t\t"))
    assert SYSTEM_IDS.vendor(0x8086) == text[vline][6:].strip()
    assert SYSTEM_IDS.device(0x8086, int(dline[1:5], 16)) == dline[5:].strip()
    assert SYSTEM_IDS.klass(0x060400) == "PCI bridge"
    assert SYSTEM_IDS.vendor(0xFFFE) is None or isinstance(SYSTEM_IDS.vendor(0xFFFE), str)


def test_pciids_small_file(tmp_path):
    f = tmp_path / "pci.ids"
    f.write_text("# comment\n1af4  Red Hat, Inc.\n\t1041  Virtio 1.0 network device\n"
                 "\t\t1af4 1100  QEMU Virtual Machine\nzzzz  broken line\n\tqq bad\n"
                 "C 02  Network controller\n\t00  Ethernet controller\n"
                 "C 06  Bridge\n\t04  PCI bridge\n\t\t00  Normal decode\n\t\t01  Subtractive decode\n")
    ids = pciids.PciIds.load(str(f))
    assert ids.vendor(0x1AF4) == "Red Hat, Inc."
    assert ids.device(0x1AF4, 0x1041) == "Virtio 1.0 network device"
    assert ids.subsystem(0x1AF4, 0x1041, 0x1AF4, 0x1100) == "QEMU Virtual Machine"
    assert ids.klass(0x020000) == "Ethernet controller"
    assert ids.klass(0x028000) == "Network controller"      # unknown subclass: the class name
    assert ids.prog_if(0x060401) == "Subtractive decode"
    assert ids.vendor(0x8086) is None and ids.klass(0xFF0000) is None


def test_pciids_missing_file(tmp_path):
    ids = pciids.PciIds.load(str(tmp_path / "nope"))
    assert ids.vendor(0x8086) is None and ids.error
    assert pciids.PciIds.empty().device(1, 2) is None


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
    raw = _with_header_log("0000:01:00.0", CASES["mrd64"])
    text = "\n".join(device_text.describe(config.decode(raw), bdf="0002:01:00.0"))
    assert "TLP header:" in text and "MRd(4DW)" in text
    assert "Requester 0002:01:00.0, Tag 0x02a" in text
    assert "Address 0x000000123456789c (64-bit)" in text


def test_describe_dpc_and_downtraining():
    raw = _with_dpc(0x0001 | 2 << 1, 0x0400)
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
    from tests.test_decode_tlp import wire_to_log
    raw = bytearray(_with_dpc(0x0001 | 3 << 1 | 0 << 5 | 18 << 8, 0x0000, 1 << 18))
    raw[0x1A0:0x1B0] = wire_to_log(CASES["mrd32"])       # RP PIO Header Log at DPC + 0x20
    cfg = config.decode(bytes(raw))
    assert cfg.dpc.rp_pio_tlp is not None and cfg.dpc.rp_pio_tlp.address == 0xFEBF1000
    text = "\n".join(device_text.describe(cfg, bdf="0000:00:02.0"))
    assert "CONTAINED: DPC triggered by RP PIO error" in text
    assert "Memory Request Completion Timeout" in text and "Address 0xfebf1000 (32-bit)" in text


def test_header_log_expectation():
    # 01:00.0 reports a Completion Timeout: not a kind the kernel logs a TLP header for
    raw = bytearray(_with_header_log("0000:01:00.0", CASES["cpl_ur"]))
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


@needs_ids
def test_pciids_every_entry_of_the_system_file():
    """Vendor blocks are read lazily: every vendor, device, subsystem and class line of the
    system file, read here line by line, is what the lookups answer."""
    ids = pciids.PciIds.load(SYSTEM_IDS.path)
    vid = did = cls = sub = None
    n = 0
    for line in open(SYSTEM_IDS.path, encoding="utf-8", errors="replace").read().split("\n"):
        if not line or line.startswith("#"):
            continue
        if line.startswith("C "):
            vid, cls, sub = None, int(line[2:4], 16), None
        elif not line.startswith("\t"):
            vid, cls = int(line[:4], 16), None
            assert ids.vendor(vid) == line[4:].strip()
        elif not line.startswith("\t\t"):
            if cls is not None:
                sub = int(line[1:3], 16)
                assert ids.klass(cls << 16 | sub << 8) == line[3:].strip()
            else:
                did = int(line[1:5], 16)
                assert ids.device(vid, did) == line[5:].strip(), line
        elif cls is not None:
            assert ids.prog_if(cls << 16 | sub << 8 | int(line[2:4], 16)) == line[4:].strip()
        else:
            assert ids.subsystem(vid, did, int(line[2:6], 16), int(line[7:11], 16)) == line[11:].strip()
        n += 1
    assert n > 10000


def test_pciids_malformed_lines_name_nothing(tmp_path):
    f = tmp_path / "pci.ids"
    f.write_text("1af4  Red Hat, Inc.\n\t\n\t\t\n\tzzzz  bad device\n\t1041  Virtio\n"
                 "\t\t1af4  short subsystem\n\t\t1af4 1100  QEMU\r\n"
                 "C zz  bad class\n\t00  lost subclass\nC 02  Network controller\n\t\n\t00  Ethernet\n")
    ids = pciids.PciIds.load(str(f))
    assert ids.device(0x1AF4, 0x1041) == "Virtio"
    assert ids.subsystem(0x1AF4, 0x1041, 0x1AF4, 0x1100) == "QEMU"
    assert ids.klass(0x020000) == "Ethernet" and ids.klass(0x000000) is None
    assert len(ids) == 1
