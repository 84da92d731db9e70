"""errpath.py: error paths from a root port down to the source it names."""

import pytest

from pykdump_ext.analysis import topology
from pykdump_ext.analysis.report import analyse
from tests.builders import capture as cb
from tests.captures import fixture_reader, scenario
from tests.shared import analyse_records


@pytest.mark.parametrize("name", ["aer-uncor", "layoutB-aer"])
def test_error_path_from_root_port_to_source(name):
    scen = scenario(name)
    inj = scen["injections"][0]
    rep = analyse(fixture_reader(name), names=None)
    cur = [p for p in rep.paths if p.current]
    assert len(cur) == 1
    p = cur[0]
    assert p.source_bdf == inj["bdf_guest"] and p.message == "ERR_NONFATAL"
    assert p.root_port == scen["qdev_id_to_guest_bdf"]["rp1"]
    assert [h.bdf for h in p.hops] == [p.root_port, inj["bdf_guest"]]
    assert any("UERcvd" in i for i in p.hops[0].items)


def test_source_with_all_ff_record_still_named():
    rep = analyse_records(cb.qemu_like_records(endpoint_ff=True), layout="B")
    top = rep.verdict.suspects[0]
    assert top.bdf == "0000:01:00.0"
    assert "ERR_NONFATAL" in top.headline and "all 0xFF" in top.headline
    ep = rep.by_bdf["0000:01:00.0"]
    # its parent 00:02.0 reports link state and the link is up: not "link down"
    assert ep.node.unreachable == topology.UNREACH_UNKNOWN


def test_source_not_captured_still_named():
    recs = cb.qemu_like_records()
    del recs[3]                                   # drop 01:00.0 entirely
    rep = analyse_records(recs)
    top = rep.verdict.suspects[0]
    assert top.bdf == "0000:01:00.0" and not top.captured
    p = [p for p in rep.paths if p.current][0]
    assert p.hops[-1].bdf == "0000:01:00.0" and not p.hops[-1].captured
    assert "not captured" in p.headline()
