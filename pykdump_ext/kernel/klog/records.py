"""Kernel log records: what the log readers produce and everything else consumes.

A reader (printk ring buffer, legacy log_buf) turns dump memory into a
KernelLog; the event parser, the verdict and the views only see these types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple


@dataclass(frozen=True)
class LogRecord:
    """One printk record: sequence, timestamp, level and text."""
    seq: int                      # ring sequence number, or index in log_buf
    ts_nsec: int                  # printk timestamp: nanoseconds since boot
    level: int = 6                # 0 (emerg) .. 7 (debug)
    facility: int = 0
    text: str = ""                # the message as stored; may hold '\n' (multi-line records)
    caller_id: Optional[int] = None
    subsystem: str = ""           # dev_printk dictionary SUBSYSTEM= ("pci"), if stored
    device: str = ""              # dev_printk dictionary DEVICE= ("+pci:0000:01:00.0"), if stored
    raw: bytes = b""              # the text bytes exactly as stored (what --dmesg prints); b"" = text

    @property
    def time(self) -> float:
        """Seconds since boot, as dmesg prints them."""
        return self.ts_nsec / 1e9


@dataclass
class KernelLog:
    """The kernel log read from a dump: its records, and what could not be read."""
    records: List[LogRecord] = field(default_factory=list)
    format: str = ""              # "printk_ringbuffer" (5.10+) or "log_buf" (3.x-5.9)
    notes: List[str] = field(default_factory=list)   # what could not be read, and where
    pfns: Set[int] = field(default_factory=set)      # physical pages the reader touched
    complete: bool = True         # False when records were lost to missing pages or damage
    missing: Dict[int, str] = field(default_factory=dict)  # pfn -> why the reader could not read it


_DMESG_LINE = re.compile(r"^\[\s*(\d+)\.(\d{6})\] ?(.*)$")


def records_from_dmesg_text(text: str) -> List[LogRecord]:
    """Records from `dmesg` / `makedumpfile --dump-dmesg` text ("[ ts] message" lines).

    Lines without a timestamp continue the record before them.  Levels are
    not in that text: every record gets the default level.
    """
    out: List[LogRecord] = []
    for line in text.splitlines():
        m = _DMESG_LINE.match(line)
        if m is None:
            if out:
                last = out[-1]
                out[-1] = LogRecord(last.seq, last.ts_nsec, last.level, last.facility,
                                    last.text + "\n" + line)
            continue
        ts = int(m.group(1)) * 1_000_000_000 + int(m.group(2)) * 1000
        out.append(LogRecord(seq=len(out), ts_nsec=ts, text=m.group(3)))
    return out


def iter_lines(records: Iterable[LogRecord]) -> Iterator[Tuple[LogRecord, str]]:
    """(record, line) for every line of every record."""
    for r in records:
        for line in r.text.split("\n"):
            yield r, line
