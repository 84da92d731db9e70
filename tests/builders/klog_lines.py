"""Kernel log texts of kernels the shared dumps do not cover (tests/pykdump_ext/kernel/klog/
test_patterns.py checks the event parser on them; fuzz/make_corpus.py seeds fuzz_events).

Each text is made of the kernel's own format strings (aer.c / aerdrv_errprint.c of
3.10, 4.15/4.18, 5.x, 6.1 and 6.10+; dpc.c, pciehp, cper.c/ghes.c, nmi.c, panic.c,
nvme/netdev drivers) filled in as those printk calls would.
"""

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
