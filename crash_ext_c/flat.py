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

from .errors import DumpFormatError

from .kdump import STATUS_INCOMPLETE, KdumpReader, c_helper
from .source import close_source, open_source

SIGNATURE = b"makedumpfile"
HEADER_SIZE = 4096
TYPE_FLAT = 1
VERSION_FLAT = 1
RECORD = struct.Struct(">qq")
END = (-1, -1)
MAX_OFFSET = 1 << 62          # far beyond any real dump; keeps offset+size in range
WINDOW = 1 << 20              # bytes read at once while walking small records' headers
WINDOW_MIN = 256              # the first window after a small record


def is_flattened(head):
    """True when the first bytes of a file carry the flattened-format signature."""
    return head[:len(SIGNATURE) + 1] == SIGNATURE + b"\0"


def _last_writer_wins(starts, ends, foffs):
    """Disjoint, sorted segments (three arrays: start, end, file offset) where every byte
    comes from the last record (in stream order) that covers it, as makedumpfile -R
    leaves it.

    One sweep over the record boundaries with a heap of the covering records, latest
    on top: O(n log n) in the number of records, and nothing per record but ints and
    arrays (tuples per record made 1.5M tiny records cost 600 MiB)."""
    n = len(starts)
    order = sorted(range(n), key=starts.__getitem__)
    first = [starts[i] for i in order]      # record starts, sorted
    last = sorted(ends)                     # record ends, sorted
    heap = []            # -stream index: the latest record on top
    out_s, out_e, out_f = array("q"), array("q"), array("q")
    push, pop = heapq.heappush, heapq.heappop
    inf = 1 << 63
    first.append(inf)
    last.append(inf)
    k = j = 0
    pos = first[0]
    while pos != inf:
        while first[k] <= pos:
            push(heap, -order[k])
            k += 1
        while heap and ends[-heap[0]] <= pos:
            pop(heap)
        while last[j] <= pos:
            j += 1
        nxt = first[k] if first[k] < last[j] else last[j]
        if heap and nxt != inf:
            i = -heap[0]
            f = foffs[i] + pos - starts[i]
            if out_e and out_e[-1] == pos and out_f[-1] + pos - out_s[-1] == f:
                out_e[-1] = nxt
            else:
                out_s.append(pos)
                out_e.append(nxt)
                out_f.append(f)
        pos = nxt
    return out_s, out_e, out_f


def _flat_helper():
    """The C helper when it has the flattened-file functions (a build older than them
    lacks them: then the pure-Python walk and merge do the same, slower)."""
    c = c_helper()
    return c if c is not None and hasattr(c.lib, "pfnmap_flat_walk") else None


C_BATCH = 1 << 16           # records one C call appends at most


def _c_walk(c, win, win_at, pos, fsize, starts, ends, foffs):
    """Append the plain records whose headers lie in `win` (file offset win_at) from
    `pos` on; returns where the walk stopped (Python then looks at that header)."""
    ffi = c.ffi
    at = ffi.new("int64_t *", pos)
    why = ffi.new("int32_t *")
    bufs = [ffi.new("int64_t[]", C_BATCH) for _ in range(3)]
    while True:
        n = c.lib.pfnmap_flat_walk(ffi.from_buffer("uint8_t[]", win), len(win), win_at, at, fsize,
                                   MAX_OFFSET, bufs[0], bufs[1], bufs[2], C_BATCH, why)
        for arr, buf in zip((starts, ends, foffs), bufs):
            arr.frombytes(ffi.buffer(buf, 8 * n))
        if n < C_BATCH or why[0] != c.lib.PFNMAP_FLAT_WINDOW:
            return at[0]


