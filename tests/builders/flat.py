"""The one flattened-format writer (makedumpfile -F): a 4096-byte header, then
(offset, size) big-endian records carrying pieces of a kdump file, ending in (-1, -1).
Layout: see crash_ext_c/flat.py.
"""

import random
import struct

from crash_ext_c.flat import SIGNATURE


def flat_records(recs, *, end=True, ftype=1, version=1):
    """A flattened file of `recs` [(offset, bytes)], in that order."""
    head = bytearray(4096)
    head[:len(SIGNATURE)] = SIGNATURE
    struct.pack_into(">qq", head, 16, ftype, version)
    out = bytearray(head)
    for off, blob in recs:
        out += struct.pack(">qq", off, len(blob)) + blob
    if end:
        out += struct.pack(">qq", -1, -1)
    return bytes(out)


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


def flatten_extents(pieces, end=True, chunk=1 << 16):
    """A flattened file of the data pieces [(offset, bytes)] of a sparse kdump file, in
    records of at most `chunk` bytes (holes are simply not written)."""
    return flat_records([(off + i, b[i:i + chunk]) for off, b in pieces
                         for i in range(0, len(b), chunk)], end=end)
