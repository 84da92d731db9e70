"""Shared test plumbing: where the real dumps are and cached decompressions of them, skip
markers for the installed peers, pcicrash run in-process, and the peers run (lspci -F,
crash, makedumpfile, libkdumpfile) with what legitimately differs between them and us."""

import io
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from pykdump_ext.pci import pciids

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED = pathlib.Path(os.environ.get("PCICRASH_SHARED", ROOT.parent / "shared"))
VMCORES = SHARED / "vmcores"
CACHE = pathlib.Path(os.environ.get("PCICRASH_CACHE", ROOT / ".cache"))

SCENARIOS = ("aer-uncor", "cor-only", "always-clean", "no-buffer", "layoutB-aer",
             "legacy-unaligned", "aer-handled")


def have_shared():
    return (VMCORES / "aer-uncor" / "scenario.json").exists()


needs_shared = pytest.mark.skipif(not have_shared(), reason="../shared/vmcores not present")


def scenario_dir(name):
    return VMCORES / name


def dump_files(name):
    """Every dump file of a scenario (split parts grouped as one tuple), excluding the .zst."""
    d = scenario_dir(name)
    out = []
    split = sorted(d.glob("*-split.*"))
    for f in sorted(d.iterdir()):
        if f.is_file() and (f.suffix in (".kdump", ".flat")):
            out.append((f,))
    if split:
        out.append(tuple(split))
    return out


def _decompressed(src, name, tool):
    """`src` decompressed once into the cache as `name` (`tool` is zstd or xz)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    dst = CACHE / name
    if not dst.exists() or dst.stat().st_size == 0:
        tmp = dst.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            subprocess.run([tool, "-dc", str(src)], stdout=f, check=True)
        tmp.rename(dst)
    return dst


def elf_vmcore(name="aer-uncor"):
    """Path of the scenario's raw ELF vmcore, decompressed once into the cache."""
    src = scenario_dir(name) / "vmcore.elf.zst"
    if not src.exists():
        pytest.skip("%s has no raw ELF vmcore" % name)
    return _decompressed(src, "%s-vmcore.elf" % name, "zstd")


def vmlinux(kernel="kernel-c"):
    """A shared kernel's vmlinux (DWARF), decompressed once into the cache."""
    src = VMCORES / kernel / "vmlinux.xz"
    if not src.exists():
        pytest.skip("%s has no vmlinux.xz" % kernel)
    return _decompressed(src, "vmlinux-%s" % kernel, "xz")


# libkdumpfile and drgn (Debian python3-libkdumpfile, python3-drgn) belong to the system
# python3; peers run there in a child process, so a peer's abort cannot take pytest down.
SYSTEM_PYTHON = "/usr/bin/python3"


def have_system_module(name):
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", "import %s" % name],
                              capture_output=True).returncode == 0
    except OSError:
        return False


def have_tool(name):
    return shutil.which(name) is not None


needs_lspci = pytest.mark.skipif(not have_tool("lspci"), reason="pciutils (lspci) not installed")
needs_crash = pytest.mark.skipif(not have_tool("crash"), reason="crash not installed")
needs_makedumpfile = pytest.mark.skipif(not have_tool("makedumpfile"), reason="makedumpfile not installed")
SYSTEM_IDS = pciids.PciIds.load()       # finds the file; reads it on the first look-up
needs_ids = pytest.mark.skipif(SYSTEM_IDS.path is None, reason="no system pci.ids")


# ---------------------------------------------------------------- pcicrash itself

def run_cli(reader, *argv):
    """(exit code, stdout, stderr) of `pcicrash ARGV` over `reader`."""
    from pykdump_ext.frontends.cli import main as cli
    args = cli.make_parser().parse_args(list(argv) + ["x"])
    out, err = io.StringIO(), io.StringIO()
    rc = cli.execute(reader, args, out, err=err)
    return rc, out.getvalue(), err.getvalue()


def analyse_records(records, **kw):
    """The Report of a byte-built capture of `records` (tests/builders/capture.py)."""
    from pykdump_ext.analysis.report import analyse
    from tests.builders import capture as cb
    return analyse(cb.reader(cb.buffer(records), **kw), names=None)


def topo_of(specs):
    from pykdump_ext.analysis import topology
    from pykdump_ext.pci.config import decode
    devs = []
    for bus, dev, cfg in specs:
        bdf = "0000:%02x:%02x.0" % (bus, dev)
        devs.append((bdf, 0, bus, dev << 3, decode(cfg)))
    return topology.build(devs)