def _c_merge(starts, ends, foffs):
    """_last_writer_wins in C (pfnmap_last_writer_wins): the same segments."""
    c = _flat_helper()
    ffi = c.ffi
    n = len(starts)
    outs = [ffi.new("int64_t[]", 2 * n) for _ in range(3)]
    got = c.lib.pfnmap_last_writer_wins(n, ffi.from_buffer("int64_t[]", starts), ffi.from_buffer("int64_t[]", ends),
                                        ffi.from_buffer("int64_t[]", foffs), outs[0], outs[1], outs[2],
                                        2 * n)
    if got < 0:                                 # no memory for the scratch arrays
        return _last_writer_wins(starts, ends, foffs)
    res = []
    for buf in outs:
        arr = array("q")
        arr.frombytes(ffi.buffer(buf, 8 * got))
        res.append(arr)
    return tuple(res)


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
        # (virtual start, virtual end, file offset) per record, stream order, as three
        # arrays: 24 bytes a record (tuples cost ~150)
        starts, ends, foffs = array("q"), array("q"), array("q")
        pos = HEADER_SIZE
        c = _flat_helper()
        win, win_at, wlen = b"", pos, 0   # headers of small records: a window at a time
        unpack, read, fsize, hsize = RECORD.unpack_from, self._src.pread, self.file_size, RECORD.size
        add_s, add_e, add_f = starts.append, ends.append, foffs.append
        want = hsize
        while True:
            rel = pos - win_at
            if rel < 0 or rel > wlen - hsize:
                # big records (makedumpfile's own: tens of KB): read just the next header,
                # never the data between; runs of small ones: windows that double up to
                # WINDOW, so a million tiny records cost a few dozen reads
                if not starts or ends[-1] - starts[-1] >= want:
                    want = hsize
                else:
                    want = min(max(2 * want, WINDOW_MIN), WINDOW)
                win, win_at, rel = read(pos, want), pos, 0
                wlen = len(win)
                if c is not None and wlen >= hsize:
                    pos = _c_walk(c, win, win_at, pos, fsize, starts, ends, foffs)
                    rel = pos - win_at
                    if rel < 0 or rel > wlen - hsize:
                        continue            # the window is used up: read the next one
                if wlen < hsize:
                    self._cut(pos, "flattened stream ends without its end record (%d of %d"
                                   " header bytes)" % (wlen, hsize),
                              "a record header or the end record (-1, -1)")
                    break
            off, size = unpack(win, rel)
            if not (0 <= off <= MAX_OFFSET and 0 < size <= MAX_OFFSET):
                if off == -1 and size == -1:
                    break                      # the end record
                # damage of one record: what came before is kept, as for a cut stream
                self._cut(pos, "record header (offset %d, size %d)" % (off, size),
                          "offset >= 0 and size > 0, or the end record (-1, -1)",
                          damaged=True)
                break
            data = pos + hsize
            if data + size > fsize:
                have = max(fsize - data, 0)
                if have:
                    add_s(off), add_e(off + have), add_f(data)
                self._cut(pos, "record of %d bytes for offset 0x%x runs past the end of the"
                               " file (%d bytes): %d bytes kept" % (size, off, fsize, have),
                          "the record's data inside the file")
                pos = fsize
                break
            add_s(off)
            add_e(off + size)
            add_f(data)
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
            merge = _c_merge if _flat_helper() is not None else _last_writer_wins
            self._starts, self._ends, self._foffs = merge(starts, ends, foffs)
            # out of order only, or overlapping: overlaps leave fewer bytes than written
            if sum(ends) - sum(starts) != sum(self._ends) - sum(self._starts):
                self.notes.append("%s: flattened records overlap; the later data wins, as with"
                                  " makedumpfile -R" % self.path)
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
        try:
            super().__init__([self.flat], vmcoreinfo=vmcoreinfo)
        except BaseException:
            self.flat.close()
            raise
        if self.flat.cut_at is not None:
            # pages the stream never delivered are lost, as in an incomplete (-L) dump
            for part in self.parts:
                part.status |= STATUS_INCOMPLETE
            self.incomplete = True
        self.notes = list(self.flat.notes) + list(self.notes)
        self.format = "flattened %s, %d records" % (self.format, self.flat.records)
        if self.flat.cut_at is not None:
            self.format += ", stream cut at 0x%x" % self.flat.cut_at
