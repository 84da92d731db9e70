"""Decode one PCI function's raw config space (256 or 4096 bytes) into typed results.

Pure: bytes in, dataclasses out, standard library only.  ``decode()`` never
raises, whatever the bytes: anything odd (short buffer, 0xFFFFFFFF dwords,
capability pointers that loop or leave the buffer) becomes a string in
``Config.problems`` naming the offset, and decoding continues with what can
still be read.  Register layouts and bit names live in ``regs.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple


@dataclass(frozen=True)
class Cap:
    """One entry of the standard (``id`` 8-bit) or extended (``id`` 16-bit) capability list."""
    id: int
    offset: int
    name: str
    version: Optional[int] = None   # extended capabilities only (bits 19:16 of the header)


@dataclass(frozen=True)
class AerError:
    """One set bit of the AER Uncorrectable or Correctable Error Status register."""
    name: str        # long name, as the kernel's aer.c prints it ("Completion Timeout")
    short: str       # lspci's name ("CmpltTO")
    bit: int
    fatal: bool      # Uncorrectable Severity bit set (always False for correctable errors)
    masked: bool     # the matching Mask register bit is set
    first: bool      # bit == First Error Pointer (uncorrectable only)


@dataclass
class Pcie:
    """The PCI Express capability (ID 0x10)."""
    offset: int
    version: int
    port_type: int
    port_type_name: str          # "Root Port", "Endpoint", "Upstream Port", ...
    slot_implemented: bool
    interrupt_message: int
    # raw registers (None when the capability version / port type has no such register,
    # or it lies beyond the buffer)
    devcap: Optional[int] = None
    devctl: Optional[int] = None
    devsta: Optional[int] = None
    lnkcap: Optional[int] = None
    lnkctl: Optional[int] = None
    lnksta: Optional[int] = None
    sltcap: Optional[int] = None
    sltctl: Optional[int] = None
    sltsta: Optional[int] = None
    rootctl: Optional[int] = None
    rootcap: Optional[int] = None
    rootsta: Optional[int] = None
    devcap2: Optional[int] = None
    devctl2: Optional[int] = None
    devsta2: Optional[int] = None
    lnkcap2: Optional[int] = None
    lnkctl2: Optional[int] = None
    lnksta2: Optional[int] = None
    # link: speeds as strings ("8GT/s"), widths as ints (lanes); codes are the raw fields
    has_link: bool = False
    link_cap_speed: Optional[str] = None
    link_cap_speed_code: Optional[int] = None
    link_cap_width: Optional[int] = None
    link_speed: Optional[str] = None
    link_speed_code: Optional[int] = None
    link_width: Optional[int] = None
    port_number: Optional[int] = None
    downtrained: bool = False              # link up and speed or width below capability
    dll_active_reporting_capable: bool = False   # Link Capabilities bit 20
    dll_link_active: bool = False          # Link Status bit 13
    link_training: bool = False            # Link Status bit 11
    # flag names of the bits set ("CorrErr", "NonFatalErr", "FatalErr", "UnsupReq", ...)
    dev_status_flags: List[str] = field(default_factory=list)
    dev_control_flags: List[str] = field(default_factory=list)
    link_status_flags: List[str] = field(default_factory=list)
    link_control_flags: List[str] = field(default_factory=list)
    slot_status_flags: List[str] = field(default_factory=list)
    slot_control_flags: List[str] = field(default_factory=list)
    slot_cap_flags: List[str] = field(default_factory=list)
    root_control_flags: List[str] = field(default_factory=list)
    root_status_flags: List[str] = field(default_factory=list)
    root_pme_requester: Optional[int] = None
    max_payload: Optional[int] = None          # bytes (Device Control)
    max_read_request: Optional[int] = None     # bytes (Device Control)
    max_payload_supported: Optional[int] = None  # bytes (Device Capabilities)
    slot_number: Optional[int] = None


@dataclass
class Aer:
    """The Advanced Error Reporting extended capability (ID 0x0001)."""
    offset: int
    version: int
    uncor_status: int = 0
    uncor_mask: int = 0
    uncor_severity: int = 0
    cor_status: int = 0
    cor_mask: int = 0
    cap_control: int = 0
    first_error_pointer: int = 0
    header_log: Tuple[int, int, int, int] = (0, 0, 0, 0)   # dwords as lspci prints them
    tlp: Optional[object] = None        # tlp.Tlp, or None when the header log is all zero
    root_command: Optional[int] = None  # root ports / root complex event collectors only
    root_status: Optional[int] = None
    err_src_cor: Optional[int] = None   # 16-bit requester IDs
    err_src_uncor: Optional[int] = None
    tlp_prefix_log: Tuple[int, ...] = ()
    uncor_errors: List[AerError] = field(default_factory=list)
    cor_errors: List[AerError] = field(default_factory=list)
    root_flags: List[str] = field(default_factory=list)   # set Root Error Status flags
    root_command_flags: List[str] = field(default_factory=list)
    cap_flags: List[str] = field(default_factory=list)     # AERCap flag names that are set
    adv_err_int_msg: Optional[int] = None   # Root Error Status bits 31:27


@dataclass
class Dpc:
    """The Downstream Port Containment extended capability (ID 0x001d)."""
    offset: int
    version: int
    capability: int = 0
    control: int = 0
    status: int = 0
    source_id: int = 0
    triggered: bool = False
    trigger_reason: str = ""       # "" when not triggered
    trigger_reason_code: int = 0
    rp_extensions: bool = False
    rp_pio_fep: Optional[int] = None  # RP PIO First Error Pointer (status bits 12:8)
    rp_pio_status: Optional[int] = None
    rp_pio_mask: Optional[int] = None
    rp_pio_severity: Optional[int] = None
    rp_pio_syserror: Optional[int] = None
    rp_pio_exception: Optional[int] = None
    rp_pio_header_log: Tuple[int, ...] = ()
    rp_pio_errors: List[str] = field(default_factory=list)
    control_flags: List[str] = field(default_factory=list)
    status_flags: List[str] = field(default_factory=list)
    interrupt_message: int = 0


@dataclass
class Config:
    raw: bytes
    size: int = 0
    vendor_id: Optional[int] = None
    device_id: Optional[int] = None
    command: Optional[int] = None
    status: Optional[int] = None
    revision: Optional[int] = None
    class_code: Optional[int] = None     # 24-bit: base << 16 | sub << 8 | prog-if
    cache_line: Optional[int] = None
    latency: Optional[int] = None
    header_type: Optional[int] = None    # layout 0/1/2 (bit 7 = multifunction removed)
    header_type_raw: Optional[int] = None
    multifunction: bool = False
    bist: Optional[int] = None
    is_bridge: bool = False              # header type 1 or 2
    primary_bus: Optional[int] = None    # type 1 only
    secondary_bus: Optional[int] = None
    subordinate_bus: Optional[int] = None
    sec_status: Optional[int] = None
    bridge_control: Optional[int] = None
    subsys_vendor_id: Optional[int] = None
    subsys_id: Optional[int] = None
    interrupt_line: Optional[int] = None
    interrupt_pin: Optional[int] = None
    bars: List[int] = field(default_factory=list)   # raw BAR dwords
    command_flags: List[str] = field(default_factory=list)
    status_flags: List[str] = field(default_factory=list)
    sec_status_flags: List[str] = field(default_factory=list)
    bridge_control_flags: List[str] = field(default_factory=list)
    all_ff: bool = False                 # every byte 0xFF: the device did not answer
    all_zero: bool = False
    caps: List[Cap] = field(default_factory=list)
    ext_caps: List[Cap] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    pcie: Optional[Pcie] = None
    aer: Optional[Aer] = None
    dpc: Optional[Dpc] = None

    def cap(self, cap_id: int) -> Optional[Cap]:
        """First standard capability with this ID, or None."""
        for c in self.caps:
            if c.id == cap_id:
                return c
        return None

    def ext_cap(self, cap_id: int) -> Optional[Cap]:
        """First extended capability with this ID, or None."""
        for c in self.ext_caps:
            if c.id == cap_id:
                return c
        return None


def rid_to_bdf(domain: int, rid: int) -> str:
    """16-bit requester ID (bus << 8 | devfn) -> 'dddd:bb:dd.f'."""
    rid &= 0xFFFF
    return "%04x:%02x:%02x.%x" % (domain, rid >> 8, (rid >> 3) & 0x1F, rid & 7)


def decode(raw: bytes) -> Config:
    """Decode a config space snapshot; never raises.  See the module docstring."""
    raise NotImplementedError  # filled in by the next commit
