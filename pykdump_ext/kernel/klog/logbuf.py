"""The variable-length printk_log records of Linux 3.5 to 5.9 (kernel/printk/printk.c).

SYMBOL(log_buf) holds a pointer to the buffer (log_buf_len bytes, an int
at SYMBOL(log_buf_len)); the records run from log_first_idx to
log_next_idx (u32 indexes).  A record is struct printk_log (SIZE(printk_log);
"log" before 3.11): u64 ts_nsec, u16 len (whole record, header + text +
dict + padding), u16 text_len, u16 dict_len, u8 facility, u8 flags:5 and
level:3 (then u32 caller_id with CONFIG_PRINTK_CALLER, 5.1+); the text
follows the header, the dictionary ("SUBSYSTEM=pci\\0DEVICE=+pci:...") the
text.  len 0 marks the end of the used part: the next record is at index 0.

Walked as makedumpfile's dump_dmesg does (a zero len means "the record at
0 is this one"), bounded: the buffer is crossed at most twice and a record
must fit in it.
"""

from __future__ import annotations

from typing import Dict, Optional, Set

from .damage import Missing, need
from .physmem import Unreadable
from .records import KernelLog, LogRecord
from .vtop import KernelMemory, VtopError, number, symbol

MAX_BUF_LEN = 1 << 31             # LOG_BUF_LEN_MAX
WINDOW = 1 << 20                  # prefetch this much of the buffer at a time


def _u(buf: bytes, off: int, size: int) -> int:
    return int.from_bytes(buf[off:off + size], "little")


def _struct_key(info: Dict[str, str]) -> str:
    return "printk_log" if "SIZE(printk_log)" in info else "log"


def _dictionary(raw: bytes):
    subsystem = device = ""
    for item in raw.split(b"\0"):
        key, _, value = item.partition(b"=")
        if key == b"SUBSYSTEM" and not subsystem:
            subsystem = value.decode("utf-8", "replace")
        elif key == b"DEVICE" and not device:
            device = value.decode("utf-8", "replace")
    return subsystem, device


class _Layout:
    def __init__(self, info: Dict[str, str]) -> None:
        k = _struct_key(info)
        self.hdr = need(info, "SIZE(%s)" % k, lo=12, hi=1 << 12)
        self.ts = need(info, "OFFSET(%s.ts_nsec)" % k, hi=self.hdr - 8)
        self.len = need(info, "OFFSET(%s.len)" % k, hi=self.hdr - 2)
        self.text_len = need(info, "OFFSET(%s.text_len)" % k, hi=self.hdr - 2)
        std = (self.ts, self.len, self.text_len) == (0, 8, 10) and self.hdr >= 16
        opt = lambda name: number(info, "OFFSET(%s.%s)" % (k, name))
        self.dict_len = opt("dict_len")
        if self.dict_len is None and std:
            self.dict_len = 12
        if self.dict_len is not None and not 0 <= self.dict_len <= self.hdr - 2:
            self.dict_len = None
        self.levels = std                      # facility at 14, flags:5 level:3 at 15
        self.caller_id = opt("caller_id")
        if self.caller_id is not None and not 0 <= self.caller_id <= self.hdr - 4:
            self.caller_id = None


def read_log_buf(km: KernelMemory, info: Dict[str, str], log: KernelLog) -> None:
    log.format = "log_buf"
    if "SYMBOL(log_first_idx)" not in info:
        if "SYMBOL(log_end)" in info:
            raise Missing("plain-text log_buf of kernels before 3.5 (SYMBOL(log_end)) is not "
                          "read")
        raise Missing("VMCOREINFO has SYMBOL(log_buf) but no SYMBOL(log_first_idx)")
    lay = _Layout(info)
    names = ("log_buf", "log_buf_len", "log_first_idx", "log_next_idx")
    syms: Dict[str, int] = {}
    for name in names:
        addr = symbol(info, name)
        if addr is None:
            raise Missing("VMCOREINFO has no SYMBOL(%s)" % name)
        syms[name] = addr
    try:
        buf = km.u64(syms["log_buf"])
        buf_len = km.u32(syms["log_buf_len"])
        first = km.u32(syms["log_first_idx"])
        nxt = km.u32(syms["log_next_idx"])
    except (VtopError, Unreadable) as exc:
        raise Missing("the log_buf variables cannot be read: %s" % exc) from None
    if not lay.hdr <= buf_len <= MAX_BUF_LEN:
        raise Missing("log_buf_len %d (at 0x%x) is not a buffer the kernel makes"
                      % (buf_len, syms["log_buf_len"]), expected="%d..%d"
                      % (lay.hdr, MAX_BUF_LEN))
    if first >= buf_len or nxt >= buf_len:
        raise Missing("log_first_idx %d / log_next_idx %d lie outside the %d-byte log_buf"
                      % (first, nxt, buf_len))
    used = [(first, nxt)] if first <= nxt else [(first, buf_len), (0, nxt)]
    _Walk(km, lay, buf, buf_len, first, nxt, used, log).run()


