"""The capability registry itself: its tables are consistent data, every decoder survives any
bytes at any cut, results are shared only between equal inputs, JSON carries every field."""

from __future__ import annotations

import importlib
import json
import pkgutil
import random
import struct

import pytest

from pykdump_ext.pci import caps, config
from pykdump_ext.output import device_text, report_json
from pykdump_ext.pci.caps.model import Reg, Register, parse_fields
from pykdump_ext.pci.caps.registry import REGISTRY, Ctx, decode_cap

# registers whose fields overlap on purpose: one bit, two meanings by port type (DevCtl bit 15:
# Bridge Configuration Retry Enable / Initiate FLR) or by HyperTransport interface type
SHARED_BITS = {"DevCtl", "Command"}


def _all_registers():
    out = []
    for m in pkgutil.iter_modules(caps.__path__):
        mod = importlib.import_module("pykdump_ext.pci.caps." + m.name)
        for name, v in vars(mod).items():
            items = v if isinstance(v, tuple) else (v,)
            out += [(m.name, name, r) for r in items if isinstance(r, Register)]
    return out


def test_register_tables_are_consistent():
    regs = _all_registers()
    assert len(regs) > 150
    for mod, name, r in regs:
        assert r.size in (1, 2, 4, 8), (mod, name)
        names = [f.name for f in r.fields]
        assert len(names) == len(set(names)), (mod, name, names)
        used = 0
        for f in r.fields:
            assert f.width >= 1 and f.lo + f.width <= 8 * r.size, (mod, name, f)
            if r.name not in SHARED_BITS:
                assert not used & f.mask, (mod, name, f)
            used |= f.mask


def test_field_spec_syntax():
    f = parse_fields("A@0 B-c/d@3:2 <X@31")
    assert [(x.name, x.lo, x.width, x.mask) for x in f] == [
        ("A", 0, 1, 1), ("B-c/d", 3, 2, 0x18), ("<X", 31, 1, 1 << 31)]


def _with_cap(kind, cid, body):
    """A 4096-byte type-0 config space holding one capability (`body` after its header)."""
    b = bytearray(4096)
    struct.pack_into("<HHHH", b, 0, 0x1af4, 0x1041, 0x0006, 0x0010)
    b[0x0B] = 0x02
    if kind == "std":
        b[0x34] = 0x40
        b[0x40], b[0x41] = cid, 0
        b[0x42:0x42 + len(body)] = body[:0xBE]
    else:
        b[0x34] = 0x40                     # a PCIe capability so the extended space is in use
        b[0x40:0x44] = bytes((0x10, 0, 0x02, 0))
        struct.pack_into("<I", b, 0x100, cid | 1 << 16)
        b[0x104:0x104 + len(body)] = body[:0xEFC]
    return bytes(b)


@pytest.mark.parametrize("key", sorted(k for k, s in REGISTRY.items() if s.decode is not None))
def test_every_decoder_survives_any_bytes_at_any_cut(key):
    """Random register contents (seeded) and the space cut short at every 4 bytes through the
    capability: the decode never raises, never reports an internal error, and -a and the JSON
    render it."""
    kind, cid = key
    rng = random.Random("%s-%x" % key)
    start = 0x40 if kind == "std" else 0x100
    for trial in range(6):
        body = bytes(rng.getrandbits(8) for _ in range(0x200))
        raw = _with_cap(kind, cid, body)
        for cut in list(range(start, start + 0x48, 4)) + [256, 4096]:
            cfg = config.decode(raw[:cut])
            assert not any("internal" in p for p in cfg.problems), (key, trial, cut, cfg.problems)
            text = device_text.describe(cfg, bdf="0000:01:00.0")
            assert not any("internal error" in l for l in text), (key, trial, cut)
            for c in cfg.capabilities:
                json.loads(report_json.cap_json(c))


def test_results_are_shared_only_between_equal_inputs():
    raw = _with_cap("ext", 0x0003, struct.pack("<II", 0x11223344, 0x55667788))
    a = decode_cap(raw, "ext", 3, 0x100, 1, Ctx())
    assert decode_cap(raw, "ext", 3, 0x100, 1, Ctx()) is a
    assert a.info["serial"] == "55-66-77-88-11-22-33-44"
    other = _with_cap("ext", 0x0003, struct.pack("<II", 0x11223345, 0x55667788))
    assert decode_cap(other, "ext", 3, 0x100, 1, Ctx()).info["serial"] == "55-66-77-88-11-22-33-45"
    # the context is part of the key: a root port's AER has root registers, an endpoint's not
    aer = _with_cap("ext", 0x0001, bytes(0x40))
    rp = decode_cap(aer, "ext", 1, 0x100, 1, Ctx(port_type=4))
    ep = decode_cap(aer, "ext", 1, 0x100, 1, Ctx(port_type=0))
    assert "RootSta" in rp.regs and "RootSta" not in ep.regs


