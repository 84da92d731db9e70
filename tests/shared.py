"""Shared test plumbing: where the real dumps are and cached decompressions of them."""

import os
import pathlib
import shutil
import subprocess

import pytest

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
