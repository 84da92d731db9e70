"""Kernel log text -> PCI events -> panic/verdict -> views: klog.events, klog.judge,
klog.verdict_log, output/klog_view, and the summary/-l/JSON output over them.

    python -m fuzz.fuzz_events -runs=1000000 -timeout=1

Input: byte 0 picks how the rest becomes records: even, `dmesg` text
(records_from_dmesg_text, the shape makedumpfile --dump-dmesg writes); odd, raw
record texts separated by NUL bytes (multi-line records, no timestamps in the
text), as a log reader hands them over.  Bits 1-2 clear: the views (summary, -l,
JSON) are rendered too.
"""
import json
import re
import sys

from fuzz import common

if __name__ == "__main__":
    # coverage on the log modules only: the views' code is driven, not steered by
    try:
        import atheris
        with atheris.instrument_imports(include=["pykdump_ext.kernel.klog", "pykdump_ext.output.klog_view"]):
            import pykdump_ext.kernel.klog.events  # noqa: F401
            import pykdump_ext.kernel.klog.judge  # noqa: F401
            import pykdump_ext.kernel.klog.verdict_log  # noqa: F401
            import pykdump_ext.output.klog_view  # noqa: F401
    except ImportError:
        pass


from pykdump_ext.output import render, report_json  # noqa: E402
from pykdump_ext.analysis.report import analyse  # noqa: E402
from pykdump_ext.frontends.run import ViewOptions  # noqa: E402
from pykdump_ext.output import klog_view as view  # noqa: E402
from pykdump_ext.kernel.klog.records import KernelLog, LogRecord, records_from_dmesg_text  # noqa: E402
from crash_ext_c.reader import PageDictReader  # noqa: E402

NAME = "events"
_BDF = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
_VIEWS = [ViewOptions(log=log) for log in (False, True)]


def records(data):
    text = data[1:].decode("utf-8", "replace")
    if not data or data[0] % 2 == 0:
        return records_from_dmesg_text(text)
    return [LogRecord(seq=i, ts_nsec=i * 1000003, text=t)
            for i, t in enumerate(text.split("\0")[:100000])]


def target(data):
    recs = records(data)
    rep = analyse(PageDictReader({}, vmcoreinfo={}), log=KernelLog(records=recs), names=None)
    s = rep.kernel_log
    for e in s.events:
        if not isinstance(e.kind, str) or not e.raw:
            raise AssertionError("event without kind or raw line: %r" % (e,))
        for b in (e.bdf, e.reporter):
            if b is not None and not _BDF.fullmatch(b):
                raise AssertionError("not a BDF: %r" % b)
    if s.panic.pci not in (True, False, None):
        raise AssertionError("panic.pci = %r" % s.panic.pci)
    if data and data[0] & 6:
        return               # views and JSON on one input in four: the parser is the target
    for ns in _VIEWS:
        for line in render.render_text(rep, ns):
            if not isinstance(line, str):
                raise AssertionError("view line %r" % (line,))
    json.loads(report_json.dumps(rep))
    view.timeline(s, s.events[0].bdf if s.events else None)


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
