"""pcicrash: PCI state captured at panic time (CONFIG_PCI_CRASH), read back from crash dumps.

The public API, in three lines::

    from pykdump_ext import open_dump, analyse
    with open_dump("/var/crash/vmcore") as reader:
        report = analyse(reader, names="system")

``open_dump(paths, vmcoreinfo=None)`` returns a :class:`MemoryReader` (a context
manager) for an ELF, kdump-compressed or flattened dump, or the parts of a
``--split`` set.  ``analyse(reader, names=..., kernel=..., log=...)`` returns a
:class:`Report`: ``.capture`` (the buffer's state and records), ``.devices``
(one :class:`Device` per record, buffer order), ``.topology``, ``.paths`` (error
paths), ``.verdict``, ``.links`` and ``.kernel_log``.  ``names`` picks the
device names: ``"system"`` reads the system pci.ids, ``None`` shows numbers
only (the default: nothing is read behind the caller's back), or a
:class:`~pykdump_ext.pci.pciids.PciIds`.  Errors are :class:`PcicrashError`
subclasses naming what is wrong and where.

The names are imported on first use, so ``import pykdump_ext`` stays cheap
and needs only the standard library (inside crash it runs under the Python
that PyKdump embeds).
"""

from typing import TYPE_CHECKING, Any, List

__version__ = "0.1.0"

__all__ = [
    "Capture",
    "Device",
    "DumpFormatError",
    "MemoryReader",
    "PcicrashError",
    "Record",
    "Report",
    "__version__",
    "analyse",
    "open_dump",
]

# public name -> (module, attribute)
_EXPORTS = {
    "open_dump": ("crash_ext_c.open", "open_dump"),
    "MemoryReader": ("crash_ext_c.reader", "MemoryReader"),
    "PcicrashError": ("crash_ext_c.errors", "PcicrashError"),
    "DumpFormatError": ("crash_ext_c.errors", "DumpFormatError"),
    "analyse": ("pykdump_ext.analysis.report", "analyse"),
    "Report": ("pykdump_ext.analysis.report", "Report"),
    "Device": ("pykdump_ext.analysis.report", "Device"),
    "Capture": ("pykdump_ext.capture.buffer", "Capture"),
    "Record": ("pykdump_ext.capture.buffer", "Record"),
}

if TYPE_CHECKING:
    from crash_ext_c.errors import DumpFormatError, PcicrashError
    from crash_ext_c.open import open_dump
    from crash_ext_c.reader import MemoryReader
    from pykdump_ext.analysis.report import Device, Report, analyse
    from pykdump_ext.capture.buffer import Capture, Record


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError("module 'pykdump_ext' has no attribute %r" % name) from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value          # later lookups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
