"""VMCOREINFO text: crash_ext_c.vmcoreinfo.parse/get_int, then the PCI_CRASH_* values
through capture.read_pagemap/load_capture on an empty memory; a shape 'P' input
(fuzz/common.py) is also read as --vmcoreinfo from a pipe.

    python -m fuzz.fuzz_vmcoreinfo -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import os
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from crash_ext_c import vmcoreinfo, vmcoreinfo_file
from pykdump_ext.capture.buffer import load_capture
from crash_ext_c.errors import PcicrashError
from crash_ext_c.reader import PageDictReader

NAME = "vmcoreinfo"
KEYS = (("PAGESIZE", 10), ("PCI_CRASH_PAGEMAP", 16), ("PCI_CRASH_VERSION", 10),
        ("PCI_CRASH_BUF_SZ", 10), ("CRASHTIME", 10), ("SYMBOL(_stext)", 16))


def _through_a_pipe(body):
    """--vmcoreinfo FILE where FILE is a pipe (a shape 'P' input): read as a stream,
    never blocking, the same dict as the text parsed directly."""
    r, w = os.pipe()
    try:
        os.write(w, body[:32768])
        os.close(w)
        w = None
        try:
            got = vmcoreinfo_file.read_file("/proc/self/fd/%d" % r)
        except PcicrashError as exc:
            problem = common.check_error(exc)
            if problem:
                raise AssertionError("read_file: %s" % problem) from exc
            return
        if got != vmcoreinfo.parse(body[:32768], source="<fuzz>"):
            raise AssertionError("a pipe reads differently from the same text")
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def target(data):
    kind, pieces, _size = common.unshape(data)
    if kind == "P":
        _through_a_pipe(pieces[0][1])
    info = vmcoreinfo.parse(data, source="<fuzz>")
    if not isinstance(info, dict):
        raise AssertionError("parse returned %r" % type(info))
    text = data.decode("latin-1")
    info2 = vmcoreinfo.parse(text, source="<fuzz>")
    for key, base in KEYS:
        try:
            vmcoreinfo.get_int(info, key, base=base, source="<fuzz>")
        except PcicrashError as exc:
            problem = common.check_error(exc)
            if problem:
                raise AssertionError(problem) from exc
    # the capture code must turn any PCI_CRASH_* value into a Capture, never raise
    cap = load_capture(PageDictReader({}, vmcoreinfo=info2, name="<fuzz memory>"))
    if "\n" in cap.reason:
        raise AssertionError("capture reason not one line: %r" % cap.reason)


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
