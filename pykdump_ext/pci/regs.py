"""PCI / PCI Express register layouts and bit names, as data.

Facts from the PCI Local Bus and PCI Express Base specifications, as
pciutils (lib/header.h, ls-*.c) and the kernel (include/uapi/linux/pci_regs.h,
drivers/pci/pcie/aer.c, dpc.c) name them.  Short flag names follow lspci so a
support engineer sees the words lspci would print; the kernel's AER names are
kept beside them where they differ.

Tables only: a flag table is a tuple of (mask, name); a field is (offset, size).
flags() and flag_line() at the end answer from per-byte lookups of these tables.
"""

import itertools
import operator
from typing import Any, Dict, List, Sequence, Tuple

# --- Type 0/1/2 common header -------------------------------------------------

VENDOR_ID = 0x00
DEVICE_ID = 0x02
COMMAND = 0x04
STATUS = 0x06
REVISION_ID = 0x08
CLASS_PROG = 0x09
CACHE_LINE_SIZE = 0x0C
LATENCY_TIMER = 0x0D
HEADER_TYPE = 0x0E
BIST = 0x0F
BAR0 = 0x10
CAPABILITY_LIST = 0x34
INTERRUPT_LINE = 0x3C
INTERRUPT_PIN = 0x3D

HEADER_TYPE_MASK = 0x7F
HEADER_MULTIFUNCTION = 0x80
HEADER_TYPES = {0: "Normal", 1: "PCI-to-PCI bridge", 2: "CardBus bridge"}

# Number of BARs per header layout
BAR_COUNT = {0: 6, 1: 2, 2: 1}

# Type 0
T0_SUBSYSTEM_VENDOR_ID = 0x2C
T0_SUBSYSTEM_ID = 0x2E
T0_ROM_ADDRESS = 0x30
# Type 1 (PCI-to-PCI bridge)
T1_PRIMARY_BUS = 0x18
T1_SECONDARY_BUS = 0x19
T1_SUBORDINATE_BUS = 0x1A
T1_SEC_LATENCY = 0x1B
T1_IO_BASE = 0x1C
T1_IO_LIMIT = 0x1D
T1_SEC_STATUS = 0x1E
T1_MEMORY_BASE = 0x20
T1_MEMORY_LIMIT = 0x22
T1_PREF_MEMORY_BASE = 0x24
T1_PREF_MEMORY_LIMIT = 0x26
T1_PREF_BASE_UPPER32 = 0x28
T1_PREF_LIMIT_UPPER32 = 0x2C
T1_IO_BASE_UPPER16 = 0x30
T1_IO_LIMIT_UPPER16 = 0x32
T1_ROM_ADDRESS = 0x38
T1_BRIDGE_CONTROL = 0x3E
# Type 2 (CardBus bridge)
T2_CAPABILITY_LIST = 0x14
T2_SEC_STATUS = 0x16
T2_PRIMARY_BUS = 0x18
T2_CARD_BUS = 0x19
T2_SUBORDINATE_BUS = 0x1A
T2_BRIDGE_CONTROL = 0x3E
T2_SUBSYSTEM_VENDOR_ID = 0x40
T2_SUBSYSTEM_ID = 0x42

# Where the capability pointer lives, per header layout
CAP_POINTER = {0: CAPABILITY_LIST, 1: CAPABILITY_LIST, 2: T2_CAPABILITY_LIST}

COMMAND_BITS = (
    (0x0001, "I/O"),
    (0x0002, "Mem"),
    (0x0004, "BusMaster"),
    (0x0008, "SpecCycle"),
    (0x0010, "MemWINV"),
    (0x0020, "VGASnoop"),
    (0x0040, "ParErr"),
    (0x0080, "Stepping"),
    (0x0100, "SERR"),
    (0x0200, "FastB2B"),
    (0x0400, "DisINTx"),
)

