"""`pcicrash` inside crash: the thin PyKdump-facing layer.

Everything here talks to crash through a handful of PyKdump calls, gathered
in one `api` object so tests can serve them from a real dump without crash:

  readmem(addr, size, PHYSADDR), exec_crash_command(cmd), error (exception),
  PHYSADDR, register_epython_prog(cmd, short, synopsis, help),
  readSymbol(name), readSU(type, addr), symbol_exists(name),
  member_offset(type, member), sym2addr(name); optionally crash_set_error(path).

The decode itself is the standalone tool's: the command parses its options
with the one parser (frontends.run.parse_argv) and calls frontends.run.run
with a `CrashReader`, so inside crash the device decode is the same code on
the same bytes, with the same exit codes (docs/errors.md).
"""

import os
import re
import sys
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from crash_ext_c import vmcoreinfo as vmcoreinfo_mod
from crash_ext_c.errors import PcicrashError
from pykdump_ext.kernel.structs import (
    KernelInfo, MemberMissing, ReadFailed, SymbolMissing, SymbolSource,
)
from crash_ext_c.reader import PageStatus, ProbingReader

COMMAND = "pcicrash"
SHORT = "PCI config space, AER and DPC state captured at panic"
SYNOPSIS = "[-a] [-d BDF] [-e] [-t] [-x] [-l] [-j] [--html FILE] [--color WHEN]"

# crash prints each help string as a printf format (with at most two program
# name arguments): no "%s" here, and a literal percent sign must be "%%".
HELP = """\
  Shows the PCI hardware state the crashed kernel saved at panic time
  (CONFIG_PCI_CRASH: every device's config space, AER and DPC included),
  read from the dump that crash has open, decoded exactly as the standalone
  pcicrash tool decodes it.  Next to each device it shows what only the
  kernel's own structures know: the bound driver, the kernel's error_state
  and power state, and the AER counters of struct pci_dev (aer_stats); and
  for the machine the recoverable hardware-error counters (hwerr_data),
  CRASHTIME and any device dumps (VMCOREDD notes).  Whatever this kernel
  lacks is named in a one-line note.

  With no option it prints the verdict: which device, link or bus error
  most likely brought the machine down, and why.

        -a  all: the capture header, every device with its decoded errors,
            the kernel's view of it, the error paths and the verdict.
    -d BDF  one device in full (lspci -vv style decode, AER registers, TLP
            header, DPC, kernel extras); BDF in lspci's -s syntax
            ([[[[dddd]:]bb]:][dd][.[f]], * = any); repeat for several.
   -s SLOT  only the devices at these addresses (same syntax), any view.
        -e  only devices that logged an error, with their error paths.
        -t  the topology as a tree (like lspci -tv); "!" after a device
            number marks error status, "!! <error>" ends its line.
        -v  also the reader's reasoning (pagemap layout validation).
        -x  every captured config space in lspci -xxxx format, which
            "lspci -F <file>" reads back (use "pcicrash -x > file").
        -l  the kernel log's PCI events as a decoded timeline: AER reports
            (severity, error bits, TLP header, recovery result), DPC, hot-plug
            and link changes, driver timeouts and resets, APEI records, NMIs,
            the panic line; with -d BDF only that device's.  The log is read
            through crash's memory reads, as makedumpfile --dump-dmesg would.
        -j  everything as one JSON document.
 --html FILE  also write everything as one self-contained HTML file (the
            verdict, the error path drawn, the tree, a panel per device) to
            attach to a ticket; needs Jinja2 (Debian python3-jinja2).
 --color WHEN  auto (default: colour on a terminal unless NO_COLOR is
            set), always or never; -j and -x are never coloured.

  The capture is read through crash's physical-memory reads; a page the
  dump does not hold is reported with the reason crash gives (excluded by
  makedumpfile, outside the dump, lost from an incomplete dump) and the
  devices that could still be read are shown.  Output can be redirected
  and piped like any crash command.

EXAMPLES
  Which error brought the machine down:

    crash> pcicrash

  Everything, then one root port in full:

    crash> pcicrash -a
    crash> pcicrash -d 00:02.0

  Save the config spaces for lspci:

    crash> pcicrash -x > pci-config.txt
    crash> !lspci -F pci-config.txt -vv
"""

