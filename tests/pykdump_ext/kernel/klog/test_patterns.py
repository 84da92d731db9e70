"""The event parser on the line shapes of kernels the shared dumps do not cover.

Each text (tests/builders/klog_lines.py) is made of the kernel's own format strings (aer.c / aerdrv_errprint.c of
3.10, 4.15/4.18, 5.x, 6.1 and 6.10+; dpc.c, pciehp, cper.c/ghes.c, nmi.c, panic.c,
nvme/netdev drivers) filled in as those printk calls would; what each test
expects follows from the register values in the text (bit n of a status word is
regs.AER_*_ERRORS[n]), not from a second copy of the names.
"""

import pytest

from pykdump_ext.pci import regs
from pykdump_ext.kernel.klog.events import match_line, parse_events
from pykdump_ext.kernel.klog.judge import summarise
from pykdump_ext.kernel.klog.records import KernelLog, records_from_dmesg_text
from tests.builders.klog_lines import (DPC, DPC_PIO, DRIVERS, GHES_FATAL, NMI_SERR, OLD_SYSRQ, OOPS, RHEL7,
                                      UBUNTU_415, V5_FATAL, V610)


def events(text):
    return parse_events(records_from_dmesg_text(text))


def uncor(bit):
    return regs.AER_UNCOR_ERRORS[bit][1]


def cor(bit):
    return regs.AER_COR_ERRORS[bit][1]


def test_rhel7_corrected_multiple_with_agent_id():
    ev, = events(RHEL7)
    f = ev.fields
    assert ev.kind == "aer" and ev.bdf == "0000:00:03.0"
    assert f["severity"] == "corrected" and f["multiple"] and f["source"] == "0000:00:03.0"
    assert f["errors"] == [cor(6)]
    assert f["details"][0]["reported_first"] is True
    assert f["recovery"] is None


def test_415_error_received_and_device_recovery_capitalised():
    ev, = events(UBUNTU_415)
    assert ev.bdf == "0000:02:00.0" and ev.reporter == "0000:00:1c.5"
    assert ev.fields["errors"] == [uncor(14)] and ev.fields["first_error"] == uncor(14)
    assert ev.fields["recovery"] == "successful" and ev.fields["vendor_id"] == 0x144d


def test_5x_fatal_aer_then_panic_names_the_device():
    evs = events(V5_FATAL)
    aer = [e for e in evs if e.kind == "aer"]
    assert aer[0].fields["severity"] == "fatal" and aer[0].fields["errors"] == [uncor(18)]
    t = aer[0].fields["tlp"]
    assert t["kind"].startswith("MWr") and t["address"] == 0xf7c00000
    s = summarise(KernelLog(records=records_from_dmesg_text(V5_FATAL)))
    assert s.panic.pci is True and s.panic.bdf == "0000:01:00.0"


def test_610_correctable_wording():
    ev, = events(V610)
    assert ev.fields["severity"] == "corrected" and ev.fields["errors"] == [cor(0)]
    assert ev.bdf == "0000:03:00.0"


def test_dpc_with_its_aer_lines_and_hotplug():
    evs = events(DPC)
    dpc = next(e for e in evs if e.kind == "dpc")
    assert dpc.fields["triggered"] and dpc.fields["reason"] == "unmasked uncorrectable error"
    assert dpc.fields["recovery"] == "successful"
    aer = next(e for e in evs if e.kind == "aer")
    assert aer.fields["errors"] == [uncor(20)]     # 0x00100000 & ~0x00004000
    assert aer.fields["recovery"] == "successful"
    assert [e.fields["state"] for e in evs if e.kind in ("pciehp_link", "pciehp_card")] == \
        ["Down", "not present"]


def test_dpc_rp_pio():
    ev, = events(DPC_PIO)
    f = ev.fields
    assert f["rp_pio_errors"] == [regs.DPC_RP_PIO_ERRORS[16]]
    assert f["trigger"] == regs.DPC_TRIGGER_EXTENSIONS[0]
    assert f["tlp"]["kind"].startswith("MWr")


def test_ghes_pcie_fatal_then_fatal_hardware_error_panic():
    s = summarise(KernelLog(records=records_from_dmesg_text(GHES_FATAL)))
    g = next(e for e in s.events if e.kind == "ghes_pcie")
    assert g.bdf == "0000:00:01.0" and g.fields["severity"] == "fatal"
    assert g.fields["errors"] == [uncor(5)]
    assert s.panic.pci is True and s.panic.bdf == "0000:00:01.0"


def test_nmi_serr_panic_is_pci():
    s = summarise(KernelLog(records=records_from_dmesg_text(NMI_SERR)))
    assert s.panic.pci is True and "SERR" in s.panic.why


@pytest.mark.parametrize("text,pci", [(OLD_SYSRQ, False), (OOPS, False)])
def test_oops_and_old_sysrq_are_not_pci(text, pci):
    s = summarise(KernelLog(records=records_from_dmesg_text(text)))
    assert s.panic.pci is pci and s.panic.line is not None


def test_oops_elsewhere_names_where():
    s = summarise(KernelLog(records=records_from_dmesg_text(OOPS)))
    assert "ext4_do_writepages" in s.panic.why


