"""config.decode() on hostile bytes: loops, wild pointers, 0xFF, truncation, random data."""

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from tests.shared import DATA
from pykdump_ext.pci import config, lspci_hex, regs
from pykdump_ext.output import tlp_view

DEVS = lspci_hex.parse_lspci_hex((DATA / "lspci" / "aer-uncor" / "lspci-xxxx.txt").read_text())
ROOT_PORT = DEVS["0000:00:02.0"]        # caps 0x54 -> 0x48 -> 0x40; ext 0x100 (AER) -> 0x148 (ACS)
E1000 = DEVS["0000:07:01.0"]            # conventional PCI, 256 bytes


def patched(raw, off, data):
    b = bytearray(raw)
    b[off:off + len(data)] = data
    return bytes(b)


def test_reference_device_shape():
    cfg = config.decode(ROOT_PORT)
    assert [c.offset for c in cfg.caps] == [0x54, 0x48, 0x40]
    assert [c.offset for c in cfg.ext_caps] == [0x100, 0x148]


def test_std_cap_cycle_terminates_with_problem():
    raw = patched(ROOT_PORT, 0x41, b"\x54")          # last cap (0x40) points back to the first
    cfg = config.decode(raw)
    assert [c.offset for c in cfg.caps] == [0x54, 0x48, 0x40]
    assert any("loops" in p and "0x41" in p and "0x54" in p for p in cfg.problems), cfg.problems
    assert cfg.pcie is not None and cfg.aer is not None   # what could be read still is


def test_std_cap_self_loop():
    cfg = config.decode(patched(ROOT_PORT, 0x55, b"\x54"))
    assert [c.offset for c in cfg.caps] == [0x54]
    assert any("loops" in p and "0x54" in p for p in cfg.problems)


def test_std_cap_pointer_masking_like_lspci():
    # lspci ignores the low two bits of a pointer; so do we, and a masked pointer is no problem
    cfg = config.decode(patched(ROOT_PORT, 0x34, b"\x57"))
    assert [c.offset for c in cfg.caps] == [0x54, 0x48, 0x40] and cfg.problems == []


def test_std_cap_pointer_into_header():
    cfg = config.decode(patched(ROOT_PORT, 0x49, b"\x10"))
    assert [c.offset for c in cfg.caps] == [0x54, 0x48]
    assert any("0x49" in p and "0x10" in p and ">= 0x40" in p for p in cfg.problems), cfg.problems


def test_std_cap_pointer_beyond_truncated_buffer():
    cfg = config.decode(ROOT_PORT[:0x50])
    assert any("0x34" in p and "0x54" in p and "beyond" in p for p in cfg.problems), cfg.problems
    assert any("80 bytes" in p for p in cfg.problems)


def test_std_cap_id_ff_is_broken_chain():
    cfg = config.decode(patched(ROOT_PORT, 0x48, b"\xff"))
    assert [c.offset for c in cfg.caps] == [0x54]
    assert any("0x48" in p and "broken" in p for p in cfg.problems)


def test_ext_cap_cycle_terminates_with_problem():
    hdr = int.from_bytes(ROOT_PORT[0x148:0x14C], "little")
    raw = patched(ROOT_PORT, 0x148, ((hdr & 0xFFFFF) | 0x100 << 20).to_bytes(4, "little"))
    cfg = config.decode(raw)
    assert [c.offset for c in cfg.ext_caps] == [0x100, 0x148]
    assert any("loops" in p and "0x148" in p and "0x100" in p for p in cfg.problems), cfg.problems


def test_ext_cap_self_loop_and_low_pointer():
    hdr = int.from_bytes(ROOT_PORT[0x100:0x104], "little")
    cfg = config.decode(patched(ROOT_PORT, 0x100, ((hdr & 0xFFFFF) | 0x100 << 20).to_bytes(4, "little")))
    assert [c.offset for c in cfg.ext_caps] == [0x100]
    assert any("loops" in p for p in cfg.problems)
    cfg = config.decode(patched(ROOT_PORT, 0x100, ((hdr & 0xFFFFF) | 0x0C0 << 20).to_bytes(4, "little")))
    assert any("0x0c0" in p and "below 0x100" in p for p in cfg.problems), cfg.problems


