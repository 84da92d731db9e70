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
import os
import struct
from array import array

from pykdump_ext.errors import DumpFormatError
from pykdump_ext.files import open_regular

from .kdump import STATUS_INCOMPLETE, KdumpReader

SIGNATURE = b"makedumpfile"
HEADER_SIZE = 4096
TYPE_FLAT = 1
VERSION_FLAT = 1
RECORD = struct.Struct(">qq")
END = (-1, -1)
MAX_OFFSET = 1 << 62          # far beyond any real dump; keeps offset+size in range
WINDOW = 1 << 16              # bytes read at once while walking record headers


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
        self.path = str(path)
        self.name = self.path
        self.notes = []
        self._fd, self.file_size = open_regular(self.path)
        try:
            self._index()
        except BaseException:
            self.close()
            raise

    def _err(self, what, offset, expected):
        return DumpFormatError(what, path=self.path, offset=offset, expected=expected)

    def _index(self):
        head = os.pread(self._fd, HEADER_SIZE, 0)
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
        # (virtual start, virtual end, file offset) per record, stream order, as three
        # arrays: 24 bytes a record (tuples cost ~150)
        starts, ends, foffs = array("q"), array("q"), array("q")
        pos = HEADER_SIZE
        win, win_at = b"", pos      # headers of small records are read a window at a time
        while True:
            rel = pos - win_at
            if not 0 <= rel <= len(win) - RECORD.size:
                win, win_at, rel = os.pread(self._fd, WINDOW, pos), pos, 0
            raw = win[rel:rel + RECORD.size]
            if len(raw) < RECORD.size:
                self._cut(pos, "flattened stream ends without its end record (%d of %d"
                               " header bytes)" % (len(raw), RECORD.size),
                          "a record header or the end record (-1, -1)")
                break
            off, size = RECORD.unpack(raw)
            if (off, size) == END:
                break
            if off < 0 or size <= 0 or off > MAX_OFFSET or size > MAX_OFFSET:
                # damage of one record: what came before is kept, as for a cut stream
                self._cut(pos, "record header (offset %d, size %d)" % (off, size),
                          "offset >= 0 and size > 0, or the end record (-1, -1)",
                          damaged=True)
                break
            data = pos + RECORD.size
            if data + size > self.file_size:
                have = max(self.file_size - data, 0)
                if have:
                    starts.append(off), ends.append(off + have), foffs.append(data)
                self._cut(pos, "record of %d bytes for offset 0x%x runs past the end of the"
                               " file (%d bytes): %d bytes kept" % (size, off, self.file_size, have),
                          "the record's data inside the file")
                pos = self.file_size
                break
            starts.append(off), ends.append(off + size), foffs.append(data)
            pos = data + size
        if self.cut_at is None and pos + RECORD.size < self.file_size:
            self.notes.append("%s: %d bytes after the end record are ignored"
                              % (self.path, self.file_size - pos - RECORD.size))
        self.records = len(starts)
        self._build(starts, ends, foffs)

    def _cut(self, pos, what, expected, damaged=False):
        """A stream cut short (full disk, interrupted copy) or a damaged record header:
        keep what came before."""
        self.cut_at = pos
        if damaged:
            self.notes.append("%s; the records from there on cannot be located: what they held"
                              " is lost, the records before it are read"
                              % self._err(what, pos, expected))
            return
        self.notes.append("%s; the stream was cut there (full disk or interrupted transfer):"
                          " what it had not reached is lost" % self._err(what, pos, expected))

    def _build(self, starts, ends, foffs):
        """Disjoint, sorted segments of the rebuilt file; later records win."""
        n = len(starts)
        in_order = all(ends[i] <= starts[i + 1] for i in range(n - 1))
        if in_order:                  # makedumpfile's own streams: nothing to sort or merge
            self._starts, self._ends, self._foffs = starts, ends, foffs
        else:
            ordered = sorted(range(n), key=starts.__getitem__)
            overlap = any(ends[a] > starts[b] for a, b in zip(ordered, ordered[1:]))
            if not overlap:
                segs = [(starts[i], ends[i], foffs[i]) for i in ordered]
            else:
                segs = _last_writer_wins(list(zip(starts, ends, foffs)))
                self.notes.append("%s: flattened records overlap; the later data wins, as with"
                                  " makedumpfile -R" % self.path)
            del ordered
            self._starts = array("q", (s for s, _, _ in segs))
            self._ends = array("q", (e for _, e, _ in segs))
            self._foffs = array("q", (f for _, _, f in segs))
        self.size = self._ends[-1] if n else 0

    def locate(self, offset):
        """Offset in the flattened file holding byte `offset` of the rebuilt file, or None."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and offset < self._ends[i]:
            return self._foffs[i] + offset - self._starts[i]
        return None

    def data_from(self, offset):
        """The first offset at or after `offset` that some record holds (self.size if none):
        what lies between is a hole of zeros that needs no reading."""
        i = bisect.bisect_right(self._ends, offset)
        if i >= len(self._starts):
            return max(offset, self.size)
        return max(offset, self._starts[i])

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
                data = os.pread(self._fd, hi - lo, self._foffs[i] + lo - self._starts[i])
                out[lo - offset:lo - offset + len(data)] = data
            i += 1
        return bytes(out)

    def close(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None


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
