"""VMCOREINFO text: KEY=value lines, from the ELF note, the kdump header, a file, or crash's `help -D`."""

import re

from .errors import PcicrashError

# The kernel's VMCOREINFO note is one page (4 KiB) and a few hundred lines;
# anything far beyond that is not VMCOREINFO, so parsing stops there.
MAX_BYTES = 1 << 20
MAX_LINE = 4096


def parse(text, *, source="VMCOREINFO", limit=MAX_BYTES):
    """Return {key: value} from VMCOREINFO text (bytes or str).

    Leading white space is dropped (crash's `help -D` indents the lines);
    lines without '=' are ignored; the first occurrence of a key wins, as in
    makedumpfile.  Text past `limit` bytes, or lines longer than MAX_LINE,
    raise PcicrashError naming the offset, after nothing was returned.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text[:limit + 1])
        text = raw.decode("utf-8", "replace")
    else:
        text = text[:limit + 1]
    if len(text) > limit:
        raise PcicrashError("VMCOREINFO is larger than %d bytes" % limit,
                            path=source, offset=limit, expected="a page of KEY=value lines")
    out = {}
    pos = 0
    for line in text.split("\n"):
        if len(line) > MAX_LINE:
            raise PcicrashError("VMCOREINFO line of %d characters" % len(line), path=source,
                                offset=pos, expected="lines shorter than %d" % MAX_LINE)
        pos += len(line) + 1
        line = line.strip().rstrip("\0")
        key, sep, value = line.partition("=")
        if sep and key and key not in out:
            out[key] = value
    return out


# The one reading of a number in dump text.  int() alone is not it: it takes
# non-ASCII digits ('\u0661'), underscores and surrounding white space, and
# str.isdigit() even takes '\u00b2', which int() then refuses.  VMCOREINFO numbers
# are ASCII: decimal (NUMBER() may be negative) or hex with an optional 0x.
# Base 0: NUMBER() values, decimal or (arm64) 0x-hex, either may be negative.
_NUMBER = {10: re.compile(r"-?[0-9]{1,20}"), 16: re.compile(r"(?:0[xX])?[0-9a-fA-F]{1,16}"),
           0: re.compile(r"-?(?:[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16})")}


_BASE_NAMES = {10: "base-10", 16: "base-16", 0: "decimal or 0x-hex"}


def to_int(text, base=10):
    """The integer that dump text `text` spells (ASCII digits; base 10, 16, or 0 for
    decimal or 0x-hex; blanks around it allowed), or None when it is not such a number."""
    if not isinstance(text, str):
        return None
    text = text.strip(" \t\r\n\0")
    if not _NUMBER[base].fullmatch(text):
        return None
    if base == 0:
        neg = text.startswith("-")
        body = text.lstrip("-")
        value = int(body, 16 if body[:2] in ("0x", "0X") else 10)
        return -value if neg else value
    return int(text, base)


def get_int(info, key, *, base=10, source="VMCOREINFO"):
    """Integer value of `key` (base 16 accepts a 0x prefix), or None when absent."""
    value = info.get(key)
    if value is None:
        return None
    number = to_int(value, base)
    if number is None:
        raise PcicrashError("%s=%r is not a %s number" % (key, value[:40], _BASE_NAMES[base]),
                            path=source, expected="ASCII digits") from None
    return number
