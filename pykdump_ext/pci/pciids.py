"""Names from the pci.ids database (vendor, device, subsystem, class), looked up on demand.

Callers always print the numbers too; a missing database or entry gives None.
The file (about 1.3 MB) is read once, on the first lookup; each lookup then
finds its line with a substring search (C speed) inside the block it belongs
to and keeps the answer, so a run that names 18 devices parses 18 lines, not
the 40,000 of the file.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Optional, Tuple

# the start of a top-level line: not empty, not indented, not a comment (searching for
# the newline first is several times faster than a MULTILINE "^")
_TOP_LINE = re.compile(rb"\n[^\t#\n]")
# the start of a line indented once (a device, or a subclass): it ends the lines below the one before
_ONE_TAB = re.compile(rb"\n\t[^\t]")

DEFAULT_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids",
                 "/usr/local/share/pci.ids")

Span = Tuple[int, int]          # a stretch of the file: (start, end)
Line = Tuple[int, int, str]     # a line found: (its end, end of the lines below it, its name)


def _below(line: Optional[Line]) -> Optional[Span]:
    return (line[0], line[1]) if line is not None else None


def _name(line: Optional[Line]) -> Optional[str]:
    return line[2] if line is not None else None


class PciIds:
    """Lookups in a pci.ids file.  `PciIds.load()` finds the system copy; `PciIds.load(path)`
    uses that file; a missing or unreadable file gives an empty database (all names None)."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._loaded = False
        self.error: Optional[str] = None          # why nothing could be loaded, if so
        # the file's bytes after a newline, so that every line starts with one (bytes: a search
        # is a memchr; the names, UTF-8, are decoded one at a time)
        self._text = b"\n"
        self._lines: Dict[tuple, Optional[Line]] = {}
        self._classes_at: Optional[int] = None     # where the class lines begin (-1: none)

    @classmethod
    def load(cls, path: Optional[str] = None) -> "PciIds":
        if path is None:
            path = next((p for p in DEFAULT_PATHS if os.path.isfile(p)), None)
        return cls(path)

    @classmethod
    def empty(cls) -> "PciIds":
        return cls(None)

    def _ensure(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.path is None:
            self.error = "no pci.ids found"
            return
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as exc:
            self.error = "%s: %s" % (self.path, exc.strerror or exc)
            return
        self._text = b"\n" + data

    def _find(self, key: tuple, prefix: bytes, within: Optional[Span], ends: "re.Pattern") -> Optional[Line]:
        """The first line `prefix` (newline, indent, ID, space) inside `within`: (end of the
        line, end of the lines below it, its name), kept under `key`.  The lines below it
        (devices, subsystems, subclasses) end where `ends` next matches."""
        if key in self._lines:
            return self._lines[key]
        line = None
        if within is not None:
            text = self._text
            lo, hi = within
            pos = text.find(prefix, lo, hi)
            if pos >= 0:
                eol = text.find(b"\n", pos + 1, hi)
                eol = hi if eol < 0 else eol
                m = ends.search(text, eol, hi)
                line = (eol, m.start() if m is not None else hi,
                        text[pos + len(prefix):eol].decode("utf-8", "replace").strip())
        self._lines[key] = line
        return line

    def _file(self) -> Span:
        self._ensure()
        return (0, len(self._text))

    def _class_lines(self) -> Optional[Span]:
        """From the first class line on (the file lists them after every vendor): a class
        lookup does not scan the vendors' megabyte."""
        lo, hi = self._file()
        if self._classes_at is None:
            self._classes_at = self._text.find(b"\nC ", lo, hi)
        return (self._classes_at, hi) if self._classes_at >= 0 else None

    def _vendor(self, vid: int) -> Optional[Line]:
        return self._find(("v", vid), b"\n%04x " % vid, self._file(), _TOP_LINE)

    def _device(self, vid: int, did: int) -> Optional[Line]:
        return self._find(("d", vid, did), b"\n\t%04x " % did, _below(self._vendor(vid)), _ONE_TAB)

    def _class(self, base: int) -> Optional[Line]:
        return self._find(("c", base), b"\nC %02x " % base, self._class_lines(), _TOP_LINE)

    def _subclass(self, base: int, sub: int) -> Optional[Line]:
        return self._find(("s", base, sub), b"\n\t%02x " % sub, _below(self._class(base)), _ONE_TAB)

    # -- lookups: str or None ---------------------------------------------------
    def vendor(self, vid: int) -> Optional[str]:
        return _name(self._vendor(vid))

    def device(self, vid: int, did: int) -> Optional[str]:
        return _name(self._device(vid, did))

    def subsystem(self, vid: int, did: int, svid: int, sdid: int) -> Optional[str]:
        return _name(self._find(("ss", vid, did, svid, sdid), b"\n\t\t%04x %04x " % (svid, sdid),
                                _below(self._device(vid, did)), _ONE_TAB))

    def klass(self, class_code: int) -> Optional[str]:
        """Most specific name of a 24-bit class code's base class and subclass (lspci's word)."""
        base, sub = (class_code >> 16) & 0xFF, (class_code >> 8) & 0xFF
        line = self._subclass(base, sub)
        return line[2] if line is not None else _name(self._class(base))

    def prog_if(self, class_code: int) -> Optional[str]:
        base, sub, pi = (class_code >> 16) & 0xFF, (class_code >> 8) & 0xFF, class_code & 0xFF
        return _name(self._find(("p", base, sub, pi), b"\n\t\t%02x " % pi, _below(self._subclass(base, sub)),
                                _ONE_TAB))

    def __len__(self) -> int:
        """How many vendors the file names (a scan of the whole file: for tests and reports)."""
        self._ensure()
        text = self._text
        n = 0
        for m in _TOP_LINE.finditer(text):
            line = text[m.start() + 1:m.start() + 7]
            if len(line) > 5 and line[4:5] == b" " and all(c in b"0123456789abcdefABCDEF" for c in line[:4]):
                n += 1
        return n
