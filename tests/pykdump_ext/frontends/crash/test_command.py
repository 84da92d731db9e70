"""The PyKdump layer (crashcmd, pcicrash.py) on real dumps, with a stand-in for PyKdump.

The stand-in is the only fake here and serves PyKdump's calls from a real
dump: readmem(PHYSADDR) through the standalone reader (crash_ext_c.open),
readSymbol/readSU/member_offset/sym2addr through drgn on the same dump and
vmlinux (PyKdump-style lazy int-subclass structs, KeyError for an unknown
member), and exec_crash_command through real crash 8.0.2 (`crash -s
vmlinux DUMP`), whose `help -D`, `sys`, `dev -V` and `rd -p` output the
layer parses.  The command's output must equal the standalone tool's on
the same dump, byte for byte apart from the lines naming the source.
"""

import contextlib
import io
import json
import os
import re
import runpy
import subprocess
import sys
import types

import pytest

from tests.shared import ROOT, VMCORES, have_tool, needs_shared
from pykdump_ext.frontends.crash import command as crashcmd
from crash_ext_c.reader import PageStatus

drgn = pytest.importorskip("drgn")
from tests.shared import vmlinux  # noqa: E402
from tests.shared import comparable, comparable_json, needs_crash, run_crash, standalone  # noqa: E402

PROG = ROOT / "pykdump_ext" / "frontends" / "crash" / "pcicrash.py"
KVADDR, PHYSADDR = 1, 2


class CrashError(Exception):
    """Stands in for crash.error."""


class SmartString(str):
    """PyKdump returns char * members as str subclasses."""


class StructResult(int):
    """PyKdump's lazy struct: an int (its address); members read on access."""

    def __new__(cls, prog, typ, addr):
        self = int.__new__(cls, addr)
        self._prog, self._type = prog, typ
        return self

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            drgn.offsetof(self._type, name)
        except (LookupError, ValueError):
            raise KeyError(name) from None
        try:
            obj = drgn.Object(self._prog, self._type, address=int(self)).member_(name)
            return _convert(self._prog, obj)
        except drgn.FaultError as exc:
            raise CrashError("readmem error at addr 0x%x" % exc.address) from exc


class TPtr(int):
    """PyKdump's pointer: an int; member access dereferences a pointer to struct."""

    def __new__(cls, value, prog, target):
        self = int.__new__(cls, value)
        self._prog, self._target = prog, target
        return self

    def __getattr__(self, name):
        if name.startswith("_") or self._target is None:
            raise AttributeError(name)
        if int(self) == 0:
            raise IndexError("NULL pointer")
        return getattr(StructResult(self._prog, self._target, int(self)), name)


def _strip(t):
    while t.kind == drgn.TypeKind.TYPEDEF:
        t = t.type
    return t.unqualified()


def _convert(prog, obj):
    t = _strip(obj.type_)
    k = t.kind
    if k in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION):
        return StructResult(prog, t, obj.address_)
    if k == drgn.TypeKind.POINTER:
        val = obj.value_()
        tgt = _strip(t.type)
        if tgt.kind == drgn.TypeKind.INT and "char" in (tgt.name or ""):
            return SmartString(obj.string_().decode("utf-8", "replace") if val else "")
        su = tgt if tgt.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION) else None
        return TPtr(val, prog, su)
    if k == drgn.TypeKind.ARRAY:
        return [_convert(prog, obj[i]) for i in range(t.length or 0)]
    return int(obj.value_())


