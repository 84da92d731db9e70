"""Compressed page data: the C helper's batch decompression (zlib, lzo, snappy, zstd,
stored) and its pure-Python twin, with hostile sizes, offsets and flag combinations.

Input: u32 flags, u8 page-size shift (low 3 bits: 1 KiB << n), u8 page count, then the
stored bytes; page k is the bytes from offset k*step with the size the input gives.

    python -m fuzz.fuzz_pages -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import struct
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from crash_ext_c import kdump

NAME = "pages"


def pack(flags, blob, *, shift=2, count=1):
    return struct.pack("<IBB", flags, shift, count) + blob


def target(data):
    if len(data) < 6:
        return
    flags, shift, count = struct.unpack_from("<IBB", data)
    src = data[6:]
    ps = 1024 << (shift & 7)
    count = 1 + count % 4
    descs, rel = [], []
    for k in range(count):
        # page 0: the whole blob; the others: overlapping / out-of-range / odd views of it
        off = (0, 1, len(src), len(src) // 2)[k]
        size = (len(src), max(len(src) - 1, 0), 16, ps + 1)[k] if k else len(src)
        descs.append((0, size & 0xffffffff, flags if k != 2 else flags ^ 0x21, 0))
        rel.append(off)
    res = kdump.KdumpReader._codec(descs, rel, src, ps)
    for page, err in res:
        if err is None and len(page) != ps:
            raise AssertionError("page of %d bytes, page size %d" % (len(page), ps))
        if err is not None and (not isinstance(err, str) or "\n" in err):
            raise AssertionError("error %r" % (err,))
    if flags & kdump.COMPRESSION_MASK in (0, 1):       # the Python twin must agree
        py = kdump._py_page(src[:descs[0][1]], descs[0][1], flags, ps)
        if (py[0] is None) != (res[0][0] is None) or (py[0] is not None and py[0] != res[0][0]):
            raise AssertionError("C and Python disagree: C %r, Python %r"
                                 % (res[0][1], py[1]))


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
