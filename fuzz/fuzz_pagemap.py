"""The pci_crash pagemap (both layouts) and everything load_capture does after it.

Input: a 16-byte control block then physical memory, 4 KiB pages at pfn 0, 1, ...:
  [0:8]   PCI_CRASH_PAGEMAP (physical address)
  [8]     PAGESIZE: 0 none, 1 4096, 2 16384, 3 65536, else the u32 at [12:16]
  [9]     mask: memory page i (< 8) with bit i set is missing ...
  [10]    ... with this PageStatus (index into PageStatus)
  [11]    PCI_CRASH_VERSION
  [12:16] PCI_CRASH_BUF_SZ (u32) / odd PAGESIZE
At most 64 pages (256 KiB) of memory; pages past the input are OUTSIDE.  Shaped inputs
(fuzz/common.py): a hole between memory pages (pages far apart, a huge max_pfn), a
repeated run (duplicated pagemap entries and records).

    python -m fuzz.fuzz_pagemap -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import struct
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from pykdump_ext.capture.buffer import load_capture, read_pagemap
from crash_ext_c.reader import PageStatus
from tests.builders.capture import Reader

NAME = "pagemap"
SHAPES = True        # the campaign adds shape-level mutations (common.reshape)
PS = 4096
MAX_PAGES = 64
STATUSES = list(PageStatus)


def MemReader(pages, statuses, max_pfn, info):
    """The harness's memory: stored pages, `statuses` for some others, OUTSIDE elsewhere."""
    return Reader(pages, page_size=PS, vmcoreinfo=info, statuses=statuses,
                  name="<fuzz memory>", max_pfn=max_pfn, unstored=PageStatus.OUTSIDE)


def pack(pm_addr, memory, *, pagesize=1, missing=0, status=0, version=1, buf_sz=0):
    return struct.pack("<QBBBBI", pm_addr, pagesize, missing, status, version, buf_sz) + memory


def reader_of(data):
    # shapes (fuzz/common.py): pieces of memory far apart (a huge max_pfn) or a repeated
    # run (duplicated pagemap entries / records); a pipe means nothing here
    kind, pieces, size = common.unshape(data)
    data = pieces[0][1]
    if len(data) < 16:
        data = data + bytes(16 - len(data))
    pm_addr, psel, missing, status, version, buf_sz = struct.unpack_from("<QBBBBI", data)
    mem = [(0, data[16:])] + [(max(o - 16, 0), b) for o, b in pieces[1:]]
    pages, statuses = {}, {}
    i = 0                      # memory pages placed so far (at most MAX_PAGES)
    top = 0
    for off, blob in mem:
        first = off // PS
        for k in range(-(-len(blob) // PS)):
            if i >= MAX_PAGES:
                break
            pfn = first + k
            if i < 8 and missing >> i & 1:
                statuses[pfn] = STATUSES[status % len(STATUSES)]
            else:
                pages[pfn] = blob[k * PS:(k + 1) * PS].ljust(PS, b"\0")
            i += 1
            top = max(top, pfn + 1)
    n = max(top, -(-(size - 16) // PS))
    info = {"PCI_CRASH_PAGEMAP": "0x%x" % pm_addr, "PCI_CRASH_VERSION": str(version),
            "PCI_CRASH_BUF_SZ": str(buf_sz), "CRASHTIME": "1795241199"}
    ps = {0: None, 1: 4096, 2: 16384, 3: 65536}.get(psel % 5, buf_sz)
    if ps is not None:
        info["PAGESIZE"] = str(ps)
    return MemReader(pages, statuses, n, info)


def target(data):
    r = reader_of(data)
    try:
        read_pagemap(r)
    except common.PcicrashError as exc:
        problem = common.check_error(exc)
        if problem:
            raise AssertionError("read_pagemap: %s" % problem) from exc
    cap = load_capture(r)       # never raises
    if "\n" in cap.reason or cap.state not in ("captured", "skipped", "absent", "partial",
                                                "corrupt"):
        raise AssertionError("capture %r: %r" % (cap.state, cap.reason))
    if cap.state == "captured" and cap.records and cap.missing:
        raise AssertionError("captured although pages are missing")


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
