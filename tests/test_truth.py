"""Every claim true (issue 15): link state from all the evidence, unreachable devices placed
and explained, -t marks and -t -e paths, skipped-capture advice, one verdict sentence, unset
clocks, wording, lspci's -s syntax, duplicate BDFs, aggregated n log n topology checks.

Real captures (tests/data/captures, the shared scenarios' pagemap and buffer pages) and
captures built from them record by record (capture_builder) for the cases the shared set
lacks; the tree is held against the guest's own `lspci -tv`.
"""

import json
import re
import struct

import pytest

import capture_builder as cb
from conftest import DATA, have_tool
from pykdump_ext import link, render, slots, topology
from pykdump_ext.analysis import analyse
from pykdump_ext.capture import load_capture
from pykdump_ext.config import decode
from crash_ext_c.errors import UsageError
from test_capture import CAPTURED, SCENARIOS, fixture_reader
from test_cli import run

CAPTURES = DATA / "captures"
WITH_TREE = sorted(p.name[:-len(".lspci-tv.txt")] for p in CAPTURES.glob("*.lspci-tv.txt"))
SWITCH_BELOW = ("0000:03:00.0", "0000:03:01.0", "0000:04:00.0", "0000:05:00.0")


# --- helpers ---------------------------------------------------------------------

_TOKEN = re.compile(r"-\[(?:([0-9a-f]{4}):)?([0-9a-f]{2})(?:-[0-9a-f]{2})?\??\]-"
                    r"|(?<=-)([0-9a-f]{2})\.([0-7])!?")


_NAME = re.compile(r"([0-9a-f]{2}\.[0-7]!?|\]-+)  ")


def tree_parents(lines):
    """{bdf: parent bdf or None} from `lspci -tv` style lines (lspci's own or ours): a device
    belongs to the bus whose children start at its column."""
    at_col = {}          # column where a bus's devices are drawn -> (domain, bus, parent)
    out = {}
    for line in lines:
        end = _NAME.search(line)        # the drawing ends where the name begins
        text = line if end is None else line[:end.end(1)]
        pending = None                  # (domain, bus, parent) of a bus token just read
        last = None                     # (domain, bdf) of the device just read
        for m in _TOKEN.finditer(text):
            if m.group(2) is not None:
                if m.group(1) is not None:
                    pending = (int(m.group(1), 16), int(m.group(2), 16), None)
                else:
                    pending = (last[0], int(m.group(2), 16), last[1])
                continue
            col = m.start()
            if pending is not None:
                at_col[col] = pending
                pending = None
            dom, bus, parent = at_col[col]
            bdf = "%04x:%02x:%02x.%d" % (dom, bus, int(m.group(3), 16), int(m.group(4)))
            out[bdf] = parent
            last = (dom, bdf)
    return out


def meta(name):
    return json.loads((CAPTURES / (name + ".json")).read_text())


def built_from(name, *, ff=(), patch=None, rebus=None):
    """The capture of real scenario `name`, rebuilt record by record: the records in `ff`
    all 0xFF (as a layout-B producer writes a device it skips), patch(bdf, bytearray) may
    change config bytes, rebus {bdf: (bus, devfn)} gives a record another address."""
    cap = load_capture(fixture_reader(name))
    recs = []
    for r in cap.records:
        cfg = bytearray(b"\xff" * len(r.config) if r.bdf in ff else r.config)
        if patch is not None:
            patch(r.bdf, cfg)
        bus, devfn = (rebus or {}).get(r.bdf, (r.bus, r.devfn))
        recs.append(cb.record(r.domain, bus, devfn >> 3, devfn & 7, bytes(cfg)))
    buf = cb.buffer(recs, timestamp=cap.header.timestamp)
    crashtime = meta(name)["vmcoreinfo"]["CRASHTIME"]
    return cb.reader(buf, layout=cap.layout, vmcoreinfo={"CRASHTIME": crashtime})


def set_aer(bdf_want, reg, value):
    """patch() that writes a 32-bit AER register (offset from the AER capability)."""
    def patch(bdf, cfg):
        if bdf == bdf_want:
            c = decode(bytes(cfg))
            struct.pack_into("<I", cfg, c.aer.offset + reg, value)
    return patch


