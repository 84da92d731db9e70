"""kdump-compressed files: header, sub-header (all layouts and versions), VMCOREINFO
and eraseinfo text, both bitmaps, descriptor table, page data of every compression,
then the pci_crash capture found through them.

Input: the bytes of one kdump-compressed file, fed to the real KdumpReader through an
in-memory source (KdumpReader accepts any object with name/size/pread), or a shaped
input (fuzz/common.py: sparse with a hole of up to 16 TiB, a pipe, a repeated run).

    python -m fuzz.fuzz_kdump -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from crash_ext_c import kdump
from crash_ext_c.kdump import KdumpReader
from crash_ext_c.errors import PcicrashError

NAME = "kdump"
SHAPES = True        # the campaign adds shape-level mutations (common.reshape)
# pfns of the seeds' captures (real dumps: pagemap 0xa03, buffer 0xa60..; synthetic: low pfns)
PFNS = (0, 1, 2, 3, 5, 8, 0xa03, 0xa60, 0xa61, 0xa6b)


def _view(data, pfns=None):
    """(pfns, statuses, {pfn: bytes or error class name}) as one reader sees them."""
    with KdumpReader(common.shaped_source(data, "<fuzz.kdump>")) as r:
        seen = {}
        if pfns is None:
            pfns = common.near_top(PFNS, r, r.max_pfn // 2)
            common.exercise_reader(r, pfns, seen=seen)
        else:
            seen.update(statuses=r.page_statuses(pfns), pages=r.read_pages(pfns))
        return pfns, seen["statuses"], {
            p: v if isinstance(v, bytes) else str(v) for p, v in seen["pages"].items()}


def target(data):
    if common.shaped_source(data) is None:      # a pipe: refused at once, never read
        with common.ShapedFile(data) as path:
            common.expect_refused(lambda: KdumpReader([path]))
    pfns, st_c, pages_c = _view(data)
    if kdump.c_helper() is None:
        return
    # differential: the pure-Python bitmap and zlib paths must agree with the C helper
    saved = kdump._C
    kdump._C = False
    try:
        _, st_py, pages_py = _view(data, pfns)
    except PcicrashError as exc:
        raise AssertionError("opens with the C helper, not without: %s" % exc) from exc
    finally:
        kdump._C = saved
    if st_c != st_py:
        raise AssertionError("page statuses differ, C %s, Python %s" % (st_c, st_py))
    for p in pfns:
        c, py = pages_c[p], pages_py[p]
        if c == py or (isinstance(c, str) and isinstance(py, str)) or \
                (isinstance(c, bytes) and "need the C helper" in str(py)):
            continue
        raise AssertionError("pfn 0x%x: C %r, Python %r" % (p, c if isinstance(c, str) else "bytes",
                                                           py if isinstance(py, str) else "bytes"))


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
