"""`pcicrash --dmesg` against the real `makedumpfile --dump-dmesg` on every shared dump and format.

makedumpfile 1.7.2 (Debian) reads kdump-compressed and ELF dumps; the
other formats are compared the way makedumpfile's own man page says to
read them: a flattened file after `makedumpfile -R`, a split set after
`makedumpfile --reassemble`.  Debian's build has no snappy/zstd and it
refuses the -L truncated file (its mem_section pages are past the cut):
those are held against makedumpfile's output on the d31-zlib.kdump made
from the same vmcore, which every one of their log records must match.
"""

import io
import subprocess
import sys

import pytest

from tests.shared import ROOT, VMCORES, elf_vmcore, needs_makedumpfile, needs_shared, scenario_dir
from crash_ext_c.open import open_dump
from pykdump_ext.frontends.cli import main as cli
from pykdump_ext.kernel.klog.dmesg import dmesg_bytes
from pykdump_ext.kernel.klog.reader import read_kernel_log
from pykdump_ext.kernel.klog.records import iter_lines, records_from_dmesg_text

pytestmark = [needs_shared, needs_makedumpfile]


def _scenarios():
    if not VMCORES.exists():
        return []
    return sorted(d.name for d in VMCORES.iterdir() if (d / "d31-zlib.kdump").exists())


def makedumpfile(tmp, *args, name="out"):
    """Run the real makedumpfile; (returncode, path of what it wrote or None)."""
    out = tmp / name
    res = subprocess.run(["makedumpfile"] + [str(a) for a in args] + [str(out)],
                         capture_output=True, timeout=300)
    return res.returncode, (out if res.returncode == 0 and out.exists() else None)


def mdf_dmesg(tmp, dump, name="dmesg"):
    rc, out = makedumpfile(tmp, "--dump-dmesg", dump, name=name)
    return out.read_bytes() if out else None


def pcicrash_dmesg(*paths):
    """What `pcicrash --dmesg` writes to stdout, and its exit status (in process)."""
    with open_dump([str(p) for p in paths]) as reader:
        args = cli.make_parser().parse_args(["--dmesg", "x"])
        out, err = io.StringIO(), io.StringIO()
        rc = cli.execute(reader, args, out, err=err)
    return out.getvalue().encode("ascii"), rc, err.getvalue()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """makedumpfile --dump-dmesg of each scenario's d31-zlib.kdump, made once."""
    tmp = tmp_path_factory.mktemp("mdf")
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = mdf_dmesg(tmp, scenario_dir(name) / "d31-zlib.kdump", name)
        return cache[name]
    return get


@pytest.mark.parametrize("name", _scenarios())
def test_kdump_equals_makedumpfile(name, reference):
    want = reference(name)
    assert want, "makedumpfile could not read %s" % name
    got, rc, err = pcicrash_dmesg(scenario_dir(name) / "d31-zlib.kdump")
    assert got == want
    assert rc == 0, err


@pytest.mark.parametrize("name", [n for n in _scenarios()
                                  if (scenario_dir(n) / "d31-zlib.flat").exists()])
def test_flat_equals_makedumpfile_after_R(name, tmp_path):
    flat = scenario_dir(name) / "d31-zlib.flat"
    kdump = tmp_path / "rearranged.kdump"
    with open(flat, "rb") as f:
        res = subprocess.run(["makedumpfile", "-R", str(kdump)], stdin=f, capture_output=True,
                             timeout=300)
    assert res.returncode == 0, res.stderr
    want = mdf_dmesg(tmp_path, kdump)
    got, rc, _ = pcicrash_dmesg(flat)
    assert want and got == want and rc == 0


def test_split_equals_makedumpfile_after_reassemble(tmp_path):
    d = scenario_dir("aer-uncor")
    parts = sorted(d.glob("d31-zlib-split.*"))
    assert len(parts) == 2
    rc, whole = makedumpfile(tmp_path, "--reassemble", *parts, name="whole.kdump")
    assert rc == 0
    want = mdf_dmesg(tmp_path, whole)
    got, rc, _ = pcicrash_dmesg(*reversed(parts))      # any order
    assert want and got == want and rc == 0


def test_split_part_alone_names_the_missing_part():
    got, rc, err = pcicrash_dmesg(scenario_dir("aer-uncor") / "d31-zlib-split.2")
    assert rc == 1
    assert "missing split part" in err and "SYMBOL(prb)" in err


