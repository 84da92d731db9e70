"""The kernel log readers: printk ring buffer and legacy log_buf, x86_64 and arm64 translation.

Input: u16 length L, L bytes of VMCOREINFO text, then page records
(u32 pfn, u8 status, 4096 bytes; a short last page is zero-filled).
Status 0 = stored, 1 = excluded by filtering, 2 = lost, anything else = zero
page.  read_kernel_log must never raise for any of it (only VMCOREINFO text
the parser refuses may raise its PcicrashError); its notes are one line each,
its page set only pages the dump holds, and --dmesg text is ASCII.

    python -m fuzz.fuzz_klog -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import struct
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from crash_ext_c import vmcoreinfo
from crash_ext_c.errors import PcicrashError
from pykdump_ext.kernel.klog.dmesg import dmesg_bytes
from pykdump_ext.kernel.klog.reader import read_kernel_log
from crash_ext_c.reader import PageDictReader, PageStatus

NAME = "klog"
PS = 4096
MAX_PAGES = 96
STATUSES = {1: PageStatus.EXCLUDED, 2: PageStatus.LOST}


def pack(info_text, pages, statuses=None):
    """An input from VMCOREINFO text and {pfn: bytes} (statuses: {pfn: status byte})."""
    statuses = statuses or {}
    out = bytearray(struct.pack("<H", len(info_text)) + info_text)
    for pfn in sorted(set(pages) | set(statuses)):
        out += struct.pack("<IB", pfn, statuses.get(pfn, 0)) + pages.get(pfn, bytes(PS))
    return bytes(out)


def unpack(data):
    (n,) = struct.unpack_from("<H", data)
    text = data[2:2 + n]
    pos = 2 + n
    pages, statuses = {}, {}
    while pos + 5 <= len(data) and len(pages) + len(statuses) < MAX_PAGES:
        pfn, st = struct.unpack_from("<IB", data, pos)
        blob = data[pos + 5:pos + 5 + PS]
        pos += 5 + PS
        if st in STATUSES:
            statuses[pfn] = STATUSES[st]
        elif st == 0:
            pages[pfn] = blob.ljust(PS, b"\0")
        else:
            statuses[pfn] = PageStatus.ZERO
    return text, pages, statuses


def target(data):
    if len(data) < 2:
        return
    text, pages, statuses = unpack(data)
    info = vmcoreinfo.parse(text, source="<fuzz VMCOREINFO>")   # may refuse: a PcicrashError
    reader = PageDictReader(pages, vmcoreinfo=info, statuses=statuses, name="<fuzz>")
    try:
        log = read_kernel_log(reader)
    except PcicrashError as exc:
        raise AssertionError("read_kernel_log raised %s: %s" % (type(exc).__name__, exc)) from exc
    for note in log.notes:
        if not isinstance(note, str) or "\n" in note or not note:
            raise AssertionError("note is not one line: %r" % (note,))
    readable = set(pages) | {p for p, s in statuses.items() if s.readable}
    if not log.pfns <= readable:
        raise AssertionError("pfns not in the dump: %r" % sorted(log.pfns - readable)[:4])
    if log.records and not log.format:
        raise AssertionError("records without a format")
    for r in log.records:
        if len(r.raw) > 0xFFFF or not isinstance(r.text, str):
            raise AssertionError("record of %d bytes" % len(r.raw))
    dmesg_bytes(log.records).decode("ascii")


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
