"""pcicrash CLI: views, JSON, exit codes, error messages; end to end through lspci -F."""

import json
import subprocess
import sys

import pytest

from pykdump_ext.frontends.cli import main as cli
from pykdump_ext.pci import lspci_hex
from crash_ext_c.reader import PageStatus
from tests.builders import capture as cb
from tests.captures import CAPTURED, SCENARIOS, fixture_reader, scenario
from tests.shared import DATA, ROOT, needs_lspci, needs_shared, run_cli, scenario_dir

CAPTURES = DATA / "captures"


def run_main(*argv):
    res = subprocess.run([sys.executable, "-m", "pykdump_ext.frontends.cli.main"] + [str(a) for a in argv],
                         capture_output=True, text=True, cwd=str(ROOT), timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return res.returncode, res.stdout, res.stderr


# --- on the real captures (no dump needed) ------------------------------------------

@pytest.mark.parametrize("name", SCENARIOS)
def test_summary_state_line_and_exit_code(name):
    rc, out, err = run_cli(fixture_reader(name))
    state = "captured" if name in CAPTURED else ("skipped" if name == "cor-only" else "absent")
    assert ("Capture: %s" % state) in out
    assert rc == (0 if state == "captured" else 1)
    if state == "captured":
        assert "pagemap layout %s" % scenario(name).get("pagemap_layout", "A") in out
        assert "Verdict: " in out.splitlines()[3] or "Verdict: " in out
    else:
        assert "no PCI state from the panic" in out


@needs_lspci
@pytest.mark.parametrize("name", CAPTURED)
def test_hex_view_through_lspci_F_reproduces_the_guests_decode(name, tmp_path):
    """pcicrash -x | lspci -F -vvv -nn == the guest's own lspci -vvv -nn, device by device
    (up to what lspci -F cannot know, see tests/shared.normalise)."""
    from tests.shared import normalise, run_lspci_f
    rc, out, err = run_cli(fixture_reader(name), "-x")
    assert rc == 0 and err == ""
    f = tmp_path / "x.txt"
    f.write_text(out)
    ours = lspci_hex.split_lspci_verbose(run_lspci_f(f, "-vvv", "-nn"))
    truth = lspci_hex.split_lspci_verbose(
        (DATA / "lspci" / name / "lspci-vvv-nn.txt").read_text())
    raw = lspci_hex.parse_lspci_hex(out)
    assert set(ours) == set(truth)
    for bdf in truth:
        assert normalise(ours[bdf], raw[bdf]) == normalise(truth[bdf], raw[bdf]), bdf


def test_partial_capture_exit_1_with_what_was_read():
    recs = cb.qemu_like_records()
    r = cb.reader(cb.buffer(recs), missing={2: PageStatus.LOST})
    rc, out, err = run_cli(r)
    assert rc == 1 and "Capture: partial" in out and "not trusted" in out
    assert "0000:00:00.0" in out


def test_corrupt_capture_exit_1_no_traceback():
    r = cb.reader(cb.buffer(cb.qemu_like_records(), magic=0xDEADBEEF))
    rc, out, err = run_cli(r)
    assert rc == 1 and "Capture: corrupt" in out and "0xdeadbeef" in out
    rc, out, err = run_cli(cb.reader(cb.buffer(cb.qemu_like_records()), num_pages=0xFFFFFFFF), "-x")
    assert rc == 1 and out == "" and err.startswith("pcicrash: capture corrupt:")


def test_check_hook_calls_the_filter_check():
    rc, out, err = run_cli(fixture_reader("aer-uncor"), "--check")
    from makedumpfile_filter.check import check
    from pykdump_ext.output import check_view
    res = check(fixture_reader("aer-uncor"))
    assert rc == res.exit_code
    assert out.splitlines() == check_view.lines(res)


def test_parser_help_documents_exit_codes():
    text = cli.make_parser().format_help()
    for word in ("exit status", "absent", "skipped", "partial", "corrupt", "2  usage"):
        assert word in text


# --- the console script on real dump files ------------------------------------------

@needs_shared
def test_main_on_real_dumps_exit_codes():
    rc, out, err = run_main(scenario_dir("aer-uncor") / "d31-zlib.kdump")
    # a sysrq crash (scenario.json): the capture's error is not called the panic's cause
    assert rc == 0 and err == "" and out.startswith("Verdict: Panic: not a PCI error")
    assert "Strongest PCI error evidence in the capture (not the cause of this panic): " \
           "0000:01:00.0" in out
    rc, out, err = run_main(scenario_dir("cor-only") / "d31-zlib.kdump")
    assert rc == 1 and "Capture: skipped" in out
    rc, out, err = run_main(scenario_dir("no-buffer") / "d31-zlib.kdump")
    assert rc == 1 and "Capture: absent" in out


@needs_shared
def test_main_split_set_any_order_equals_single_file():
    d = scenario_dir("aer-uncor")
    _, single, _ = run_main("-j", d / "d31-zlib.kdump")
    rc, split, err = run_main("-j", d / "d31-zlib-split.2", d / "d31-zlib-split.1")
    assert rc == 0, err
    a, b = json.loads(single), json.loads(split)
    assert a["devices"] == b["devices"] and a["verdict"] == b["verdict"]


@needs_shared
def test_main_vmcoreinfo_file_overrides(tmp_path):
    d = scenario_dir("aer-uncor")
    text = (d / "vmcoreinfo.txt").read_text()
    f = tmp_path / "vmcoreinfo"
    f.write_text("".join(l + "\n" for l in text.splitlines() if not l.startswith("PCI_CRASH_")))
    rc, out, err = run_main("--vmcoreinfo", f, d / "d31-zlib.kdump")
    assert rc == 1 and "Capture: absent" in out


def test_main_unreadable_input_one_line_exit_2(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00" * 100)
    for target in (junk, tmp_path / "missing"):
        rc, out, err = run_main(target)
        assert rc == 2
        assert err.startswith("pcicrash: ") and len(err.splitlines()) == 1
        assert "Traceback" not in err


def test_main_usage_errors_exit_2():
    rc, out, err = run_main()
    assert rc == 2 and "no DUMP given" in err
    rc, out, err = run_main("--bogus", "x")
    assert rc == 2 and "Traceback" not in err


def test_json_doc_names_every_key():
    """docs/json.md documents every key the output has (the schema's one description; the
    whole tree, both ways, on every fixture: tests/pykdump_ext/output/test_report_json_schema.py)."""
    doc = (ROOT / "docs" / "json.md").read_text()
    rc, out, _ = run_cli(fixture_reader("aer-uncor"), "-j")
    d = json.loads(out)
    keys = set(d) | set(d["capture"]) | set(d["capture"]["pagemap"]) | set(d["capture"]["header"])
    keys |= set(d["devices"][10]) | set(d["devices"][10]["aer"]) | set(d["error_paths"][0])
    keys |= set(d["error_paths"][0]["hops"][0]) | set(d["verdict"]) | set(d["verdict"]["suspects"][0])
    keys |= set(d["devices"][10]["capabilities"][0])
    reg = next(iter(d["devices"][10]["capabilities"][0]["registers"].values()))
    keys |= set(reg)
    for k in sorted(keys):
        assert '"%s"' % k in doc, k


@needs_shared
@needs_lspci
def test_console_script_hex_into_lspci_F_on_a_real_dump(tmp_path):
    from tests.shared import normalise, run_lspci_f
    rc, out, err = run_main("-x", scenario_dir("layoutB-aer") / "d31-zlib.kdump")
    assert rc == 0 and err == ""
    f = tmp_path / "x.txt"
    f.write_text(out)
    ours = lspci_hex.split_lspci_verbose(run_lspci_f(f, "-vvv", "-nn"))
    truth = lspci_hex.split_lspci_verbose(
        (scenario_dir("layoutB-aer") / "ground-truth" / "lspci-vvv-nn.txt").read_text())
    raw = lspci_hex.parse_lspci_hex(out)
    assert set(ours) == set(truth) and len(ours) == 18
    for bdf in truth:
        assert normalise(ours[bdf], raw[bdf]) == normalise(truth[bdf], raw[bdf]), bdf