class _Walk:
    def __init__(self, km, lay, buf, buf_len, first, nxt, used, log) -> None:
        self.km, self.lay, self.buf, self.buf_len = km, lay, buf, buf_len
        self.first, self.nxt, self.used, self.log = first, nxt, used, log
        self.windows: Set[int] = set()

    def _stop(self, idx, why) -> None:
        self.log.complete = False
        self.log.notes.append("log_buf at 0x%x: stopped at index 0x%x: %s; the records after "
                              "it are not read" % (self.buf, idx, why))

    def _prefetch(self, idx) -> None:
        w = idx // WINDOW
        if w in self.windows:
            return
        self.windows.add(w)
        lo, hi = w * WINDOW, (w + 1) * WINDOW
        self.km.prefetch_ranges([(self.buf + max(a, lo), min(b, hi) - max(a, lo))
                                 for a, b in self.used if min(b, hi) > max(a, lo)])

    def _read(self, idx, size):
        self._prefetch(idx)
        if (idx + size - 1) // WINDOW != idx // WINDOW:
            self._prefetch(idx + size - 1)
        return self.km.read(self.buf + idx, size)

    def run(self):
        lay, log = self.lay, self.log
        idx, crossed, seq = self.first, 0, 0
        limit = self.buf_len // max(lay.hdr, 1) + 2
        while idx != self.nxt:
            if seq > limit or crossed > 1:
                return self._stop(idx, "the records go round the buffer more than once "
                                  "(cycle)")
            if idx + lay.hdr > self.buf_len:
                return self._stop(idx, "a record header would end past the %d-byte buffer"
                                  % self.buf_len)
            try:
                hdr = self._read(idx, lay.hdr)
            except (VtopError, Unreadable) as exc:
                return self._stop(idx, "record header unreadable (%s)" % exc)
            length = _u(hdr, lay.len, 2)
            at = idx
            if length == 0:                # end marker: the record at index 0 is this one
                crossed += 1
                at = 0
                try:
                    hdr = self._read(0, lay.hdr)
                except (VtopError, Unreadable) as exc:
                    return self._stop(0, "record header unreadable (%s)" % exc)
                length = _u(hdr, lay.len, 2)
                if length == 0:
                    return self._stop(0, "zero-length record at the start of the buffer")
            if length < lay.hdr or at + length > self.buf_len:
                return self._stop(at, "record length %d (header %d, buffer %d)"
                                  % (length, lay.hdr, self.buf_len))
            text_len = _u(hdr, lay.text_len, 2)
            dict_len = _u(hdr, lay.dict_len, 2) if lay.dict_len is not None else 0
            room = length - lay.hdr
            if text_len > room:
                log.complete = False
                log.notes.append("log_buf at 0x%x: record at index 0x%x: text_len %d past its "
                                 "%d-byte record (cut to the record)"
                                 % (self.buf, at, text_len, length))
                text_len = room
            dict_len = min(dict_len, room - text_len)
            try:
                body = self._read(at + lay.hdr, text_len + dict_len)
            except (VtopError, Unreadable) as exc:
                return self._stop(at, "record text unreadable (%s)" % exc)
            raw = body[:text_len]
            subsystem, device = _dictionary(body[text_len:])
            level, facility = 6, 0
            if lay.levels:
                facility, level = hdr[14], hdr[15] >> 5
            caller: Optional[int] = (_u(hdr, lay.caller_id, 4) if lay.caller_id is not None
                                     else None)
            log.records.append(LogRecord(
                seq=seq, ts_nsec=_u(hdr, lay.ts, 8), level=level, facility=facility,
                text=raw.decode("utf-8", "replace"), caller_id=caller, subsystem=subsystem,
                device=device, raw=bytes(raw)))
            seq += 1
            idx = at + length
            if idx >= self.buf_len:
                crossed += 1
                idx -= self.buf_len
