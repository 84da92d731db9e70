"""PCI events from the kernel log, and the verdict they give, on the shared real dumps.

The logs are the real ones: the guests' own `makedumpfile --dump-dmesg` /
dmesg texts in ground-truth/, `makedumpfile --dump-dmesg` run here on the
shared dumps, and pcicrash's own log reader where this build has one.  What is
expected comes from each scenario.json (injections, console lines), never
from this file.
"""

import json
import re

import pytest

from tests.shared import (QEMU_ERRORS, VMCORES, makedumpfile_log, needs_makedumpfile, needs_shared,
                         unrecovered_sources)
from pykdump_ext.analysis.report import analyse
from pykdump_ext.kernel.klog.events import parse_events
from pykdump_ext.kernel.klog.records import KernelLog, records_from_dmesg_text

# QEMU's pcie_aer_inject_error names (hw/pci/pcie_aer.c) not in tests/shared.QEMU_ERRORS
ERRORS = dict(QEMU_ERRORS, UNSUP=("Unsupported Request", "UnsupReq"))

ALL = sorted(p.parent.name for p in VMCORES.glob("*/scenario.json")) if VMCORES.exists() else []
SYSRQ = [s for s in ALL if any("sysrq triggered crash" in line for line in
                               json.loads((VMCORES / s / "scenario.json").read_text())
                               .get("panic_console_lines", []))]
NO_CAPTURE_LOGS = ["vanilla-aer", "debian-distro-aer"]


def scen(name):
    return json.loads((VMCORES / name / "scenario.json").read_text())


def report(name, vmcoreinfo=None):
    """analyse() of the scenario's d31-zlib.kdump, the log read by pcicrash's own reader."""
    from crash_ext_c.open import open_dump
    dump = VMCORES / name / "d31-zlib.kdump"
    with open_dump([str(dump)], vmcoreinfo=vmcoreinfo) as r:
        rep = analyse(r, names="system")
    assert rep.kernel_log is not None and rep.kernel_log.log.records, name
    return rep


def _comparable(events):
    return [(e.kind, e.bdf, e.reporter, int(round(e.time * 1e9)) // 1000,   # dmesg: µs
             {k: v for k, v in e.fields.items() if k != "recovery_time"}, e.raw)
            for e in events]


@needs_shared
@needs_makedumpfile
@pytest.mark.parametrize("name", ALL)
def test_events_from_our_reader_equal_those_from_makedumpfile(name):
    """The same events whether the log comes from pcicrash's reader or the real peer's text."""
    dump = VMCORES / name / "d31-zlib.kdump"
    if not dump.exists():
        pytest.skip("no d31-zlib.kdump")
    ours = report(name).kernel_log.events
    peer = parse_events(makedumpfile_log(dump).records)
    assert _comparable(ours) == _comparable(peer)
    assert ours


def injections(name):
    """Uncorrectable injections that reached the kernel as a message: QEMU forwards no
    correctable ones (vmcores/README), nor any a device's DevCtl enables keep back
    (aer-tlp's e1000e); the console's "error message received from" lines say which."""
    reached = {s for s, _r in console_recoveries(name)}
    return [i for i in scen(name).get("injections") or []
            if "-c" not in i["flags"] and i["bdf_guest"] in reached]


def console_recoveries(name):
    """[(source BDF, 'successful'|'failed')] from the scenario's console lines, in order."""
    out, cur = [], None
    for line in scen(name).get("aer_console_lines", []):
        m = re.search(r"error message received from (\S+)", line)
        if m:
            cur = m.group(1)
        m = re.search(r"device recovery (successful|failed)", line)
        if m and cur:
            out.append((cur, m.group(1)))
            cur = None
    return out


# --- events on the real logs --------------------------------------------------------------

@needs_shared
@needs_makedumpfile
def test_aer_handled_events_list_every_injected_error():
    rep = report("aer-handled")
    aer = [e for e in rep.kernel_log.events if e.kind == "aer"]
    inj = injections("aer-handled")
    assert len(inj) == len([i for i in scen("aer-handled")["injections"] if "-c" not in i["flags"]])
    assert len(aer) == len(inj)
    for i, ev in zip(inj, aer):                      # log order is injection order
        assert ev.bdf == i["bdf_guest"]
        assert ERRORS[i["error"]][1] in ev.fields["errors"]
        assert ev.fields["first_error"] == ERRORS[i["error"]][1]
    assert [(e.fields["source"], e.fields["recovery"]) for e in aer] == \
        console_recoveries("aer-handled")


