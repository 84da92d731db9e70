"""makedumpfile --split sets: two kdump-compressed parts checked against each other
(same dump, disjoint ranges, gaps), then read as one.

Input: u32 length of part 1, part 1, part 2.

    python -m fuzz.fuzz_split -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import struct
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from crash_ext_c.kdump import KdumpReader

NAME = "split"
PFNS = (0, 1, 2, 3, 5, 8, 9, 16, 31, 32, 40, 63)


def pack(a, b):
    return struct.pack("<I", len(a)) + a + b


def unpack(data):
    n = struct.unpack_from("<I", data)[0] if len(data) >= 4 else 0
    n = min(n, max(len(data) - 4, 0))
    return data[4:4 + n], data[4 + n:]


def target(data):
    a, b = unpack(data)
    parts = [common.BytesSource(a, "<fuzz.split.1>"), common.BytesSource(b, "<fuzz.split.2>")]
    with KdumpReader(parts) as r:
        common.exercise_reader(r, common.near_top(PFNS, r))


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
