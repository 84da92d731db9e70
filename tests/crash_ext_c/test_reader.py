"""crash_ext_c.reader: every reader provides the MemoryReader protocol, and nobody probes it.

Each reader class (the dump readers, split sets, in-memory pages, crash's and
drgn's readers, the recording wrapper) is built for real and every declared
attribute is checked against its annotation; then the sources are searched
for a getattr/hasattr probe of a declared attribute.
"""

import collections.abc
import pathlib
import re
import typing

import pytest

from tests.builders import capture as cb
from tests.builders.elf import write_elf
from tests.builders.flat import flatten
from tests.builders.kdump import build_kdump, page, write_kdump
from tests.shared import ROOT
from crash_ext_c import elfnote
from crash_ext_c.elf import ElfReader
from crash_ext_c.flat import FlatReader
from crash_ext_c.kdump import KdumpReader
from crash_ext_c.open import open_dump
from crash_ext_c.reader import READER_FIELDS, READER_METHODS, MemoryReader, PageDictReader
from pykdump_ext.frontends.crash import command as crashcmd
from pykdump_ext.capture.recording import RecordingReader

HINTS = typing.get_type_hints(MemoryReader)


def _conforms(value, hint) -> bool:
    """isinstance() for the few annotation shapes the protocol uses."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if origin is typing.Union:
        return any(_conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is collections.abc.Callable or hint is typing.Callable:
        return callable(value)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict) and all(
            _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()) \
            if args else isinstance(value, dict)
    if origin in (list, collections.abc.Sequence):
        kind = list if origin is list else (list, tuple)
        return isinstance(value, kind) and (not args or all(_conforms(v, args[0]) for v in value))
    if origin is tuple:
        return isinstance(value, tuple) and len(value) == len(args) and all(
            _conforms(v, a) for v, a in zip(value, args))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_protocol(reader):
    assert isinstance(reader, MemoryReader)
    assert set(READER_FIELDS) <= set(HINTS), "every field is annotated"
    for name in READER_FIELDS:
        value = getattr(reader, name)
        assert _conforms(value, HINTS[name]), (type(reader).__name__, name, value)
    for name in READER_METHODS:
        assert callable(getattr(reader, name)), (type(reader).__name__, name)
    return reader


class _CrashApi:
    """The least of PyKdump's calls CrashReader needs."""

    class error(Exception):
        pass

    PHYSADDR = 2

    def exec_crash_command(self, cmd):
        if cmd == "help -D":
            return "    PAGESIZE=4096\n    OSRELEASE=6.1.0-synthetic\n           max_mapnr: 100\n"
        raise self.error("%s: failed" % cmd)

    def readmem(self, addr, size, mtype):
        raise self.error("readmem error at addr 0x%x" % addr)


def _readers(tmp_path):
    pages = {3: page(3), 5: page(5)}
    elf = write_elf(tmp_path / "a.elf", pages, loads=[(0, 8 * 4096, 8 * 4096)])
    kd = write_kdump(tmp_path / "a.kdump", pages, max_pfn=8)
    blob, _ = build_kdump({p: page(p) for p in range(0, 40, 3)}, max_mapnr=40)
    (tmp_path / "a.flat").write_bytes(flatten(blob))
    split = []
    for i, (lo, hi) in enumerate([(0, 20), (20, 40)]):
        part, _ = build_kdump({p: page(p) for p in range(0, 40, 3)}, max_mapnr=40, split=(lo, hi))
        split.append(tmp_path / ("dump.%d" % i))
        split[-1].write_bytes(part)
    out = {
        "ElfReader": ElfReader(str(elf)),
        "KdumpReader": KdumpReader(str(kd)),
        "FlatReader": FlatReader(str(tmp_path / "a.flat")),
        "split set": KdumpReader([str(split[1])]),          # one part of two: a gap
        "split set (whole)": open_dump([str(p) for p in split]),
        "PageDictReader": PageDictReader({1: bytes(4096)}, vmcoreinfo={"A": "1"}),
        "capture_builder.Reader": cb.Reader({1: bytes(4096)}, max_pfn=16),
        "CrashReader": crashcmd.CrashReader(_CrashApi()),
    }
    out["RecordingReader"] = RecordingReader(out["split set"])
    return out


