"""report_json.py: the JSON document (-j) and its schema in docs/json.md."""

import json

import pytest

from pykdump_ext.output import report_json
from pykdump_ext.analysis.report import analyse
from pykdump_ext.capture.buffer import load_capture
from tests.captures import CAPTURED, SCENARIOS, fixture_reader, scenario
from tests.shared import run_cli


@pytest.mark.parametrize("name", SCENARIOS)
def test_json_schema_and_config_bytes(name):
    r = fixture_reader(name)
    rc, out, _ = run_cli(r, "-j")
    d = json.loads(out)
    assert d["schema"] == "pcicrash/2"
    from pykdump_ext.capture.buffer import load_capture
    cap = load_capture(fixture_reader(name))
    assert d["capture"]["state"] == cap.state
    if cap.pagemap:
        assert d["capture"]["pagemap_layout"] == cap.pagemap.layout in ("A", "B")
    assert [x["bdf"] for x in d["devices"]] == [x.bdf for x in cap.records]
    for x, rec in zip(d["devices"], cap.records):
        assert bytes.fromhex(x["config"]) == rec.config
        assert len(x["bdf"]) == 12 and x["bdf"][4] == ":"
    for s in d["verdict"]["suspects"]:
        assert isinstance(s["bdf"], str) and s["headline"]
    if name in ("aer-uncor", "layoutB-aer"):
        assert d["verdict"]["suspects"][0]["bdf"] == scenario(name)["injections"][0]["bdf_guest"]


# --- report_json directly -----------------------------------------------------------

@pytest.mark.parametrize("name", CAPTURED)
def test_dumps_carries_every_record_byte_for_byte(name):
    cap = load_capture(fixture_reader(name))
    doc = json.loads(report_json.dumps(analyse(fixture_reader(name), names=None)))
    assert [(d["bdf"], bytes.fromhex(d["config"])) for d in doc["devices"]] == \
        [(r.bdf, r.config) for r in cap.records]


def test_dumps_with_devs_keeps_only_those():
    rep = analyse(fixture_reader("aer-uncor"), names=None)
    pick = [d for d in rep.devices if d.items][:1] or rep.devices[:1]
    doc = json.loads(report_json.dumps(rep, pick))
    assert [d["bdf"] for d in doc["devices"]] == [d.bdf for d in pick]
