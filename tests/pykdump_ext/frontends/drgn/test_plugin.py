"""pcicrash inside drgn (pykdump_ext/frontends/drgn.py) against the standalone `pcicrash --vmlinux`.

Two real drgns: Debian's python3-drgn 0.0.22 (system python3: helper only)
and the newest drgn wheel from PyPI (.venv-drgn, made by install.sh: helper
plus the `%pcicrash` command).  Each opens the shared dumps with their
vmlinux itself; pcicrash then reads memory and symbols only through it.
"""

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.shared import ROOT, SYSTEM_PYTHON, VMCORES, have_shared, have_system_module, vmlinux

NEWEST = ROOT / ".venv-drgn" / "bin" / "python"
NEWEST_DRGN = ROOT / ".venv-drgn" / "bin" / "drgn"
PCICRASH = [sys.executable, "-m", "pykdump_ext"]

pytestmark = pytest.mark.skipif(not have_shared(), reason="../shared/vmcores not present")


def _kernel_scenarios():
    out = []
    if not have_shared():
        return out
    for d in sorted(VMCORES.iterdir()):
        sj = d / "scenario.json"
        if not sj.exists():
            continue
        kernel = json.loads(sj.read_text()).get("kernel")
        if kernel and (VMCORES / kernel / "vmlinux.xz").exists():
            out.append((d.name, kernel))
    return out


SCENARIOS = _kernel_scenarios()


def _drgns():
    out = []
    if have_system_module("drgn"):
        out.append(pytest.param(SYSTEM_PYTHON, id="debian-drgn"))
    # install.sh always makes .venv-drgn; without it this machine was not set up
    out.append(pytest.param(str(NEWEST), id="newest-drgn", marks=pytest.mark.skipif(
        not NEWEST.exists(), reason=".venv-drgn missing: run ./install.sh")))
    return out


DRIVER = r"""
import json, sys, drgn
sys.path.insert(0, sys.argv[1])
from pykdump_ext.frontends.drgn import print_pcicrash
prog = drgn.Program()
prog.set_core_dump(sys.argv[2])
try:
    prog.load_debug_info([sys.argv[3]])
except drgn.MissingDebugInfoError:
    pass                       # modules without debug info; the kernel's is there
sys.exit(print_pcicrash(prog, sys.argv[4:]))
"""


def _via_drgn(python, dump, vml, *argv):
    return subprocess.run([python, "-c", DRIVER, str(ROOT), str(dump), str(vml), *argv],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PCICRASH_DRGN_QUIET="1"))


