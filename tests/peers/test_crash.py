"""`pcicrash` in real crash with a real PyKdump, on the shared dumps.

PyKdump is in no package registry, so this runs only where one is at hand:
set PCICRASH_MPYKDUMP to its mpykdump.so (built for the crash installed
here, embedding the system python3).  It loads the command exactly as a
user does, through `python3 -m pykdump_ext --crashrc`, runs every option
and checks the device decode is the standalone tool's, byte for byte apart
from the lines naming the source.
"""

import os
import re
import subprocess
import sys

import pytest

from tests.shared import ROOT, VMCORES, have_tool, needs_shared

MPYKDUMP = os.environ.get("PCICRASH_MPYKDUMP")
pytestmark = [
    needs_shared,
    pytest.mark.skipif(not have_tool("crash"), reason="crash not installed"),
    pytest.mark.skipif(not (MPYKDUMP and os.path.exists(MPYKDUMP)),
                       reason="no PyKdump: set PCICRASH_MPYKDUMP=/path/to/mpykdump.so"),
]

drgn = pytest.importorskip("drgn")
from tests.shared import comparable, comparable_json, standalone  # noqa: E402
from tests.shared import vmlinux  # noqa: E402

OPTIONS = [[], ["-a"], ["-d", "00:02.0"], ["-e"], ["-t"], ["-x"], ["-j"]]
CASES = [("aer-handled", "kernel-c", ["d31-zlib.kdump"]),
         ("aer-uncor", "kernel", ["d31-zlib.kdump"]),
         ("aer-uncor", "kernel", ["d31-zlib-split.1", "d31-zlib-split.2"]),
         ("legacy-unaligned", "kernel", ["d31-zlib.kdump"]),
         ("no-buffer", "kernel", ["d31-zlib.kdump"])]


def crashrc():
    res = subprocess.run([sys.executable, "-m", "pykdump_ext", "--crashrc", "--extend", MPYKDUMP],
                         cwd=str(ROOT), capture_output=True, text=True, check=True)
    return res.stdout


def run_session(vml, dumps, commands, env_path=None, tmp=None):
    """Real crash: the --crashrc lines, then `commands`; returns stdout split per command."""
    cmdfile = os.path.join(tmp, "cmds")
    with open(cmdfile, "w") as f:
        f.write(crashrc() + "\n".join(commands) + "\nq\n")
    env = {k: v for k, v in os.environ.items() if k != "PYKDUMPPATH"}
    if env_path:
        env["PYKDUMPPATH"] = env_path
    res = subprocess.run(["crash", "-s", str(vml)] + [str(d) for d in dumps] + ["-i", cmdfile],
                         env=env, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=900)
    out = res.stdout
    # PyKdump closes every program run with an "Execution took" line (and, writing to
    # a file, opens it with a banner naming the program and the dump).
    out = re.sub(r"\n   \*+ pcicrash\.py[^\n]*\*+\n ooo[^\n]*\n", "\n", out)
    return re.split(r"\n \*\* Execution took[^\n]*\n", out), out


@pytest.mark.parametrize("scen,kern,files", CASES, ids=["%s/%s" % (c[0], c[2][0]) for c in CASES])
def test_every_option_in_real_crash(scen, kern, files, tmp_path):
    from crash_ext_c.open import open_dump
    dumps = [VMCORES / scen / f for f in files]
    vml = vmlinux(kern)
    chunks, raw = run_session(vml, dumps, ["pcicrash " + " ".join(o) for o in OPTIONS],
                              tmp=str(tmp_path))
    assert "Traceback" not in raw
    assert len(chunks) == len(OPTIONS) + 2, raw[-2000:]     # register, each option, the rest
    reader = open_dump([str(d) for d in dumps])
    symdump = dumps[0] if len(dumps) == 1 else VMCORES / scen / "d31-zlib.kdump"
    for opts, mine in zip(OPTIONS, chunks[1:]):
        ref = standalone(reader, symdump, vml, opts)
        mine = mine if mine.endswith("\n") else mine + "\n"
        if "-j" in opts:
            assert comparable_json(mine) == comparable_json(ref), opts
        else:
            assert comparable(mine) == comparable(ref), opts


def test_registered_with_crash_style_help(tmp_path):
    from pykdump_ext.frontends.crash import command as crashcmd
    vml = vmlinux("kernel-c")
    dump = VMCORES / "aer-handled" / "d31-zlib.kdump"
    chunks, raw = run_session(vml, [dump], ["help pcicrash", "pcicrash -d 00:02.3"],
                              env_path=str(ROOT / "pykdump_ext" / "frontends" / "crash"), tmp=str(tmp_path))
    assert "added as an alias" not in raw
    assert crashcmd.help_text().strip() in raw
    assert "Kernel AER counters: 0 correctable, 0 fatal, 2 non-fatal" in raw
    assert "non-fatal by error: CmpltTO x1, UnxCmplt x1" in raw


def test_alias_without_pykdumppath(tmp_path):
    vml = vmlinux("kernel")
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    chunks, raw = run_session(vml, [dump], ["alias pcicrash", "pcicrash -t | grep -c Virtio",
                                            "pcicrash -x > px.txt"], tmp=str(tmp_path))
    assert "added as an alias" in raw
    assert "epython %s" % os.path.realpath(ROOT / "pykdump_ext" / "frontends" / "crash" / "pcicrash.py") in raw
    hexdump = (tmp_path / "px.txt").read_text()
    assert len(re.findall(r"^00: ", hexdump, re.M)) == 18     # one config space per device
    if have_tool("lspci"):
        res = subprocess.run(["lspci", "-F", str(tmp_path / "px.txt")], capture_output=True,
                             text=True, check=True)
        assert len(res.stdout.splitlines()) == 18
