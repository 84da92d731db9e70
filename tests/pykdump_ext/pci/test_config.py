"""config.decode() on the guests' real config spaces, cross-checked with lspci's own decode.

Reference: each scenario's ground truth (the guest's `lspci -xxxx` bytes and
`lspci -vvv -nn` text, pciutils 3.9).  Byte-built variants of real devices are
checked against the installed `lspci -F` on the same bytes, so no expected
value below is worked out by hand or copied from our own output.
"""

import random
import re
import subprocess

import pytest

from tests.shared import DATA, SCENARIOS, needs_lspci
from pykdump_ext.pci import config, lspci_hex, regs

LSPCI_DATA = DATA / "lspci"

_FLAG = re.compile(r"(\S+?)([+-])(?=\s|,|$)")
_CAP = re.compile(r"^\tCapabilities: \[([0-9a-f]+)(?: v(\d+))?\] (.*)$")


def scenario_devices(scenario):
    d = LSPCI_DATA / scenario
    devs = lspci_hex.parse_lspci_hex((d / "lspci-xxxx.txt").read_text())
    text = lspci_hex.split_lspci_verbose((d / "lspci-vvv-nn.txt").read_text())
    return devs, text


def all_devices():
    for sc in SCENARIOS:
        devs, text = scenario_devices(sc)
        for bdf, raw in devs.items():
            yield sc, bdf, raw, text[bdf]


def field(lines, key, after=None):
    """Text of lspci's '\t\tKEY:' line plus its deeper-indented continuation lines, or None.

    `after`: only look past the first line containing this text (lspci prints a
    'RootSta' in both the Express and the AER capability)."""
    start = 0
    if after is not None:
        start = next((i for i, l in enumerate(lines) if after in l), len(lines))
    for i, line in enumerate(lines):
        if i < start:
            continue
        if line.strip().startswith(key + ":") or line.strip().startswith(key + "\t"):
            parts = [line.strip()[len(key) + 1:]]
            depth = len(line) - len(line.lstrip("\t"))
            for nxt in lines[i + 1:]:
                if len(nxt) - len(nxt.lstrip("\t")) > depth:
                    parts.append(nxt.strip())
                else:
                    break
            return " ".join(parts)
    return None


def plus(text):
    return {name for name, sign in _FLAG.findall(text) if sign == "+"}


def minus_or_plus(text):
    return {name for name, _ in _FLAG.findall(text)}