def _standalone(dump, vml, *argv):
    return subprocess.run(PCICRASH + list(argv) + ["--vmlinux", str(vml), str(dump)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def _old_drgn(python):
    return python == SYSTEM_PYTHON


# What only says where the bytes came from.  drgn 0.0.22 cannot name its core
# file or vmlinux, so there those (and the dump's device-dump notes, read from
# the file) are unknown; the newest drgn gives them all.
WHERE = ("source", "format")


# How the dump file stores a page (a zero-page entry) only the file's own index
# says; drgn returns the zeros.
STORAGE_NOTES = ("stored as a zero page",)


def _strip_where(report, old):
    for key in WHERE:
        report.pop(key, None)
    cap = report["capture"]
    cap["notes"] = [n for n in cap["notes"] if not any(s in n for s in STORAGE_NOTES)]
    k = report.get("kernel") or {}
    k.pop("source", None)
    if old:
        k.pop("device_dumps", None)
    return report


@pytest.mark.parametrize("python", _drgns())
@pytest.mark.parametrize("scenario,kernel", SCENARIOS, ids=[s for s, _ in SCENARIOS])
def test_json_equals_standalone(python, scenario, kernel):
    dump = VMCORES / scenario / "d31-zlib.kdump"
    vml = vmlinux(kernel)
    got = _via_drgn(python, dump, vml, "-j")
    want = _standalone(dump, vml, "-j")
    assert got.returncode == want.returncode, got.stderr
    a, b = json.loads(got.stdout), json.loads(want.stdout)
    if not _old_drgn(python) and not any(s in n for n in b["capture"]["notes"]
                                         for s in STORAGE_NOTES):
        assert a == b                       # every byte the same, source and format included
    assert _strip_where(a, _old_drgn(python)) == _strip_where(b, _old_drgn(python))
    if b["devices"]:
        assert a["kernel"]["devices"], "kernel view empty: symbols were not read through drgn"


@pytest.mark.parametrize("python", _drgns())
def test_all_view_equals_standalone(python):
    dump = VMCORES / "aer-handled" / "d31-zlib.kdump"
    vml = vmlinux("kernel-c")
    got = _via_drgn(python, dump, vml, "-a")
    want = _standalone(dump, vml, "-a")
    assert got.returncode == want.returncode == 0, got.stderr
    if not _old_drgn(python):
        assert got.stdout == want.stdout
        return
    g, w = got.stdout.splitlines(), want.stdout.splitlines()
    assert len(g) == len(w)
    differ = [(x, y) for x, y in zip(g, w) if x != y]
    # only the lines that say where memory, symbols and device dumps came from
    assert differ and all("drgn program" in x or "cannot tell from this source" in x
                          for x, _ in differ), differ


def test_readme_one_liner_newest():
    """The README's `drgn -e` line prints exactly what `pcicrash -a --vmlinux` prints."""
    if not NEWEST_DRGN.exists():
        pytest.skip(".venv-drgn missing: run ./install.sh")
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    vml = vmlinux("kernel")
    got = subprocess.run([str(NEWEST_DRGN), "-q", "-c", str(dump), "-s", str(vml), "-e",
                          'from pykdump_ext.frontends.drgn import print_pcicrash; '
                          'print_pcicrash(prog, "-a")'],
                         capture_output=True, text=True, timeout=300)
    want = _standalone(dump, vml, "-a")
    assert got.stdout == want.stdout and want.stdout


def _prompt_session(dump, vml, lines, timeout=120):
    """Type `lines` at drgn's interactive prompt (a real pty); returns what the screen showed."""
    pid, fd = pty.fork()
    if pid == 0:                                           # child: drgn on the pty
        os.execv(str(NEWEST_DRGN), [str(NEWEST_DRGN), "-q", "-c", str(dump), "-s", str(vml)])
    out = b""
    deadline = time.monotonic() + timeout

    def wait_prompt():
        """Read until the screen ends in drgn's prompt and stays quiet (the banner
        itself shows `>>> ` lines, so a prompt is only a prompt once nothing follows)."""
        nonlocal out
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "drgn prompt: no answer within %ds; screen: %r" % (timeout,
                                                                                out[-2000:])
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not r:
                if out.endswith(b">>> "):
                    return
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            assert chunk, "drgn exited; screen: %r" % out[-2000:]
            out += chunk
    try:
        wait_prompt()
        for line in lines:
            os.write(fd, line.encode() + b"\n")
            wait_prompt()
        os.write(fd, b"exit()\n")
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


def test_command_at_drgn_prompt():
    """`%pcicrash` and `%crash pcicrash` typed at the newest drgn's prompt."""
    if not NEWEST_DRGN.exists():
        pytest.skip(".venv-drgn missing: run ./install.sh")
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    vml = vmlinux("kernel")
    # crash commands page through less on a terminal, as crash does: scroll off; and on a
    # terminal the text views are coloured (--color=auto): compare the plain text
    screen = _prompt_session(dump, vml, ['prog.config["crash_scroll"] = False',
                                         "%pcicrash -d 01:00.0 --color=never",
                                         "%crash pcicrash -e --color=never"])
    for view in (["-d", "01:00.0"], ["-e"]):
        want = _standalone(dump, vml, *view).stdout
        body = [l for l in want.splitlines() if l.strip()]
        assert body and all(l in screen for l in body), view
    assert "command not found" not in screen and "Traceback" not in screen
    coloured = _prompt_session(dump, vml, ["%pcicrash -e"])
    assert "\x1b[" in coloured                    # auto: a terminal gets colour


def test_old_drgn_has_helper_and_says_how():
    if not have_system_module("drgn"):
        pytest.skip("python3-drgn not installed")
    code = ("import sys; sys.path.insert(0, %r); import pykdump_ext.frontends.drgn as m; "
            "print(m.HAS_COMMAND); m.drgn_prog_set(None)" % str(ROOT))
    r = subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    old = subprocess.run([SYSTEM_PYTHON, "-c", "import drgn.commands"],
                         capture_output=True).returncode != 0
    assert r.stdout.strip() == str(not old)
    if old:
        assert "print_pcicrash(prog" in r.stderr


@pytest.mark.parametrize("python", _drgns())
def test_front_end_refuses_dump_and_vmlinux(python):
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    vml = vmlinux("kernel")
    r = _via_drgn(python, dump, vml, str(dump))
    assert r.returncode == 2 and "drop" in r.stderr and not r.stdout
    r = _via_drgn(python, dump, vml, "--vmlinux", str(vml))
    assert r.returncode == 2 and "--vmlinux" in r.stderr


@pytest.mark.parametrize("python", _drgns())
def test_page_status_through_drgn(python):
    """A page the dump excluded reads as excluded through drgn, as through our reader."""
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    vml = vmlinux("kernel")
    code = r"""
import json, sys, drgn
sys.path.insert(0, sys.argv[1])
from crash_ext_c.open import open_dump
from pykdump_ext.frontends.drgn import ProgramReader
prog = drgn.Program(); prog.set_core_dump(sys.argv[2])
try:
    prog.load_debug_info([sys.argv[3]])
except drgn.MissingDebugInfoError:
    pass
own = open_dump([sys.argv[2]])
theirs = ProgramReader(prog)
pfns = [p for p in range(0, 0x20000, 97)]
pairs = [(own.page_status(p), theirs.page_status(p)) for p in pfns]
# libkdumpfile calls a hole in RAM an excluded page too, and returns a zero page's
# zeros as data: what must agree is whether a page can be read, and its bytes.
same = [p for p, (a, b) in zip(pfns, pairs) if a.readable and b.readable]
print(json.dumps(dict(agree=sum(a.readable == b.readable for a, b in pairs), total=len(pairs),
                      ours=sorted({a.name for a, _ in pairs}),
                      theirs=sorted({b.name for _, b in pairs}),
                      bytes_equal=all(own.read_page(p) == theirs.read_page(p) for p in same),
                      compared=len(same))))
"""
    r = subprocess.run([python, "-c", code, str(ROOT), str(dump), str(vml)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert "EXCLUDED" in res["ours"] and "PRESENT" in res["ours"]   # both kinds were probed
    assert "EXCLUDED" in res["theirs"] and "PRESENT" in res["theirs"]
    assert res["agree"] == res["total"]
    assert res["bytes_equal"] and res["compared"] > 0


def test_live_program_says_capture_comes_at_panic():
    """A live kernel's program (drgn -k) gets a note that the buffer fills only at panic."""
    drgn = pytest.importorskip("drgn")
    from crash_ext_c.open import open_dump
    from pykdump_ext.analysis.report import analyse
    from pykdump_ext.frontends.drgn import ProgramReader

    own = open_dump([str(VMCORES / "cor-only" / "d31-zlib.kdump")])
    text = "".join("%s=%s\n" % kv for kv in own.vmcoreinfo.items()).encode()

    class Live:                       # what ProgramReader asks of a drgn.Program
        flags = drgn.ProgramFlags.IS_LIVE | drgn.ProgramFlags.IS_LINUX_KERNEL

        def __getitem__(self, name):
            if name != "VMCOREINFO":
                raise KeyError(name)
            return type("Obj", (), {"string_": lambda self: text})()

        def read(self, addr, size, physical):
            assert physical
            try:
                return own.read_phys(addr, size)
            except Exception as exc:
                raise drgn.FaultError(str(exc), addr) from exc

    rep = analyse(ProgramReader(Live()), names=None)
    assert rep.source == "live kernel (drgn)"
    assert any("only at panic" in n for n in rep.reader_notes)
    assert rep.capture.state == "skipped"
