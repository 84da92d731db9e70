"""kdump-compressed files: header, sub-header (all layouts and versions), VMCOREINFO
and eraseinfo text, both bitmaps, descriptor table, page data of every compression,
then the pci_crash capture found through them.

Input: the bytes of one kdump-compressed file, fed to the real KdumpReader through an
in-memory source (KdumpReader accepts any object with name/size/pread).

    python fuzz/fuzz_kdump.py -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fuzz import common  # noqa: E402

if __name__ == "__main__":
    common.instrument()

from crash_ext_c.kdump import KdumpReader  # noqa: E402

NAME = "kdump"
# pfns of the seeds' captures (real dumps: pagemap 0xa03, buffer 0xa60..; synthetic: low pfns)
PFNS = (0, 1, 2, 3, 5, 8, 0xa03, 0xa60, 0xa61, 0xa6b)


def target(data):
    with KdumpReader(common.BytesSource(data, "<fuzz.kdump>")) as r:
        pfns = sorted(set(PFNS) | {r.max_pfn - 1, r.max_pfn, r.max_pfn // 2})
        common.exercise_reader(r, pfns)


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