def test_every_reader_provides_the_protocol(tmp_path):
    readers = _readers(tmp_path)
    try:
        for r in readers.values():
            check_protocol(r)
        # the values mean what the protocol says, not only have the right types
        assert readers["ElfReader"].device_dumps == [] and readers["ElfReader"].split_parts is None
        assert readers["KdumpReader"].dump_level == 31 and readers["KdumpReader"].compression == "zlib"
        assert readers["KdumpReader"].stored_pages is not None
        assert readers["ElfReader"].stored_pages is None
        gap = readers["split set"]
        assert [(p["start_pfn"], p["end_pfn"]) for p in gap.split_parts] == [(20, 40)]
        assert list(gap.missing_ranges) == [(0, 20)]
        assert len(readers["split set (whole)"].split_parts) == 2
        assert readers["split set (whole)"].missing_ranges == []
        assert readers["PageDictReader"].device_dumps is None        # cannot tell
        assert readers["CrashReader"].max_pfn == 100
        rec = readers["RecordingReader"]
        for name in READER_FIELDS:                                  # the wrapper forwards them
            assert getattr(rec, name) == getattr(gap, name), name
        assert hasattr(gap, "parts") and not hasattr(rec, "parts")  # nothing beyond the protocol
        pfns = list(range(18, 24))
        assert rec.page_statuses(pfns) == gap.page_statuses(pfns)
        assert rec.stored_problems(pfns + [38]) == gap.stored_problems(pfns + [38])
        assert rec.read_pages([21])[21] == gap.read_page(21)
        assert rec.asked == set(pfns + [38]) and rec.read == {21}
    finally:
        for r in readers.values():
            r.close()


def test_drgn_reader_provides_the_protocol():
    drgn = pytest.importorskip("drgn")
    from pykdump_ext.frontends.drgn import ProgramReader
    text = b"PAGESIZE=4096\nOSRELEASE=6.1.0-synthetic\n"

    class Program:                    # what ProgramReader asks of a drgn.Program
        flags = drgn.ProgramFlags.IS_LINUX_KERNEL
        core_dump_path = "/nonexistent/vmcore"

        def __getitem__(self, name):
            if name != "VMCOREINFO":
                raise KeyError(name)
            return type("Obj", (), {"string_": lambda self: text})()

        def read(self, addr, size, physical):
            raise drgn.FaultError("no memory", addr)

    r = check_protocol(ProgramReader(Program()))
    assert r.vmcoreinfo["OSRELEASE"] == "6.1.0-synthetic" and r.device_dumps is None


def test_device_dumps_type_is_the_walkers():
    """device_dumps holds what the one VMCOREDD reading (elfnote.device_dump) returns."""
    assert HINTS["device_dumps"] == typing.Optional[typing.List[elfnote.DeviceDump]]


# A probe of a declared attribute on a reader: getattr(reader, "dump_level", ...).
_READERS = r"(?:reader|source|own|inner|rdr|self\.inner|self\.reader)"
_PROBE = re.compile(r"\b(?:getattr|hasattr)\(\s*%s\s*,\s*[\"'](%s)[\"']" % (
    _READERS, "|".join(READER_FIELDS)))


def test_no_probes_of_declared_attributes():
    """Callers read the declared attributes; nothing in the packages probes a reader
    for them."""
    found = []
    for pkg in ("pykdump_ext", "crash_ext_c"):
        for path in sorted((pathlib.Path(ROOT) / pkg).rglob("*.py")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _PROBE.search(line):
                    found.append("%s:%d: %s" % (path.relative_to(ROOT), n, line.strip()))
    assert found == []
