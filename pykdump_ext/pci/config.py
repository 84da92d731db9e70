"""Decode one PCI function's raw config space (256 or 4096 bytes) into typed results.

Pure: bytes in, dataclasses out, standard library only.  ``decode()`` never
raises, whatever the bytes: anything odd (short buffer, 0xFFFFFFFF dwords,
capability pointers that loop or leave the buffer) becomes a string in
``Config.problems`` naming the offset, and decoding continues with what can
still be read.  Register layouts and bit names live in ``regs.py``.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from . import caps as _caps
from . import regs as R
from . import tlp as _tlp
from .caps import header as _hdr
from .caps.model import CapResult
from .caps.registry import Ctx
from .bdf import rid_bdf


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
    name: str        # the specification's name ("Completion Timeout")
    short: str       # lspci's flag name ("CmpltTO"), mostly also the kernel's
    bit: int
    fatal: bool      # Uncorrectable Severity bit set (always False for correctable errors)
    masked: bool     # the matching Mask register bit is set
    first: bool      # bit == First Error Pointer (uncorrectable only)
    kernel: str = ""  # the kernel's aer.c name where it differs from lspci's ("NonFatalErr")


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
    cap: Optional[CapResult] = field(default=None, repr=False, compare=False)   # every register decoded


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
    header_log_expected: bool = False   # an unmasked error of a kind the kernel logs a TLP for
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
    cap: Optional[CapResult] = field(default=None, repr=False, compare=False)   # every register decoded


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
    rp_pio_tlp: Optional[object] = None      # tlp.Tlp decoded from rp_pio_header_log
    rp_pio_errors: List[str] = field(default_factory=list)
    control_flags: List[str] = field(default_factory=list)
    status_flags: List[str] = field(default_factory=list)
    interrupt_message: int = 0
    cap: Optional[CapResult] = field(default=None, repr=False, compare=False)   # every register decoded


@dataclass
class Config:
    """One function's config space decoded: header fields, PCIe, AER, DPC and every capability."""
    raw: bytes = field(repr=False)
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
    ff_dwords: List[int] = field(default_factory=list)   # offsets of 0xFFFFFFFF dwords (failed reads)
    # every register lspci -vvv decodes: the header, then one result per capability in
    # list order (standard, then extended), from the caps registry
    header: Optional[CapResult] = None
    capabilities: List[CapResult] = field(default_factory=list)
    ctx: Optional[Ctx] = field(default=None, repr=False)

    def capability(self, kind: str, cap_id: int) -> Optional[CapResult]:
        """First decoded capability of this kind ("std"/"ext") and ID, or None."""
        for c in self.capabilities:
            if c.id == cap_id and c.kind == kind:
                return c
        return None

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
    return rid_bdf(domain, rid)


_STD_HOPS = 48          # (256 - 64) / 4: more entries than that means a loop
_EXT_HOPS = 960         # (4096 - 256) / 4
_FF_SHOWN = 8


class _Buf:
    """Bounds-checked little-endian reads: None beyond the buffer instead of an exception."""
    __slots__ = ("b", "n")

    def __init__(self, b) -> None:
        self.b = b
        self.n = len(b)

    def u8(self, off):
        return self.b[off] if 0 <= off < self.n else None

    def u16(self, off):
        if 0 <= off and off + 2 <= self.n:
            return self.b[off] | (self.b[off + 1] << 8)
        return None

    def u32(self, off):
        if 0 <= off and off + 4 <= self.n:
            return int.from_bytes(self.b[off:off + 4], "little")
        return None


class _Block:
    """Registers at fixed offsets from a base, read with one struct unpack.

    `regs` is ((rel, fmt), ...) in ascending offset order, fmt a struct code
    ("B", "H", "I").  read() returns one value per register, None for a
    register that does not fit below `limit` (the same None a bounds-checked
    single read gives).
    """
    __slots__ = ("struct", "size", "ends")

    def __init__(self, regs) -> None:
        fmt, pos, ends = "<", 0, []
        for rel, code in regs:
            assert rel >= pos, "registers overlap or are out of order"
            fmt += "%dx%s" % (rel - pos, code) if rel > pos else code
            pos = rel + struct.calcsize("<" + code)
            ends.append(pos)
        self.struct = struct.Struct(fmt)
        self.size = pos
        self.ends = tuple(ends)

    def read(self, raw, off, limit):
        if off + self.size <= limit:
            return self.struct.unpack_from(raw, off)
        have = raw[off:limit] if off < limit else b""
        vals = list(self.struct.unpack(have + bytes(self.size - len(have))))
        return [None if off + e > limit else v for v, e in zip(vals, self.ends)]


