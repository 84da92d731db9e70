"""`pcicrash --install-units [--root DIR]`: install the triage units and their script.

Copies, below DIR (default /):
  makedumpfile_filter/systemd/pcicrash-triage.{path,service} -> etc/systemd/system/
  makedumpfile_filter/pcicrash-triage                      -> usr/local/libexec/ (0755)
and writes etc/default/pcicrash-triage with PCICRASH=<this pcicrash command>
(kept if it exists: it is the place for local settings).  It enables
nothing: the lines it returns say what to run.
"""

import os
import shutil
import sys
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = ("pcicrash-triage.path", "pcicrash-triage.service")
SCRIPT = "pcicrash-triage"
UNIT_DIR = "etc/systemd/system"
SCRIPT_DIR = "usr/local/libexec"
DEFAULTS = "etc/default/pcicrash-triage"


def pcicrash_command() -> str:
    """Absolute path of the pcicrash console script running now (the venv's, if any)."""
    here = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "pcicrash")
    return here if os.access(here, os.X_OK) else (shutil.which("pcicrash") or here)


def install(root: str = "/") -> List[str]:
    """Install below `root`; returns the lines to print (what went where, what to run)."""
    out = []
    for sub, names, src_dir, mode in ((UNIT_DIR, UNITS, os.path.join(HERE, "systemd"), 0o644),
                                      (SCRIPT_DIR, (SCRIPT,), HERE, 0o755)):
        dst_dir = os.path.join(root, sub)
        os.makedirs(dst_dir, exist_ok=True)
        for n in names:
            dst = os.path.join(dst_dir, n)
            shutil.copyfile(os.path.join(src_dir, n), dst)
            os.chmod(dst, mode)
            out.append("installed %s" % dst)
    defaults = os.path.join(root, DEFAULTS)
    if not os.path.exists(defaults):
        os.makedirs(os.path.dirname(defaults), exist_ok=True)
        with open(defaults, "w") as f:
            f.write("# pcicrash-triage settings (read by pcicrash-triage.service)\n"
                    "PCICRASH=%s\n"
                    "# PCICRASH_DUMP_DIR=/var/crash   (change the .path unit's PathChanged= too)\n"
                    % pcicrash_command())
        out.append("wrote %s" % defaults)
    else:
        out.append("kept %s" % defaults)
    out.append("now run: systemctl daemon-reload && systemctl enable --now %s && "
               "systemctl enable pcicrash-triage.service" % UNITS[0])
    return out
