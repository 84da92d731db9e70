"""lspci -xxxx text in and out, checked against the real `lspci -F`.

The guests' own `lspci -xxxx` and `lspci -vvv -nn` (ground truth, copied into
tests/data/lspci/<scenario>/) are the reference: our hexdump() of the parsed
bytes, fed to the installed lspci (pciutils 3.9, as in the guests), must
reproduce the guest's decode line for line, except for what `lspci -F`
cannot know because it comes from sysfs, not config space (see normalise()).
"""

import re

import pytest

from tests.shared import DATA, SCENARIOS, needs_lspci, needs_shared, normalise, run_lspci_f, scenario_dir
from pykdump_ext.pci import lspci_hex

LSPCI_DATA = DATA / "lspci"


def ground_truth(scenario):
    d = LSPCI_DATA / scenario
    return ((d / "lspci-xxxx.txt").read_text(), (d / "lspci-vvv-nn.txt").read_text())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_parse_and_hexdump_roundtrip(scenario):
    xxxx, vvv = ground_truth(scenario)
    devs = lspci_hex.parse_lspci_hex(xxxx)
    titles = lspci_hex.split_lspci_verbose(vvv)
    assert list(devs) == list(titles)            # same devices, same order
    for bdf, raw in devs.items():
        assert len(raw) in (256, 4096), bdf
    again = lspci_hex.parse_lspci_hex("".join(lspci_hex.hexdump(b, r) for b, r in devs.items()))
    assert again == devs


@needs_shared
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_copied_ground_truth_is_current(scenario):
    gt = scenario_dir(scenario) / "ground-truth"
    for name in ("lspci-xxxx.txt", "lspci-vvv-nn.txt"):
        assert (gt / name).read_text() == (LSPCI_DATA / scenario / name).read_text()


@needs_lspci
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lspci_F_reproduces_ground_truth(scenario, tmp_path):
    xxxx, vvv = ground_truth(scenario)
    devs = lspci_hex.parse_lspci_hex(xxxx)
    f = tmp_path / "dump.txt"
    # Titles left empty on purpose: lspci -F must not need them.
    f.write_text("".join(lspci_hex.hexdump(b, r) for b, r in devs.items()))
    got = lspci_hex.split_lspci_verbose(run_lspci_f(f, "-vvv", "-nn"))
    want = lspci_hex.split_lspci_verbose(vvv)
    assert list(got) == list(want)
    for bdf in want:
        assert normalise(got[bdf], devs[bdf]) == normalise(want[bdf], devs[bdf]), bdf


@needs_lspci
def test_hexdump_with_titles_and_domains(tmp_path):
    xxxx, _ = ground_truth("legacy-unaligned")
    devs = lspci_hex.parse_lspci_hex(xxxx)
    text = "".join(lspci_hex.hexdump(b.replace("0000:", "0001:"), r, title="Host bridge: x")
                   for b, r in devs.items())
    f = tmp_path / "dump.txt"
    f.write_text(text)
    out = run_lspci_f(f, "-n")
    # A non-zero domain makes lspci print dddd:bb:dd.f for every device.
    assert sorted(l.split()[0] for l in out.splitlines()) == sorted(b.replace("0000:", "0001:") for b in devs)
    assert lspci_hex.parse_lspci_hex(text) == {b.replace("0000:", "0001:"): r for b, r in devs.items()}


def test_parse_accepts_short_dumps_and_ignores_stray_lines():
    text = ("lspci: Unable to load libkmod resources: error -2\n"
            "00:1f.3 SMBus: Intel\n00: 86 80 30 29 03 01 80 02 02 00 05 0c 00 00 00 00\n"
            "10: 00 00\n\n"
            "0002:03:00.1 Ethernet\n00: 86 80\n")
    devs = lspci_hex.parse_lspci_hex(text)
    assert devs["0000:00:1f.3"][:4] == bytes.fromhex("86803029")
    assert len(devs["0000:00:1f.3"]) == 0x12
    assert devs["0002:03:00.1"] == bytes.fromhex("8680")


def test_norm_bdf():
    assert lspci_hex.norm_bdf("00:02.0") == "0000:00:02.0"
    assert lspci_hex.norm_bdf("0001:0A:1F.7") == "0001:0a:1f.7"
    with pytest.raises(ValueError):
        lspci_hex.norm_bdf("zz:02.0")


@needs_lspci
@pytest.mark.parametrize("scenario", ["aer-uncor", "legacy-unaligned"])
def test_hexdump_layout_equals_lspci_xxxx(scenario, tmp_path):
    """Our hex lines are byte-for-byte what lspci -xxxx prints for the same device."""
    xxxx, _ = ground_truth(scenario)
    devs = lspci_hex.parse_lspci_hex(xxxx)
    f = tmp_path / "dump.txt"
    f.write_text("".join(lspci_hex.hexdump(b, r) for b, r in devs.items()))
    theirs = run_lspci_f(f, "-xxxx", "-D")
    ours = "".join(lspci_hex.hexdump(b, r) for b, r in devs.items())

    def data_lines(text):
        return [l for l in text.splitlines() if re.match(r"^[0-9a-f]{2,3}: ", l)]
    assert data_lines(ours) == data_lines(theirs)
    assert [l.split()[0] for l in theirs.splitlines() if l and not l[2:3] == ":" and not l[3:4] == ":"] == list(devs)


def test_bad_text_raises_the_project_error():
    from crash_ext_c.errors import PcicrashError
    with pytest.raises(PcicrashError) as ei:
        lspci_hex.parse_lspci_hex("00:02.0 x\nfff: 01 02\n")
    assert "line 2" in str(ei.value) and "0x1000" in str(ei.value)
    with pytest.raises(ValueError):
        lspci_hex.norm_bdf("00:02")


def test_hexdump_titles_cannot_break_the_format():
    text = lspci_hex.hexdump("00:02.0", b"\x86\x80", title="  two\nlines  ")
    assert text.splitlines()[0] == "0000:00:02.0 two lines"
    assert lspci_hex.hexdump("00:02.0", b"", title="   ").splitlines()[0] == "0000:00:02.0 "


@pytest.mark.parametrize("length", [1, 15, 16, 17, 255, 256, 257, 4095, 4096, 5000])
def test_hexdump_any_length_reads_back(length):
    """Lines of 16 bytes (the last one shorter), offsets as lspci prints them, at most 4096
    bytes, and parse_lspci_hex gives the bytes back."""
    raw = bytes((i * 37 + 11) & 0xFF for i in range(length))
    text = lspci_hex.hexdump("0003:0a:1f.7", bytearray(raw), title="t")
    assert text.endswith("\n\n") and text.startswith("0003:0a:1f.7 t\n")
    lines = text.split("\n")[1:-2]
    kept = min(length, 4096)
    assert len(lines) == -(-kept // 16)
    for i, line in enumerate(lines):
        off = 16 * i
        want = " ".join("%02x" % x for x in raw[off:min(off + 16, kept)])
        assert line == ("%02x: " if off < 0x100 else "%03x: ") % off + want
    assert lspci_hex.parse_lspci_hex(text) == {"0003:0a:1f.7": raw[:kept]}
