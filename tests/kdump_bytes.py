"""Byte-built kdump-compressed and flattened files for the reader tests.

Written from the layout in makedumpfile's diskdump_mod.h (see
crash_ext_c/kdump.py): header block, sub-header blocks (VMCOREINFO and
eraseinfo text after the sub-header), both bitmaps, one 24-byte descriptor
per stored page, then the data with the shared zero page first.  Only
zlib and stored pages: the other codecs come from real dumps.
"""

import random
import struct
import zlib

HEADER = {   # word size -> (status offset, timestamp offset, timestamp size)
    64: (424, 408, 16),
    32: (412, 404, 8),
}
# The sub-header field tables are data, not logic: one copy, in the reader.  The
# 64-bit layout is checked against makedumpfile's own files by the real-dump tests.
from crash_ext_c.kdump import _SUB as SUB, _SUB_SINCE as SINCE  # noqa: E402


def page(seed, ps=4096):
    """A recognisable, compressible page."""
    rnd = random.Random(seed)
    head = struct.pack("<Q", seed) * 4
    body = bytes(rnd.randrange(4) for _ in range(ps - len(head)))
    return head + body


class Layout:
    """Where things landed in a built file (for the corruption tests)."""


def build_kdump(pages, *, max_mapnr, ram=None, ps=4096, version=6, dump_level=31,
                compress="zlib", vmcoreinfo=b"OSRELEASE=6.1.0-synth\nPAGESIZE=4096\n",
                eraseinfo=None, split=None, incomplete=False, endian="<", word=64,
                sub_layout=None, machine=None, signature=b"KDUMP   ", timestamp=1700000000,
                excluded=(), note=None):
    """Bytes of a kdump-compressed file, and a Layout.

    pages: {pfn: bytes} stored (all-zero pages share the zero page when
    dump_level has bit 0); ram: pfns set in the 1st bitmap (default: every
    page in `pages` plus `excluded`); split: (start, end) for one part of a
    split set (descriptors only for that range, table sized for the whole
    dump, as makedumpfile does); incomplete: set the status bit and drop the
    data after the first half of the pages.
    """
    if machine is None:
        machine = {64: "x86_64", 32: "i686"}[word] if sub_layout != "32pad" else "armv7l"
    layout = sub_layout or (64 if word == 64 else "32pack")
    ram = set(pages) | set(excluded) if ram is None else set(ram)
    nbits = max(max_mapnr, 1)
    bm_bytes = -(-nbits // 8)
    bitmap_blocks = 2 * -(-bm_bytes // ps)
    half = bitmap_blocks // 2 * ps
    bm1, bm2 = bytearray(half), bytearray(half)
    for pfn in ram:
        bm1[pfn >> 3] |= 1 << (pfn & 7)
    for pfn in pages:
        bm1[pfn >> 3] |= 1 << (pfn & 7)
        bm2[pfn >> 3] |= 1 << (pfn & 7)
    texts = (("vmcoreinfo", vmcoreinfo), ("note", note), ("eraseinfo", eraseinfo))
    sub_hdr_size = -(-(128 + sum(len(t or b"") for _, t in texts)) // ps)
    sub_off = ps
    text_off = ps + 128
    sub = bytearray(ps * sub_hdr_size)
    fields = dict(phys_base=0, dump_level=dump_level, split=1 if split else 0,
                  start_pfn=split[0] if split else 0, end_pfn=split[1] if split else 0,
                  offset_vmcoreinfo=0, size_vmcoreinfo=0, offset_note=0, size_note=0,
                  offset_eraseinfo=0, size_eraseinfo=0,
                  start_pfn_64=split[0] if split else 0, end_pfn_64=split[1] if split else 0,
                  max_mapnr_64=max_mapnr)
    pos = text_off
    for name, text in texts:
        if text:
            fields["offset_" + name] = pos
            fields["size_" + name] = len(text)
            sub[pos - sub_off:pos - sub_off + len(text)] = text
            pos += len(text)
    if version >= 1:
        for name, (off, code) in SUB[layout].items():
            if version >= SINCE[name]:
                struct.pack_into(endian + code, sub, off, fields[name])
    stored = sorted(pages)
    part = [p for p in stored if split is None or split[0] <= p < split[1]]
    desc_off = ps * (1 + sub_hdr_size + bitmap_blocks)
    data_off = desc_off + 24 * len(stored)
    descs, data = bytearray(), bytearray()
    zero = bytes(ps)
    if dump_level & 1:
        data += zero
    lay = Layout()
    lay.desc_off, lay.data_off, lay.bitmap_off = desc_off, data_off, ps * (1 + sub_hdr_size)
    lay.half, lay.page_off, lay.desc_of = half, {}, {}
    for n, pfn in enumerate(part):
        raw = pages[pfn]
        assert len(raw) == ps
        lay.desc_of[pfn] = desc_off + 24 * n
        if dump_level & 1 and raw == zero:
            descs += struct.pack(endian + "qIIQ", data_off, ps, 0, 0)
            continue
        flags, blob = 0, raw
        if compress == "zlib":
            c = zlib.compress(raw, 1)
            if len(c) < ps:
                flags, blob = 1, c
        lay.page_off[pfn] = data_off + len(data)
        descs += struct.pack(endian + "qIIQ", data_off + len(data), len(blob), flags, 0)
        data += blob
    descs += bytes(24 * len(stored) - len(descs))
    status = {None: 0, "zlib": 1}[compress] | (8 if incomplete else 0)
    hdr = bytearray(ps)
    hdr[:8] = signature
    struct.pack_into(endian + "i", hdr, 8, version)
    uts = [b"Linux", b"synth", b"6.1.0-synth", b"#1 SMP", machine.encode(), b"(none)"]
    for i, s in enumerate(uts):
        hdr[12 + 65 * i:12 + 65 * i + len(s)] = s
    st, ts, tsz = HEADER[word]
    struct.pack_into(endian + ("q" if tsz == 16 else "i"), hdr, ts, timestamp)
    struct.pack_into(endian + "IiiIIIIIIi", hdr, st, status, ps, sub_hdr_size, bitmap_blocks,
                     min(max_mapnr, 0xffffffff), len(stored), 0, 0, 0, 1)
    out = bytes(hdr) + bytes(sub) + bytes(bm1) + bytes(bm2) + bytes(descs) + bytes(data)
    lay.size = len(out)
    if incomplete:
        # makedumpfile -L: the data stops part way and the rest of the
        # descriptors were never written.
        cut = data_off + len(data) // 2
        keep = bytearray(out[:cut])
        for off in lay.desc_of.values():
            if off + 24 <= len(keep):
                d_off = struct.unpack_from(endian + "q", keep, off)[0]
                size = struct.unpack_from(endian + "I", keep, off + 8)[0]
                if d_off + size > cut:
                    keep[off:off + 24] = bytes(24)
        out = bytes(keep)
    return out, lay


def flatten(kdump, *, chunk=None, seed=0, shuffle=True):
    """A flattened file holding `kdump`: random-size records in shuffled order."""
    rnd = random.Random(seed)
    recs, pos = [], 0
    while pos < len(kdump):
        n = chunk or rnd.randrange(1, 20000)
        recs.append((pos, kdump[pos:pos + n]))
        pos += n
    if shuffle:
        rnd.shuffle(recs)
    return flat_records(recs)


def flat_records(recs, *, end=True, ftype=1, version=1):
    head = bytearray(4096)
    head[:12] = b"makedumpfile"
    struct.pack_into(">qq", head, 16, ftype, version)
    out = bytearray(head)
    for off, blob in recs:
        out += struct.pack(">qq", off, len(blob)) + blob
    if end:
        out += struct.pack(">qq", -1, -1)
    return bytes(out)


def elf_note(name, ntype, desc, endian="<"):
    """One ELF note (name NUL-terminated, both parts padded to 4 bytes)."""
    n = name + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack(endian + "III", len(n), len(desc), ntype) + pad(n) + pad(desc)
