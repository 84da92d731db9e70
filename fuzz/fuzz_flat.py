"""makedumpfile's flattened format: header, record index (overlaps, holes, order),
and the kdump-compressed file read through it; also open_dump's sniffing.

Input: the bytes of one flattened file (a memfd path: FlatFile only takes paths).

    python fuzz/fuzz_flat.py -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fuzz import common  # noqa: E402

if __name__ == "__main__":
    common.instrument()

from crash_ext_c.open import open_dump  # noqa: E402

NAME = "flat"
PFNS = (0, 1, 2, 3, 5, 8, 0xa03, 0xa60)


def target(data):
    with common.MemFile(data, "fuzz.flat") as path:
        with open_dump([path]) as r:
            pfns = sorted(set(PFNS) | {r.max_pfn - 1, r.max_pfn})
            common.exercise_reader(r, pfns)


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
