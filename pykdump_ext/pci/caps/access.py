"""Bounds-checked little-endian reads over one function's config bytes.

Every capability decoder reads through an Access: a read beyond the bytes (or
beyond the `limit` a capability must stay inside, e.g. the 256-byte standard
space) gives None, never an exception, so a truncated or hostile snapshot
decodes as far as it goes.
"""

from __future__ import annotations

from typing import List, Optional


class Access:
    """Little-endian u8/u16/u32/u64 reads of `raw`; None where the value does not fit."""
    __slots__ = ("raw", "n")

    def __init__(self, raw: bytes, limit: Optional[int] = None) -> None:
        self.raw = raw
        self.n = len(raw) if limit is None else min(limit, len(raw))

    def has(self, off: int, size: int) -> bool:
        """The `size` bytes at `off` are all inside."""
        return 0 <= off and off + size <= self.n

    def read(self, off: int, size: int) -> Optional[int]:
        if 0 <= off and off + size <= self.n:
            return int.from_bytes(self.raw[off:off + size], "little")
        return None

    def u8(self, off: int) -> Optional[int]:
        return self.raw[off] if 0 <= off < self.n else None

    def u16(self, off: int) -> Optional[int]:
        return self.read(off, 2)

    def u32(self, off: int) -> Optional[int]:
        return self.read(off, 4)

    def u64(self, off: int) -> Optional[int]:
        return self.read(off, 8)

    def u32s(self, off: int, count: int) -> Optional[List[int]]:
        """`count` consecutive u32s from `off`, or None unless all of them are inside."""
        if not self.has(off, 4 * count):
            return None
        return [int.from_bytes(self.raw[p:p + 4], "little") for p in range(off, off + 4 * count, 4)]

    def bytes(self, off: int, size: int) -> bytes:
        """The bytes at off..off+size that are inside (possibly fewer)."""
        if off >= self.n or size <= 0:
            return b""
        return self.raw[max(off, 0):min(off + size, self.n)]
