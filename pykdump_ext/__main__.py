"""`python3 -m pykdump_ext --crashrc`: the crash input lines that add `pcicrash` to crash.

Put them in ~/.crashrc (or a file for `crash -i`) after the line that loads
PyKdump (`extend <path>/mpykdump.so`).  They name this installation's
program file by absolute path, so they work whether or not $PYKDUMPPATH
is set.  Anything else is handed to the standalone CLI.
"""

import argparse
import os
import sys
from typing import List, Optional, Sequence


def crashrc_lines(extend: Optional[str] = None) -> List[str]:
    prog = os.path.join(os.path.dirname(os.path.realpath(__file__)), "frontends", "crash", "pcicrash.py")
    lines = ["# pcicrash: PCI state captured at panic, as a crash command"
             " (from: python3 -m pykdump_ext --crashrc)"]
    if extend:
        lines.append("extend %s" % os.path.realpath(extend))
    else:
        lines.append("# needs PyKdump loaded first: extend <path>/mpykdump.so")
    lines.append("epython %s --register" % prog)
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "--crashrc":
        p = argparse.ArgumentParser(prog="python3 -m pykdump_ext --crashrc",
                                    description="print crash input lines that add the pcicrash command")
        p.add_argument("--crashrc", action="store_true")
        p.add_argument("--extend", metavar="MPYKDUMP_SO",
                       help="also print the `extend` line that loads PyKdump from this file")
        args = p.parse_args(argv)
        sys.stdout.write("\n".join(crashrc_lines(args.extend)) + "\n")
        return 0
    from .frontends.cli import main as cli
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