def run_view(reader, *argv):
    return run(reader, *argv)


# --- 1. link state is a conclusion ------------------------------------------------------

@pytest.mark.parametrize("name", CAPTURED)
def test_no_link_called_down_against_the_evidence(name):
    """No port whose LnkCap says it cannot report link state, or with a device below that
    answered, is called down; an empty slot says 'none', never 'DOWN'."""
    rep = analyse(fixture_reader(name), names=None)
    assert rep.links or name == "legacy-unaligned"      # conventional PCI only there
    for bdf, ls in rep.links.items():
        if ls.conclusion == link.DOWN:
            assert ls.capable or ls.empty_slot, (bdf, ls.text())
            assert ls.answered_below is None, (bdf, ls.text())
        if not ls.capable or ls.answered_below:
            assert "DOWN" not in ls.text(), (bdf, ls.text())
    text = "\n".join(render.full(rep, rep.devices))
    downs = [l for l in text.splitlines() if l.strip().startswith("link DOWN")]
    assert len(downs) == sum(1 for ls in rep.links.values()
                             if ls.conclusion == link.DOWN and not ls.empty_slot)


def test_aer_uncor_root_port_link_is_up_although_lnksta_says_inactive():
    """QEMU's root port 00:02.0 claims LLActRep+ and never sets DLActive; its child answered
    and its Error Source names the child: -a says up and that the register disagrees."""
    rep = analyse(fixture_reader("aer-uncor"), names=None)
    ls = rep.links["0000:00:02.0"]
    assert ls.capable and ls.dl_active is False
    assert ls.conclusion == link.UP and ls.register_disagrees
    assert ls.answered_below == "0000:01:00.0"
    assert any("ERR_NONFATAL from 0000:01:00.0 crossed it" in e for e in ls.evidence_up)
    rc, out, _ = run_view(fixture_reader("aer-uncor"), "-d", "00:02.0")
    assert rc == 0
    assert ("link up: LnkSta says DL inactive, but 0000:01:00.0 below answered and "
            "ERR_NONFATAL from 0000:01:00.0 crossed it") in out
    assert "the port's link reporting is unreliable" in out
    assert "link DOWN" not in out


def test_empty_slot_is_no_link_not_a_failure():
    """aer-handled (native hotplug: populated slots say PresDet+): the empty switch slot
    03:02.0 has no link, and that is no suspect."""
    rep = analyse(fixture_reader("aer-handled"), names=None)
    ls = rep.links["0000:03:02.0"]
    assert ls.empty_slot and ls.conclusion == link.DOWN
    assert ls.text().startswith("none: the slot is empty (SltSta PresDet-")
    assert not any(s.bdf == "0000:03:02.0" and "link_down" in s.rules
                   for s in rep.verdict.suspects)


def test_presence_detect_of_a_lying_model_is_not_believed():
    """aer-uncor (no native hotplug): every QEMU port reads PresDet- with a device behind it,
    so the empty root port 00:02.3 is not called empty, nor down: unknown."""
    rep = analyse(fixture_reader("aer-uncor"), names=None)
    ls = rep.links["0000:00:02.3"]
    assert not ls.empty_slot and ls.conclusion == link.UNKNOWN
    assert "same model [1b36:000c]" in ls.text()


def test_switch_port_without_link_reporting_is_unknown_not_down():
    """aer-uncor's switch downstream ports claim LLActRep-: DLActive- means nothing; with the
    endpoint below them unreadable, the link is unknown."""
    rep = analyse(built_from("aer-uncor", ff={"0000:04:00.0"}), names=None)
    ls = rep.links["0000:03:00.0"]
    assert not ls.capable and ls.conclusion == link.UNKNOWN
    assert "cannot report link state" in ls.text()


