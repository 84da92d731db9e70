"""The kernel.SymbolSource interface over drgn (vmlinux + dump), for the standalone CLI.

drgn (python3-drgn, system python3) gives types, symbols and the kernel's
page-table walk.  Memory comes from our own reader when the architecture
is one we know how to describe to drgn (x86_64: a stub ELF core carrying
only the VMCOREINFO note, then the reader's physical pages and the kernel
image mapping as drgn memory segments), so every format the reader opens
works (flattened, split sets, incomplete dumps) and the kernel extras read
the very bytes the capture is decoded from.  Otherwise drgn opens the dump
itself (ELF; kdump-compressed through libkdumpfile).  Importing this module
never requires drgn: `available()` says whether it can be used.
"""

from __future__ import annotations

import importlib
import os
import struct
import tempfile
from typing import Any, Dict, List, Optional, TYPE_CHECKING, Tuple

from crash_ext_c.errors import PcicrashError
from crash_ext_c.vmcoreinfo import get_int
from .structs import KernelInfo, MemberMissing, ReadFailed, SymbolMissing, SymbolSource

if TYPE_CHECKING:
    from crash_ext_c.reader import MemoryReader

try:                                    # optional dependency
    drgn: Any = importlib.import_module("drgn")      # untyped binding (Debian's python3-drgn)
except ImportError:                     # pragma: no cover - depends on the machine
    drgn = None


def available() -> bool:
    return drgn is not None


def _wrap(exc, what):
    if isinstance(exc, (AttributeError, KeyError)):
        return MemberMissing("%s: %s" % (what, exc))
    if isinstance(exc, LookupError):
        return SymbolMissing("%s: %s" % (what, exc))
    return ReadFailed("%s: %s" % (what, exc))


_ERRORS = (LookupError, AttributeError, ValueError, TypeError, OverflowError) + (
    (drgn.FaultError, drgn.ObjectAbsentError) if drgn is not None else ())


# How drgn is told about an architecture: ELF e_machine, the VMCOREINFO key
# that identifies it, and the kernel image mapping (virtual start, the
# VMCOREINFO number giving phys = virt - start + that number, image size key).
ARCHES = (
    dict(name="x86_64", e_machine=62, key="SYMBOL(init_top_pgt)",
         image_start=0xffffffff80000000, phys_key="NUMBER(phys_base)",
         size_key="NUMBER(KERNEL_IMAGE_SIZE)", default_size=1 << 30),
)
PHYS_LIMIT = 1 << 52          # physical address space covered by the reader segment
U64 = (1 << 64) - 1


def _note(name, ntype, desc):
    nb = name.encode() + b"\0"
    return (struct.pack("<III", len(nb), len(desc), ntype) + nb + bytes(-len(nb) % 4)
            + desc + bytes(-len(desc) % 4))


def stub_core(vmcoreinfo: Dict[str, str], e_machine: int) -> bytes:
    """Bytes of an ELF64 core holding only a VMCOREINFO note and one empty PT_LOAD."""
    text = "".join("%s=%s\n" % kv for kv in vmcoreinfo.items()).encode()
    notes = _note("VMCOREINFO", 0, text)
    phnum, note_off = 2, 64 + 56 * 2
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7),
                       4, e_machine, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    ph_note = struct.pack("<IIQQQQQQ", 4, 0, note_off, 0, 0, len(notes), len(notes), 4)
    ph_load = struct.pack("<IIQQQQQQ", 1, 7, note_off + len(notes), 0, 0, 0, PHYS_LIMIT, 4096)
    return ehdr + ph_note + ph_load + notes


def _arch(vmcoreinfo):
    for a in ARCHES:
        if a["key"] in vmcoreinfo and a["phys_key"] in vmcoreinfo:
            return a
    return None


