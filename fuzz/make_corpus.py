"""Regenerate fuzz/corpus/<target>/ seed files (maintainer tool, not a test).

Real bytes come from ../shared/vmcores (VMCOREINFO notes, lspci -xxxx config
spaces, header blocks / bitmaps / descriptors / compressed pages of the real
dumps) and from tests/data; what the real dumps lack is byte-built with
tests/builders/.  Whole corpus stays under ~5 MB.

    .venv/bin/python -m fuzz.make_corpus [target ...]
"""
import hashlib
import json
import os
import re
import struct
import sys

from fuzz import common
from tests.builders.capture import pci_crash_pages
from tests.builders.elf import vmcoreinfo_text, write_elf
from tests.builders.flat import flat_records, flatten
from tests.builders.kdump import build_kdump


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VMCORES = os.path.join(os.path.dirname(ROOT), "shared", "vmcores")
DATA = os.path.join(ROOT, "tests", "data")
MAKERS = {}


def maker(fn):
    MAKERS[fn.__name__[5:]] = fn
    return fn


def put(target, name, data):
    d = common.corpus_dir(target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def scenarios():
    return sorted(s for s in os.listdir(VMCORES) if os.path.exists(os.path.join(VMCORES, s, "scenario.json")))


@maker
def make_vmcoreinfo():
    for sc in scenarios():
        with open(os.path.join(VMCORES, sc, "vmcoreinfo.txt"), "rb") as f:
            put("vmcoreinfo", sc + ".txt", f.read())
    put("vmcoreinfo", "crash-help-D.txt",
        b"        PAGESIZE=4096\n        PCI_CRASH_PAGEMAP=0xa03380\n        PCI_CRASH_VERSION=1\n"
        b"        PCI_CRASH_BUF_SZ=47024\n        CRASHTIME=1795241199\n")
    put("vmcoreinfo", "layoutB-values.txt",
        b"PAGESIZE=65536\nPCI_CRASH_PAGEMAP=0xffffffffffff\nPCI_CRASH_VERSION=2\nPCI_CRASH_BUF_SZ=-1\n")
    # issue 15: digits int() or isdigit() take and dump text does not; --vmcoreinfo from a pipe
    put("vmcoreinfo", "hostile-crashtime-superscript.txt",
        "PAGESIZE=4096\nCRASHTIME=\u00b2795241199\nPCI_CRASH_PAGEMAP=0xa0338g\n"
        "NUMBER(phys_base)=\u0661\n".encode())
    with open(os.path.join(VMCORES, "aer-uncor", "vmcoreinfo.txt"), "rb") as f:
        put("vmcoreinfo", "pipe-aer-uncor.txt", common.shape("P", f.read()))


def _lspci_configs(sc):
    from pykdump_ext.pci.lspci_hex import parse_lspci_hex
    path = os.path.join(VMCORES, sc, "ground-truth", "lspci-xxxx.txt")
    with open(path) as f:
        return parse_lspci_hex(f.read())


@maker
def make_config():
    seen = set()
    for sc in ("aer-uncor", "aer-handled", "legacy-unaligned", "layoutB-aer"):
        for bdf, raw in sorted(_lspci_configs(sc).items()):
            h = hashlib.sha1(raw).hexdigest()[:12]
            if h in seen:
                continue
            seen.add(h)
            put("config", "%s-%s.bin" % (sc, bdf.replace(":", "_")), raw)
    from tests.builders import capture as cb
    put("config", "built-rootport-aer-dpc.bin",
        cb.config(port_type=cb.ROOT_PORT, bus_range=(1, 1), dllla_capable=True, dllla=True,
                  aer={"root_status": 0x7f, "uncor_status": 1 << 14, "fep": 14}, dpc=0x1))
    put("config", "ff.bin", b"\xff" * 4096)
    loop = bytearray(cb.config(port_type=cb.ENDPOINT, aer={}))
    loop[0x41] = 0x40             # std capability pointing at itself
    struct.pack_into("<I", loop, 0x100, 0x0001 | (1 << 16) | (0x100 << 20))   # ext cap loop
    put("config", "loops.bin", bytes(loop))


@maker
def make_tlp():
    for name, dws in (("mrd32", (0x00000001, 0x0100000f, 0xfebf1000, 0)),
                      ("mwr64", (0x60000001, 0x010000ff, 0x00000001, 0x00001000)),
                      ("cpld", (0x4a000001, 0x01000004, 0x00000000, 0)),
                      ("cfgrd1", (0x05000001, 0x0000000f, 0x01000010, 0)),
                      ("msg-route-id", (0x32000000, 0x0100007f, 0x02000000, 0)),
                      ("prefix", (0x91000000, 0, 0, 0))):
        put("tlp", name + ".bin", struct.pack("<4I", *dws))


@maker
def make_events():
    """Real kernel logs (the guests' dmesg and makedumpfile's reading of every dump, cut to
    the lines around their PCI events) plus the other kernels' line shapes of
    tests/builders/klog_lines.py, in both input modes of fuzz_events."""
    import subprocess
    import tempfile
    texts = {}
    for sc in scenarios():
        for f in ("dmesg.txt", "makedumpfile-dump-dmesg.txt"):
            p = os.path.join(VMCORES, sc, "ground-truth", f)
            if os.path.exists(p):
                with open(p, "rb") as fh:
                    texts["%s-%s" % (sc, f[:-4])] = fh.read()
        dump = os.path.join(VMCORES, sc, "d31-zlib.kdump")
        if os.path.exists(dump):
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "log")
                if subprocess.run(["makedumpfile", "--dump-dmesg", dump, out],
                                  capture_output=True).returncode == 0:
                    with open(out, "rb") as fh:
                        texts["%s-dump" % sc] = fh.read()
    keep = re.compile(rb"AER|PCIe|pcieport|pciehp|DPC|EDR|recover|panic|sysrq|SysRq|pci_crash|"
                      rb"Kernel command line|RIP|Oops|BUG|NMI|Hardware Error|nvme|timeout|Link")
    for name, text in sorted(texts.items()):
        lines = [l for l in text.splitlines(True) if keep.search(l)]
        put("events", name + ".txt", b"\0" + b"".join(lines))
    import tests.builders.klog_lines as tp
    for name in ("RHEL7", "UBUNTU_415", "V5_FATAL", "V610", "DPC", "DPC_PIO", "GHES_FATAL",
                 "NMI_SERR", "OLD_SYSRQ", "OOPS", "DRIVERS"):
        text = getattr(tp, name).encode()
        put("events", name.lower() + ".txt", b"\0" + text)
        raw = b"\0".join(re.sub(rb"^\[[ 0-9.]+\] ", b"", l) for l in text.splitlines())
        put("events", name.lower() + "-records.bin", b"\1" + raw)


