"""ELF note walks, shared by the ELF reader (PT_NOTE segments) and the kdump reader
(the sub-header's note area): one walker, one cap, one reading of device dumps.

Facts (ELF gABI, include/uapi/linux/vmcore.h): a note is a 12-byte header
(namesz, descsz, type), the name, then the data, each padded to 4 bytes.
Device dumps (Linux 4.18+) are notes of type NT_VMCOREDD named "LINUX" whose
data starts with a 44-byte NUL-padded dump name; the v4 posting of that
series named the notes "VMCOREDD_<name>" instead.

Damage stays local: a broken note header ends the walk of its area with one
problem text, and every note before it is kept.
"""

from __future__ import annotations

import collections
import struct
from typing import Callable, Iterator, List, Optional

NHDR_SIZE = 12
MAX_NOTE_NAME = 4096            # note names are short identifiers
MAX_NOTES = 1 << 16             # a crash dump has one per CPU plus a few: far beyond any real one
NT_VMCOREDD = 0x700
VMCOREDD_NAME_BYTES = 44
WINDOW = 1 << 16                # note headers are read a window at a time

Note = collections.namedtuple("Note", "name type offset size")
DeviceDump = collections.namedtuple("DeviceDump", "name offset size")


def _align4(n):
    return (n + 3) & ~3


class Budget:
    """How many more notes a whole dump may have walked (shared by its note areas)."""

    def __init__(self, limit: int = MAX_NOTES) -> None:
        self.left = limit
        self.limit = limit


def walk(pread: Callable[[int, int], bytes], start: int, size: int, endian: str, *,
         problems: List[str], where: str, budget: Optional[Budget] = None) -> Iterator[Note]:
    """Yield Note for each note in [start, start+size).  `pread(offset, size)` reads
    the file.  Damage (a name over MAX_NOTE_NAME, a note running past the area, more
    than the budget's notes) appends one text to `problems` and ends the walk."""
    budget = budget or Budget()
    end = start + size
    pos = start
    win, win_at = b"", start
    hdr = struct.Struct(endian + "III")
    while pos + NHDR_SIZE <= end:
        rel = pos - win_at
        if not 0 <= rel <= len(win) - NHDR_SIZE - 64:
            win, win_at, rel = pread(pos, min(WINDOW, end - pos)), pos, 0
            if len(win) < NHDR_SIZE:
                problems.append("%s: note header at 0x%x cannot be read (the file ends)"
                                % (where, pos))
                return
        namesz, descsz, ntype = hdr.unpack_from(win, rel)
        if namesz == 0 and descsz == 0 and ntype == 0:
            return      # zero padding at the end of an old kernel's note segment
        if budget.left <= 0:
            problems.append("%s: more than %d notes; the notes from 0x%x on are ignored"
                            % (where, budget.limit, pos))
            return
        budget.left -= 1
        if namesz > MAX_NOTE_NAME:
            problems.append("%s: note at 0x%x has a name size of %d (expected at most %d);"
                            " it and the notes after it are ignored"
                            % (where, pos, namesz, MAX_NOTE_NAME))
            return
        name_at = pos + NHDR_SIZE
        desc_at = name_at + _align4(namesz)
        if desc_at + descsz > end:
            problems.append("%s: note at 0x%x (name size %d, data size %d) runs past its area,"
                            " which ends at 0x%x; it and the notes after it are ignored"
                            % (where, pos, namesz, descsz, end))
            return
        if name_at + namesz <= win_at + len(win):
            raw = win[name_at - win_at:name_at - win_at + namesz]
        else:
            raw = pread(name_at, namesz)
        yield Note(raw.split(b"\0", 1)[0].decode("ascii", "replace"), ntype, desc_at, descsz)
        pos = desc_at + _align4(descsz)


def device_dump(note: Note, pread: Callable[[int, int], bytes]) -> Optional[DeviceDump]:
    """The DeviceDump a note holds, or None."""
    if note.name.startswith("VMCOREDD_"):
        return DeviceDump(note.name[len("VMCOREDD_"):], note.offset, note.size)
    if note.type == NT_VMCOREDD and note.name == "LINUX" and note.size >= VMCOREDD_NAME_BYTES:
        head = pread(note.offset, VMCOREDD_NAME_BYTES)
        name = head.split(b"\0", 1)[0].decode("ascii", "replace")
        return DeviceDump(name, note.offset + VMCOREDD_NAME_BYTES,
                          note.size - VMCOREDD_NAME_BYTES)
    return None
