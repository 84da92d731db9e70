"""pcicrash inside drgn: a helper over any ``drgn.Program`` and a ``pcicrash`` command.

From a drgn session or script::

    from pykdump_ext.frontends.drgn import pcicrash, print_pcicrash
    report = pcicrash(prog)            # the same Report as analysis.analyse()
    print_pcicrash(prog, "-a")         # any view of the standalone command

Physical memory is read through ``prog.read(addr, size, True)`` (one more
MemoryReader) and kernel symbols through ``prog`` itself, so nothing loads
a second vmlinux.  drgn versions with a command interface (``drgn.commands``,
0.1 and later) also get ``%pcicrash ...`` at drgn's prompt and
``%crash pcicrash ...`` among drgn's crash-compatible commands; this module is
registered as a drgn plugin (entry point ``drgn.plugins``), so that happens
when drgn starts.  Older drgn (Debian 12 ships 0.0.22) has the helper only.
"""

from __future__ import annotations

import importlib
import os
import shlex
import struct
import sys
from typing import Any, Dict, Optional, TYPE_CHECKING, TextIO, Tuple

from crash_ext_c import vmcoreinfo as vmcoreinfo_mod
from crash_ext_c.errors import PcicrashError
from crash_ext_c.reader import PageStatus, ProbingReader

if TYPE_CHECKING:
    from pykdump_ext.analysis.report import Report
    from pykdump_ext.kernel.structs import KernelInfo

try:                                    # this module is importable without drgn
    _drgn: Any = importlib.import_module("drgn")      # untyped binding (Debian's python3-drgn)
except ImportError:                     # pragma: no cover - depends on the machine
    _drgn = None

COMMAND = "pcicrash"
DESCRIPTION = "PCI config space, AER and DPC state captured at panic (pcicrash)"
OLD_DRGN_HINT = ("this drgn has no command interface (drgn.commands, drgn 0.1+): call "
                 "`from pykdump_ext.frontends.drgn import print_pcicrash; print_pcicrash(prog, \"-a\")`")

# Words in drgn's FaultError text -> why the page is not there.
_FAULT_WHY = (("excluded", PageStatus.EXCLUDED),
              ("filtered", PageStatus.EXCLUDED),
              ("incomplete", PageStatus.LOST),
              ("not saved", PageStatus.EXCLUDED))


def _need_drgn() -> Any:
    if _drgn is None:
        raise PcicrashError("drgn is not installed (python3-drgn or pip install drgn)")
    return _drgn


