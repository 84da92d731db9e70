"""read_kernel_log on byte-built dumps: formats and layouts no lab kernel produces, and hostile rings.

The x86_64 dumps are written as real kdump-compressed files and also read
by the real makedumpfile --dump-dmesg: its text must equal ours byte for
byte.  arm64 dumps (makedumpfile here is an x86_64 build) are held against
the records the builder wrote.
"""

import pathlib
import struct
import subprocess

import pytest

from tests.builders import klog as kb
from tests.builders.kdump import write_kdump
from tests.shared import have_tool, needs_makedumpfile
from crash_ext_c.open import open_dump
from pykdump_ext.kernel.klog.dmesg import dmesg_bytes
from pykdump_ext.kernel.klog.reader import read_kernel_log
from crash_ext_c.reader import PageDictReader, PageStatus


ODD = [b"tab\there, cr\rand a \x7f", bytes(range(1, 32)) + bytes(range(0x80, 0x100)),
       "caf\u00e9 UTF-8".encode(), b"multi\nline\n\nrecord", b"nul\0inside"]


def records(n, *, odd=True, start=0):
    out = [kb.Rec(1_000_000 * i + 123_456_789 + start, "pci 0000:%02x:00.0: line %d %s"
                  % (i % 256, i, "x" * (i % 41)), level=i % 8, facility=i % 4,
                  caller=0x80000000 | i) for i in range(n)]
    if odd:
        out += [kb.Rec(10 ** 12 + k, t) for k, t in enumerate(ODD)]
    return out


def kdump_file(tmp_path, k, name="synth.kdump"):
    return pathlib.Path(write_kdump(tmp_path / name, k.mem.frozen(), max_pfn=k.max_pfn(),
                             vmcoreinfo_lines=k.lines, phys_base=k.phys_base,
                             release=k.release))


def ours(path):
    with open_dump([str(path)]) as reader:
        return read_kernel_log(reader)


