"""Config space <-> the hex text of `lspci -xxxx`, which `lspci -F FILE` reads back.

What `lspci -F` accepts (pciutils lib/dump.c): a device starts with a line
beginning "bb:dd.f " or "dddd:bb:dd.f " (the space is required; the rest of
the line is ignored); then lines "OFF: hh hh ..." with a hex offset of 2 to 8
digits and up to 4096 bytes per device; an empty line ends the device.
"""

from __future__ import annotations

import operator
import re
from typing import Dict, Optional

from crash_ext_c.errors import PcicrashError
from .bdf import slot_bdf

_DEV_RE = re.compile(r"^(?:([0-9a-fA-F]{4,6}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7]) ")
_DATA_RE = re.compile(r"^([0-9a-fA-F]{2,8}): ((?:[0-9a-fA-F]{2} ?)*)$")
_MAX = 4096


class LspciTextError(PcicrashError, ValueError):
    """Text that is not what lspci prints (a ValueError too, for callers that check input)."""


def norm_bdf(bdf: str) -> str:
    """'bb:dd.f' or 'dddd:bb:dd.f' (any case) -> 'dddd:bb:dd.f' lower case."""
    m = _DEV_RE.match(bdf.strip() + " ")
    if not m:
        raise LspciTextError("not a PCI address: %r" % bdf, expected="bb:dd.f or dddd:bb:dd.f")
    dom, bus, dev, fn = m.groups()
    return slot_bdf(int(dom or "0", 16), int(bus, 16), int(dev, 16), int(fn))


# "00: " .. "f0: " then "100: " .. "ff0: ": the offset column of each 16-byte line, and
# where that line's bytes sit in bytes.hex(" ") text (3 characters a byte, no trailing space)
_OFFSETS = tuple(("%02x: " if off < 0x100 else "%03x: ") % off for off in range(0, _MAX, 16))
_LINE_SLICES = tuple(slice(3 * off, 3 * off + 47) for off in range(0, _MAX, 16))


def hexdump(bdf: str, raw: bytes, title: Optional[str] = None) -> str:
    """One device in `lspci -xxxx` layout, ending with an empty line so dumps concatenate.

    The first line is 'dddd:bb:dd.f' plus `title` (lspci prints the class and
    names there; `lspci -F` ignores it but needs the space after the address).
    """
    # lspci -F needs the space after the address; the title must stay on its line
    head = norm_bdf(bdf) + " " + " ".join((title or "").split())
    data = bytes(raw[:_MAX])
    # hex the whole space at once and cut it into lines (no Python loop per byte or line)
    hx = data.hex(" ")
    lines = map(operator.add, _OFFSETS, map(hx.__getitem__, _LINE_SLICES[:-(-len(data) // 16)]))
    return "\n".join((head, *lines, "", ""))


def parse_lspci_hex(text: str) -> Dict[str, bytes]:
    """Read `lspci -x/-xxx/-xxxx` output -> {'dddd:bb:dd.f': bytes}.

    Each device's bytes run from offset 0 to the highest offset given; bytes
    the text skips read 0xff (as lspci -F fills them).  Lines that are neither
    a device line nor a data line (stray messages) end nothing and are ignored.
    """
    out: Dict[str, bytes] = {}
    cur: Optional[str] = None
    buf = bytearray(b"\xff" * _MAX)
    hi = 0

    def close() -> None:
        if cur is not None:
            out[cur] = bytes(buf[:hi])

    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        m = _DEV_RE.match(line)
        if m:
            close()
            cur, buf, hi = norm_bdf(line[:m.end()]), bytearray(b"\xff" * _MAX), 0
            continue
        if not line.strip():
            close()
            cur = None
            continue
        d = _DATA_RE.match(line.rstrip())
        if d and cur is not None:
            off = int(d.group(1), 16)
            for tok in d.group(2).split():
                if off >= _MAX:
                    raise LspciTextError("line %d: %s: byte at offset 0x%x" % (lineno, cur, off),
                                         expected="at most 4096 bytes per device")
                buf[off] = int(tok, 16)
                off += 1
            hi = max(hi, off)
    close()
    return out


def split_lspci_verbose(text: str) -> Dict[str, list]:
    """Split `lspci -v/-vv/-vvv` output into {'dddd:bb:dd.f': [lines]} (title line first).

    A device runs from its title line to the next title line; its detail lines
    are the indented ones.  Blank lines and unindented stray lines ("lspci:
    ..." messages, or the gap a removed console message left) are dropped.
    """
    out = {}
    cur = None
    for line in text.splitlines():
        m = _DEV_RE.match(line)
        if m:
            cur = norm_bdf(line[:m.end()])
            out[cur] = [line]
        elif cur is not None and line.startswith(("\t", " ")) and line.strip():
            out[cur].append(line)
    return out
