"""Where a dump reader's bytes come from: a *source*.

A source is any object with ``name`` (what messages call it), ``size`` (bytes)
and ``pread(offset, size) -> bytes`` (short only at the end of the file); it
may have ``close()``.  Every reader in crash_ext_c reads through one, so a
dump can be a local file (FileSource, os.pread on a descriptor), the virtual
file of a flattened stream (flat.FlatFile) or an object in remote storage
(crash_ext_c.remote.RangeSource: one ranged request per read).

``bytes_read`` and ``reads`` count what a source delivered: the batch mode
reports them per dump.
"""

import errno
import os
import re
from typing import Any, Union

from .files import data_from, open_regular


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class FileSource:
    """pread() over a local path."""

    def __init__(self, path: Union[str, os.PathLike]) -> None:
        self.name = str(path)
        self.bytes_read = 0
        self.reads = 0
        self._fd = None
        # non-blocking open, then only a regular file (or block device): a FIFO is refused
        self._fd, self.size = open_regular(self.name)

    def pread(self, offset: int, size: int) -> bytes:
        if size <= 0 or offset >= self.size or offset < 0:
            return b""
        if self._fd is None:
            raise OSError(errno.EBADF, "read after close", self.name)
        data = os.pread(self._fd, size, offset)
        self.reads += 1
        self.bytes_read += len(data)
        return data

    def data_from(self, offset: int) -> int:
        """The first offset at or after `offset` that may hold data (SEEK_DATA): the
        readers pass over a sparse file's holes without reading them."""
        if self._fd is None:
            raise OSError(errno.EBADF, "read after close", self.name)
        return data_from(self._fd, offset, self.size)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_source(item: object) -> bool:
    return hasattr(item, "pread") and hasattr(item, "size")


def is_url(path: object) -> bool:
    """True for 'scheme://...' names (s3://, gs://, http(s)://), which need the fleet extra."""
    return isinstance(path, str) and _URL.match(path) is not None and \
        not path.startswith("file://")


def close_source(src: Any) -> None:
    """Close a source if it can be closed (caller-made sources may have no close())."""
    close = getattr(src, "close", None)
    if close is not None:
        close()


def open_source(item: Any) -> Any:
    """`item` itself when it is a source; a RangeSource for a URL; else a FileSource."""
    if is_source(item):
        return item
    if isinstance(item, bytes):
        item = os.fsdecode(item)
    item = str(item) if isinstance(item, os.PathLike) else item
    if is_url(item):
        from .remote import RangeSource      # optional: the fleet extra
        return RangeSource(item)
    if isinstance(item, str) and item.startswith("file://"):
        item = item[len("file://"):]
    return FileSource(item)
