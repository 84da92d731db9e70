"""The lockless printk ring buffer (Linux 5.10+), read with VMCOREINFO's sizes and offsets.

Layout (kernel/printk/printk_ringbuffer.h; every size/offset below comes
from VMCOREINFO, never from a constant):
- SYMBOL(prb) is a pointer to struct printk_ringbuffer: desc_ring
  (count_bits u32, descs and infos pointers, head_id and tail_id
  atomic_long_t) and text_data_ring (size_bits u32, data pointer, head_lpos,
  tail_lpos);
- a descriptor (prb_desc) holds state_var (atomic_long_t: the top 2 bits are
  the state 0 reserved, 1 committed, 2 finalized, 3 reusable; the rest is
  the id) and text_blk_lpos (begin, next: logical positions in the data
  ring); descriptor id N lives in slot N % 2^count_bits of descs and of
  infos (printk_info: seq, ts_nsec, text_len u16, facility u8, flags:5 and
  level:3 in one byte, caller_id u32, dev_info with SUBSYSTEM/DEVICE);
- a data block starts with the unsigned long id of its descriptor, then the
  text; a block that would cross the end of the ring is stored at the start
  (begin index > next index); begin == next is a data-less record.

Records are read from tail_id to head_id as makedumpfile's
dump_lockless_dmesg does (committed and finalized ones, text_len cut to its
block), at most once per descriptor slot.
"""

from __future__ import annotations

import functools
import struct
from typing import Dict, List, Optional, Tuple

from .damage import Damage, Missing, need
from .physmem import Unreadable
from .records import KernelLog, LogRecord
from crash_ext_c.errors import PcicrashError
from .vtop import MASK64, KernelMemory, VtopError, number, symbol

ID_BITS = 62                      # 64-bit state_var: 2 state bits on top
ID_MASK = (1 << ID_BITS) - 1
STATES = {0: "reserved", 1: "committed", 2: "finalized", 3: "reusable"}
MAX_COUNT_BITS = 28               # kernel: count_bits = size_bits - 5, size_bits <= 31
MAX_SIZE_BITS = 31                # LOG_BUF_LEN_MAX
CHUNK = 512                       # descriptors per batch read


class Layout:
    """The struct offsets of the ring, all from VMCOREINFO (Missing names the first absent)."""

    def __init__(self, info: Dict[str, str]) -> None:
        o = lambda k: need(info, "OFFSET(%s)" % k, hi=1 << 16)
        s = lambda k: need(info, "SIZE(%s)" % k, lo=1, hi=1 << 16)
        self.rb_size = s("printk_ringbuffer")
        self.desc_ring = o("printk_ringbuffer.desc_ring")
        self.text_ring = o("printk_ringbuffer.text_data_ring")
        self.count_bits = o("prb_desc_ring.count_bits")
        self.descs = o("prb_desc_ring.descs")
        self.infos = o("prb_desc_ring.infos")
        self.head_id = o("prb_desc_ring.head_id")
        self.tail_id = o("prb_desc_ring.tail_id")
        self.desc_size = s("prb_desc")
        self.state_var = o("prb_desc.state_var")
        self.text_lpos = o("prb_desc.text_blk_lpos")
        self.lpos_begin = o("prb_data_blk_lpos.begin")
        self.lpos_next = o("prb_data_blk_lpos.next")
        self.info_size = s("printk_info")
        self.seq = o("printk_info.seq")
        self.ts = o("printk_info.ts_nsec")
        self.text_len = o("printk_info.text_len")
        self.size_bits = o("prb_data_ring.size_bits")
        self.data = o("prb_data_ring.data")
        self.head_lpos = o("prb_data_ring.head_lpos")
        self.tail_lpos = o("prb_data_ring.tail_lpos")
        self.counter = o("atomic_long_t.counter")
        def opt(key):          # optional entries: absent or unusable means "not there"
            try:
                v = number(info, key)
            except PcicrashError:
                return None
            return v if v is not None and 0 <= v < 1 << 16 else None
        self.caller_id = opt("OFFSET(printk_info.caller_id)")
        self.dev_info = opt("OFFSET(printk_info.dev_info)")
        self.subsys = opt("OFFSET(dev_printk_info.subsystem)")
        self.subsys_len = opt("LENGTH(printk_info_subsystem)")
        self.device = opt("OFFSET(dev_printk_info.device)")
        self.device_len = opt("LENGTH(printk_info_device)")
        # every field read must lie inside the struct VMCOREINFO sizes
        c = self.counter + 8
        if max(self.desc_ring + max(self.count_bits + 4, self.descs + 8, self.infos + 8,
                                    self.head_id + c, self.tail_id + c),
               self.text_ring + max(self.size_bits + 4, self.data + 8, self.head_lpos + c,
                                    self.tail_lpos + c)) > self.rb_size:
            raise Missing("an OFFSET(prb_desc_ring.* / prb_data_ring.*) lies past "
                          "SIZE(printk_ringbuffer)=%d" % self.rb_size)
        if max(self.state_var + c, self.text_lpos + max(self.lpos_begin, self.lpos_next) + 8) \
                > self.desc_size:
            raise Missing("an OFFSET(prb_desc.* / prb_data_blk_lpos.*) lies past "
                          "SIZE(prb_desc)=%d" % self.desc_size)
        if max(self.seq + 8, self.ts + 8, self.text_len + 2) > self.info_size:
            raise Missing("an OFFSET(printk_info.*) lies past SIZE(printk_info)=%d"
                          % self.info_size)
        if self.caller_id is not None and self.caller_id + 4 > self.info_size:
            self.caller_id = None