# Standard header, fields every header type shares (class code as prog-if + 16-bit class)
_HEADER = _Block(((R.VENDOR_ID, "H"), (R.DEVICE_ID, "H"), (R.COMMAND, "H"), (R.STATUS, "H"),
                  (R.REVISION_ID, "B"), (R.REVISION_ID + 1, "B"), (R.REVISION_ID + 2, "H"),
                  (R.CACHE_LINE_SIZE, "B"), (R.LATENCY_TIMER, "B"), (R.HEADER_TYPE, "B"), (R.BIST, "B"),
                  (R.INTERRUPT_LINE, "B"), (R.INTERRUPT_PIN, "B")))
_BARS = {t: _Block(tuple((R.BAR0 + 4 * i, "I") for i in range(n))) for t, n in R.BAR_COUNT.items()}
_T0 = _Block(((R.T0_SUBSYSTEM_VENDOR_ID, "H"), (R.T0_SUBSYSTEM_ID, "H")))
_T1 = _Block(((R.T1_PRIMARY_BUS, "B"), (R.T1_SECONDARY_BUS, "B"), (R.T1_SUBORDINATE_BUS, "B"),
              (R.T1_SEC_STATUS, "H"), (R.T1_BRIDGE_CONTROL, "H")))
_T2 = _Block(((R.T2_SEC_STATUS, "H"), (R.T2_PRIMARY_BUS, "B"), (R.T2_CARD_BUS, "B"),
              (R.T2_SUBORDINATE_BUS, "B"), (R.T2_BRIDGE_CONTROL, "H"), (R.T2_SUBSYSTEM_VENDOR_ID, "H"),
              (R.T2_SUBSYSTEM_ID, "H")))
# whole-buffer fills compared in one memcmp for the usual sizes
_FILLS = {(v, n): bytes((v,)) * n for v in (0x00, 0xFF) for n in (256, 4096)}


def _filled(raw, v):
    """Every byte of `raw` is `v`."""
    ref = _FILLS.get((v, len(raw)))
    return raw == ref if ref is not None else raw.count(v) == len(raw)


def _to_bytes(raw):
    if isinstance(raw, bytes):
        return raw, None
    try:
        return bytes(raw), None
    except Exception:        # not bytes-like at all: decode nothing, say why
        return b"", "input is not bytes (%s)" % type(raw).__name__


def decode(raw: bytes, devfn: Optional[int] = None) -> Config:
    """Decode a config space snapshot; never raises.  See the module docstring.

    `devfn` (device << 3 | function), when known, words the decode as lspci does
    for that function (LnkCap2 of endpoints other than 00.0)."""
    data, err = _to_bytes(raw)
    if not err:
        hit = _DECODED.get((data, devfn))
        if hit is not None:         # a function with the same bytes decoded before: share it
            cfg = object.__new__(Config)
            cfg.__dict__.update(hit.__dict__)
            cfg.raw = data
            return cfg
    cfg = Config(raw=data, size=len(data))
    if err:
        cfg.problems.append(err)
        return cfg
    try:
        _decode_into(cfg, _Buf(data), devfn)
    except Exception as exc:   # a decoder bug must not take the whole report down
        cfg.problems.append("internal decode error: %s: %s" % (type(exc).__name__, exc))
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.clear()
    _DECODED[data, devfn] = cfg
    return cfg


# Decoded config spaces by (bytes, devfn): SR-IOV VFs and a fleet's identical endpoints
# repeat their whole config space, and decode() would build the same result again.  Each
# caller gets its own Config whose parts (lists, capability results) are shared and, like
# the caps registry's results, read-only.  Bounded: 1024 x 4 KiB keys at most.
_DECODED: dict = {}
_DECODED_MAX = 1024


