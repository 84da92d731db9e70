"""makedumpfile's flattened format (`makedumpfile -F`), read in place.

A flattened file is what makedumpfile streams to a pipe: a 4096-byte header
("makedumpfile" signature, then big-endian int64 type = 1 and version), then
records of (big-endian int64 offset, int64 size) followed by `size` bytes
that belong at `offset` of the kdump-compressed file, and an end record with
offset = size = -1.  `makedumpfile -R` rebuilds the file by writing every
record at its offset in stream order, so when records overlap the later one
wins and bytes no record covers read as zeros (a sparse file).

`FlatFile` does that rebuild virtually: one pass over the record headers
(seeking past the data) builds an index, and `pread()` serves the rebuilt
file's bytes from the flattened file.  `FlatReader` is a KdumpReader over it.
The index holds one entry per record, nothing per page.
"""

import bisect
import heapq
import struct
from array import array

from pykdump_ext.errors import DumpFormatError

from .kdump import STATUS_INCOMPLETE, KdumpReader
from .source import close_source, open_source

SIGNATURE = b"makedumpfile"
HEADER_SIZE = 4096
TYPE_FLAT = 1
VERSION_FLAT = 1
RECORD = struct.Struct(">qq")
END = (-1, -1)
MAX_OFFSET = 1 << 62          # far beyond any real dump; keeps offset+size in range


def is_flattened(head):
    """True when the first bytes of a file carry the flattened-format signature."""
    return head[:len(SIGNATURE) + 1] == SIGNATURE + b"\0"


def _last_writer_wins(records):
    """Disjoint, sorted (start, end, file offset) pieces where every byte comes from the
    last record (in stream order) that covers it, as makedumpfile -R leaves it.

    One sweep over the record boundaries with a heap of the covering records: O(n log n)
    in the number of records (splicing a sorted list per record was O(n^2): minutes for
    a few MB of tiny overlapping records)."""
    bounds = sorted({p for s, e, _ in records for p in (s, e)})
    by_start = sorted(range(len(records)), key=lambda i: records[i][0])
    heap = []            # (-stream index, end): the latest record on top
    segs = []
    k = 0
    for lo, hi in zip(bounds, bounds[1:]):
        while k < len(by_start) and records[by_start[k]][0] <= lo:
            i = by_start[k]
            heapq.heappush(heap, (-i, records[i][1]))
            k += 1
        while heap and heap[0][1] <= lo:
            heapq.heappop(heap)
        if not heap:
            continue                     # a hole: no record covers it
        start, _end, foff = records[-heap[0][0]]
        f = foff + lo - start
        if segs and segs[-1][1] == lo and segs[-1][2] + lo - segs[-1][0] == f:
            segs[-1] = (segs[-1][0], hi, segs[-1][2])
        else:
            segs.append((lo, hi, f))
    return segs


