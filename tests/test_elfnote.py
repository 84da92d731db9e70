"""crash_ext_c.elfnote: the one note walker and the one reading of device dumps (VMCOREDD)."""

import struct

from crash_ext_c import elfnote


def _note(name, ntype, desc):
    nb = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(nb), len(desc), ntype) + pad(nb) + pad(desc)


def _device_dumps(data, start, size, problems=None, budget=None):
    pread = lambda off, n: data[off:off + n]
    problems = [] if problems is None else problems
    notes = elfnote.walk(pread, start, size, "<", problems=problems, where="test notes",
                         budget=budget)
    return [(d.name, d.size) for d in (elfnote.device_dump(n, pread) for n in notes) if d]


def test_vmcoredd_notes_walk():
    dd = b"cxgb4_0000:02:00.4".ljust(44, b"\0") + b"\xaa" * 100
    blob = (_note("CORE", 1, b"\0" * 336) + _note("LINUX", 0x700, dd)
            + _note("VMCOREDD_qla2xxx", 0x700, b"x" * 10) + _note("VMCOREINFO", 0, b"A=1\n"))
    base = 1000
    data = bytes(base) + blob
    assert _device_dumps(data, base, len(blob)) == [("cxgb4_0000:02:00.4", 100), ("qla2xxx", 10)]
    # A size field running past the area stops the walk instead of reading on, and says so.
    bad = blob[:4] + b"\xff\xff\xff\x7f" + blob[8:]      # first descsz: 2 GiB
    problems = []
    assert _device_dumps(bytes(base) + bad, base, len(bad), problems) == []
    assert problems and "runs past its area" in problems[0]
    # Truncated area: whatever fits.
    assert _device_dumps(data, base, 12 + 8 + 336) == []


def test_one_note_cap_for_every_area():
    """The cap is elfnote's, shared by a dump's note areas through one Budget."""
    blob = b"".join(_note("VMCOREDD_d%d" % i, 0x700, b"x") for i in range(5))
    budget = elfnote.Budget(limit=7)
    problems = []
    assert len(_device_dumps(blob, 0, len(blob), problems, budget)) == 5
    assert len(_device_dumps(blob, 0, len(blob), problems, budget)) == 2
    assert problems == ["test notes: more than 7 notes; the notes from 0x%x on are ignored"
                        % (2 * len(_note("VMCOREDD_d0", 0x700, b"x")))]
