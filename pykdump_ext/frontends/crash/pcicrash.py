"""The program file PyKdump runs for the `pcicrash` crash command.

PyKdump runs it by path (found through '.' and $PYKDUMPPATH, or given
absolutely by an alias or `epython /path/pcicrash.py`), with sys.argv =
[its path, arguments...].  Nothing else is known about where the package
lives, so the package's parent directory is derived from sys.argv[0].
"""

import os
import sys


def _setup_path() -> None:
    # this file is pykdump_ext/frontends/crash/pcicrash.py: the package's parent is 3 up
    here = os.path.dirname(os.path.realpath(sys.argv[0]))
    top = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    if top not in sys.path:
        sys.path.insert(0, top)
    # PyKdump's embedded Python may carry only a minimal standard library;
    # the core needs only the standard library, so let it find the rest.
    ver = "python%d.%d" % sys.version_info[:2]
    for d in ("/usr/lib/" + ver, "/usr/lib/%s/lib-dynload" % ver,
              "/usr/local/lib/" + ver, "/usr/local/lib/%s/lib-dynload" % ver):
        if os.path.isdir(d) and d not in sys.path:
            sys.path.append(d)


if __name__ == "__main__":
    _setup_path()
    try:
        import pykdump.API  # noqa: F401  (its exit hook flushes output for > and |)
    except ImportError:
        pass
    try:
        from pykdump_ext.frontends.crash import command as crashcmd
        # the whole decode chain, so a missing standard module is named up front
        from pykdump_ext.analysis import report as analysis  # noqa: F401
        from pykdump_ext.frontends.cli import main as cli  # noqa: F401
        from pykdump_ext.output import render, report_json  # noqa: F401
    except ImportError as exc:
        # PyKdump built from a Python source tree ships a minimal standard library.
        print("pcicrash: PyKdump's Python %d.%d cannot import %s: add that Python's full"
              " standard library (its Lib directory) to $PYKDUMPPATH before loading PyKdump"
              % (sys.version_info[0], sys.version_info[1], exc.name or exc))
    else:
        crashcmd.main(sys.argv[0], sys.argv[1:])
