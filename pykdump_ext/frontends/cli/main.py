"""`pcicrash [options] DUMP [DUMP...]`: the PCI state a kernel captured at panic, from a dump.

``make_parser()`` is the one parser of every front end; ``main()`` is the
console script: it opens the dump files with ``crash_ext_c.open.open_dump``
and calls ``frontends.run.run``, the entry point the crash command and drgn
share (``execute(reader, args, out)`` is that call for a parsed namespace).

Errors: every PcicrashError becomes one line ``pcicrash: <message>`` on
stderr, after whatever output could still be made; bad input never gives a
traceback (frontends.run.exit_status).  Exit codes are in EXIT_HELP.
"""

from __future__ import annotations

import argparse
import os
import sys

from pykdump_ext import __version__
from pykdump_ext.frontends.cli import extract_cmd
from pykdump_ext.frontends.run import (  # noqa: F401 (the exit codes, for callers of cli)
    EXIT_INCOMPLETE, EXIT_INTERNAL, EXIT_OK, EXIT_UNREADABLE, ViewOptions, exit_status, guarded,
    parse_argv, run, sayer, view_options,
)

EXIT_HELP = """exit status:
  0  the capture was read in full (state "captured") and the output made
     (--check: every capture page is in the dump; --dmesg: the whole kernel log was read)
  1  no complete capture: state absent (no PCI_CRASH lines in VMCOREINFO),
     skipped (armed, no AER error at panic), partial (buffer pages missing)
     or corrupt (bad header/records); two records carry the same BDF; or -d
     names a device the capture does not hold; --dmesg: part of the kernel log
     could not be read (notes on stderr).  Everything that could be read is
     still shown.
  2  usage error, or the dump / VMCOREINFO file cannot be read
  3  internal error (a bug; set PCICRASH_DEBUG=1 for the traceback)
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter with the terminal width found as shutil would find it: argparse
    builds one formatter per add_argument and would import shutil (with bz2 and lzma) for
    it on every run, help or not."""

    def __init__(self, prog: str) -> None:
        try:
            cols = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            cols = 0
        if cols <= 0:
            try:
                cols = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
            except (ValueError, OSError):
                cols = 80
        super().__init__(prog, width=max(cols - 2, 11))


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pcicrash",
        description="Show the PCI config space (AER, DPC, link state) that a CONFIG_PCI_CRASH "
                    "kernel captured at panic time, read from its crash dump, and say which "
                    "device most likely brought the machine down.",
        epilog=EXIT_HELP, formatter_class=_Formatter)
    p.add_argument("dumps", nargs="*", metavar="DUMP",
                   help="dump file (ELF vmcore, kdump-compressed, flattened); several files = "
                        "the parts of one makedumpfile --split set, in any order")
    view = p.add_argument_group("views (default: summary with the verdict on top)")
    view.add_argument("-a", "--all", action="store_true",
                      help="every captured device decoded in full (lspci -vv style)")
    view.add_argument("-d", "--device", metavar="BDF", action="append",
                      help="this device decoded in full; BDF in lspci's -s syntax "
                           "[[[[<domain>]:]<bus>]:][<slot>][.[<func>]] (1:00.0, 01:, *:*.3); "
                           "repeat for several (a union)")
    view.add_argument("-s", "--slot", metavar="SLOT", action="append",
                      help="only devices at this address (lspci -s syntax, repeatable: a union); "
                           "combines with every view")
    view.add_argument("-e", "--errors", action="store_true",
                      help="only devices with error status (combines with the other views)")
    view.add_argument("-t", "--tree", action="store_true",
                      help="device tree, drawn like lspci -tv; '!' after a device number marks "
                           "error status (the -e set), '!! <error>' ends its line; a bus range "
                           "with '?' is inferred (its bridge's record is all 0xFF)")
    view.add_argument("-x", "--hex", action="store_true",
                      help="config space of every captured device in lspci -xxxx format "
                           "(feed it to lspci -F FILE)")
    view.add_argument("-l", "--log", action="store_true",
                      help="the PCI events of the kernel log (AER, DPC, hot-plug, link, driver "
                           "resets, APEI, NMI, panic) as a decoded timeline; -d BDF: one device's")
    view.add_argument("-j", "--json", action="store_true",
                      help="the whole report as JSON (schema: docs/json.md)")
    view.add_argument("--html", metavar="FILE",
                      help="also write the whole report as one self-contained HTML file "
                           "(\"-\": to stdout); docs/html.md")
    p.add_argument("--color", "--colour", choices=("auto", "always", "never"), default="auto",
                   help="colour the verdict and errors in text views: auto (default: on a "
                        "terminal, unless NO_COLOR is set), always, never; JSON and -x never")
    p.add_argument("--check", action="store_true",
                   help="only check whether the dump holds the capture pages (and why not)")
    p.add_argument("--dmesg", action="store_true",
                   help="only the kernel log, exactly as makedumpfile --dump-dmesg writes it "
                        "(no vmlinux needed)")
    p.add_argument("--vmcoreinfo", metavar="FILE",
                   help="VMCOREINFO text file to use instead of the dump's own "
                        "(like makedumpfile -i; a pipe is read as a stream).  Refused "
                        "(exit 2) when its OSRELEASE, BUILD-ID, CRASHTIME or PAGESIZE "
                        "disagree with the dump's own VMCOREINFO or header: it is then "
                        "from another kernel or boot, and its PCI_CRASH_PAGEMAP would "
                        "point at unrelated memory")
    p.add_argument("--vmlinux", metavar="FILE",
                   help="the dump's kernel with debug info: adds the kernel's view (bound driver, "
                        "error and power state, AER counters, hwerr_data) through drgn")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also the reader's reasoning (pagemap layout validation, ...)")
    extract_cmd.add_options(p)
    p.add_argument("--version", action="version", version="pcicrash %s" % __version__)
    from pykdump_ext.fleet.command import add_options  # --jsonl, --summarize (docs/fleet.md)
    add_options(p)
    return p