STATUS_BITS = (
    (0x0008, "INTx"),
    (0x0010, "Cap"),
    (0x0020, "66MHz"),
    (0x0040, "UDF"),
    (0x0080, "FastB2B"),
    (0x0100, "ParErr"),            # Master Data Parity Error
    (0x0800, ">TAbort"),           # Signaled Target Abort
    (0x1000, "<TAbort"),           # Received Target Abort
    (0x2000, "<MAbort"),           # Received Master Abort
    (0x4000, ">SERR"),             # Signaled System Error
    (0x8000, "<PERR"),             # Detected Parity Error
)
STATUS_CAP_LIST = 0x0010
# Status bits that record an error event (what a triage tool should shout about)
STATUS_ERROR_MASK = 0x0100 | 0x0800 | 0x1000 | 0x2000 | 0x4000 | 0x8000

SEC_STATUS_BITS = (
    (0x0020, "66MHz"),
    (0x0080, "FastB2B"),
    (0x0100, "ParErr"),
    (0x0800, ">TAbort"),
    (0x1000, "<TAbort"),
    (0x2000, "<MAbort"),
    (0x4000, "<SERR"),             # Received System Error (secondary side)
    (0x8000, "<PERR"),
)

BRIDGE_CONTROL_BITS = (
    (0x0001, "Parity"),
    (0x0002, "SERR"),
    (0x0004, "NoISA"),
    (0x0008, "VGA"),
    (0x0010, "VGA16"),
    (0x0020, "MAbort"),
    (0x0040, ">Reset"),
    (0x0080, "FastB2B"),
    (0x0100, "PriDiscTmr"),
    (0x0200, "SecDiscTmr"),
    (0x0400, "DiscTmrStat"),
    (0x0800, "DiscTmrSERREn"),
)

CARDBUS_CONTROL_BITS = (
    (0x0001, "Parity"),
    (0x0002, "SERR"),
    (0x0004, "ISA"),
    (0x0008, "VGA"),
    (0x0020, "MAbort"),
    (0x0040, ">Reset"),
    (0x0080, "16bInt"),
    (0x0100, "Prefetch0"),
    (0x0200, "Prefetch1"),
    (0x0400, "PostWrite"),
)

# --- Capability IDs -----------------------------------------------------------

# Standard capabilities (8-bit ID, in the first 256 bytes).  Names as lspci starts
# its "Capabilities: [xx]" line where it has a fixed word.
CAP_NAMES = {
    0x00: "Null",
    0x01: "Power Management",
    0x02: "AGP",
    0x03: "Vital Product Data",
    0x04: "Slot ID",
    0x05: "MSI",
    0x06: "CompactPCI hot-swap",
    0x07: "PCI-X",
    0x08: "HyperTransport",
    0x09: "Vendor Specific Information",
    0x0A: "Debug port",
    0x0B: "CompactPCI central resource control",
    0x0C: "Hot-plug capable",
    0x0D: "Subsystem",
    0x0E: "AGP3",
    0x0F: "Secure device",
    0x10: "Express",
    0x11: "MSI-X",
    0x12: "SATA HBA",
    0x13: "PCI Advanced Features",
    0x14: "Enhanced Allocation",
    0x15: "Flattening Portal Bridge",
}

CAP_ID_PM = 0x01
CAP_ID_MSI = 0x05
CAP_ID_VNDR = 0x09
CAP_ID_SSVID = 0x0D
CAP_ID_EXP = 0x10
CAP_ID_MSIX = 0x11

