"""Names from the pci.ids database (vendor, device, subsystem, class), loaded on first use.

Callers always print the numbers too; a missing database or entry gives None.
The file is read once, in one pass, on the first lookup (about 1.3 MB; see
bench/ for the time it takes).
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

DEFAULT_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids",
                 "/usr/local/share/pci.ids")


class PciIds:
    """Lookups in a pci.ids file.  `PciIds.load()` finds the system copy; `PciIds.load(path)`
    uses that file; a missing or unreadable file gives an empty database (all names None)."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self._loaded = False
        self.error = None          # why nothing could be loaded, if so
        self._vendors: Dict[int, str] = {}
        self._devices: Dict[Tuple[int, int], str] = {}
        self._subsystems: Dict[Tuple[int, int, int, int], str] = {}
        self._classes: Dict[int, str] = {}
        self._subclasses: Dict[Tuple[int, int], str] = {}
        self._progifs: Dict[Tuple[int, int, int], str] = {}

    @classmethod
    def load(cls, path: Optional[str] = None) -> "PciIds":
        if path is None:
            path = next((p for p in DEFAULT_PATHS if os.path.isfile(p)), None)
        return cls(path)

    @classmethod
    def empty(cls) -> "PciIds":
        return cls(None)

    def _ensure(self):
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

    def _parse(self, text):
        vendors, devices, subsystems = self._vendors, self._devices, self._subsystems
        classes, subclasses, progifs = self._classes, self._subclasses, self._progifs
        vid = did = None
        cls = sub = None
        in_classes = False
        for line in text.split("\n"):
            if not line or line[0] == "#":
                continue
            try:
                if line[0] != "\t":
                    vid = did = cls = sub = None
                    if line.startswith("C "):
                        in_classes = True
                        cls = int(line[2:4], 16)
                        classes[cls] = line[4:].strip()
                    elif len(line) > 5 and line[4] == " ":
                        # a vendor line ("1af4  Red Hat, Inc.")
                        in_classes = False
                        vid = int(line[:4], 16)
                        vendors[vid] = line[4:].strip()
                    else:
                        in_classes = False
                elif line[1] != "\t":
                    if in_classes and cls is not None:
                        sub = int(line[1:3], 16)
                        subclasses[(cls, sub)] = line[3:].strip()
                    elif vid is not None:
                        did = int(line[1:5], 16)
                        devices[(vid, did)] = line[5:].strip()
                else:
                    if in_classes and sub is not None:
                        progifs[(cls, sub, int(line[2:4], 16))] = line[4:].strip()
                    elif vid is not None and did is not None:
                        svid, sdid = int(line[2:6], 16), int(line[7:11], 16)
                        subsystems[(vid, did, svid, sdid)] = line[11:].strip()
            except ValueError:
                continue        # a malformed line names nothing

    # -- lookups: str or None ---------------------------------------------------
    def vendor(self, vid: int) -> Optional[str]:
        self._ensure()
        return self._vendors.get(vid)

    def device(self, vid: int, did: int) -> Optional[str]:
        self._ensure()
        return self._devices.get((vid, did))

    def subsystem(self, vid: int, did: int, svid: int, sdid: int) -> Optional[str]:
        self._ensure()
        return self._subsystems.get((vid, did, svid, sdid))

    def klass(self, class_code: int) -> Optional[str]:
        """Most specific name of a 24-bit class code's base class and subclass (lspci's word)."""
        self._ensure()
        base, sub = (class_code >> 16) & 0xFF, (class_code >> 8) & 0xFF
        return self._subclasses.get((base, sub)) or self._classes.get(base)

    def prog_if(self, class_code: int) -> Optional[str]:
        self._ensure()
        return self._progifs.get(((class_code >> 16) & 0xFF, (class_code >> 8) & 0xFF, class_code & 0xFF))

    def __len__(self):
        self._ensure()
        return len(self._vendors)