def test_same_model_that_lies_elsewhere_is_not_believed():
    """aer-uncor's root ports (one model) read DLActive- on working links; a port of that model
    with an unreadable child is then 'unknown', not 'down'."""
    rep = analyse(built_from("aer-uncor", ff={"0000:06:00.0", "0000:07:01.0"}), names=None)
    ls = rep.links["0000:00:02.2"]
    assert ls.conclusion == link.UNKNOWN
    assert "same model [1b36:000c]" in ls.text()
    assert not any("link_down" in s.rules for s in rep.verdict.suspects)


def test_verdict_does_not_call_the_named_sender_link_down():
    """Layout B with 01:00.0 skipped (0xFF) below aer-uncor's root port (LLActRep+, DLActive-):
    the root port's Error Source names 01:00.0, so its message crossed the link."""
    rep = analyse(built_from("aer-uncor", ff={"0000:01:00.0"}), names=None)
    assert rep.capture.layout == "A"
    rep_b = analyse(cb.reader(cb.buffer([cb.record(r.domain, r.bus, r.devfn >> 3, r.devfn & 7,
                                                   b"\xff" * len(r.config)
                                                   if r.bdf == "0000:01:00.0" else r.config)
                                         for r in load_capture(fixture_reader("aer-uncor")).records]),
                              layout="B"), names=None)
    for r in (rep, rep_b):
        top = r.verdict.suspects[0]
        assert top.bdf == "0000:01:00.0"
        assert "down" not in top.headline.lower() and "ERR_NONFATAL" in top.headline
        assert not any("link_down" in s.rules or "unreachable_link_down" in s.rules
                       for s in r.verdict.suspects)
        why = r.by_bdf["0000:01:00.0"].node.unreachable_why
        assert "crossed it" in why
    assert rep_b.by_bdf["0000:01:00.0"].node.unreachable == topology.UNREACH_SPURIOUS
    assert "probably reachable" in rep_b.by_bdf["0000:01:00.0"].node.unreachable_why
    # layout A does not skip devices: no "probably reachable" claim there
    assert rep.by_bdf["0000:01:00.0"].node.unreachable == topology.UNREACH_UNKNOWN


def test_real_link_down_with_dead_device_is_still_found():
    """A port that reports link state, reads DLActive-, with nothing below answering and no
    message from below, on a model not seen lying: link down (verdict rule holds)."""
    def patch(bdf, cfg):
        if bdf == "0000:00:02.2":
            struct.pack_into("<H", cfg, 2, 0x7777)          # another model
    rep = analyse(built_from("layoutB-aer", ff={"0000:06:00.0", "0000:07:01.0"},
                             patch=lambda b, c: (patch(b, c), clear_dllla(b, c))), names=None)
    ls = rep.links["0000:00:02.2"]
    assert ls.conclusion == link.DOWN and "DLActive-" in ls.text()
    assert rep.by_bdf["0000:06:00.0"].node.unreachable == topology.UNREACH_LINK_DOWN
    assert any("link_down" in s.rules for s in rep.verdict.suspects)


def clear_dllla(bdf, cfg):
    if bdf == "0000:00:02.2":
        c = decode(bytes(cfg))
        off = c.pcie.offset + 0x12
        struct.pack_into("<H", cfg, off, struct.unpack_from("<H", cfg, off)[0] & ~0x2000)


# --- 2. unreachable devices placed as lspci -tv places them -----------------------------

@pytest.mark.parametrize("name", WITH_TREE)
def test_tree_equals_the_guests_lspci_tv(name):
    truth = tree_parents((CAPTURES / (name + ".lspci-tv.txt")).read_text().splitlines())
    rep = analyse(fixture_reader(name), names=None)
    ours = tree_parents(render.tree(rep))
    assert set(ours) == {d.bdf for d in rep.devices}
    assert ours == {b: truth[b] for b in ours}
    assert set(truth) == set(ours)


def layout_b_switch_skipped():
    """layoutB-aer with the records below its switch and behind the PCIe-to-PCI bridge set to
    0xFF, as the layout-B producer writes them when the port above reads DLActive-: the
    switch's upstream port and the PCIe-to-PCI bridge cannot report link state (LLActRep-)."""
    return built_from("layoutB-aer", ff=set(SWITCH_BELOW) | {"0000:07:01.0"})


