"""The public API: `from pykdump_ext import open_dump, analyse` (pykdump_ext/__init__.py)."""

import subprocess
import sys

import pytest

import pykdump_ext
from tests.captures import SCENARIOS, fixture_reader
from tests.shared import dump_files, needs_shared


def test_all_names_resolve_and_are_documented():
    for name in pykdump_ext.__all__:
        obj = getattr(pykdump_ext, name)
        if name != "__version__":
            assert obj.__doc__, name
    assert set(pykdump_ext.__all__) <= set(dir(pykdump_ext))
    with pytest.raises(AttributeError):
        pykdump_ext.no_such_name  # noqa: B018


def test_importing_the_package_loads_nothing_else():
    """`import pykdump_ext` stays cheap (the names load on first use) and standard-library only."""
    code = ("import sys; import pykdump_ext; "
            "print(','.join(sorted(m for m in sys.modules if m.startswith(('pykdump_ext.', 'crash_ext_c')))))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""


def test_analyse_reads_no_names_unless_asked():
    rep = pykdump_ext.analyse(fixture_reader("aer-uncor"))
    assert rep.devices and all(d.vendor_name is None for d in rep.devices)
    named = pykdump_ext.analyse(fixture_reader("aer-uncor"), names="system")
    assert named.devices[0].vendor_name          # install.sh installs pci.ids
    assert [d.bdf for d in named.devices] == [d.bdf for d in rep.devices]


@needs_shared
@pytest.mark.parametrize("name", [s for s in SCENARIOS if s in ("aer-uncor", "layoutB-aer")])
def test_three_lines_on_a_real_dump(name):
    path = [p for (p, *_) in dump_files(name) if p.name == "d31-zlib.kdump"][0]
    with pykdump_ext.open_dump(str(path)) as reader:
        report = pykdump_ext.analyse(reader)
    assert isinstance(report, pykdump_ext.Report)
    assert isinstance(report.capture, pykdump_ext.Capture)
    assert report.capture.state == "captured"
    assert all(isinstance(d, pykdump_ext.Device) for d in report.devices)
    assert report.verdict is not None and report.verdict.suspects


def test_open_dump_errors_are_the_public_error():
    with pytest.raises(pykdump_ext.PcicrashError):
        pykdump_ext.open_dump([])
