"""topology.py: the bus tree from bridge ranges (against the guests' lspci -tv), cycles and
overlaps, unreachable devices placed and explained."""

import json
import re

import pytest

from pykdump_ext.output import render
from pykdump_ext.analysis import topology
from pykdump_ext.analysis.report import analyse
from pykdump_ext.capture.buffer import load_capture
from pykdump_ext.pci.config import decode
from tests.builders import capture as cb
from tests.captures import CAPTURES, built_from, fixture_reader
from tests.lspci_tokens import _NAME, tree_parents
from tests.builders.capture import bridge
from tests.captures import SWITCH_BELOW, duplicated
from tests.shared import analyse_records, have_tool, run_cli, topo_of

WITH_TREE = sorted(p.name[:-len(".lspci-tv.txt")] for p in CAPTURES.glob("*.lspci-tv.txt"))


@pytest.mark.parametrize("capable,active,reported,layout,kind", [
    (True, False, False, "B", topology.UNREACH_LINK_DOWN),
    (True, False, False, "A", topology.UNREACH_LINK_DOWN),
    # the root port's Error Source names the device: its message crossed the link before
    # the panic, the register (believed: no port of the model lies) says down at the panic
    (True, False, True, "B", topology.UNREACH_UNKNOWN),
    (False, False, False, "B", topology.UNREACH_SPURIOUS),
    # layout A does not skip: all 0xFF means config reads failed, the link state is unknown
    (False, False, False, "A", topology.UNREACH_UNKNOWN),
    (True, True, False, "B", topology.UNREACH_UNKNOWN),
])
def test_unreachable_reason_from_the_parent_port(capable, active, reported, layout, kind):
    rep = analyse_records(cb.qemu_like_records(endpoint_ff=True, dllla_capable=capable, dllla=active,
                                   reported=reported), layout=layout)
    n = rep.by_bdf["0000:01:00.0"].node
    assert n.unreachable == kind
    rules = {r for s in rep.verdict.suspects for r in s.rules}
    assert ("link_down" in rules) == (kind == topology.UNREACH_LINK_DOWN)
    if kind == topology.UNREACH_SPURIOUS:
        assert "probably reachable" in n.unreachable_why
    if reported:
        assert "ERR_NONFATAL from 0000:01:00.0 crossed it" in n.unreachable_why
        assert "down" not in rep.verdict.suspects[0].headline.lower()


def test_unreachable_without_parent_is_unknown():
    recs = [cb.record(0, 5, 0, 0, b"\xff" * 4096)]
    rep = analyse_records(recs)
    assert rep.by_bdf["0000:05:00.0"].node.unreachable == topology.UNREACH_UNKNOWN


def test_bridge_range_containing_itself_reported():
    t = topo_of([bridge(1, 0, 0, 5)])
    assert any("contains its own bus" in p for p in t.problems)
    assert t.nodes["0000:01:00.0"].parent is None


def test_bus_number_loop_is_broken_and_reported():
    # 01:00.0 bridges to bus 2, 02:00.0 bridges back to bus 1
    t = topo_of([bridge(1, 0, 2, 2), bridge(2, 0, 1, 1)])
    assert any("loop" in p for p in t.problems)
    for b in t.nodes:
        assert len(t.path_to(b)) <= 2
    assert sum(1 for _ in t.walk(0)) == 2


def test_overlapping_ranges_reported():
    t = topo_of([bridge(0, 1, 1, 4), bridge(0, 2, 3, 6), bridge(0, 3, 3, 3)])
    assert any("overlapping" in p for p in t.problems)
    assert any("both claim secondary bus 03" in p for p in t.problems)


def test_tree_and_paths_terminate_on_cyclic_numbers():
    from pykdump_ext.output import render
    specs = [bridge(1, 0, 2, 2), bridge(2, 0, 1, 1), bridge(0, 2, 1, 2)]
    recs = [cb.record(0, bus, dev, 0, cfg) for bus, dev, cfg in specs]
    rep = analyse_records(recs)
    lines = render.tree(rep)
    assert 1 <= len(lines) <= 10


def test_tree_per_domain_and_paths_stay_in_their_domain():
    from pykdump_ext.output import render
    rp = cb.config(0x1b36, 0x000c, klass=0x060400, port_type=cb.ROOT_PORT, bus_range=(1, 1),
                   dllla_capable=True, dllla=True,
                   aer={"root_status": cb.ROOT_UNCOR_RCV | cb.ROOT_FIRST_FATAL | cb.ROOT_FATAL_MSG,
                        "src_uncor": 0x0100})
    ep = cb.config(port_type=cb.ENDPOINT, aer={"uncor_status": cb.UE_MALF_TLP, "fep": 18,
                                               "uncor_severity": cb.UE_MALF_TLP})
    clean_ep = cb.config(port_type=cb.ENDPOINT, aer={})
    recs = [cb.record(0, 0, 2, 0, cb.config(0x1b36, 0x000c, klass=0x060400,
                                            port_type=cb.ROOT_PORT, bus_range=(1, 1), aer={})),
            cb.record(0, 1, 0, 0, clean_ep),
            cb.record(1, 0, 2, 0, rp), cb.record(1, 1, 0, 0, ep)]
    rep = analyse_records(recs)
    lines = render.tree(rep)
    assert lines[0].startswith("-[0000:00]---02.0-[01]----00.0")
    assert lines[1].startswith("-[0001:00]---02.0!-[01]----00.0!")     # both show errors
    p = [p for p in rep.paths if p.current][0]
    assert p.message == "ERR_FATAL" and p.source_bdf == "0001:01:00.0"
    assert [h.bdf for h in p.hops] == ["0001:00:02.0", "0001:01:00.0"]
    assert rep.verdict.suspects[0].bdf == "0001:01:00.0"


