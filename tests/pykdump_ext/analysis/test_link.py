"""link.py: link state from all the evidence (LnkSta, slot presence, the same model elsewhere)."""

import struct

import pytest

from pykdump_ext.analysis import link, topology
from pykdump_ext.output import render
from pykdump_ext.analysis.report import analyse
from pykdump_ext.capture.buffer import load_capture
from pykdump_ext.pci.config import decode
from tests.builders import capture as cb
from tests.captures import CAPTURED, built_from, fixture_reader
from tests.shared import run_cli


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
    rc, out, _ = run_cli(fixture_reader("aer-uncor"), "-d", "00:02.0")
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