def test_layout_b_unreachable_devices_placed_under_their_own_bus_bridge():
    truth = tree_parents((CAPTURES / "layoutB-aer.lspci-tv.txt").read_text().splitlines())
    rep = analyse(layout_b_switch_skipped(), names=None)
    lines = render.tree(rep)
    ours = tree_parents(lines)
    assert ours == truth
    assert any("-[04?]-" in l for l in lines) and any("-[05?]-" in l for l in lines)
    assert any("inferred" in p and "0000:03:00.0 -> bus 04" in p for p in rep.topology.problems)
    assert rep.by_bdf["0000:04:00.0"].node.parent == "0000:03:00.0"


def test_layout_b_every_spurious_skip_is_probably_reachable():
    rep = analyse(layout_b_switch_skipped(), names=None)
    ff = [d for d in rep.devices if d.config.all_ff]
    assert {d.bdf for d in ff} == set(SWITCH_BELOW) | {"0000:07:01.0"}
    for d in ff:
        assert d.node.unreachable == topology.UNREACH_SPURIOUS, d.bdf
        assert "probably reachable" in d.node.unreachable_why
    note = [n for n in rep.verdict.notes if "probably reachable" in n]
    assert note and note[0].startswith("5 device(s)")
    assert all(b in note[0] for b in SWITCH_BELOW)
    top = rep.verdict.suspects[0]
    assert top.bdf == "0000:01:00.0" and "down" not in " ".join(top.evidence).lower()


def test_unreadable_switch_upstream_port_and_everything_below_placed_right():
    """layoutB-aer with the whole switch unreadable (02:00.0 and everything below): two levels
    of inferred bridges, the same tree as the guest's lspci -tv."""
    truth = tree_parents((CAPTURES / "layoutB-aer.lspci-tv.txt").read_text().splitlines())
    rep = analyse(built_from("layoutB-aer", ff={"0000:02:00.0"} | set(SWITCH_BELOW)),
                  names=None)
    lines = render.tree(rep)
    assert tree_parents(lines) == truth
    assert any("00.0!-[03-05?]-" in l for l in lines)
    assert rep.by_bdf["0000:03:01.0"].node.parent == "0000:02:00.0"
    assert rep.by_bdf["0000:05:00.0"].node.parent == "0000:03:01.0"


def test_ambiguous_hidden_bridge_is_said_not_guessed():
    """Two unreadable records on bus 03 but only bus 05 populated below them: which one leads
    there is unknown, so 05:00.0 stays below the enclosing bridge with a note."""
    rep = analyse(built_from("layoutB-aer", ff={"0000:03:00.0", "0000:03:01.0",
                                                "0000:05:00.0"},
                             rebus={"0000:04:00.0": (0x05, 0x08)}), names=None)
    assert rep.by_bdf["0000:05:00.0"].node.parent == "0000:02:00.0"
    assert any("bus" in p and "no readable bridge" in p and "0000:02:00.0" in p
               for p in rep.topology.problems)


# --- 3. -t marks errors; -t -e keeps the path -----------------------------------------

def test_tree_marks_error_devices():
    rc, out, _ = run_view(fixture_reader("aer-uncor"), "-t")
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
    rc, out, _ = run_view(r, "-t", "-e")
    lines = out.splitlines()
    sd = [l for l in lines if "02.3" in l]
    assert sd and "02.3!-[08]--" in sd[0] and "QEMU PCIe Root port" in sd[0] \
        and "Surprise Down" in sd[0]
    assert any("02.0!-[01]----00.0!" in l for l in lines)
    assert not any("10.0" in l or "1f.0" in l for l in lines)
    rc, ev, _ = run_view(r, "-e")
    kept = {l.split()[0] for l in ev.splitlines() if l.startswith("  0000:")}
    assert set(tree_parents(lines)) >= kept


# --- 5. skipped capture: what to do; one verdict sentence ------------------------------