def program_vmcoreinfo(prog: Any) -> Dict[str, str]:
    """The crashed kernel's VMCOREINFO as {key: value}.

    drgn 0.0.23+ exposes the dump's note as the object ``VMCOREINFO``; older
    drgn only has the kernel's own note, ``vmcoreinfo_note`` (an ELF note whose
    text the kernel rewrites whenever a line is appended, pci_crash's and
    CRASHTIME included).  ``vmcoreinfo_data`` is no help: at panic it points
    into the crash kernel's reserved memory, which no dump holds.
    """
    drgn = _need_drgn()
    errors = (LookupError, ValueError, drgn.FaultError)
    try:
        return vmcoreinfo_mod.parse(prog["VMCOREINFO"].string_(), source="drgn VMCOREINFO")
    except errors:
        pass
    try:
        addr = prog["vmcoreinfo_note"].value_()
        namesz, descsz = struct.unpack("<II", prog.read(addr, 8, False))
        if namesz > 64 or descsz > vmcoreinfo_mod.MAX_BYTES:
            raise ValueError("note sizes %d/%d are not a VMCOREINFO note's" % (namesz, descsz))
        text = prog.read(addr + 12 + (namesz + 3) // 4 * 4, descsz, False)
    except errors as exc:
        raise PcicrashError("drgn finds no VMCOREINFO (neither the VMCOREINFO object nor "
                            "the kernel's vmcoreinfo_note): %s" % exc) from None
    return vmcoreinfo_mod.parse(text, source="vmcoreinfo_note")


class ProgramReader(ProbingReader):
    """Physical memory of a drgn.Program (vmcore, /proc/kcore, ...) through prog.read().

    A page's status is found by reading it; the bytes are kept (bounded) for
    the read that follows.  drgn does not say why a page is missing beyond
    its FaultError text, so a page it cannot read is "excluded" when the text
    says so and "outside the dump" otherwise.
    """

    format = "drgn program (physical reads)"

    def __init__(self, prog: Any, *, vmcoreinfo: Optional[Dict[str, str]] = None) -> None:
        self.drgn = _need_drgn()
        self.prog = prog
        self.vmcoreinfo = vmcoreinfo if vmcoreinfo is not None else program_vmcoreinfo(prog)
        self.dump_vmcoreinfo = self.vmcoreinfo      # what --vmcoreinfo FILE is held against
        self.page_size = vmcoreinfo_mod.get_int(self.vmcoreinfo, "PAGESIZE") or 4096
        path = getattr(prog, "core_dump_path", None)
        self.name = str(path) if path else "drgn program"
        if prog.flags & self.drgn.ProgramFlags.IS_LIVE:
            self.name = "live kernel (drgn)"
            self.notes = ("live kernel: pci_crash fills its buffer only at panic, so an empty"
                          " or absent capture here is expected; kernel structures are current",)
        ProbingReader.__init__(self)

    def _probe(self, pfn: int) -> Tuple[PageStatus, Optional[bytes]]:
        if pfn < 0:
            return PageStatus.OUTSIDE, None
        try:
            data = self.prog.read(pfn * self.page_size, self.page_size, True)
        except (self.drgn.FaultError, ValueError, OverflowError) as exc:
            text = str(exc).lower()
            return next((s for word, s in _FAULT_WHY if word in text), PageStatus.OUTSIDE), None
        return PageStatus.PRESENT, bytes(data)


def _dump_file_facts(reader: ProgramReader) -> Tuple[Optional[str], Optional[list]]:
    """(format, VMCOREDD notes) of the program's dump file, when it is one our readers open.

    drgn reads that very file, so its format is the truthful description of
    where the bytes come from; only headers and the note area are read here.
    """
    path = getattr(reader.prog, "core_dump_path", None)      # drgn 0.1+
    if not path or not os.path.isfile(path):
        return None, None
    try:
        from crash_ext_c.open import open_dump
        from pykdump_ext.kernel.drgn_source import device_dumps
        with open_dump([path]) as own:
            return own.format, device_dumps(own)
    except (ImportError, PcicrashError, OSError):
        return None, None


def _debug_file(prog: Any) -> Optional[str]:
    """Path of the vmlinux drgn loaded, when this drgn can say (0.1+)."""
    try:
        return prog.main_module().debug_file_path
    except (AttributeError, LookupError, ValueError):
        return None


def kernel_info(prog: Any, reader: ProgramReader) -> KernelInfo:
    """KernelInfo over the program's own symbols (no second vmlinux load)."""
    from pykdump_ext.kernel.drgn_source import DrgnSource, check_match
    from pykdump_ext.kernel.structs import KernelInfo
    fmt, dumps = _dump_file_facts(reader)
    if fmt:
        reader.format = fmt
    vmlinux = _debug_file(prog)
    source = DrgnSource(prog, name="drgn, %s" % vmlinux if vmlinux else "drgn program")
    try:
        check_match(source, reader.vmcoreinfo, vmlinux or "the program's debug info")
    except PcicrashError as exc:
        k = KernelInfo(None, vmcoreinfo=reader.vmcoreinfo, device_dumps=dumps, origin="drgn")
        k.notes[-1] = ("no kernel symbols: %s; driver, error state, power state, AER counters"
                       " and hwerr_data not shown" % exc)
        return k
    return KernelInfo(source, vmcoreinfo=reader.vmcoreinfo, device_dumps=dumps,
                      origin=source.name, lazy=True)


def pcicrash(prog: Any, *, names: Any = "system") -> Report:
    """Analyse the program's memory: the same Report as ``analysis.analyse()`` on a dump file."""
    from pykdump_ext.analysis.report import analyse
    reader = ProgramReader(prog)
    return analyse(reader, kernel=kernel_info(prog, reader), names=names)


def print_pcicrash(prog: Any, argv: Any = "", *, out: Optional[TextIO] = None,
                   err: Optional[TextIO] = None) -> int:
    """Run the pcicrash command line (a string or a list) on `prog`; returns its exit status.

    The options are the standalone command's; the program's memory takes the
    place of DUMP and its debug info the place of --vmlinux.
    """
    from pykdump_ext.frontends.run import session_command
    words = shlex.split(argv) if isinstance(argv, str) else list(argv)
    return session_command(words, prog=COMMAND, memory="drgn the program's memory is read",
                           symbols="drgn the program's own debug info",
                           open_reader=lambda: ProgramReader(prog),
                           kernel_of=lambda reader: kernel_info(prog, reader),
                           out=out if out is not None else sys.stdout,
                           err=err if err is not None else sys.stderr)


def _register_commands() -> bool:
    """Register `pcicrash` at drgn's prompt and among its crash commands; False on old drgn."""
    try:
        from drgn.commands import ParsedCommand, parse_shell_command
        from drgn.commands.linux import linux_kernel_custom_command
    except ImportError:
        return False

    def parse(source: str) -> "ParsedCommand[str]":
        # Everything up to a redirection or pipe is ours; drgn handles the rest.
        cut = len(source)
        for ch in "<>|":
            i = source.find(ch)
            if i >= 0:
                cut = min(cut, i)
        parsed = parse_shell_command(source[cut:])
        return ParsedCommand(args=source[:cut], redirections=parsed.redirections,
                             pipeline=parsed.pipeline)

    def run(prog: Any, name: str, args: str, **kwargs: Any) -> None:
        status = print_pcicrash(prog, args)
        if status not in (0, 1):          # 1 = no complete capture: the output says why
            from drgn.commands import CommandExitStatusError
            raise CommandExitStatusError("pcicrash " + args, status)

    from pykdump_ext.frontends.cli import main as cli
    usage = "**pcicrash** [*options*] (pcicrash -h lists them)"
    long = ("The PCI config space, AER and DPC registers that a CONFIG_PCI_CRASH kernel "
            "captured at panic, decoded, with a verdict on the device at fault. "
            + cli.make_parser().format_usage().strip())
    linux_kernel_custom_command(name=COMMAND, description=DESCRIPTION, usage=usage,
                                long_description=long, parse=parse)(run)
    try:
        from drgn.commands._crash.common import crash_custom_command
    except ImportError:                   # drgn with commands but no crash compatibility
        return True
    crash_custom_command(name=COMMAND, description=DESCRIPTION, usage=usage,
                         long_description=long, parse=parse)(run)
    return True


HAS_COMMAND = _drgn is not None and _register_commands()


def drgn_prog_set(prog: Any) -> None:
    """drgn plugin hook: importing this module registered the command; old drgn gets a hint."""
    if not HAS_COMMAND and os.environ.get("PCICRASH_DRGN_QUIET") is None:
        sys.stderr.write("pcicrash: %s\n" % OLD_DRGN_HINT)