@pytest.mark.parametrize("name", WITH_TREE)
def test_tree_equals_the_guests_lspci_tv(name):
    truth = tree_parents((CAPTURES / (name + ".lspci-tv.txt")).read_text().splitlines())
    rep = analyse(fixture_reader(name), names=None)
    ours = tree_parents(render.tree(rep))
    assert set(ours) == {d.bdf for d in rep.devices}
    assert ours == {b: truth[b] for b in ours}
    assert set(truth) == set(ours)


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


def test_two_thousand_failed_bus_dwords_are_one_line():
    recs = bridges_with_failed_bus_dword(2000)
    rep = analyse(cb.reader(cb.buffer(recs)), names=None)
    probs = rep.topology.problems
    assert len(probs) == 1
    assert probs[0].startswith("2000 bridges: bus number register reads 0xffffffff")
    assert probs[0].endswith(", ...") and len(probs[0]) < 400
    sizes = {}
    for n in (1000, 2000):
        rc, out, err = run_cli(cb.reader(cb.buffer(bridges_with_failed_bus_dword(n))), "-j")
        assert rc == 0, err
        sizes[n] = len(out)
        assert len(json.loads(out)["topology"]["problems"]) == 1
    assert sizes[2000] < 2.2 * sizes[1000]      # linear in the records: no pairwise lines


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


@pytest.mark.skipif(not have_tool("lspci"), reason="pciutils (lspci) not installed")
def test_duplicate_bdf_tree_is_what_lspci_F_draws_from_our_hex(tmp_path):
    """The installed lspci, fed our -x of the duplicated capture, draws the same tree (both
    records at 03:00.0, each bridge with its own child)."""
    import subprocess
    rc, hexout, _ = run_cli(duplicated(), "-x")
    f = tmp_path / "dup.txt"
    f.write_text(hexout)
    peer = subprocess.run(["lspci", "-F", str(f), "-tv"], capture_output=True, text=True,
                          timeout=60).stdout.splitlines()
    rc, ours, _ = run_cli(duplicated(), "-t")
    strip = [re.sub(r"#\d+", "", l) for l in ours.splitlines()]

    def drawing(lines):      # each line up to where the name begins, without our marks
        out = []
        for line in lines:
            m = _NAME.search(line)
            out.append((line if m is None else line[:m.end(1)]).replace("!", ""))
        return out
    assert drawing(strip) == drawing(peer)
    assert sum("00.0-[05]----00.0" in l for l in drawing(peer)) == 1


# --- topology.build directly (no view in between) -----------------------------------

def _built(name):
    cap = load_capture(fixture_reader(name))
    return cap, topology.build([(r.bdf, r.domain, r.bus, r.devfn, decode(r.config))
                                for r in cap.records], layout=cap.layout)


@pytest.mark.parametrize("name", WITH_TREE)
def test_build_parents_and_roots_equal_the_guests_lspci_tv(name):
    truth = tree_parents((CAPTURES / (name + ".lspci-tv.txt")).read_text().splitlines())
    _cap, topo = _built(name)
    assert {b: n.parent for b, n in topo.nodes.items()} == truth
    assert sorted(b for bdfs in topo.roots.values() for b in bdfs) == \
        sorted(b for b, p in truth.items() if p is None)
    for bdf, node in topo.nodes.items():
        if node.parent is not None:
            assert bdf in topo.nodes[node.parent].children
        assert topo.path_to(bdf)[-1] == bdf


def test_build_keeps_a_repeated_bdf_and_names_it():
    cap, _ = _built("aer-uncor")
    r = cap.records[-1]
    devices = [(x.bdf, x.domain, x.bus, x.devfn, decode(x.config)) for x in cap.records]
    topo = topology.build(devices + [devices[-1]])
    assert r.bdf + "#2" in topo.nodes and r.bdf in topo.nodes
    assert any(r.bdf + "#2" in p for p in topo.problems)




def layout_b_switch_skipped():
    """layoutB-aer with the records below its switch and behind the PCIe-to-PCI bridge set to
    0xFF, as the layout-B producer writes them when the port above reads DLActive-: the
    switch's upstream port and the PCIe-to-PCI bridge cannot report link state (LLActRep-)."""
    return built_from("layoutB-aer", ff=set(SWITCH_BELOW) | {"0000:07:01.0"})


def bridges_with_failed_bus_dword(n):
    rp = bytearray(cb.config(0x1b36, 0x000c, size=256, klass=0x060400, bus_range=(1, 1)))
    rp[0x18:0x1C] = b"\xff" * 4
    return [cb.record(0, i >> 5, i & 31, 0, bytes(rp)) for i in range(n)]


def overlapping(n):
    """n bridges with crossing bus ranges [i, i+8] on bus 0 and their children."""
    out = []
    for i in range(n):
        sec = 1 + i % 200
        cfg = cb.config(0x1b36, 0x000c, size=256, klass=0x060400, bus_range=(sec, sec + 8))
        out.append(cb.record(i // 256, 0, (i >> 3) & 31, i & 7, cfg))
    return out
