"""Opening the files a user names (dumps, --vmcoreinfo) without ever blocking on them.

Dumps are read in place, by offset, so they must be seekable: a regular file
(or a block device).  A FIFO, socket or terminal is refused with a message
that says what to do instead.  The open itself is non-blocking (O_NONBLOCK):
opening a FIFO with no writer would otherwise wait forever, before any check.
"""

from __future__ import annotations

import os
import stat
from typing import Tuple

from .errors import PcicrashError

_KINDS = ((stat.S_ISFIFO, "a pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISDIR, "a directory"))

STREAM_HINT = ("pcicrash reads a dump in place, by offset, and cannot seek in a stream; "
               "save it to a file first (cat > FILE, or for a flattened stream "
               "makedumpfile -R FILE < stream) and give FILE")


def kind_of(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, what: str = "dump") -> Tuple[int, int]:
    """(fd, size) of a regular file or block device at `path`, opened read-only.

    Raises PcicrashError naming the path for anything else (never blocks)."""
    path = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise PcicrashError("is a directory, not a %s file" % what, path=path) from None
    except OSError as exc:
        raise PcicrashError("cannot open: %s" % (exc.strerror or exc), path=path) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            size = st.st_size
        elif stat.S_ISBLK(st.st_mode):
            size = os.lseek(fd, 0, os.SEEK_END)
        else:
            raise PcicrashError("is %s, not a %s file: %s"
                                % (kind_of(st.st_mode), what, STREAM_HINT), path=path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except OSError as exc:
        os.close(fd)
        raise PcicrashError("cannot read: %s" % (exc.strerror or exc), path=path) from None
    except BaseException:
        os.close(fd)
        raise
    return fd, size


def read_head(path, size: int, what: str = "dump") -> bytes:
    """The first `size` bytes of the regular file at `path` (see open_regular)."""
    fd, _ = open_regular(path, what)
    try:
        return os.pread(fd, size, 0)
    except OSError as exc:
        raise PcicrashError("cannot read: %s" % (exc.strerror or exc), path=str(path)) from None
    finally:
        os.close(fd)


def data_from(fd: int, offset: int, size: int) -> int:
    """The first offset at or after `offset` that may hold data (not a hole) in the
    file `fd` of `size` bytes; `size` when only holes follow.  Without SEEK_DATA
    support every offset may hold data."""
    seek_data = getattr(os, "SEEK_DATA", None)
    if seek_data is None or offset >= size:
        return min(offset, size)
    try:
        return os.lseek(fd, offset, seek_data)
    except OSError as exc:
        import errno
        if exc.errno == errno.ENXIO:        # nothing but holes up to the end
            return size
        return offset