def lspci_F(tmp_path, devices):
    f = tmp_path / "dump.txt"
    f.write_text("".join(lspci_hex.hexdump(b, r) for b, r in devices.items()))
    res = subprocess.run(["lspci", "-F", str(f), "-vvv", "-nn"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return lspci_hex.split_lspci_verbose(res.stdout)


def check_against_lspci(cfg, lines):
    """Every fact lspci printed for the device that config.decode() also decodes."""
    title = lines[0]
    m = re.search(r"\[([0-9a-f]{4})\]: .*\[([0-9a-f]{4}):([0-9a-f]{4})\]", title)
    assert (int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16)) == (
        cfg.class_code >> 8, cfg.vendor_id, cfg.device_id)
    rev = re.search(r"\(rev ([0-9a-f]{2})\)", title)
    assert cfg.revision == (int(rev.group(1), 16) if rev else 0)
    progif = re.search(r"\(prog-if ([0-9a-f]{2})", title)
    if progif:
        assert cfg.class_code & 0xFF == int(progif.group(1), 16)

    assert plus(field(lines, "Control")) == set(cfg.command_flags)
    st = field(lines, "Status")
    assert plus(st) == set(cfg.status_flags)
    bus = field(lines, "Bus")
    if cfg.header_type == 1:
        b = dict(kv.split("=") for kv in bus.replace(",", "").split())
        assert (int(b["primary"], 16), int(b["secondary"], 16), int(b["subordinate"], 16)) == (
            cfg.primary_bus, cfg.secondary_bus, cfg.subordinate_bus)
        assert plus(field(lines, "BridgeCtl")) == set(cfg.bridge_control_flags)
        assert plus(field(lines, "Secondary status")) == set(cfg.sec_status_flags)
    else:
        assert bus is None and cfg.primary_bus is None

    caps = [(int(o, 16), int(v) if v else None, text) for o, v, text in
            (m.groups() for m in map(_CAP.match, lines) if m)]
    ours = cfg.caps + cfg.ext_caps
    assert [(c.offset, c.version) for c in ours] == [(o, v) for o, v, _ in caps]
    for c, (_, _, text) in zip(ours, caps):
        assert text.startswith(c.name), (c, text)

    p = cfg.pcie
    express = [t for _, _, t in caps if t.startswith("Express")]
    assert bool(express) == (p is not None)
    if p is None:
        assert cfg.aer is None
        return
    em = re.match(r"Express \(v(\d+)\) (.*?)(?: \(Slot([+-])\))?, MSI ([0-9a-f]{2})$", express[0])
    assert int(em.group(1)) == p.version
    assert em.group(2) == p.port_type_name
    assert int(em.group(4), 16) == p.interrupt_message
    assert plus(field(lines, "DevSta")) == set(p.dev_status_flags)
    if p.has_link:
        lc = field(lines, "LnkCap")
        cm = re.search(r"Speed ([^,]+), Width x(\d+)", lc)
        assert (cm.group(1), int(cm.group(2))) == (p.link_cap_speed.split(" ")[0]
                                                   if p.link_cap_speed_code in regs.LINK_SPEEDS
                                                   else "unknown", p.link_cap_width)
        assert ("LLActRep" in plus(lc)) == p.dll_active_reporting_capable
        ls = field(lines, "LnkSta")
        sm = re.search(r"Speed ([^,]+?)(?: \((downgraded|overdriven)\))?, Width x(\d+)"
                       r"(?: \((downgraded|overdriven)\))?", ls)
        assert (sm.group(1), int(sm.group(3))) == (p.link_speed, p.link_width)
        # lspci compares negotiated with capable values (not for downstream-facing ports)
        for got, sta, cap in ((sm.group(2), p.link_speed_code, p.link_cap_speed_code),
                              (sm.group(4), p.link_width, p.link_cap_width)):
            want = ("overdriven" if sta > cap else None if sta == cap or
                    p.port_type in regs.DOWNSTREAM_FACING else "downgraded")
            assert got == want
        if p.port_type not in regs.DOWNSTREAM_FACING and config.link_up(p):
            assert p.downtrained == ("downgraded" in (sm.group(2), sm.group(4)))
        assert ("DLActive" in plus(ls)) == p.dll_link_active
        assert plus(ls) == set(p.link_status_flags)
    a = cfg.aer
    if a is None:
        return
    uesta, uemsk, uesvrt = field(lines, "UESta"), field(lines, "UEMsk"), field(lines, "UESvrt")
    shown = minus_or_plus(uesta)      # the bits this lspci version prints
    assert {e.short for e in a.uncor_errors if e.short in shown} == plus(uesta)
    for e in a.uncor_errors:
        if e.short in shown:
            assert e.masked == (e.short in plus(uemsk))
            assert e.fatal == (e.short in plus(uesvrt))
    assert plus(uemsk) == {n for b, (n, _, _) in regs.AER_UNCOR_ERRORS.items()
                           if a.uncor_mask >> b & 1 and n in shown}
    cesta = field(lines, "CESta")
    assert {e.short for e in a.cor_errors if e.short in minus_or_plus(cesta)} == plus(cesta)
    assert {e.short for e in a.cor_errors if e.masked} & minus_or_plus(cesta) <= plus(field(lines, "CEMsk"))
    fep = re.search(r"First Error Pointer: ([0-9a-f]{2})", field(lines, "AERCap"))
    assert int(fep.group(1), 16) == a.first_error_pointer
    assert [e.bit for e in a.uncor_errors if e.first] == (
        [a.first_error_pointer] if a.uncor_status >> a.first_error_pointer & 1 else [])
    assert field(lines, "HeaderLog").split() == ["%08x" % x for x in a.header_log]
    rs = field(lines, "RootSta", after="Advanced Error Reporting")
    if p.port_type in regs.ROOT_PORT_TYPES:
        assert plus(rs) == set(a.root_flags)
        assert int(re.search(r"IntMsg(?:Num)? (\d+)", rs).group(1)) == a.adv_err_int_msg
        assert plus(field(lines, "RootCmd")) == set(a.root_command_flags)
        src = re.search(r"ERR_COR: ([0-9a-f]{4}) ERR_FATAL/NONFATAL: ([0-9a-f]{4})", field(lines, "ErrorSrc"))
        assert (int(src.group(1), 16), int(src.group(2), 16)) == (a.err_src_cor, a.err_src_uncor)
    else:
        assert rs is None and a.root_status is None and a.err_src_uncor is None


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ground_truth_decodes_cleanly_and_matches_lspci(scenario):
    devs, text = scenario_devices(scenario)
    assert devs
    for bdf, raw in devs.items():
        cfg = config.decode(raw)
        assert cfg.problems == [], (bdf, cfg.problems)
        assert not cfg.all_ff and cfg.raw == raw
        try:
            check_against_lspci(cfg, text[bdf])
        except AssertionError as exc:
            raise AssertionError("%s %s: %s" % (scenario, bdf, exc)) from exc


def test_aer_uncor_scenario_facts():
    """The injected error of aer-uncor as lspci showed it, in our typed results."""
    devs, _ = scenario_devices("aer-uncor")
    ep = config.decode(devs["0000:01:00.0"])
    assert [(e.short, e.name, e.fatal, e.masked, e.first) for e in ep.aer.uncor_errors] == [
        ("CmpltTO", "Completion Timeout", False, False, True)]
    assert ep.aer.tlp is None                      # QEMU logged no header
    rp = config.decode(devs["0000:00:02.0"])
    assert rp.pcie.port_type == regs.PORT_TYPE_ROOT_PORT
    assert rp.aer.root_status & regs.AER_ROOT_STATUS_UNCOR_RCV
    assert config.rid_to_bdf(0, rp.aer.err_src_uncor) == "0000:01:00.0"


def _device(scenario, bdf):
    devs, _ = scenario_devices(scenario)
    return bytearray(devs[bdf])


@needs_lspci
@pytest.mark.parametrize("seed", range(6))
def test_random_aer_registers_agree_with_lspci(seed, tmp_path):
    """Random AER status/mask/severity/FEP/header-log on real ports and endpoints, decoded
    by us and by lspci -F from the same bytes."""
    rnd = random.Random(seed)
    devices = {}
    for bdf in ("0000:00:02.0", "0000:01:00.0", "0000:03:00.0"):
        raw = _device("aer-uncor", bdf)
        aer = config.decode(bytes(raw)).aer.offset
        for rel in (regs.AER_UNCOR_STATUS, regs.AER_UNCOR_MASK, regs.AER_UNCOR_SEVER,
                    regs.AER_COR_STATUS, regs.AER_COR_MASK):
            raw[aer + rel:aer + rel + 4] = (rnd.getrandbits(32) & 0x07FFF031 if rel < 0x10
                                            else rnd.getrandbits(16) & 0xF1C1).to_bytes(4, "little")
        cap = int.from_bytes(raw[aer + regs.AER_CAP:aer + regs.AER_CAP + 4], "little")
        cap = (cap & ~0x1F & ~regs.AER_CAP_TLP_PFX) | rnd.choice((4, 5, 12, 14, 18, 20, 21))
        raw[aer + regs.AER_CAP:aer + regs.AER_CAP + 4] = cap.to_bytes(4, "little")
        raw[aer + regs.AER_HEADER_LOG:aer + regs.AER_HEADER_LOG + 16] = bytes(rnd.getrandbits(8) for _ in range(16))
        raw[aer + regs.AER_ROOT_STATUS:aer + regs.AER_ROOT_STATUS + 4] = (
            rnd.getrandbits(7) | rnd.getrandbits(5) << 27).to_bytes(4, "little")
        raw[aer + regs.AER_ROOT_COR_SRC:aer + regs.AER_ROOT_COR_SRC + 4] = bytes(rnd.getrandbits(8) for _ in range(4))
        devices[bdf] = bytes(raw)
    got = lspci_F(tmp_path, devices)
    for bdf, raw in devices.items():
        cfg = config.decode(raw)
        assert cfg.problems == []
        assert cfg.aer.uncor_errors and cfg.aer.tlp is not None
        check_against_lspci(cfg, got[bdf])


@needs_lspci
@pytest.mark.parametrize("seed", range(4))
def test_random_link_and_status_registers_agree_with_lspci(seed, tmp_path):
    rnd = random.Random(100 + seed)
    devices = {}
    for bdf in ("0000:00:02.0", "0000:02:00.0", "0000:04:00.0"):
        raw = _device("aer-uncor", bdf)
        cfg = config.decode(bytes(raw))
        p = cfg.pcie.offset
        lnkcap = rnd.getrandbits(32) & ~0xF | rnd.randint(1, 6)
        lnksta = rnd.getrandbits(16) & ~0xF | rnd.randint(1, 6)
        raw[p + regs.EXP_LNKCAP:p + regs.EXP_LNKCAP + 4] = lnkcap.to_bytes(4, "little")
        raw[p + regs.EXP_LNKSTA:p + regs.EXP_LNKSTA + 2] = lnksta.to_bytes(2, "little")
        raw[p + regs.EXP_DEVSTA:p + regs.EXP_DEVSTA + 2] = rnd.getrandbits(6).to_bytes(2, "little")
        raw[regs.STATUS:regs.STATUS + 2] = (rnd.getrandbits(16) & 0xF9F8 | 0x10).to_bytes(2, "little")
        raw[regs.COMMAND:regs.COMMAND + 2] = rnd.getrandbits(11).to_bytes(2, "little")
        devices[bdf] = bytes(raw)
    got = lspci_F(tmp_path, devices)
    for bdf, raw in devices.items():
        check_against_lspci(config.decode(raw), got[bdf])


def test_downtrained_and_link_state():
    raw = _device("aer-uncor", "0000:04:00.0")      # endpoint, 2.5GT/s x1 of 2.5GT/s x1
    p = config.decode(bytes(raw)).pcie
    assert not p.downtrained and p.link_speed == p.link_cap_speed
    off = p.offset
    raw[off + regs.EXP_LNKCAP:off + regs.EXP_LNKCAP + 4] = (0x3 | 8 << 4).to_bytes(4, "little")   # 8GT/s x8
    raw[off + regs.EXP_LNKSTA:off + regs.EXP_LNKSTA + 2] = (0x3 | 4 << 4).to_bytes(2, "little")   # 8GT/s x4
    p = config.decode(bytes(raw)).pcie
    assert (p.link_cap_speed, p.link_cap_width, p.link_speed, p.link_width) == ("8GT/s", 8, "8GT/s", 4)
    assert p.downtrained
    raw[off + regs.EXP_LNKSTA:off + regs.EXP_LNKSTA + 2] = (0x1 | 8 << 4).to_bytes(2, "little")   # 2.5GT/s x8
    assert config.decode(bytes(raw)).pcie.downtrained
    # A port that reports DLLLA: link down means no downtraining verdict
    raw[off + regs.EXP_LNKCAP:off + regs.EXP_LNKCAP + 4] = (0x3 | 8 << 4 | regs.LNKCAP_DLLA).to_bytes(4, "little")
    p = config.decode(bytes(raw)).pcie
    assert p.dll_active_reporting_capable and not p.dll_link_active and not p.downtrained
    raw[off + regs.EXP_LNKSTA:off + regs.EXP_LNKSTA + 2] = (0x1 | 8 << 4 | regs.LNKSTA_DL_ACT).to_bytes(2, "little")
    p = config.decode(bytes(raw)).pcie
    assert p.dll_link_active and p.downtrained
    for speed, text in ((4, "16GT/s"), (5, "32GT/s"), (6, "64GT/s")):
        raw[off + regs.EXP_LNKCAP:off + regs.EXP_LNKCAP + 4] = (speed | 16 << 4).to_bytes(4, "little")
        assert config.decode(bytes(raw)).pcie.link_cap_speed == text


def test_rid_to_bdf():
    assert config.rid_to_bdf(0, 0x0100) == "0000:01:00.0"
    assert config.rid_to_bdf(0x1a, 0xFFFF) == "001a:ff:1f.7"
    assert config.rid_to_bdf(0, 0x00FA) == "0000:00:1f.2"


def _bit_tables():
    return [(k, v) for k, v in vars(regs).items()
            if k.endswith("_BITS") and isinstance(v, tuple) and v and all(isinstance(e, tuple) for e in v)]


def test_flag_lookups_match_the_tables():
    """flags()/flag_line() answer from per-byte lookups; they must say what the (mask, name)
    tables say bit by bit, for every table and for values using all 32 bits."""
    tables = _bit_tables()
    assert len(tables) >= 20     # (the other capabilities' tables are Register specs in caps/)
    rnd = random.Random(7)
    values = [0, 0xFFFF, 0xFFFFFFFF] + [rnd.getrandbits(32) for _ in range(300)]
    for name, table in tables:
        for v in values:
            assert regs.flags(v, table) == [n for m, n in table if v & m], (name, hex(v))
            assert regs.flag_line(v, table) == " ".join(
                n + ("+" if v & m else "-") for m, n in table), (name, hex(v))
    assert all(regs._FAST[id(t)][1] is not None for _k, t in tables)    # all took the fast path
    # a table built elsewhere (not in regs) takes the plain path and says the same
    own = ((0x8, "B"), (0x1, "A"))
    assert regs.flags(0x9, own) == ["B", "A"] and regs.flag_line(0x1, own) == "B- A+"
