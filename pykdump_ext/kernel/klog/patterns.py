"""The one table of kernel log line shapes the PCI event parser knows.

Each Pattern: a literal `key` that must occur in the message (a cheap
substring test before any regex runs), the regex (anchored, no nested
repetition: bounded cost per line), the line kind it gives, and a decoder per
named group.  Shapes come from the kernel's own format strings across
versions: drivers/pci/pcie/aer.c (3.x `aerdrv_errprint.c` "id=%04x",
4.x "error received: dddd:bb:dd.f", 5.x/6.x "error message received from",
6.10+ "Uncorrectable"), pcie/err.c, pcie/dpc.c, pcie/edr.c, hotplug/pciehp,
pci.c link retraining and bandwidth, drivers/acpi/apei (GHES, CPER),
arch/x86/kernel/nmi.c, kernel/panic.c, the oops/BUG printers, sysrq, the
drivers that name their PCI function, and pci_crash itself.

The dev_printk prefix ("pcieport 0000:00:02.0: ", "ixgbe 0000:01:00.0 eth0: ",
the old port-service "aer 0000:00:1c.0:pcie002: ") is taken off first by
PREFIX; the APEI "{1}[Hardware Error]: " prefix by GHES_PREFIX.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, Optional, Tuple

BDF = r"(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"


class Lazy:
    """A regex compiled on first use: a dump without a kernel log, or a log without the
    lines one is for, never pays for compiling it (most of this module's import)."""
    __slots__ = ("source", "flags", "_rx")

    def __init__(self, source: str, flags: int = 0):
        self.source, self.flags = source, flags
        self._rx: Optional[re.Pattern] = None

    @property
    def compiled(self) -> "re.Pattern":
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(self.source, self.flags)
        return rx

    def match(self, text: str):
        return self.compiled.match(text)

    def search(self, text: str):
        return self.compiled.search(text)

# "<driver> <bdf>[:pcieNNN][ <netdev>]: <message>"
PREFIX = Lazy(r"^(?P<drv>[A-Za-z0-9_.\-]{1,40}) (?P<bdf>%s)(?::pcie\d{1,4})?"
                    r"(?: (?P<ifname>[A-Za-z0-9_.\-]{1,32}))?: (?P<msg>.*)$" % BDF)
# "<driver> <name>: <message>" for class devices (nvme0, eth0): resolved through aliases
NAMED_PREFIX = Lazy(r"^(?P<drv>[A-Za-z0-9_.\-]{1,40}) (?P<name>[A-Za-z][A-Za-z0-9_.\-]{0,31}): "
                          r"(?P<msg>.*)$")
GHES_PREFIX = Lazy(r"^(?:\{(?P<gid>\d{1,6})\})?\[Hardware Error\]: ?(?P<msg>.*)$")


def norm_bdf(text: str) -> str:
    """'01:00.0' or '0000:01:00.0' -> '0000:01:00.0' (lower case)."""
    t = text.lower()
    return t if t.count(":") == 2 else "0000:" + t


def _hex(s):
    return int(s, 16)


def _int(s):
    return int(s, 10)


def _str(s):
    return s.strip()


def severity(text: str) -> str:
    """The kernel's severity words (any version) -> corrected | nonfatal | fatal | text."""
    t = text.lower()
    if "non-fatal" in t or "nonfatal" in t or t.startswith("recoverable"):
        return "nonfatal"
    if "fatal" in t:
        return "fatal"
    if t.startswith("correct") or t == "corrected":
        return "corrected"
    return t.strip()


DECODERS: Dict[str, Callable] = {"hex": _hex, "int": _int, "str": _str, "bdf": norm_bdf,
                                 "sev": severity, "flag": bool}


class Pattern:
    """One line shape.  The regex is compiled when a line first carries its key: a log
    shows a few of the shapes, and compiling them all took most of the start-up."""
    __slots__ = ("kind", "key", "source", "flags", "fields", "drivers", "needs_device", "_lazy")

    def __init__(self, kind: str, key: str, source: str, fields: Tuple[Tuple[str, str], ...] = (),
                 drivers: Tuple[str, ...] = (), needs_device: bool = False, flags: int = 0):
        self.kind = kind
        self.key = key                  # literal that must be in the message
        self.source = source            # the regex
        self.flags = flags
        self.fields = fields            # (group, decoder name)
        self.drivers = drivers          # only lines printed by these drivers
        self.needs_device = needs_device  # only lines whose prefix names a PCI function
        self._lazy = Lazy(source, flags)

    @property
    def regex(self) -> "re.Pattern":
        return self._lazy.compiled

    def __repr__(self) -> str:
        return "Pattern(%r, %r)" % (self.kind, self.key)


def P(kind: str, key: str, regex: str, fields: str = "", drivers: Iterable[str] = (),
      needs_device: bool = False, flags: int = 0) -> Pattern:
    pairs = tuple((name, conv) for name, conv in (f.split(":") for f in fields.split()))
    return Pattern(kind, key, regex, pairs, tuple(drivers), needs_device, flags)


_SEV = r"(?P<severity>Corrected|Correctable|Uncorrected \((?:Non-Fatal|Fatal)\)|" \
       r"Uncorrectable \((?:Non-Fatal|Fatal)\))"
_DRIVERS_NET = ("ixgbe", "ixgbevf", "i40e", "iavf", "ice", "e1000e", "e1000", "igb", "igc",
                "bnxt_en", "mlx5_core", "mlx4_core", "tg3", "bnx2x", "qede", "ena", "be2net",
                "cxgb4", "sfc", "atlantic", "r8169", "virtio_net", "hns3", "nfp", "ionic")
_DRIVERS_STORAGE = ("nvme", "qla2xxx", "lpfc", "megaraid_sas", "mpt3sas", "mpt2sas",
                    "smartpqi", "aacraid", "hpsa", "ahci", "mlx5_core", "isci", "pm80xx")

# Order matters only where two shapes share a key: the specific one comes first.
PATTERNS: Tuple[Pattern, ...] = (
    # --- AER (drivers/pci/pcie/aer.c, all versions) ---------------------------------
    P("aer_received", "received",
      r"^(?:AER: ?)?(?P<multiple>Multiple )?" + _SEV + r" error (?:message )?received"
      r"(?: from)?:? (?:id=(?P<rid>[0-9a-fA-F]{4})|(?P<source>" + BDF + r"))",
      "multiple:flag severity:sev rid:hex source:bdf"),
    P("aer_bus_error", "PCIe Bus Error",
      r"^(?:AER: ?)?PCIe Bus Error: severity=(?P<severity>[^,]{1,40}), type=(?P<type>[^,]{1,40}),"
      r" ?(?:id=(?P<rid>[0-9a-fA-F]{4}))?\((?P<agent>[^)]{0,40})\)",
      "severity:sev type:str rid:hex agent:str"),
    P("aer_status", "error status/mask",
      r"^(?:AER: ?)?\s*device \[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\] "
      r"error status/mask=(?P<status>[0-9a-fA-F]{8})/(?P<mask>[0-9a-fA-F]{8})",
      "vendor:hex device:hex status:hex mask:hex"),
    P("aer_bit", "]",
      r"^(?:AER: ?|DPC: ?)?\s*\[\s?(?P<bit>\d{1,2})\] (?P<name>\S.{0,60}?)\s*(?P<first>\(First\))?$",
      "bit:int name:str first:flag"),
    P("aer_first_agent", "reported first",
      r"^(?:AER: ?)?\s*Error of this Agent(?:\((?P<rid>[0-9a-fA-F]{4})\))? is reported first",
      "rid:hex"),
    P("aer_tlp", "TLP Header",
      r"^(?:AER: ?|DPC: ?)?\s*TLP Header: ?(?:0x)?(?P<d0>[0-9a-fA-F]{8}) (?:0x)?(?P<d1>[0-9a-fA-F]{8})"
      r" (?:0x)?(?P<d2>[0-9a-fA-F]{8}) (?:0x)?(?P<d3>[0-9a-fA-F]{8})",
      "d0:hex d1:hex d2:hex d3:hex"),
    # CPER / GHES-reported AER (cper_print_aer: its own words for the same registers)
    P("aer_cper_status", "aer_",
      r"^(?:AER: ?)?\s*aer_(?:(?P<which>uncor|cor)_)?status: 0x(?P<status>[0-9a-fA-F]{8}), "
      r"aer_(?:uncor_|cor_)?mask: 0x(?P<mask>[0-9a-fA-F]{8})",
      "which:str status:hex mask:hex"),
    P("aer_cper_layer", "aer_layer",
      r"^(?:AER: ?)?\s*aer_layer=(?P<type>[^,]{1,40}), aer_agent=(?P<agent>.{1,40})$",
      "type:str agent:str"),
    P("aer_cper_severity", "aer_uncor_severity",
      r"^(?:AER: ?)?\s*aer_uncor_severity: 0x(?P<sevmask>[0-9a-fA-F]{8})", "sevmask:hex"),
    # --- recovery (pcie/err.c; 3.x/4.x aerdrv_core.c "AER: Device recovery ...") ---------
    P("recovery", "ecovery",
      r"^(?:AER: |EDR: |DPC: )?[Dd]evice recovery (?P<result>successful|failed)", "result:str"),
    P("cant_recover", "can't recover",
      r"^(?:AER: )?can't recover \((?P<why>[^)]{0,80})\)", "why:str"),
    P("cant_recover", "no AER-aware driver",
      r"^(?:AER: )?(?P<why>device has no AER-aware driver)", "why:str"),
    # --- DPC (pcie/dpc.c; 4.x "DPC containment event") ---------------------------------
    P("dpc_event", "containment event",
      r"^(?:DPC: )?(?:DPC )?containment event, status:(?P<status>0x[0-9a-fA-F]{1,4}) "
      r"source:(?P<source>0x[0-9a-fA-F]{1,4})", "status:hex source:hex"),
    P("dpc_reason", "detected",
      r"^(?:DPC: )?(?:DPC )?(?P<reason>unmasked uncorrectable error|ERR_NONFATAL|ERR_FATAL|"
      r"RP PIO error|software trigger|reserved error) detected", "reason:str"),
    P("dpc_rp_pio", "rp_pio_status",
      r"^(?:DPC: )?rp_pio_status: (?P<status>0x[0-9a-fA-F]{1,8}), rp_pio_mask: (?P<mask>0x[0-9a-fA-F]{1,8})",
      "status:hex mask:hex"),
    P("dpc_rp_pio_sev", "RP PIO severity",
      r"^(?:DPC: )?RP PIO severity=(?P<severity>0x[0-9a-fA-F]{1,8}), syserror=(?P<syserror>0x[0-9a-fA-F]{1,8}),"
      r" exception=(?P<exception>0x[0-9a-fA-F]{1,8})", "severity:hex syserror:hex exception:hex"),
    # --- EDR (pcie/edr.c, dev_fmt "EDR: ") ------------------------------------------------
    P("edr", "EDR: ", r"^EDR: (?:Reported EDR dev: (?P<reported>" + BDF + r")|(?P<message>.{1,120}))",
      "reported:bdf message:str"),
    # --- hot-plug (pciehp) and link state -----------------------------------------------
    P("pciehp_link", "Link ",
      r"^(?:pciehp: )?Slot\((?P<slot>[^)]{1,20})\): Link (?P<state>Up|Down)(?P<ignored> ignored)?",
      "slot:str state:str ignored:flag"),
    P("pciehp_card", "Card ",
      r"^(?:pciehp: )?Slot\((?P<slot>[^)]{1,20})\): Card (?P<state>present|not present)",
      "slot:str state:str"),
    P("pciehp_card", "Card ",
      r"^(?:pciehp: )?Card (?P<state>present|not present) on Slot\((?P<slot>[^)]{1,20})\)",
      "slot:str state:str"),
    P("pciehp_slot", "Slot(",
      r"^(?:pciehp: )?Slot\((?P<slot>[^)]{1,20})\): (?P<what>Attention button pressed|Power fault|"
      r"Button press.{0,40}|Cannot enable.{0,40}|Cannot disable.{0,40}|Link Down/Up.{0,60})",
      "slot:str what:str"),
    P("link_retrain", "retraining",
      r"^(?P<what>broken device, retraining non-functional downstream link)"
      r"(?: at (?P<speed>[\d.]{1,6} ?GT/s))?", "what:str speed:str"),
    P("link_retrain", "retraining failed", r"^(?P<what>retraining failed)", "what:str"),
    P("link_retrain", "restriction",
      r"^(?P<what>removing 2\.5GT/s downstream link speed restriction)", "what:str"),
    P("link_limited", "available PCIe bandwidth",
      r"^(?P<available>[\d.]{1,10} Gb/s) available PCIe bandwidth, limited by (?P<speed>[\d.]{1,6} ?GT/s)"
      r"(?: PCIe)? x(?P<width>\d{1,2}) link at (?P<at>" + BDF + r") \(capable of (?P<capable>[\d.]{1,10} Gb/s)"
      r" with (?P<cap_speed>[\d.]{1,6} ?GT/s)(?: PCIe)? x(?P<cap_width>\d{1,2}) link\)",
      "available:str speed:str width:int at:bdf capable:str cap_speed:str cap_width:int"),
    P("link_change", "ink ",
      r"^(?:pcie_bwctrl: |bwctrl: )?(?P<what>[Ll]ink (?:speed|width|bandwidth) (?:changed|degraded|"
      r"reduced|notification).{0,80})", "what:str"),
    # --- drivers naming their PCI function ----------------------------------------------
    P("alias", "pci function", r"^pci function (?P<target>" + BDF + r")", "target:bdf",
      drivers=("nvme",)),
    P("driver_timeout", "QID",
      r"^I/O (?:tag )?(?P<tag>\d{1,6})(?: \((?P<op>[^)]{1,20})\))? QID (?P<qid>\d{1,5}) timeout,"
      r" (?P<action>.{1,60})$", "tag:int op:str qid:int action:str"),
    P("driver_reset", "controller is down",
      r"^(?P<what>controller is down; will reset): CSTS=(?P<csts>0x[0-9a-fA-F]{1,8}), "
      r"PCI_STATUS=(?P<pci_status>0x[0-9a-fA-F]{1,4})", "what:str csts:hex pci_status:hex"),
    P("driver_reset", "after reset failure",
      r"^(?P<what>Disabling device after reset failure.{0,40})", "what:str"),
    P("driver_reset", "probe failure",
      r"^(?P<what>Removing after probe failure) status: (?P<status>-?\d{1,6})", "what:str status:int"),
    P("driver_timeout", "NETDEV WATCHDOG",
      r"^NETDEV WATCHDOG: (?:(?P<ifname>[A-Za-z0-9_.\-]{1,32}) \((?P<ifdrv>[^)]{1,32})\)|CPU: \d{1,5}):"
      r" transmit queue (?P<queue>\d{1,5}) timed out", "ifname:str ifdrv:str queue:int"),
    P("driver_hang", "Unit Hang",
      r"^(?P<what>Detected (?:Tx|Hardware) Unit Hang)", "what:str", needs_device=True),
    P("driver_link_lost", "emoved",
      r"^(?P<what>Adapter removed|Device removed|(?:Surprise )?[Rr]emoved.{0,20})$", "what:str",
      drivers=_DRIVERS_NET + _DRIVERS_STORAGE),
    P("driver_link_lost", "link lost",
      r"^(?P<what>PCIe link lost.{0,40})", "what:str", needs_device=True),
    P("driver_reset", "eset",
      r"^(?P<what>.{0,40}(?:[Rr]eset adapter|PF reset issued|[Rr]eset (?:request|controller|"
      r"the device)|initiating reset|[Rr]esetting (?:adapter|controller|device)).{0,60})$",
      "what:str", drivers=_DRIVERS_NET + _DRIVERS_STORAGE),
    P("driver_fatal", "atal error",
      r"^(?P<what>.{0,60}[Ff]atal error.{0,60})$", "what:str", drivers=("mlx5_core", "mlx4_core",
                                                                      "bnxt_en", "ice", "i40e")),
    P("driver_timeout", "timeout",
      r"^(?P<what>.{0,80}(?:[Tt]imeout|timed out).{0,80})$", "what:str",
      drivers=_DRIVERS_NET + _DRIVERS_STORAGE),
    P("driver_timeout", "TX timeout",
      r"^(?P<what>.{0,40}TX timeout.{0,60})$", "what:str", needs_device=True),
    # --- NMI (arch/x86/kernel/nmi.c) ----------------------------------------------------
    P("nmi_serr", "PCI system error",
      r"^NMI: PCI system error \(SERR\)(?: for reason (?P<reason>[0-9a-fA-F]{1,2}) on CPU (?P<cpu>\d{1,5}))?",
      "reason:hex cpu:int"),
    P("nmi_iock", "IOCK error",
      r"^NMI: IOCK error \(debug interrupt\?\)(?: for reason (?P<reason>[0-9a-fA-F]{1,2}) on CPU (?P<cpu>\d{1,5}))?",
      "reason:hex cpu:int"),
    P("nmi_unknown", "NMI received for unknown reason",
      r"^Uhhuh\. NMI received for unknown reason (?P<reason>[0-9a-fA-F]{1,2}) on CPU (?P<cpu>\d{1,5})",
      "reason:hex cpu:int"),
    # --- panic, oops, BUG, sysrq ----------------------------------------------------------
    P("panic", "Kernel panic", r"^Kernel panic - not syncing: ?(?P<message>.{0,200})$", "message:str"),
    P("oops", "Oops", r"^Oops(?:: | - )(?P<message>.{0,120})$", "message:str"),
    P("bug", "BUG", r"^(?:kernel BUG at (?P<where>[^!]{1,120})!|BUG: (?P<message>.{1,160}))$",
      "where:str message:str"),
    P("bug", "general protection fault", r"^(?P<message>general protection fault.{0,120})$",
      "message:str"),
    P("rip", "IP", r"^(?:RIP: (?:[0-9a-f]{4}:)?|IP: (?:\[<[0-9a-f]{1,16}>\] )?)(?P<where>\S{1,120})",
      "where:str"),
    P("rip", "pc : ", r"^pc : (?P<where>\S{1,120})", "where:str"),
    P("sysrq", "ysRq", r"^SysRq : (?P<action>.{1,60})$", "action:str"),
    P("sysrq", "sysrq: ", r"^sysrq: (?P<action>.{1,60})$", "action:str"),
    # --- pci_crash's own lines (seeds/000: pr_fmt "pci_crash: ") ---------------------------
    P("pci_crash_capture", "pci_crash: CAPTURE",
      r"^pci_crash: CAPTURE: (?P<devices>\d{1,9}) devices, (?P<bytes>\d{1,12}) bytes",
      "devices:int bytes:int"),
    P("pci_crash_skipped", "skipping capture", r"^pci_crash: (?P<message>no PCI errors detected, skipping capture)",
      "message:str"),
    P("pci_crash_ready", "pci_crash: ready",
      r"^pci_crash: ready: (?P<devices>\d{1,9}) devices \((?P<bytes>\d{1,12}) bytes\), "
      r"capture=(?P<capture>\S{0,80}) devices=(?P<filter>\S{0,120})",
      "devices:int bytes:int capture:str filter:str"),
    P("pci_crash_nomatch", "no devices match",
      r"^pci_crash: no devices match devices=(?P<filter>\S{0,120})", "filter:str"),
    P("pci_crash_rebuild", "pci_crash: rebuild",
      r"^pci_crash: rebuild: (?P<devices>\d{1,9}) devices \((?P<bytes>\d{1,12}) bytes, (?P<pages>\d{1,9}) pages",
      "devices:int bytes:int pages:int"),
    P("pci_crash", "pci_crash: ", r"^pci_crash: (?P<message>.{1,160})$", "message:str"),
    # --- the kernel command line (init/main.c) --------------------------------------------
    P("cmdline", "Kernel command line", r"^Kernel command line: (?P<cmdline>.{0,4096})$", "cmdline:str"),
)

# APEI GHES / CPER lines, after GHES_PREFIX (drivers/acpi/apei/ghes.c, firmware/efi/cper.c)
GHES_PATTERNS: Tuple[Pattern, ...] = (
    P("ghes_source", "Hardware error from APEI",
      r"^Hardware error from APEI Generic Hardware Error Source: (?P<source>\d{1,6})", "source:int"),
    P("ghes_severity", "event severity", r"^event severity: (?P<severity>\w{1,20})", "severity:sev"),
    P("ghes_section", "section_type", r"^\s*section_type: (?P<section>.{1,60})$", "section:str"),
    P("ghes_device", "device_id: ",
      r"^\s*device_id: (?P<target>" + BDF + r")$", "target:bdf"),
    P("ghes_ids", "vendor_id", r"^\s*vendor_id: 0x(?P<vendor>[0-9a-fA-F]{4}), device_id: 0x(?P<device>[0-9a-fA-F]{4})",
      "vendor:hex device:hex"),
    P("ghes_port", "port_type", r"^\s*port_type: (?P<port_type>\d{1,2}), (?P<port>.{1,40})$",
      "port_type:int port:str"),
    P("ghes_cmdsta", "command: ", r"^\s*command: 0x(?P<command>[0-9a-fA-F]{4}), status: 0x(?P<status>[0-9a-fA-F]{4})",
      "command:hex status:hex"),
)

# The panic messages the verdict can classify: (regex on the message, pci, why).
# pci: True = a PCI error brought the machine down, False = not a PCI one, None = the
# message alone does not say (the log around it decides).
PANIC_CAUSES: Tuple[Tuple[Lazy, Optional[bool], str], ...] = tuple(
    (Lazy(rx, re.I), pci, why) for rx, pci, why in (
        (r"sysrq triggered crash", False, "a crash requested through sysrq"),
        (r"^NMI IOCK error", True, "NMI I/O channel check (IOCK)"),
        (r"^NMI: Not continuing", None, "unrecovered NMI"),
        (r"^Fatal hardware error", None, "fatal hardware error reported by firmware (APEI GHES)"),
        (r"AER|PCIe? (?:bus )?error|SERR|DPC", True, "the panic message names a PCI error"),
        (r"^Fatal exception", False, "an Oops (kernel bug or bad memory access)"),
        (r"^Attempted to kill (?:init|the idle task)", False, "init or the idle task died"),
        (r"^Out of memory", False, "out of memory"),
        (r"^VFS: Unable to mount root", False, "no root file system"),
        (r"soft ?lockup|hard ?LOCKUP|hung[_ ]task|RCU Stall", None, "a watchdog fired"),
        (r"[Mm]achine check|MCE", None, "machine check"),
    ))

# One search for any key of either table: a line with none of them is not looked at further.
ANY_KEY = Lazy("|".join(sorted({re.escape(p.key) for p in PATTERNS + GHES_PATTERNS},
                                     key=len, reverse=True)))