# Extended capabilities (16-bit ID, from offset 0x100).
EXT_CAP_NAMES = {
    0x0000: "Null",
    0x0001: "Advanced Error Reporting",
    0x0002: "Virtual Channel",
    0x0003: "Device Serial Number",
    0x0004: "Power Budgeting",
    0x0005: "Root Complex Link",
    0x0006: "Root Complex Internal Link",
    0x0007: "Root Complex Event Collector Endpoint Association",
    0x0008: "Multi-Function Virtual Channel",
    0x0009: "Virtual Channel",
    0x000A: "Root Complex Register Block",
    0x000B: "Vendor Specific Information",
    0x000C: "Configuration Access Correlation",
    0x000D: "Access Control Services",
    0x000E: "Alternative Routing-ID Interpretation (ARI)",
    0x000F: "Address Translation Service (ATS)",
    0x0010: "Single Root I/O Virtualization (SR-IOV)",
    0x0011: "Multi-Root I/O Virtualization",
    0x0012: "Multicast",
    0x0013: "Page Request Interface (PRI)",
    0x0014: "Reserved for AMD",
    0x0015: "Physical Resizable BAR",
    0x0016: "Dynamic Power Allocation",
    0x0017: "Transaction Processing Hints",
    0x0018: "Latency Tolerance Reporting",
    0x0019: "Secondary PCI Express",
    0x001A: "Protocol Multiplexing",
    0x001B: "Process Address Space ID (PASID)",
    0x001C: "LN Requester",
    0x001D: "Downstream Port Containment",
    0x001E: "L1 PM Substates",
    0x001F: "Precision Time Measurement",
    0x0020: "PCI Express over M_PHY",
    0x0021: "FRS Queueing",
    0x0022: "Readiness Time Reporting",
    0x0023: "Designated Vendor-Specific",
    0x0024: "Virtual Resizable BAR",
    0x0025: "Data Link Feature",
    0x0026: "Physical Layer 16.0 GT/s",
    0x0027: "Lane Margining at the Receiver",
    0x0028: "Hierarchy ID",
    0x0029: "Native PCIe Enclosure Management",
    0x002A: "Physical Layer 32.0 GT/s",
    0x002B: "Alternate Protocol",
    0x002C: "System Firmware Intermediary",
    0x002D: "Shadow Functions",
    0x002E: "Data Object Exchange",
    0x002F: "Device 3",
    0x0030: "Integrity & Data Encryption",
    0x0031: "Physical Layer 64.0 GT/s",
    0x0032: "Flit Logging",
    0x0033: "Flit Performance Measurement",
    0x0034: "Flit Error Injection",
    0x0035: "Streamlined Virtual Channel",
    0x0036: "MMIO Register Block Locator",
    0x0037: "NOP Flit",
    0x0038: "Scalable I/O Virtualization",
    0x0039: "Physical Layer 128.0 GT/s",
    0x003A: "Captured Data",
}

EXT_CAP_ID_AER = 0x0001
EXT_CAP_ID_DPC = 0x001D

# Extended capability header: id 15:0, version 19:16, next 31:20
EXT_CAP_START = 0x100
EXT_CAP_NEXT_SHIFT = 20
EXT_CAP_VERSION_SHIFT = 16

# --- PCI Express capability (ID 0x10), offsets relative to the capability ------

EXP_FLAGS = 0x02
EXP_DEVCAP = 0x04
EXP_DEVCTL = 0x08
EXP_DEVSTA = 0x0A
EXP_LNKCAP = 0x0C
EXP_LNKCTL = 0x10
EXP_LNKSTA = 0x12
EXP_SLTCAP = 0x14
EXP_SLTCTL = 0x18
EXP_SLTSTA = 0x1A
EXP_RTCTL = 0x1C
EXP_RTCAP = 0x1E
EXP_RTSTA = 0x20
EXP_DEVCAP2 = 0x24
EXP_DEVCTL2 = 0x28
EXP_DEVSTA2 = 0x2A
EXP_LNKCAP2 = 0x2C
EXP_LNKCTL2 = 0x30
EXP_LNKSTA2 = 0x32
EXP_SLTCAP2 = 0x34
EXP_SLTCTL2 = 0x38
EXP_SLTSTA2 = 0x3A
EXP_V1_SIZE = 0x24      # version 1 capability stops after Root Status
EXP_V2_SIZE = 0x3C

EXP_FLAGS_VERSION = 0x000F
EXP_FLAGS_TYPE_SHIFT = 4
EXP_FLAGS_TYPE_MASK = 0x00F0
EXP_FLAGS_SLOT = 0x0100
EXP_FLAGS_IRQ_SHIFT = 9
EXP_FLAGS_IRQ_MASK = 0x3E00

PORT_TYPE_ENDPOINT = 0x0
PORT_TYPE_LEGACY_ENDPOINT = 0x1
PORT_TYPE_ROOT_PORT = 0x4
PORT_TYPE_UPSTREAM = 0x5
PORT_TYPE_DOWNSTREAM = 0x6
PORT_TYPE_PCIE_TO_PCI = 0x7
PORT_TYPE_PCI_TO_PCIE = 0x8
PORT_TYPE_RCIEP = 0x9
PORT_TYPE_RCEC = 0xA