def capture_pfns(reader):
    """pfns of the pagemap and of every buffer page it lists."""
    from pykdump_ext.capture.buffer import read_pagemap
    pm = read_pagemap(reader)
    if pm is None:
        return []
    ps = reader.page_size
    end = pm.phys_addr + (20 if pm.layout == "B" else 16) + 8 * pm.num_pages
    out = list(range(pm.phys_addr // ps, (end - 1) // ps + 1))
    out += [a // ps for a in pm.page_addrs if a is not None]
    return out


# ---------------------------------------------------------------- the scenarios

# QEMU's pcie_aer_inject_error names (hw/pci/pcie_aer.c) -> the AER register bit names
QEMU_ERRORS = {
    "COMP_TIME": ("Completion Timeout", "CmpltTO"),
    "COMP_ABORT": ("Completer Abort", "CmpltAbrt"),
    "UNX_COMP": ("Unexpected Completion", "UnxCmplt"),
    "MALF_TLP": ("Malformed TLP", "MalfTLP"),
    "BAD_TLP": ("Bad TLP", "BadTLP"),
    "RCVR": ("Receiver Error", "RxErr"),
}


def unrecovered_sources(scen):
    """BDFs whose uncorrectable error the kernel's AER driver reported and did not recover,
    from the console lines: 'error message received from X' ... 'device recovery failed'."""
    out, cur = [], None
    for line in scen.get("aer_console_lines", []):
        m = re.search(r"error message received from (\S+)", line)
        if m:
            cur = m.group(1)
        elif cur and "device recovery failed" in line:
            out.append(cur)
            cur = None
        elif cur and "device recovery successful" in line:
            cur = None
    return out


# ---------------------------------------------------------------- peers

def make_e_dump(level=31):
    """makedumpfile -E -d LEVEL of aer-uncor's raw vmcore, made once into the cache."""
    src = elf_vmcore("aer-uncor")
    if not have_tool("makedumpfile"):
        pytest.skip("makedumpfile not installed")
    dst = CACHE / ("aer-uncor-E-d%d.elf" % level)
    if not dst.exists():
        tmp = dst.with_suffix(".tmp")
        if tmp.exists():
            tmp.unlink()
        subprocess.run(["makedumpfile", "-E", "-d", str(level), str(src), str(tmp)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tmp.rename(dst)
    return dst


def run_lspci_f(path, *opts):
    res = subprocess.run(["lspci", "-F", str(path)] + list(opts), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


_SIZE = re.compile(r" \[size=[0-9]+[KMGT]?\]")
_WINDOW = re.compile(r"^(\t(?:I/O|Memory|Prefetchable memory) behind bridge: )([0-9a-f]+)-([0-9a-f]+)"
                     r"( \[size=[^\]]+\])?(?: \[(?:16|32|64)-bit\])?$")
_REGION = re.compile(r"^\tRegion (\d):")


def normalise(lines, raw):
    """What legitimately differs between a live `lspci -vvv` and `lspci -F` on the same bytes.

    Each rule names why; everything else must match exactly.
    """
    out = []
    for line in lines:
        # Driver binding comes from sysfs (and libkmod), not config space.
        if line.startswith(("\tKernel driver in use:", "\tKernel modules:")):
            continue
        # The IRQ number live lspci prints is the kernel's (sysfs 'irq'), -F prints the
        # Interrupt Line register; live lspci also prints the line for pin 0 when the
        # kernel assigned an IRQ (MSI), -F does not.
        if line.startswith("\tInterrupt: pin ?"):
            continue
        line = re.sub(r"routed to IRQ \d+", "routed to IRQ ?", line)
        if line.startswith(("\tRegion ", "\tExpansion ROM")):
            # BAR sizes come from sysfs 'resource'; -F cannot size a BAR from a snapshot.
            line = _SIZE.sub("", line)
            m = _REGION.match(line)
            # Legacy IDE ports the kernel reports for a compatibility-mode controller
            # whose BAR registers are zero: sysfs only.
            if m and int.from_bytes(raw[0x10 + 4 * int(m.group(1)):0x14 + 4 * int(m.group(1))],
                                    "little") == 0:
                continue
        m = _WINDOW.match(line)
        if m:
            # Live lspci prints bridge windows from the kernel's resources (32-bit form when
            # the upper half is zero), -F from the base/limit registers (64-bit form when the
            # register type says 64-bit): same addresses, different width tag.
            line = "%s%x-%x%s" % (m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4) or "")
        out.append(line)
    return out


def run_crash(vmlinux_path, dump, commands, timeout=600):
    """Output of real crash for each of `commands` ({command: text}), in one crash session.

    Each command's output is redirected to its own file (crash writes error
    messages there too), so nothing depends on how crash buffers stdout.
    """
    import tempfile
    with tempfile.TemporaryDirectory(prefix="pcicrash-crash-") as tmp:
        lines = ["%s > %s/out-%d.txt" % (c, tmp, i) for i, c in enumerate(commands)] + ["q"]
        cmdfile = os.path.join(tmp, "cmds")
        with open(cmdfile, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["crash", "-s", str(vmlinux_path), str(dump), "-i", cmdfile],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        out = {}
        for i, c in enumerate(commands):
            path = os.path.join(tmp, "out-%d.txt" % i)
            with open(path) as f:
                out[c] = f.read().strip("\n")
        return out


def standalone(reader, dump, vml, args):
    from pykdump_ext.frontends.cli import main as cli
    from pykdump_ext.kernel import drgn_source
    out = io.StringIO()
    ns = cli.make_parser().parse_args(list(args))
    kernel = drgn_source.kernel_info(reader, dump, vml)
    cli.execute(reader, ns, out, kernel=kernel, err=out)
    return out.getvalue()


SOURCE_LINES = re.compile(r"^(pcicrash: |  note: |  symbols: )")


def comparable(text):
    """Output without the lines that name the source (reader format, its notes, symbol origin)."""
    return [l for l in text.split("\n") if not SOURCE_LINES.match(l)]


def comparable_json(text):
    j = json.loads(text)
    for k in ("format", "reader_notes", "source"):
        j.pop(k, None)
    # Only a dump reader can see that makedumpfile stored a page as the shared
    # zero page; through crash it is a page of zeros like any other.
    cap = j.get("capture") or {}
    cap["notes"] = [n for n in cap.get("notes", []) if "zero page" not in n]
    if j.get("kernel"):
        j["kernel"].pop("source", None)
    return j


_LOGS = {}


def makedumpfile_log(dump, tmp_path_factory=None):
    """KernelLog from the real peer's `makedumpfile --dump-dmesg DUMP OUT`."""
    if dump not in _LOGS:
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            out = "%s/dmesg.txt" % d
            subprocess.run(["makedumpfile", "--dump-dmesg", str(dump), out], check=True,
                           capture_output=True)
            text = open(out, encoding="utf-8", errors="replace").read()
        from pykdump_ext.kernel.klog.records import KernelLog, records_from_dmesg_text
        _LOGS[dump] = KernelLog(records=records_from_dmesg_text(text),
                                format="makedumpfile --dump-dmesg")
    return _LOGS[dump]


PEER = r"""
import hashlib, json, sys
import kdumpfile
req = json.load(sys.stdin)
k = kdumpfile.kdumpfile(req["path"])
out = {"max_pfn": k.attr["max_pfn"], "format": k.attr["file.format"], "pages": {}}
try:
    out["vmcoreinfo"] = bytes(k.attr["linux.vmcoreinfo.raw"]).decode("utf-8", "replace")
except Exception as exc:
    out["vmcoreinfo"] = None
ps = req["page_size"]
for pfn in req["pfns"]:
    try:
        data = bytes(k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * ps, ps))
        out["pages"][str(pfn)] = ["data", hashlib.sha1(data).hexdigest()]
    except Exception as exc:
        out["pages"][str(pfn)] = ["error", type(exc).__name__]
json.dump(out, sys.stdout)
"""


def have_peer():
    return have_system_module("kdumpfile")


needs_peer = pytest.mark.skipif(not have_peer(), reason="python3-libkdumpfile not installed")


def peer_read(path, pfns, page_size=4096):
    name = str(path)
    assert not name.endswith(".flat") and "-split." not in name, "never give libkdumpfile these"
    res = subprocess.run([SYSTEM_PYTHON, "-c", PEER], capture_output=True, text=True, timeout=600,
                         input=json.dumps({"path": name, "pfns": list(pfns),
                                           "page_size": page_size}))
    assert res.returncode == 0, "libkdumpfile failed on %s: %s" % (name, res.stderr[-2000:])
    out = json.loads(res.stdout)
    from crash_ext_c import vmcoreinfo
    if out["vmcoreinfo"] is not None:   # the text libkdumpfile found in the file
        out["vmcoreinfo"] = vmcoreinfo.parse(out["vmcoreinfo"])
    out["pages"] = {int(k): v for k, v in out["pages"].items()}
    return out