_VMCOREINFO_LINE = re.compile(r"^\s+([A-Z][A-Z0-9_-]*(?:\([A-Za-z0-9_.]+\))?=\S*)\s*$")
_PT_LOAD = re.compile(r"^\s*(phys_start|phys_end|zero_fill):\s*([0-9a-fA-F]+)\s*$")


class NoPyKdump(PcicrashError):
    """This code is not running inside crash with PyKdump loaded."""


def pykdump_api() -> Any:
    """The real PyKdump calls (importable only inside crash)."""
    try:
        import crash                                  # noqa: F401  (PyKdump's C module)
        import pykdump.API as API                     # its exit hook flushes our output
    except ImportError as exc:
        raise NoPyKdump("not inside crash with PyKdump loaded (%s)" % exc) from exc

    class Api:
        error = crash.error
        PHYSADDR = crash.PHYSADDR
        readmem = staticmethod(crash.readmem)
        exec_crash_command = staticmethod(API.exec_crash_command)
        register_epython_prog = staticmethod(crash.register_epython_prog)
        readSymbol = staticmethod(API.readSymbol)
        readSU = staticmethod(API.readSU)
        symbol_exists = staticmethod(API.symbol_exists)
        member_offset = staticmethod(API.member_offset)
        sym2addr = staticmethod(API.sym2addr)
        # optional: where crash writes its error messages (to keep probes quiet)
        _set_error = getattr(crash, "crash_set_error", None)
        crash_set_error = None if _set_error is None else staticmethod(_set_error)
    return Api


def run_quietly(api: Any, command: str) -> Tuple[str, str]:
    """(output, error text) of a crash command whose error message we want, not on the console.

    PyKdump raises crash.error carrying crash's message, which crash also
    prints; where PyKdump can point crash's error output elsewhere
    (crash_set_error) the message goes to a temporary file and is read back.
    """
    import tempfile
    setter = getattr(api, "crash_set_error", None)
    fd, path = tempfile.mkstemp(prefix="pcicrash-err-")
    os.close(fd)
    old = None
    try:
        if setter is not None:
            try:
                old = setter(path)
            except Exception:          # an older PyKdump: the message stays on the console
                setter = None
        try:
            out, err = api.exec_crash_command(command) or "", ""
        except api.error as exc:
            out, err = "", str(exc)
        finally:
            if setter is not None and old:
                try:
                    setter(old)
                except Exception:
                    pass
        try:
            with open(path, errors="replace") as f:
                err = (err + "\n" + f.read(4096)).strip()
        except OSError:
            pass
        return out, err
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def crash_output(api: Any, command: str) -> Optional[str]:
    """Text crash prints for `command`, or None when it fails or prints nothing."""
    try:
        text = api.exec_crash_command(command)
    except api.error:
        return None
    return text if text else None


def vmcoreinfo_from_help_d(text: str) -> Dict[str, str]:
    """VMCOREINFO from `help -D`: its KEY=value lines are the indented ones shaped like keys."""
    keep = []
    for line in (text or "").splitlines():
        m = _VMCOREINFO_LINE.match(line)
        if m:
            keep.append(m.group(1))
    return vmcoreinfo_mod.parse("\n".join(keep), source="crash help -D")


_MAX_MAPNR = re.compile(r"^\s*max_mapnr(?:_64)?:\s*(\d+)")


def dump_extent(text: Optional[str]) -> Tuple[Optional[int], List[Tuple[int, int]]]:
    """What `help -D` says about which physical pages the dump covers.

    kdump-compressed: max_mapnr (crash refuses any pfn at or above it with a
    seek error); ELF: the PT_LOAD physical ranges.  Returns (max_pfn or None,
    [(start, end)] physical ranges).
    """
    max_pfn = None
    for line in (text or "").splitlines():
        m = _MAX_MAPNR.match(line)
        if m:
            max_pfn = int(m.group(1))
            break
    ranges = [(seg["phys_start"], seg["phys_end"]) for seg, field in _pt_load_fields(text)
              if field == "phys_end" and "phys_start" in seg]
    return max_pfn, ranges