class DrgnSource(SymbolSource):
    """SymbolSource over a drgn.Program (already loaded with a dump and vmlinux)."""

    def __init__(self, prog: Any, name: str = "drgn") -> None:
        self.prog = prog
        self.name = name

    @classmethod
    def open(cls, dump_path: str, vmlinux: str) -> "DrgnSource":
        """A source over `dump_path` (one file) with debug info from `vmlinux`."""
        if drgn is None:
            raise PcicrashError("drgn is not installed (python3-drgn): --vmlinux needs it")
        prog = drgn.Program()
        try:
            prog.set_core_dump(str(dump_path))
        except (drgn.FaultError, ValueError, OSError, drgn.MissingDebugInfoError) as exc:
            raise PcicrashError("drgn cannot open the dump: %s" % exc, path=str(dump_path)) from exc
        try:
            prog.load_debug_info([str(vmlinux)])
        except drgn.MissingDebugInfoError as exc:
            # drgn also complains about modules it finds no debug info for; the
            # kernel itself is what matters.
            try:
                prog.type("struct pci_dev")
            except LookupError:
                raise PcicrashError("no kernel debug info from %s: %s" % (vmlinux, exc),
                                    path=str(vmlinux)) from exc
        except (OSError, ValueError) as exc:
            raise PcicrashError("drgn cannot load %s: %s" % (vmlinux, exc), path=str(vmlinux)) from exc
        return cls(prog, name="drgn, %s" % vmlinux)

    @classmethod
    def over_reader(cls, reader: MemoryReader, vmlinux: str) -> Optional["DrgnSource"]:
        """A source whose memory is `reader`'s; None when the architecture is not one we describe."""
        if drgn is None:
            raise PcicrashError("drgn is not installed (python3-drgn): --vmlinux needs it")
        info = reader.vmcoreinfo or {}
        arch = _arch(info)
        if arch is None:
            return None
        prog = drgn.Program()
        fd, path = tempfile.mkstemp(prefix="pcicrash-core-")
        try:
            os.write(fd, stub_core(info, arch["e_machine"]))
            os.close(fd)
            prog.set_core_dump(path)
        except (ValueError, OSError) as exc:
            raise PcicrashError("drgn rejects the VMCOREINFO: %s" % exc, path=reader.name) from exc
        finally:
            os.unlink(path)
        from crash_ext_c.errors import PageUnavailable

        def read_phys(addr, count, offset, physical):
            try:
                return reader.read_phys(addr, count)
            except PageUnavailable as exc:
                raise drgn.FaultError(exc.message(), addr) from exc

        phys_base = get_int(info, arch["phys_key"], base=0, source=reader.name)
        if phys_base is None:           # _arch() saw the key; a None here means no number
            return None
        delta = phys_base & U64
        start = arch["image_start"]

        def read_image(addr, count, offset, physical):
            return read_phys((addr - start + delta) & U64, count, 0, True)

        size = get_int(info, arch["size_key"], base=0, source=reader.name) or arch["default_size"]
        prog.add_memory_segment(0, PHYS_LIMIT, read_phys, physical=True)
        prog.add_memory_segment(start, size, read_image, physical=False)
        src = cls(prog, name="drgn, %s" % vmlinux)
        src._load(vmlinux)
        return src

    def _load(self, vmlinux):
        try:
            self.prog.load_debug_info([str(vmlinux)])
        except drgn.MissingDebugInfoError as exc:
            try:
                self.prog.type("struct pci_dev")
            except LookupError:
                raise PcicrashError("no kernel debug info from %s: %s" % (vmlinux, exc),
                                    path=str(vmlinux)) from exc
        except (OSError, ValueError) as exc:
            raise PcicrashError("drgn cannot load %s: %s" % (vmlinux, exc), path=str(vmlinux)) from exc

    def symbol_exists(self, name: str) -> bool:
        try:
            self.prog[name]
            return True
        except (LookupError, ValueError):
            return False

    def symbol_address(self, name: str) -> int:
        try:
            return self.prog.symbol(name).address
        except (LookupError, ValueError) as exc:
            raise SymbolMissing("no symbol %s (%s)" % (name, exc)) from exc

    def read_symbol(self, name: str) -> Any:
        try:
            return self.prog[name].read_()
        except _ERRORS as exc:
            raise _wrap(exc, name) from exc

    def struct_at(self, type_name: str, addr: int) -> Any:
        try:
            return drgn.Object(self.prog, self.prog.type(type_name), address=addr)
        except _ERRORS as exc:
            raise _wrap(exc, "%s at 0x%x" % (type_name, addr)) from exc

    def member_offset(self, type_name: str, member: str) -> Optional[int]:
        try:
            return drgn.offsetof(self.prog.type(type_name), member)
        except (LookupError, ValueError):
            return None

    def get(self, value: Any, member: str) -> Any:
        try:
            return value.member_(member)
        except _ERRORS as exc:
            raise _wrap(exc, member) from exc

    def to_int(self, value: Any) -> int:
        try:
            if value.type_.kind == drgn.TypeKind.POINTER:
                return value.value_()
            return int(value.read_())
        except _ERRORS as exc:
            raise _wrap(exc, "value") from exc

    def string(self, value: Any, limit: int = 256) -> str:
        try:
            return value.string_()[:limit].decode("utf-8", "replace")
        except _ERRORS as exc:
            raise _wrap(exc, "string") from exc

    def elements(self, value: Any) -> List[Any]:
        try:
            n = value.type_.length
            return [value[i] for i in range(n or 0)]
        except _ERRORS as exc:
            raise _wrap(exc, "array") from exc


