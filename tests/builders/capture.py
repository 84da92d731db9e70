"""Build pci_crash captures byte by byte (config spaces, buffer, pagemap) into a PageDictReader.

Everything here writes the layouts of the kernel patch (seed 000) and of the
PCIe / AER / DPC registers by offset, independently of the reader under
test.  `reader` puts a buffer behind a pagemap into a PageDictReader;
`pci_crash_pages` places the same into {pfn: page} for a dump writer
(tests/builders/kdump.py, elf.py).
"""

import random
import struct

from crash_ext_c.reader import PageDictReader, PageStatus

PCPM = 0x5043504D
PCIC = 0x50434943
PAGE_SIZE = 4096

# PCIe port types (PCIe capability register bits 7:4)
ENDPOINT, ROOT_PORT, UPSTREAM, DOWNSTREAM = 0x0, 0x4, 0x5, 0x6

# AER uncorrectable status bits
UE_COMP_TIME = 1 << 14
UE_COMP_ABORT = 1 << 15
UE_UNX_COMP = 1 << 16
UE_MALF_TLP = 1 << 18
UE_SURPRISE_DOWN = 1 << 5
CE_BAD_TLP = 1 << 6
CE_RX_ERR = 1 << 0
# Root Error Status bits
ROOT_COR_RCV, ROOT_UNCOR_RCV, ROOT_FIRST_FATAL, ROOT_NONFATAL_MSG, ROOT_FATAL_MSG = \
    0x01, 0x04, 0x10, 0x20, 0x40


def put(buf, off, fmt, *vals):
    struct.pack_into("<" + fmt, buf, off, *vals)


def config(vid=0x1af4, did=0x1041, *, size=4096, klass=0x020000, port_type=None,
           bus_range=None, primary=0, dllla_capable=False, dllla=False,
           link_speed=1, link_width=1, cap_speed=1, cap_width=1, devsta=0,
           aer=None, dpc=None, slot_presence=None, extra_caps=None):
    """One function's config space.

    port_type: None = no PCIe capability (conventional PCI); bus_range=(sec, sub) makes a
    type-1 bridge; aer: dict of uncor_status, uncor_mask, uncor_severity, cor_status,
    cor_mask, fep, root_status, src_cor, src_uncor (PCIe only); dpc: status word.
    """
    b = bytearray(size)
    put(b, 0x00, "HH", vid, did)
    put(b, 0x04, "HH", 0x0007, 0x0010)            # command; status: capability list
    put(b, 0x08, "I", (klass << 8) | 0x01)
    b[0x0E] = 1 if bus_range else 0
    if bus_range:
        b[0x18], b[0x19], b[0x1A] = primary, bus_range[0], bus_range[1]
    b[0x34] = 0x40 if port_type is not None else 0
    if port_type is not None:
        # PCI Express capability at 0x40
        slot = port_type in (ROOT_PORT, DOWNSTREAM) and slot_presence is not None
        put(b, 0x40, "BBH", 0x10, 0x00, 0x2 | (port_type << 4) | (0x100 if slot else 0))
        put(b, 0x44, "I", 0x00008000)              # DevCap: RBE
        put(b, 0x48, "HH", 0x000F, devsta)          # DevCtl error reporting on; DevSta
        put(b, 0x4C, "I", cap_speed | (cap_width << 4) | (0x00100000 if dllla_capable else 0))
        put(b, 0x50, "HH", 0, link_speed | (link_width << 4) | (0x2000 if dllla else 0))
        if slot_presence is not None:
            put(b, 0x58, "HH", 0, 0x0040 if slot_presence else 0)   # SltSta PresDet
        if port_type == ROOT_PORT:
            put(b, 0x5C, "HH", 0, 0)
            put(b, 0x60, "I", 0)
        ext = 0x100
        if aer is not None:
            nxt = 0x148 if dpc is not None else 0
            put(b, ext, "I", 0x0001 | (2 << 16) | (nxt << 20))
            put(b, ext + 0x04, "III", aer.get("uncor_status", 0), aer.get("uncor_mask", 0),
                aer.get("uncor_severity", 0x00062030))
            put(b, ext + 0x10, "II", aer.get("cor_status", 0), aer.get("cor_mask", 0x2000))
            put(b, ext + 0x18, "I", aer.get("fep", 0) | 0xA0)
            if port_type == ROOT_PORT:
                put(b, ext + 0x2C, "I", 0)
                put(b, ext + 0x30, "I", aer.get("root_status", 0))
                put(b, ext + 0x34, "HH", aer.get("src_cor", 0), aer.get("src_uncor", 0))
        if dpc is not None:
            at = 0x148 if aer is not None else 0x100
            put(b, at, "I", 0x001D | (1 << 16))
            put(b, at + 0x04, "HH", 0x0000, 0x0001)
            put(b, at + 0x08, "HH", dpc & 0xFFFF, dpc >> 16)    # status, error source ID
    for off, data in (extra_caps or {}).items():
        b[off:off + len(data)] = data
    return bytes(b)