def test_ext_cap_pointer_beyond_truncated_buffer():
    cfg = config.decode(ROOT_PORT[:0x140])
    assert [c.offset for c in cfg.ext_caps] == [0x100]
    assert any("0x148" in p and "beyond" in p for p in cfg.problems), cfg.problems


def test_ext_cap_long_chain_is_bounded():
    # every dword from 0x100 a header pointing to the next one: long, legal, finite
    b = bytearray(ROOT_PORT)
    for off in range(0x100, 0x1000, 4):
        nxt = off + 4 if off + 4 < 0x1000 else 0
        b[off:off + 4] = (0x000B | 1 << 16 | nxt << 20).to_bytes(4, "little")
    cfg = config.decode(bytes(b))
    assert len(cfg.ext_caps) == (0x1000 - 0x100) // 4


def test_all_ff_records():
    for size in (256, 4096):
        cfg = config.decode(b"\xff" * size)
        assert cfg.all_ff and cfg.vendor_id == 0xFFFF
        assert cfg.caps == [] and cfg.ext_caps == [] and cfg.pcie is None and cfg.aer is None
        assert len(cfg.problems) == 1 and "0xff" in cfg.problems[0]


def test_all_zero_record():
    cfg = config.decode(bytes(4096))
    assert cfg.all_zero and not cfg.all_ff and cfg.problems


def test_failed_dwords_are_named():
    raw = patched(ROOT_PORT, 0x104, b"\xff" * 4)       # AER Uncorrectable Error Status unreadable
    cfg = config.decode(raw)
    assert cfg.ff_dwords == [0x104]
    assert any("0x104" in p and "0xffffffff" in p for p in cfg.problems)
    assert cfg.aer.uncor_errors == []                 # not 32 invented errors


@pytest.mark.parametrize("length", [0, 1, 2, 5, 0x0E, 0x0F, 0x30, 0x40, 0x56, 0x60, 0x80, 0x90,
                                    0xFF, 0x100, 0x101, 0x104, 0x10A, 0x120, 0x13C, 0x14A, 0x800, 0xFFF])
def test_truncated_buffers(length):
    for src in (ROOT_PORT, E1000):
        cfg = config.decode(src[:length])
        assert cfg.size == min(length, len(src))
        if cfg.size not in (256, 4096):
            assert cfg.problems                  # a short buffer is always said
            assert any(str(cfg.size) in p for p in cfg.problems)
        assert all(isinstance(p, str) for p in cfg.problems)


@pytest.mark.parametrize("junk", [None, "text", 12, [1, 2, 3], bytearray(b"\x86\x80"), memoryview(b"\x86\x80")])
def test_non_bytes_input(junk):
    cfg = config.decode(junk)
    assert isinstance(cfg, config.Config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=4096))
def test_random_bytes_never_raise(data):
    cfg = config.decode(data)
    assert isinstance(cfg.problems, list)
    assert len(cfg.caps) <= 48 and len(cfg.ext_caps) <= 960
    assert not any(p.startswith("internal decode error") for p in cfg.problems), cfg.problems


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([ROOT_PORT, E1000, DEVS["0000:01:00.0"], DEVS["0000:06:00.0"]]),
       st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=40),
       st.integers(0, 4096))
def test_mutated_real_devices_never_raise(src, edits, cut):
    b = bytearray(src)
    for off, val in edits:
        if off < len(b):
            b[off] = val
    cfg = config.decode(bytes(b[:cut]))
    assert not any(p.startswith("internal decode error") for p in cfg.problems), cfg.problems
    offs = [c.offset for c in cfg.caps]
    assert len(offs) == len(set(offs))
    eoffs = [c.offset for c in cfg.ext_caps]
    assert len(eoffs) == len(set(eoffs))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=64, max_size=64), st.integers(0, 255), st.sampled_from([0, 1, 2, 0x80, 0x81, 0x7F]))