@needs_shared
@pytest.mark.parametrize("name", ["vanilla-aer", "debian-distro-aer", "aer-tlp"])
def test_ground_truth_logs_give_the_injected_errors(name):
    for fname in ("dmesg.txt", "makedumpfile-dump-dmesg.txt"):
        text = (VMCORES / name / "ground-truth" / fname).read_text(errors="replace")
        aer = [e for e in parse_events(records_from_dmesg_text(text)) if e.kind == "aer"]
        for i in injections(name):
            hits = [e for e in aer if e.bdf == i["bdf_guest"]
                    and ERRORS[i["error"]][1] in e.fields["errors"]]
            assert hits, (fname, i)
        assert [(e.fields["source"], e.fields["recovery"]) for e in aer] == console_recoveries(name)


@needs_shared
def test_aer_tlp_headers_decoded_as_the_scenario_says():
    text = (VMCORES / "aer-tlp" / "ground-truth" / "makedumpfile-dump-dmesg.txt").read_text()
    aer = {e.bdf: e for e in parse_events(records_from_dmesg_text(text)) if e.kind == "aer"}
    logged = 0
    for i in scen("aer-tlp")["injections"]:
        ev = aer.get(i["bdf_guest"])
        t = ev.fields.get("tlp") if ev else None
        if t is None:
            continue       # Linux logs a header only for some error types (AER_LOG_TLP_MASKS)
        logged += 1
        want = i["tlp_header"]
        assert t["dwords"] == want["header_log_dwords"]
        assert want["kind"].startswith(t["kind"])
        assert t["requester"].endswith(want["fields"]["requester_id"])
    assert logged >= 2


# --- the verdict -----------------------------------------------------------------------------

@needs_shared
@needs_makedumpfile
@pytest.mark.parametrize("name", SYSRQ)
def test_sysrq_panic_is_not_a_pci_one(name):
    rep = report(name)
    p = rep.verdict.panic
    assert p is not None and p.pci is False and "sysrq" in p.why
    assert rep.verdict.lines[0].startswith("Panic: not a PCI error")
    assert "sysrq triggered crash" in rep.verdict.lines[0]
    # "Most likely at fault" would say the device caused this panic: it did not
    assert not any(l.startswith("Most likely at fault") for l in rep.verdict.lines)


def _without_pci_crash(name, tmp_path):
    src = (VMCORES / name / "vmcoreinfo.txt").read_text()
    f = tmp_path / "vmcoreinfo.txt"
    f.write_text("".join(l for l in src.splitlines(True) if not l.startswith("PCI_CRASH_")))
    return str(f)


@needs_shared
@needs_makedumpfile
@pytest.mark.parametrize("name", NO_CAPTURE_LOGS + ["aer-handled"])
def test_no_capture_verdict_comes_from_the_log(name, tmp_path):
    vmci = _without_pci_crash(name, tmp_path) if name == "aer-handled" else None
    rep = report(name, vmcoreinfo=vmci)
    assert rep.capture.state == "absent" and not rep.devices
    failed = set(unrecovered_sources(scen(name)))
    assert failed
    line = next(l for l in rep.verdict.lines if l.startswith("From the kernel log"))
    top = re.search(r": (\S+) ", line.split("): ", 1)[1] if "): " in line else line)
    named = re.findall(r"\b[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b", line)
    assert named and named[0] in failed, line
    assert "recovery failed" in line
    assert top is not None
    # the JSON says the same
    from pykdump_ext.output import report_json
    d = json.loads(report_json.dumps(rep))
    assert d["verdict"]["panic"]["pci"] is False and "sysrq" in d["verdict"]["panic"]["line"]
    evs = d["kernel_log"]["events"]
    assert all({"time", "bdf", "kind", "fields", "raw"} <= set(e) for e in evs)
    assert {e["bdf"] for e in evs if e["kind"] == "aer" and e["fields"]["recovery"] == "failed"} \
        == failed