_FMT = {8: struct.Struct("<Q").unpack_from, 4: struct.Struct("<I").unpack_from,
        2: struct.Struct("<H").unpack_from}


def _u(buf: bytes, off: int, size: int = 8) -> int:
    return _FMT[size](buf, off)[0]


def _cstr(buf: bytes, off: Optional[int], length: Optional[int]) -> str:
    if off is None or length is None or off + length > len(buf):
        return ""
    return buf[off:off + length].split(b"\0", 1)[0].decode("utf-8", "replace")


def _where(exc) -> str:
    return str(exc)


def read_prb(km: KernelMemory, info: Dict[str, str], log: KernelLog) -> None:
    log.format = "printk_ringbuffer"
    lay = Layout(info)
    prb_sym = symbol(info, "prb")
    if prb_sym is None:
        raise Missing("VMCOREINFO has no SYMBOL(prb)")
    try:
        rb_addr = km.u64(prb_sym)
    except (VtopError, Unreadable) as exc:
        raise Missing("the prb pointer (SYMBOL(prb) 0x%x) cannot be read: %s"
                      % (prb_sym, _where(exc))) from None
    try:
        rb = km.read(rb_addr, lay.rb_size)
    except (VtopError, Unreadable) as exc:
        raise Missing("struct printk_ringbuffer at 0x%x cannot be read: %s"
                      % (rb_addr, _where(exc))) from None
    dr, tr = lay.desc_ring, lay.text_ring
    count_bits = _u(rb, dr + lay.count_bits, 4)
    size_bits = _u(rb, tr + lay.size_bits, 4)
    if not 0 <= count_bits <= MAX_COUNT_BITS or not 3 <= size_bits <= MAX_SIZE_BITS:
        raise Missing("printk_ringbuffer at 0x%x: count_bits %d, size_bits %d are not a "
                      "ring the kernel makes" % (rb_addr, count_bits, size_bits),
                      expected="count_bits <= %d, 3 <= size_bits <= %d"
                               % (MAX_COUNT_BITS, MAX_SIZE_BITS))
    count = 1 << count_bits
    size = 1 << size_bits
    descs = _u(rb, dr + lay.descs)
    infos = _u(rb, dr + lay.infos)
    data = _u(rb, tr + lay.data)
    head = _u(rb, dr + lay.head_id + lay.counter) & ID_MASK
    tail = _u(rb, dr + lay.tail_id + lay.counter) & ID_MASK
    n = ((head - tail) & ID_MASK) + 1
    if n > count:
        log.notes.append("printk_ringbuffer at 0x%x: tail_id %d is %d descriptors behind "
                         "head_id %d, but the ring has only %d: read the last %d"
                         % (rb_addr, tail, n - 1, head, count, count))
        log.complete = False
        tail = (head - count + 1) & ID_MASK
        n = count
    if count_bits > size_bits:
        log.notes.append("printk_ringbuffer at 0x%x: %d descriptors for a %d-byte text ring "
                         "(the kernel makes one per 32 bytes)" % (rb_addr, count, size))
    walk = _Walk(km, lay, count, size, descs, infos, data, tail, head)
    for start in range(0, n, CHUNK):
        ids = [(tail + i) & ID_MASK for i in range(start, min(n, start + CHUNK))]
        walk.chunk(ids, log.records)
        if walk.gave_up is not False:
            left = (head - walk.gave_up) & ID_MASK
            if left > 0:
                log.notes.append("printk_ringbuffer: %d descriptors (ids %d..%d) not examined: "
                                 "the %d before them were unreadable in a row, the descriptor "
                                 "array is taken to be missing from there on"
                                 % (left, (walk.gave_up + 1) & ID_MASK, head,
                                    walk.unreadable_run))
                walk.dmg.lost += left
            break
    dmg, states = walk.dmg, walk.states
    if states:
        log.notes.append("printk_ringbuffer: descriptors skipped as not committed: %s"
                         % ", ".join("%d %s" % (v, k) for k, v in sorted(states.items())))
    log.notes.extend("printk_ringbuffer: " + s for s in dmg.notes())
    if dmg.lost or states.get("ID mismatch (overwritten or never used)", 0):
        log.complete = False


