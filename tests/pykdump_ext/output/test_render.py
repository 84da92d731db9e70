"""render.py: the text views (summary, tree, device, errors, all) and what they say."""

import json

import pytest

from pykdump_ext.frontends.cli import main as cli
from pykdump_ext.pci import lspci_hex
from pykdump_ext.output import render
from pykdump_ext.analysis.report import analyse
from pykdump_ext.capture.buffer import load_capture
from crash_ext_c.reader import PageStatus
from tests.builders import capture as cb
from tests.captures import (
    CAPTURED,
    CAPTURES,
    built_from,
    fixture_reader,
    set_aer,
)
from tests.lspci_tokens import tree_parents
from tests.shared import DATA, analyse_records, run_cli


def test_failed_dword_reads_flagged_on_the_device_line():
    cfg = bytearray(cb.config(port_type=cb.ENDPOINT, aer={}))
    cfg[0x200:0x208] = b"\xff" * 8
    rep = analyse_records([cb.record(0, 1, 0, 0, bytes(cfg))])
    assert rep.devices[0].items == ["2 dword(s) read 0xffffffff (failed config reads?) from 0x200"]


def test_tree_marks_error_devices():
    rc, out, _ = run_cli(fixture_reader("aer-uncor"), "-t")
    lines = out.splitlines()
    ep = [l for l in lines if "Virtio 1.0 network device" in l and "02.0" in l][0]
    assert "02.0!-[01]----00.0!" in ep and "!! UE Completion Timeout (CmpltTO)" in ep
    clean = [l for l in lines if "10.0" in l][0]
    assert "!" not in clean
    assert tree_parents(lines) == tree_parents(
        (CAPTURES / "aer-uncor.lspci-tv.txt").read_text().splitlines())


def test_tree_errors_only_keeps_paths_and_names_a_bare_port():
    """Surprise Down logged at the empty root port 00:02.3 (built from aer-uncor): -t -e draws
    it with its name and error, and the path 00:02.0 -> 01:00.0; clean devices are left out."""
    r = built_from("aer-uncor", patch=set_aer("0000:00:02.3", 0x04, cb.UE_SURPRISE_DOWN))
    rc, out, _ = run_cli(r, "-t", "-e")
    lines = out.splitlines()
    sd = [l for l in lines if "02.3" in l]
    assert sd and "02.3!-[08]--" in sd[0] and "QEMU PCIe Root port" in sd[0] \
        and "Surprise Down" in sd[0]
    assert any("02.0!-[01]----00.0!" in l for l in lines)
    assert not any("10.0" in l or "1f.0" in l for l in lines)
    rc, ev, _ = run_cli(r, "-e")
    kept = {l.split()[0] for l in ev.splitlines() if l.startswith("  0000:")}
    assert set(tree_parents(lines)) >= kept


@pytest.mark.parametrize("name", ["cor-only", "no-buffer"])
def test_verdict_sentence_is_the_same_in_every_view(name):
    verdicts = []
    for argv in ((), ("-a",), ("-e",)):
        rc, out, _ = run_cli(fixture_reader(name), *argv)
        verdicts.append([l for l in out.splitlines() if l.startswith("Verdict: ")])
    j = json.loads(run_cli(fixture_reader(name), "-j")[1])
    assert verdicts[0] == verdicts[1] == verdicts[2] == ["Verdict: " + j["verdict"]["lines"][0]]
    assert "no PCI state from the panic" in verdicts[0][0]


def test_unset_clock_is_said_not_printed_as_a_date():
    cap = load_capture(fixture_reader("always-clean"))
    recs = [cb.record(r.domain, r.bus, r.devfn >> 3, r.devfn & 7, r.config) for r in cap.records]
    r = cb.reader(cb.buffer(recs, timestamp=5_123_456_789), vmcoreinfo={"CRASHTIME": "5"})
    rc, out, _ = run_cli(r)
    assert "captured 1970" not in out
    assert "capture clock not set (timestamp 5.123 s after 1970-01-01" in out
    j = json.loads(run_cli(r, "-j")[1])
    assert j["capture"]["header"]["clock_set"] is False
    rc, out, _ = run_cli(fixture_reader("always-clean"))
    assert "captured 2026-" in out and "clock not set" not in out