def _pt_load_fields(text):
    """(fields of the segment so far, name just read) for each field line of the
    `pt_load_segment[N]` blocks crash prints in `help -D` for an ELF dump."""
    cur: Dict[str, Any] = {}
    for line in (text or "").splitlines():
        if line.strip().startswith("pt_load_segment["):
            cur = {}
            continue
        m = _PT_LOAD.match(line)
        if m:
            cur[m.group(1)] = int(m.group(2), 16)
            yield cur, m.group(1)


def zero_fill_ranges(text: Optional[str]) -> List[Tuple[int, int]]:
    """ELF dumps: physical ranges [zero_fill, phys_end) that crash fills with zeros.

    crash sets a PT_LOAD's zero_fill to where its stored bytes end when
    p_filesz < p_memsz (makedumpfile -E drops long runs of excluded pages
    that way); reads there succeed and return zeros.
    """
    return [(seg["zero_fill"], seg["phys_end"]) for seg, field in _pt_load_fields(text)
            if field == "zero_fill" and seg["zero_fill"] and "phys_end" in seg]


def _dumpfile_name(sys_text):
    for line in (sys_text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "DUMPFILE":
            return value.strip().split()[0] if value.strip() else None
    return None


# Words crash's readmem/rd errors use (memory.c *_ERRMSG) -> why the page is missing.
_WHY = (("page excluded", PageStatus.EXCLUDED),
        ("page incomplete", PageStatus.LOST),
        ("seek error", PageStatus.OUTSIDE),
        ("read error", PageStatus.LOST),
        ("invalid", PageStatus.OUTSIDE))


class CrashReader(ProbingReader):
    """Physical memory of the dump crash has open, read through PyKdump.

    A page's status is found by reading it (the bytes are kept for the
    read that follows); when crash refuses a page, one `rd -p` of it asks
    crash why, since PyKdump's readmem error does not say.
    """

    format = "crash session (PyKdump physical reads)"

    def __init__(self, api: Any, *, vmcoreinfo: Optional[Dict[str, str]] = None) -> None:
        self.api = api
        help_d = crash_output(api, "help -D") or ""
        self.help_d = help_d
        self.dump_vmcoreinfo = vmcoreinfo_from_help_d(help_d)
        self.vmcoreinfo = vmcoreinfo if vmcoreinfo is not None else self.dump_vmcoreinfo
        self.page_size = vmcoreinfo_mod.get_int(self.vmcoreinfo, "PAGESIZE") or 4096
        self.name = _dumpfile_name(crash_output(api, "sys")) or "crash session"
        self.zero_fill = zero_fill_ranges(help_d)
        self.max_pfn, self.ranges = dump_extent(help_d)
        notes = []
        if not self.vmcoreinfo:
            notes.append("crash's help -D shows no VMCOREINFO lines")
        if re.search(r"^\s*flags:.*\bZERO_EXCLUDED\b", help_d, re.M):
            notes.append("crash has zero_excluded on: pages the dump does not hold read as zeros,"
                         " so a missing buffer page cannot be told from a zero one")
        if self.zero_fill:
            notes.append("ELF dump with %d PT_LOAD tail(s) not stored: crash reads them as zeros,"
                         " so an excluded page there cannot be told from a zero page"
                         % len(self.zero_fill))
        self.notes = tuple(notes)
        ProbingReader.__init__(self)

    def _zero_filled(self, pfn):
        addr = pfn * self.page_size
        return any(lo <= addr < hi for lo, hi in self.zero_fill)

    def _outside(self, pfn):
        """True when help -D already shows crash would refuse the page (no command needed)."""
        if self.max_pfn is not None and pfn >= self.max_pfn:
            return True
        addr = pfn * self.page_size
        return bool(self.ranges) and not any(lo <= addr < hi for lo, hi in self.ranges)

    def _why(self, pfn):
        if self._outside(pfn):
            return PageStatus.OUTSIDE
        addr = pfn * self.page_size
        out, err = run_quietly(self.api, "rd -p 0x%x" % addr)
        low = (out + "\n" + err).lower()
        for word, status in _WHY:
            if word in low:
                return status
        return PageStatus.EXCLUDED

    def _probe(self, pfn: int) -> Tuple[PageStatus, Optional[bytes]]:
        if pfn < 0 or self._outside(pfn):
            return PageStatus.OUTSIDE, None
        try:
            data = self.api.readmem(pfn * self.page_size, self.page_size, self.api.PHYSADDR)
        except IndexError:                 # PyKdump refuses physical address 0
            return PageStatus.OUTSIDE, None
        except self.api.error:
            return self._why(pfn), None
        data = bytes(data)
        if len(data) != self.page_size:
            return PageStatus.LOST, None
        return (PageStatus.ZERO_OR_EXCLUDED if self._zero_filled(pfn) else PageStatus.PRESENT), data


class PyKdumpSource(SymbolSource):
    """kernel.SymbolSource over PyKdump's readSymbol/readSU (lazy structs, int subclasses)."""

    name = "crash symbols"

    def __init__(self, api: Any) -> None:
        self.api = api
        # PyKdump raises crash.error for unreadable memory, IndexError at NULL, and
        # assorted others from its type layer: any of them means "could not read".
        self._errors = (api.error, IndexError, ArithmeticError, SystemError, ValueError,
                        LookupError, RuntimeError, OSError)

    def _fail(self, exc, what):
        if isinstance(exc, (KeyError, AttributeError)):
            return MemberMissing("%s: no member %s" % (what, exc))
        return ReadFailed("%s: %s" % (what, exc))

    def symbol_exists(self, name: str) -> bool:
        try:
            return bool(self.api.symbol_exists(name))
        except self._errors:
            return False

    def symbol_address(self, name: str) -> int:
        try:
            addr = self.api.sym2addr(name)
        except self._errors + (TypeError,) as exc:
            raise SymbolMissing("no symbol %s (%s)" % (name, exc)) from exc
        if not addr:
            raise SymbolMissing("no symbol %s" % name)
        return int(addr)

    def read_symbol(self, name: str) -> Any:
        try:
            return self.api.readSymbol(name)
        except TypeError as exc:
            raise SymbolMissing("no symbol %s (%s)" % (name, exc)) from exc
        except self._errors as exc:
            raise ReadFailed("%s: %s" % (name, exc)) from exc

    def struct_at(self, type_name: str, addr: int) -> Any:
        try:
            return self.api.readSU(type_name, addr)
        except (TypeError, KeyError) as exc:
            raise SymbolMissing("no type %s (%s)" % (type_name, exc)) from exc
        except self._errors as exc:
            raise ReadFailed("%s at 0x%x: %s" % (type_name, addr, exc)) from exc

    def member_offset(self, type_name: str, member: str) -> Optional[int]:
        try:
            off = self.api.member_offset(type_name, member)
        except self._errors + (TypeError, KeyError):
            return None
        return None if off is None or off < 0 else int(off)

    def get(self, value: Any, member: str) -> Any:
        try:
            return getattr(value, member)
        except (KeyError, AttributeError) as exc:
            raise self._fail(exc, member) from exc
        except self._errors as exc:
            raise ReadFailed("%s: %s: %s" % (member, type(exc).__name__, exc)) from exc

    def to_int(self, value: Any) -> int:
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ReadFailed("not an integer: %s" % exc) from exc

    def string(self, value: Any, limit: int = 256) -> str:
        if value is None:
            return ""
        if isinstance(value, str):           # PyKdump reads char * members as strings
            return str(value)[:limit]
        addr = self.to_int(value)
        if addr == 0:
            return ""
        try:
            raw = self.api.readmem(addr, limit)
        except self._errors as exc:
            raise ReadFailed("string at 0x%x: %s" % (addr, exc)) from exc
        return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")

    def elements(self, value: Any) -> List[Any]:
        try:
            return list(value)
        except TypeError as exc:
            raise ReadFailed("not an array: %s" % exc) from exc
        except self._errors as exc:
            raise ReadFailed("array: %s" % exc) from exc


_VMCOREDD_COUNT = re.compile(r"^\s*num_vmcoredd_notes:\s*(\d+)", re.M)


def device_dumps(api: Any, help_d: Optional[str] = None) -> Optional[List[Tuple[str, int]]]:
    """[(name, size)] from crash's `dev -V`; [] when it finds none; None when it cannot tell.

    `help -D` already says how many device dumps crash found; `dev -V` (whose
    "none found" is an error message on the console) is run only when it
    says some, or says nothing.
    """
    m = _VMCOREDD_COUNT.search(help_d or "")
    if m and int(m.group(1)) == 0:
        return []
    text, err = run_quietly(api, "dev -V")
    if "not supported" in err:
        return None
    if err and not text:
        return []
    if "not supported" in text:
        return None
    if "no device dumps" in text:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and vmcoreinfo_mod.to_int(parts[0]) is not None and \
                parts[1].lower().startswith("0x"):
            size = vmcoreinfo_mod.to_int(parts[2])
            if size is not None:
                out.append((parts[3].strip(), size))
    return out


def kernel_info(api: Any, reader: CrashReader) -> KernelInfo:
    return KernelInfo(PyKdumpSource(api), vmcoreinfo=reader.vmcoreinfo,
                      device_dumps=device_dumps(api, reader.help_d), origin="crash symbols",
                      lazy=True)


def help_text() -> str:
    """The help as crash's `help pcicrash` prints it."""
    def fmt(text):
        return text.replace("%%", "%")
    return ("\nNAME\n  %s - %s\n\nSYNOPSIS\n  %s %s\n\nDESCRIPTION\n%s\n"
            % (COMMAND, fmt(SHORT), COMMAND, fmt(SYNOPSIS), fmt(HELP)))


def run(argv, *, api=None, out=None):
    """The `pcicrash` command: the standalone CLI's options and entry point (frontends.run)
    on a CrashReader; messages go to crash's output, as crash's own do."""
    from pykdump_ext.frontends.run import session_command
    out = out if out is not None else sys.stdout
    if any(a in ("-h", "--help") for a in argv):
        out.write(help_text())
        return 0

    def open_reader():
        return CrashReader(api or pykdump_api())
    return session_command(argv, prog=COMMAND, memory="crash the open dump is read",
                           symbols="crash the session's own vmlinux", open_reader=open_reader,
                           kernel_of=lambda reader: kernel_info(reader.api, reader),
                           out=out, err=out)


def program_dir(argv0: str) -> str:
    """The package directory, from the path PyKdump ran the program file by."""
    return os.path.dirname(os.path.realpath(argv0))


def findable(prog_dir: str, pykdumppath: Optional[str] = None, cwd: Optional[str] = None) -> bool:
    """Would PyKdump's program lookup ('.' then $PYKDUMPPATH) find our pcicrash.py?"""
    cwd = cwd or os.getcwd()
    path = os.environ.get("PYKDUMPPATH") if pykdumppath is None else pykdumppath
    dirs = [cwd] + [d for d in (path or "").split(":") if d]
    target = os.path.realpath(os.path.join(prog_dir, COMMAND + ".py"))
    for d in dirs:
        for name in (COMMAND, COMMAND + ".py"):
            cand = os.path.join(d, name)
            if os.path.exists(cand):
                return os.path.realpath(cand) == target
    return False


def register(argv0: str, *, api: Any = None, out: Optional[TextIO] = None) -> int:
    """Make `pcicrash` a crash command for this session.

    When PyKdump's lookup finds this program by name, register it (so
    `help pcicrash` works).  Otherwise an alias runs it by absolute path;
    `pcicrash -h` then shows the same help.
    """
    out = out if out is not None else sys.stdout
    api = api or pykdump_api()
    prog_dir = program_dir(argv0)
    prog = os.path.join(prog_dir, COMMAND + ".py")
    if findable(prog_dir):
        ok = api.register_epython_prog(COMMAND, SHORT, SYNOPSIS, HELP)
        if ok is False:
            out.write("pcicrash: a command named pcicrash already exists; not registered\n")
            return 1
        return 0
    crash_output(api, "alias %s epython %s" % (COMMAND, prog))   # prints nothing when it works
    text = crash_output(api, "alias %s" % COMMAND) or ""
    if prog not in text:
        out.write("pcicrash: could not add the alias (crash said: %s)\n" % text.strip())
        return 1
    out.write("pcicrash: added as an alias of \"epython %s\" ($PYKDUMPPATH did not lead to it"
              " when PyKdump was loaded, so \"help pcicrash\" is not available: use"
              " \"pcicrash -h\")\n" % prog)
    return 0


def main(argv0: str, argv: Sequence[str], *, api: Any = None, out: Optional[TextIO] = None) -> int:
    """Entry of the program file PyKdump runs (pcicrash.py)."""
    if argv and argv[0] == "--register":
        return register(argv0, api=api, out=out)
    return run(argv, api=api, out=out)
