"""open_dump(): pick the reader for a dump file (or a --split set) by its signature.

Signatures (makedumpfile's diskdump_mod.h / makedumpfile.h, ELF gABI):
- ELF: "\\x7fELF" at offset 0 (raw /proc/vmcore copy, makedumpfile -E);
- kdump-compressed: "KDUMP   " (makedumpfile) or "DISKDUMP" (old diskdump) at 0;
- flattened (makedumpfile -F): "makedumpfile" at 0 (the start of a 4096-byte
  header whose type field says "dumpfile").
"""

import os
from typing import Any, Dict, Optional, Sequence, TYPE_CHECKING, Union

from pykdump_ext import vmcoreinfo_file
from pykdump_ext.errors import DumpFormatError, PcicrashError

from .source import close_source, is_source, open_source

if TYPE_CHECKING:
    from pykdump_ext.memory import MemoryReader

ELF = "elf"
KDUMP = "kdump"
FLAT = "flattened"

SIGNATURES = (
    (b"\x7fELF", ELF),
    (b"KDUMP   ", KDUMP),
    (b"DISKDUMP", KDUMP),
    (b"makedumpfile", FLAT),
)
SNIFF_BYTES = 16
EXPECTED = "ELF ('\\x7fELF'), kdump-compressed ('KDUMP   '/'DISKDUMP') or flattened ('makedumpfile')"


def sniff(path: Any) -> str:
    """Return ELF, KDUMP or FLAT for the dump at `path` (a file name, URL or source);
    DumpFormatError otherwise."""
    if is_source(path):
        return _sniff_source(path)
    src = open_source(path)
    try:
        return _sniff_source(src)
    finally:
        close_source(src)


def _sniff_source(src):
    try:
        head = src.pread(0, SNIFF_BYTES)
    except OSError as exc:
        raise PcicrashError("cannot read: %s" % (exc.strerror or exc), path=src.name) from None
    if not head:
        raise DumpFormatError("empty file", path=src.name, offset=0, expected=EXPECTED)
    for magic, kind in SIGNATURES:
        if head.startswith(magic):
            return kind
    raise DumpFormatError("unknown signature %r" % head[:12], path=src.name, offset=0,
                          expected=EXPECTED)


def load_vmcoreinfo_file(path: str) -> Dict[str, str]:
    """VMCOREINFO from a text file (as written by `makedumpfile -g`), as a dict."""
    return vmcoreinfo_file.read_file(path)


def open_dump(paths: Union[str, os.PathLike, Sequence[Any]], *, vmcoreinfo: Optional[str] = None,
              ) -> "MemoryReader":
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
        kinds = [_sniff_source(s) for s in srcs]
        override = load_vmcoreinfo_file(vmcoreinfo) if vmcoreinfo is not None else None
        return _open(srcs, kinds, override, vmcoreinfo)
    except BaseException:
        for s in srcs:
            close_source(s)
        raise


def _open(srcs, kinds, override, vmcoreinfo):
    paths = [s.name for s in srcs]
    kind = kinds[0]
    if len(paths) > 1 and any(k != KDUMP for k in kinds):
        bad = [p for p, k in zip(paths, kinds) if k != KDUMP][0]
        raise DumpFormatError("%d files given, but this one is %s" % (len(paths), kinds[paths.index(bad)]),
                              path=bad, offset=0,
                              expected="kdump-compressed parts of one --split set")
    if kind == ELF:
        from .elf import ElfReader
        # the ELF page size comes from VMCOREINFO: the reader needs the file's at once
        reader: MemoryReader = ElfReader(srcs[0], vmcoreinfo=override)
    elif kind == KDUMP:
        from .kdump import KdumpReader
        reader = KdumpReader(srcs)
    else:
        from .flat import FlatReader
        reader = FlatReader(srcs[0])
    if override is not None:
        try:
            vmcoreinfo_file.apply(reader, override, vmcoreinfo)
        except BaseException:
            reader.close()
            raise
    return reader