def test_layout_reasoning_only_with_verbose():
    rc, out, _ = run_cli(fixture_reader("aer-uncor"))
    assert "layout B rejected" not in out
    rc, out, _ = run_cli(fixture_reader("aer-uncor"), "-v")
    assert "layout B rejected: buf_offset" in out
    rc, out, _ = run_cli(fixture_reader("aer-uncor"), "-a")
    assert "layout B rejected" not in out


def test_tree_flags_are_documented():
    text = " ".join(cli.make_parser().format_help().split())
    assert "'!' after a device number marks error status" in text
    readme = (DATA.parent.parent / "README.md").read_text()
    assert "`!` after a device number marks error status" in readme


@pytest.mark.parametrize("name", [s for s in CAPTURED
                                  if (CAPTURES / (s + ".lspci-tv.txt")).exists()])
def test_tree_view_has_the_shape_of_lspci_tv(name):
    rc, out, _ = run_cli(fixture_reader(name), "-t")
    truth = (CAPTURES / (name + ".lspci-tv.txt")).read_text().splitlines()
    # names differ (pci.ids versions, our [vvvv:dddd]); the drawing must not
    assert [l.split("  ")[0] for l in out.splitlines()] == [l.split("  ")[0] for l in truth]


def test_device_view_accepts_both_address_forms():
    r = fixture_reader("aer-uncor")
    rc1, out1, _ = run_cli(r, "-d", "01:00.0")
    rc2, out2, _ = run_cli(fixture_reader("aer-uncor"), "-d", "0000:01:00.0")
    assert rc1 == rc2 == 0 and out1 == out2
    assert "Completion Timeout" in out1 or "CmpltTO" in out1


def test_device_view_unknown_and_bad_address():
    rc, out, err = run_cli(fixture_reader("aer-uncor"), "-d", "09:00.0")
    assert rc == 1 and err.strip() == "pcicrash: 0000:09:00.0 is not in the capture (18 devices captured)"
    assert "Capture: captured" in out
    rc, out, err = run_cli(fixture_reader("aer-uncor"), "-d", "nonsense")
    assert rc == 2 and err.startswith("pcicrash: -d nonsense: not a PCI address")
    assert len(err.splitlines()) == 1


def test_errors_view_lists_only_devices_with_errors():
    rc, out, _ = run_cli(fixture_reader("aer-handled"), "-e")
    listed = [l.split()[0] for l in out.split("Devices (")[1].splitlines()[1:] if l.strip()]
    assert listed == ["0000:01:00.0", "0000:02:00.0", "0000:04:00.0"]
    rc, out, _ = run_cli(fixture_reader("aer-handled"), "-e", "-x")
    assert sorted(lspci_hex.parse_lspci_hex(out)) == listed


def test_all_view_covers_every_device():
    rc, out, _ = run_cli(fixture_reader("always-clean"), "-a")
    for bdf in [r.bdf for r in __import__("pykdump_ext.capture.buffer", fromlist=["x"]).load_capture(
            fixture_reader("always-clean")).records]:
        assert bdf[5:] in out


def test_device_view_of_an_untrusted_record_says_why():
    recs = cb.qemu_like_records()
    r = cb.reader(cb.buffer(recs), missing={1: PageStatus.LOST})
    rc, out, err = run_cli(r, "-d", "00:02.0")     # header readable, config bytes in page 1
    assert rc == 1 and "its record is not trusted" in err and "page 1" in err


# --- render directly ----------------------------------------------------------------

@pytest.mark.parametrize("name", CAPTURED)
def test_summary_has_the_verdict_then_one_line_per_device(name):
    rep = analyse(fixture_reader(name), names=None)
    lines = render.summary(rep)
    head = render.verdict_lines(rep)
    assert lines[:len(head)] == head
    for d in rep.devices:
        assert lines.count(render.device_line(d)) == 1, d.bdf


@pytest.mark.parametrize("name", CAPTURED)
def test_tree_of_chosen_devices_draws_exactly_their_paths(name):
    rep = analyse(fixture_reader(name), names=None)
    deepest = max(rep.devices, key=lambda d: len(rep.topology.path_to(d.bdf)))
    drawn = tree_parents(render.tree(rep, [deepest]))
    assert set(drawn) == set(rep.topology.path_to(deepest.bdf))
    assert set(tree_parents(render.tree(rep))) == {d.bdf for d in rep.devices}
