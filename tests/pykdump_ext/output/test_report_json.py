"""report_json.py: the JSON document (-j) and its schema in docs/json.md."""

import json
import pytest
from tests.shared import DATA, ROOT, have_tool, needs_shared, scenario_dir
from tests.captures import CAPTURED, SCENARIOS, fixture_reader, scenario
from tests.pykdump_ext.frontends.cli.test_main import run


@pytest.mark.parametrize("name", SCENARIOS)
def test_json_schema_and_config_bytes(name):
    r = fixture_reader(name)
    rc, out, _ = run(r, "-j")
    d = json.loads(out)
    assert d["schema"] == "pcicrash/2"
    from pykdump_ext.capture import load_capture
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


def test_json_doc_names_every_key():
    """docs/json.md (and the report_json docstring) document every key the output has."""
    from pykdump_ext import report_json
    doc = (ROOT / "docs" / "json.md").read_text()
    rc, out, _ = run(fixture_reader("aer-uncor"), "-j")
    d = json.loads(out)
    keys = set(d) | set(d["capture"]) | set(d["capture"]["pagemap"]) | set(d["capture"]["header"])
    keys |= set(d["devices"][10]) | set(d["devices"][10]["aer"]) | set(d["error_paths"][0])
    keys |= set(d["error_paths"][0]["hops"][0]) | set(d["verdict"]) | set(d["verdict"]["suspects"][0])
    keys |= set(d["devices"][10]["capabilities"][0])
    reg = next(iter(d["devices"][10]["capabilities"][0]["registers"].values()))
    keys |= set(reg)
    for k in sorted(keys):
        assert '"%s"' % k in doc, k
        assert '"%s"' % k in report_json.__doc__, k
