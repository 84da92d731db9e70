"""ELF notes, VMCOREINFO text and ELF64 vmcores (/proc/vmcore, makedumpfile -E), byte by byte.

The one ELF-note builder is the production one (crash_ext_c.kdump_write.elf_note,
which --extract writes with); `elf_note` here only also takes a str name.
Layout: see crash_ext_c/elf.py.
"""

import struct

from crash_ext_c.kdump_write import elf_note as _elf_note

PAGE_SIZE = 4096


def elf_note(name, ntype, desc, endian="<"):
    """One ELF note (name NUL-terminated, name and data 4-byte aligned); `name` str or bytes."""
    return _elf_note(name.encode() if isinstance(name, str) else name, ntype, desc, endian)


def vmcoreinfo_text(lines=(), *, page_size=PAGE_SIZE, osrelease="6.1.0-synthetic"):
    """VMCOREINFO text: the usual leading lines plus `lines` (e.g. PCI_CRASH_*)."""
    base = ["OSRELEASE=%s" % osrelease, "PAGESIZE=%d" % page_size]
    keys = {l.split("=", 1)[0] for l in lines}
    base = [l for l in base if l.split("=", 1)[0] not in keys]
    return ("\n".join(base + list(lines)) + "\n").encode()


def note_area(vmcoreinfo, extra_notes=(), endian="<"):
    """The PT_NOTE bytes makedumpfile copies: `extra_notes` ((name, type, desc)...) then the
    VMCOREINFO note; returns (notes, offset of the VMCOREINFO text inside them)."""
    notes = b"".join(elf_note(n, t, d, endian) for n, t, d in extra_notes)
    at = len(notes) + 12 + (len(b"VMCOREINFO") + 1 + 3 & ~3)
    return notes + elf_note("VMCOREINFO", 0, vmcoreinfo, endian), at


def write_elf(path, pages, *, loads, vmcoreinfo_lines=(), page_size=PAGE_SIZE,
              extra_notes=(), page_aligned=True, release="6.1.0-synthetic", e_flags=0,
              xnum=False):
    """Write an ELF64 ET_CORE like /proc/vmcore (page_aligned) or makedumpfile -E (packed).

    loads: [(paddr, memsz, filesz)]; the stored part's bytes come from `pages`
    ({pfn: bytes}, missing pages are zeros).  filesz < memsz gives a -E tail.
    xnum: write e_phnum = PN_XNUM and the count in section header 0's sh_info, as
    makedumpfile does past 65534 program headers (it puts that header after the phdrs).
    """
    info = vmcoreinfo_text(vmcoreinfo_lines, page_size=page_size, osrelease=release)
    notes, _ = note_area(info, extra_notes)
    phnum = 1 + len(loads)
    note_at = 64 + 56 * phnum
    shoff = 0
    if xnum:
        shoff, note_at = note_at, note_at + 64
    if page_aligned:
        note_at = -(-note_at // page_size) * page_size
    pos = note_at + len(notes)
    phdrs = [struct.pack("<IIQQQQQQ", 4, 0, note_at, 0, 0, len(notes), len(notes), 0)]
    chunks = []
    for paddr, memsz, filesz in loads:
        if page_aligned:
            pos = -(-pos // page_size) * page_size + paddr % page_size
        phdrs.append(struct.pack("<IIQQQQQQ", 1, 7, pos if filesz else 0,
                                 0xffff880000000000 + paddr, paddr, filesz, memsz, 0))
        chunks.append((pos, _phys_bytes(pages, paddr, filesz, page_size)))
        pos += filesz
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7),
                       4, 62, 1, 0, 64, shoff, e_flags, 64, 56,
                       0xFFFF if xnum else phnum, 64 if xnum else 0, 1 if xnum else 0, 0)
    with open(path, "wb") as f:
        f.write(ehdr + b"".join(phdrs))
        if xnum:   # SHT_NULL section header 0: sh_size = e_shnum, sh_info = real phnum
            f.write(struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 1, 0, phnum, 0, 0))
        f.seek(note_at)
        f.write(notes)
        for at, blob in chunks:
            f.seek(at)
            f.write(blob)
        f.truncate(max([pos] + [at + len(b) for at, b in chunks]))
    return str(path)


def _phys_bytes(pages, paddr, size, page_size):
    out = bytearray()
    addr = paddr
    while len(out) < size:
        pfn, off = divmod(addr, page_size)
        take = min(page_size - off, size - len(out))
        out += pages.get(pfn, bytes(page_size))[off:off + take]
        addr += take
    return bytes(out)
