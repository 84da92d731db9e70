"""Find and load the pci_crash capture (CONFIG_PCI_CRASH) from any MemoryReader.

Pure, standard library only.  Two steps:

* ``read_pagemap(reader)``: VMCOREINFO ``PCI_CRASH_PAGEMAP`` -> the
  ``struct pci_crash_pagemap`` at that physical address.  Two layouts say
  ``PCI_CRASH_VERSION=1`` (A: addrs at 16; B: u32 buf_offset at 16, addrs at
  20) and nothing names the layout, so both readings are validated (num_pages
  against buf_size, addresses page-aligned and inside the dump, the 'PCIC'
  header where the layout puts the buffer) and the one that holds is chosen,
  with the reasons in ``Pagemap.notes``.
* ``load_capture(reader)``: assemble the buffer page by page (missing pages
  stay holes and are named), parse the 32-byte header and walk the
  variable-length device records, checking every bound.  The result is a
  ``Capture`` whose ``state`` is one of captured, skipped, absent, partial,
  corrupt, with a one-line ``reason``.

Nothing here allocates by an unchecked field: sizes are checked against the
24 MiB cap the producer enforces before anything is read.
"""

from __future__ import annotations

import bisect
import enum
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from crash_ext_c.errors import CaptureError, PageUnavailable, PcicrashError
from crash_ext_c.reader import MemoryReader, PageStatus
from crash_ext_c.vmcoreinfo import get_int, to_int
from pykdump_ext.pci.bdf import bdf as format_bdf

PAGEMAP_MAGIC = 0x5043504D          # "PCPM"
HEADER_MAGIC = 0x50434943           # "PCIC"
KNOWN_VERSIONS = (1,)
HEADER_SIZE = 32
RECORD_META = 8
RECORD_CONFIG_SIZES = (256, 4096)   # pdev->cfg_size: conventional PCI, PCIe
MAX_BUFFER = 24 * 1024 * 1024       # PCI_CRASH_MAX_BUFFER_SIZE in the producer
PAGEMAP_FIXED = 20                  # bytes covering both layouts' fixed fields
# kmalloc size classes a small layout-A buffer may come from (object alignment)
SLAB_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)

class CaptureState(str, enum.Enum):
    """What load_capture found (docs/json.md, capture.state).  str-valued, so text, JSON
    and comparisons with the word itself see the value."""
    CAPTURED = "captured"       # whole buffer read and consistent
    SKIPPED = "skipped"         # pagemap present, buffer all zero (capture=aer, no error)
    ABSENT = "absent"           # no PCI_CRASH lines in VMCOREINFO
    PARTIAL = "partial"         # pagemap or buffer pages missing from the dump
    CORRUPT = "corrupt"         # bad magic, version, record sizes, pointers

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


STATES = tuple(CaptureState)
NO_STATE = (CaptureState.ABSENT, CaptureState.SKIPPED)     # no PCI state from the panic

ABSENT_REASON = ("no PCI_CRASH lines in VMCOREINFO: the kernel was built without "
                 "CONFIG_PCI_CRASH, or it exported nothing because it had no buffer "
                 "(no device matched pci_crash.devices=, the buffer would exceed 24 MiB, "
                 "or its allocation failed)")
# 2000-01-01 00:00:00 UTC: no kernel with this feature crashed before; an earlier capture
# time means the real-time clock was not set (it counted from 1970-01-01 since boot)
CLOCK_SANE_NS = 946_684_800 * 10**9

SKIPPED_REASON = ("capture armed but skipped (no AER error at panic, capture=aer): "
                  "no root port had Uncorrectable Error Received set, so the buffer "
                  "stayed all zero")

_ALL_FF = {n: b"\xff" * n for n in RECORD_CONFIG_SIZES}
_HDR = struct.Struct("<IIIIQII")
_META = struct.Struct("<HBBI")


@dataclass
class Pagemap:
    """The decoded pagemap: its layout, the buffer's size and offset, and its page addresses."""
    phys_addr: int
    layout: str                 # 'A' or 'B'
    num_pages: int
    buf_size: int
    buf_offset: int             # where the buffer starts in addrs[0]'s page (B field, or found for A)
    page_addrs: List[Optional[int]]   # None: the pagemap bytes holding it are missing
    notes: List[str] = field(default_factory=list)
    page_size: int = 4096
    version: Optional[int] = None     # PCI_CRASH_VERSION
    vmcoreinfo_buf_size: Optional[int] = None
    header_found: bool = False        # 'PCIC' where the layout says the buffer starts
    unaligned: bool = False           # layout A buffer found at a non-zero offset by search
    # page index -> why its address is a bad pointer (not page-aligned, outside the dump):
    # that page is a hole, the other pages are read
    bad_entries: Dict[int, str] = field(default_factory=dict)


