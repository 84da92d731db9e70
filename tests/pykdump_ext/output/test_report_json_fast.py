"""report_json.dumps (the fast -j path: devices encoded one by one, memoised capability and
hex texts spliced in) gives exactly the text json.dumps makes of to_dict()."""

import json
import os
import struct

import pytest

from tests.builders import capture as cb
from tests.captures import CAPTURED, fixture_reader
from tests.shared import ROOT
from pykdump_ext.output import report_json
from pykdump_ext.analysis.report import analyse
from pykdump_ext.pci.caps.registry import clear_caches

EXAMPLE = os.path.join(ROOT, "pykdump_ext", "examples",
                       "aer-uncor.triage.kdump")


def _plain(rep, devs=None):
    d = report_json.to_dict(rep)
    if devs is not None:
        keep = {x.bdf for x in devs}
        d["devices"] = [x for x in d["devices"] if x["bdf"] in keep]
    return json.dumps(d, separators=(",", ":"))


def _records(n, distinct):
    ep = cb.config(0x1af4, 0x1041, port_type=cb.ENDPOINT, aer={})
    bad = cb.config(0x1af4, 0x1041, port_type=cb.ENDPOINT, devsta=0x2,
                    aer={"uncor_status": cb.UE_COMP_TIME, "fep": 14})
    rp = cb.config(0x1b36, 0x000c, klass=0x060400, port_type=cb.ROOT_PORT, bus_range=(1, 1),
                   dllla_capable=True, dllla=True,
                   aer={"root_status": cb.ROOT_UNCOR_RCV | cb.ROOT_NONFATAL_MSG,
                        "src_uncor": 1 << 8})
    recs = [cb.record(0, 0, 1, 0, rp)]
    for i in range(n):
        b = bytearray(bad if i == 0 else ep)
        if distinct:                   # its own BAR0: nothing of the header shared
            struct.pack_into("<I", b, 0x10, 0xE0000000 + (i << 12))
        recs.append(cb.record(0, 1, i // 8, i % 8, bytes(b)))
    recs.append(cb.record(0, 1, 0, 0, bytes(ep)))            # a duplicate BDF
    recs.append(cb.record(0, 2, 0, 0, b"\xff" * 4096))       # no answer
    recs.append(cb.record(0, 3, 0, 0, bytes(256)))           # all zero, 256 bytes
    return recs


@pytest.mark.parametrize("distinct", [False, True])
def test_dumps_is_json_dumps_of_to_dict(distinct):
    clear_caches()
    rep = analyse(cb.reader(cb.buffer(_records(40, distinct))), names="system")
    assert len(rep.devices) == 44 and rep.duplicates
    text = report_json.dumps(rep)
    assert text == _plain(rep)
    assert json.loads(text)["devices"][1]["config"] == rep.devices[1].record.config.hex()
    some = rep.devices[::5]
    assert report_json.dumps(rep, some) == _plain(rep, some)
    assert report_json.dumps(rep, []) == _plain(rep, [])
    assert report_json.dumps(rep) == text          # memoised texts give the same again


def test_dumps_real_example():
    from crash_ext_c.open import open_dump
    with open_dump([EXAMPLE]) as r:
        rep = analyse(r, names="system")
    assert rep.kernel_log is not None and rep.devices
    assert report_json.dumps(rep) == _plain(rep)


@pytest.mark.parametrize("name", CAPTURED)
def test_dumps_real_captures(name):
    rep = analyse(fixture_reader(name), names=None)
    assert rep.devices
    assert report_json.dumps(rep) == _plain(rep)


def test_dumps_absent_capture():
    from crash_ext_c.reader import PageDictReader
    rep = analyse(PageDictReader({}, vmcoreinfo={"OSRELEASE": "6.1.0"}), names="system")
    assert rep.capture.state == "absent" and not rep.devices
    assert report_json.dumps(rep) == _plain(rep)
