"""open_dump(): pick the reader for a dump file (or a --split set) by its signature.

FORMATS is the one list of dump formats: each entry names the signatures a
file of that format starts with, and the reader module and class that read
it; open_dump walks it in order.  Adding a format is one reader module (a
MemoryReader, crash_ext_c/reader.py) plus one entry here.

Signatures (makedumpfile's diskdump_mod.h / makedumpfile.h, ELF gABI):
- ELF: "\\x7fELF" at offset 0 (raw /proc/vmcore copy, makedumpfile -E);
- kdump-compressed: "KDUMP   " (makedumpfile) or "DISKDUMP" (old diskdump) at 0;
- flattened (makedumpfile -F): "makedumpfile" at 0 (the start of a 4096-byte
  header whose type field says "dumpfile").
"""

from __future__ import annotations

import importlib
import os
from typing import NamedTuple, Optional, Tuple

from . import vmcoreinfo_file
from .errors import DumpFormatError, PcicrashError
from .source import close_source, is_source, open_source


class Format(NamedTuple):
    name: str                       # what sniff() returns and messages call it
    signatures: Tuple[bytes, ...]   # a file of this format starts with one of these
    reader: str                     # "module:Class" in crash_ext_c, imported on first use
    split_sets: bool = False        # the reader takes several files (makedumpfile --split)
    described: str = ""             # how the signature is shown in "expected ..." messages

    def reader_class(self):
        module, cls = self.reader.split(":")
        return getattr(importlib.import_module("." + module, __package__), cls)


# Walked in order; the reader is constructed as Class(source, vmcoreinfo=dict or None),
# or Class([sources], vmcoreinfo=...) when split_sets.
FORMATS = (
    Format("elf", (b"\x7fELF",), "elf:ElfReader", described="ELF ('\\x7fELF')"),
    Format("kdump", (b"KDUMP   ", b"DISKDUMP"), "kdump:KdumpReader", split_sets=True,
           described="kdump-compressed ('KDUMP   '/'DISKDUMP')"),
    Format("flattened", (b"makedumpfile",), "flat:FlatReader", described="flattened ('makedumpfile')"),
)
SNIFF_BYTES = 16                # covers every signature above
EXPECTED = ", ".join(f.described for f in FORMATS[:-1]) + " or " + FORMATS[-1].described


def format_of(head: bytes) -> Optional[Format]:
    """The first entry of FORMATS whose signature `head` starts with, or None."""
    for fmt in FORMATS:
        if head.startswith(fmt.signatures):
            return fmt
    return None


def sniff(path) -> str:
    """The format name ("elf", "kdump", "flattened") of the dump at `path` (a file name,
    URL or source); DumpFormatError otherwise."""
    if is_source(path):
        return _sniff_source(path).name
    src = open_source(path)
    try:
        return _sniff_source(src).name
    finally:
        close_source(src)


def _sniff_source(src) -> Format:
    try:
        head = src.pread(0, SNIFF_BYTES)
    except OSError as exc:
        raise PcicrashError("cannot read: %s" % (exc.strerror or exc), path=src.name) from None
    if not head:
        raise DumpFormatError("empty file", path=src.name, offset=0, expected=EXPECTED)
    fmt = format_of(head)
    if fmt is None:
        raise DumpFormatError("unknown signature %r" % head[:12], path=src.name, offset=0,
                              expected=EXPECTED)
    return fmt


def open_dump(paths, *, vmcoreinfo=None):
    """A MemoryReader over the dump in `paths` (1 file, or the parts of a --split set in any order).

    Each of `paths` is a file name, a URL (s3://, gs://, http(s)://: ranged
    reads through fsspec, the fleet extra) or a source object
    (crash_ext_c.source: name, size, pread).

    `vmcoreinfo` is the path of a VMCOREINFO text file that replaces the
    dump's own (like makedumpfile -i).
    """
    if isinstance(paths, (str, bytes, os.PathLike)) or is_source(paths):
        paths = [paths]
    if not paths:
        raise PcicrashError("no dump file given")
    srcs = []
    try:
        for p in paths:
            srcs.append(open_source(p))
        formats = [_sniff_source(s) for s in srcs]
        override = vmcoreinfo_file.read_file(vmcoreinfo) if vmcoreinfo is not None else None
        return _open(srcs, formats, override, vmcoreinfo)
    except BaseException:
        for s in srcs:
            close_source(s)
        raise


def _open(srcs, formats, override, vmcoreinfo):
    fmt = formats[0]
    if len(srcs) > 1:
        for s, f in zip(srcs, formats):
            if f is not fmt or not f.split_sets:
                raise DumpFormatError("%d files given, but this one is %s" % (len(srcs), f.name),
                                      path=s.name, offset=0,
                                      expected="kdump-compressed parts of one --split set")
    # the override goes in at once: the ELF page size comes from VMCOREINFO
    reader = fmt.reader_class()(srcs if fmt.split_sets else srcs[0], vmcoreinfo=override)
    if override is not None:
        try:
            vmcoreinfo_file.apply(reader, override, vmcoreinfo)
        except BaseException:
            reader.close()
            raise
    return reader
