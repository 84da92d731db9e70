"""The kernel.SymbolSource interface over drgn (vmlinux + dump), for the standalone CLI.

drgn (python3-drgn, system python3) reads the dump itself (libkdumpfile for
kdump-compressed files, its own ELF reader otherwise); we only use it for
symbols and typed kernel-virtual reads.  Importing this module never
requires drgn: `available()` says whether it can be used.
"""

from .errors import PcicrashError
from .kernel import (KernelInfo, MemberMissing, ReadFailed, SymbolMissing, SymbolSource,
                     vmcoredd_notes)

try:                                    # optional dependency
    import drgn
except ImportError:                     # pragma: no cover - depends on the machine
    drgn = None


def available():
    return drgn is not None


def _wrap(exc, what):
    if isinstance(exc, (AttributeError, KeyError)):
        return MemberMissing("%s: %s" % (what, exc))
    if isinstance(exc, LookupError):
        return SymbolMissing("%s: %s" % (what, exc))
    return ReadFailed("%s: %s" % (what, exc))


_ERRORS = (LookupError, AttributeError, ValueError, TypeError, OverflowError) + (
    (drgn.FaultError, drgn.ObjectAbsentError) if drgn is not None else ())


class DrgnSource(SymbolSource):
    """SymbolSource over a drgn.Program (already loaded with a dump and vmlinux)."""

    def __init__(self, prog, name="drgn"):
        self.prog = prog
        self.name = name

    @classmethod
    def open(cls, dump_path, vmlinux):
        """A source over `dump_path` (one file) with debug info from `vmlinux`."""
        if drgn is None:
            raise PcicrashError("drgn is not installed (python3-drgn): --vmlinux needs it")
        prog = drgn.Program()
        try:
            prog.set_core_dump(str(dump_path))
        except (drgn.FaultError, ValueError, OSError, drgn.MissingDebugInfoError) as exc:
            raise PcicrashError("drgn cannot open the dump: %s" % exc, path=str(dump_path))
        try:
            prog.load_debug_info([str(vmlinux)])
        except drgn.MissingDebugInfoError as exc:
            # drgn also complains about modules it finds no debug info for; the
            # kernel itself is what matters.
            try:
                prog.type("struct pci_dev")
            except LookupError:
                raise PcicrashError("no kernel debug info from %s: %s" % (vmlinux, exc),
                                    path=str(vmlinux))
        except (OSError, ValueError) as exc:
            raise PcicrashError("drgn cannot load %s: %s" % (vmlinux, exc), path=str(vmlinux))
        return cls(prog, name="drgn, %s" % vmlinux)

    def symbol_exists(self, name):
        try:
            self.prog[name]
            return True
        except (LookupError, ValueError):
            return False

    def symbol_address(self, name):
        try:
            return self.prog.symbol(name).address
        except (LookupError, ValueError) as exc:
            raise SymbolMissing("no symbol %s (%s)" % (name, exc))

    def read_symbol(self, name):
        try:
            return self.prog[name].read_()
        except _ERRORS as exc:
            raise _wrap(exc, name)

    def struct_at(self, type_name, addr):
        try:
            return drgn.Object(self.prog, self.prog.type(type_name), address=addr)
        except _ERRORS as exc:
            raise _wrap(exc, "%s at 0x%x" % (type_name, addr))

    def member_offset(self, type_name, member):
        try:
            return drgn.offsetof(self.prog.type(type_name), member)
        except (LookupError, ValueError):
            return None

    def get(self, value, member):
        try:
            return value.member_(member)
        except _ERRORS as exc:
            raise _wrap(exc, member)

    def to_int(self, value):
        try:
            if value.type_.kind == drgn.TypeKind.POINTER:
                return value.value_()
            return int(value.read_())
        except _ERRORS as exc:
            raise _wrap(exc, "value")

    def string(self, value, limit=256):
        try:
            return value.string_()[:limit].decode("utf-8", "replace")
        except _ERRORS as exc:
            raise _wrap(exc, "string")

    def elements(self, value):
        try:
            n = value.type_.length
            return [value[i] for i in range(n or 0)]
        except _ERRORS as exc:
            raise _wrap(exc, "array")


def device_dumps(reader):
    """[(name, size)] of the dump's VMCOREDD notes; None when the reader cannot tell."""
    dumps = getattr(reader, "device_dumps", None)          # ELF reader lists them
    if dumps is not None:
        return [(d.name, d.size) for d in dumps]
    parts = getattr(reader, "parts", None)                 # kdump-compressed: the note area
    if parts:
        part = parts[0]
        rng = getattr(part, "note_range", None)
        src = getattr(part, "src", None)
        if rng is None or src is None:
            return [] if rng is None and src is not None else None
        return vmcoredd_notes(src.pread, rng[0], rng[1])
    return None


def kernel_info(reader, dump_path, vmlinux):
    """KernelInfo for the standalone CLI's --vmlinux: symbols through drgn, the rest from `reader`.

    When drgn cannot read this dump (it opens ELF and, through libkdumpfile,
    kdump-compressed files; not flattened files or split sets) the capture
    is still shown: the KernelInfo then carries one note saying why there
    are no kernel extras.
    """
    dumps = device_dumps(reader)
    info = getattr(reader, "vmcoreinfo", {})
    try:
        source = DrgnSource.open(dump_path, vmlinux)
    except PcicrashError as exc:
        k = KernelInfo(None, vmcoreinfo=info, device_dumps=dumps, origin="drgn")
        k.notes[-1] = ("no kernel symbols: %s; driver, error state, power state, AER counters"
                       " and hwerr_data not shown" % exc)
        return k
    return KernelInfo(source, vmcoreinfo=info, device_dumps=dumps, origin=source.name)
