"""The hostile-dump battery of issue 15, built from the real `aer-uncor` dump.

Every input is built from the real capture (its pagemap and buffer pages, read
from d31-zlib.kdump, and its real VMCOREINFO) with the existing writers
(tests/builders/), then bent one way.  Each input is a fuzz harness input
(fuzz/common.py shapes: sparse files, pipes, repeated runs), so the same bytes
seed fuzz/corpus (fuzz/make_corpus.py) and, made into real files by
`materialize`, run through the `pcicrash` command (tests/hostile/test_battery.py).

`battery(workdir)` -> [Case]; a Case names its harness, its input bytes, the
extra command-line arguments and what the command must make of it.
"""

import os
import struct
from dataclasses import dataclass, field
from typing import List

from fuzz import common
from tests.builders.elf import elf_note, vmcoreinfo_text, write_elf
from tests.builders.flat import flatten_extents
from tests.builders.kdump import write_kdump
from tests.shared import VMCORES

REAL = os.path.join(str(VMCORES), "aer-uncor", "d31-zlib.kdump")
PS = 4096
TOP = 1 << 40                 # pfns a hostile header declares: 4 PiB of memory
MATERIAL_REPEAT = 64 << 20    # repeated runs made into files for the command: up to 64 MiB
# the real capture's pages: the pagemap page 0xa03 and the buffer pages 0xa60-0xa6b
LOADS = [(0xa03 * PS, PS, PS), (0xa60 * PS, 12 * PS, 12 * PS)]


@dataclass
class Case:
    name: str
    harness: str              # fuzz harness whose input `data` is: kdump, flat, elf
    data: bytes
    args: List[str] = field(default_factory=list)   # before the dump path; "{x}" = extra file
    extra: bytes = None       # bytes of the extra file ({x}); "PIPE" for a FIFO
    stdin: bool = False       # the dump is piped to /dev/stdin
    exits: tuple = (0, 1, 2)  # what `pcicrash` may exit with
    says: str = ""            # text that must appear in the output (stdout + stderr) ...
    says_in: tuple = ("-j", "-a", "--check")   # ... of these modes
    corpus: bool = True       # small enough for fuzz/corpus


def have_real():
    return os.path.exists(REAL)


_REAL = {}


def real_capture():
    """(pages {pfn: bytes}, VMCOREINFO lines) of the real capture: pagemap + buffer pages."""
    if not _REAL:
        from crash_ext_c.kdump import KdumpReader
        from pykdump_ext.capture.buffer import read_pagemap
        with KdumpReader(REAL) as r:
            pm = read_pagemap(r)
            pfns = [pm.phys_addr // PS] + [a // PS for a in pm.page_addrs]
            got = r.read_pages(pfns)
            _REAL["pages"] = {p: got[p] for p in pfns}
            _REAL["lines"] = ["%s=%s" % kv for kv in r.vmcoreinfo.items()]
            _REAL["pm"] = pm
    return dict(_REAL["pages"]), list(_REAL["lines"])


def _lines(replace=None, **kw):
    pages, lines = real_capture()
    out = []
    for line in lines:
        key = line.split("=", 1)[0]
        if replace and key in replace:
            if replace[key] is not None:
                out.append("%s=%s" % (key, replace[key]))
        else:
            out.append(line)
    return pages, out


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _kdump(workdir, name, pages, lines, **kw):
    kw.setdefault("max_pfn", 0x1000)
    kw.setdefault("ram", [(0, kw["max_pfn"])])
    kw.setdefault("release", "6.1.192-pcicrash")
    return write_kdump(os.path.join(workdir, name), pages, vmcoreinfo_lines=lines, **kw)


def _elf(workdir, name, pages, lines, **kw):
    kw.setdefault("loads", LOADS)
    kw.setdefault("release", "6.1.192-pcicrash")
    return write_elf(os.path.join(workdir, name), pages, vmcoreinfo_lines=lines, **kw)


def extents(path):
    """[(offset, bytes)] of the data a (sparse) file holds, by SEEK_DATA / SEEK_HOLE."""
    out = []
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, os.pread(fd, end - start, start)))
            pos = end
    return out, size


def sparse_input(pieces, size):
    """A shape 'S' input: the pieces of a sparse file of `size` bytes."""
    table = b"".join(struct.pack("<QI", o, len(b)) for o, b in pieces)
    return common.shape("S", table + b"".join(b for _o, b in pieces), count=len(pieces),
                        hole=size - max(o + len(b) for o, b in pieces))