PORT_TYPE_NAMES = {
    PORT_TYPE_ENDPOINT: "Endpoint",
    PORT_TYPE_LEGACY_ENDPOINT: "Legacy Endpoint",
    PORT_TYPE_ROOT_PORT: "Root Port",
    PORT_TYPE_UPSTREAM: "Upstream Port",
    PORT_TYPE_DOWNSTREAM: "Downstream Port",
    PORT_TYPE_PCIE_TO_PCI: "PCI-Express to PCI/PCI-X Bridge",
    PORT_TYPE_PCI_TO_PCIE: "PCI/PCI-X to PCI-Express Bridge",
    PORT_TYPE_RCIEP: "Root Complex Integrated Endpoint",
    PORT_TYPE_RCEC: "Root Complex Event Collector",
}
# Port types whose slot registers are meaningful when the Slot Implemented flag is set
SLOT_PORT_TYPES = frozenset((PORT_TYPE_ROOT_PORT, PORT_TYPE_DOWNSTREAM, PORT_TYPE_PCI_TO_PCIE))
# Port types with the Root Control/Capabilities/Status registers
ROOT_PORT_TYPES = frozenset((PORT_TYPE_ROOT_PORT, PORT_TYPE_RCEC))
# Port types without a link (so no link registers are meaningful)
NO_LINK_PORT_TYPES = frozenset((PORT_TYPE_RCIEP, PORT_TYPE_RCEC))
# Ports that face downstream: the link they report is the one to the devices below
DOWNSTREAM_FACING = frozenset((PORT_TYPE_ROOT_PORT, PORT_TYPE_DOWNSTREAM, PORT_TYPE_PCI_TO_PCIE))

# Device Capabilities
DEVCAP_PAYLOAD_MASK = 0x7
DEVCAP_PHANTOM_SHIFT = 3
# Device Control
DEVCTL_BITS = (
    (0x0001, "CorrErr"),
    (0x0002, "NonFatalErr"),
    (0x0004, "FatalErr"),
    (0x0008, "UnsupReq"),
    (0x0010, "RlxdOrd"),
    (0x0100, "ExtTag"),
    (0x0200, "PhantFunc"),
    (0x0400, "AuxPwr"),
    (0x0800, "NoSnoop"),
    (0x8000, "BrConfRtry/FLReset"),   # bridge: config retry enable; endpoint: initiate FLR
)
DEVCTL_PAYLOAD_SHIFT = 5
DEVCTL_READRQ_SHIFT = 12
DEVCTL_REPORT_ENABLES = 0x000F
# Device Status
DEVSTA_BITS = (
    (0x0001, "CorrErr"),
    (0x0002, "NonFatalErr"),
    (0x0004, "FatalErr"),
    (0x0008, "UnsupReq"),
    (0x0010, "AuxPwr"),
    (0x0020, "TransPend"),
    (0x0040, "EmergencyPowerReduction"),
)
DEVSTA_ERROR_MASK = 0x000F

# Link Capabilities
LNKCAP_SPEED_MASK = 0x0000000F
LNKCAP_WIDTH_SHIFT = 4
LNKCAP_WIDTH_MASK = 0x000003F0
LNKCAP_ASPM_SHIFT = 10
LNKCAP_DLLA = 0x00100000             # Data Link Layer Link Active Reporting Capable (bit 20)
LNKCAP_PORT_SHIFT = 24
LINK_SPEEDS = {
    1: "2.5GT/s",
    2: "5GT/s",
    3: "8GT/s",
    4: "16GT/s",
    5: "32GT/s",
    6: "64GT/s",
}
ASPM_SUPPORT = {0: "not supported", 1: "L0s", 2: "L1", 3: "L0s L1"}

# Link Control
LNKCTL_ASPM_MASK = 0x0003
LNKCTL_BITS = (
    (0x0008, "RCB128"),
    (0x0010, "Disabled"),
    (0x0020, "Retrain"),
    (0x0040, "CommClk"),
    (0x0080, "ExtSynch"),
    (0x0100, "ClockPM"),
    (0x0200, "AutWidDis"),
    (0x0400, "BWInt"),
    (0x0800, "AutBWInt"),
    (0x2000, "FlitModeDis"),
)
LNKCTL_DISABLE = 0x0010