def _decode_into(cfg, b, devfn=None) -> None:
    n = b.n
    if n == 0:
        cfg.problems.append("empty config space (0 bytes)")
        return
    cfg.all_ff = _filled(cfg.raw, 0xFF)
    cfg.all_zero = _filled(cfg.raw, 0x00)
    if n not in (256, 4096):
        cfg.problems.append("config space is %d bytes (expected 256 or 4096)" % n)
    if n < 64:
        cfg.problems.append("standard header truncated at 0x%x (need 0x40 bytes)" % n)
    _header(cfg, cfg.raw)
    if cfg.all_ff:
        cfg.problems.append("every byte reads 0xff: the device did not answer")
        return
    if cfg.all_zero:
        cfg.problems.append("every byte is zero: no config space was stored")
        return
    cfg.ff_dwords = _ff_dwords(cfg.raw)
    if cfg.ff_dwords:
        shown = ", ".join("0x%03x" % o for o in cfg.ff_dwords[:_FF_SHOWN])
        more = " (+%d more)" % (len(cfg.ff_dwords) - _FF_SHOWN) if len(cfg.ff_dwords) > _FF_SHOWN else ""
        cfg.problems.append("%d dword(s) read 0xffffffff (failed config reads?) at %s%s"
                            % (len(cfg.ff_dwords), shown, more))
    _std_caps(cfg, b)
    if n > R.EXT_CAP_START:
        _ext_caps(cfg, b)
    cfg.header = _hdr.decode(cfg.raw)
    has_mem_bar = cfg.header.info.get("has_mem_bar", False)
    ctx = Ctx(cfg.header_type, cfg.vendor_id, cfg.device_id, None, 0, has_mem_bar, devfn)
    raw = cfg.raw
    std = []
    for c in cfg.caps:
        r = _caps.decode_cap(raw, "std", c.id, c.offset, None, ctx, end=256)
        std.append(r)
        if c.id == R.CAP_ID_EXP and cfg.pcie is None and "Flags" in r.regs:
            cfg.pcie = _typed(r, _pcie, cfg)
            ctx = ctx._replace(port_type=cfg.pcie.port_type, pcie_version=cfg.pcie.version)
        elif c.id == R.CAP_ID_SSVID and cfg.header_type == 1 and cfg.subsys_vendor_id is None:
            cfg.subsys_vendor_id = b.u16(c.offset + 4)
            cfg.subsys_id = b.u16(c.offset + 6)
        cfg.problems += r.problems
    cfg.ctx = ctx
    cfg.capabilities = std
    for c in cfg.ext_caps:
        r = _caps.decode_cap(raw, "ext", c.id, c.offset, c.version, ctx)
        cfg.capabilities.append(r)
        if c.id == R.EXT_CAP_ID_AER and cfg.aer is None:
            cfg.aer = _typed(r, _aer, cfg)
        elif c.id == R.EXT_CAP_ID_DPC and cfg.dpc is None:
            cfg.dpc = _typed(r, _dpc, cfg)
        cfg.problems += r.problems      # after the typed view, which may add to them


def _typed(c: CapResult, build, cfg):
    """The typed view of a decoded capability, built once per (shared, read-only) result:
    what it depends on beyond the registers (the port type) is part of the result's key."""
    t = c.typed
    if t is None:
        t = c.typed = build(cfg, c)
    return t


def _ff_dwords(raw):
    """Offsets of aligned 0xFFFFFFFF dwords (bytes.find keeps this fast on 4 KiB records)."""
    out = []
    pos = raw.find(b"\xff\xff\xff\xff")
    while pos >= 0:
        if pos % 4:
            pos = raw.find(b"\xff\xff\xff\xff", pos + 4 - pos % 4)
            continue
        out.append(pos)
        pos = raw.find(b"\xff\xff\xff\xff", pos + 4)
    return out


