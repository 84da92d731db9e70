"""pcicrash's decode against the real lspci, field by field, on real hardware.

For every function in pciutils' own test dumps (tests/data/pciutils, 158 real
functions) the same bytes go to the installed `lspci -F FILE -vvv -nn` (the
oracle, run here) and to config.decode(); lspci's output and ours (`-a`, i.e.
device_text.describe, and the JSON) are cut into tokens by lspci_tokens
(`Name+`, `Name-`, `key=value`, capability names, keyed by capability and
register) and every token lspci shows must be in ours with the same value.
Mutated variants (seeded random bit flips in every decoded register) check
every bit of every table against lspci too.

Excluded (besides what lspci_tokens.EXCLUDED lists): PEER_BUGS, tokens where
lspci 3.9 contradicts the specification and pcicrash follows the specification.
"""

from __future__ import annotations

import json
import pathlib
import random
import subprocess
from collections import Counter

import pytest

from tests import lspci_tokens as T
from tests.shared import DATA, needs_lspci
from pykdump_ext.pci import config, lspci_hex, pciids
from pykdump_ext.output import device_text, report_json

FIXTURES = DATA / "pciutils"
FILES = sorted(p for p in FIXTURES.iterdir() if p.is_file() and p.suffix != ".md")
NAMES = pciids.PciIds.load()

# (register, token): lspci 3.9 defines PCI_DOE_STS_ERROR as 0x3 (bits 0-1); the DOE Error
# bit is bit 2 (PCIe r6.0 7.9.24.5; pciutils fixed it later).  Compared: nothing else.
PEER_BUGS = {("DOESta", "Error")}
# lspci 3.9 reads one byte of the 16-bit HyperTransport Link Frequency Capability registers,
# so it always shows 1.4GHz, 1.6GHz and Vend (bits 8, 9, 15) as '-'; pcicrash reads the word
PEER_BUGS |= {(reg, tok) for reg in ("Link Frequency Capability", "Link Frequency Capability 0",
                                     "Link Frequency Capability 1") for tok in ("1.4GHz", "1.6GHz", "Vend")}
# lspci 3.9 indexes its 8-entry CXL interleave table with a 5-bit field: beyond 7 it prints
# whatever memory follows; pcicrash's value for those is not compared
CXL_INTERLEAVE = {"0", "256", "4096", "512", "1024", "2048", "8192", "16384"}
# Fields that say how many registers follow or where (entry counts and sizes, capability
# version and length): not mutated, since a random count makes both tools read unrelated bytes
# (and lspci 3.9 then aborts: "Internal bug: Accessing non-read configuration byte")
STRUCTURAL = {"NumEntries", "EntrySize", "EVCCnt", "NumBARs", "NumLinks", "Len", "Version"}


def lspci(path: pathlib.Path):
    res = subprocess.run(["lspci", "-F", str(path), "-vvv", "-nn"], capture_output=True, text=True,
                         errors="replace", timeout=120)
    assert res.returncode == 0, res.stderr
    return T.split_devices(res.stdout)


def ours(bdf: str, raw: bytes):
    norm = lspci_hex.norm_bdf(bdf)
    devfn = int(norm[8:10], 16) << 3 | int(norm[11])
    cfg = config.decode(raw, devfn=devfn)
    return cfg, device_text.describe(cfg, bdf=norm, names=NAMES)[1:]


# The stored text of cap-ide comes from an early IDE decoder: it shows the Selective IDE
# stream control 0x00400001 as "En-" without "Default" (bit 0 is Enable, bit 22 Default
# Stream, PCIe r6.0 7.9.26.5.2; its own "Sta: secure" agrees), as current pciutils does not
STORED_TEXT_BUGS = {("cap-ide", "SelectiveIDE#0 Ctl", "En")}


def headings(lines) -> dict:
    return {m.group(1): m.group(2) for m in (T._CAP.match(l.strip("\t")) for l in lines) if m}


def opaque_sections(lines, our_lines=None) -> set:
    """Capability tags whose lspci heading says it decodes nothing of them ("<?>", "Extended
    Capability ID 0x2a"), and (given our lines) that we decode: lspci 3.9 is no oracle there
    (newer pciutils decodes some)."""
    ours_ = headings(our_lines) if our_lines is not None else {}
    return {tag for tag, h in headings(lines).items()
            if (h.endswith("<?>") or h.startswith(("Extended Capability ID", "Capability ID")))
            and (our_lines is None or ours_.get(tag) != h)}