def test_config_attributes_come_from_the_registry():
    """config.Config keeps its typed views (pcie, aer, dpc) and holds every decoded capability."""
    raw = bytearray(_with_cap("ext", 0x0001, struct.pack("<IIIII", 1 << 14, 0, 0, 1, 0)))
    struct.pack_into("<H", raw, 0x42, 0x0002)        # PCIe v2 endpoint
    cfg = config.decode(bytes(raw))
    assert [c.name for c in cfg.capabilities] == ["Express", "Advanced Error Reporting"]
    assert cfg.pcie is not None and cfg.pcie.cap is cfg.capability("std", 0x10)
    assert cfg.aer.cap is cfg.capability("ext", 0x0001)
    assert [e.short for e in cfg.aer.uncor_errors] == ["CmpltTO"]
    assert cfg.capability("ext", 0x0001).r("UESta")["CmpltTO"] is True
    assert cfg.capability("ext", 0x0001).r("CESta").flag("RxErr", "BadTLP") == "RxErr+ BadTLP-"


def test_lnkctl2_target_speed_zero_is_words_not_a_code():
    """LnkCtl2 Target Link Speed 0 is '2.5GT/s' (a port that supports 2.5GT/s only), never
    'code 0'; the VirtIO structures are decoded, not only named."""
    b = bytearray(4096)
    struct.pack_into("<HHHH", b, 0, 0x1af4, 0x1041, 0x0006, 0x0010)
    b[0x34] = 0x40
    b[0x40:0x44] = bytes((0x10, 0x50, 0x42, 0))       # PCIe v2 root port, next cap at 0x50
    b[0x50:0x60] = bytes((0x09, 0, 16, 1, 2, 0, 0, 0)) + struct.pack("<II", 0x3000, 0x1000)
    text = "\n".join(device_text.describe(config.decode(bytes(b)), bdf="0000:00:00.0"))
    assert "LnkCtl2: Target Link Speed: 2.5GT/s," in text and "code 0" not in text
    assert "Vendor Specific Information: VirtIO: CommonCfg" in text
    assert "BAR=2 offset=00003000 size=00001000" in text


def test_sharing_key_covers_every_byte_a_decoder_reads():
    """For every decoder: changing any one byte inside the config space that the decoder reads
    (found by flipping bytes beyond its span) never returns the other input's shared result."""
    rng = random.Random(11)
    for (kind, cid), s in sorted(REGISTRY.items()):
        if s.decode is None:
            continue
        start = 0x40 if kind == "std" else 0x100
        limit = 256 if kind == "std" else 4096
        body = bytes(rng.getrandbits(8) for _ in range(0x400))
        raw = _with_cap(kind, cid, body)
        base = decode_cap(raw, kind, cid, start, None if kind == "std" else 1, Ctx(), end=limit)
        want = json.dumps(report_json.cap_dict(base), default=str)
        for pos in range(start + s.span, min(limit, start + s.span + 0x40)):
            other = bytearray(raw)
            other[pos] ^= 0xFF
            got = decode_cap(bytes(other), kind, cid, start, None if kind == "std" else 1, Ctx(), end=limit)
            if got is base:
                # shared: then a fresh decode of the changed bytes must say the same
                from pykdump_ext.pci.caps.registry import clear_caches
                clear_caches()
                fresh = decode_cap(bytes(other), kind, cid, start, None if kind == "std" else 1, Ctx(),
                                   end=limit)
                assert json.dumps(report_json.cap_dict(fresh), default=str) == want, (kind, hex(cid), hex(pos))
                base = decode_cap(raw, kind, cid, start, None if kind == "std" else 1, Ctx(), end=limit)


