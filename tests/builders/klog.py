"""Kernel logs built byte by byte from the kernel's documented layouts, for dumps no lab kernel makes.

- the lockless ring buffer (kernel/printk/printk_ringbuffer.{c,h}, 5.10+):
  written the way prb_reserve/prb_commit do it: ids start at DESC0_ID
  (-(count + 1), so the first ids wrap the 62-bit id space), logical
  positions at BLK0_LPOS (-size, so the first text wrap crosses 2^64); a
  block that would cross the end of the ring is stored at its start; a full
  ring pushes its tails (the oldest descriptors become reusable); struct
  offsets are those the 6.1 kernels put in VMCOREINFO;
- the printk_log records of 3.5-5.9 (log_store / log_make_free_space):
  16-byte header (+caller_id), text, dictionary, padded to LOG_ALIGN; a zero
  len marks the wrap;
- x86_64 page tables (4 or 5 levels, 4 KiB / 2 MiB / 1 GiB pages) and arm64
  translation tables (4 KiB or 64 KiB granule), to put the log where only a
  table walk finds it;
- `Memory`: physical pages being written, handed to synth.write_kdump or to
  a PageDictReader.
"""

import struct

MASK64 = (1 << 64) - 1
ID_MASK = (1 << 62) - 1
FINALIZED, REUSABLE, RESERVED, COMMITTED = 2, 3, 0, 1
EMPTY_LINE_LPOS = 0x3

# The 6.1 layout (as in the shared dumps' VMCOREINFO).
PRB_INFO = """SIZE(printk_ringbuffer)=88
OFFSET(printk_ringbuffer.desc_ring)=0
OFFSET(printk_ringbuffer.text_data_ring)=48
OFFSET(printk_ringbuffer.fail)=80
SIZE(prb_desc_ring)=48
OFFSET(prb_desc_ring.count_bits)=0
OFFSET(prb_desc_ring.descs)=8
OFFSET(prb_desc_ring.infos)=16
OFFSET(prb_desc_ring.head_id)=24
OFFSET(prb_desc_ring.tail_id)=32
SIZE(prb_desc)=24
OFFSET(prb_desc.state_var)=0
OFFSET(prb_desc.text_blk_lpos)=8
SIZE(prb_data_blk_lpos)=16
OFFSET(prb_data_blk_lpos.begin)=0
OFFSET(prb_data_blk_lpos.next)=8
SIZE(printk_info)=88
OFFSET(printk_info.seq)=0
OFFSET(printk_info.ts_nsec)=8
OFFSET(printk_info.text_len)=16
OFFSET(printk_info.caller_id)=20
OFFSET(printk_info.dev_info)=24
SIZE(dev_printk_info)=64
OFFSET(dev_printk_info.subsystem)=0
LENGTH(printk_info_subsystem)=16
OFFSET(dev_printk_info.device)=16
LENGTH(printk_info_device)=48
SIZE(prb_data_ring)=32
OFFSET(prb_data_ring.size_bits)=0
OFFSET(prb_data_ring.data)=8
OFFSET(prb_data_ring.head_lpos)=16
OFFSET(prb_data_ring.tail_lpos)=24
SIZE(atomic_long_t)=8
OFFSET(atomic_long_t.counter)=0""".splitlines()

LOGBUF_INFO = """SIZE(printk_log)=16
OFFSET(printk_log.ts_nsec)=0
OFFSET(printk_log.len)=8
OFFSET(printk_log.text_len)=10
OFFSET(printk_log.dict_len)=12""".splitlines()


class Rec:
    def __init__(self, ts_nsec, text, *, level=6, facility=0, caller=0x80000001,
                 subsystem=b"", device=b""):
        self.ts_nsec, self.level, self.facility, self.caller = ts_nsec, level, facility, caller
        self.text = text.encode() if isinstance(text, str) else bytes(text)
        self.subsystem, self.device = subsystem, device