def makedumpfile_text(tmp_path, path):
    out = tmp_path / (path.name + ".dmesg")
    res = subprocess.run(["makedumpfile", "--dump-dmesg", str(path), str(out)],
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return out.read_bytes()


def prb_kernel(n=300, *, count_bits=6, size_bits=11, where="image", levels=4, **kw):
    po = 0xFF11000000000000 if levels == 5 else 0xFFFF8F2A00000000
    k = kb.X86Kernel(levels=levels, page_offset=po, **kw)
    prb = kb.Prb(count_bits, size_bits)
    recs = records(n)
    for r in recs:
        prb.add(r)
    if where == "image":
        k.place_prb(prb)
    else:   # descs/infos in the direct map, the text in vmalloc pages scattered in memory
        vdata = 0xFFFFC90000400000
        pfns = [0x9000 + 37 * i for i in range(len(prb.data) // 4096 or 1)]
        k.write_vmalloc(vdata, bytes(prb.data), pfns)
        k.place_prb(prb, descs=po + 0x6000000, infos=po + 0x6100000, data=vdata)
    return k, prb, recs


def expected(prb, recs):
    """The records tail..head the builder left committed, as makedumpfile prints them."""
    live = prb.live()
    by_id = {}
    # ids were handed out in order: the last len(recs) ids are recs, in order
    for i, r in zip(range(len(recs)), recs):
        by_id[(prb.head_id - (len(recs) - 1 - i)) & kb.ID_MASK] = r
    return [by_id[i] for i in live if by_id[i].text]


# --------------------------------------------------------------------- x86_64 ring buffer

@needs_makedumpfile
@pytest.mark.parametrize("where,levels", [("image", 4), ("direct", 4), ("direct", 5)],
                         ids=["image-kaslr", "direct-map-vmalloc", "5-level"])
def test_x86_ringbuffer_equals_makedumpfile(tmp_path, where, levels):
    k, prb, recs = prb_kernel(where=where, levels=levels)
    path = kdump_file(tmp_path, k)
    log = ours(path)
    assert log.format == "printk_ringbuffer" and log.complete, log.notes
    want = expected(prb, recs)
    assert len(want) > 20 and len(log.records) == len(want)      # the rings wrapped
    assert [r.raw for r in log.records] == [r.text for r in want]
    assert dmesg_bytes(log.records) == makedumpfile_text(tmp_path, path)


def test_ringbuffer_fields_and_dictionary():
    k = kb.X86Kernel()
    prb = kb.Prb(5, 12)
    prb.add(kb.Rec(5_000_000_001, "e1000e 0000:05:00.0: reset adapter", level=3, facility=0,
                   caller=0x80000007, subsystem=b"pci", device=b"+pci:0000:05:00.0"))
    prb.add(kb.Rec(6_000_000_000, "", level=6))                   # empty line: data-less
    prb.add(kb.Rec(7_000_000_000, "user", facility=1, level=5, caller=123))
    k.place_prb(prb)
    log = read_kernel_log(PageDictReader(k.mem.frozen(), vmcoreinfo=k.info()))
    a, b = log.records
    assert (a.seq, a.ts_nsec, a.level, a.facility, a.caller_id) == (0, 5_000_000_001, 3, 0,
                                                                    0x80000007)
    assert (a.subsystem, a.device) == ("pci", "+pci:0000:05:00.0")
    assert (b.seq, b.level, b.facility, b.caller_id, b.text) == (2, 5, 1, 123, "user")
    assert log.complete and log.notes == []


def test_pfns_are_exactly_what_the_log_needs():
    k, prb, recs = prb_kernel(where="direct")
    pages = k.mem.frozen()
    log = read_kernel_log(PageDictReader(pages, vmcoreinfo=k.info()))
    assert log.pfns <= set(pages)
    # the triage extract keeps only these pages: the same log comes out of them
    kept = {p: pages[p] for p in log.pfns}
    again = read_kernel_log(PageDictReader(kept, vmcoreinfo=k.info()))
    assert again.records == log.records and again.complete
    assert len(log.pfns) < 40


# --------------------------------------------------------------------- legacy log_buf

def logbuf_kernel(*, caller=False, at=None, n=400, buf_len=8192):
    k = kb.X86Kernel(release="4.18.0-synth")
    lb = kb.LogBuf(buf_len, caller=caller)
    recs = records(n)
    for i, r in enumerate(recs):
        lb.add(r, b"SUBSYSTEM=pci\0DEVICE=+pci:0000:00:%02x.0" % (i % 32) if i % 3 == 0
               else b"")
    k.place_log_buf(lb, at=at)
    return k, lb, recs


@needs_makedumpfile
@pytest.mark.parametrize("caller,where", [(False, "image"), (True, "image"), (False, "direct")])
def test_legacy_log_buf_equals_makedumpfile(tmp_path, caller, where):
    at = 0xFFFF8F2A07000000 if where == "direct" else None
    k, lb, recs = logbuf_kernel(caller=caller, at=at)
    path = kdump_file(tmp_path, k)
    log = ours(path)
    assert log.format == "log_buf" and log.complete, log.notes
    kept = lb.next_seq - lb.first_seq
    assert 20 < kept < len(recs) and lb.next < lb.first              # wrapped
    assert [r.raw for r in log.records] == [r.text for r in recs[-kept:]]
    assert dmesg_bytes(log.records) == makedumpfile_text(tmp_path, path)
    dev = [r for r in log.records if r.device]
    assert dev and all(r.subsystem == "pci" and r.device.startswith("+pci:0000:00:")
                       for r in dev)
    first = recs[-kept]
    assert (log.records[0].level, log.records[0].facility) == (first.level, first.facility)
    if caller:
        assert log.records[0].caller_id == first.caller


def test_legacy_struct_named_log_before_3_11():
    k, lb, recs = logbuf_kernel(n=30, buf_len=4096)
    k.lines = [l.replace("printk_log", "log") for l in k.lines]
    log = read_kernel_log(PageDictReader(k.mem.frozen(), vmcoreinfo=k.info()))
    assert [r.raw for r in log.records] == [r.text for r in recs[-len(log.records):]]
    assert log.complete and len(log.records) > 10


# --------------------------------------------------------------------- arm64

ARM = [(4096, 48, True), (65536, 48, True), (65536, 52, True), (4096, 39, False),
       (65536, 42, False)]


@pytest.mark.parametrize("page,va_bits,flipped", ARM,
                         ids=["%dK-VA%d-%s" % (p >> 10, v, "5.4+" if f else "pre5.4")
                              for p, v, f in ARM])
def test_arm64_ringbuffer(tmp_path, page, va_bits, flipped):
    k = kb.Arm64Kernel(page=page, va_bits=va_bits, flipped=flipped)
    prb = kb.Prb(7, 13)
    recs = records(500, odd=False)
    for r in recs:
        prb.add(r)
    k.place_prb(prb, data_linear=True)
    path = write_kdump(tmp_path / "arm.kdump", k.mem.frozen(),
                             max_pfn=max(k.mem.pages) + 1, vmcoreinfo_lines=k.lines,
                             page_size=page, release="5.15.0-arm64")
    log = ours(path)
    assert log.complete, log.notes
    want = expected(prb, recs)
    assert len(want) > 50 and len(want) < len(recs)              # wrapped
    assert [r.raw for r in log.records] == [r.text for r in want]
    assert dmesg_bytes(log.records) == kb.dmesg_lines(want)


# --------------------------------------------------------------------- hostile rings

def hostile(mutate, n=120, **kw):
    """A ring, damaged by mutate(k, prb, addrs, pages, statuses), then read."""
    k = kb.X86Kernel()
    prb = kb.Prb(kw.get("count_bits", 6), kw.get("size_bits", 12))
    recs = records(n, odd=False)
    for r in recs:
        prb.add(r)
    addrs = k.place_prb(prb)
    want = expected(prb, recs)
    pages, statuses = k.mem.pages, {}
    mutate(k, prb, addrs, pages, statuses)
    log = read_kernel_log(PageDictReader({p: bytes(b) for p, b in pages.items()},
                                         vmcoreinfo=k.info(), statuses=statuses))
    return log, want


def poke(k, vaddr, fmt, *vals):
    k.mem.write(k.v2p(vaddr), struct.pack(fmt, *vals))


def slot_of(prb, nth):
    """Descriptor id of the nth live record."""
    return prb.live()[nth]


def test_bad_descriptor_states():
    def bad(k, prb, a, pages, st):
        for nth, state in ((3, kb.RESERVED), (4, kb.RESERVED), (9, kb.REUSABLE)):
            id_ = slot_of(prb, nth)
            poke(k, a["descs"] + 24 * (id_ % prb.count), "<Q", (state << 62) | id_)
        poke(k, a["descs"] + 24 * (slot_of(prb, 12) % prb.count), "<Q", (2 << 62) | 12345)
    log, want = hostile(bad)
    assert [r.raw for r in log.records] == [r.text for i, r in enumerate(want)
                                           if i not in (3, 4, 9, 12)]
    assert len(log.notes) == 1
    assert "not committed" in log.notes[0] and "2 reserved" in log.notes[0] and \
        "1 reusable" in log.notes[0] and "1 ID mismatch" in log.notes[0]
    assert not log.complete


def test_wrapped_block_with_wrong_positions():
    def bad(k, prb, a, pages, st):
        id_ = slot_of(prb, 5)
        poke(k, a["descs"] + 24 * (id_ % prb.count) + 8, "<QQ", 0x10, 0x10 + 3 * prb.size)
    log, want = hostile(bad)
    assert [r.raw for r in log.records] == [r.text for i, r in enumerate(want) if i != 5]
    assert len(log.notes) == 1 and "data block position invalid" in log.notes[0]
    assert "1 record" in log.notes[0]


def test_cut_block_text_len_past_it():
    def bad(k, prb, a, pages, st):
        id_ = slot_of(prb, 7)
        poke(k, a["infos"] + 88 * (id_ % prb.count) + 16, "<H", 0xFFFF)
    log, want = hostile(bad)
    assert len(log.records) == len(want)
    cut = log.records[7]
    assert cut.raw.startswith(want[7].text) and len(cut.raw) < 8 + len(want[7].text) + 8
    assert len(log.notes) == 1 and "text_len past its data block" in log.notes[0]
    assert "text_len 65535" in log.notes[0]


def test_lengths_past_the_ring():
    def huge(k, prb, a, pages, st):
        poke(k, a["rb"] + 48, "<I", 40)                  # size_bits 40
    log, _ = hostile(huge)
    assert log.records == [] and not log.complete and len(log.notes) == 1
    assert "size_bits 40" in log.notes[0]

    def far_tail(k, prb, a, pages, st):
        poke(k, a["rb"] + 32, "<Q", (prb.head_id - 10 ** 6) & kb.ID_MASK)
    log, want = hostile(far_tail)
    assert [r.raw for r in log.records] == [r.text for r in want]
    assert any("but the ring has only 64: read the last 64" in n for n in log.notes)


def test_pointers_outside_memory():
    def bad(k, prb, a, pages, st):
        poke(k, a["rb"] + 16, "<Q", 0xFFFFC90012340000)   # infos: unmapped vmalloc address
    log, want = hostile(bad)
    assert log.records == [] and not log.complete
    assert len(log.notes) == 1 and "printk_info unreadable: %d records" % len(want) in \
        log.notes[0] and "PGD entry" in log.notes[0]

    def data_gone(k, prb, a, pages, st):
        poke(k, a["rb"] + 56, "<Q", 0x0000123400000000)   # text data: not a kernel address
    log, want = hostile(data_gone)
    assert log.records == [] and len(log.notes) == 1
    assert "text data unreadable" in log.notes[0] and "canonical" in log.notes[0]

    def prb_ptr(k, prb, a, pages, st):
        poke(k, a["prb"], "<Q", 0xFFFFC90099990000)
    log, _ = hostile(prb_ptr)
    assert log.records == [] and len(log.notes) == 1 and "printk_ringbuffer at" in \
        log.notes[0]


def test_missing_text_page_loses_only_its_records():
    def excl(k, prb, a, pages, st):
        pfn = k.v2p(a["data"]) // 4096 + 1
        del pages[pfn]
        st[pfn] = PageStatus.EXCLUDED
    log, want = hostile(excl, size_bits=13, count_bits=8, n=300)
    lost = len(want) - len(log.records)
    assert 0 < lost < len(want) // 2
    got = [r.raw for r in log.records]
    assert all(g in [w.text for w in want] for g in got)
    assert len(log.notes) == 1 and "text data unreadable: %d records" % lost in log.notes[0]
    assert "excluded by filtering" in log.notes[0] and not log.complete


def test_descriptor_pages_missing_give_up_bounded():
    def gone(k, prb, a, pages, st):
        for pfn in range(k.v2p(a["descs"]) // 4096, k.v2p(a["descs"]) // 4096 + 1600):
            pages.pop(pfn, None)
            st[pfn] = PageStatus.LOST
        poke(k, a["rb"], "<I", 18)                      # count_bits 18: 6 MiB of descriptors
        poke(k, a["rb"] + 32, "<Q", (prb.head_id - (1 << 18) + 1) & kb.ID_MASK)   # all used
    log, _ = hostile(gone, size_bits=23)
    assert log.records == [] and not log.complete
    assert any("descriptors (ids" in n and "not examined" in n for n in log.notes)
    assert any("descriptor unreadable" in n and "lost (incomplete dump)" in n
               for n in log.notes)


def test_legacy_hostile():
    k, lb, recs = logbuf_kernel(n=60, buf_len=4096)
    good = read_kernel_log(PageDictReader(k.mem.frozen(), vmcoreinfo=k.info()))
    buf = k.v2p(k.img + 0x1B00000)

    def with_poke(idx, fmt, *vals):
        mem = k.mem.frozen()
        page = bytearray(mem[(buf + idx) // 4096])
        struct.pack_into(fmt, page, (buf + idx) % 4096, *vals)
        mem[(buf + idx) // 4096] = bytes(page)
        return read_kernel_log(PageDictReader(mem, vmcoreinfo=k.info()))

    third = lb.first
    for _ in range(3):
        third = third + struct.unpack_from("<H", lb.buf, third + 8)[0]
    # a record length running past the buffer: the records before it, one note
    log = with_poke(third + 8, "<H", 4000)
    assert log.records == good.records[:3] and len(log.notes) == 1
    assert "record length 4000" in log.notes[0] and not log.complete
    # text_len past its record
    log = with_poke(third + 10, "<H", 3000)
    assert len(log.records) == len(good.records) and len(log.notes) == 1
    assert "text_len 3000 past" in log.notes[0]
    # a zero-length record at the start of the buffer after the wrap marker
    log = with_poke(8, "<H", 0)
    assert 0 < len(log.records) < len(good.records)
    assert len(log.notes) == 1 and "zero-length record" in log.notes[0]
    # indexes outside the buffer
    k.write(k.img + 0x1A00000 + 12, struct.pack("<I", 10 ** 6))
    log = read_kernel_log(PageDictReader(k.mem.frozen(), vmcoreinfo=k.info()))
    assert log.records == [] and "outside the 4096-byte log_buf" in log.notes[0]


@pytest.mark.parametrize("drop", ["SYMBOL(prb)", "OFFSET(printk_info.text_len)",
                                  "NUMBER(phys_base)"])
def test_missing_vmcoreinfo_entries(drop):
    k, prb, recs = prb_kernel(n=50)
    info = {key: v for key, v in k.info().items() if key != drop}
    log = read_kernel_log(PageDictReader(k.mem.frozen(), vmcoreinfo=info))
    if drop == "NUMBER(phys_base)":     # found again by where init_uts_ns holds OSRELEASE
        assert log.complete and len(log.records) == len(expected(prb, recs))
        assert log.notes == ["kernel log: NUMBER(phys_base) missing: phys_base 0x8600000 "
                             "found by init_uts_ns holding OSRELEASE there"]
    else:
        assert log.records == [] and not log.complete and len(log.notes) == 1
        assert drop.replace("SYMBOL(prb)", "neither SYMBOL(prb)") in log.notes[0]


def test_never_raises_on_empty_or_odd_readers():
    assert read_kernel_log(PageDictReader({})).notes
    assert read_kernel_log(PageDictReader({}, vmcoreinfo={"SYMBOL(prb)": "zz"})).notes
    log = read_kernel_log(PageDictReader({}, vmcoreinfo={"SYMBOL(prb)": "ffffffff81000000",
                                                         "NUMBER(phys_base)": "0"}))
    assert log.records == [] and not log.complete
    odd = PageDictReader({})
    odd.page_size = 0
    assert "no usable page size" in read_kernel_log(odd).notes[0]


# --------------------------------------------------------------------- through crash's memory

class _CrashApi:
    """PyKdump's physical readmem over a dump reader, crash's own `help -D` / `sys` text."""
    PHYSADDR = 1

    class error(Exception):
        pass

    def __init__(self, reader, outputs):
        self.reader, self.outputs = reader, outputs

    def readmem(self, addr, size, mtype):
        from crash_ext_c.errors import PageUnavailable
        try:
            return self.reader.read_phys(addr, size)
        except PageUnavailable:
            raise self.error("readmem error at addr 0x%x" % addr) from None

    def exec_crash_command(self, cmd):
        return self.outputs[cmd] + "\n"


def test_inside_crash_same_log_through_crash_reader():
    """The crash command's reader (PyKdump physical reads, VMCOREINFO from the real crash's
    help -D) gives the same log: the reader only uses the MemoryReader interface."""
    from tests.shared import VMCORES, vmlinux
    if not have_tool("crash") or not (VMCORES / "aer-uncor" / "d31-zlib.kdump").exists():
        pytest.skip("crash or ../shared not present")
    from tests.shared import run_crash
    from pykdump_ext.frontends.crash import command as crashcmd
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    outputs = run_crash(vmlinux("kernel"), dump, ["help -D", "sys"])
    with open_dump([str(dump)]) as reader:
        cr = crashcmd.CrashReader(_CrashApi(reader, outputs))
        assert cr.vmcoreinfo == reader.vmcoreinfo
        direct = read_kernel_log(reader)
        via = read_kernel_log(cr)
    assert via.records == direct.records and via.complete and via.pfns == direct.pfns
    assert len(via.records) > 300


@needs_makedumpfile
def test_cut_dump_gives_the_log_up_to_the_cut(tmp_path):
    """makedumpfile -L / a full disk: the pages written last are lost.  The records before
    the cut are what makedumpfile reads from the whole dump, up to there; one note."""
    k = kb.X86Kernel()
    prb = kb.Prb(9, 15)                      # 32 KiB of text: not wrapped, log order = pfn order
    recs = records(300, odd=False)
    for r in recs:
        prb.add(r)
    addrs = k.place_prb(prb)
    whole = kdump_file(tmp_path, k, "whole.kdump")
    full = makedumpfile_text(tmp_path, whole)
    pages = k.mem.frozen()
    cut_pfn = k.v2p(addrs["data"]) // 4096 + 2
    keep = sorted(pages).index(cut_pfn)
    cut = pathlib.Path(write_kdump(tmp_path / "cut.kdump", pages, max_pfn=k.max_pfn(),
                                         vmcoreinfo_lines=k.lines, phys_base=k.phys_base,
                                         incomplete_after=keep))
    log = ours(cut)
    text = dmesg_bytes(log.records)
    assert text and full.startswith(text) and len(text) < len(full)
    assert not log.complete and len(log.notes) == 1
    assert "text data unreadable" in log.notes[0] and "lost (incomplete dump)" in log.notes[0]
    assert "pfn 0x%x" % cut_pfn in log.notes[0]


def test_pre_4_10_kernel_without_phys_base_number():
    """Before 4.10 VMCOREINFO has SYMBOL(phys_base) only (and no uts_namespace.name offset):
    the legacy log is found by probing phys_base against init_uts_ns; without init_uts_ns,
    phys_base 0 is assumed and said."""
    k, lb, recs = logbuf_kernel(n=80, buf_len=4096)
    uts = k.uts
    k.write(uts, bytes(4) + k.mem.read(k.v2p(uts), 6 * 65))      # name after a 4-byte kref
    info = {key: v for key, v in k.info().items()
            if key not in ("NUMBER(phys_base)", "OFFSET(uts_namespace.name)")}
    info["SYMBOL(phys_base)"] = "%x" % (k.img + 0x1000)
    log = read_kernel_log(PageDictReader(k.mem.frozen(), vmcoreinfo=info))
    assert log.complete and [r.raw for r in log.records] == \
        [r.text for r in recs[-len(log.records):]] and len(log.records) > 20
    assert "phys_base 0x8600000 found" in log.notes[0]
    assert k.v2p(uts) // 4096 in log.pfns
    del info["SYMBOL(init_uts_ns)"]
    log = read_kernel_log(PageDictReader(k.mem.frozen(), vmcoreinfo=info))
    assert log.records == [] and "phys_base 0 assumed" in log.notes[0]