# Link Status
LNKSTA_SPEED_MASK = 0x000F
LNKSTA_WIDTH_SHIFT = 4
LNKSTA_WIDTH_MASK = 0x03F0
LNKSTA_TRAIN = 0x0800
LNKSTA_DL_ACT = 0x2000               # Data Link Layer Link Active (bit 13)
LNKSTA_BITS = (
    (0x0400, "TrErr"),
    (0x0800, "Train"),
    (0x1000, "SlotClk"),
    (0x2000, "DLActive"),
    (0x4000, "BWMgmt"),
    (0x8000, "ABWMgmt"),
)

# Slot Capabilities
SLTCAP_BITS = (
    (0x00000001, "AttnBtn"),
    (0x00000002, "PwrCtrl"),
    (0x00000004, "MRL"),
    (0x00000008, "AttnInd"),
    (0x00000010, "PwrInd"),
    (0x00000020, "Surprise"),           # Hot-Plug Surprise
    (0x00000040, "HotPlug"),            # Hot-Plug Capable
    (0x00020000, "Interlock"),
    (0x00040000, "NoCompl"),
)
SLTCAP_PWR_VAL_SHIFT = 7
SLTCAP_PWR_VAL_MASK = 0x00007F80
SLTCAP_PWR_SCL_SHIFT = 15
SLTCAP_PSN_SHIFT = 19
# Slot Control
SLTCTL_BITS = (
    (0x0001, "AttnBtn"),
    (0x0002, "PwrFlt"),
    (0x0004, "MRL"),
    (0x0008, "PresDet"),
    (0x0010, "CmdCplt"),
    (0x0020, "HPIrq"),
    (0x0400, "PowerOff"),      # Power Controller Control: 1 = power off
    (0x0800, "Interlock"),
    (0x1000, "LinkChg"),
)
SLTCTL_ATTN_IND_SHIFT = 6
SLTCTL_PWR_IND_SHIFT = 8
# Slot Status
SLTSTA_BITS = (
    (0x0001, "AttnBtn"),
    (0x0002, "PowerFlt"),
    (0x0004, "MRLChg"),
    (0x0008, "PresDetChg"),
    (0x0010, "CmdCplt"),
    (0x0020, "MRL"),           # MRL Sensor State (1 = open)
    (0x0040, "PresDet"),       # Presence Detect State
    (0x0080, "Interlock"),
    (0x0100, "LinkState"),     # Data Link Layer State Changed
)
# Root Control / Capabilities / Status
RTCTL_BITS = (
    (0x0001, "ErrCorrectable"),
    (0x0002, "ErrNon-Fatal"),
    (0x0004, "ErrFatal"),
    (0x0008, "PMEIntEna"),
    (0x0010, "CRSVisible"),
)
RTCAP_BITS = ((0x0001, "CRSVisible"),)
RTSTA_PME_REQID_MASK = 0x0000FFFF
RTSTA_BITS = (
    (0x00010000, "PMEStatus"),
    (0x00020000, "PMEPending"),
)

# The rest of the PCIe registers (DevCap, LnkCap, the "2" registers, ...) and every other
# capability's layout: pykdump_ext/pci/caps/ (one module per capability).

# --- Advanced Error Reporting (extended ID 0x0001), offsets relative to the cap --

AER_UNCOR_STATUS = 0x04
AER_UNCOR_MASK = 0x08
AER_UNCOR_SEVER = 0x0C
AER_COR_STATUS = 0x10
AER_COR_MASK = 0x14
AER_CAP = 0x18
AER_HEADER_LOG = 0x1C          # 4 dwords
AER_ROOT_COMMAND = 0x2C        # root ports and RCECs only
AER_ROOT_STATUS = 0x30
AER_ROOT_COR_SRC = 0x34        # 16-bit
AER_ROOT_SRC = 0x36            # 16-bit
AER_TLP_PREFIX_LOG = 0x38      # 4 dwords, when AERCap TLPPfxPres
AER_SIZE = 0x38