class Memory:
    """Physical memory being built: {pfn: bytearray}."""

    def __init__(self, page_size=4096):
        self.ps = page_size
        self.pages = {}

    def write(self, paddr, data):
        data = memoryview(bytes(data))
        ps, pos = self.ps, 0
        while pos < len(data):
            pfn, off = divmod(paddr + pos, ps)
            take = min(ps - off, len(data) - pos)
            page = self.pages.setdefault(pfn, bytearray(ps))
            page[off:off + take] = data[pos:pos + take]
            pos += take

    def read(self, paddr, size):
        out = bytearray()
        while len(out) < size:
            pfn, off = divmod(paddr, self.ps)
            take = min(self.ps - off, size - len(out))
            out += self.pages.get(pfn, bytes(self.ps))[off:off + take]
            paddr += take
        return bytes(out)

    def frozen(self):
        return {p: bytes(b) for p, b in self.pages.items()}


# ------------------------------------------------------------------ the ring buffer

class Prb:
    """A printk_ringbuffer's bytes: descs, infos, text data and the struct itself."""

    def __init__(self, count_bits, size_bits):
        self.count_bits, self.size_bits = count_bits, size_bits
        self.count, self.size = 1 << count_bits, 1 << size_bits
        self.descs = bytearray(24 * self.count)
        self.infos = bytearray(88 * self.count)
        self.data = bytearray(self.size)
        d0 = (-(self.count + 1)) & ID_MASK                 # DESC0_ID
        self.head_id = self.tail_id = d0
        blk0 = (-self.size) & MASK64                        # BLK0_LPOS
        self.head_lpos = self.tail_lpos = blk0
        # the initial dummy descriptor: reusable, data-less (FAILED_LPOS)
        self._set_desc(d0, REUSABLE, 0x1, 0x1)
        self.seq = 0
        self.lpos = {}            # id -> (begin, next) of live blocks

    def _slot(self, id_):
        return id_ % self.count

    def _set_desc(self, id_, state, begin, nxt):
        struct.pack_into("<QQQ", self.descs, 24 * self._slot(id_),
                         (state << 62) | (id_ & ID_MASK), begin & MASK64, nxt & MASK64)

    def state(self, id_):
        sv, = struct.unpack_from("<Q", self.descs, 24 * self._slot(id_))
        return sv >> 62

    def _push_desc_tail(self):
        """desc_push_tail: the oldest descriptor becomes reusable, the data tail follows it."""
        old = self.tail_id
        sv, b, n = struct.unpack_from("<QQQ", self.descs, 24 * self._slot(old))
        self._set_desc(old, REUSABLE, b, n)
        if old in self.lpos:
            self.tail_lpos = self.lpos.pop(old)[1]
        self.tail_id = (old + 1) & ID_MASK

    def _wraps(self, lpos):
        return (lpos & MASK64) >> self.size_bits

    def add(self, rec, *, state=FINALIZED):
        id_ = (self.head_id + 1) & ID_MASK
        if (id_ - self.tail_id) & ID_MASK >= self.count:
            self._push_desc_tail()
        text = rec.text
        if text:
            blk = (8 + len(text) + 7) & ~7
            begin = self.head_lpos
            nxt = (begin + blk) & MASK64
            if self._wraps(begin) != self._wraps(nxt):
                nxt = ((self._wraps(nxt) << self.size_bits) + blk) & MASK64
            # make room: data_push_tail drops the oldest blocks (and their descriptors)
            while (nxt - self.tail_lpos) & MASK64 > self.size:
                if not self.lpos:
                    raise ValueError("ring too small for this record")
                self._push_desc_tail()
            bidx = begin % self.size
            if self._wraps(begin) != self._wraps(nxt):
                struct.pack_into("<Q", self.data, bidx, id_)
                bidx = 0
            struct.pack_into("<Q", self.data, bidx, id_)
            self.data[bidx + 8:bidx + 8 + len(text)] = text
            self.head_lpos = nxt
            self.lpos[id_] = (begin, nxt)
        else:
            begin = nxt = EMPTY_LINE_LPOS
        self._set_desc(id_, state, begin, nxt)
        inf = bytearray(88)
        struct.pack_into("<QQHBBI", inf, 0, self.seq, rec.ts_nsec, len(text), rec.facility,
                         (rec.level & 7) << 5, rec.caller)
        inf[24:24 + len(rec.subsystem)] = rec.subsystem[:15]
        inf[40:40 + len(rec.device)] = rec.device[:47]
        self.infos[88 * self._slot(id_):88 * self._slot(id_) + 88] = inf
        self.seq += 1
        self.head_id = id_
        return id_

    def struct_bytes(self, descs_va, infos_va, data_va):
        b = bytearray(88)
        struct.pack_into("<IxxxxQQQQ", b, 0, self.count_bits, descs_va, infos_va,
                         self.head_id, self.tail_id)
        struct.pack_into("<IxxxxQQQ", b, 48, self.size_bits, data_va, self.head_lpos,
                         self.tail_lpos)
        return bytes(b)

    def live(self):
        """Ids the kernel would print, oldest first (tail..head, finalized/committed)."""
        out, i = [], self.tail_id
        while True:
            if self.state(i) in (COMMITTED, FINALIZED):
                out.append(i)
            if i == self.head_id:
                return out
            i = (i + 1) & ID_MASK