def test_elf_vmcore_equals_makedumpfile(tmp_path):
    elf = elf_vmcore("aer-uncor")
    want = mdf_dmesg(tmp_path, elf)
    got, rc, _ = pcicrash_dmesg(elf)
    assert want and got == want and rc == 0


@pytest.mark.parametrize("fname", ["d31-snappy.kdump", "d31-zstd.kdump",
                                   "d31-zlib-truncated.kdump"])
def test_formats_makedumpfile_cannot_read(fname, tmp_path, reference):
    """Its own reading when it can; else its reading of the d31-zlib.kdump of the same vmcore."""
    dump = scenario_dir("aer-uncor") / fname
    direct = mdf_dmesg(tmp_path, dump)
    want = direct if direct is not None else reference("aer-uncor")
    got, rc, err = pcicrash_dmesg(dump)
    if fname.endswith("truncated.kdump") and rc != 0:
        # up to the cut: what was read is the start of the full log
        assert want.startswith(got) and got, err
    else:
        assert got == want and rc == 0, err


@pytest.mark.parametrize("name", [n for n in _scenarios() if
                                  (scenario_dir(n) / "ground-truth" /
                                   "makedumpfile-dump-dmesg.txt").exists()])
def test_ground_truth(name):
    gt = scenario_dir(name) / "ground-truth"
    got, rc, _ = pcicrash_dmesg(scenario_dir(name) / "d31-zlib.kdump")
    assert got == (gt / "makedumpfile-dump-dmesg.txt").read_bytes()
    # the guest's own dmesg, taken just before the panic: every one of its lines, in order,
    # with the same time stamp and text (util-linux dmesg repeats the time stamp on each
    # line of a multi-line record, makedumpfile indents them)
    with open_dump([str(scenario_dir(name) / "d31-zlib.kdump")]) as reader:
        log = read_kernel_log(reader)
    guest = [(g.ts_nsec, g.text) for g in
             records_from_dmesg_text((gt / "dmesg.txt").read_text())]
    ours = [(r.ts_nsec // 1000 * 1000, line) for r, line in iter_lines(log.records)]
    assert 100 < len(guest) < len(ours)
    assert ours[:len(guest)] == guest
    assert any(line.startswith("Kernel panic - not syncing") for _, line in ours[len(guest):])


def test_console_script_writes_the_same_bytes(reference):
    dump = scenario_dir("debian-distro-aer") / "d31-zlib.kdump"
    res = subprocess.run([sys.executable, "-m", "pykdump_ext.frontends.cli.main", "--dmesg", str(dump)],
                         capture_output=True, timeout=300, cwd=str(ROOT))
    assert res.stdout == reference("debian-distro-aer") and res.returncode == 0


def test_dmesg_bytes_of_reader_equals_cli():
    with open_dump([str(scenario_dir("vanilla-aer") / "d31-zlib.kdump")]) as reader:
        log = read_kernel_log(reader)
    assert dmesg_bytes(log.records) == pcicrash_dmesg(scenario_dir("vanilla-aer") /
                                                      "d31-zlib.kdump")[0]


def test_dmesg_with_vmcoreinfo_file_and_exit_codes(tmp_path, capsys, reference):
    """--dmesg goes through open_dump: --vmcoreinfo replaces the dump's own (like -i)."""
    dump = scenario_dir("vanilla-aer") / "d31-zlib.kdump"
    rc = cli.main(["--dmesg", "--vmcoreinfo", str(scenario_dir("vanilla-aer") / "vmcoreinfo.txt"),
                   str(dump)])
    out = capsys.readouterr()
    assert rc == 0 and out.out.encode() == reference("vanilla-aer")
    # a VMCOREINFO without the log's entries: no text, one note, exit 1
    bad = tmp_path / "vmcoreinfo.txt"
    bad.write_text("".join(l + "\n" for l in (scenario_dir("vanilla-aer") / "vmcoreinfo.txt")
                           .read_text().splitlines() if "prb" not in l and "log_buf" not in l))
    rc = cli.main(["--dmesg", "--vmcoreinfo", str(bad), str(dump)])
    out = capsys.readouterr()
    assert rc == 1 and out.out == ""
    assert "neither SYMBOL(prb)" in out.err and out.err.count("\n") == 1