def _prefetch_slots(km, base, stride, slots, width) -> None:
    """Batch-read the array entries of `slots` (consecutive modulo the ring: 1 or 2 runs)."""
    runs, start = [], 0
    for i in range(1, len(slots) + 1):
        if i == len(slots) or slots[i] != slots[i - 1] + 1:
            runs.append((base + slots[start] * stride, (slots[i - 1] - slots[start]) * stride
                         + width))
            start = i
    km.prefetch_ranges(runs)


class _Walk:
    """One pass over descriptor ids tail..head; state carried across chunks."""

    def __init__(self, km, lay, count, size, descs, infos, data, tail, head) -> None:
        self.km, self.lay, self.count, self.size = km, lay, count, size
        self.descs, self.infos, self.data = descs, infos, data
        self.tail, self.head = tail, head
        self.dmg = Damage()
        self.states: Dict[str, int] = {}
        self.prev_next: Optional[int] = None          # lpos where the previous data block ended
        self.unreadable_run = 0
        # a missing stretch of the descriptor array this long means the rest is gone too
        self.give_up_after = max(1024, 16 * km.page_size // lay.desc_size)
        self.bad_pages: Dict[int, str] = {}    # virtual page -> why it cannot be read
        self.gave_up = False           # or the id where the walk stopped

    def _skip(self, state) -> None:
        self.states[state] = self.states.get(state, 0) + 1

    def chunk(self, ids, out):
        km, lay, size, dmg = self.km, self.lay, self.size, self.dmg
        slots = [i % self.count for i in ids]
        _prefetch_slots(km, self.descs, lay.desc_size, slots, lay.desc_size)
        blocks: List[Tuple[int, int, int, int]] = []        # (id, slot, begin index, next index)
        ps, dsz, bad = km.page_size, lay.desc_size, self.bad_pages
        for id_, slot in zip(ids, slots):
            at = self.descs + slot * dsz
            why = bad.get(at // ps) or bad.get((at + dsz - 1) // ps)
            if why is None:
                try:
                    d = km.read(at, dsz)
                except (VtopError, Unreadable) as exc:
                    why = _where(exc)
                    try:                       # which of its (at most 2) pages is the gap
                        km.read(at, 1)
                        gap = (at + dsz - 1) // ps
                    except (VtopError, Unreadable):
                        gap = at // ps
                    if len(bad) < 4096:
                        bad[gap] = why
            if why is not None:
                dmg.add("descriptor unreadable",
                        functools.partial("id %d at 0x%x: %s".__mod__, (id_, at, why)))
                self.unreadable_run += 1
                if self.unreadable_run >= self.give_up_after:
                    self.gave_up = id_
                    return self._finish(blocks, out)
                continue
            self.unreadable_run = 0
            sv = _u(d, lay.state_var + lay.counter)
            if sv & ID_MASK != id_:
                self._skip("ID mismatch (overwritten or never used)")
                continue
            state = STATES[sv >> ID_BITS]
            if state not in ("committed", "finalized"):
                # normal: the ring's initial dummy (and any pushed tail) is reusable, and
                # the head is reserved when the crash came during a printk
                if not ((state == "reusable" and id_ == self.tail) or
                        (state == "reserved" and id_ == self.head)):
                    self._skip(state)
                continue
            b_lpos = _u(d, lay.text_lpos + lay.lpos_begin)
            n_lpos = _u(d, lay.text_lpos + lay.lpos_next)
            if b_lpos == n_lpos:
                continue                   # data-less record (empty line or failed store)
            begin, nxt = b_lpos % size, n_lpos % size
            # lpos arithmetic is unsigned long: the first wrap (BLK0_LPOS = -size) crosses 2^64
            same_wrap = (b_lpos // size) == (n_lpos // size) and b_lpos < n_lpos
            wraps = (((b_lpos + size) & MASK64) // size) == (n_lpos // size)
            if not same_wrap and not wraps:
                dmg.add("data block position invalid",
                        "id %d: lpos begin 0x%x next 0x%x in a %d-byte ring"
                        % (id_, b_lpos, n_lpos, size))
                continue
            # the kernel allocates blocks in id order: a block before the previous one's
            # end (or a whole ring past it) overlaps other records' text
            if self.prev_next is not None and (b_lpos - self.prev_next) & MASK64 > size:
                dmg.add("data block out of order",
                        "id %d: lpos 0x%x, previous block ended at 0x%x"
                        % (id_, b_lpos, self.prev_next))
                continue
            self.prev_next = n_lpos
            if begin > nxt:
                begin = 0
            if nxt - begin < 8:
                dmg.add("data block shorter than its id",
                        "id %d: %d bytes at ring offset 0x%x" % (id_, nxt - begin, begin))
                continue
            blocks.append((id_, slot, begin, nxt))
        self._finish(blocks, out)

    def _finish(self, blocks, out) -> None:
        km, lay, dmg, data = self.km, self.lay, self.dmg, self.data
        if not blocks:
            return
        _prefetch_slots(km, self.infos, lay.info_size, [b[1] for b in blocks], lay.info_size)
        km.prefetch_ranges([(data + b, n - b) for _, _, b, n in blocks])
        for id_, slot, begin, nxt in blocks:
            at = self.infos + slot * lay.info_size
            try:
                inf = km.read(at, lay.info_size)
            except (VtopError, Unreadable) as exc:
                dmg.add("printk_info unreadable", "id %d at 0x%x: %s" % (id_, at, _where(exc)))
                continue
            seq = _u(inf, lay.seq)
            text_len = _u(inf, lay.text_len, 2)
            room = nxt - begin - 8
            if text_len > room:
                dmg.add("text_len past its data block (cut to the block)",
                        "seq %d: text_len %d, block holds %d" % (seq, text_len, room), seq,
                        lost=False)
                text_len = room
            try:
                blk = km.read(data + begin, 8 + text_len)
            except (VtopError, Unreadable) as exc:
                dmg.add("text data unreadable", "seq %d at 0x%x: %s"
                        % (seq, data + begin, _where(exc)), seq)
                continue
            if _u(blk, 0) & ID_MASK != id_:
                dmg.add("data block names another descriptor (text may be a newer record's)",
                        "seq %d: block id %d, descriptor id %d" % (seq, _u(blk, 0), id_), seq,
                        lost=False)
            out.append(_record(lay, inf, seq, blk[8:]))


def _record(lay, inf, seq, raw) -> LogRecord:
    level, facility = 6, 0
    if lay.caller_id == lay.text_len + 4:     # u16 text_len; u8 facility; u8 flags:5, level:3
        facility = inf[lay.text_len + 2]
        level = inf[lay.text_len + 3] >> 5
    caller = _u(inf, lay.caller_id, 4) if lay.caller_id is not None else None
    subsystem = device = ""
    if lay.dev_info is not None and lay.subsys is not None:
        subsystem = _cstr(inf, lay.dev_info + lay.subsys, lay.subsys_len)
    if lay.dev_info is not None and lay.device is not None:
        device = _cstr(inf, lay.dev_info + lay.device, lay.device_len)
    return LogRecord(seq=seq, ts_nsec=_u(inf, lay.ts), level=level, facility=facility,
                     text=raw.decode("utf-8", "replace"), caller_id=caller,
                     subsystem=subsystem, device=device, raw=bytes(raw))