def _header(cfg, raw) -> None:
    n = len(raw)
    (cfg.vendor_id, cfg.device_id, cfg.command, cfg.status, cfg.revision, prog_if, klass,
     cfg.cache_line, cfg.latency, ht, cfg.bist, cfg.interrupt_line, cfg.interrupt_pin) = _HEADER.read(raw, 0, n)
    cfg.class_code = None if klass is None else klass << 8 | prog_if
    cfg.header_type_raw = ht
    if ht is not None:
        cfg.header_type = ht & R.HEADER_TYPE_MASK
        cfg.multifunction = bool(ht & R.HEADER_MULTIFUNCTION)
    if cfg.command is not None:
        cfg.command_flags = R.flags(cfg.command, R.COMMAND_BITS)
    if cfg.status is not None:
        cfg.status_flags = R.flags(cfg.status, R.STATUS_BITS)
    htype = cfg.header_type
    if htype is None or cfg.all_ff:
        return
    if htype not in R.HEADER_TYPES:
        cfg.problems.append("unknown header type 0x%02x at 0x00e" % htype)
        return
    cfg.is_bridge = htype in (1, 2)
    cfg.bars = [v for v in _BARS[htype].read(raw, 0, n) if v is not None]
    if htype == 0:
        cfg.subsys_vendor_id, cfg.subsys_id = _T0.read(raw, 0, n)
    elif htype == 1:
        (cfg.primary_bus, cfg.secondary_bus, cfg.subordinate_bus, cfg.sec_status,
         cfg.bridge_control) = _T1.read(raw, 0, n)
        if cfg.bridge_control is not None:
            cfg.bridge_control_flags = R.flags(cfg.bridge_control, R.BRIDGE_CONTROL_BITS)
    else:
        (cfg.sec_status, cfg.primary_bus, cfg.secondary_bus, cfg.subordinate_bus, cfg.bridge_control,
         cfg.subsys_vendor_id, cfg.subsys_id) = _T2.read(raw, 0, n)
        if cfg.bridge_control is not None:
            cfg.bridge_control_flags = R.flags(cfg.bridge_control, R.CARDBUS_CONTROL_BITS)
    if cfg.sec_status is not None:
        cfg.sec_status_flags = R.flags(cfg.sec_status, R.SEC_STATUS_BITS)


@functools.lru_cache(maxsize=1024)
def _cap(cid, offset, version):
    """A Cap (standard when `version` is None).  Caps are immutable, so equal ones are
    shared: a small bounded cache saves the frozen-dataclass construction per device."""
    if version is None:
        return Cap(cid, offset, R.CAP_NAMES.get(cid, "Capability 0x%02x" % cid))
    return Cap(cid, offset, R.EXT_CAP_NAMES.get(cid, "Extended Capability 0x%04x" % cid), version)


def _std_caps(cfg, b) -> None:
    """Walk the standard capability list as lspci does (pointers masked to dwords)."""
    if cfg.status is None or not (cfg.status & R.STATUS_CAP_LIST):
        return          # Status.Cap clear: no list
    ptr_reg = R.CAP_POINTER.get(cfg.header_type)
    if ptr_reg is None:
        return
    first = b.u8(ptr_reg)
    if first is None:
        cfg.problems.append("capability pointer at 0x%02x is beyond the buffer" % ptr_reg)
        return
    where = first & ~3
    prev = ptr_reg
    seen = set()
    limit = min(b.n, 256)
    for _ in range(_STD_HOPS + 1):
        if where == 0:
            return
        if where < 0x40:
            cfg.problems.append("capability pointer at 0x%02x points to 0x%02x, inside the "
                                "standard header (must be >= 0x40)" % (prev, where))
            return
        if where + 2 > limit:
            cfg.problems.append("capability pointer at 0x%02x points to 0x%02x, beyond the "
                                "%d-byte buffer" % (prev, where, b.n))
            return
        if where in seen:
            cfg.problems.append("capability list loops: pointer at 0x%02x points back to 0x%02x"
                                % (prev, where))
            return
        seen.add(where)
        cid = b.u8(where)
        if cid == 0xFF:
            cfg.problems.append("capability list broken at 0x%02x (ID reads 0xff)" % where)
            return
        cfg.caps.append(_cap(cid, where, None))
        prev = where + 1
        where = b.u8(where + 1) & ~3
    cfg.problems.append("capability list longer than %d entries, stopped at 0x%02x" % (_STD_HOPS, prev))