# ------------------------------------------------------------------ legacy log_buf

class LogBuf:
    """log_buf of 3.5-5.9: records written by log_store(), oldest dropped when full."""

    def __init__(self, buf_len, *, align=4, caller=False):
        self.buf = bytearray(buf_len)
        self.len = buf_len
        self.align = align
        self.hdr = 24 if caller else 16
        self.caller = caller
        self.first = self.next = 0
        self.first_seq = self.next_seq = 0

    def _rec_len(self, idx):
        return struct.unpack_from("<H", self.buf, idx + 8)[0]

    def _log_next(self, idx):
        length = self._rec_len(idx)
        return self._rec_len(0) if length == 0 else idx + length

    def _has_space(self, size, empty):
        if self.next > self.first or empty:
            free = max(self.len - self.next, self.first)
        else:
            free = self.first - self.next
        return free >= size + self.hdr          # room for the wrap marker too

    def add(self, rec, dictionary=b""):
        size = self.hdr + len(rec.text) + len(dictionary)
        size += -size % self.align
        while self.first_seq < self.next_seq and not self._has_space(size, False):
            self.first = self._log_next(self.first)           # drop the oldest
            self.first_seq += 1
        if not self._has_space(size, self.first_seq == self.next_seq):
            raise ValueError("record too large for this log_buf")
        if self.next + size + self.hdr > self.len:
            self.buf[self.next:self.next + self.hdr] = bytes(self.hdr)   # len 0: wrap marker
            self.next = 0
        at = self.next
        hdr = bytearray(self.hdr)
        struct.pack_into("<QHHHBB", hdr, 0, rec.ts_nsec, size, len(rec.text), len(dictionary),
                         rec.facility, (rec.level & 7) << 5)
        if self.caller:
            struct.pack_into("<I", hdr, 16, rec.caller)
        self.buf[at:at + size] = (bytes(hdr) + rec.text + dictionary).ljust(size, b"\0")
        self.next = at + size
        self.next_seq += 1

    def info(self):
        lines = list(LOGBUF_INFO)
        if self.caller:
            lines = [l.replace("SIZE(printk_log)=16", "SIZE(printk_log)=24") for l in lines]
            lines.append("OFFSET(printk_log.caller_id)=16")
        return lines


# ------------------------------------------------------------------ page tables

class X86Tables:
    """x86_64 page tables in `mem`, tables allocated from `alloc` (a physical address)."""

    def __init__(self, mem, alloc, *, levels=4):
        self.mem, self.next_free, self.levels = mem, alloc, levels
        self.root = self._new()

    def _new(self):
        p = self.next_free
        self.next_free += 4096
        self.mem.write(p, bytes(4096))
        return p

    def map(self, vaddr, paddr, size, page=4096):
        shifts = (48, 39, 30, 21, 12)[5 - self.levels:]
        leaf = {4096: 12, 2 << 20: 21, 1 << 30: 30}[page]
        for off in range(0, size, page):
            v, p = vaddr + off, paddr + off
            table = self.root
            for shift in shifts:
                idx = (v >> shift) & 0x1FF
                at = table + 8 * idx
                if shift == leaf:
                    flags = 0x63 | (0x80 if leaf != 12 else 0)
                    self.mem.write(at, struct.pack("<Q", p | flags | (1 << 63)))
                    break
                entry, = struct.unpack("<Q", self.mem.read(at, 8))
                if not entry & 1:
                    t = self._new()
                    entry = t | 0x63
                    self.mem.write(at, struct.pack("<Q", entry))
                table = entry & 0x000FFFFFFFFFF000