def materialize(data, path, repeat_cap=MATERIAL_REPEAT):
    """Write a harness input as the file it stands for (sparse, a FIFO, repeated runs)."""
    kind, pieces, size = common.unshape(data, repeat_cap=repeat_cap)
    if kind == "P":
        os.mkfifo(path)
        return path
    with open(path, "wb") as f:
        for off, b in pieces:
            f.seek(off)
            f.write(b)
        f.truncate(size)
    return path


# ---------------------------------------------------------------- the cases

def _patch_pagemap_entry(pages, index, value):
    pm = _REAL["pm"]
    pfn, off = divmod(pm.phys_addr, PS)
    page = bytearray(pages[pfn])
    struct.pack_into("<Q", page, off + 16 + 8 * index, value)
    pages[pfn] = bytes(page)


def battery(workdir) -> List[Case]:
    cases = []
    add = cases.append
    pages, lines = real_capture()
    good = _read(_kdump(workdir, "good.kdump", pages, lines))

    # 1. CRASHTIME with a non-ASCII digit: str.isdigit() says yes, int() says no
    p, l = _lines({"CRASHTIME": "\u00b2795241199"})
    add(Case("crashtime-superscript", "kdump", _read(_kdump(workdir, "c.kdump", p, l)),
             exits=(0,)))
    p, l = _lines({"CRASHTIME": "\u0661\u0667\u0669"})     # Arabic-Indic digits: int() takes them
    add(Case("crashtime-arabic-indic", "kdump", _read(_kdump(workdir, "c2.kdump", p, l)),
             exits=(0,)))

    # 2. pipes: a FIFO as DUMP, as --vmcoreinfo, a dump piped to /dev/stdin
    add(Case("fifo-dump", "flat", common.shape("P", flatten_extents([(0, good)])),
             exits=(2,), says="pipe"))
    add(Case("fifo-vmcoreinfo", "kdump", good, args=["--vmcoreinfo", "{x}"], extra="PIPE",
             exits=(2,), says="VMCOREINFO"))
    add(Case("stdin-flat", "flat", flatten_extents([(0, good)]), stdin=True, exits=(2,),
             says="pipe", corpus=False))

    # 5. declared memory far beyond what the file holds, the pagemap at the top pfn
    p, l = _lines({"PCI_CRASH_PAGEMAP": "0x%x" % ((TOP - 1) * PS + 0x380)})
    p[TOP - 1] = p.pop(_REAL["pm"].phys_addr // PS)
    big = _kdump(workdir, "top.kdump", p, l, max_pfn=TOP, ram=[(0, 0x1000), (TOP - 1, TOP)])
    pieces, size = extents(big)
    add(Case("kdump-sparse-2^40-pfns-top-pagemap", "kdump", sparse_input(pieces, size),
             exits=(0,)))
    add(Case("flat-2^40-pfns-top-pagemap", "flat", flatten_extents(pieces), exits=(0,)))

    # 6. ELF with 2^24 program headers (PN_XNUM), the table in a hole
    raw = bytearray(_read(_elf(workdir, "x.elf", pages, lines, xnum=True)))
    shoff = struct.unpack_from("<Q", raw, 40)[0]
    phnum = struct.unpack_from("<I", raw, shoff + 44)[0]     # sh_info of section header 0
    table = bytes(raw[64:64 + phnum * 56])
    at = -(-len(raw) // PS) * PS
    struct.pack_into("<Q", raw, 32, at)                     # e_phoff: the relocated table
    struct.pack_into("<I", raw, shoff + 44, 1 << 24)        # sh_info: 2^24 headers
    size = at + (1 << 24) * 56
    add(Case("elf-pn-xnum-2^24-phdrs-in-hole", "elf",
             sparse_input([(0, bytes(raw)), (at, table)], size), exits=(0,), says="only the first"))

    # 7. per-record cost: 1.5M overlapping flattened records, 4M empty ELF notes
    flat = flatten_extents([(0, good)], end=False)
    pair = struct.pack(">qq", len(good) + 8, 2) + b"ab" + struct.pack(">qq", len(good) + 9, 2) + b"cd"
    body = flat + pair + struct.pack(">qq", -1, -1)
    add(Case("flat-1.5M-overlapping-records", "flat",
             common.shape("R", body, at=len(flat), span=len(pair), count=750000 // 64),
             exits=(0,)))
    raw = bytearray(_read(_elf(workdir, "n.elf", pages, lines)))
    vmci = elf_note("VMCOREINFO", 0, vmcoreinfo_text(lines))
    empty = struct.pack("<III", 0, 0, 1)
    n_notes = 65535 * 64 + 1            # 4M: one, then 65535 * 64 repeats of it
    struct.pack_into("<QQ", raw, 64 + 8, len(raw), 0)          # PT_NOTE p_offset ...
    struct.pack_into("<Q", raw, 64 + 32, len(vmci) + 12 * n_notes)   # ... and p_filesz
    body = bytes(raw) + vmci + empty
    add(Case("elf-4M-empty-notes", "elf",
             common.shape("R", body, at=len(body) - 12, span=12, count=65535),
             exits=(0,), says="notes"))

    # 8. locality: damage of one part costs only what it touches
    raw = bytearray(_read(_elf(workdir, "g.elf", pages, lines)))
    note_at, note_sz = struct.unpack_from("<QQ", raw, 64 + 8)[0], struct.unpack_from("<Q", raw, 64 + 32)[0]
    struct.pack_into("<III", raw, note_at + note_sz, 0xFFFFFFF0, 7, 1)   # garbage note after it
    struct.pack_into("<QQ", raw, 64 + 32, note_sz + 64, note_sz + 64)
    add(Case("elf-garbage-note-after-vmcoreinfo", "elf", bytes(raw), exits=(0,),
             says="name size"))
    flat = flatten_extents([(0, good)], end=False)
    add(Case("flat-bad-trailing-record", "flat", flat + struct.pack(">qq", -5, 10) + b"zz",
             exits=(0,), says="record header"))
    p, l = _lines()
    _patch_pagemap_entry(p, 5, 0xa65000 + 0x80)
    add(Case("pagemap-unaligned-entry", "elf", _read(_elf(workdir, "u.elf", p, l)),
             exits=(1,), says="pagemap entry 5"))
    p, l = _lines()
    _patch_pagemap_entry(p, 5, 0x7fff00000000)
    add(Case("pagemap-entry-outside-dump", "elf", _read(_elf(workdir, "o.elf", p, l)),
             exits=(1,), says="pagemap entry 5"))

    # 9. smaller: the pagemap pointer outside the dump, a descriptor that shows a page
    # unreadable, a non-hex PCI_CRASH_PAGEMAP, conflicting overlapping PT_LOADs
    p, l = _lines({"PCI_CRASH_PAGEMAP": "0x7fff00000380"})
    add(Case("pagemap-pointer-outside-dump", "kdump", _read(_kdump(workdir, "po.kdump", p, l)),
             exits=(1,), says="bad pointer"))
    raw = bytearray(good)
    from crash_ext_c.kdump import KdumpReader
    with KdumpReader(os.path.join(workdir, "good.kdump")) as r:
        pfn = _REAL["pm"].page_addrs[5] // PS
        _st, _part, desc, pos = r._classify([pfn])[pfn]
    for what, at, value in (("size-0", 8, 0), ("two-codecs", 12, 0x5)):
        bent = bytearray(raw)
        struct.pack_into("<I", bent, pos + at, value)   # stored size 0 / zlib + snappy flags
        add(Case("descriptor-says-unreadable-" + what, "kdump", bytes(bent), exits=(1,),
                 says="unreadable"))
    p, l = _lines({"PCI_CRASH_PAGEMAP": "0xa0338g"})
    add(Case("nonhex-pagemap", "kdump", _read(_kdump(workdir, "nh.kdump", p, l)), exits=(1,),
             says="PCI_CRASH_PAGEMAP"))
    p, l = _lines()
    path = _elf(workdir, "ov.elf", p, l, loads=LOADS + [(0xa63 * PS, 4 * PS, 4 * PS)])
    raw = bytearray(_read(path))
    third = struct.unpack_from("<Q", raw, 64 + 3 * 56 + 8)[0]     # p_offset of PT_LOAD 3
    raw[third + 2 * PS + 100] ^= 0xFF          # its copy of buffer page 5 (0xa65) differs
    add(Case("elf-conflicting-overlapping-ptloads", "elf", bytes(raw), exits=(0,),
             says="disagree", says_in=("-j", "-a")))   # --check reads no buffer page

    # user item 4: --vmcoreinfo from another kernel, another boot
    for name, sc in (("vmcoreinfo-other-kernel", "layoutB-aer"),
                     ("vmcoreinfo-other-boot", "cor-only")):
        add(Case(name, "kdump", good, args=["--vmcoreinfo", "{x}"],
                 extra=_read(os.path.join(VMCORES, sc, "vmcoreinfo.txt")), exits=(2,),
                 says="refused", corpus=False))
    add(Case("vmcoreinfo-same-dump", "kdump", good, args=["--vmcoreinfo", "{x}"],
             extra=vmcoreinfo_text(lines), exits=(0,), corpus=False))
    return cases