@needs_shared
@needs_makedumpfile
def test_capture_and_log_held_against_each_other():
    rep = report("aer-handled")
    start = next(i for i, l in enumerate(rep.verdict.lines) if l.startswith("Log vs registers: "))
    cross = rep.verdict.lines[start:]
    failed = set(unrecovered_sources(scen("aer-handled")))
    for i in injections("aer-handled"):
        bdf, bit = i["bdf_guest"], ERRORS[i["error"]][1]
        line = next(l for l in cross if bdf + ":" in l)
        assert bit in line
        if bdf in failed:
            # not recovered: the capture still holds the error the log reported
            assert bit in [e.short for e in rep.by_bdf[bdf].config.aer.uncor_errors]
            assert "agree" in line or "share " + bit in line, line
        else:
            assert "clear at panic" in line, line


@needs_shared
@needs_makedumpfile
def test_capture_filter_is_said(tmp_path):
    """issue 15 item 6: pci_crash.devices= limits what was captured (no-buffer: matched nothing)."""
    rep = report("no-buffer")
    cmd = scen("no-buffer")["kernel_cmdline_first"]
    want = re.search(r"pci_crash\.devices=(\S+)", cmd).group(1)
    assert rep.kernel_log.capture_filter == want
    assert any("pci_crash.devices=%s" % want in n for n in rep.capture.notes)


@needs_shared
@needs_makedumpfile
def test_capture_filter_on_a_captured_dump():
    """aer-uncor's real capture with its real log, the boot line edited as a filtered boot
    prints it: the capture must say it was limited."""
    from crash_ext_c.open import open_dump
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    log = makedumpfile_log(dump)
    recs = [r.__class__(r.seq, r.ts_nsec, r.level, r.facility,
                        r.text.replace("devices=all", "devices=bridges")) for r in log.records]
    assert recs != log.records
    with open_dump([str(dump)]) as r:
        rep = analyse(r, log=KernelLog(records=recs), names="system")
    assert rep.capture.state == "captured"
    assert any("pci_crash.devices=bridges" in n for n in rep.capture.notes)


@needs_shared
@needs_makedumpfile
def test_log_view_and_summary():
    import io
    from crash_ext_c.open import open_dump
    from pykdump_ext.frontends.cli import main as cli
    dump = VMCORES / "vanilla-aer" / "d31-zlib.kdump"
    for opts, check in ((["-l"], "aer"), (["-l", "-d", "0000:03:00.0"], "UnsupReq"), ([], "panic:")):
        out = io.StringIO()
        with open_dump([str(dump)]) as r:
            rc = cli.execute(r, cli.make_parser().parse_args(opts + [str(dump)]), out,
                             err=io.StringIO())
        text = out.getvalue()
        assert rc == 1 and check in text, opts
        if "-d" in opts:
            assert "0000:01:00.0" not in text.split("\n", 1)[1]
        if opts == ["-l"]:
            for i in injections("vanilla-aer"):
                assert any(i["bdf_guest"] in l and ERRORS[i["error"]][1] in l
                           for l in text.splitlines()), i


class _Hide:
    """A real dump reader with some of its pages reported as excluded by filtering."""

    def __new__(cls, inner, hidden):
        from crash_ext_c.reader import MemoryReader, PageStatus

        class Hidden(MemoryReader):
            name, page_size, vmcoreinfo = inner.name, inner.page_size, inner.vmcoreinfo
            format = inner.format

            def page_status(self, pfn):
                return PageStatus.EXCLUDED if pfn in hidden else inner.page_status(pfn)

            def _read_page(self, pfn):
                return inner.read_page(pfn)
        return Hidden()


@needs_shared
def test_check_and_verdict_say_when_log_pages_are_missing():
    from crash_ext_c.open import open_dump
    from makedumpfile_filter.check import check
    from pykdump_ext.kernel.klog.reader import read_kernel_log
    from pykdump_ext.output import check_view
    with open_dump([str(VMCORES / "vanilla-aer" / "d31-zlib.kdump")]) as r:
        whole = read_kernel_log(r)
        assert check(r).kernel_log.complete is True
        # hide the highest page the reader read (the text data ring, not its descriptors)
        bad = _Hide(r, {max(whole.pfns)})
        res = check(bad)
        rep = analyse(bad, names="system")
    assert res.kernel_log.complete is False
    assert any(l.startswith("kernel log: INCOMPLETE") for l in check_view.lines(res))
    assert rep.kernel_log.log.complete is False
    assert any(n.startswith("kernel log") for n in rep.verdict.notes)
    assert len(rep.kernel_log.log.records) < len(whole.records)
