"""slots.py: lspci's -s syntax for selecting devices."""

import re

import pytest

from pykdump_ext.pci import slots
from pykdump_ext.analysis.report import analyse
from crash_ext_c.errors import UsageError
from tests.captures import fixture_reader
from tests.shared import run_cli


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
    rc, out, _ = run_cli(fixture_reader("aer-uncor"), "-s", spec)
    listed = [l.split()[0] for l in out.splitlines() if l.startswith("  0000:")]
    assert listed == want


@pytest.mark.parametrize("spec", ["1:00.0.1", "zz", "20", "1:2:3:4", "1:00.8", "-1"])
def test_bad_slot_is_a_usage_error(spec):
    with pytest.raises(UsageError):
        slots.parse(spec)
    rc, out, err = run_cli(fixture_reader("aer-uncor"), "-d", spec)
    assert rc == 2 and "not a PCI address" in err


def test_repeated_device_option_is_a_union():
    rc, out, _ = run_cli(fixture_reader("aer-uncor"), "-d", "1:00.0", "-d", "00:02.0")
    heads = [l.split()[0] for l in out.splitlines() if re.match(r"^0000:\S+ ", l)]
    assert heads == ["0000:00:02.0", "0000:01:00.0"]
