"""verdict / topology / error paths: real scenarios (scenario.json injections) and byte-built trees."""


import pytest

from pykdump_ext.analysis.report import analyse
from pykdump_ext.analysis.verdict import RULES
from tests.builders import capture as cb
from tests.captures import SCENARIOS, fixture_reader, scenario
from tests.shared import QEMU_ERRORS, analyse_records, unrecovered_sources


def aer_driver_active(scen):
    return "pci=noaer" not in scen.get("kernel_cmdline_first", "")


@pytest.mark.parametrize("name", SCENARIOS)
def test_verdict_names_each_injection_that_config_space_still_shows(name):
    scen = scenario(name)
    rep = analyse(fixture_reader(name), names=None)
    if rep.capture.state != "captured":
        assert rep.verdict.suspects == []
        assert any(rep.capture.reason in n for n in rep.verdict.notes)
        return
    uncor = [i for i in scen["injections"] if "-c" not in i["flags"]]
    if not aer_driver_active(scen):
        # nothing cleared the registers: every uncorrectable injection is the top suspect
        for inj in uncor:
            top = rep.verdict.suspects[0]
            assert top.bdf == inj["bdf_guest"]
            long, short = QEMU_ERRORS[inj["error"]]
            assert "%s (%s)" % (long, short) in top.headline
            assert "Most likely at fault: %s" % inj["bdf_guest"] in rep.verdict.lines[0]
            assert long in rep.verdict.lines[0]
        if not uncor:
            assert rep.verdict.suspects == []
            assert "No captured device shows error status" in rep.verdict.lines[0]
        return
    # the AER driver ran: errors it recovered are cleared; unrecovered ones must be named
    failed = set(unrecovered_sources(scen))
    assert failed
    names = {s.bdf: s for s in rep.verdict.suspects}
    for inj in uncor:
        if inj["bdf_guest"] in failed:
            s = names[inj["bdf_guest"]]
            long, short = QEMU_ERRORS[inj["error"]]
            assert any("%s (%s)" % (long, short) in e for e in s.errors)
    assert rep.verdict.suspects[0].bdf in failed
    assert any("cleared by the kernel's AER handling" in n for n in rep.verdict.notes)
    # the Error Source registers still name the devices of recovered errors too
    recovered = {i["bdf_guest"] for i in uncor} - failed
    assert recovered & {p.source_bdf for p in rep.paths}


# --- byte-built ------------------------------------------------------------------


def test_ranking_ue_source_over_dpc_over_link_down_over_correctable():
    ue = cb.qemu_like_records()[:4]          # host, rp 00:02.0 -> 01:00.0 with CmpltTO, rp2
    dpc_port = cb.config(0x1b36, 0x000c, klass=0x060400, port_type=cb.ROOT_PORT,
                         bus_range=(0x10, 0x10), dllla_capable=True, dllla=True,
                         aer={}, dpc=0x0001)
    dead_port = cb.config(0x1b36, 0x000c, klass=0x060400, port_type=cb.ROOT_PORT,
                          bus_range=(0x20, 0x20), dllla_capable=True, dllla=False,
                          slot_presence=True, aer={})
    ce_dev = cb.config(0x8086, 0x10d3, port_type=cb.ENDPOINT, devsta=0x1,
                       aer={"cor_status": cb.CE_BAD_TLP})
    recs = ue + [cb.record(0, 0, 3, 0, dpc_port), cb.record(0, 0, 4, 0, dead_port),
                 cb.record(0, 0, 5, 0, ce_dev)]
    rep = analyse_records(recs)
    order = [s.bdf for s in rep.verdict.suspects]
    assert order[:4] == ["0000:01:00.0", "0000:00:03.0", "0000:00:04.0", "0000:00:05.0"]
    assert "DPC triggered" in rep.verdict.suspects[1].headline
    assert "link down" in rep.verdict.suspects[2].headline
    assert "Bad TLP" in rep.verdict.suspects[3].headline


def test_rules_are_a_table_ordered_by_weight():
    weights = [r.weight for r in RULES]
    assert weights == sorted(weights, reverse=True)
    assert len({r.key for r in RULES}) == len(RULES)


def test_fatal_first_error_named():
    recs = cb.qemu_like_records()
    ep = cb.config(0x1af4, 0x1041, port_type=cb.ENDPOINT, devsta=0x4,
                   aer={"uncor_status": cb.UE_MALF_TLP | cb.UE_COMP_TIME, "fep": 18,
                        "uncor_severity": cb.UE_MALF_TLP})
    recs[3] = cb.record(0, 1, 0, 0, ep)
    rep = analyse_records(recs)
    assert rep.verdict.suspects[0].headline == "Malformed TLP (MalfTLP), fatal, first error"


def test_clean_capture_has_no_suspect():
    recs = [cb.record(0, 0, 0, 0, cb.config(size=256, klass=0x060000)),
            cb.record(0, 0, 1, 0, cb.config(port_type=cb.ENDPOINT, aer={}))]
    rep = analyse_records(recs)
    assert rep.verdict.suspects == []


# --- topology robustness ------------------------------------------------------------


def test_dpc_error_source_names_the_device_below_a_contained_port():
    """A downstream port whose DPC triggered on ERR_FATAL (reason 2) names the sender in its
    DPC Error Source ID; the sender (0xFF after containment) is the top suspect."""
    dpc_port = cb.config(0x1b36, 0x000c, klass=0x060400, port_type=cb.ROOT_PORT,
                         bus_range=(0x10, 0x10), dllla_capable=True, dllla=False,
                         aer={}, dpc=0x0001 | (2 << 1) | (0x1000 << 16))
    recs = [cb.record(0, 0, 3, 0, dpc_port), cb.record(0, 0x10, 0, 0, b"\xff" * 4096)]
    rep = analyse_records(recs)
    top = rep.verdict.suspects[0]
    assert top.bdf == "0000:10:00.0"
    assert "DPC port 0000:00:03.0 received ERR_FATAL" in top.evidence[0]
    p = [p for p in rep.paths if p.dpc][0]
    assert "contained" in p.headline() and p.hops[-1].bdf == "0000:10:00.0"
    assert rep.verdict.suspects[1].bdf == "0000:00:03.0"
    assert "DPC triggered" in rep.verdict.suspects[1].headline


def test_spurious_skips_are_said_in_the_verdict_notes():
    rep = analyse_records(cb.qemu_like_records(endpoint_ff=True, dllla_capable=False, dllla=False),
              layout="B")
    assert any("0000:01:00.0" in n and "probably reachable" in n for n in rep.verdict.notes)