class StandIn:
    """PyKdump's calls over a real dump (see the module docstring)."""

    error = CrashError
    PHYSADDR = PHYSADDR

    def __init__(self, dump, vml, reader):
        self.dump, self.vml, self.reader = dump, vml, reader
        self.prog = drgn.Program()
        self.prog.set_core_dump(str(dump))
        try:
            self.prog.load_debug_info([str(vml)])
        except drgn.MissingDebugInfoError:
            pass
        self.outputs = {}
        self.aliases = {}
        self.registered = []
        self.commands = []
        self.reads = 0

    def prefetch(self, commands):
        self.outputs.update(run_crash(self.vml, self.dump, commands))

    # crash module
    def readmem(self, addr, size, mtype=KVADDR):
        self.reads += 1
        if mtype == PHYSADDR:
            if addr == 0:
                raise IndexError("physical address 0")
            from crash_ext_c.errors import PageUnavailable
            try:
                return self.reader.read_phys(addr, size)
            except PageUnavailable:
                raise CrashError("readmem error at addr 0x%x" % addr) from None
        try:
            return self.prog.read(addr, size)
        except drgn.FaultError:
            raise CrashError("readmem error at addr 0x%x" % addr) from None

    def register_epython_prog(self, cmd, short, synopsis, help_text):
        assert all(isinstance(s, str) for s in (cmd, short, synopsis, help_text))
        if cmd in [r[0] for r in self.registered]:
            return False
        self.registered.append((cmd, short, synopsis, help_text))
        self.aliases.pop(cmd, None)
        return True

    # pykdump.API
    def exec_crash_command(self, cmd):
        self.commands.append(cmd)
        words = cmd.split()
        if words[0] == "alias":                       # crash's alias table, emulated
            if len(words) > 2:
                if words[1] in [r[0] for r in self.registered]:
                    raise CrashError("alias: %s is a command" % words[1])
                self.aliases[words[1]] = " ".join(words[2:])
                return ""
            if words[1] in self.aliases:
                return "ORIGIN   ALIAS    COMMAND\nruntime  %s  %s\n" % (words[1], self.aliases[words[1]])
            raise CrashError("alias: %s: no such alias" % words[1])
        if cmd not in self.outputs:
            self.prefetch([cmd])
        text = self.outputs[cmd]
        first = text.strip().split("\n", 1)[0]
        if not text.strip() or first.startswith(words[0] + ": "):
            raise CrashError(text.strip() or "%s: no output" % cmd)
        return text + "\n"

    def readSymbol(self, name):
        try:
            obj = self.prog[name]
        except (KeyError, LookupError):
            raise TypeError("There's no symbol <%s>" % name) from None
        return _convert(self.prog, obj)

    def readSU(self, type_name, addr):
        return StructResult(self.prog, _strip(self.prog.type(type_name)), addr)

    def symbol_exists(self, name):
        try:
            self.prog.symbol(name)
            return True
        except LookupError:
            return False

    def member_offset(self, type_name, member):
        try:
            return drgn.offsetof(self.prog.type(type_name), member)
        except (LookupError, ValueError):
            return -1

    def sym2addr(self, name):
        try:
            return self.prog.symbol(name).address
        except LookupError:
            return 0

    def modules(self):
        crash = types.ModuleType("crash")
        for n in ("error", "PHYSADDR", "readmem", "register_epython_prog"):
            setattr(crash, n, getattr(self, n))
        api = types.ModuleType("pykdump.API")
        for n in ("exec_crash_command", "readSymbol", "readSU", "symbol_exists",
                  "member_offset", "sym2addr"):
            setattr(api, n, getattr(self, n))
        pkg = types.ModuleType("pykdump")
        pkg.API = api
        return {"crash": crash, "pykdump": pkg, "pykdump.API": api}


def run_program(standin, args, env=None):
    """Run pcicrash.py the way PyKdump does (by path, sys.argv = [path, args...])."""
    saved_argv, saved_env = sys.argv, dict(os.environ)
    out = io.StringIO()
    mods = standin.modules()
    saved_mods = {k: sys.modules.get(k) for k in mods}
    try:
        sys.modules.update(mods)
        sys.argv = [str(PROG)] + list(args)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_path(str(PROG), run_name="__main__")
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        for k, v in saved_mods.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return out.getvalue()


CASES = [("aer-handled", "kernel-c", "d31-zlib.kdump"),
         ("aer-uncor", "kernel", "d31-zlib.kdump"),
         ("legacy-unaligned", "kernel", "d31-zlib.kdump"),
         ("cor-only", "kernel", "d31-zlib.kdump")]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def session(request):
    scen, kern, fname = request.param
    dump = VMCORES / scen / fname
    if not dump.exists():
        pytest.skip("../shared not present")
    if not have_tool("crash"):
        pytest.skip("crash not installed")
    from crash_ext_c.open import open_dump
    vml = vmlinux(kern)
    reader = open_dump([str(dump)])
    st = StandIn(dump, vml, reader)
    st.prefetch(["help -D", "sys", "dev -V"])
    return scen, dump, vml, reader, st