@dataclass
class Header:
    """The capture buffer's header: magic, version, device count, config size, time."""
    magic: int
    version: int
    device_count: int
    config_size: int
    timestamp: int              # ns since the epoch
    flags: int = 0
    reserved: int = 0

    @property
    def clock_set(self) -> bool:
        """False for a time before CLOCK_SANE_NS: a real-time clock that was never set (a
        guest or board without RTC counts from the epoch), not a wall-clock time."""
        return self.timestamp >= CLOCK_SANE_NS

    @property
    def time_utc(self) -> str:
        # whole seconds and microseconds from the integer (a float of ns since the epoch
        # has no microsecond digit left); time.gmtime, not datetime: nothing to import
        secs, ns = divmod(self.timestamp, 1_000_000_000)
        try:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)) + ".%06d UTC" % (ns // 1000)
        except (OverflowError, OSError, ValueError):
            return "invalid (%d ns)" % self.timestamp


@dataclass
class Record:
    """One captured function: its address and config-space bytes, and where it lay in the buffer."""
    bdf: str
    domain: int
    bus: int
    devfn: int
    config: bytes
    offset: int                 # buffer offset of the record (its 8-byte meta)
    all_ff: bool
    config_size: int = 0
    index: int = 0
    trusted: bool = True
    note: str = ""              # why not trusted / how it was located

    @property
    def device(self) -> int:
        return self.devfn >> 3

    @property
    def function(self) -> int:
        return self.devfn & 7


@dataclass
class Capture:
    """The capture as read from a dump: its state and why, the pagemap, header and records."""
    state: CaptureState
    reason: str
    pagemap: Optional[Pagemap] = None
    header: Optional[Header] = None
    records: List[Record] = field(default_factory=list)     # trusted records only
    problems: List[str] = field(default_factory=list)
    # (page index, pfn or None, PageStatus or Unreadable): buffer pages not read
    missing: List[Tuple[int, int, PageStatus]] = field(default_factory=list)
    untrusted: List[Record] = field(default_factory=list)   # records touching missing pages
    notes: List[str] = field(default_factory=list)          # informational, not problems
    source: str = ""

    @property
    def layout(self) -> Optional[str]:
        return self.pagemap.layout if self.pagemap else None


bdf_of = format_bdf   # 'dddd:bb:dd.f' (pci/bdf.py, the one formatter)


# ---------------------------------------------------------------- raw reads

class Unreadable:
    """Stands in for a PageStatus where the dump says it holds the page but reading it
    failed (corrupt compressed data, a descriptor pointing outside the file): the
    reader's DumpFormatError, with its file offset, is kept and shown."""
    readable = False

    def __init__(self, exc: PcicrashError) -> None:
        self.exc = exc
        self.value = "stored but unreadable (%s)" % exc.message()

    def __repr__(self) -> str:
        return "<Unreadable %s>" % self.value


class BadPointer:
    """Stands in for a PageStatus where the pagemap entry itself is wrong (not
    page-aligned, or outside the dump): a bad pointer, not a page the dump lacks."""
    readable = False

    def __init__(self, why: str) -> None:
        self.why = why
        self.value = "a bad pointer (%s)" % why

    def __repr__(self) -> str:
        return "<BadPointer %s>" % self.why


def dump_incomplete(reader: MemoryReader) -> bool:
    """The dump says it was cut (kdump status flag, or e_flags bit 0 of makedumpfile -E):
    a page outside its memory ranges may then be lost rather than a bad address."""
    return bool(reader.incomplete or (reader.made_by_makedumpfile and reader.e_flags & 1))


def _why_missing(value, fallback):
    """The status of a read_pages() value that is not page bytes."""
    if isinstance(value, PageUnavailable):
        return value.status
    if isinstance(value, PcicrashError):
        return Unreadable(value)
    return fallback


def _kernel_page_size(reader):
    ps = get_int(reader.vmcoreinfo or {}, "PAGESIZE", source=reader.name)
    if ps is None:
        return reader.page_size
    if ps <= 0 or ps & (ps - 1) or ps > (1 << 20):
        raise CaptureError("PAGESIZE=%d in VMCOREINFO is not a power of two up to 1 MiB" % ps,
                           path=reader.name, expected="4096, 16384 or 65536")
    return ps


def _read_span(reader, addr, size):
    """(bytes, holes) for physical [addr, addr+size): holes = [(start, end, pfn, status)]
    relative to addr; missing bytes read as zero."""
    rps = reader.page_size
    first, last = addr // rps, (addr + size - 1) // rps
    pfns = list(range(first, last + 1))
    got = reader.read_pages(pfns)
    out = []
    holes = []
    for pfn in pfns:
        lo = max(addr, pfn * rps)
        hi = min(addr + size, (pfn + 1) * rps)
        data = got.get(pfn)
        if isinstance(data, (bytes, bytearray, memoryview)) and len(data) == rps:
            out.append(bytes(data[lo - pfn * rps:hi - pfn * rps]))
        else:
            holes.append((lo - addr, hi - addr, pfn, _why_missing(data, PageStatus.LOST)))
            out.append(bytes(hi - lo))
    return b"".join(out), holes


# ---------------------------------------------------------------- pagemap

@dataclass
class _Candidate:
    """One way to read the pagemap (layout A or B) and why it does or does not fit."""
    layout: str
    addrs_at: int
    buf_offset: int
    addrs: List[Optional[int]] = field(default_factory=list)
    why_not: List[str] = field(default_factory=list)
    magic: bool = False
    unaligned: bool = False
    search_note: str = ""
    bad: Dict[int, str] = field(default_factory=dict)


def _plausible_header(data, off, buf_size, span):
    """True when `data[off:]` starts a header that fits a buffer of buf_size."""
    if off + HEADER_SIZE > len(data) or off + buf_size > span:
        return False
    magic, version, count, cfgsz, _ts, _fl, _rs = _HDR.unpack_from(data, off)
    return (magic == HEADER_MAGIC and version in KNOWN_VERSIONS and cfgsz == 0
            and count * (RECORD_META + 256) <= buf_size - HEADER_SIZE)


def _search_unaligned(first_page, buf_size, kps, num_pages):
    """Find a layout-A buffer inside its first page (slab object at a non-zero offset).

    Offsets at multiples of the kmalloc size class that buf_size falls in are
    tried first (how slab objects sit), then every 8 bytes.  Returns (offset, note)
    or (None, None)."""
    span = num_pages * kps
    obj = next((s for s in SLAB_SIZES if s >= buf_size), None)
    if obj:
        for off in range(obj, kps, obj):
            if _plausible_header(first_page, off, buf_size, span):
                return off, ("buffer header found at +0x%x in its first page: a kmalloc-%d slab "
                             "object that layout A cannot describe (it has no buf_offset)"
                             % (off, obj))
    for off in range(8, kps, 8):
        if _plausible_header(first_page, off, buf_size, span):
            return off, ("buffer header found at +0x%x in its first page by an 8-byte scan "
                         "(not a multiple of the kmalloc-%s object size); layout A has no "
                         "buf_offset" % (off, obj))
    return None, None


def read_pagemap(reader: MemoryReader) -> Optional[Pagemap]:
    """The pagemap named by VMCOREINFO, validated, or None when there are no PCI_CRASH lines.

    Raises CaptureError (offset = physical address) when it cannot be used."""
    info = reader.vmcoreinfo or {}
    keys = [k for k in info if k.startswith("PCI_CRASH_")]
    if not keys:
        return None
    src = "%s VMCOREINFO" % reader.name
    phys = get_int(info, "PCI_CRASH_PAGEMAP", base=16, source=src)
    version = get_int(info, "PCI_CRASH_VERSION", source=src)
    vi_size = get_int(info, "PCI_CRASH_BUF_SZ", source=src)
    if phys is None:
        raise CaptureError("VMCOREINFO has %s but no PCI_CRASH_PAGEMAP" % ", ".join(sorted(keys)),
                           path=src, expected="PCI_CRASH_PAGEMAP=0x<physical address>")
    notes = []
    if version is not None and version not in KNOWN_VERSIONS:
        notes.append("PCI_CRASH_VERSION=%d is not a version this reader knows (1); "
                     "trying the version-1 layouts" % version)
    kps = _kernel_page_size(reader)
    where = "pagemap at physical 0x%x" % phys

    fixed, holes = _read_span(reader, phys, PAGEMAP_FIXED)
    if holes:
        st = holes[0][3]
        if st is PageStatus.OUTSIDE and not dump_incomplete(reader):
            raise CaptureError("PCI_CRASH_PAGEMAP=0x%x is a bad pointer: its page 0x%x is "
                               "outside every memory range of the dump; nothing of the "
                               "capture can be located" % (phys, holes[0][2]),
                               path=reader.name, offset=phys,
                               expected="the physical address of the pagemap, in the dump")
        exc = CaptureError("%s: its page 0x%x is %s; nothing of the capture can be located"
                           % (where, holes[0][2], st.value), path=reader.name, offset=phys)
        if not isinstance(st, Unreadable):      # missing (partial), not damaged (corrupt)
            exc.page_status = st
        raise exc
    magic, num_pages, buf_size, off16 = struct.unpack_from("<IIQI", fixed)
    if magic != PAGEMAP_MAGIC:
        raise CaptureError("%s: magic 0x%08x" % (where, magic), path=reader.name, offset=phys,
                           expected="0x%08x 'PCPM'" % PAGEMAP_MAGIC)
    if vi_size is not None and vi_size != buf_size:
        notes.append("PCI_CRASH_BUF_SZ=%d in VMCOREINFO but the pagemap says buf_size=%d; "
                     "using the pagemap's" % (vi_size, buf_size))
    # Cheap rejections before anything sized by these fields is read.
    if buf_size < HEADER_SIZE or buf_size > MAX_BUFFER:
        raise CaptureError("%s: buf_size %d" % (where, buf_size), path=reader.name,
                           offset=phys + 8,
                           expected="%d..%d bytes (header .. the producer's 24 MiB cap)"
                           % (HEADER_SIZE, MAX_BUFFER))
    max_pages = -(-MAX_BUFFER // kps) + 1
    if num_pages == 0 or num_pages > max_pages:
        raise CaptureError("%s: num_pages %d" % (where, num_pages), path=reader.name,
                           offset=phys + 4,
                           expected="1..%d pages of %d bytes (24 MiB cap)" % (max_pages, kps))

    cands = [_Candidate("A", 16, 0), _Candidate("B", 20, off16)]
    for c in cands:
        need = -(-(c.buf_offset + buf_size) // kps)
        if c.layout == "B" and off16 >= kps:
            c.why_not.append("buf_offset 0x%x is not inside a %d-byte page" % (off16, kps))
        elif num_pages != need:
            c.why_not.append("num_pages %d but buf_size %d%s needs %d"
                             % (num_pages, buf_size,
                                " at buf_offset 0x%x" % c.buf_offset if c.layout == "B" else "",
                                need))
    live = [c for c in cands if not c.why_not]
    if not live:
        raise CaptureError("%s: num_pages %d fits neither layout (A: %s; B: %s)"
                           % (where, num_pages, cands[0].why_not[0], cands[1].why_not[0]),
                           path=reader.name, offset=phys + 4,
                           expected="num_pages = ceil((buf_offset + buf_size) / PAGE_SIZE)")

    # The pagemap is kmalloc'd and contiguous; it may cross a page boundary.
    span_len = max(c.addrs_at for c in live) + 8 * num_pages
    raw, pm_holes = _read_span(reader, phys, span_len)
    for c in live:
        addrs: List[Optional[int]] = []
        for i in range(num_pages):
            lo = c.addrs_at + 8 * i
            if any(h[0] < lo + 8 and lo < h[1] for h in pm_holes):
                addrs.append(None)
            else:
                addrs.append(struct.unpack_from("<Q", raw, lo)[0])
        c.addrs = addrs
        known = [(i, a) for i, a in enumerate(addrs) if a is not None]
        bad_align = [(i, a) for i, a in known if a % kps]
        aligned = [(i, a) for i, a in known if not a % kps]
        statuses = reader.page_statuses([a // reader.page_size for _i, a in aligned])
        outside = [(i, a) for (i, a), st in zip(aligned, statuses) if st is PageStatus.OUTSIDE]
        bad = {i: "0x%x is not page-aligned" % a for i, a in bad_align}
        if not dump_incomplete(reader):     # in a cut dump, outside may mean lost
            bad.update((i, "0x%x is outside the dump" % a) for i, a in outside)
        # a few bad entries cost only their pages; most of them bad (or the first,
        # where the header is) means this layout reads the pagemap wrong
        if bad_align and (0 in bad or 2 * len(bad) > len(known)):
            c.why_not.append("%d of %d addresses not page-aligned (first 0x%x)"
                             % (len(bad_align), len(known), bad_align[0][1]))
            continue
        if outside and (0 in bad or 2 * len(bad) > len(known) or dump_incomplete(reader)):
            # named by the highest one: readers differ on how they classify addresses far
            # beyond RAM (crash may call some excluded), never on the highest
            c.why_not.append("addresses outside the dump (highest 0x%x)"
                             % max(a for _i, a in outside))
            continue
        c.bad = bad
        if addrs[0] is None:
            continue
        first, fholes = _read_span(reader, addrs[0], kps)
        if fholes:
            if isinstance(fholes[0][3], Unreadable):
                notes.append("layout %s: first buffer page 0x%x is %s"
                             % (c.layout, fholes[0][2], fholes[0][3].value))
            continue
        if (c.buf_offset + 4 <= kps
                and struct.unpack_from("<I", first, c.buf_offset)[0] == HEADER_MAGIC):
            c.magic = True
        elif c.layout == "A" and any(first):
            off, note = _search_unaligned(first, buf_size, kps, num_pages)
            if off is not None:
                c.buf_offset, c.magic, c.unaligned, c.search_note = off, True, True, note

    valid = [c for c in live if not c.why_not]
    if not valid:
        raise CaptureError("%s: neither layout gives usable page addresses (%s)"
                           % (where, "; ".join("%s: %s" % (c.layout, ", ".join(c.why_not))
                                                for c in cands)),
                           path=reader.name, offset=phys + 16,
                           expected="page-aligned physical addresses inside the dump")
    with_magic = [c for c in valid if c.magic]
    chosen = min(with_magic or valid, key=lambda c: len(c.bad))
    others = [c for c in cands if c is not chosen]
    why = []
    if pm_holes:
        why.append("pagemap bytes missing (%s); their pages are unknown"
                   % ", ".join("page 0x%x %s" % (h[2], h[3].value) for h in pm_holes))
    reason = "layout %s: num_pages %d matches buf_size %d" % (chosen.layout, num_pages, buf_size)
    if chosen.layout == "B":
        reason += " at buf_offset 0x%x" % chosen.buf_offset
    reason += (", addresses page-aligned and in the dump" if not chosen.bad else
               ", addresses page-aligned and in the dump except %d bad pointer(s)"
               % len(chosen.bad))
    if chosen.unaligned:
        reason += ", 'PCIC' header at +0x%x inside the first page" % chosen.buf_offset
    elif chosen.magic:
        reason += ", 'PCIC' header where the buffer starts"
    else:
        reason += ", no 'PCIC' header in the first buffer page"
    for o in others:
        if o.why_not:
            reason += "; layout %s rejected: %s" % (o.layout, ", ".join(o.why_not))
        elif o.magic != chosen.magic:
            reason += "; layout %s has no header at its buffer start" % o.layout
        else:
            reason += "; layout %s also fits (ambiguous, %s preferred)" % (o.layout, chosen.layout)
    notes.insert(0, reason)
    if chosen.search_note:
        notes.append(chosen.search_note)
    notes.extend(why)
    if phys // kps != (phys + span_len - 1) // kps:
        notes.append("the pagemap crosses a page boundary (%d bytes at 0x%x)"
                     % (chosen.addrs_at + 8 * num_pages, phys))
    return Pagemap(phys_addr=phys, layout=chosen.layout, num_pages=num_pages, buf_size=buf_size,
                   buf_offset=chosen.buf_offset, page_addrs=chosen.addrs, notes=notes,
                   page_size=kps, version=version, vmcoreinfo_buf_size=vi_size,
                   header_found=chosen.magic, unaligned=chosen.unaligned,
                   bad_entries=dict(chosen.bad))


# ---------------------------------------------------------------- buffer

class _Buffer:
    """The assembled buffer plus where its holes are (buffer coordinates)."""

    def __init__(self, data, holes) -> None:
        self.data = data
        self.holes = holes            # sorted [(start, end, page_index, pfn, status)]
        self._starts = [h[0] for h in holes]
        self._zero_from: Optional[int] = None

    @property
    def zero_from(self):
        """Offset from which every byte is zero (computed once, only when asked)."""
        if self._zero_from is None:
            self._zero_from = len(self.data.rstrip(b"\0"))
        return self._zero_from

    def holes_in(self, start, end):
        if not self.holes:
            return []
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        while i < len(self.holes) and self.holes[i][0] < end:
            if self.holes[i][1] > start:
                out.append(self.holes[i])
            i += 1
        return out


def _assemble(reader, pm):
    """Read the buffer's pages; returns (_Buffer, missing, statuses of buffer pages)."""
    kps, rps = pm.page_size, reader.page_size
    per = max(kps // rps, 1)
    # (page_index, reader pfns) -- a kernel page may be several reader pages
    spans: List[Tuple[int, Optional[List[int]]]] = []
    all_pfns = []
    for i, a in enumerate(pm.page_addrs):
        if a is None or i in pm.bad_entries:
            spans.append((i, None))
            continue
        page_pfns = list(range(a // rps, a // rps + per)) if kps >= rps else [a // rps]
        spans.append((i, page_pfns))
        all_pfns.extend(page_pfns)
    statuses = dict(zip(all_pfns, reader.page_statuses(all_pfns)))
    # ERASED pages read back, but with bytes a filter rule overwrote: treat as holes
    got = reader.read_pages([p for p in all_pfns
                               if statuses[p].readable and statuses[p] is not PageStatus.ERASED])
    chunks: List[bytes] = []
    holes: List[Tuple[int, int, int, Optional[int], Any]] = []        # (start, end, page, pfn, why)
    missing: List[Tuple[int, Optional[int], Any]] = []                # (page, pfn, why)
    page_stat: List[Any] = []
    for i, pfns in spans:
        base = i * kps - pm.buf_offset
        if pfns is None:
            st = BadPointer(pm.bad_entries[i]) if i in pm.bad_entries else PageStatus.LOST
            missing.append((i, None, st))
            holes.append((max(base, 0), base + kps, i, None, st))
            chunks.append(bytes(kps))
            page_stat.append(st)
            continue
        parts = []
        bad = None
        for p in pfns:
            d = got.get(p)
            if isinstance(d, (bytes, bytearray)) and len(d) == rps:
                parts.append(bytes(d))
            else:
                bad = bad or (p, _why_missing(d, statuses[p]))
                parts.append(bytes(rps))
        page = parts[0] if len(parts) == 1 else b"".join(parts)
        if kps < rps:     # reader pages larger than kernel pages: take our slice
            off = pm.page_addrs[i] % rps
            page = page[off:off + kps]
        chunks.append(page)
        sts = [statuses[p] for p in pfns]
        page_stat.append(sts[0] if len(set(sts)) == 1 else PageStatus.PRESENT)
        if bad:
            missing.append((i, bad[0], bad[1]))
            holes.append((max(base, 0), base + kps, i, bad[0], bad[1]))
    data = b"".join(chunks)[pm.buf_offset:pm.buf_offset + pm.buf_size]
    holes = [(s, min(e, pm.buf_size), i, p, st) for s, e, i, p, st in holes if s < pm.buf_size]
    return _Buffer(data, holes), missing, page_stat


def _hole_text(holes):
    return ", ".join("page %d (pfn %s, %s)" % (i, "0x%x" % p if p is not None else "?", st.value)
                     for _s, _e, i, p, st in holes)


def _meta_ok(buf, off):
    """True when a readable, valid record meta sits at `off` (or the buffer ends there)."""
    if off == len(buf.data):
        return True
    if off + RECORD_META > len(buf.data) or buf.holes_in(off, off + RECORD_META):
        return False
    _d, _b, _f, cs = _META.unpack_from(buf.data, off)
    if off >= buf.zero_from:
        return True     # zero tail
    return cs in RECORD_CONFIG_SIZES and off + RECORD_META + cs <= len(buf.data)



def _sizes_for(gap):
    """Every (n256, n4096) with n256 * 264 + n4096 * 4104 == gap, n >= 1 record."""
    out = []
    for b in range(gap // (RECORD_META + 4096) + 1):
        rest = gap - b * (RECORD_META + 4096)
        if rest % (RECORD_META + 256) == 0 and (rest or b):
            out.append((rest // (RECORD_META + 256), b))
    return out


def _record_gaps(lo, hi):
    """Sorted distances in [lo, hi] that whole records (264 and 4104 bytes) add up to;
    enumerated directly: scanning every 8 bytes made each resync cost ~0.5 ms."""
    out = set()
    big, small = RECORD_META + 4096, RECORD_META + 256
    for b in range(max(hi, 0) // big + 1):
        for a in range(max(0, -(-(lo - b * big) // small)), (hi - b * big) // small + 1):
            if a or b:
                out.add(a * small + b * big)
    return sorted(out)


def _chain_ok(buf, off, limit=8) -> bool:
    """A valid record header at `off` and up to `limit` valid ones after it (or the end,
    a zero tail, or another missing stretch)."""
    data = buf.data
    for i in range(limit):
        if off == len(data) or (i and buf.holes_in(off, off + RECORD_META)):
            return True
        if i and data[off:off + RECORD_META] == b"\xff" * RECORD_META:
            return True                     # another 0xFF-filled record: resync there again
        if i and off >= buf.zero_from and not buf.holes_in(off, len(data)):
            return True                     # zero tail after at least one real record
        if not _meta_ok(buf, off) or off >= buf.zero_from:
            return False
        off += RECORD_META + _META.unpack_from(data, off)[3]
    return True


def _resync(buf, off, ff_meta):
    """Where the walk goes on after an unreadable record header at `off`.

    The next readable record header lies within one maximal record after the
    unreadable stretch (missing pages, or the 0xFF-filled record), at a distance
    from `off` that whole records of 264 and 4104 bytes add up to, and it starts a
    chain of valid headers.  Returns (offset, [(n256, n4096), ...]) when exactly
    chain of offsets qualifies (the first is taken), else (None, None)."""
    end = off + RECORD_META
    if not ff_meta:
        for h in buf.holes_in(off, len(buf.data)):
            if h[0] > end:
                break
            end = max(end, h[1])
    found = []
    lo = max(end, off + RECORD_META + 256)
    hi = min(end + RECORD_META + 4096, len(buf.data))
    for gap in _record_gaps(lo - off, hi - off):
        if _chain_ok(buf, off + gap):
            found.append((off + gap, _sizes_for(gap)))
    if not found:
        return None, None
    # small records: every real record after the gap qualifies; they must all lie on
    # the chain that starts at the first one, else the bytes are ambiguous
    chain, p = set(), found[0][0]
    while p <= hi and p < len(buf.data) and _meta_ok(buf, p) and p < buf.zero_from:
        chain.add(p)
        p += RECORD_META + _META.unpack_from(buf.data, p)[3]
    chain.add(p)        # where the chain ends: the buffer end or the zero tail
    if buf.data[p:p + RECORD_META] == b"\xff" * RECORD_META:
        found = [f for f in found if f[0] <= p]     # past the next 0xFF record: its own resync
    if any(q not in chain for q, _c in found[1:]):
        return None, None
    return found[0]

def _walk(buf, header, cap):
    """Walk the records; fills cap.records / untrusted / problems.  Returns True when
    something structural was wrong (corrupt)."""
    data = buf.data
    size = len(data)
    off = HEADER_SIZE
    index = 0
    corrupt = False
    claimed = header.device_count if header else None
    while off + RECORD_META <= size:
        meta_holes = buf.holes_in(off, off + RECORD_META)
        meta = data[off:off + RECORD_META]
        if not meta_holes and not any(meta):
            # zero tail: the producer wrote fewer records than the buffer has room for
            if claimed is not None and index < claimed:
                cap.problems.append("device_count is %d but the records end after %d, at buffer "
                                    "offset 0x%x (zero tail)" % (claimed, index, off))
                corrupt = True
            elif any(data[off:]) and not buf.holes_in(off, size):
                nz = off + next(i for i, b in enumerate(data[off:]) if b)
                cap.problems.append("non-zero bytes at buffer offset 0x%x after the zero tail "
                                    "that starts at 0x%x" % (nz, off))
                corrupt = True
            break
        ff_meta = not meta_holes and meta == b"\xff" * RECORD_META
        if meta_holes or ff_meta:
            # the size field is unreadable: find where the records go on (see _resync)
            what = ("in a missing %s" % _hole_text(meta_holes)) if meta_holes \
                else "0xFF-filled (header and all)"
            nxt, counts = _resync(buf, off, ff_meta)
            if nxt is None:
                cap.problems.append("record %d at buffer offset 0x%x: its header is %s and the "
                                    "next record cannot be located; the walk stops"
                                    % (index, off, what))
                corrupt = corrupt or not meta_holes     # records after it are unread
                break
            if len(counts) == 1 and sum(counts[0]) == 1:
                cs = 4096 if counts[0][1] else 256
                rec = Record(bdf="????:??:??.?", domain=-1, bus=-1, devfn=-1,
                             config=data[off + RECORD_META:off + RECORD_META + cs], offset=off,
                             all_ff=ff_meta, config_size=cs, index=index, trusted=False,
                             note="header %s; size %d assumed because a valid record follows"
                                  % (what, cs))
                cap.untrusted.append(rec)
                index += 1
            else:
                n = {a + b for a, b in counts}
                cap.problems.append(
                    "buffer offsets 0x%x-0x%x: record headers %s; %s record(s) there cannot be "
                    "read; %s"
                    % (off, nxt, what, "/".join(str(x) for x in sorted(n)),
                       "they run to the end of the buffer" if nxt >= len(data) else
                       "the walk resumes at the valid record at 0x%x" % nxt))
                cap.untrusted.append(Record(
                    bdf="????:??:??.?", domain=-1, bus=-1, devfn=-1, config=b"", offset=off,
                    all_ff=ff_meta, config_size=0, index=index, trusted=False,
                    note="%s record(s) with unreadable headers up to offset 0x%x"
                         % ("/".join(str(x) for x in sorted(n)), nxt)))
                if len(n) == 1:
                    index += n.pop()
                else:
                    claimed = None      # the record count is unknowable past this gap
            off = nxt
            continue
        domain, bus, devfn, cs = _META.unpack_from(data, off)
        bdf = bdf_of(domain, bus, devfn)
        if cs not in RECORD_CONFIG_SIZES:
            cap.problems.append("record %d (%s) at buffer offset 0x%x: config_size %d (0x%x); "
                                "the walk stops here" % (index, bdf, off, cs, cs))
            corrupt = True
            break
        end = off + RECORD_META + cs
        if end > size:
            cap.problems.append("record %d (%s) at buffer offset 0x%x overruns the buffer: ends at "
                                "0x%x, buf_size is 0x%x" % (index, bdf, off, end, size))
            corrupt = True
            break
        cfg = data[off + RECORD_META:end]
        rec = Record(bdf=bdf, domain=domain, bus=bus, devfn=devfn, config=cfg, offset=off,
                     all_ff=cfg == _ALL_FF[cs], config_size=cs, index=index)
        h = buf.holes_in(off + RECORD_META, end)
        if h:
            rec.trusted = False
            rec.note = "config bytes in missing %s" % _hole_text(h)
            cap.untrusted.append(rec)
        else:
            cap.records.append(rec)
        if claimed is not None and index == claimed:
            cap.problems.append("record %d (%s) at buffer offset 0x%x is beyond device_count %d"
                                % (index, bdf, off, claimed))
            corrupt = True
        index += 1
        off = end
    else:
        if claimed is not None and index < claimed and not buf.holes:
            cap.problems.append("device_count is %d but the buffer (%d bytes) holds only %d "
                                "records" % (claimed, size, index))
            corrupt = True
        elif 0 < size - off < RECORD_META and any(data[off:]):
            cap.problems.append("%d stray bytes after the last record at buffer offset 0x%x"
                                % (size - off, off))
    return corrupt


def load_capture(reader: MemoryReader) -> Capture:
    """Everything the dump holds of the capture; never raises for bad capture data."""
    name = reader.name
    try:
        pm = read_pagemap(reader)
    except PcicrashError as exc:       # CaptureError, or a malformed PCI_CRASH_* value
        st = getattr(exc, "page_status", None)
        state = CaptureState.PARTIAL if st is not None else CaptureState.CORRUPT
        return Capture(state=state, reason=exc.message(), problems=[exc.message()], source=name)
    if pm is None:
        return Capture(state=CaptureState.ABSENT, reason=ABSENT_REASON, source=name)
    cap = Capture(state=CaptureState.CAPTURED, reason="", pagemap=pm, source=name)
    buf, cap.missing, page_stat = _assemble(reader, pm)
    zeroish = (PageStatus.ZERO, PageStatus.ZERO_OR_EXCLUDED)
    if all(s in zeroish for s in page_stat):
        cap.state = CaptureState.SKIPPED
        cap.reason = SKIPPED_REASON
        if any(s is PageStatus.ZERO_OR_EXCLUDED for s in page_stat):
            cap.notes.append("the buffer pages are not stored (ELF p_filesz < p_memsz): they "
                             "are zero pages or pages excluded by filtering, the dump cannot "
                             "say which")
        else:
            cap.notes.append("every buffer page is stored as a zero page")
        cap.missing = []
        return cap
    if not buf.holes and not any(buf.data):
        cap.state, cap.reason = CaptureState.SKIPPED, SKIPPED_REASON
        return cap

    header = None
    hdr_holes = buf.holes_in(0, HEADER_SIZE)
    corrupt = False
    if hdr_holes:
        cap.problems.append("the buffer header is in a missing %s" % _hole_text(hdr_holes))
    else:
        header = Header(*_HDR.unpack_from(buf.data, 0))
        cap.header = header
        if header.magic != HEADER_MAGIC:
            cap.state = CaptureState.CORRUPT
            cap.reason = ("buffer header magic 0x%08x at buffer offset 0 (physical 0x%x), "
                          "expected 0x%08x 'PCIC'"
                          % (header.magic, (pm.page_addrs[0] or 0) + pm.buf_offset, HEADER_MAGIC))
            cap.problems.append(cap.reason)
            return cap
        if header.version not in KNOWN_VERSIONS:
            cap.problems.append("unknown buffer version %d at buffer offset 4 (this reader knows "
                                "%s); records read with the version-1 layout"
                                % (header.version, ", ".join(map(str, KNOWN_VERSIONS))))
            corrupt = True
        if header.config_size != 0:
            cap.notes.append("header config_size is %d (the producer writes 0: per-record "
                             "sizes); per-record sizes used" % header.config_size)
        room = (pm.buf_size - HEADER_SIZE) // (RECORD_META + 256)
        if header.device_count > room:
            cap.problems.append("device_count %d cannot fit in buf_size %d (at most %d records)"
                                % (header.device_count, pm.buf_size, room))
            corrupt = True
        if header.flags or header.reserved:
            cap.notes.append("header flags 0x%x reserved 0x%x are not zero"
                             % (header.flags, header.reserved))
        crashtime = to_int((reader.vmcoreinfo or {}).get("CRASHTIME"))
        if crashtime is not None and header.timestamp:
            delta = header.timestamp / 1e9 - crashtime
            if abs(delta) > 60:
                cap.notes.append("capture timestamp is %+.0f s from CRASHTIME=%d: the buffer may "
                                 "not be from this panic" % (delta, crashtime))
    corrupt = _walk(buf, header, cap) or corrupt
    for i, why in sorted(pm.bad_entries.items()):
        cap.problems.insert(0, "pagemap entry %d (buffer page %d) is a bad pointer: %s; only "
                               "the records in that page are lost" % (i, i, why))
        corrupt = True

    if corrupt:
        cap.state = CaptureState.CORRUPT
        cap.reason = cap.problems[0]
    elif cap.missing:
        cap.state = CaptureState.PARTIAL
        cap.reason = ("%d of %d buffer pages missing (%s): %d records decoded, %d not trusted"
                      % (len(cap.missing), pm.num_pages,
                         ", ".join("page %d %s" % (i, st.value) for i, _p, st in cap.missing[:4])
                         + (", ..." if len(cap.missing) > 4 else ""),
                         len(cap.records), len(cap.untrusted)))
        if not any(buf.data):
            cap.reason += ("; every readable byte is zero: probably a capture that was armed "
                           "but skipped")
    else:
        cap.reason = "%d devices captured" % len(cap.records)
        if cap.untrusted:
            cap.reason += ", %d records whose header could not be read" % len(cap.untrusted)
    return cap
