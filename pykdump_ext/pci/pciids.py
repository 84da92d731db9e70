"""Names from the pci.ids database (vendor, device, subsystem, class), loaded on first use.

Callers always print the numbers too; a missing database or entry gives None.
The file is read once, on the first lookup (about 1.3 MB): vendor and class
lines then, a vendor's device and subsystem lines on the first lookup under
that vendor.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Optional, Tuple

# the start of a top-level line: not empty, not indented, not a comment (searching for
# the newline first is several times faster than a MULTILINE "^")
_TOP_LINE = re.compile(r"\n[^\t#\n]")

DEFAULT_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids",
                 "/usr/local/share/pci.ids")


class PciIds:
    """Lookups in a pci.ids file.  `PciIds.load()` finds the system copy; `PciIds.load(path)`
    uses that file; a missing or unreadable file gives an empty database (all names None)."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._loaded = False
        self.error: Optional[str] = None          # why nothing could be loaded, if so
        self._vendors: Dict[int, str] = {}
        self._devices: Dict[Tuple[int, int], str] = {}
        self._subsystems: Dict[Tuple[int, int, int, int], str] = {}
        self._classes: Dict[int, str] = {}
        self._subclasses: Dict[Tuple[int, int], str] = {}
        self._progifs: Dict[Tuple[int, int, int], str] = {}
        self._text = ""
        self._blocks: Dict[int, list] = {}      # vendors whose device lines are not read yet

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
        self._parse(data.decode("utf-8", "replace"))

    def _parse(self, text) -> None:
        """Read the top-level lines (vendors, classes) now; a vendor's device and subsystem
        lines are read on the first lookup under that vendor (most of the file is never
        needed).  Top-level lines are the non-empty ones starting with neither a tab nor
        '#'; each one ends the block of the line before it."""
        self._text = text
        self._blocks = {}       # vid -> [(start, end) of its block's text], in file order
        vid = cls = sub = None
        in_classes = False
        tops = ([0] if text[:1] not in ("", "\t", "#", "\n") else []) + \
            [m.start() + 1 for m in _TOP_LINE.finditer(text)] + [len(text)]
        for start, nxt in zip(tops, tops[1:]):
            eol = text.find("\n", start, nxt)
            eol = nxt if eol < 0 else eol
            line = text[start:eol]
            vid = cls = sub = None
            try:
                if line.startswith("C "):
                    in_classes = True
                    cls = int(line[2:4], 16)
                    self._classes[cls] = line[4:].strip()
                elif len(line) > 5 and line[4] == " ":
                    # a vendor line ("1af4  Red Hat, Inc.")
                    in_classes = False
                    vid = int(line[:4], 16)
                    self._vendors[vid] = line[4:].strip()
                else:
                    in_classes = False
            except ValueError:
                pass            # a malformed line names nothing; its block is ignored
            if vid is not None:
                self._blocks.setdefault(vid, []).append((eol, nxt))
            elif in_classes and cls is not None:
                for line in text[eol:nxt].split("\n"):
                    if not line or line[0] != "\t":
                        continue        # empty lines, comments
                    try:
                        if line[1] != "\t":
                            sub = int(line[1:3], 16)
                            self._subclasses[(cls, sub)] = line[3:].strip()
                        elif sub is not None:
                            self._progifs[(cls, sub, int(line[2:4], 16))] = line[4:].strip()
                    except (ValueError, IndexError):
                        continue

    def _vendor_lines(self, vid) -> None:
        """Read the device and subsystem lines of vendor `vid` (once)."""
        blocks = self._blocks.pop(vid, None) if self._blocks else None
        if not blocks:
            return
        devices, subsystems = self._devices, self._subsystems
        for start, end in blocks:
            did = None
            for line in self._text[start:end].split("\n"):
                if not line or line[0] != "\t":
                    continue            # empty lines, comments
                try:
                    if line[1] != "\t":
                        did = int(line[1:5], 16)
                        devices[(vid, did)] = line[5:].strip()
                    elif did is not None:
                        svid, sdid = int(line[2:6], 16), int(line[7:11], 16)
                        subsystems[(vid, did, svid, sdid)] = line[11:].strip()
                except (ValueError, IndexError):
                    continue    # a malformed line names nothing

    # -- lookups: str or None ---------------------------------------------------
    def vendor(self, vid: int) -> Optional[str]:
        self._ensure()
        return self._vendors.get(vid)

    def device(self, vid: int, did: int) -> Optional[str]:
        self._ensure()
        self._vendor_lines(vid)
        return self._devices.get((vid, did))

    def subsystem(self, vid: int, did: int, svid: int, sdid: int) -> Optional[str]:
        self._ensure()
        self._vendor_lines(vid)
        return self._subsystems.get((vid, did, svid, sdid))

    def klass(self, class_code: int) -> Optional[str]:
        """Most specific name of a 24-bit class code's base class and subclass (lspci's word)."""
        self._ensure()
        base, sub = (class_code >> 16) & 0xFF, (class_code >> 8) & 0xFF
        return self._subclasses.get((base, sub)) or self._classes.get(base)

    def prog_if(self, class_code: int) -> Optional[str]:
        self._ensure()
        return self._progifs.get(((class_code >> 16) & 0xFF, (class_code >> 8) & 0xFF, class_code & 0xFF))

    def __len__(self) -> int:
        self._ensure()
        return len(self._vendors)