class Arm64Tables:
    """arm64 stage-1 translation tables (TTBR1) for `va_bits` with a 4 KiB or 64 KiB granule."""

    def __init__(self, mem, root, alloc, *, va_bits=48, page=4096):
        self.mem, self.root, self.next_free = mem, root, alloc
        self.va_bits, self.page = va_bits, page
        self.shift = page.bit_length() - 1
        self.levels = (va_bits - 4) // (self.shift - 3)
        mem.write(root, bytes(page))

    def _new(self):
        p = self.next_free
        self.next_free += self.page
        self.mem.write(p, bytes(self.page))
        return p

    def map(self, vaddr, paddr, size, block=None):
        stride = self.shift - 3
        leaf_level = 3
        if block:
            leaf_level = 3 - ((block.bit_length() - 1 - self.shift) // stride)
        step = block or self.page
        for off in range(0, size, step):
            v, p = vaddr + off, paddr + off
            table = self.root
            for i in range(self.levels):
                level = 4 - self.levels + i
                shift = stride * (3 - level) + self.shift
                bits = (self.va_bits - shift) if i == 0 else stride
                idx = (v >> shift) & ((1 << bits) - 1)
                at = table + 8 * idx
                if level == leaf_level:
                    kind = 3 if level == 3 else 1
                    self.mem.write(at, struct.pack("<Q", p | kind | 0x400 | (1 << 54)))
                    break
                entry, = struct.unpack("<Q", self.mem.read(at, 8))
                if entry & 3 != 3:
                    t = self._new()
                    entry = t | 3
                    self.mem.write(at, struct.pack("<Q", entry))
                table = entry & ((1 << 48) - 1) & ~(self.page - 1)


def dmesg_lines(recs):
    """What makedumpfile --dump-dmesg prints for records of plain ASCII one-line text."""
    out = []
    for r in recs:
        s, ns = divmod(r.ts_nsec, 10 ** 9)
        out.append(b"[%5d.%06d] " % (s, ns // 1000) + r.text + b"\n")
    return b"".join(out)


# ------------------------------------------------------------------ whole kernels

X86_START_KERNEL_MAP = 0xFFFFFFFF80000000


class X86Kernel:
    """An x86_64 kernel's memory: KASLR image with page tables, a (randomized) direct map.

    Enough for makedumpfile --dump-dmesg too: init_uts_ns, a FLATMEM mem_map
    and the page struct entries it checks for a memory model.
    """

    def __init__(self, *, kaslr=0x2A400000, phys_base=0x8600000, levels=4,
                 page_offset=0xFFFF8F2A00000000, ram=1 << 30, release="6.1.0-synth"):
        self.mem = Memory()
        self.kaslr, self.phys_base, self.levels = kaslr, phys_base, levels
        self.page_offset, self.ram, self.release = page_offset, ram, release
        self.img = 0xFFFFFFFF81000000 + kaslr
        self.pgt = self.img + 0x1E00000
        self.tables = X86Tables(self.mem, self.v2p(self.pgt), levels=levels)
        # the image with 2 MiB pages, the direct map with 1 GiB pages (as the kernel maps them)
        self.tables.map(self.img & ~0x1FFFFF, self.v2p(self.img & ~0x1FFFFF), 64 << 20,
                        page=2 << 20)
        self.tables.next_free = self.v2p(self.img + 0x3000000)
        for off in range(0, ram, 1 << 30):
            self.tables.map(page_offset + off, off, 1 << 30, page=1 << 30)
        self.uts = self.img + 0x1F00000
        self.mem.write(self.v2p(self.uts), b"".join(
            f.ljust(65, b"\0") for f in (b"Linux", b"synth", release.encode(), b"#1",
                                         b"x86_64", b"(none)")))
        self.mem_map = self.img + 0x1F10000
        self.mem.write(self.v2p(self.mem_map), struct.pack("<Q", page_offset + 0x1000000))
        self.lines = [
            "SYMBOL(init_uts_ns)=%x" % self.uts, "OFFSET(uts_namespace.name)=0",
            "SIZE(page)=64", "OFFSET(page.flags)=0", "OFFSET(page._refcount)=52",
            "OFFSET(page.mapping)=24", "SYMBOL(mem_map)=%x" % self.mem_map,
            "SYMBOL(_stext)=%x" % self.img, "SYMBOL(swapper_pg_dir)=%x" % self.pgt,
            "NUMBER(phys_base)=%d" % phys_base, "SYMBOL(init_top_pgt)=%x" % self.pgt,
            "NUMBER(pgtable_l5_enabled)=%d" % (levels == 5), "KERNELOFFSET=%x" % kaslr,
            "NUMBER(KERNEL_IMAGE_SIZE)=1073741824", "NUMBER(sme_mask)=0"]

    def v2p(self, vaddr):
        if vaddr >= X86_START_KERNEL_MAP:
            return vaddr - X86_START_KERNEL_MAP + self.phys_base
        return vaddr - self.page_offset

    def write(self, vaddr, data):
        """Write at an image or direct-map address (contiguous physical memory)."""
        if not (self.page_offset <= vaddr < self.page_offset + self.ram or
                vaddr >= X86_START_KERNEL_MAP):
            raise ValueError("0x%x is neither image nor direct map" % vaddr)
        self.mem.write(self.v2p(vaddr), data)

    def write_vmalloc(self, vaddr, data, pfns):
        """Write `data` at a vmalloc address, page k landing in physical page pfns[k]."""
        for k in range(0, len(data), 4096):
            self.tables.map(vaddr + k, pfns[k // 4096] * 4096, 4096)
            self.mem.write(pfns[k // 4096] * 4096, data[k:k + 4096])

    def place_prb(self, prb, *, descs=None, infos=None, data=None):
        """The ring at the given addresses (default: in the image, like printk_rb_static)."""
        ptr = self.img + 0x1A00000
        rb = ptr + 0x20
        descs = descs or self.img + 0x1B00000
        infos = infos or self.img + 0x1C00000
        data = data or self.img + 0x1D00000
        self.write(ptr, struct.pack("<Q", rb))
        self.write(rb, prb.struct_bytes(descs, infos, data))
        for va, blob in ((descs, prb.descs), (infos, prb.infos), (data, prb.data)):
            if self.page_offset <= va < self.page_offset + self.ram or \
                    va >= X86_START_KERNEL_MAP:
                self.write(va, blob)           # else: the caller put it in vmalloc pages
        self.lines += ["SYMBOL(prb)=%x" % ptr, "SYMBOL(printk_rb_static)=%x" % rb] + PRB_INFO
        return dict(prb=ptr, rb=rb, descs=descs, infos=infos, data=data)

    def place_log_buf(self, lb, *, at=None, release=None):
        sym = self.img + 0x1A00000
        buf = at or self.img + 0x1B00000
        self.write(sym, struct.pack("<QIII", buf, lb.len, lb.first, lb.next))
        self.write(buf, lb.buf)
        self.lines += ["SYMBOL(log_buf)=%x" % sym, "SYMBOL(log_buf_len)=%x" % (sym + 8),
                       "SYMBOL(log_first_idx)=%x" % (sym + 12),
                       "SYMBOL(clear_idx)=%x" % (sym + 12),
                       "SYMBOL(log_next_idx)=%x" % (sym + 16)] + lb.info()
        return dict(sym=sym, buf=buf)

    def info(self):
        return dict(l.split("=", 1) for l in ["OSRELEASE=" + self.release, "PAGESIZE=4096"]
                    + self.lines)

    def max_pfn(self):
        top = max(max(self.mem.pages) + 1, self.ram // 4096)
        if top > 1 << 22:      # a dump file's bitmaps grow with this: keep test files small
            raise ValueError("page 0x%x is past 16 GiB" % top)
        return top


class Arm64Kernel:
    """An arm64 kernel's memory (5.4+ "flipped" layout unless flipped=False)."""

    def __init__(self, *, page=4096, va_bits=48, phys_offset=0x40000000, flipped=True,
                 kaslr=0x1234000 * 0x10, ram=1 << 30, vabits_actual=None, t1sz=True):
        self.mem = Memory(page)
        self.page, self.va_bits, self.flipped = page, va_bits, flipped
        self.phys_offset, self.ram = phys_offset, ram
        self.vabits_actual = vabits_actual = vabits_actual or va_bits
        if flipped:
            self.page_offset = (-(1 << vabits_actual)) & MASK64
            # MODULES_VADDR = _PAGE_END(VA_BITS_MIN), VA_BITS_MIN = min(VA_BITS, 48)
            kimage_vaddr = ((-(1 << (min(va_bits, 48) - 1))) & MASK64) + (128 << 20) + 0x10000000
        else:
            self.page_offset = (-(1 << (va_bits - 1))) & MASK64
            kimage_vaddr = ((-(1 << va_bits)) & MASK64) + (128 << 20)
        self.img = kimage_vaddr + kaslr                  # _text
        block = {4096: 2 << 20, 16384: 32 << 20, 65536: 512 << 20}[page]   # level-2 blocks
        # where the image was loaded: same offset in a block as its virtual address
        self.img_phys = -(-(phys_offset + 0x2000000) // block) * block + self.img % block
        self.kimage_voffset = (self.img - self.img_phys) & MASK64
        self.swapper = self.img + 0x1800000
        self.tables = Arm64Tables(self.mem, self.v2p(self.swapper),
                                  self.v2p(self.img + 0x1900000), va_bits=va_bits, page=page)
        self.tables.map(self.img & ~(block - 1), self.v2p(self.img & ~(block - 1)),
                        max(64 << 20, block), block=block)
        self.lines = [
            "NUMBER(VA_BITS)=%d" % va_bits, "NUMBER(kimage_voffset)=0x%x" % self.kimage_voffset,
            "NUMBER(PHYS_OFFSET)=0x%x" % phys_offset, "KERNELOFFSET=%x" % kaslr,
            "SYMBOL(_stext)=%x" % (self.img + 0x10000), "SYMBOL(swapper_pg_dir)=%x" % self.swapper]
        if flipped and t1sz:
            self.lines.append("NUMBER(TCR_EL1_T1SZ)=0x%x" % (64 - vabits_actual))
        self.lines.append("SYMBOL(mem_section)=%x" % self.linear(phys_offset + 0x3000000))

    def v2p(self, vaddr):
        bit = 1 << (self.vabits_actual - 1)
        linear = (not vaddr & bit) if self.flipped else bool(vaddr & bit)
        if linear:
            return (vaddr - self.page_offset) + self.phys_offset
        return (vaddr - self.kimage_voffset) & MASK64

    def linear(self, paddr):
        return self.page_offset + paddr - self.phys_offset

    def write(self, vaddr, data):
        self.mem.write(self.v2p(vaddr), data)

    def place_prb(self, prb, *, data_linear=True):
        ptr = self.img + 0x1A00000
        rb = ptr + 0x20
        descs, infos = self.img + 0x1B00000, self.img + 0x1C00000
        # the text ring in the linear map (memblock, log_buf_len=) or in the image
        data = self.linear(self.phys_offset + 0x10000000) if data_linear else self.img + 0x1D00000
        self.write(ptr, struct.pack("<Q", rb))
        self.write(rb, prb.struct_bytes(descs, infos, data))
        self.write(descs, prb.descs)
        self.write(infos, prb.infos)
        self.write(data, prb.data)
        self.lines += ["SYMBOL(prb)=%x" % ptr] + PRB_INFO
        return dict(prb=ptr, descs=descs, infos=infos, data=data)

    def info(self):
        return dict(l.split("=", 1) for l in ["OSRELEASE=5.15.0-arm64", "PAGESIZE=%d" % self.page]
                    + self.lines)
