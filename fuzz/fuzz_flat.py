"""makedumpfile's flattened format: header, record index (overlaps, holes, order),
and the kdump-compressed file read through it; also open_dump's sniffing.

Input: the bytes of one flattened file (a memfd path: FlatFile only takes paths), or a
shaped input (fuzz/common.py): sparse (a hole in the stream), a pipe, a repeated record.

    python -m fuzz.fuzz_flat -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

import struct

from crash_ext_c.kdump import KdumpReader
from crash_ext_c.open import open_dump
from crash_ext_c.errors import PcicrashError

NAME = "flat"
SHAPES = True        # the campaign adds shape-level mutations (common.reshape)
PFNS = (0, 1, 2, 3, 5, 8, 0xa03, 0xa60)


MAX_REBUILT = 4 << 20


def rebuild(data):
    """makedumpfile -R in a few lines (records written in stream order), or None when the
    stream is not a complete, small flattened file.  The oracle for the differential."""
    if len(data) < 4096 or data[:13] != b"makedumpfile\0" or \
            struct.unpack_from(">q", data, 16)[0] != 1:
        return None
    out = bytearray()
    pos = 4096
    while pos + 16 <= len(data):
        off, size = struct.unpack_from(">qq", data, pos)
        if (off, size) == (-1, -1):
            return bytes(out)
        if off < 0 or size <= 0 or off + size > MAX_REBUILT or pos + 16 + size > len(data):
            return None
        if len(out) < off + size:
            out += bytes(off + size - len(out))
        out[off:off + size] = data[pos + 16:pos + 16 + size]
        pos += 16 + size
    return None


def _view(r, pfns, seen=None):
    if seen is None:
        seen = {"statuses": r.page_statuses(pfns), "pages": r.read_pages(pfns)}
    return seen["statuses"], {p: v if isinstance(v, bytes) else type(v).__name__
                              for p, v in seen["pages"].items()}


def target(data):
    kind, pieces, _size = common.unshape(data)
    with common.ShapedFile(data, "fuzz.flat") as path:
        if kind == "P":                 # a pipe: refused at once, never read
            common.expect_refused(lambda: open_dump([path]))
        with open_dump([path]) as r:
            pfns = common.near_top(PFNS, r)
            seen = {}
            common.exercise_reader(r, pfns, seen=seen)
            flat_view = _view(r, pfns, seen)
    # differential: the same pages from the file makedumpfile -R would rebuild
    image = rebuild(pieces[0][1]) if kind in (None, "R") else None
    if image is None:
        return
    try:
        with KdumpReader(common.BytesSource(image, "<rebuilt>")) as k:
            kd_view = _view(k, pfns)
    except PcicrashError as exc:
        raise AssertionError("flattened file opens, its rebuilt file does not: %s" % exc) from exc
    if flat_view != kd_view:
        raise AssertionError("flattened and rebuilt files differ: %s / %s"
                             % (flat_view[0], kd_view[0]))


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
