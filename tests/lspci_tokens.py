"""lspci -vvv text -> decoded tokens, so pcicrash -a can be compared with the real lspci.

A token is one decoded fact lspci prints, keyed by where it sits:

    (section, path, name) -> value

- section: "hdr" for the header lines, else the capability tag ("48", "100 v1");
- path: the register labels leading to the line ("DevCtl", "SltSta/Changed",
  "VC0/Arb"), taken from "Label:" at the start of a line and the indentation;
- name/value: `Name+` / `Name-` (value "+"/"-"), `key=value`, and for each
  capability heading the name token ("cap", its text without the flags).

The comparison is of multisets: every (key, value) lspci prints must appear in
ours as often (a wrong value shows as a missing pair).  `lines()` gives the
stricter view: each (section, line text) lspci prints.

EXCLUDED lists what is not taken from config bytes by `lspci -F` or cannot be
compared: the first line (class and names come from pci.ids, whose copy may
differ from ours), the lines lspci takes from sysfs or the OS (none appear with
-F, listed for live output), and region sizes (`[size=..]`: sysfs only).
Names from the ID database are dropped from "Subsystem:" lines (libpci may take
them from the udev hwdb, we from pci.ids): the [vvvv:dddd] numbers are compared.
Grouped flags "PME(D0+,D1-)" are the tokens PME-D0+ PME-D1-.
A line holding two registers ("McastCap: ...\t\tMcastCtl: ...", an lspci
missing newline) counts as two lines.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Dict, Iterable, List, Tuple

# line prefixes (after the tabs) lspci takes from sysfs / the OS, never from config bytes
EXCLUDED = ("Kernel driver in use:", "Kernel modules:", "Physical Slot:", "NUMA node:",
            "IOMMU group:", "Device tree node:", "Module:")
_SIZE = re.compile(r" \[size=[0-9]+[KMGT]?\]")
_LABEL = re.compile(r"^([A-Za-z0-9<>][A-Za-z0-9 _#./()\-]*?):(?=\s|$)")
_FLAG = re.compile(r"(?<![\w\-])([<>]?[A-Za-z0-9][\w.\-/()<>#]*?)([+-])(?=[\s,;)]|$)")
_KV = re.compile(r"(?<![\w\-])([<>]?[A-Za-z][\w.\-/]*)=([^\s,;]*)")
_DEV = re.compile(r"^(?:[0-9a-f]{4,}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] ")
_CAP = re.compile(r"^Capabilities: \[([0-9a-f]+(?: v\d+)?)\] ?(.*)$")


def split_devices(text: str) -> Dict[str, List[str]]:
    """lspci -vvv output -> {bdf as printed: [lines after the title]}."""
    out: Dict[str, List[str]] = {}
    cur = None
    for line in text.splitlines():
        if not line.strip():
            cur = None
            continue
        if _DEV.match(line):
            cur = out.setdefault(line.split(" ", 1)[0], [])
            continue
        if cur is not None:
            cur.append(line)
    return out


def _strip_tokens(text: str) -> str:
    t = _KV.sub("", text)
    t = _FLAG.sub("", t)
    return " ".join(t.split())


_SUBSYS = re.compile(r"^((?:Capabilities: \[[0-9a-f]+\] )?Subsystem:) .*?(\[[0-9a-f]{4}:[0-9a-f]{4}\])$")


def _split(lines: Iterable[str]) -> Iterable[Tuple[int, str]]:
    """(depth, text) per line: sizes and ID-database names removed, run-together lines split."""
    for line in lines:
        depth = len(line) - len(line.lstrip("\t"))
        body = _SIZE.sub("", line.strip("\t").rstrip())
        body = _SUBSYS.sub(r"\1 \2", body)
        for part in body.split("\t\t"):
            yield depth, part.rstrip()


def tokens(lines: Iterable[str]) -> Counter:
    """The token multiset of one device's lines (title excluded)."""
    out: Counter = Counter()
    section = "hdr"
    stack: List[Tuple[int, str]] = []
    for depth, body in _split(lines):
        if not body or body.startswith(EXCLUDED):
            continue
        m = _CAP.match(body) if depth == 1 else None
        if m:
            section, heading = m.group(1), m.group(2)
            stack = []
            out[(section, "", "cap"), _strip_tokens(heading)] += 1
            _line_tokens(out, section, "", heading)
            continue
        if depth == 1:
            section = "hdr"
        stack = [(d, lab) for d, lab in stack if d < depth]
        lm = _LABEL.match(body)
        if lm and "=" not in lm.group(1):
            stack.append((depth, lm.group(1).strip()))
            body = body[lm.end():]
        path = "/".join(lab for _d, lab in stack)
        _line_tokens(out, section, path, body)
    return out


_GROUP = re.compile(r"(\w+)\(((?:[\w.]+[+-],?)+)\)")


def _line_tokens(out, section, path, text):
    # "PME(D0+,D1-)" names flags of PME: PME-D0+ PME-D1-
    text = _GROUP.sub(lambda m: " ".join("%s-%s" % (m.group(1), f) for f in m.group(2).split(",")), text)
    for k, v in _KV.findall(text):
        out[(section, path, k), v] += 1
    for k, v in _FLAG.findall(_KV.sub(" ", text)):
        out[(section, path, k), v] += 1


def lines(lines_: Iterable[str]) -> Counter:
    """(section, line text) multiset: the exact lines, sizes and sysfs lines removed."""
    out: Counter = Counter()
    section = "hdr"
    for depth, body in _split(lines_):
        if not body or body.startswith(EXCLUDED):
            continue
        m = _CAP.match(body) if depth == 1 else None
        if m:
            section = m.group(1)
        elif depth == 1:
            section = "hdr"
        out[section, "\t" * depth + body] += 1
    return out


def missing(theirs: Counter, ours: Counter) -> Counter:
    """What lspci shows that we do not (multiset difference)."""
    return theirs - ours


_TOKEN = re.compile(r"-\[(?:([0-9a-f]{4}):)?([0-9a-f]{2})(?:-[0-9a-f]{2})?\??\]-"
                    r"|(?<=-)([0-9a-f]{2})\.([0-7])!?")


_NAME = re.compile(r"([0-9a-f]{2}\.[0-7]!?|\]-+)  ")


def tree_parents(lines):
    """{bdf: parent bdf or None} from `lspci -tv` style lines (lspci's own or ours): a device
    belongs to the bus whose children start at its column."""
    at_col = {}          # column where a bus's devices are drawn -> (domain, bus, parent)
    out = {}
    for line in lines:
        end = _NAME.search(line)        # the drawing ends where the name begins
        text = line if end is None else line[:end.end(1)]
        pending = None                  # (domain, bus, parent) of a bus token just read
        last = None                     # (domain, bdf) of the device just read
        for m in _TOKEN.finditer(text):
            if m.group(2) is not None:
                if m.group(1) is not None:
                    pending = (int(m.group(1), 16), int(m.group(2), 16), None)
                else:
                    pending = (last[0], int(m.group(2), 16), last[1])
                continue
            col = m.start()
            if pending is not None:
                at_col[col] = pending
                pending = None
            dom, bus, parent = at_col[col]
            bdf = "%04x:%02x:%02x.%d" % (dom, bus, int(m.group(3), 16), int(m.group(4)))
            out[bdf] = parent
            last = (dom, bdf)
    return out