@needs_shared
@needs_crash
def test_vmcoreinfo_from_real_help_d(session):
    _scen, _dump, _vml, reader, st = session
    info = crashcmd.vmcoreinfo_from_help_d(st.outputs["help -D"])
    assert info == reader.vmcoreinfo
    assert len(info) >= 100 and "CRASHTIME" in info


@needs_shared
@needs_crash
def test_reader_reads_the_same_bytes(session):
    _scen, _dump, _vml, reader, st = session
    cr = crashcmd.CrashReader(st)
    assert cr.name == str(_dump)
    assert cr.page_size == reader.page_size
    from crash_ext_c.vmcoreinfo import get_int
    pm = get_int(reader.vmcoreinfo, "PCI_CRASH_PAGEMAP", base=16)
    if pm is not None:
        assert cr.read_phys(pm, 64) == reader.read_phys(pm, 64)


OPTIONS = [[], ["-a"], ["-e"], ["-t"], ["-x"], ["-l"], ["-l", "-d", "01:00.0"], ["-j"],
           ["-a", "-j"]]


@needs_shared
@needs_crash
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: " ".join(o) or "default")
def test_command_output_equals_standalone(session, opts):
    scen, dump, vml, reader, st = session
    mine = run_program(st, opts)
    ref = standalone(reader, dump, vml, opts)
    assert "Traceback" not in mine
    if "-j" in opts:
        assert comparable_json(mine) == comparable_json(ref)
    else:
        assert comparable(mine) == comparable(ref)
        if "-x" in opts:
            assert mine == ref                       # hex dumps carry no source line at all


@needs_shared
@needs_crash
def test_device_option_equals_standalone(session):
    scen, dump, vml, reader, st = session
    from pykdump_ext.capture.buffer import load_capture
    cap = load_capture(reader)
    bdfs = [r.bdf for r in cap.records][:3] or ["0000:00:02.0"]
    for bdf in bdfs + [bdfs[0][5:]]:                 # also the short bb:dd.f form
        mine = run_program(st, ["-d", bdf])
        ref = standalone(reader, dump, vml, ["-d", bdf])
        assert comparable(mine) == comparable(ref), bdf


@needs_shared
@needs_crash
def test_kernel_extras_shown_or_noted(session):
    scen, dump, vml, reader, st = session
    summary = run_program(st, [])                    # machine-wide lines: the summary view
    full = run_program(st, ["-a"])                   # per-device lines: -a and -d
    if scen == "aer-handled":
        assert "recoverable hardware errors (hwerr_data): CPU 0; memory 0; PCI 6" in summary
        assert "Kernel: driver pcieport, error_state normal, power D0" in full
        assert "non-fatal by error: CmpltTO x1, UnxCmplt x1" in full
    else:
        assert "note: hwerr_data: not in this kernel" in summary
    if reader.vmcoreinfo.get("PCI_CRASH_PAGEMAP") and scen != "cor-only":
        assert "\tKernel: driver " in full
    assert "device dumps (VMCOREDD notes): none" in summary      # crash: none in help -D
    assert "CRASHTIME=%s" % reader.vmcoreinfo["CRASHTIME"] in summary


# ---- registration and program lookup ----

@needs_shared
@needs_crash
def test_register_when_pykdumppath_leads_to_it(session):
    _scen, _dump, _vml, _reader, st = session
    st.registered.clear()
    env = dict(os.environ, PYKDUMPPATH="/nonexistent:%s" % PROG.parent)
    out = run_program(st, ["--register"], env=env)
    assert out == ""
    (cmd, short, synopsis, help_text), = st.registered
    assert cmd == "pcicrash" and synopsis == crashcmd.SYNOPSIS
    # crash prints help strings through printf with at most two arguments.
    assert "%s" not in help_text and re.sub("%%", "", help_text).count("%") == 0
    for opt in ("-a", "-d BDF", "-e", "-t", "-x", "-j"):
        assert re.search(r"^\s+%s\s" % re.escape(opt), help_text, re.M), opt
    # a second registration is refused, not duplicated
    out = run_program(st, ["--register"], env=env)
    assert "already exists" in out and len(st.registered) == 1


