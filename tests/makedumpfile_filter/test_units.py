"""The systemd units and their script: pcicrash-triage on dump directories laid out like
kdump-tools' (Debian/Ubuntu) and kdump's (RHEL/Fedora)."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from tests.shared import ROOT, have_tool, needs_shared, scenario_dir
from makedumpfile_filter.units import install

SCRIPT = ROOT / "makedumpfile_filter" / "pcicrash-triage"
PCICRASH = [sys.executable, "-m", "pykdump_ext.frontends.cli.main"]


def _sha(path):
    return hashlib.sha1(open(path, "rb").read()).hexdigest()


def _wrapper(tmp_path, on_first_call):
    """A pcicrash command for the script that runs `on_first_call` (shell) once, then pcicrash."""
    w = tmp_path / "pcicrash-wrapper"
    flag = tmp_path / "wrapper-called"
    w.write_text("#!/bin/sh\nif [ ! -e %s ]; then : > %s; %s; fi\nexec %s -m pykdump_ext.frontends.cli.main \"$@\"\n"
                 % (flag, flag, on_first_call, sys.executable))
    w.chmod(0o755)
    return w


def _run(root, pcicrash, log, settle="0"):
    env = dict(os.environ, PCICRASH=str(pcicrash), PCICRASH_TRIAGE_LOG=str(log),
               PYTHONPATH=str(ROOT), PCICRASH_TRIAGE_SETTLE=settle)
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], env=env,
                          capture_output=True, text=True, timeout=600)


@needs_shared
def test_triage_both_layouts_a_late_dump_and_a_broken_one(tmp_path):
    root = tmp_path / "crash"
    deb = root / "202611210606"                       # kdump-tools
    rhel = root / "127.0.0.1-2026-11-21-06:45:52"     # kdump (kexec-tools)
    late = root / "127.0.0.1-2026-11-21-07:00:00"     # renamed into place while it runs
    bad = root / "202611220000"                       # not a dump pcicrash can read
    busy = root / "202611230000"                      # kdump-tools still writing
    for d in (deb, rhel, late, bad, busy):
        d.mkdir(parents=True)
    shutil.copy(scenario_dir("aer-uncor") / "d31-zlib.kdump", deb / "dump.202611210606")
    (deb / "dmesg.202611210606").write_text("[    0.000000] Linux version ...\n")
    shutil.copy(scenario_dir("aer-handled") / "d31-zlib.kdump", rhel / "vmcore")
    (rhel / "vmcore-dmesg.txt").write_text("[    0.000000] Linux version ...\n")
    shutil.copy(scenario_dir("cor-only") / "d31-zlib.kdump", late / "vmcore-incomplete")
    (bad / "dump.202611220000").write_bytes(b"not a dump at all\n" * 100)
    shutil.copy(scenario_dir("always-clean") / "d31-zlib.kdump", busy / "dump-incomplete")
    dumps = [deb / "dump.202611210606", rhel / "vmcore", bad / "dump.202611220000"]
    before = {p: (_sha(p), os.stat(p).st_mtime_ns) for p in dumps + [busy / "dump-incomplete"]}
    log = tmp_path / "journal.txt"
    wrapper = _wrapper(tmp_path, "mv '%s' '%s'" % (late / "vmcore-incomplete", late / "vmcore"))

    r = _run(root, wrapper, log)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    errors = [l for l in lines if "pcicrash-triage[" in l and ": error: " in l]
    assert len(errors) == 1 and str(bad / "dump.202611220000") in errors[0], lines
    assert "unknown signature" in errors[0]
    for d, dump in ((deb, "dump.202611210606"), (rhel, "vmcore"), (late, "vmcore")):
        full = subprocess.run(PCICRASH + [str(d / dump)], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        verdict = full.stdout.splitlines()[0]
        assert verdict.startswith("Verdict:")
        assert (d / "pcicrash.txt").read_text() == full.stdout
        assert [l for l in lines if str(d / dump) + ": " + verdict in l], (d, lines)
        js = json.loads((d / "pcicrash.json").read_text())
        assert js == json.loads(subprocess.run(PCICRASH + ["-j", str(d / dump)],
                                               capture_output=True, text=True, env=dict(
                                                   os.environ, PYTHONPATH=str(ROOT))).stdout)
        ext = subprocess.run(PCICRASH + ["-j", str(d / "pcicrash-triage.kdump")],
                             capture_output=True, text=True, env=dict(os.environ,
                                                                      PYTHONPATH=str(ROOT)))
        assert json.loads(ext.stdout)["devices"] == js["devices"]
        assert "status=error" not in (d / "pcicrash.done").read_text()
    assert "status=error" in (bad / "pcicrash.done").read_text()
    # still being written: left alone
    assert sorted(os.listdir(busy)) == ["dump-incomplete"]
    for p, (sha, mtime) in before.items():
        assert (_sha(p), os.stat(p).st_mtime_ns) == (sha, mtime), p
    assert not [f for d in (deb, rhel, late) for f in os.listdir(d) if ".tmp-" in f]

    # each dump once: a second run adds nothing; then the busy one completes
    n = len(lines)
    assert _run(root, wrapper, log).returncode == 0
    assert len(log.read_text().splitlines()) == n
    os.rename(busy / "dump-incomplete", busy / "dump.202611230000")
    assert _run(root, wrapper, log).returncode == 0
    new = log.read_text().splitlines()[n:]
    assert len(new) == 1 and str(busy / "dump.202611230000") in new[0] and "Verdict:" in new[0]


@needs_shared
def test_triage_with_a_vmlinux_per_release(tmp_path):
    from tests.shared import vmlinux
    root = tmp_path / "crash"
    d = root / "202611210606"
    d.mkdir(parents=True)
    os.symlink(scenario_dir("aer-uncor") / "d31-zlib.kdump", d / "dump.202611210606")
    kernels = tmp_path / "dbg"
    kernels.mkdir()
    os.symlink(vmlinux("kernel"), kernels / "vmlinux-6.1.192-pcicrash")   # its OSRELEASE
    log = tmp_path / "journal.txt"
    env = dict(os.environ, PCICRASH=str(_wrapper(tmp_path, ":")), PCICRASH_TRIAGE_LOG=str(log),
               PYTHONPATH=str(ROOT), PCICRASH_VMLINUX=str(kernels / "vmlinux-{release}"),
               PCICRASH_TRIAGE_SETTLE="0")
    r = subprocess.run([sys.executable, str(SCRIPT), str(root)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    js = json.loads((d / "pcicrash.json").read_text())
    assert js["kernel"] and js["kernel"]["source"].startswith("drgn")
    from crash_ext_c.kdump import KdumpReader
    with KdumpReader(d / "pcicrash-triage.kdump") as x:
        assert "crash --minimal reads it" in x.extract_of["PEERS_CHECKED"]
    assert "Verdict:" in log.read_text()


def test_a_dump_written_a_moment_ago_is_waited_for(tmp_path):
    import time
    d = tmp_path / "crash" / "127.0.0.1-2026-11-21-06:06:39"
    d.mkdir(parents=True)
    shutil.copy(ROOT / "pykdump_ext/examples/aer-uncor.triage.kdump", d / "vmcore")  # mtime: now
    log = tmp_path / "journal.txt"
    t0 = time.time()
    r = _run(tmp_path / "crash", _wrapper(tmp_path, ":"), log, settle="2")
    assert r.returncode == 0, r.stderr
    assert time.time() - t0 >= 1.5
    assert os.stat(d / "pcicrash.done").st_mtime - os.stat(d / "vmcore").st_mtime >= 1.5
    assert "Verdict:" in log.read_text()


def test_no_dump_directory_is_one_line_not_a_failure(tmp_path):
    log = tmp_path / "journal.txt"
    r = _run(tmp_path / "absent", "pcicrash", log)
    assert r.returncode == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and "no such dump directory" in lines[0]


needs_analyze = pytest.mark.skipif(not have_tool("systemd-analyze"),
                                   reason="systemd-analyze missing (install.sh installs it)")


def _verify(root):
    units = ["/etc/systemd/system/pcicrash-triage.path",
             "/etc/systemd/system/pcicrash-triage.service"]
    return subprocess.run(["systemd-analyze", "verify", "--root=%s" % root] + units,
                          capture_output=True, text=True, timeout=120)


@needs_analyze
def test_installed_units_pass_systemd_analyze_verify(tmp_path):
    root = tmp_path / "root"
    lines = install(str(root))
    assert any("systemctl enable" in l for l in lines)
    script = root / "usr/local/libexec/pcicrash-triage"
    assert script.stat().st_mode & stat.S_IXUSR
    assert script.read_bytes() == SCRIPT.read_bytes()
    for name in ("pcicrash-triage.path", "pcicrash-triage.service"):
        assert (root / "etc/systemd/system" / name).read_bytes() == \
            (ROOT / "makedumpfile_filter/systemd" / name).read_bytes()
    assert "PCICRASH=/" in (root / "etc/default/pcicrash-triage").read_text()
    # verify resolves the units' dependencies (sysinit.target, ...) below --root
    sysdir = root / "usr/lib/systemd/system"
    sysdir.mkdir(parents=True)
    for f in os.listdir("/usr/lib/systemd/system"):
        src = os.path.join("/usr/lib/systemd/system", f)
        if f.endswith((".target", ".slice")) and os.path.isfile(src) and not os.path.islink(src):
            shutil.copy(src, sysdir / f)
    r = _verify(root)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    # the check has teeth: a unit whose command is missing fails it
    svc = root / "etc/systemd/system/pcicrash-triage.service"
    svc.write_text(svc.read_text().replace("libexec/pcicrash-triage", "libexec/missing"))
    r = _verify(root)
    assert r.returncode != 0 and "missing" in r.stderr