def _ext_caps(cfg, b) -> None:
    """Walk the extended capability list from 0x100 (bounded, cycle-safe)."""
    where = R.EXT_CAP_START
    prev = None
    seen = set()
    for _ in range(_EXT_HOPS + 1):
        hdr = b.u32(where)
        if hdr is None:
            if prev is None:
                cfg.problems.append("extended capability header at 0x100 is cut off: %d-byte buffer" % b.n)
            else:
                cfg.problems.append("extended capability pointer at 0x%03x points to 0x%03x, beyond "
                                    "the %d-byte buffer" % (prev, where, b.n))
            return
        if hdr == 0:
            if prev is not None:
                cfg.problems.append("extended capability pointer at 0x%03x points to an empty "
                                    "header at 0x%03x" % (prev, where))
            return
        if hdr == 0xFFFFFFFF:
            cfg.problems.append("extended capability list broken at 0x%03x (header reads 0xffffffff)"
                                % where)
            return
        seen.add(where)
        cid = hdr & 0xFFFF
        ver = (hdr >> R.EXT_CAP_VERSION_SHIFT) & 0xF
        cfg.ext_caps.append(_cap(cid, where, ver))
        nxt = (hdr >> R.EXT_CAP_NEXT_SHIFT) & ~3
        if nxt == 0:
            return
        prev = where
        if nxt < R.EXT_CAP_START:
            cfg.problems.append("extended capability at 0x%03x: next pointer 0x%03x is below 0x100"
                                % (where, nxt))
            return
        if nxt in seen:
            cfg.problems.append("extended capability list loops: 0x%03x points back to 0x%03x"
                                % (where, nxt))
            return
        where = nxt
    cfg.problems.append("extended capability list longer than %d entries" % _EXT_HOPS)


def _pcie(cfg, c: CapResult) -> Pcie:
    """The typed PCIe view the error-path and verdict code use, from the decoded registers."""
    f = c.regs["Flags"]
    ptype, version, slot = f["Type"], f["Version"], bool(f["Slot"])
    r: Dict[str, Any] = {reg.name.lower(): reg.value for reg in c.regs.values() if reg.name != "Flags"}
    p = Pcie(offset=c.offset, version=version, port_type=ptype,
             port_type_name=R.PORT_TYPE_NAMES.get(ptype, "Unknown type %d" % ptype),
             slot_implemented=slot, interrupt_message=f["IntMsg"],
             has_link=ptype not in R.NO_LINK_PORT_TYPES, **r)
    p.cap = c
    get = r.get
    devcap, devctl, devsta = get("devcap"), get("devctl"), get("devsta")
    lnkcap, lnkctl, lnksta = get("lnkcap"), get("lnkctl"), get("lnksta")
    if devcap is not None:
        p.max_payload_supported = 128 << (devcap & R.DEVCAP_PAYLOAD_MASK)
    if devctl is not None:
        p.dev_control_flags = R.flags(devctl, R.DEVCTL_BITS)
        p.max_payload = 128 << ((devctl >> R.DEVCTL_PAYLOAD_SHIFT) & 7)
        p.max_read_request = 128 << ((devctl >> R.DEVCTL_READRQ_SHIFT) & 7)
    if devsta is not None:
        p.dev_status_flags = R.flags(devsta, R.DEVSTA_BITS)
    if lnkcap is not None:
        p.link_cap_speed_code = lnkcap & R.LNKCAP_SPEED_MASK
        p.link_cap_speed = _speed(p.link_cap_speed_code)
        p.link_cap_width = (lnkcap & R.LNKCAP_WIDTH_MASK) >> R.LNKCAP_WIDTH_SHIFT
        p.port_number = lnkcap >> R.LNKCAP_PORT_SHIFT
        p.dll_active_reporting_capable = bool(lnkcap & R.LNKCAP_DLLA)
    if lnkctl is not None:
        p.link_control_flags = R.flags(lnkctl, R.LNKCTL_BITS)
    if lnksta is not None:
        p.link_speed_code = lnksta & R.LNKSTA_SPEED_MASK
        p.link_speed = _speed(p.link_speed_code)
        p.link_width = (lnksta & R.LNKSTA_WIDTH_MASK) >> R.LNKSTA_WIDTH_SHIFT
        p.link_status_flags = R.flags(lnksta, R.LNKSTA_BITS)
        p.dll_link_active = bool(lnksta & R.LNKSTA_DL_ACT)
        p.link_training = bool(lnksta & R.LNKSTA_TRAIN)
    sc, cc, w, cw = p.link_speed_code, p.link_cap_speed_code, p.link_width, p.link_cap_width
    if sc is not None and cc is not None and w is not None and cw is not None:    # LnkCap and LnkSta read
        p.downtrained = link_up(p) and (
            (sc in R.LINK_SPEEDS and cc in R.LINK_SPEEDS and sc < cc) or (0 < w < cw))
    sltcap, sltctl, sltsta = get("sltcap"), get("sltctl"), get("sltsta")
    rootctl, rootsta = get("rootctl"), get("rootsta")
    if sltcap is not None:
        p.slot_cap_flags = R.flags(sltcap, R.SLTCAP_BITS)
        p.slot_number = sltcap >> R.SLTCAP_PSN_SHIFT
    if sltctl is not None:
        p.slot_control_flags = R.flags(sltctl, R.SLTCTL_BITS)
    if sltsta is not None:
        p.slot_status_flags = R.flags(sltsta, R.SLTSTA_BITS)
    if rootctl is not None:
        p.root_control_flags = R.flags(rootctl, R.RTCTL_BITS)
    if rootsta is not None:
        p.root_status_flags = R.flags(rootsta, R.RTSTA_BITS)
        p.root_pme_requester = rootsta & R.RTSTA_PME_REQID_MASK
    return p