@needs_shared
@needs_crash
def test_alias_when_pykdumppath_does_not(session, tmp_path):
    _scen, _dump, _vml, _reader, st = session
    st.registered.clear()
    st.aliases.clear()
    env = {k: v for k, v in os.environ.items() if k != "PYKDUMPPATH"}
    cwd = os.getcwd()
    os.chdir(tmp_path)                         # '.' must not hold pcicrash.py either
    try:
        out = run_program(st, ["--register"], env=env)
    finally:
        os.chdir(cwd)
    assert st.registered == []
    assert st.aliases["pcicrash"] == "epython %s" % os.path.realpath(PROG)
    assert "pcicrash -h" in out
    # -h prints the same help crash would show for `help pcicrash`
    text = run_program(st, ["-h"])
    assert text.startswith("\nNAME\n  pcicrash - ") and "SYNOPSIS\n  pcicrash [-a]" in text


def test_findable_follows_pykdump_lookup(tmp_path):
    pkg = PROG.parent
    assert crashcmd.findable(str(pkg), pykdumppath=str(pkg), cwd=str(tmp_path))
    assert not crashcmd.findable(str(pkg), pykdumppath="", cwd=str(tmp_path))
    # another pcicrash earlier in the path shadows ours: registering would run that one
    other = tmp_path / "pcicrash.py"
    other.write_text("print('other')\n")
    assert not crashcmd.findable(str(pkg), pykdumppath=str(pkg), cwd=str(tmp_path))
    assert crashcmd.findable(str(pkg), pykdumppath=str(pkg), cwd=str(pkg))


def test_crashrc_lines_point_at_this_package():
    res = subprocess.run([sys.executable, "-m", "pykdump_ext", "--crashrc",
                          "--extend", "/usr/lib/crash/extensions/mpykdump.so"],
                         cwd="/", env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, check=True)
    lines = [l for l in res.stdout.splitlines() if l and not l.startswith("#")]
    assert lines == ["extend /usr/lib/crash/extensions/mpykdump.so",
                     "epython %s --register" % os.path.realpath(PROG)]


# ---- page statuses through crash ----

class _Fail:
    """A minimal api whose reads fail like crash's, for the status mapping."""

    error = CrashError
    PHYSADDR = PHYSADDR

    def __init__(self, rd_text):
        self.rd_text = rd_text

    def readmem(self, addr, size, mtype):
        if addr == 0:
            raise IndexError("0")
        raise CrashError("readmem error at addr 0x%x" % addr)

    def exec_crash_command(self, cmd):
        if cmd.startswith("rd -p"):
            raise CrashError(self.rd_text)
        if cmd == "help -D":
            return "    PAGESIZE=4096\n    CRASHTIME=1\n"
        raise CrashError("%s: failed" % cmd.split()[0])


@pytest.mark.parametrize("msg,status", [
    ('rd: page excluded: physical address: 5000  type: "64-bit PHYSADDR"', PageStatus.EXCLUDED),
    ('rd: seek error: physical address: 1000000000  type: "64-bit PHYSADDR"', PageStatus.OUTSIDE),
    ('rd: page incomplete: physical address: 5000  type: "64-bit PHYSADDR"', PageStatus.LOST),
    ('rd: read error: physical address: 5000  type: "64-bit PHYSADDR"', PageStatus.LOST),
])
def test_unreadable_pages_get_crash_reason(msg, status):
    r = crashcmd.CrashReader(_Fail(msg))
    assert r.page_status(5) is status
    assert r.page_status(0) is PageStatus.OUTSIDE          # PyKdump refuses address 0
    from crash_ext_c.errors import PageUnavailable
    with pytest.raises(PageUnavailable):
        r.read_phys(0x5000, 16)


def test_zero_fill_ranges_from_help_d():
    text = """     pt_load_segment[0]:
            file_offset: 2000
             phys_start: 100000
               phys_end: a000000
              zero_fill: 9f00000
     pt_load_segment[1]:
            file_offset: e22000
             phys_start: 1000
               phys_end: 9fc00
              zero_fill: 0
"""
    assert crashcmd.zero_fill_ranges(text) == [(0x9f00000, 0xa000000)]


