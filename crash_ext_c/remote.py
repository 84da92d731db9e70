"""Dumps where they lie: s3://, gs://, http(s):// objects read with ranged requests.

RangeSource is a source (crash_ext_c.source: name, size, pread) over an
fsspec file (s3fs, gcsfs, or fsspec's HTTP backend on aiohttp).  Every read
the dump readers make is already a range; RangeSource turns each into at
most one ranged request and never downloads the whole object.

The block cache is sized for how the readers walk a dump: a handful of small
reads at the start (header, sub-header, VMCOREINFO), one streaming pass over
the 2nd bitmap in 1 MiB steps up to the furthest page asked about, then
512-byte block lookups *behind* that pass for pages the pass had already
passed, then short runs of descriptors and page data.  So: 64 KiB blocks (a
lookup costs one block, not a request per page) and room for 32 MiB of them
(the whole 2nd bitmap of a 1 TiB machine), so that the lookups behind the
pass are served from memory instead of fetching the bitmap again.  A read's
missing blocks that are adjacent go out as one request.

Endpoints and credentials come from the backends' usual configuration:
AWS_* variables or ~/.aws for s3fs, FSSPEC_S3_ENDPOINT_URL (fsspec's
FSSPEC_<PROTOCOL>_<OPTION> variables) for an S3-compatible server,
GOOGLE_APPLICATION_CREDENTIALS for gcsfs.
"""

from __future__ import annotations

import collections
import errno
from typing import Dict, Optional

from .errors import PcicrashError
from .extras import need

BLOCK = 64 << 10
CACHE_BYTES = 32 << 20

# Which package serves each protocol (for the message when it is missing).
BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs",
            "http": "aiohttp", "https": "aiohttp"}


def url_protocol(url: str) -> str:
    return url.split("://", 1)[0].lower()


def url_filesystem(url: str, storage_options: Optional[Dict] = None):
    """(fsspec filesystem, path inside it) for `url`."""
    fsspec = need("fsspec", "reading %s" % url)
    proto = url_protocol(url)
    if proto in BACKENDS:
        need(BACKENDS[proto], "reading %s:// URLs" % proto)
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        raise PcicrashError("no fsspec backend for this URL: %s" % exc, path=url) from None


class RangeSource:
    """pread() over a remote object: one ranged request per run of missing cache blocks."""

    def __init__(self, url: str, *, storage_options: Optional[Dict] = None,
                 block: int = BLOCK, cache_bytes: int = CACHE_BYTES):
        self.name = url
        self.block = block
        self.capacity = max(1, cache_bytes // block)
        self.bytes_read = 0          # bytes the server sent
        self.reads = 0               # ranged requests made
        self._cache = collections.OrderedDict()   # block number -> bytes (LRU)
        self._f = None
        fs, path = url_filesystem(url, storage_options)
        try:
            self._f = fs.open(path, "rb", cache_type="none", block_size=block)
            self.size = int(self._f.size)
        except FileNotFoundError:
            raise PcicrashError("no such object", path=url) from None
        except PcicrashError:
            raise
        except Exception as exc:       # the backends raise their own types
            raise PcicrashError("cannot open: %s: %s" % (type(exc).__name__, exc),
                                path=url) from None
        if not hasattr(self._f, "_fetch_range"):
            raise PcicrashError("the server gives no size or no ranged reads for this object",
                                path=url, expected="an object served with Range support")

    def _fetch(self, lo: int, hi: int) -> bytes:
        try:
            data = self._f._fetch_range(lo, hi)
        except Exception as exc:       # vanished object, server error, connection cut
            raise OSError(errno.EIO, "ranged read of bytes %d-%d failed: %s: %s"
                          % (lo, hi - 1, type(exc).__name__, exc), self.name) from None
        self.reads += 1
        self.bytes_read += len(data)
        if len(data) > hi - lo:        # the server ignored the range: never take a whole object
            raise OSError(errno.EIO, "ranged read of bytes %d-%d got %d bytes: the server "
                          "ignores Range requests" % (lo, hi - 1, len(data)), self.name)
        return bytes(data)

    def pread(self, offset: int, size: int) -> bytes:
        if size <= 0 or offset < 0 or offset >= self.size:
            return b""
        end = min(offset + size, self.size)
        b = self.block
        first, last = offset // b, (end - 1) // b
        if last - first + 1 > self.capacity:          # bigger than the cache: straight through
            return self._fetch(offset, end)
        cache = self._cache
        k = first
        while k <= last:
            if k in cache:
                cache.move_to_end(k)
                k += 1
                continue
            j = k
            while j + 1 <= last and j + 1 not in cache:
                j += 1
            lo, hi = k * b, min((j + 1) * b, self.size)
            data = self._fetch(lo, hi)
            for n in range(k, j + 1):
                cache[n] = data[(n - k) * b:(n - k + 1) * b]
            k = j + 1
        buf = b"".join(cache[n] for n in range(first, last + 1))
        while len(cache) > self.capacity:
            cache.popitem(last=False)
        return buf[offset - first * b:end - first * b]

    def close(self):
        f, self._f = self._f, None
        self._cache.clear()
        if f is not None:
            try:
                f.close()
            except Exception:
                pass

