"""VMCOREINFO text: KEY=value lines, from the ELF note, the kdump header, a file, or crash's `help -D`."""

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


def get_int(info, key, *, base=10, source="VMCOREINFO"):
    """Integer value of `key` (base 16 accepts a 0x prefix), or None when absent."""
    value = info.get(key)
    if value is None:
        return None
    try:
        return int(value.strip(), base)
    except ValueError:
        raise PcicrashError("%s=%r is not a base-%d number" % (key, value, base),
                            path=source, expected="an integer") from None