AER_CAP_FEP_MASK = 0x1F

# Uncorrectable errors: bit -> (lspci name, kernel aer.c name, spec name).
# Bit 0 (Training Error) was defined in PCIe 1.0a only.
AER_UNCOR_ERRORS = {
    0: ("Train", "Undefined", "Training Error"),
    4: ("DLP", "DLP", "Data Link Protocol Error"),
    5: ("SDES", "SDES", "Surprise Down Error"),
    12: ("TLP", "TLP", "Poisoned TLP Received"),
    13: ("FCP", "FCP", "Flow Control Protocol Error"),
    14: ("CmpltTO", "CmpltTO", "Completion Timeout"),
    15: ("CmpltAbrt", "CmpltAbrt", "Completer Abort"),
    16: ("UnxCmplt", "UnxCmplt", "Unexpected Completion"),
    17: ("RxOF", "RxOF", "Receiver Overflow"),
    18: ("MalfTLP", "MalfTLP", "Malformed TLP"),
    19: ("ECRC", "ECRC", "ECRC Error"),
    20: ("UnsupReq", "UnsupReq", "Unsupported Request"),
    21: ("ACSViol", "ACSViol", "ACS Violation"),
    22: ("UncorrIntErr", "UncorrIntErr", "Uncorrectable Internal Error"),
    23: ("BlockedTLP", "BlockedTLP", "MC Blocked TLP"),
    24: ("AtomicOpBlocked", "AtomicOpBlocked", "AtomicOp Egress Blocked"),
    25: ("TLPBlockedErr", "TLPBlockedErr", "TLP Prefix Blocked Error"),
    26: ("PoisonTLPBlocked", "PoisonTLPBlocked", "Poisoned TLP Egress Blocked"),
    27: ("DMWrReqBlocked", "DMWrReqBlocked", "DMWr Request Egress Blocked"),
    28: ("IDECheck", "IDECheck", "IDE Check Failed"),
    29: ("MisIDETLP", "MisIDETLP", "Misrouted IDE TLP"),
    30: ("PCRC_CHECK", "PCRC_CHECK", "PCRC Check Failed"),
    31: ("TLPXlatBlocked", "TLPXlatBlocked", "TLP Translation Egress Blocked"),
}
# Correctable errors: bit -> (lspci name, kernel aer.c name, spec name)
AER_COR_ERRORS = {
    0: ("RxErr", "RxErr", "Receiver Error"),
    6: ("BadTLP", "BadTLP", "Bad TLP"),
    7: ("BadDLLP", "BadDLLP", "Bad DLLP"),
    8: ("Rollover", "Rollover", "REPLAY_NUM Rollover"),
    12: ("Timeout", "Timeout", "Replay Timer Timeout"),
    13: ("AdvNonFatalErr", "NonFatalErr", "Advisory Non-Fatal Error"),
    14: ("CorrIntErr", "CorrIntErr", "Corrected Internal Error"),
    15: ("HeaderOF", "HeaderOF", "Header Log Overflow"),
}
# Uncorrectable errors after which the kernel's aer.c prints the logged TLP header
# (its AER_LOG_TLP_MASKS): Poisoned TLP, Completer Abort, Unexpected Completion,
# Malformed TLP, ECRC, Unsupported Request.
AER_LOG_TLP_MASK = (1 << 12) | (1 << 15) | (1 << 16) | (1 << 18) | (1 << 19) | (1 << 20)

AER_CAP_BITS = (
    (0x00000020, "ECRCGenCap"),
    (0x00000040, "ECRCGenEn"),
    (0x00000080, "ECRCChkCap"),
    (0x00000100, "ECRCChkEn"),
    (0x00000200, "MultHdrRecCap"),
    (0x00000400, "MultHdrRecEn"),
    (0x00000800, "TLPPfxPres"),
    (0x00001000, "HdrLogCap"),
)
AER_CAP_TLP_PFX = 0x00000800
AER_ROOT_CMD_BITS = (
    (0x1, "CERptEn"),
    (0x2, "NFERptEn"),
    (0x4, "FERptEn"),
)
AER_ROOT_STATUS_BITS = (
    (0x01, "CERcvd"),          # ERR_COR received
    (0x02, "MultCERcvd"),
    (0x04, "UERcvd"),          # ERR_FATAL/NONFATAL received
    (0x08, "MultUERcvd"),
    (0x10, "FirstFatal"),
    (0x20, "NonFatalMsg"),
    (0x40, "FatalMsg"),
)
AER_ROOT_STATUS_UNCOR_RCV = 0x04
AER_ROOT_MSG_NUM_SHIFT = 27