def test_vc_arbitration_tables_are_decoded():
    """The VC Arbitration Table (4 bits a phase) and a Port Arbitration Table (PATEntryBits a
    phase), which lspci shows as '<?>', are read at their offsets for the selected WRR."""
    body = bytearray(0x200)
    struct.pack_into("<I", body, 0x00, 1 << 10)            # +4 Caps: PATEntryBits=1 -> 2 bits, 1 VC
    struct.pack_into("<I", body, 0x04, 0x02 | 4 << 24)     # +8 Arb: WRR32, VAT at +0x40
    struct.pack_into("<H", body, 0x08, 1 << 1)             # +0xc Ctrl: ArbSelect=WRR32
    struct.pack_into("<I", body, 0x0C, 0x02 | 8 << 24)     # +0x10 VC0 Caps: WRR32, PAT at +0x80
    struct.pack_into("<I", body, 0x10, 1 << 17 | 0xFF)     # +0x14 VC0 Ctrl: ArbSelect=WRR32
    body[0x3C:0x3C + 16] = bytes(range(16))                # VAT: 32 phases x 4 bits
    body[0x7C:0x7C + 8] = bytes((0x1B,) * 8)               # PAT: 32 phases x 2 bits: 3,2,1,0,...
    cfg = config.decode(_with_cap("ext", 0x0002, bytes(body)))
    vc = cfg.capability("ext", 0x0002)
    assert vc.info["vc_arbitration_table"][:4] == [0, 0, 1, 0]
    assert vc.entries[0].info["port_arbitration_table"][:4] == [3, 2, 1, 0]
    text = "\n".join(device_text.describe(cfg, bdf="0000:01:00.0"))
    assert "Port Arbitration Table (port by phase) 0-31: 3 2 1 0" in text


def test_field_cache_is_not_fooled_by_a_freed_register_spec():
    """Decoders build specs per entry (IDE streams, Resizable BARs, DVSEC blocks): a freed
    spec's id() is soon another spec's; its cached fields must not be."""
    ids = set()
    for _ in range(50):     # the case arises: CPython hands freed memory straight back
        t = Register("T", 0, 4)
        ids.add(id(t))
        del t
    assert len(ids) < 50
    for i in range(200):
        a = Register("A%d" % i, 0, 4)
        assert Reg(a, 0, 0).fields() == {}
        del a
        b = Register("B%d" % i, 0, 4, "X@0 Y@1:3")
        assert Reg(b, 0, 0).fields() == {"X": False, "Y": 0}


def test_pcix_on_a_cardbus_header_is_named_not_a_text_error():
    """lspci words PCI-X for header types 0 and 1 only (it prints the bare 'Capabilities: [40] '
    for a CardBus bridge); the wording is the heading alone, never an empty list the device
    view cannot take (it showed 'decode text incomplete: internal error IndexError')."""
    b = bytearray(256)
    struct.pack_into("<HHHH", b, 0, 0x104c, 0xac56, 0x0007, 0x0010)
    b[0x0A], b[0x0B], b[0x0E] = 0x07, 0x06, 0x02
    b[0x14] = 0x40                                  # the CardBus capability pointer
    b[0x40:0x48] = bytes((0x07, 0x00, 0x03, 0x00, 0x08, 0x01, 0x00, 0x00))
    text = device_text.describe(config.decode(bytes(b)), bdf="0000:01:00.0")
    assert text[-1] == "\tCapabilities: [40] PCI-X"
    assert not any("internal error" in line for line in text)


def test_a_capability_cut_before_its_registers_is_worded_by_its_heading_alone():
    """text_for(needs=): the registry words a result without the register its texter needs
    as lspci words a capability it cannot read, and never calls the texter."""
    from pykdump_ext.pci.caps.registry import text
    raw = _with_cap("ext", 0x001E, bytes(0x10))
    for cut, want in ((0x10C, ["L1 PM Substates", "\t<unreadable>"]),
                      (0x110, ["L1 PM Substates", "\tL1SubCap: PCI-PM_L1.2- PCI-PM_L1.1- ASPM_L1.2- ASPM_L1.1- "
                                                  "L1_PM_Substates-", "\tL1SubCtl1: PCI-PM_L1.2- PCI-PM_L1.1- "
                                                  "ASPM_L1.2- ASPM_L1.1-", "\tL1SubCtl2:"])):
        c = decode_cap(raw[:cut], "ext", 0x1E, 0x100, 1, Ctx())
        assert text(c, Ctx()) == want, cut
    acs = _with_cap("ext", 0x000D, struct.pack("<HH", 0x7F, 0x01))
    assert text(decode_cap(acs[:0x107], "ext", 0x0D, 0x100, 1, Ctx()), Ctx()) == ["Access Control Services"]
    assert text(decode_cap(acs, "ext", 0x0D, 0x100, 1, Ctx()), Ctx())[2].startswith("\tACSCtl:\tSrcValid+ TransBlk-")