def _say(err, message) -> None:
    err.write("pcicrash: %s\n" % message)


def execute(reader, args, out, *, kernel=None, err=None) -> int:
    """Run the options `args` (a ViewOptions, or a namespace from make_parser()) on
    `reader`, writing to `out`; returns the exit status (frontends.run.run)."""
    view = args if isinstance(args, ViewOptions) else view_options(args)
    return run(reader, view, out, kernel=kernel, err=err)


def _open_and_run(opts) -> int:
    args = opts.namespace
    status = extract_cmd.dispatch(args, opts.parser)   # --extract, --install-units; --example: DUMP
    if status is not None:
        return status
    from pykdump_ext.fleet import command as fleet
    if fleet.wanted(args):
        return fleet.run(args, lambda m: _say(sys.stderr, m))
    inputs = opts.inputs
    if not inputs.dumps:
        opts.parser.print_usage(sys.stderr)
        _say(sys.stderr, "no DUMP given")
        return EXIT_UNREADABLE
    try:
        from crash_ext_c.open import open_dump
    except ImportError as exc:
        _say(sys.stderr, "the dump readers (crash_ext_c) are not installed: %s" % exc)
        return EXIT_UNREADABLE
    try:
        reader = open_dump(list(inputs.dumps), vmcoreinfo=inputs.vmcoreinfo)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        return exit_status(exc, sayer(sys.stderr), name=" ".join(inputs.dumps))
    with reader:
        kernel = None
        if inputs.vmlinux:
            # optional (python3-drgn); problems become one note in the kernel section
            from pykdump_ext.kernel.drgn_source import kernel_info
            kernel = kernel_info(reader, inputs.dumps[0], inputs.vmlinux, lazy=True)
        return run(reader, opts.view, sys.stdout, kernel=kernel)


def main(argv=None) -> int:
    opts = parse_argv(argv)
    return guarded(lambda: _open_and_run(opts), sayer(sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