def test_device_dumps_from_dev_v():
    class Api:
        error = CrashError

        def __init__(self, text=None, exc=None):
            self.text, self.exc = text, exc

        def exec_crash_command(self, cmd):
            if self.exc:
                raise CrashError(self.exc)
            return self.text
    listing = ("INDEX  OFFSET             SIZE       NAME\n"
               "  0    0x0000000000001254 33558488   cxgb4_0000:02:00.4\n"
               "  1    0x0000000002002294 33558488   cxgb4_0000:04:00.4\n")
    assert crashcmd.device_dumps(Api(listing)) == [("cxgb4_0000:02:00.4", 33558488),
                                                   ("cxgb4_0000:04:00.4", 33558488)]
    assert crashcmd.device_dumps(Api(exc="dev: no device dumps found in this dumpfile")) == []
    assert crashcmd.device_dumps(Api(exc="dev: -V option not supported on this dumpfile type")) is None


def test_dump_extent_from_help_d():
    kd = "           max_mapnr: 131034\n        max_mapnr_64: 131034 (0x1ffda)\n"
    assert crashcmd.dump_extent(kd) == (131034, [])
    elf = """     pt_load_segment[0]:
            file_offset: 2000
             phys_start: 14400000
               phys_end: 15220000
              zero_fill: 0
     pt_load_segment[1]:
             phys_start: 1000
               phys_end: 9fc00
              zero_fill: 0
"""
    assert crashcmd.dump_extent(elf) == (None, [(0x14400000, 0x15220000), (0x1000, 0x9fc00)])


def test_pages_beyond_the_dump_need_no_crash_command():
    class Api:
        error = CrashError
        PHYSADDR = PHYSADDR

        def exec_crash_command(self, cmd):
            if cmd == "help -D":
                return "    PAGESIZE=4096\n           max_mapnr: 100\n"
            assert not cmd.startswith("rd"), cmd
            raise CrashError("%s: failed" % cmd)

        def readmem(self, addr, size, mtype):
            raise AssertionError("no read expected at 0x%x" % addr)
    r = crashcmd.CrashReader(Api())
    assert r.page_statuses([100, 1 << 40]) == [PageStatus.OUTSIDE, PageStatus.OUTSIDE]


class _Holes:
    """A reader whose chosen pages are missing (excluded), otherwise the real dump's."""

    def __new__(cls, inner, holes):
        from crash_ext_c.reader import MemoryReader

        class Holes(MemoryReader):
            name = inner.name
            page_size = inner.page_size
            vmcoreinfo = inner.vmcoreinfo
            format = inner.format
            device_dumps = inner.device_dumps

            def page_status(self, pfn):
                return PageStatus.EXCLUDED if pfn in holes else inner.page_status(pfn)

            def _read_page(self, pfn):
                return inner._read_page(pfn)
        return Holes()


