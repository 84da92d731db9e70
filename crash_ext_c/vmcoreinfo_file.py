"""`--vmcoreinfo FILE`: read it without blocking, hold it against the dump, apply it.

The one implementation every front end uses (the pcicrash command through
crash_ext_c.open.open_dump, the crash command and drgn through load_and_apply),
with one exit code: a refused or unreadable file is exit 2 (docs/errors.md).

A VMCOREINFO file replaces the dump's own (like makedumpfile -i), but one
from another kernel or another boot points at memory this dump does not
describe: PCI_CRASH_PAGEMAP is a boot-time allocation.  So the file is held
against what the dump says about itself -- its own VMCOREINFO (OSRELEASE,
BUILD-ID, CRASHTIME, PAGESIZE) and, for kdump-compressed dumps, the header's
utsname release -- and refused when they disagree, naming both values.
"""

from __future__ import annotations

import os
import select
import stat
import time
from typing import Dict, List, TYPE_CHECKING

from . import vmcoreinfo as vmcoreinfo_mod
from .errors import DumpFormatError, PcicrashError
from .files import kind_of

if TYPE_CHECKING:
    from .reader import MemoryReader

# Keys that name the kernel (another value: another kernel) and the panic (another boot).
IDENTITY = (("OSRELEASE", "another kernel"), ("BUILD-ID", "another kernel build"),
            ("CRASHTIME", "another boot or panic"))
PIPE_TIMEOUT = 5.0          # seconds a pipe may stay silent before we give up


def _read_stream(fd, path, limit):
    """Up to `limit` bytes of a pipe, never waiting more than PIPE_TIMEOUT for data.
    A pipe nobody writes to reads as empty at once."""
    out = bytearray()
    deadline = time.monotonic() + PIPE_TIMEOUT
    while len(out) < limit:
        try:
            chunk = os.read(fd, min(1 << 16, limit - len(out)))
        except BlockingIOError:             # a writer, no data yet: wait, bounded
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise PcicrashError("no VMCOREINFO from this %s within %.0f s"
                                    % (kind_of(os.fstat(fd).st_mode), PIPE_TIMEOUT),
                                    path=path) from None
            continue
        if not chunk:
            break
        out += chunk
    return bytes(out)


def read_file(path: str) -> Dict[str, str]:
    """VMCOREINFO from a text file (as written by `makedumpfile -g`, or a saved copy of
    the crashed kernel's), as a dict.  A pipe is read as the stream it is; nothing
    blocks: the open is non-blocking and a silent pipe times out."""
    path = str(path)
    limit = vmcoreinfo_mod.MAX_BYTES + 1
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise PcicrashError("cannot read VMCOREINFO file: %s" % (exc.strerror or exc),
                            path=path) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise PcicrashError("is a directory, not a VMCOREINFO file", path=path)
        if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
            text = os.pread(fd, limit, 0)
        else:
            text = _read_stream(fd, path, limit)
    except OSError as exc:
        raise PcicrashError("cannot read VMCOREINFO file: %s" % (exc.strerror or exc),
                            path=path) from None
    finally:
        os.close(fd)
    info = vmcoreinfo_mod.parse(text, source=path)
    if not info:
        raise DumpFormatError("no KEY=value lines", path=path, offset=0,
                              expected="a VMCOREINFO text file (makedumpfile -g)")
    return info


def disagreements(info: Dict[str, str], reader: MemoryReader) -> List[str]:
    """What the VMCOREINFO `info` says that the dump itself contradicts, one text each."""
    own = reader.dump_vmcoreinfo or {}
    out = []
    for key, means in IDENTITY:
        mine, theirs = info.get(key), own.get(key)
        if mine is not None and theirs is not None and mine.strip() != theirs.strip():
            out.append("%s=%s in the file, %s in the dump's own VMCOREINFO (%s)"
                       % (key, mine.strip()[:80], theirs.strip()[:80], means))
    release = (reader.utsname or {}).get("release")
    mine = info.get("OSRELEASE")
    if release and mine is not None and mine.strip() != release:
        out.append("OSRELEASE=%s in the file, release %s in the dump header (another kernel)"
                   % (mine.strip()[:80], release[:80]))
    size = vmcoreinfo_mod.get_int(info, "PAGESIZE", source="VMCOREINFO file")
    own_size = vmcoreinfo_mod.get_int(own, "PAGESIZE", source="the dump's VMCOREINFO")
    if size is not None and size != reader.page_size:
        out.append("PAGESIZE=%d in the file, the dump's page size is %d" % (size, reader.page_size))
    elif size is not None and own_size is not None and size != own_size:
        # an ELF reader takes its page size from the file it was given: hold the file
        # against the dump's own note too, as for every other format
        out.append("PAGESIZE=%d in the file, %d in the dump's own VMCOREINFO" % (size, own_size))
    return out


def apply(reader: MemoryReader, info: Dict[str, str], source: str) -> None:
    """Make `info` the reader's VMCOREINFO, or raise PcicrashError (refused) when the dump
    contradicts it (see disagreements)."""
    bad = disagreements(info, reader)
    if bad:
        raise PcicrashError("VMCOREINFO file refused, it is not this dump's: %s"
                            % "; ".join(bad), path=str(source),
                            expected="the VMCOREINFO of the crashed kernel of this dump")
    reader.vmcoreinfo = dict(info)
    note = "VMCOREINFO taken from %s, not from the dump" % source
    if isinstance(reader.notes, list):
        reader.notes.append(note)
    else:
        reader.notes = tuple(reader.notes) + (note,)


def load_and_apply(reader: MemoryReader, path: str) -> None:
    apply(reader, read_file(path), path)