def record(domain, bus, dev, fn, cfg):
    return struct.pack("<HBBI", domain, bus, (dev << 3) | fn, len(cfg)) + cfg


def buffer(records, *, magic=PCIC, version=1, device_count=None, config_size=0,
           timestamp=1_795_241_199_000_000_000, size=None):
    body = b"".join(records)
    n = len(records) if device_count is None else device_count
    head = struct.pack("<IIIIQII", magic, version, n, config_size, timestamp, 0, 0)
    out = head + body
    if size is not None:
        out = out + bytes(size - len(out)) if size > len(out) else out[:size]
    return out


class Reader(PageDictReader):
    """PageDictReader with a physical range: pfns below max_pfn that are not stored are
    `unstored` (default EXCLUDED, as makedumpfile leaves them), those above are OUTSIDE."""

    def __init__(self, pages, *, max_pfn=1 << 20, unstored=PageStatus.EXCLUDED, **kw):
        super().__init__(pages, **kw)
        self.max_pfn = max_pfn
        self.unstored = unstored

    def page_status(self, pfn):
        if pfn in self.pages:
            return PageStatus.PRESENT
        if pfn in self.statuses:
            return self.statuses[pfn]
        return PageStatus.OUTSIDE if pfn >= self.max_pfn else self.unstored


def pagemap(layout, num_pages, buf_size, addrs, *, buf_offset=0, magic=PCPM):
    """The pagemap bytes: layout 'A' (addrs at 16) or 'B' (buf_offset u32 at 16, addrs at 20)."""
    if layout not in ("A", "B"):
        raise ValueError("layout must be 'A' or 'B'")
    head = struct.pack("<IIQ", magic, num_pages, buf_size)
    if layout == "B":
        head += struct.pack("<I", buf_offset)
    return head + struct.pack("<%dQ" % len(addrs), *addrs)