def link_up(p: Pcie) -> bool:
    """Best knowledge whether the link is up: DLLLA when the port reports it, else a
    negotiated width and speed that are not zero while not training."""
    if p.lnksta is None:
        return False
    if p.dll_active_reporting_capable:
        return p.dll_link_active
    return bool(p.link_width) and p.link_speed_code in R.LINK_SPEEDS and not p.link_training


def _speed(code):
    return R.LINK_SPEEDS.get(code, "unknown (%d)" % code)


def _aer(cfg, c: CapResult) -> Aer:
    """The typed AER view (error names, severities, decoded TLP) from the decoded registers."""
    off = c.offset
    a = Aer(offset=off, version=c.version or 0)
    v = {name: reg.value for name, reg in c.regs.items()}
    if "AERCap" not in v:
        return a
    (a.uncor_status, a.uncor_mask, a.uncor_severity, a.cor_status, a.cor_mask,
     a.cap_control) = (v["UESta"], v["UEMsk"], v["UESvrt"], v["CESta"], v["CEMsk"], v["AERCap"])
    a.cap = c
    a.first_error_pointer = a.cap_control & R.AER_CAP_FEP_MASK
    a.cap_flags = R.flags(a.cap_control, R.AER_CAP_BITS)
    h = [v.get("HeaderLog%d" % i, 0) for i in range(4)]
    log = (h[0], h[1], h[2], h[3])
    a.header_log = log
    a.tlp = _tlp.decode(log) if any(log) else None
    if a.cap_control & R.AER_CAP_TLP_PFX:
        a.tlp_prefix_log = tuple(v[k] for k in ("TLPPrefixLog0", "TLPPrefixLog1", "TLPPrefixLog2",
                                               "TLPPrefixLog3") if k in v)
    if cfg.pcie is not None and cfg.pcie.port_type in R.ROOT_PORT_TYPES:
        a.root_command, a.root_status = v.get("RootCmd"), v.get("RootSta")
        a.err_src_cor, a.err_src_uncor = v.get("ErrorSrcCor"), v.get("ErrorSrcUncor")
        if a.root_command is not None:
            a.root_command_flags = R.flags(a.root_command, R.AER_ROOT_CMD_BITS)
        if a.root_status is not None:
            a.root_flags = R.flags(a.root_status, R.AER_ROOT_STATUS_BITS)
            a.adv_err_int_msg = a.root_status >> R.AER_ROOT_MSG_NUM_SHIFT
    for name, value, rel in (("uncor status", a.uncor_status, R.AER_UNCOR_STATUS),
                             ("cor status", a.cor_status, R.AER_COR_STATUS)):
        if value == 0xFFFFFFFF:
            c.problems.append("AER %s at 0x%03x reads 0xffffffff: not decoded as errors"
                                % (name, off + rel))
    if a.uncor_status != 0xFFFFFFFF:
        a.header_log_expected = bool(a.uncor_status & ~a.uncor_mask & R.AER_LOG_TLP_MASK)
        a.uncor_errors = _errors(a.uncor_status, a.uncor_mask, a.uncor_severity,
                                 a.first_error_pointer, R.AER_UNCOR_ERRORS, True)
    if a.cor_status != 0xFFFFFFFF:
        a.cor_errors = _errors(a.cor_status, a.cor_mask, 0, None, R.AER_COR_ERRORS, False)
    return a