@pytest.mark.parametrize("name", ["cor-only", "no-buffer"])
def test_verdict_sentence_is_the_same_in_every_view(name):
    verdicts = []
    for argv in ((), ("-a",), ("-e",)):
        rc, out, _ = run_view(fixture_reader(name), *argv)
        verdicts.append([l for l in out.splitlines() if l.startswith("Verdict: ")])
    j = json.loads(run_view(fixture_reader(name), "-j")[1])
    assert verdicts[0] == verdicts[1] == verdicts[2] == ["Verdict: " + j["verdict"]["lines"][0]]
    assert "no PCI state from the panic" in verdicts[0][0]


def test_skipped_capture_says_what_to_do():
    rc, out, _ = run_view(fixture_reader("cor-only"))
    assert rc == 1
    assert "pci_crash.capture=always" in out
    assert "error reporting is disabled" in out and "SERR#" in out


def test_disabled_error_reporting_is_said():
    """01:00.0 with DevCtl report enables and Command SERR# off (built from aer-uncor)."""
    def patch(bdf, cfg):
        if bdf == "0000:01:00.0":
            c = decode(bytes(cfg))
            struct.pack_into("<H", cfg, c.pcie.offset + 8, 0)
            struct.pack_into("<H", cfg, 4, struct.unpack_from("<H", cfg, 4)[0] & ~0x0100)
    rep = analyse(built_from("aer-uncor", patch=patch), names=None)
    notes = [n for n in rep.verdict.notes if "error reporting looks disabled" in n]
    assert notes and "0000:01:00.0 (DevCtl NonFatalErr- FatalErr-, Command SERR-)" in notes[0]
    clean = analyse(fixture_reader("aer-uncor"), names=None)
    assert not any("error reporting looks disabled" in n for n in clean.verdict.notes)


# --- 7. a capture clock that was never set -------------------------------------------

def test_unset_clock_is_said_not_printed_as_a_date():
    cap = load_capture(fixture_reader("always-clean"))
    recs = [cb.record(r.domain, r.bus, r.devfn >> 3, r.devfn & 7, r.config) for r in cap.records]
    r = cb.reader(cb.buffer(recs, timestamp=5_123_456_789), vmcoreinfo={"CRASHTIME": "5"})
    rc, out, _ = run_view(r)
    assert "captured 1970" not in out
    assert "capture clock not set (timestamp 5.123 s after 1970-01-01" in out
    j = json.loads(run_view(r, "-j")[1])
    assert j["capture"]["header"]["clock_set"] is False
    rc, out, _ = run_view(fixture_reader("always-clean"))
    assert "captured 2026-" in out and "clock not set" not in out


# --- 8. internals behind -v; wording; lspci's -s syntax ---------------------------------

def test_layout_reasoning_only_with_verbose():
    rc, out, _ = run_view(fixture_reader("aer-uncor"))
    assert "layout B rejected" not in out
    rc, out, _ = run_view(fixture_reader("aer-uncor"), "-v")
    assert "layout B rejected: buf_offset" in out
    rc, out, _ = run_view(fixture_reader("aer-uncor"), "-a")
    assert "layout B rejected" not in out


def test_wording():
    r = built_from("legacy-unaligned")
    rc, out, _ = run_view(fixture_reader("legacy-unaligned"))
    assert " 1 page," in out and "1 pages" not in out
    rc, out, _ = run_view(fixture_reader("aer-uncor"))
    assert "0000:06:00.0 [1b36:000e] Red Hat, Inc. Device" in out
    rc, out, _ = run_view(fixture_reader("aer-uncor"), "-a")
    assert "capable unknown" not in out
    rep = analyse(built_from("aer-uncor", ff={"0000:01:00.0"}), names=None)
    text = "\n".join(render.path_lines(rep))
    assert "no answer: no answer" not in text and "0000:01:00.0 no answer: record all 0xFF" in text