def reader(buf, *, layout="A", page_size=4096, buf_offset=0, buffer_pfns=None,
           pagemap_addr=0x200000 + 0x80, missing=None, num_pages=None, buf_size=None,
           pm_magic=PCPM, vmcoreinfo=None, kernel_page_size=None, max_pfn=1 << 20,
           zero_status=None, addrs=None):
    """A reader whose memory holds `buf` behind a pagemap of `layout`.

    buffer_pfns: the (kernel) page frames of the buffer pages, default scattered
    descending; missing: {page_index: PageStatus} pages left out of the dump;
    num_pages/buf_size override the pagemap fields; kernel_page_size: PAGESIZE when
    it differs from the reader's page size; zero_status: PageStatus given to every
    buffer page that is all zero (instead of storing it)."""
    kps = kernel_page_size or page_size
    span = buf_offset + len(buf)
    n = -(-span // kps)
    if buffer_pfns is None:
        buffer_pfns = [0x9000 - 7 * i for i in range(n)]     # scattered, descending
    padded = bytes(buf_offset) + buf + bytes(n * kps - span)
    mem = {}   # physical page (reader size) -> bytes
    statuses = {}
    missing = missing or {}
    ratio = kps // page_size
    for i, kpfn in enumerate(buffer_pfns[:n]):
        chunk = padded[i * kps:(i + 1) * kps]
        for j in range(ratio):
            rp = kpfn * ratio + j
            part = chunk[j * page_size:(j + 1) * page_size]
            if i in missing:
                statuses[rp] = missing[i]
            elif zero_status is not None and not any(part):
                statuses[rp] = zero_status
            else:
                mem[rp] = part
    a = [p * kps for p in buffer_pfns[:n]] if addrs is None else addrs
    pm = pagemap(layout, n if num_pages is None else num_pages,
                 len(buf) if buf_size is None else buf_size, a, buf_offset=buf_offset,
                 magic=pm_magic)
    first = pagemap_addr // page_size
    last = (pagemap_addr + len(pm) - 1) // page_size
    for p in range(first, last + 1):
        page = bytearray(mem.get(p, bytes(page_size)))
        lo = max(pagemap_addr, p * page_size)
        hi = min(pagemap_addr + len(pm), (p + 1) * page_size)
        page[lo - p * page_size:hi - p * page_size] = pm[lo - pagemap_addr:hi - pagemap_addr]
        mem[p] = bytes(page)
    info = {"PAGESIZE": str(kps), "PCI_CRASH_PAGEMAP": "0x%x" % pagemap_addr,
            "PCI_CRASH_VERSION": "1", "PCI_CRASH_BUF_SZ": str(len(buf)),
            "CRASHTIME": "1795241199"}
    info.update(vmcoreinfo or {})
    return Reader(mem, page_size=page_size, vmcoreinfo=info, statuses=statuses,
                  max_pfn=max_pfn, name="<built>")


def qemu_like_records(*, endpoint_ff=False, error=UE_COMP_TIME, dllla_capable=True,
                      dllla=True, reported=True):
    """A small tree: root port 00:02.0 -> endpoint 01:00.0 with `error` reported as
    ERR_NONFATAL, a clean root port 00:02.1 -> switch 02:00.0 -> 03:00.0 -> 04:00.0,
    and a host bridge.  endpoint_ff: the endpoint's record is all 0xFF (layout B skip);
    reported=False: the root port received no message (Root Error Status and Source zero)."""
    rp = config(0x1b36, 0x000c, klass=0x060400, port_type=ROOT_PORT, bus_range=(1, 1),
                dllla_capable=dllla_capable, dllla=dllla, slot_presence=True,
                aer={"root_status": ROOT_UNCOR_RCV | ROOT_NONFATAL_MSG, "src_uncor": 0x0100}
                if reported else {})
    ep = config(0x1af4, 0x1041, port_type=ENDPOINT, devsta=0x2,
                aer={"uncor_status": error, "fep": error.bit_length() - 1})
    if endpoint_ff:
        ep = b"\xff" * 4096
    rp2 = config(0x1b36, 0x000c, klass=0x060400, port_type=ROOT_PORT, bus_range=(2, 4),
                 dllla_capable=True, dllla=True, aer={})
    up = config(0x104c, 0x8232, klass=0x060400, port_type=UPSTREAM, bus_range=(3, 4),
                primary=2, aer={})
    dn = config(0x104c, 0x8233, klass=0x060400, port_type=DOWNSTREAM, bus_range=(4, 4),
                primary=3, aer={})
    nic = config(0x8086, 0x10d3, port_type=ENDPOINT, aer={})
    host = config(0x8086, 0x29c0, size=256, klass=0x060000)
    return [record(0, 0, 0, 0, host), record(0, 0, 2, 0, rp), record(0, 0, 2, 1, rp2),
            record(0, 1, 0, 0, ep), record(0, 2, 0, 0, up), record(0, 3, 0, 0, dn),
            record(0, 4, 0, 0, nic)]


# -- the same capture in a dump's physical pages --------------------------------------

def pci_crash_pages(buffer, layout, pfns, *, pagemap_addr, page_size=PAGE_SIZE, buf_offset=0):
    """Place a pci_crash buffer and its pagemap in physical memory.

    buffer: the buffer bytes (header + records), buf_size = len(buffer).
    layout: 'A' (addrs at 16) or 'B' (buf_offset u32 at 16, addrs at 20).
    pfns: one page frame per buffer page, in buffer order (scattered as you like).
    pagemap_addr: physical address of the pagemap (may cross pages).
    buf_offset: where the buffer starts inside the first page.
    Returns ({pfn: page bytes}, [VMCOREINFO lines]).
    """
    size = len(buffer)
    num = -(-(buf_offset + size) // page_size)
    if len(pfns) != num:
        raise ValueError("%d pfns for a %d-page buffer" % (len(pfns), num))
    pm = pagemap(layout, num, size, [p * page_size for p in pfns], buf_offset=buf_offset)
    pages = {}
    padded = bytes(buf_offset) + buffer + bytes(num * page_size - buf_offset - size)
    for i, pfn in enumerate(pfns):
        pages[pfn] = padded[i * page_size:(i + 1) * page_size]
    first, off = divmod(pagemap_addr, page_size)
    span = -(-(off + len(pm)) // page_size)
    raw = bytes(off) + pm + bytes(span * page_size - off - len(pm))
    for i in range(span):
        pfn = first + i
        if pfn in pages:
            raise ValueError("pagemap page 0x%x is also a buffer page" % pfn)
        pages[pfn] = raw[i * page_size:(i + 1) * page_size]
    lines = ["PCI_CRASH_PAGEMAP=0x%x" % pagemap_addr, "PCI_CRASH_VERSION=1",
             "PCI_CRASH_BUF_SZ=%d" % size]
    return pages, lines


def fake_buffer(size, *, seed=0, config_size=4096):
    """A plausible pci_crash buffer of exactly `size` bytes: PCIC header + device records.

    Config spaces are mostly zero with IDs and a few capability bytes, so they
    compress like real ones.  Enough for reader benchmarks; CAPTURE's own
    builders make realistic topologies.
    """
    rng = random.Random(seed)
    recs = []
    while 32 + (len(recs) + 1) * (8 + config_size) <= size:
        cfg = bytearray(config_size)
        struct.pack_into("<HH", cfg, 0, 0x8086, rng.randrange(0x10000))
        cfg[0x0b] = 0x02
        for _ in range(8):
            cfg[rng.randrange(0x40, config_size)] = rng.randrange(256)
        bus, devfn = divmod(len(recs), 256)
        recs.append(record(bus >> 8, bus & 0xFF, devfn >> 3, devfn & 7, bytes(cfg)))
    return buffer(recs, size=size)


def scattered_pfns(n, max_pfn, *, seed=0, avoid=()):
    """n distinct pseudo-random pfns in [0, max_pfn), none in `avoid`."""
    rng = random.Random(seed)
    avoid = set(avoid)
    out = []
    seen = set()
    while len(out) < n:
        for p in rng.sample(range(max_pfn), min(max_pfn, 2 * (n - len(out)) + 8)):
            if p not in avoid and p not in seen:
                seen.add(p)
                out.append(p)
                if len(out) == n:
                    break
    return out


def scattered_capture_dump(path, *, max_pfn=1 << 28, buf_pages=6000, layout="A", seed=1,
                           page_size=PAGE_SIZE, extra_pages=None):
    """A kdump-compressed file of `max_pfn` pages holding a `buf_pages`-page buffer
    scattered across it; returns (path, pages, vmcoreinfo lines, buffer)."""
    buf = fake_buffer(buf_pages * page_size - (0 if layout == "A" else 0), seed=seed)
    pm_pfn = max_pfn // 3
    pm_pages = -(-(20 + 8 * buf_pages) // page_size)
    pfns = scattered_pfns(buf_pages, max_pfn, seed=seed,
                          avoid=range(pm_pfn, pm_pfn + pm_pages + 1))
    pages, lines = pci_crash_pages(buf, layout, pfns, pagemap_addr=pm_pfn * page_size + 0x380,
                                   page_size=page_size)
    if extra_pages:
        pages.update(extra_pages)
    from .kdump import write_kdump
    write_kdump(path, pages, max_pfn=max_pfn, vmcoreinfo_lines=["CRASHTIME=1795241199"] + lines,
                page_size=page_size)
    return str(path), pages, lines, buf


def bridge(bus, dev, sec, sub):
    """(bus, dev, config) of a switch downstream port on `bus` leading to buses sec..sub."""
    return (bus, dev, config(0x1b36, 0x000c, klass=0x060400, port_type=DOWNSTREAM,
                             bus_range=(sec, sub), primary=bus, aer={}))
