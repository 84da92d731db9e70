"""The capture buffer: 32-byte header and the variable-length record walk (resync
across missing pages and 0xFF records), then the analysis of what was read
(decode, topology, error paths, verdict, text and JSON output).

Input: 2 control bytes then the buffer bytes (header + records):
  [0]  layout: bit 0 = B (with buf_offset = 8 * byte[1]); bit 1 = run the analysis
  [1]  missing-page mask: buffer page i (< 8) with bit i set is excluded
The buffer is placed behind a valid pagemap on scattered pages.  A shape 'R' input
(fuzz/common.py) repeats one stretch: duplicate records (same BDF, same bytes).

    python -m fuzz.fuzz_buffer -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import struct
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

import io

from pykdump_ext.frontends.cli import main as cli  # noqa: E402
from pykdump_ext.output import render, report_json  # noqa: E402
from pykdump_ext.analysis.report import analyse_capture  # noqa: E402
from pykdump_ext.capture.buffer import load_capture  # noqa: E402
from crash_ext_c.reader import PageStatus  # noqa: E402
from pykdump_ext.frontends.run import ViewOptions  # noqa: E402
from fuzz.fuzz_pagemap import MemReader  # noqa: E402

NAME = "buffer"
PS = 4096
PM_ADDR = 0x1000 + 0x80
MAX_BUFFER = 48 * PS
ARGS = [ViewOptions(all=a, errors=e, tree=t, hex=x)
        for a, e, t, x in ((False, False, False, False), (True, False, True, True),
                           (False, True, False, False))]


def pack(buf, *, layout_b=False, analyse=True, missing=0, buf_offset=0):
    return bytes([(1 if layout_b else 0) | (2 if analyse else 0), missing]) + \
        (bytes([buf_offset // 8]) if layout_b else b"") + buf


def reader_of(data):
    # a repeated run (shape 'R', fuzz/common.py): one record duplicated many times
    data = common.unshape(data)[1][0][1]
    data = data + bytes(max(0, 2 - len(data)))
    ctl, missing = data[0], data[1]
    layout_b = ctl & 1
    buf_offset = 0
    body = data[2:]
    if layout_b:
        buf_offset = 8 * (body[0] if body else 0)
        body = body[1:]
    buf = body[:MAX_BUFFER]
    n = max(1, -(-(buf_offset + len(buf)) // PS))
    pfns = [0x40 + 3 * i for i in range(n)]          # scattered, ascending
    padded = bytes(buf_offset) + buf + bytes(n * PS - buf_offset - len(buf))
    pages, statuses = {}, {}
    for i, pfn in enumerate(pfns):
        if i < 8 and missing >> i & 1:
            statuses[pfn] = PageStatus.EXCLUDED
        else:
            pages[pfn] = padded[i * PS:(i + 1) * PS]
    pm = struct.pack("<IIQ", 0x5043504D, n, len(buf))
    if layout_b:
        pm += struct.pack("<I", buf_offset)
    pm += b"".join(struct.pack("<Q", p * PS) for p in pfns)
    page = bytearray(PS * 2)
    page[0x80:0x80 + len(pm)] = pm
    pages[1], pages[2] = bytes(page[:PS]), bytes(page[PS:])
    info = {"PCI_CRASH_PAGEMAP": "0x%x" % PM_ADDR, "PCI_CRASH_VERSION": "1",
            "PCI_CRASH_BUF_SZ": str(len(buf)), "PAGESIZE": str(PS), "CRASHTIME": "1795241199"}
    return MemReader(pages, statuses, pfns[-1] + 1, info), ctl & 2


def target(data):
    r, analyse = reader_of(data)
    cap = load_capture(r)
    if "\n" in cap.reason:
        raise AssertionError("reason not one line: %r" % cap.reason)
    if cap.state == "captured" and any("walk stops" in p for p in cap.problems):
        raise AssertionError("state captured although the walk stopped: %s" % cap.problems)
    for rec in cap.records:
        if len(rec.config) != rec.config_size or rec.config_size not in (256, 4096):
            raise AssertionError("record %s: %d config bytes, size %d"
                                 % (rec.bdf, len(rec.config), rec.config_size))
    if not analyse:
        return
    rep = analyse_capture(cap, names=None)
    for args in ARGS:
        lines = render.render_text(rep, args)
        if any("internal error" in l for l in lines):
            raise AssertionError("render swallowed a bug: %s"
                                 % next(l for l in lines if "internal error" in l))
    report_json.dumps(rep)
    # the command line: exit 0/1, at most one line on stderr, never "internal error"
    for argv in ([], ["-j"], ["-e", "-t"]):
        out, err = io.StringIO(), io.StringIO()
        code = cli.execute(r, cli.make_parser().parse_args(argv + ["dump"]), out, err=err)
        if code not in (cli.EXIT_OK, cli.EXIT_INCOMPLETE) or err.getvalue().count("\n") > 1:
            raise AssertionError("pcicrash %s: exit %d, stderr %r" % (argv, code, err.getvalue()))
        if (code == cli.EXIT_OK) != (cap.state == "captured" and not rep.duplicates):
            raise AssertionError("exit %d for state %s" % (code, cap.state))


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