@pytest.mark.parametrize("spec,want", [
    ("1:00.0", ["0000:01:00.0"]), ("0000:01:00.0", ["0000:01:00.0"]), ("01:", ["0000:01:00.0"]),
    ("3:", ["0000:03:00.0", "0000:03:01.0"]), ("*:*.3", ["0000:00:02.3", "0000:00:1f.3"]),
    (".1", ["0000:00:02.1"]), ("0000:3:*.0", ["0000:03:00.0", "0000:03:01.0"]),
    ("1f", ["0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"]),
])
def test_slot_syntax_selects_what_lspci_selects(spec, want):
    """The sets `lspci -F <hex> -s SPEC` prints for aer-uncor (pciutils 3.9)."""
    rep = analyse(fixture_reader("aer-uncor"), names=None)
    assert [d.bdf for d in slots.select(rep.devices, [slots.parse(spec)])] == want
    rc, out, _ = run_view(fixture_reader("aer-uncor"), "-s", spec)
    listed = [l.split()[0] for l in out.splitlines() if l.startswith("  0000:")]
    assert listed == want


@pytest.mark.parametrize("spec", ["1:00.0.1", "zz", "20", "1:2:3:4", "1:00.8", "-1"])
def test_bad_slot_is_a_usage_error(spec):
    with pytest.raises(UsageError):
        slots.parse(spec)
    rc, out, err = run_view(fixture_reader("aer-uncor"), "-d", spec)
    assert rc == 2 and "not a PCI address" in err


def test_repeated_device_option_is_a_union():
    rc, out, _ = run_view(fixture_reader("aer-uncor"), "-d", "1:00.0", "-d", "00:02.0")
    heads = [l.split()[0] for l in out.splitlines() if re.match(r"^0000:\S+ ", l)]
    assert heads == ["0000:00:02.0", "0000:01:00.0"]


def test_readme_synopsis_and_paths():
    readme = (DATA.parent.parent / "README.md").read_text()
    syn = readme[readme.index("## Command line: pcicrash"):]
    syn = syn[:syn.index("```", syn.index("```") + 3)]
    for opt in ("--vmlinux", "--version", "-s ", "-v"):
        assert opt in syn, opt
    assert "/work/" not in readme
    assert readme.index("## Run it on a dump") < readme.index("## Inside crash")


# --- hostile 3: a record carrying another record's BDF ---------------------------------

def duplicated():
    """aer-uncor with 03:01.0's record carrying 03:00.0's address (both bridges)."""
    return built_from("aer-uncor", rebus={"0000:03:01.0": (0x03, 0x00)})


def test_duplicate_bdf_is_shown_named_and_fails_the_exit_status():
    rep = analyse(duplicated(), names=None)
    assert len(rep.devices) == rep.capture.header.device_count == 18
    dup = rep.duplicates
    assert [d.bdf for d in dup] == ["0000:03:00.0#2"] and dup[0].duplicate == "0000:03:00.0"
    # its child stays below it: not re-parented to the switch's upstream port
    assert rep.by_bdf["0000:05:00.0"].node.parent == "0000:03:00.0#2"
    rc, out, err = run_view(duplicated())
    assert rc == 1
    assert "Devices (18 of 18)" in out and "18 devices" in out
    assert "carries 0000:03:00.0, the BDF of an earlier record" in out
    assert "0000:03:00.0#2" in out and "duplicate: record" in out
    rc, out, err = run_view(duplicated(), "-x")
    assert rc == 1 and out.count("0000:03:00.0 ") == 2 and "repeat another record's BDF" in err
    j = json.loads(run_view(duplicated(), "-j")[1])
    assert len(j["devices"]) == 18
    assert [d["duplicate_of"] for d in j["devices"] if d["duplicate_of"]] == ["0000:03:00.0"]


# --- hostile 4: aggregated, n log n topology checks ------------------------------------

def bridges_with_failed_bus_dword(n):
    rp = bytearray(cb.config(0x1b36, 0x000c, size=256, klass=0x060400, bus_range=(1, 1)))
    rp[0x18:0x1C] = b"\xff" * 4
    return [cb.record(0, i >> 5, i & 31, 0, bytes(rp)) for i in range(n)]