def test_random_headers_with_cap_lists(head, ptr, htype):
    b = bytearray(head + bytes(range(192)) * 1)
    b[regs.STATUS] |= 0x10
    b[regs.HEADER_TYPE] = htype
    b[regs.CAPABILITY_LIST] = ptr
    b[regs.T2_CAPABILITY_LIST] = ptr
    cfg = config.decode(bytes(b))
    assert not any(p.startswith("internal decode error") for p in cfg.problems), cfg.problems


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 0xFFFFFFFF), min_size=0, max_size=6), st.integers(0, 0xFFFF))
def test_random_tlp_headers_never_raise(dwords, domain):
    from pykdump_ext.pci import tlp
    t = tlp.decode(dwords)
    if t is None:
        assert not any(dwords[:4])
    else:
        assert tlp_view.lines(t, domain)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([ROOT_PORT, E1000, DEVS["0000:01:00.0"]]),
       st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=60),
       st.integers(0, 4096))
def test_describe_mutated_devices_never_raise(src, edits, cut):
    from pykdump_ext.output import device_text
    b = bytearray(src)
    for off, val in edits:
        if off < len(b):
            b[off] = val
    lines = device_text.describe(config.decode(bytes(b[:cut])), bdf="0000:00:02.0")
    assert lines and lines[0].startswith("0000:00:02.0")


@pytest.mark.parametrize("length", range(0x101, 0x104))
def test_ext_header_cut_off(length):
    cfg = config.decode(ROOT_PORT[:length])
    assert any("0x100" in p and "cut off" in p for p in cfg.problems), cfg.problems
    assert not any(p.startswith("internal") for p in cfg.problems)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0x00, 0xFF, 0xFF, 0xFF, 0x01]), max_size=80))
def test_ff_dword_offsets_match_a_plain_scan(vals):
    raw = bytes(vals)
    want = [o for o in range(0, len(raw) - 3, 4) if raw[o:o + 4] == b"\xff" * 4]
    assert config._ff_dwords(raw) == want


@pytest.mark.parametrize("block", ["_HEADER", "_T1", "_T2"])
def test_register_blocks_cut_like_single_reads(block):
    """A register block read at any cut gives, register by register, what a bounds-checked
    single read gives: the value when it fits below the limit, else None."""
    blk = getattr(config, block)
    fmts = blk.struct.format.lstrip("<")
    sizes = {"B": 1, "H": 2, "I": 4}
    regs_ = []          # (rel, size) from the struct format
    pos, num = 0, ""
    for ch in fmts:
        if ch.isdigit():
            num += ch
        elif ch == "x":
            pos += int(num or 1)
            num = ""
        else:
            regs_.append((pos, sizes[ch]))
            pos += sizes[ch]
            num = ""
    raw = bytes(range(7, 7 + 0x80)) * 4
    for off in (0, 0x40, 0x101):
        for limit in range(off, off + blk.size + 2):
            got = list(blk.read(raw, off, limit))
            want = [int.from_bytes(raw[off + r:off + r + n], "little") if off + r + n <= limit else None
                    for r, n in regs_]
            assert got == want, (block, off, limit)


@pytest.mark.parametrize("mod,names", [("pcie", ("FLAGS", "DEVCAP", "LNKSTA", "RTSTA", "LNKSTA2")),
                                       ("aer", ("UESTA", "AERCAP", "ROOTSTA", "SRC_UNCOR")),
                                       ("dpc", ("DPCCAP", "SOURCE"))])
def test_capability_registers_cut_like_single_reads(mod, names):
    """The PCIe/AER/DPC registers (formerly config._EXP/_AER/_DPC blocks) read through the
    caps accessor at any cut: the value when the register fits below the limit, else None."""
    import importlib
    from pykdump_ext.pci.caps.access import Access
    m = importlib.import_module("pykdump_ext.pci.caps." + mod)
    raw = bytes(range(7, 7 + 0x80)) * 4
    for name in names:
        spec = getattr(m, name)
        for off in (0, 0x40, 0x101):
            for limit in range(off, off + spec.rel + spec.size + 2):
                got = spec.read(Access(raw, limit), off)
                end = off + spec.rel + spec.size
                want = int.from_bytes(raw[off + spec.rel:end], "little") if end <= limit else None
                assert (got.value if got is not None else None) == want, (name, off, limit)