@needs_shared
@needs_crash
def test_missing_buffer_pages_same_as_standalone(session):
    """Buffer pages crash cannot read come out as page statuses, as in the standalone tool."""
    scen, dump, vml, reader, st = session
    from pykdump_ext.capture.buffer import read_pagemap
    pm = read_pagemap(reader)
    assert pm is not None, scen
    # A middle and the last page where there are several; the only page of a one-page capture.
    picks = (pm.page_addrs[1], pm.page_addrs[-1]) if len(pm.page_addrs) >= 3 else pm.page_addrs[:1]
    holes = {a // reader.page_size for a in picks}
    holed = _Holes(reader, holes)
    st2 = StandIn(dump, vml, holed)
    st2.outputs = st.outputs                            # same crash, same dump
    for opts in ([], ["-a"], ["-j"]):
        mine = run_program(st2, opts)
        ref = standalone(holed, dump, vml, opts)
        assert "Traceback" not in mine
        if "-j" in opts:
            assert comparable_json(mine) == comparable_json(ref)
            missing = json.loads(mine)["capture"]["missing_pages"]
            assert sorted(m["pfn"] for m in missing) == sorted(holes)
        else:
            assert comparable(mine) == comparable(ref)
    text = run_program(st2, [])
    for pfn in holes:
        assert "(pfn 0x%x, excluded by filtering)" % pfn in text


def test_zero_excluded_session_is_noted():
    class Api(_Fail):
        def exec_crash_command(self, cmd):
            if cmd == "help -D":
                return ("    PAGESIZE=4096\n             flags: 1d6 (KDUMP_CMPRS_LOCAL|ERROR_EXCLUDED|"
                        "ZERO_EXCLUDED|LZO_SUPPORTED)\n")
            raise CrashError("%s: failed" % cmd)
    r = crashcmd.CrashReader(Api(""))
    assert any("zero_excluded on" in n for n in r.notes)
    r2 = crashcmd.CrashReader(_Fail(""))
    assert not any("zero_excluded" in n for n in r2.notes)


def test_crash_side_imports_only_the_standard_library():
    """Inside crash only the pure-Python part exists: no cffi helper, no drgn, no site packages.
    (crash_ext_c's pure modules -- the shared errors, the reader protocol, VMCOREINFO
    text -- come along; its C helper does not.)"""
    code = (
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "import pykdump_ext.frontends.crash.command, pykdump_ext.kernel.structs\n"
        "import pykdump_ext.frontends.cli.main, pykdump_ext.analysis.report\n"
        "import pykdump_ext.output.render, pykdump_ext.output.report_json\n"
        "mods = {m.split('.')[0] for m in sys.modules}\n"
        "extra = sorted(m for m in mods if m not in sys.stdlib_module_names"
        " and m not in sys.builtin_module_names and m not in ('pykdump_ext', 'crash_ext_c')"
        " and not m.startswith('_'))\n"
        "extra += sorted(m for m in sys.modules if m.startswith('crash_ext_c._'))\n"
        "extra += sorted(m for m in sys.modules if m.startswith('_cffi'))\n"
        "print(','.join(extra))\n" % str(ROOT))
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""


def test_minimal_stdlib_gets_one_clear_line():
    """PyKdump built from a Python source tree ships a minimal stdlib (no json, dataclasses)."""
    code = (
        "import sys, runpy\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name in ('json', 'dataclasses'):\n"
        "            raise ModuleNotFoundError('No module named %%r' %% name, name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = [%r, '-a']\n"
        "runpy.run_path(%r, run_name='__main__')\n" % (str(PROG), str(PROG)))
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert re.match(r"pcicrash: PyKdump's Python 3\.\d+ cannot import (json|dataclasses): ",
                    res.stdout)


def test_probe_reads_crash_message_from_redirected_error_output():
    """Real PyKdump: with crash_set_error(file) the message goes to the file, crash.error is empty."""
    class Api:
        error = CrashError
        PHYSADDR = PHYSADDR

        def __init__(self):
            self.errfile = None

        def crash_set_error(self, path):
            old, self.errfile = self.errfile, path
            return old or "/dev/tty"

        def exec_crash_command(self, cmd):
            if cmd == "help -D":
                return "    PAGESIZE=4096\n"
            if cmd.startswith("rd -p"):
                with open(self.errfile, "a") as f:
                    f.write('rd: page incomplete: physical address: 5000  type: "64-bit PHYSADDR"\n')
                raise CrashError("")
            raise CrashError("")

        def readmem(self, addr, size, mtype):
            raise CrashError("readmem error at addr 0x%x" % addr)
    api = Api()
    r = crashcmd.CrashReader(api)
    assert r.page_status(5) is PageStatus.LOST
    assert api.errfile == "/dev/tty"                  # crash's error output restored


def test_a_bug_is_one_line_not_a_traceback(monkeypatch):
    class Api(_Fail):
        def exec_crash_command(self, cmd):
            if cmd == "help -D":
                return "    PAGESIZE=4096\n"
            raise CrashError("%s: failed" % cmd)
    from pykdump_ext.frontends.cli import main as cli
    from pykdump_ext.frontends import run as entry      # the entry point every front end calls
    monkeypatch.setattr(entry, "_execute", lambda *a, **k: 1 // 0)
    monkeypatch.delenv("PCICRASH_DEBUG", raising=False)
    out = io.StringIO()
    assert crashcmd.run(["-a"], api=Api(""), out=out) == cli.EXIT_INTERNAL
    assert out.getvalue().startswith("pcicrash: internal error: ZeroDivisionError")


@needs_shared
@needs_crash
def test_each_page_is_read_once(session):
    """Status probes keep the bytes: a capture page costs crash one physical read."""
    scen, dump, vml, reader, st = session
    counts = {}
    orig = st.readmem

    def readmem(addr, size, mtype=KVADDR):
        if mtype == PHYSADDR:
            counts[addr // reader.page_size] = counts.get(addr // reader.page_size, 0) + 1
        return orig(addr, size, mtype)
    st.readmem = readmem
    try:
        cr = crashcmd.CrashReader(st)
        from pykdump_ext.capture.buffer import load_capture
        cap = load_capture(cr)
    finally:
        del st.readmem
    assert counts, "nothing read"
    assert max(counts.values()) == 1, {hex(p): n for p, n in counts.items() if n > 1}
    assert cap.state == load_capture(reader).state


def test_crash_command_refuses_dump_and_vmlinux_arguments():
    out = io.StringIO()
    assert crashcmd.run(["/tmp/vmcore"], api=_Fail(""), out=out) == 2
    assert "inside crash the open dump is read" in out.getvalue()
    out = io.StringIO()
    assert crashcmd.run(["--vmlinux", "/tmp/vmlinux"], api=_Fail(""), out=out) == 2
    assert "drop --vmlinux" in out.getvalue()


def test_vmcoreinfo_file_held_against_the_session(tmp_path):
    """Inside crash, --vmcoreinfo goes through the same function as the standalone command:
    one from another boot is refused naming both values, a pipe never hangs."""
    other = tmp_path / "other.txt"
    other.write_text("PAGESIZE=4096\nCRASHTIME=2\n")
    out = io.StringIO()
    rc = crashcmd.run(["--vmcoreinfo", str(other)], api=_Fail(""), out=out)
    assert rc == 2              # refused: exit 2 in every front end (docs/errors.md)
    assert "CRASHTIME=2 in the file, 1 in the dump's own VMCOREINFO (another boot or panic)" \
        in out.getvalue() and "refused" in out.getvalue()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = io.StringIO()
    assert crashcmd.run(["--vmcoreinfo", str(fifo)], api=_Fail(""), out=out) == 2
    assert "no KEY=value lines" in out.getvalue()


@needs_shared
@needs_crash
def test_kernel_log_read_through_crash_memory(session):
    """-l inside crash reads the log through the crash layer's reader (CrashReader), and the
    events are the ones makedumpfile's reading of the same dump gives."""
    scen, dump, _vml, _reader, st = session
    from pykdump_ext.kernel.klog.events import parse_events
    from pykdump_ext.kernel.klog.reader import read_kernel_log
    from tests.shared import makedumpfile_log
    log = read_kernel_log(crashcmd.CrashReader(st))
    assert log.records and log.complete, log.notes
    ours = [(e.kind, e.bdf, e.raw) for e in parse_events(log.records)]
    assert ours == [(e.kind, e.bdf, e.raw) for e in parse_events(makedumpfile_log(dump).records)]
    mine = run_program(st, ["-l"])
    assert "Kernel log: " in mine and "not read" not in mine
    assert sum(1 for k, _b, _r in ours if k == "aer") == \
        sum(1 for l in mine.splitlines() if re.search(r"\] \S+ +aer ", l))


def _html_parts(text):
    """The verdict block and the device panels of an HTML report (the rest names the source)."""
    v = re.search(r'<section id="verdict".*?</section>', text, re.S).group(0)
    panels = text[text.index('<h2 id="devices">'):text.index("<noscript>")]
    return v, panels


@needs_shared
@needs_crash
def test_html_option_inside_crash_equals_standalone(session, tmp_path):
    pytest.importorskip("jinja2")
    scen, dump, vml, reader, st = session
    mine_f, ref_f = tmp_path / "crash.html", tmp_path / "standalone.html"
    said = run_program(st, ["--html", str(mine_f)])
    assert said.startswith("pcicrash: HTML report written to %s (" % mine_f), said
    standalone(reader, dump, vml, ["--html", str(ref_f)])
    mine, ref = mine_f.read_text(), ref_f.read_text()
    assert _html_parts(mine) == _html_parts(ref)
    n = len(comparable_json(run_program(st, ["-j"]))["devices"])
    assert mine.count('<details class="dev') == n
    if scen == "aer-handled":       # the kernel's per-device lines are in the panels
        assert "Kernel AER counters: 0 correctable, 0 fatal, 2 non-fatal" in _html_parts(mine)[1]
    # and with a view: the view on the console, the file as well
    out = run_program(st, ["--html", str(mine_f), "-t"])
    assert out.startswith("-[0000:00]-" if n else "pcicrash: capture skipped")
    assert mine_f.stat().st_size > 0