def embedded_text(path: pathlib.Path) -> dict:
    """The `lspci -vvv` text stored in the fixture (the pciutils version that made it, often
    newer than 3.9; some files indent with spaces), by normalised BDF."""
    lines = []
    for l in path.read_text(errors="replace").splitlines():
        stripped = l.lstrip(" ")
        lines.append("\t" * ((len(l) - len(stripped)) // 8) + stripped if l.startswith("        ") else l)
    return {lspci_hex.norm_bdf(b): v for b, v in T.split_devices("\n".join(lines)).items()}


def _drop_bugs(c: Counter) -> Counter:
    return Counter({k: v for k, v in c.items() if (k[0][1].split("/")[0], k[0][2]) not in PEER_BUGS
                    and not (k[0][2] == "interleave" and k[1] not in CXL_INTERLEAVE)})


def _beyond_std_space(tt: Counter, cfg) -> Counter:
    """Drop lspci's tokens of standard-capability registers past offset 0xff: lspci reads them
    from the extended space, pcicrash stops at the 256-byte standard space and says so in
    Config.problems (checked here)."""
    cut = {"%02x" % c.offset: c for c in cfg.capabilities if c.kind == "std" and c.truncated}
    if not cut:
        return tt
    out = Counter()
    for k, v in tt.items():
        c = cut.get(k[0][0])
        reg = k[0][1].split("/")[0]
        if c is not None and reg and reg not in c.regs:
            assert any("beyond" in p or "truncated" in p for p in cfg.problems), cfg.problems
            continue
        out[k] = v
    return out


def compare(theirs_lines, our_lines, cfg=None):
    """(missing tokens, lspci token count, missing lines, lspci line count), over the
    capabilities lspci decodes."""
    skip = opaque_sections(theirs_lines, our_lines)
    tt = _drop_bugs(Counter({k: v for k, v in T.tokens(theirs_lines).items() if k[0][0] not in skip}))
    if cfg is not None:
        tt = _beyond_std_space(tt, cfg)
    miss = T.missing(tt, T.tokens(our_lines))
    bug_regs = tuple(reg + ":" for reg, _tok in PEER_BUGS)
    lt = Counter({k: v for k, v in T.lines(theirs_lines).items()
                  if k[0] not in skip and not k[1].strip("\t").startswith(bug_regs)})
    return miss, sum(tt.values()), T.missing(lt, T.lines(our_lines)), sum(lt.values())


# JSON field names where lspci's token is a phrase ("Mem HW Init+") or a second use of a name
ALIASES = {("SltSta/Changed", "MRL"): "MRLChg", ("SltSta/Changed", "PresDet"): "PresDetChg",
           ("CXLCap", "Init"): "MemHWInit", ("CXLCtl", "Clean"): "CacheClean"}
INVERTED = {("Bridge", "B3"): "B2/B3"}        # PM bridge: lspci's B3+ is the B2_B3 bit clear


def _json_caps(cfg) -> dict:
    """The device's JSON capabilities by lspci's section tag ("hdr", "48", "100 v1")."""
    caps = {}
    for c in ([cfg.header] if cfg.header is not None else []) + cfg.capabilities:
        tag = "hdr" if c.kind == "hdr" else ("%02x" % c.offset if c.kind == "std"
                                            else "%03x v%d" % (c.offset, c.version or 0))
        caps[tag] = json.loads(report_json.cap_json(c))
    return caps


def _numbers(text: str) -> set:
    """What lspci's digits may mean: the decimal and the hex reading (lspci prints some
    values in hex without 0x, e.g. "secondary=21", "offset=0098")."""
    out = set()
    for base in (10, 16):
        try:
            out.add(int(text, base))
        except ValueError:
            pass
    return out


def _json_holds(d: dict, path: str, name: str, value: str) -> bool:
    """lspci's token (name, value) is in the JSON capability `d`: a flag as a field of that
    name and value; a key=value as the register's `decoded` word, or a field, register or
    info value equal to lspci's number.  Looked up in the register the line belongs to first,
    else anywhere in the capability or its entries."""
    first = path.split("/")[0]
    value = value.rstrip(":")           # "Len=56:" ends a DVSEC heading
    num = _numbers(value)
    found_elsewhere = False
    for x in [d] + d["entries"]:
        for rname, r in x["registers"].items():
            if value in "+-":
                hit = r["fields"].get(name) is (value == "+")
            else:
                f = r["fields"].get(name)
                w = r.get("decoded", {}).get(name)
                # lspci_tokens cuts a value at a comma ("Rate=x1,x2" gives "x1")
                hit = (w is not None and (w == value or w.startswith(value + ","))
                       or (not isinstance(f, bool) and f in num)
                       or (rname == name and r["value"] in num))
            if hit and rname == first:
                return True
            found_elsewhere = found_elsewhere or hit
        if value not in "+-" and not isinstance(x["info"].get(name), bool) and x["info"].get(name) in num:
            found_elsewhere = True
    return found_elsewhere


def json_missing(theirs_lines, cfg) -> tuple:
    """lspci's tokens (Name+/Name-, key=value) the device's JSON capabilities do not hold
    (see _json_holds).  Returns (missing Counter, total)."""
    caps = _json_caps(cfg)
    missing: Counter = Counter()
    total = 0
    for ((section, path, name), value), n in _beyond_std_space(_drop_bugs(T.tokens(theirs_lines)), cfg).items():
        if (path.split("/")[0], name) in INVERTED:
            name, value = INVERTED[path.split("/")[0], name], "-+"[value == "-"]
        name = ALIASES.get((path, name), name)
        if name == "cap":
            continue
        if name.isdigit():                  # a reserved VC arbitration bit: "??4+" tokenizes as "4"
            name = "??" + name
        total += n
        d = caps.get(section)
        if d is None or not _json_holds(d, path, name, value):
            missing[(section, path, name), value] += n
    return missing, total


@needs_lspci
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_lspci_token_is_in_our_decode(path):
    theirs = lspci(path)
    devs = lspci_hex.parse_lspci_hex(path.read_text(errors="replace"))
    assert theirs, path
    for bdf, lines in theirs.items():
        cfg, mine = ours(bdf, devs[lspci_hex.norm_bdf(bdf)])
        miss, n, _lmiss, _ln = compare(lines, mine)
        assert n > 0
        assert not miss, (path.name, bdf, sorted(miss.items())[:20])


@needs_lspci
def test_capabilities_newer_than_lspci39_against_the_fixtures_own_text(capsys):
    """Where lspci 3.9 only names a capability (Physical Layer 16/32 GT/s, Lane Margining,
    ...), the fixture's stored text from a newer lspci is the oracle when it decodes it."""
    compared = unoracled = 0
    for path in FILES:
        theirs = lspci(path)
        stored = embedded_text(path)
        devs = lspci_hex.parse_lspci_hex(path.read_text(errors="replace"))
        for bdf, lines in theirs.items():
            norm = lspci_hex.norm_bdf(bdf)
            cfg, mine = ours(bdf, devs[norm])
            todo = opaque_sections(lines, mine)
            if not todo:
                continue
            newer = stored.get(norm, [])
            decoded = {m.group(1) for m in (T._CAP.match(l.strip("\t")) for l in newer) if m} - \
                opaque_sections(newer)
            want = Counter({k: v for k, v in T.tokens(newer).items() if k[0][0] in todo & decoded
                            and (path.name, k[0][1], k[0][2]) not in STORED_TEXT_BUGS})
            miss = T.missing(want, T.tokens(mine))
            assert not miss, (path.name, bdf, sorted(miss.items()))
            compared += len(todo & decoded)
            unoracled += len(todo - decoded)
    with capsys.disabled():
        print("\ncapabilities lspci 3.9 only names: %d compared with the fixtures' newer lspci text, "
              "%d without any oracle text" % (compared, unoracled))
    assert compared >= 5


@needs_lspci
def test_coverage_figures_and_json(capsys):
    """Token and line coverage over all fixtures (printed), the JSON's flag coverage."""
    tok = tok_miss = line = line_miss = jf = jf_miss = 0
    json_miss: Counter = Counter()
    per_cap = Counter()
    per_cap_miss = Counter()
    for path in FILES:
        theirs = lspci(path)
        devs = lspci_hex.parse_lspci_hex(path.read_text(errors="replace"))
        for bdf, lines in theirs.items():
            cfg, mine = ours(bdf, devs[lspci_hex.norm_bdf(bdf)])
            miss, n, lmiss, ln = compare(lines, mine)
            tok += n
            tok_miss += sum(miss.values())
            line += ln
            line_miss += sum(lmiss.values())
            m, t = json_missing(lines, cfg)
            jf += t
            jf_miss += sum(m.values())
            json_miss.update(m)
            for ((sec, _p, _n), _v), k in _drop_bugs(T.tokens(lines)).items():
                per_cap[_cap_name(lines, sec)] += k
            for ((sec, _p, _n), _v), k in miss.items():
                per_cap_miss[_cap_name(lines, sec)] += k
    with capsys.disabled():
        print("\nlspci tokens %d/%d (%.2f%%), lines %d/%d (%.2f%%), JSON tokens %d/%d (%.2f%%)" % (
            tok - tok_miss, tok, 100 * (tok - tok_miss) / tok, line - line_miss, line,
            100 * (line - line_miss) / line, jf - jf_miss, jf, 100 * (jf - jf_miss) / jf))
        for name, k in per_cap.most_common():
            print("  %-55s %5d/%5d" % (name, k - per_cap_miss[name], k))
    assert tok_miss == 0
    assert jf_miss == 0, sorted(json_miss.items())[:20]
    assert line_miss == 0     # exact lines (those with a PEER_BUGS register left out)


def _cap_name(lines, section):
    if section == "hdr":
        return "header"
    for l in lines:
        if l.startswith("\tCapabilities: [%s] " % section):
            head = l.split("] ", 1)[1]
            return T._strip_tokens(head.split(":")[0]).split(" 0")[0].split(" 1")[0][:50]
    return section


def _mutate(raw: bytes, cfg, rng: random.Random) -> bytes:
    """XOR every register of the decoded header and capabilities with a random mask (each bit
    flipped with probability 1/2), except what says what the device is and where its
    registers are: IDs, header layout, Status.Cap, Interrupt Pin, STRUCTURAL fields."""
    b = bytearray(raw)
    for c in ([cfg.header] if cfg.header is not None else []) + cfg.capabilities:
        for x in [c] + c.entries:
            for r in x.regs.values():
                if r.name in ("HeaderType", "InterruptPin"):
                    continue
                fixed = 0
                for f in r.spec.fields:
                    if f.name in STRUCTURAL:
                        fixed |= f.mask
                if r.name == "Status" and r.offset == 6:
                    fixed |= 0x10             # Status.Cap: the capability list itself
                mask = rng.getrandbits(8 * r.spec.size) & ~fixed
                for i in range(r.spec.size):
                    if r.offset + i < len(b):
                        b[r.offset + i] ^= mask >> (8 * i) & 0xFF
    return bytes(b)


VARIANTS = 6      # per function: each bit of each register takes both values with p > 0.96


@needs_lspci
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_mutated_registers_decode_like_lspci(path, tmp_path):
    rng = random.Random("pcicrash-caps:" + path.name)
    devs = lspci_hex.parse_lspci_hex(path.read_text(errors="replace"))
    variants = {}
    for i, (bdf, raw) in enumerate(devs.items()):
        cfg = config.decode(raw)
        for k in range(VARIANTS):
            # one domain per variant keeps each function's devfn (lspci words by function)
            nb = "%04x:%02x:%s" % (1 + k, i, bdf[8:])
            variants[nb] = _mutate(raw, cfg, rng)
    f = tmp_path / "mutated.txt"
    f.write_text("".join(lspci_hex.hexdump(b, r) for b, r in variants.items()))
    theirs = lspci(f)
    assert len(theirs) == len(variants)
    bad = []
    for bdf, lines in theirs.items():
        cfg, mine = ours(bdf, variants[lspci_hex.norm_bdf(bdf)])
        miss, _n, lmiss, _ln = compare(lines, mine, cfg)
        miss += json_missing(lines, cfg)[0]      # the JSON holds the same words and flags
        if miss:
            bad.append((bdf, sorted(miss.items())[:6]))
        LINE_MISMATCHES.extend((path.name, bdf, l) for (_s, l) in lmiss)
    MUTATION_MISMATCHES[path.name] = bad
    assert not bad, bad[:5]


MUTATION_MISMATCHES = {}
LINE_MISMATCHES = []


# PCI Express values lspci prints as phrases (not Name+ or key=value tokens): the JSON's
# `decoded` word of (register, key) must stand in lspci's own lines of that register, in
# this phrase, wherever lspci prints the phrase's label at all
PCIE_PHRASES = {
    ("DevCap", "MaxPayload"): "MaxPayload {},", ("DevCap", "PhantFunc"): "PhantFunc {}",
    ("DevCap", "SlotPowerLimit"): "SlotPowerLimit {}", ("DevCtl", "MaxPayload"): "MaxPayload {},",
    ("DevCtl", "MaxReadReq"): "MaxReadReq {}", ("LnkCap", "Speed"): "Speed {},",
    ("LnkCap", "Width"): "Width {},", ("LnkCap", "ASPM"): "ASPM {}", ("LnkCtl", "ASPM"): "ASPM {};",
    ("LnkCtl", "RCB"): "RCB {},", ("LnkSta", "Speed"): "Speed {}", ("LnkSta", "Width"): "Width {}",
    ("SltCap", "PowerLimit"): "PowerLimit {};", ("SltCtl", "AttnInd"): "AttnInd {},",
    ("SltCtl", "PwrInd"): "PwrInd {},", ("DevCap2", "TimeoutRange"): "Completion Timeout: {},",
    ("DevCap2", "OBFF"): "OBFF {},", ("DevCap2", "EmergencyPowerReduction"): "EmergencyPowerReduction {},",
    ("DevCap2", "LNCLS"): "LN System CLS {},", ("DevCtl2", "Timeout"): "Completion Timeout: {},",
    ("DevCtl2", "OBFF"): "OBFF {},", ("LnkCap2", "Speeds"): "Supported Link Speeds: {},",
    ("LnkCtl2", "TargetSpeed"): "Target Link Speed: {},", ("LnkCtl2", "TransmitMargin"): "Transmit Margin: {},",
    ("LnkCtl2", "CompliancePreset"): "Compliance Preset/De-emphasis: {}",
    ("LnkSta2", "DeEmphasis"): "Current De-emphasis Level: {},", ("LnkSta2", "CrosslinkRes"): "CrosslinkRes: {}",
}


def _register_lines(lines, tag: str) -> dict:
    """lspci's lines of the capability `tag`, by register label ("DevCap": its line and the
    deeper ones after it)."""
    out: dict = {}
    cur = None
    inside = False
    for line in lines:
        depth = len(line) - len(line.lstrip("\t"))
        body = line.strip("\t")
        if depth == 1:
            inside = body.startswith("Capabilities: [%s]" % tag)
            cur = None
            continue
        if not inside:
            continue
        if depth == 2:
            cur = body.split(":", 1)[0]
        if cur is not None:
            out[cur] = out.get(cur, "") + " " + body.replace("\t", " ")
    return out


@needs_lspci
def test_pcie_words_in_the_json_are_lspcis_phrases():
    checked = 0
    for path in FILES:
        theirs = lspci(path)
        devs = lspci_hex.parse_lspci_hex(path.read_text(errors="replace"))
        for bdf, lines in theirs.items():
            cfg, _mine = ours(bdf, devs[lspci_hex.norm_bdf(bdf)])
            for c in cfg.capabilities:
                if c.kind != "std" or c.id != 0x10:
                    continue
                text = _register_lines(lines, "%02x" % c.offset)
                regs = json.loads(report_json.cap_json(c))["registers"]
                for (reg, key), phrase in PCIE_PHRASES.items():
                    word = regs.get(reg, {}).get("decoded", {}).get(key)
                    label = phrase.split("{}")[0]
                    if word is None or label not in text.get(reg, ""):
                        continue
                    assert phrase.format(word) in text[reg], (path.name, bdf, reg, key, word, text[reg])
                    checked += 1
    assert checked > 1000, checked