class FlatFile:
    """The kdump-compressed file a flattened file stands for, as pread()."""

    def __init__(self, path):
        """`path`: a file name, or a source (crash_ext_c.source: name, size, pread)."""
        self._src = open_source(path)
        self.path = self._src.name
        self.name = self.path
        self.notes = []
        try:
            self.file_size = self._src.size
            self._index()
        except BaseException:
            self.close()
            raise

    def _err(self, what, offset, expected):
        return DumpFormatError(what, path=self.path, offset=offset, expected=expected)

    def _index(self):
        head = self._src.pread(0, HEADER_SIZE)
        if not is_flattened(head):
            raise self._err("no flattened-format signature (found %r)" % head[:16], 0,
                            "%r" % SIGNATURE)
        if len(head) < HEADER_SIZE:
            raise self._err("flattened header cut short at %d bytes" % len(head), len(head),
                            "a %d-byte header" % HEADER_SIZE)
        ftype, version = struct.unpack_from(">qq", head, 16)
        if ftype != TYPE_FLAT:
            raise self._err("flattened header type %d" % ftype, 16, "type %d" % TYPE_FLAT)
        if version != VERSION_FLAT:
            self.notes.append("%s: flattened-format version %d (this reader knows %d)"
                              % (self.path, version, VERSION_FLAT))
        self.version = version
        self.cut_at = None          # where a stream cut short (full disk) ends
        records = []                # (virtual start, virtual end, file offset), stream order
        pos = HEADER_SIZE
        while True:
            raw = self._src.pread(pos, RECORD.size)
            if len(raw) < RECORD.size:
                self._cut(pos, "flattened stream ends without its end record (%d of %d"
                               " header bytes)" % (len(raw), RECORD.size),
                          "a record header or the end record (-1, -1)")
                break
            off, size = RECORD.unpack(raw)
            if (off, size) == END:
                break
            if off < 0 or size <= 0 or off > MAX_OFFSET or size > MAX_OFFSET:
                raise self._err("record header (offset %d, size %d)" % (off, size), pos,
                                "offset >= 0 and size > 0, or the end record (-1, -1)")
            data = pos + RECORD.size
            if data + size > self.file_size:
                have = max(self.file_size - data, 0)
                if have:
                    records.append((off, off + have, data))
                self._cut(pos, "record of %d bytes for offset 0x%x runs past the end of the"
                               " file (%d bytes): %d bytes kept" % (size, off, self.file_size, have),
                          "the record's data inside the file")
                pos = self.file_size
                break
            records.append((off, off + size, data))
            pos = data + size
        if self.cut_at is None and pos + RECORD.size < self.file_size:
            self.notes.append("%s: %d bytes after the end record are ignored"
                              % (self.path, self.file_size - pos - RECORD.size))
        self.records = len(records)
        self._build(records)

    def _cut(self, pos, what, expected):
        """A stream cut short (full disk, interrupted copy): keep what came before."""
        self.cut_at = pos
        self.notes.append("%s; the stream was cut there (full disk or interrupted transfer):"
                          " what it had not reached is lost" % self._err(what, pos, expected))

    def _build(self, records):
        """Disjoint, sorted segments of the rebuilt file; later records win."""
        ordered = sorted(range(len(records)), key=lambda i: records[i][0])
        overlap = any(records[a][1] > records[b][0] for a, b in zip(ordered, ordered[1:]))
        if not overlap:
            segs = [records[i] for i in ordered]
        else:
            segs = _last_writer_wins(records)
            self.notes.append("%s: flattened records overlap; the later data wins, as with"
                              " makedumpfile -R" % self.path)
        self._starts = array("q", (s for s, _, _ in segs))
        self._ends = array("q", (e for _, e, _ in segs))
        self._foffs = array("q", (f for _, _, f in segs))
        self.size = self._ends[-1] if segs else 0

    def locate(self, offset):
        """Offset in the flattened file holding byte `offset` of the rebuilt file, or None."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and offset < self._ends[i]:
            return self._foffs[i] + offset - self._starts[i]
        return None

    def pread(self, offset, size):
        """Bytes [offset, offset+size) of the rebuilt file (short at its end, zeros in holes)."""
        end = min(offset + size, self.size)
        if size <= 0 or offset >= end or offset < 0:
            return b""
        out = bytearray(end - offset)
        i = max(bisect.bisect_right(self._starts, offset) - 1, 0)
        while i < len(self._starts) and self._starts[i] < end:
            lo, hi = max(self._starts[i], offset), min(self._ends[i], end)
            if lo < hi:
                data = self._src.pread(self._foffs[i] + lo - self._starts[i], hi - lo)
                out[lo - offset:lo - offset + len(data)] = data
            i += 1
        return bytes(out)

    def close(self):
        src, self._src = getattr(self, "_src", None), None
        if src is not None:
            close_source(src)


class FlatReader(KdumpReader):
    """MemoryReader over a flattened kdump file, without rebuilding it on disk.

    Error offsets are offsets of the rebuilt (makedumpfile -R) file; the
    message adds the matching offset in the flattened file where there is one.
    """

    def __init__(self, path, *, vmcoreinfo=None):
        self.flat = FlatFile(path)
        super().__init__([self.flat], vmcoreinfo=vmcoreinfo)
        if self.flat.cut_at is not None:
            # pages the stream never delivered are lost, as in an incomplete (-L) dump
            for part in self.parts:
                part.status |= STATUS_INCOMPLETE
            self.incomplete = True
            self.header["incomplete"] = True
        self.notes = list(self.flat.notes) + list(self.notes)
        self.format = "flattened %s, %d records" % (self.format, self.flat.records)
        if self.flat.cut_at is not None:
            self.format += ", stream cut at 0x%x" % self.flat.cut_at