# --- Downstream Port Containment (extended ID 0x001d) ---------------------------

DPC_CAP = 0x04          # 16-bit
DPC_CTL = 0x06          # 16-bit
DPC_STATUS = 0x08       # 16-bit
DPC_SOURCE_ID = 0x0A    # 16-bit
DPC_RP_PIO_STATUS = 0x0C
DPC_RP_PIO_MASK = 0x10
DPC_RP_PIO_SEVERITY = 0x14
DPC_RP_PIO_SYSERROR = 0x18
DPC_RP_PIO_EXCEPTION = 0x1C
DPC_RP_PIO_HEADER_LOG = 0x20   # 4 dwords
DPC_RP_PIO_IMPSPEC_LOG = 0x30
DPC_RP_PIO_TLP_PREFIX_LOG = 0x34

DPC_CAP_INT_MSG_MASK = 0x001F
DPC_CAP_RP_EXT = 0x0020
DPC_CAP_RP_LOG_SHIFT = 8
DPC_CTL_TRIGGER_MASK = 0x0003
DPC_CTL_BITS = (
    (0x0004, "Cmpl"),          # completion control: 1 = UR completions while contained
    (0x0008, "INT"),
    (0x0010, "ErrCor"),
    (0x0020, "PoisonedTLP"),
    (0x0040, "SwTrigger"),
    (0x0080, "DL_ActiveErr"),
)
DPC_STS_TRIGGER = 0x0001
DPC_STS_REASON_SHIFT = 1
DPC_STS_REASON_MASK = 0x3
DPC_STS_EXT_SHIFT = 5
DPC_STS_EXT_MASK = 0x3
DPC_STS_PIO_FEP_SHIFT = 8
DPC_STS_PIO_FEP_MASK = 0x1F
DPC_STS_BITS = (
    (0x0001, "Trigger"),
    (0x0008, "INT"),
    (0x0010, "RPBusy"),
)
# Trigger Reason (status bits 2:1); 3 means "see Trigger Reason Extension"
DPC_TRIGGER_REASONS = {
    0: "unmasked uncorrectable error",
    1: "ERR_NONFATAL received",
    2: "ERR_FATAL received",
}
DPC_TRIGGER_REASON_EXTENSION = 3
# Trigger Reason Extension (status bits 6:5)
DPC_TRIGGER_EXTENSIONS = {
    0: "RP PIO error",
    1: "software trigger",
    2: "reserved trigger reason extension 2",
    3: "reserved trigger reason extension 3",
}
# RP PIO Status/Mask/Severity/SysError/Exception bits
DPC_RP_PIO_ERRORS = {
    0: "Configuration Request received UR Completion",
    1: "Configuration Request received CA Completion",
    2: "Configuration Request Completion Timeout",
    8: "I/O Request received UR Completion",
    9: "I/O Request received CA Completion",
    10: "I/O Request Completion Timeout",
    16: "Memory Request received UR Completion",
    17: "Memory Request received CA Completion",
    18: "Memory Request Completion Timeout",
}

def _byte_lookups(table):
    """A (mask, name) table as per-byte lookups: [(shift, names[256], line[256]), ...].

    names[v] is the tuple of names whose bits are set in byte value v, line[v]
    the 'Name+ Other-' text of that byte's entries.  Bytes without entries are
    left out.  None when the table cannot be split this way (a mask spanning
    two bytes, or masks out of ascending order, which would change the order).
    """
    masks = [m for m, _ in table]
    if masks != sorted(masks) or any(m <= 0 or (m.bit_length() - 1) // 8 != ((m & -m).bit_length() - 1) // 8
                                     for m in masks):
        return None
    out = []
    for shift in range(0, max(masks).bit_length() if masks else 0, 8):
        entries = [(m >> shift, n) for m, n in table if (m >> shift) and (m >> shift) < 256]
        if entries:
            out.append((shift,) + _byte_table(entries))
    return out