def test_drivers_name_their_function():
    evs = events(DRIVERS)
    kinds = [(e.kind, e.bdf) for e in evs]
    assert ("driver_timeout", "0000:04:00.0") in kinds          # nvme0 -> its pci function
    assert ("driver_reset", "0000:04:00.0") in kinds
    assert ("driver_timeout", "0000:05:00.0") in kinds          # NETDEV WATCHDOG eth2
    assert ("driver_hang", "0000:05:00.0") in kinds
    assert ("driver_reset", "0000:05:00.0") in kinds
    assert ("driver_link_lost", "0000:05:00.0") in kinds
    assert ("link_retrain", "0000:00:1d.0") in kinds
    assert ("driver_reset", "0000:07:00.0") in kinds
    lim = next(e for e in evs if e.kind == "link_limited")
    assert lim.fields["width"] == 4 and lim.fields["at"] == "0000:00:1d.0"
    assert [e.fields["state"] for e in evs if e.kind.startswith("pciehp")] == ["Up", "present"]


def test_pci_crash_lines_and_cmdline():
    text = ("[    0.100000] Kernel command line: ro pci_crash.devices=bridges,0108 pci=noaer\n"
            "[    0.900000] pci_crash: ready: 5 devices (12000 bytes), capture=aer devices=bridges,0108\n"
            "[    9.000000] Kernel panic - not syncing: sysrq triggered crash\n"
            "[    9.100000] pci_crash: no PCI errors detected, skipping capture\n")
    s = summarise(KernelLog(records=records_from_dmesg_text(text)))
    assert s.capture_filter == "bridges,0108"
    assert s.aer_off and "pci=noaer" in s.aer_off
    assert s.counts["pci_crash_skipped"] == 1 and s.panic.pci is False


@pytest.mark.parametrize("line", [
    "", "]", "[", "AER:", "PCIe Bus Error: severity=", "   [99] x (First)", "Slot(", "{1}[Hardware Error]:",
    "pcieport 0000:00:02.0: AER: TLP Header: zz", "x" * 100000, "\x00\xff" * 50,
    "pcieport 0000:00:02.0:    [14] CmpltTO (First)", "Kernel panic - not syncing:",
])
def test_odd_lines_never_raise(line):
    match_line(line)
    events("[    1.000000] %s\n[    2.000000] pcieport 0000:00:02.0:    [ 3] x\n" % line)


def test_pci_panic_with_a_capture_keeps_the_suspect_and_compares():
    """A byte-built capture (root port 00:02.0 <- ERR_NONFATAL CmpltTO from 01:00.0) with a
    log whose fatal AER report for the same device came just before the panic."""
    from tests.builders import capture as cb
    from pykdump_ext.analysis.report import analyse
    log = V5_FATAL.replace("00040000", "%08x" % cb.UE_COMP_TIME) \
        .replace("[18] MalfTLP", "[14] CmpltTO")
    rep = analyse(cb.reader(cb.buffer(cb.qemu_like_records())), names=None,
                  log=KernelLog(records=records_from_dmesg_text(log)))
    v = rep.verdict
    assert v.panic.pci is True and v.panic.bdf == "0000:01:00.0"
    assert v.lines[0].startswith("Panic: a PCI error")
    assert any(l.startswith("Most likely at fault: 0000:01:00.0") for l in v.lines)
    assert any("0000:01:00.0: log and registers agree: %s" % uncor(14) in l for l in v.lines)


def test_multiple_report_counts_each_error_device():
    text = """\
[   60.000001] pcieport 0000:00:1c.0: AER: Multiple Uncorrected (Non-Fatal) error message received from 0000:01:00.0
[   60.000002] nvme 0000:01:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)
[   60.000003] nvme 0000:01:00.0:   device [144d:a808] error status/mask=00004000/00000000
[   60.000004] nvme 0000:01:00.0:    [14] CmpltTO                (First)
[   60.000005] nvme 0000:01:00.1: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)
[   60.000006] nvme 0000:01:00.1:   device [144d:a808] error status/mask=00100000/00000000
[   60.000007] nvme 0000:01:00.1:    [20] UnsupReq               (First)
[   60.000008] pcieport 0000:00:1c.0: AER: device recovery failed
"""
    s = summarise(KernelLog(records=records_from_dmesg_text(text)))
    ev, = [e for e in s.events if e.kind == "aer"]
    assert ev.fields["multiple"] and [d["bdf"] for d in ev.fields["details"]] == \
        ["0000:01:00.0", "0000:01:00.1"]
    by = {d.bdf: d for d in s.devices}
    assert by["0000:01:00.0"].errors == [uncor(14)] and by["0000:01:00.1"].errors == [uncor(20)]
    assert by["0000:01:00.0"].failed == by["0000:01:00.1"].failed == 1


def test_event_count_is_bounded_and_said(monkeypatch):
    from pykdump_ext.kernel.klog import events as ev_mod
    monkeypatch.setattr(ev_mod, "MAX_EVENTS", 10)
    text = "".join("[%5d.000000] pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down\n" % i
                   for i in range(25))
    s = summarise(KernelLog(records=records_from_dmesg_text(text)))
    assert len(s.events) == 10 and s.dropped == 15
