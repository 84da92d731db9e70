"""The log as `makedumpfile --dump-dmesg` writes it (makedumpfile 1.7.2, printk.c / dump_log_entry).

Per record: "[%5llu.%06lu] " (seconds, microseconds of ts_nsec), then the
text bytes: a newline becomes a newline plus as many spaces as the
timestamp prefix is wide; a byte isprint() or isspace() in the C locale
(0x20-0x7e, 0x09-0x0d) is copied; any other is written "\\x%02x" of the
byte as a signed char (makedumpfile's text is `char *`, so 0x80-0xff come
out as "\\xffffff80".."\\xffffffff"); then one newline.
"""

from __future__ import annotations

from typing import Iterable, List, TextIO

from .records import KernelLog, LogRecord


def _escape_table() -> List[bytes]:
    table = []
    for b in range(256):
        if 0x20 <= b <= 0x7E or 0x09 <= b <= 0x0D:
            table.append(bytes([b]))
        else:
            table.append(b"\\x%02x" % (b if b < 0x80 else (b - 256) & 0xFFFFFFFF))
    return table


_ESCAPE = _escape_table()
_PLAIN = bytes(b for b in range(256) if len(_ESCAPE[b]) == 1 and b != 0x0A)


def record_bytes(rec: LogRecord) -> bytes:
    raw = rec.raw if rec.raw or not rec.text else rec.text.encode("utf-8", "replace")
    secs, rem = divmod(rec.ts_nsec, 1_000_000_000)
    head = b"[%5d.%06d] " % (secs, rem // 1000)
    if not raw.translate(None, _PLAIN):           # only plain bytes: the common case
        body = raw
    else:
        indent = b"\n" + b" " * len(head)
        body = b"".join(indent if b == 0x0A else _ESCAPE[b] for b in raw)
    return head + body + b"\n"


def dmesg_bytes(records: Iterable[LogRecord]) -> bytes:
    return b"".join(record_bytes(r) for r in records)


def write_dmesg(log: KernelLog, out: TextIO) -> None:
    """Write the log text to a text stream: every byte past ASCII is escaped, so it is ASCII."""
    out.write(dmesg_bytes(log.records).decode("ascii"))