def _errors(status, mask, severity, fep, table, uncor):
    out = []
    while status:
        low = status & -status          # lowest set bit first, as the bit numbers ascend
        status ^= low
        bit = low.bit_length() - 1
        short, kernel, name = table.get(bit, ("Bit%d" % bit, "", "Reserved bit %d" % bit))
        out.append(AerError(name=name, short=short, bit=bit,
                             fatal=bool(uncor and severity & low),
                             masked=bool(mask & low),
                             first=bool(uncor and fep == bit),
                             kernel=kernel if kernel != short else ""))
    return out


def _dpc(cfg, c: CapResult) -> Dpc:
    """The typed DPC view (trigger reason in words, RP PIO errors) from the decoded registers."""
    off = c.offset
    d = Dpc(offset=off, version=c.version or 0)
    v = {name: reg.value for name, reg in c.regs.items()}
    if "Source" not in v:
        return d
    d.capability, d.control, d.status, d.source_id = v["DpcCap"], v["DpcCtl"], v["DpcSta"], v["Source"]
    d.cap = c
    d.interrupt_message = d.capability & R.DPC_CAP_INT_MSG_MASK
    d.rp_extensions = bool(d.capability & R.DPC_CAP_RP_EXT)
    d.control_flags = R.flags(d.control, R.DPC_CTL_BITS)
    d.status_flags = R.flags(d.status, R.DPC_STS_BITS)
    d.triggered = bool(d.status & R.DPC_STS_TRIGGER)
    reason = (d.status >> R.DPC_STS_REASON_SHIFT) & R.DPC_STS_REASON_MASK
    d.trigger_reason_code = reason
    if d.triggered:
        if reason == R.DPC_TRIGGER_REASON_EXTENSION:
            ext = (d.status >> R.DPC_STS_EXT_SHIFT) & R.DPC_STS_EXT_MASK
            d.trigger_reason = R.DPC_TRIGGER_EXTENSIONS[ext]
        else:
            d.trigger_reason = R.DPC_TRIGGER_REASONS[reason]
    if d.rp_extensions:
        d.rp_pio_fep = (d.status >> R.DPC_STS_PIO_FEP_SHIFT) & R.DPC_STS_PIO_FEP_MASK
        (d.rp_pio_status, d.rp_pio_mask, d.rp_pio_severity, d.rp_pio_syserror,
         d.rp_pio_exception) = (v.get("RPPIOStatus"), v.get("RPPIOMask"), v.get("RPPIOSeverity"),
                                v.get("RPPIOSysError"), v.get("RPPIOException"))
        log_size = (d.capability >> R.DPC_CAP_RP_LOG_SHIFT) & 0xF
        if log_size >= 4:
            d.rp_pio_header_log = tuple(v["RPPIOHeaderLog%d" % i] for i in range(4)
                                        if "RPPIOHeaderLog%d" % i in v)
            d.rp_pio_tlp = _tlp.decode(d.rp_pio_header_log)
        if d.rp_pio_status:
            d.rp_pio_errors = [name for bit, name in sorted(R.DPC_RP_PIO_ERRORS.items())
                               if d.rp_pio_status & (1 << bit)]
    return d
