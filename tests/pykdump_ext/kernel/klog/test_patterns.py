"""The event parser on the line shapes of kernels the shared dumps do not cover.

Each text is made of the kernel's own format strings (aer.c / aerdrv_errprint.c of
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


def events(text):
    return parse_events(records_from_dmesg_text(text))


def uncor(bit):
    return regs.AER_UNCOR_ERRORS[bit][1]


def cor(bit):
    return regs.AER_COR_ERRORS[bit][1]


RHEL7 = """\
[  100.000001] pcieport 0000:00:03.0: AER: Multiple Corrected error received: id=0018
[  100.000002] pcieport 0000:00:03.0: PCIe Bus Error: severity=Corrected, type=Data Link Layer, id=0018(Receiver ID)
[  100.000003] pcieport 0000:00:03.0:   device [8086:6f08] error status/mask=00000040/00002000
[  100.000004] pcieport 0000:00:03.0:    [ 6] Bad TLP
[  100.000005] pcieport 0000:00:03.0:   Error of this Agent(0018) is reported first
"""

UBUNTU_415 = """\
[   12.000001] pcieport 0000:00:1c.5: AER: Uncorrected (Non-Fatal) error received: 0000:02:00.0
[   12.000002] nvme 0000:02:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)
[   12.000003] nvme 0000:02:00.0:   device [144d:a808] error status/mask=00004000/00000000
[   12.000004] nvme 0000:02:00.0:    [14] Completion Timeout     (First)
[   12.000005] pcieport 0000:00:1c.5: AER: Device recovery successful
"""

V5_FATAL = """\
[ 3000.100000] pcieport 0000:00:01.1: AER: Uncorrected (Fatal) error received: 0000:01:00.0
[ 3000.100001] mlx5_core 0000:01:00.0: AER: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Receiver ID)
[ 3000.100002] mlx5_core 0000:01:00.0: AER:   device [15b3:1017] error status/mask=00040000/00000000
[ 3000.100003] mlx5_core 0000:01:00.0: AER:    [18] MalfTLP                (First)
[ 3000.100004] mlx5_core 0000:01:00.0: AER:   TLP Header: 60000010 010000ff 00000000 f7c00000
[ 3000.200000] Kernel panic - not syncing: Fatal AER error, device 0000:01:00.0 not recovered
"""

V610 = """\
[   50.000001] pcieport 0000:00:1c.0: AER: Correctable error message received from 0000:03:00.0
[   50.000002] e1000e 0000:03:00.0: PCIe Bus Error: severity=Correctable, type=Physical Layer, (Receiver ID)
[   50.000003] e1000e 0000:03:00.0:   device [8086:10d3] error status/mask=00000001/00006000
[   50.000004] e1000e 0000:03:00.0:    [ 0] RxErr                  (First)
"""

DPC = """\
[  700.000001] pcieport 0000:00:1c.0: DPC: containment event, status:0x1f01 source:0x0000
[  700.000002] pcieport 0000:00:1c.0: DPC: unmasked uncorrectable error detected
[  700.000003] pcieport 0000:00:1c.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Receiver ID)
[  700.000004] pcieport 0000:00:1c.0:   device [8086:a110] error status/mask=00100000/00004000
[  700.000005] pcieport 0000:00:1c.0:    [20] UnsupReq               (First)
[  700.000006] pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down
[  700.000007] pcieport 0000:00:1c.0: pciehp: Slot(1): Card not present
[  700.500000] pcieport 0000:00:1c.0: AER: device recovery successful
"""

DPC_PIO = """\
[  800.000001] pcieport 0000:00:1c.0: DPC: containment event, status:0x1007 source:0x0000
[  800.000002] pcieport 0000:00:1c.0: DPC: RP PIO error detected
[  800.000003] pcieport 0000:00:1c.0: DPC: rp_pio_status: 0x00010000, rp_pio_mask: 0x00000000
[  800.000004] pcieport 0000:00:1c.0: DPC: RP PIO severity=0x00000000, syserror=0x00000000, exception=0x00000000
[  800.000005] pcieport 0000:00:1c.0: DPC: [16] Memory Request received UR Completion (First)
[  800.000006] pcieport 0000:00:1c.0: DPC: TLP Header: 0x40000001 0x0000000f 0xf7c00000 0x00000000
"""

GHES_FATAL = """\
[  900.000001] {1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 1
[  900.000002] {1}[Hardware Error]: event severity: fatal
[  900.000003] {1}[Hardware Error]:  Error 0, type: fatal
[  900.000004] {1}[Hardware Error]:   section_type: PCIe error
[  900.000005] {1}[Hardware Error]:   port_type: 4, root port
[  900.000006] {1}[Hardware Error]:   version: 3.0
[  900.000007] {1}[Hardware Error]:   command: 0x0547, status: 0x4010
[  900.000008] {1}[Hardware Error]:   device_id: 0000:00:01.0
[  900.000009] {1}[Hardware Error]:   vendor_id: 0x8086, device_id: 0x2f02
[  900.000010] {1}[Hardware Error]:   aer_cor_status: 0x00000000, aer_cor_mask: 0x00002000
[  900.000011] {1}[Hardware Error]:   aer_uncor_status: 0x00000020, aer_uncor_mask: 0x00000000
[  900.000012] {1}[Hardware Error]:   aer_uncor_severity: 0x00062030
[  900.000013] Kernel panic - not syncing: Fatal hardware error!
"""

NMI_SERR = """\
[ 1000.000001] NMI: PCI system error (SERR) for reason a1 on CPU 0.
[ 1000.000002] Kernel panic - not syncing: NMI: Not continuing
"""

OLD_SYSRQ = """\
[  200.000001] SysRq : Trigger a crash
[  200.000002] BUG: unable to handle kernel NULL pointer dereference at           (null)
[  200.000003] IP: [<ffffffff813b9a06>] sysrq_handle_crash+0x16/0x20
[  200.000004] Oops: 0002 [#1] SMP
"""

OOPS = """\
[  300.000001] BUG: kernel NULL pointer dereference, address: 0000000000000008
[  300.000002] Oops: 0000 [#1] PREEMPT SMP NOPTI
[  300.000003] RIP: 0010:ext4_do_writepages+0x1a/0x500
[  300.000004] Kernel panic - not syncing: Fatal exception
"""

DRIVERS = """\
[    2.000001] nvme nvme0: pci function 0000:04:00.0
[    2.000002] ixgbe 0000:05:00.0 eth2: NIC Link is Up 10 Gbps
[  400.000001] nvme nvme0: I/O 123 (Read) QID 2 timeout, aborting
[  400.000002] nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff
[  400.000003] NETDEV WATCHDOG: eth2 (ixgbe): transmit queue 3 timed out
[  400.000004] ixgbe 0000:05:00.0 eth2: Detected Tx Unit Hang
[  400.000005] ixgbe 0000:05:00.0 eth2: Reset adapter
[  400.000006] ixgbe 0000:05:00.0: Adapter removed
[  400.000007] pcieport 0000:00:1d.0: broken device, retraining non-functional downstream link at 2.5GT/s
[  400.000008] pci 0000:06:00.0: 8.000 Gb/s available PCIe bandwidth, limited by 2.5 GT/s PCIe x4 link at 0000:00:1d.0 (capable of 31.504 Gb/s with 8.0 GT/s PCIe x4 link)
[  400.000009] i40e 0000:07:00.0: TX driver issue detected, PF reset issued
[  400.000010] pcieport 0000:00:1d.0: pciehp: Slot(5): Link Up
[  400.000011] pcieport 0000:00:1d.0: pciehp: Slot(5): Card present
"""


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