def test_two_thousand_failed_bus_dwords_are_one_line():
    recs = bridges_with_failed_bus_dword(2000)
    rep = analyse(cb.reader(cb.buffer(recs)), names=None)
    probs = rep.topology.problems
    assert len(probs) == 1
    assert probs[0].startswith("2000 bridges: bus number register reads 0xffffffff")
    assert probs[0].endswith(", ...") and len(probs[0]) < 400
    sizes = {}
    for n in (1000, 2000):
        rc, out, err = run_view(cb.reader(cb.buffer(bridges_with_failed_bus_dword(n))), "-j")
        assert rc == 0, err
        sizes[n] = len(out)
        assert len(json.loads(out)["topology"]["problems"]) == 1
    assert sizes[2000] < 2.2 * sizes[1000]      # linear in the records: no pairwise lines


def overlapping(n):
    """n bridges with crossing bus ranges [i, i+8] on bus 0 and their children."""
    out = []
    for i in range(n):
        sec = 1 + i % 200
        cfg = cb.config(0x1b36, 0x000c, size=256, klass=0x060400, bus_range=(sec, sec + 8))
        out.append(cb.record(i // 256, 0, (i >> 3) & 31, i & 7, cfg))
    return out


def test_overlapping_ranges_are_aggregated():
    recs = overlapping(1200)
    rep = analyse(cb.reader(cb.buffer(recs)), names=None)
    kinds = [p for p in rep.topology.problems if "overlapping" in p]
    assert len(kinds) <= 5
    assert any(re.match(r"\d+ bridges have bus ranges overlapping", p) for p in kinds)
    assert len(rep.topology.problems) < 50


def test_two_bridges_on_one_bus_keep_the_old_sentence():
    a = cb.config(0x1b36, 0x000c, size=256, klass=0x060400, bus_range=(1, 1))
    rep = analyse(cb.reader(cb.buffer([cb.record(0, 0, 2, 0, a), cb.record(0, 0, 3, 0, a)])),
                  names=None)
    assert rep.topology.problems == [
        "bridges 0000:00:02.0 and 0000:00:03.0 both claim secondary bus 01"]


def test_check_wording_and_reasoning_behind_verbose():
    from test_cli import run
    rc, out, _ = run(fixture_reader("legacy-unaligned"), "--check")
    assert rc == 0 and "1 buffer page (1880 bytes)" in out and "1 buffer pages" not in out
    assert "its buffer page are in the dump" in out
    assert "layout B rejected" not in out
    rc, out, _ = run(fixture_reader("legacy-unaligned"), "--check", "-v")
    assert "layout B rejected" in out


def test_kernel_crash_time_of_an_unset_clock():
    from pykdump_ext.output.kernel_view import utc as _utc
    assert _utc(5) == "clock not set (5 s after 1970-01-01)"
    assert _utc(1795241199) == "2026-11-21 06:06:39 UTC"


def test_tree_flags_are_documented():
    from pykdump_ext import cli
    text = " ".join(cli.make_parser().format_help().split())
    assert "'!' after a device number marks error status" in text
    readme = (DATA.parent.parent / "README.md").read_text()
    assert "`!` after a device number marks error status" in readme


@pytest.mark.skipif(not have_tool("lspci"), reason="pciutils (lspci) not installed")
def test_duplicate_bdf_tree_is_what_lspci_F_draws_from_our_hex(tmp_path):
    """The installed lspci, fed our -x of the duplicated capture, draws the same tree (both
    records at 03:00.0, each bridge with its own child)."""
    import subprocess
    rc, hexout, _ = run_view(duplicated(), "-x")
    f = tmp_path / "dup.txt"
    f.write_text(hexout)
    peer = subprocess.run(["lspci", "-F", str(f), "-tv"], capture_output=True, text=True,
                          timeout=60).stdout.splitlines()
    rc, ours, _ = run_view(duplicated(), "-t")
    strip = [re.sub(r"#\d+", "", l) for l in ours.splitlines()]

    def drawing(lines):      # each line up to where the name begins, without our marks
        out = []
        for line in lines:
            m = _NAME.search(line)
            out.append((line if m is None else line[:m.end(1)]).replace("!", ""))
        return out
    assert drawing(strip) == drawing(peer)
    assert sum("00.0-[05]----00.0" in l for l in drawing(peer)) == 1