def device_dumps(reader: MemoryReader) -> Optional[List[Tuple[str, int]]]:
    """[(name, size)] of the dump's VMCOREDD notes; None when the reader cannot tell."""
    dumps = reader.device_dumps
    return None if dumps is None else [(d.name, d.size) for d in dumps]


def check_match(source: SymbolSource, vmcoreinfo: Optional[Dict[str, str]], vmlinux: str) -> None:
    """Refuse a vmlinux that is not the dump's kernel: its init_uts_ns must read VMCOREINFO's OSRELEASE.

    With the wrong vmlinux every symbol address is wrong and the "values"
    would be whatever lies there, so nothing is shown instead.
    """
    want = (vmcoreinfo or {}).get("OSRELEASE")
    if not want:
        return
    try:
        uts = source.read_symbol("init_uts_ns")
        got = source.string(source.get(source.get(uts, "name"), "release"), 65)
    except Exception as exc:                    # drgn/our errors alike: it does not match
        got = "unreadable (%s)" % exc
    if got != want:
        raise PcicrashError("%s is not this dump's kernel (its init_uts_ns reads %r,"
                            " VMCOREINFO says OSRELEASE=%s)" % (vmlinux, got, want))


def kernel_info(reader: MemoryReader, dump_path: Optional[str], vmlinux: str, *,
                lazy: bool = False) -> KernelInfo:
    """KernelInfo for the standalone CLI's --vmlinux: symbols through drgn, the rest from `reader`.

    When drgn cannot read this dump (it opens ELF and, through libkdumpfile,
    kdump-compressed files; not flattened files or split sets) the capture
    is still shown: the KernelInfo then carries one note saying why there
    are no kernel extras.
    """
    dumps = device_dumps(reader)
    info = reader.vmcoreinfo
    try:
        source = DrgnSource.over_reader(reader, vmlinux)
        if source is None:
            if dump_path is None:
                raise PcicrashError("drgn cannot read this memory and no dump file is named")
            source = DrgnSource.open(dump_path, vmlinux)
        check_match(source, info, vmlinux)
    except PcicrashError as exc:
        k = KernelInfo(None, vmcoreinfo=info, device_dumps=dumps, origin="drgn")
        k.notes[-1] = ("no kernel symbols: %s; driver, error state, power state, AER counters"
                       " and hwerr_data not shown" % exc)
        return k
    return KernelInfo(source, vmcoreinfo=info, device_dumps=dumps, origin=source.name, lazy=lazy)