# ------------------------------------------------------------------ captures

def _fixture(name):
    with open(os.path.join(DATA, "captures", name + ".json")) as f:
        meta = json.load(f)
    with open(os.path.join(DATA, "captures", name + ".pages"), "rb") as f:
        raw = f.read()
    ps = meta["page_size"]
    pages = {p: raw[i * ps:(i + 1) * ps] for i, p in enumerate(meta["pfns"])}
    return meta, pages


def _buffer_of(meta, pages):
    """The buffer bytes of a real capture (pagemap layout from the fixture)."""
    from pykdump_ext.capture.buffer import load_capture
    from tests.builders import capture as cb
    r = cb.Reader(pages, page_size=meta["page_size"], vmcoreinfo=meta["vmcoreinfo"],
                  max_pfn=meta["max_pfn"])
    cap = load_capture(r)
    pm = cap.pagemap
    data = b"".join(pages[a // 4096] for a in pm.page_addrs)
    return data[pm.buf_offset:pm.buf_offset + pm.buf_size], pm


def _small_buffers():
    from tests.builders import capture as cb
    recs = cb.qemu_like_records()
    yield "qemu-like", cb.buffer(recs)
    yield "qemu-like-ff", cb.buffer(cb.qemu_like_records(endpoint_ff=True))
    yield "three-small", cb.buffer([cb.record(0, 0, i, 0, cb.config(size=256)) for i in range(3)])
    yield "count-too-big", cb.buffer(recs[:2], device_count=9)
    yield "zero-tail", cb.buffer(recs[:3], size=3 * 4104 + 32 + 5000)


@maker
def make_buffer():
    from fuzz.fuzz_buffer import pack
    for sc in ("aer-uncor", "legacy-unaligned", "layoutB-aer"):
        meta, pages = _fixture(sc)
        buf, pm = _buffer_of(meta, pages)
        for analyse in (True, False):
            put("buffer", "%s%s.bin" % (sc, "" if analyse else "-walk"),
                pack(buf, layout_b=pm.layout == "B", analyse=analyse, buf_offset=pm.buf_offset))
    for name, buf in _small_buffers():
        put("buffer", name + ".bin", pack(buf))
        put("buffer", name + "-walk.bin", pack(buf, analyse=False))
    b = list(_small_buffers())[0][1]
    put("buffer", "qemu-like-missing-page.bin", pack(b, missing=0b10))
    put("buffer", "qemu-like-B.bin", pack(b, layout_b=True, buf_offset=0x40))
    # issue 15 shape 'R': the real first record repeated (duplicate records, one BDF)
    with open(os.path.join(common.corpus_dir("buffer"), "aer-uncor.bin"), "rb") as f:
        real = f.read()
    size = struct.unpack_from("<I", real, 2 + 32 + 4)[0]
    put("buffer", "hostile-aer-uncor-record0-repeated.bin",
        common.shape("R", real, at=2 + 32, span=8 + size, count=1))


def _rehome(meta, pages):
    """The real capture's pages moved to pfns 0.. (pagemap first); returns memory bytes."""
    ps = 4096
    pm_addr = int(meta["vmcoreinfo"]["PCI_CRASH_PAGEMAP"], 16)
    layout_b = json.load(open(os.path.join(DATA, "captures", meta["scenario"] + ".scenario.json"))
                         ).get("pagemap_layout") == "B"
    at = 20 if layout_b else 16
    pm_pfn = pm_addr // ps
    order = [p for p in meta["pfns"]]
    new = {old: i for i, old in enumerate(order)}
    mem = bytearray(b"".join(pages[p] for p in order))
    base = new[pm_pfn] * ps + pm_addr % ps
    n = struct.unpack_from("<I", mem, base + 4)[0]
    for i in range(n):
        a = struct.unpack_from("<Q", mem, base + at + 8 * i)[0]
        if a // ps in new:
            struct.pack_into("<Q", mem, base + at + 8 * i, new[a // ps] * ps + a % ps)
    return new[pm_pfn] * ps + pm_addr % ps, bytes(mem), int(meta["vmcoreinfo"]["PCI_CRASH_BUF_SZ"])


@maker
def make_pagemap():
    from fuzz.fuzz_pagemap import pack
    for sc in ("aer-uncor", "legacy-unaligned", "layoutB-aer", "cor-only"):
        meta, pages = _fixture(sc)
        addr, mem, size = _rehome(meta, pages)
        put("pagemap", sc + ".bin", pack(addr, mem, buf_sz=size))
    meta, pages = _fixture("aer-uncor")
    addr, mem, size = _rehome(meta, pages)
    put("pagemap", "aer-uncor-page3-missing.bin", pack(addr, mem, buf_sz=size, missing=0b1000, status=2))
    # pagemap crossing a page boundary, 16 KiB kernel pages
    put("pagemap", "aer-uncor-16k.bin", pack(addr, mem, buf_sz=size, pagesize=2))
    # issue 15: one bad pagemap entry (unaligned, outside the dump) costs only its page
    for name, value in (("unaligned", 5 * 4096 + 0x80), ("outside", 0x7fff00000000)):
        bent = bytearray(mem)
        struct.pack_into("<Q", bent, addr + 16 + 8 * 5, value)
        put("pagemap", "hostile-aer-uncor-entry5-%s.bin" % name, pack(addr, bytes(bent), buf_sz=size))
    put("pagemap", "hostile-aer-uncor-pointer-outside.bin",
        pack(0x7fff00000380, mem, buf_sz=size))
    # shapes: the buffer pages far from the pagemap (a hole of 2^40 bytes), and the
    # pagemap page's entries repeated (duplicate entries)
    whole = pack(addr, mem, buf_sz=size)
    cut = 16 + 4096 * (addr // 4096 + 1)
    table = struct.pack("<QI", 0, cut) + struct.pack("<QI", cut + (1 << 40), len(whole) - cut)
    put("pagemap", "hostile-aer-uncor-sparse.bin",
        common.shape("S", table + whole, count=2))
    put("pagemap", "hostile-aer-uncor-repeated-entries.bin",
        common.shape("R", whole, at=16 + addr + 16, span=8, count=1))


def _hostile(harness):
    """The issue-15 hostile battery's inputs for `harness` (tests/hostile/battery.py),
    those small enough for a seed."""
    import tempfile
    from tests.hostile import battery as hostile_battery
    if not hostile_battery.have_real():
        return
    with tempfile.TemporaryDirectory() as d:
        for case in hostile_battery.battery(d):
            if case.harness == harness and case.corpus and len(case.data) <= 256 << 10:
                put(harness, "hostile-%s.bin" % case.name.replace("^", ""), case.data)


# ------------------------------------------------------------------ dump files

def _capture_pages(layout="A", base=4):
    """A small byte-built capture at low pfns: ({pfn: page}, vmcoreinfo lines)."""
    buf = list(_small_buffers())[0][1]
    n = -(-len(buf) // 4096)
    pfns = [base + 2 * i for i in range(n)]
    return pci_crash_pages(buf, layout, pfns, pagemap_addr=0x1000 + 0x100)


def _vmcoreinfo(lines):
    return vmcoreinfo_text(["CRASHTIME=1795241199"] + list(lines))


def _real_blobs(path, pfns):
    """{pfn: (flags, stored bytes)} of a real kdump-compressed file."""
    from crash_ext_c.kdump import KdumpReader
    out = {}
    with KdumpReader(path) as r:
        part = r.parts[0]
        idx = part.descriptor_indices(pfns)
        descs = part.descriptors([i for i in idx.values() if i >= 0])
        for pfn, i in idx.items():
            if i < 0:
                continue
            _pos, d = descs[i]
            out[pfn] = (d[2], part.src.pread(d[0], d[1]))
        return out, r.vmcoreinfo


def _kdump_from_blobs(blobs, info_text, max_mapnr, status):
    """A kdump-compressed file whose pages are the given stored blobs (flags kept)."""
    pages = {p: b"\x01" * 4096 for p in blobs}
    raw, lay = build_kdump(pages, max_mapnr=max_mapnr, dump_level=30, compress=None,
                                       vmcoreinfo=info_text)
    head = bytearray(raw[:lay.desc_off])
    struct.pack_into("<I", head, 424, status)
    descs, data = bytearray(), bytearray()
    for pfn in sorted(blobs):
        flags, blob = blobs[pfn]
        descs += struct.pack("<qIIQ", lay.data_off + len(data), len(blob), flags, 0)
        data += blob
    return bytes(head) + bytes(descs) + bytes(data)


def _real_dump(sc, name):
    p = os.path.join(VMCORES, sc, name)
    return p if os.path.exists(p) else None


def _put_head(harness, name, path, size):
    """The first `size` bytes of a real dump file as a seed (its real headers; the pages
    beyond are cut off), when the file is there."""
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            put(harness, name, f.read(size))


def _lzo_dump():
    for d in (os.path.join(ROOT, ".cache", "kdump-variants"),):
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                if f.startswith("lzo-d31") and "flat" not in f:
                    return os.path.join(d, f)
    import subprocess
    elf = os.path.join(ROOT, ".cache", "aer-uncor-vmcore.elf")
    out = "/tmp/pcicrash-fuzz-lzo.kdump"
    if not os.path.exists(out):
        subprocess.run(["makedumpfile", "-l", "-d", "31", elf, out], check=True,
                       capture_output=True)
    return out


def _real_codec_dumps():
    meta, _pages = _fixture("aer-uncor")
    pfns = meta["pfns"]
    srcs = [("zlib", _real_dump("aer-uncor", "d31-zlib.kdump"), 1),
            ("snappy", _real_dump("aer-uncor", "d31-snappy.kdump"), 4),
            ("zstd", _real_dump("aer-uncor", "d31-zstd.kdump"), 0x20),
            ("lzo", _lzo_dump(), 2)]
    for codec, path, bit in srcs:
        blobs, info = _real_blobs(path, pfns)
        yield codec, blobs, info, bit


@maker
def make_pages():
    from fuzz.fuzz_pages import pack
    for codec, blobs, _info, _bit in _real_codec_dumps():
        for pfn in sorted(blobs)[:3]:
            flags, blob = blobs[pfn]
            put("pages", "%s-%x.bin" % (codec, pfn), pack(flags, blob, count=3))
    import zlib
    put("pages", "stored.bin", pack(0, bytes(range(256)) * 16))
    put("pages", "zlib-16k.bin", pack(1, zlib.compress(bytes(16384)), shift=4))
    put("pages", "zlib-bomb.bin", pack(1, zlib.compress(bytes(1 << 20), 9)))


@maker
def make_kdump():
    meta, _ = _fixture("aer-uncor")
    info_lines = "".join("%s=%s\n" % kv for kv in meta["vmcoreinfo"].items()).encode()
    for codec, blobs, _info, bit in _real_codec_dumps():
        put("kdump", "real-%s-capture-pages.kdump" % codec,
            _kdump_from_blobs(blobs, info_lines, 4096, bit))
    pages, lines = _capture_pages()
    info = _vmcoreinfo(lines)
    pages[9] = bytes(4096)            # a zero page
    variants = {
        "v6-x86_64": {},
        "v1": dict(version=1),
        "v3": dict(version=3),
        "i686-32pack": dict(word=32),
        "arm-32pad": dict(word=32, sub_layout="32pad"),
        "ppc64-be": dict(endian=">", machine="ppc64"),
        "diskdump": dict(signature=b"DISKDUMP", version=0),
        "incomplete": dict(incomplete=True),
        "d0-raw": dict(dump_level=0, compress=None),
        "eraseinfo": dict(eraseinfo=b"erase pci_crash_buffer size 64\n"),
        "split-part": dict(split=(0, 8)),
    }
    for name, kw in variants.items():
        raw, _lay = build_kdump(pages, max_mapnr=64, vmcoreinfo=info, **kw)
        put("kdump", "synth-%s.kdump" % name, raw)
    _put_head("kdump", "real-d31-zlib-head-48k.kdump", _real_dump("aer-uncor", "d31-zlib.kdump"), 48 << 10)
    _hostile("kdump")


@maker
def make_split():
    from fuzz.fuzz_split import pack
    pages, lines = _capture_pages()
    info = _vmcoreinfo(lines)
    a, _ = build_kdump(pages, max_mapnr=64, vmcoreinfo=info, split=(0, 8))
    b, _ = build_kdump(pages, max_mapnr=64, vmcoreinfo=info, split=(8, 64))
    put("split", "two-parts.bin", pack(a, b))
    put("split", "two-parts-reversed.bin", pack(b, a))
    c, _ = build_kdump(pages, max_mapnr=64, vmcoreinfo=info, split=(4, 64))
    put("split", "overlapping.bin", pack(a, c))
    d, _ = build_kdump(pages, max_mapnr=64, vmcoreinfo=info, split=(16, 64))
    put("split", "gap.bin", pack(a, d))


@maker
def make_flat():
    pages, lines = _capture_pages()
    info = _vmcoreinfo(lines)
    raw, _ = build_kdump(pages, max_mapnr=64, vmcoreinfo=info)
    put("flat", "synth-shuffled.flat", flatten(raw, seed=1))
    put("flat", "synth-in-order.flat", flatten(raw, chunk=4096, shuffle=False))
    recs = [(0, raw), (4096, raw[4096:12288]), (100, raw[100:5000])]
    put("flat", "synth-overlapping.flat", flat_records(recs))
    for _codec, blobs, _info, bit in list(_real_codec_dumps())[:1]:
        meta, _ = _fixture("aer-uncor")
        info_lines = "".join("%s=%s\n" % kv for kv in meta["vmcoreinfo"].items()).encode()
        put("flat", "real-zlib-capture.flat",
            flatten(_kdump_from_blobs(blobs, info_lines, 4096, bit), seed=2))
    _put_head("flat", "real-head-16k.flat", _real_dump("aer-uncor", "d31-zlib.flat"), 16 << 10)
    _hostile("flat")


@maker
def make_elf():
    import tempfile
    pages, lines = _capture_pages()
    with tempfile.TemporaryDirectory() as d:
        for name, kw in (("proc-vmcore", dict(loads=[(0, 20 * 4096, 20 * 4096)])),
                         ("E-tail", dict(loads=[(0, 20 * 4096, 12 * 4096)], page_aligned=False)),
                         ("two-loads-overlap", dict(loads=[(0, 12 * 4096, 12 * 4096),
                                                           (8 * 4096, 12 * 4096, 12 * 4096)])),
                         ("xnum", dict(loads=[(0, 20 * 4096, 20 * 4096)], xnum=True)),
                         ("vmcoredd", dict(loads=[(0, 20 * 4096, 20 * 4096)],
                                           extra_notes=[("LINUX", 0x700, b"nvme0".ljust(44, b"\0") + b"x" * 20),
                                                        ("ERASEINFO", 0, b"erase x size 4\n")]))):
            p = os.path.join(d, name)
            write_elf(p, pages, vmcoreinfo_lines=["CRASHTIME=1795241199"] + lines, **kw)
            with open(p, "rb") as f:
                raw = f.read()
            put("elf", "synth-%s.elf" % name, raw)
    for src, n in ((os.path.join(ROOT, ".cache", "aer-uncor-vmcore.elf"), 12 << 10),
                   (os.path.join(ROOT, ".cache", "aer-uncor-E-d31.elf"), 12 << 10)):
        _put_head("elf", "real-%s-head.elf" % os.path.basename(src)[10:-4], src, n)
    _hostile("elf")


def _klog_seed(info, pages, statuses=None):
    """A fuzz_klog input holding only the pages the log reader touches (plus statuses)."""
    from fuzz import fuzz_klog
    from pykdump_ext.kernel.klog.reader import read_kernel_log
    from crash_ext_c.reader import PageDictReader
    log = read_kernel_log(PageDictReader(pages, vmcoreinfo=info))
    keep = {p: pages[p] for p in log.pfns}
    text = "".join("%s=%s\n" % kv for kv in info.items()).encode()
    return fuzz_klog.pack(text, keep, statuses)


KLOG_KEYS = ("prb", "printk", "atomic_long", "phys_base", "pgt", "pgtable", "KERNEL", "_stext",
             "swapper", "sme_mask", "OSRELEASE", "PAGESIZE", "log_", "clear_idx")


@maker
def make_klog():
    from crash_ext_c.open import open_dump
    from pykdump_ext.kernel.klog.reader import read_kernel_log
    from tests.builders import klog as kb
    for sc in ("debian-distro-aer", "vanilla-aer"):
        path = os.path.join(VMCORES, sc, "d31-zlib.kdump")
        if not os.path.exists(path):
            continue
        with open_dump([path]) as r:
            log = read_kernel_log(r)
            pages = r.read_pages(sorted(log.pfns))
            info = {k: v for k, v in r.vmcoreinfo.items() if any(w in k for w in KLOG_KEYS)}
        put("klog", "real-%s.bin" % sc, _klog_seed(info, pages))

    def recs(n, width=23):
        return [kb.Rec(10 ** 6 * i + 7, "pcieport 0000:00:%02x.0: AER: line %d %s"
                       % (i % 32, i, "x" * (i % width))) for i in range(n)]
    for name, levels, where in (("x86-image", 4, "image"), ("x86-walk", 4, "direct"),
                                ("x86-5level", 5, "direct")):
        po = 0xFF11000000000000 if levels == 5 else 0xFFFF8F2A00000000
        k = kb.X86Kernel(levels=levels, page_offset=po)
        prb = kb.Prb(5, 11)
        for r in recs(90) + [kb.Rec(99, bytes(range(256))), kb.Rec(100, b"a\nb")]:
            prb.add(r)
        if where == "image":
            k.place_prb(prb)
        else:
            k.write_vmalloc(0xFFFFC90000400000, bytes(prb.data), [0x9000])
            k.place_prb(prb, descs=po + 0x6000000, infos=po + 0x6100000,
                        data=0xFFFFC90000400000)
        put("klog", "synth-%s.bin" % name, _klog_seed(k.info(), k.mem.frozen()))
    for caller in (False, True):
        k = kb.X86Kernel(release="4.18.0-synth")
        lb = kb.LogBuf(4096, caller=caller)
        for i, r in enumerate(recs(80)):
            lb.add(r, b"SUBSYSTEM=pci\0DEVICE=+pci:0000:00:1c.0" if i % 4 == 0 else b"")
        k.place_log_buf(lb)
        put("klog", "synth-logbuf%s.bin" % ("-caller" if caller else ""),
            _klog_seed(k.info(), k.mem.frozen()))
    for name, va_bits, flipped in (("arm64-48", 48, True), ("arm64-39-pre5.4", 39, False)):
        k = kb.Arm64Kernel(va_bits=va_bits, flipped=flipped)
        prb = kb.Prb(5, 11)
        for r in recs(90):
            prb.add(r)
        k.place_prb(prb)
        put("klog", "synth-%s.bin" % name, _klog_seed(k.info(), k.mem.frozen()))
    # a filtered text page: the seed keeps its status
    k = kb.X86Kernel()
    prb = kb.Prb(6, 13)
    for r in recs(200, 60):
        prb.add(r)
    a = k.place_prb(prb)
    pages = k.mem.frozen()
    gone = k.v2p(a["data"]) // 4096 + 1
    seed = _klog_seed(k.info(), pages)
    from fuzz import fuzz_klog
    text, kept, _ = fuzz_klog.unpack(seed)
    kept.pop(gone, None)
    put("klog", "synth-excluded-page.bin", fuzz_klog.pack(text, kept, {gone: 1}))


def main(argv):
    for name in argv or sorted(MAKERS):
        MAKERS[name]()
        files = common.corpus_files(name)
        print("%-12s %3d files %8d bytes" % (name, len(files), sum(os.path.getsize(p) for p in files)))


if __name__ == "__main__":
    main(sys.argv[1:])