def _nibble_table(entries):
    """names[16], line[16] of (mask, name) entries whose masks lie in bits 3:0."""
    return ([tuple(n for m, n in entries if v & m) for v in range(16)],
            [" ".join([n + ("+" if v & m else "-") for m, n in entries]) for v in range(16)])


def _byte_table(entries):
    """names[256], line[256] of (mask, name) entries of one byte, in entry order.

    Built as low nibble x high nibble (16 + 16 patterns, then 256 joins) so that
    building stays cheap; an entry whose mask spans both nibbles gets the plain
    256-value build."""
    lo = [(m, n) for m, n in entries if m < 0x10]
    hi = [(m >> 4, n) for m, n in entries if m >= 0x10]
    if any(m & 0xF for m, _n in entries if m >= 0x10):
        return (tuple(tuple(n for m, n in entries if v & m) for v in range(256)),
                tuple(" ".join([n + ("+" if v & m else "-") for m, n in entries]) for v in range(256)))
    lo_names, lo_lines = _nibble_table(lo)
    hi_names, hi_lines = _nibble_table(hi)
    if lo and hi:
        lo_lines = [a + " " for a in lo_lines]
    # value v = hi << 4 | lo: the low-nibble list repeats 16 times, each high entry 16 times
    names = tuple(map(operator.add, lo_names * 16, itertools.chain.from_iterable([b] * 16 for b in hi_names)))
    lines = tuple(map(operator.add, lo_lines * 16, itertools.chain.from_iterable([b] * 16 for b in hi_lines)))
    return names, lines


def _compiled(lk):
    """(flags(value), flag_line(value)) functions over byte lookups, unrolled for 1 or 2 bytes."""
    if len(lk) == 1:
        (s0, n0, l0), = lk
        return (lambda v: list(n0[(v >> s0) & 0xFF]),
                lambda v: l0[(v >> s0) & 0xFF])
    if len(lk) == 2:
        (s0, n0, l0), (s1, n1, l1) = lk
        return (lambda v: [*n0[(v >> s0) & 0xFF], *n1[(v >> s1) & 0xFF]],
                lambda v: l0[(v >> s0) & 0xFF] + " " + l1[(v >> s1) & 0xFF])
    return (lambda v: [n for s, names, _l in lk for n in names[(v >> s) & 0xFF]],
            lambda v: " ".join([line[(v >> s) & 0xFF] for s, _n, line in lk]))


# The (mask, name) tables of this module by id; their lookups are built on first use (so
# importing stays cheap) into _FAST: id -> (table, flags function, flag_line function),
# or (table, None, None) for a table that does not split into bytes.
_TABLES = {id(t): t for k, t in list(globals().items())
           if k.endswith("_BITS") and isinstance(t, tuple) and t
           and all(isinstance(e, tuple) and len(e) == 2 for e in t)}
_FAST: Dict[int, Tuple[Any, ...]] = {}


def _build(table):
    """Build and keep the _FAST entry of `table`; None for a table not of this module."""
    if _TABLES.get(id(table)) is not table:
        return None
    lk = _byte_lookups(table)
    fast = _FAST[id(table)] = (table,) + (_compiled(lk) if lk else (None, None))
    return fast


def flags(value: int, table: Sequence[Tuple[int, str]]) -> List[str]:
    """Names of the bits of `value` set in a (mask, name) table, in table order."""
    fast = _FAST.get(id(table))
    if fast is None or fast[0] is not table:
        fast = _build(table)
    if fast is not None and fast[1] is not None:
        return fast[1](value)
    return [name for mask, name in table if value & mask]


def flag_line(value: int, table: Sequence[Tuple[int, str]]) -> str:
    """lspci-style 'Name+ Other-' text for a (mask, name) table."""
    fast = _FAST.get(id(table))
    if fast is None or fast[0] is not table:
        fast = _build(table)
    if fast is not None and fast[2] is not None:
        return fast[2](value)
    return " ".join("%s%s" % (name, "+" if value & mask else "-") for mask, name in table)
