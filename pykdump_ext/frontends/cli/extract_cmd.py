"""The command line of `pcicrash --extract OUT DUMP` and `--install-units` (docs/extract.md):
their options, and the dispatch that runs them.  Kept apart from output/extract.py so that
building the parser, on every run, loads nothing of the extract itself."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from crash_ext_c.errors import PcicrashError

# makedumpfile's -c/-l/-p/-z; -l is pcicrash's log view, so lzo is --lzo
CODEC_OPTIONS = (("-c", "zlib"), ("--lzo", "lzo"), ("-p", "snappy"), ("-z", "zstd"))


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "triage extract (docs/extract.md)",
        "--extract writes a kdump-compressed file holding only the pages the analysis reads")
    g.add_argument("--extract", metavar="OUT",
                   help="write the triage extract of DUMP to OUT (pages compressed as in the "
                        "source unless -c/--lzo/-p/-z or --compress says otherwise)")
    for flag, codec in CODEC_OPTIONS:
        g.add_argument(flag, dest="codec", action="store_const", const=codec,
                       help="with --extract: compress pages with %s (makedumpfile %s)"
                            % (codec, "-l" if flag == "--lzo" else flag))
    g.add_argument("--compress", dest="codec", choices=("zlib", "lzo", "snappy", "zstd", "none"),
                   help="with --extract: page compression by name")
    g.add_argument("--analysis-pages-only", action="store_true",
                   help="with --extract: keep only the pages the analysis reads, not the ones "
                        "makedumpfile --dump-dmesg and crash --minimal need for themselves")
    g.add_argument("--example", action="store_true",
                   help="run on the triage extract shipped with pcicrash (lab dump aer-uncor) "
                        "instead of a DUMP")
    g.add_argument("--install-units", action="store_true",
                   help="install the systemd units that triage every new dump in /var/crash "
                        "(docs/extract.md)")
    g.add_argument("--root", metavar="DIR", default="/",
                   help="with --install-units: install below DIR instead of /")


def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Optional[int]:
    """Run --extract / --install-units and return the exit status; None to go on (for
    --example: with the shipped extract as DUMP)."""
    say = lambda msg: sys.stderr.write("pcicrash: %s\n" % msg)      # noqa: E731
    if args.install_units:
        from makedumpfile_filter.units import install
        try:
            print("\n".join(install(args.root)))
        except BrokenPipeError:
            raise
        except (OSError, PcicrashError) as exc:
            say("cannot install the units: %s" % exc)
            return 2
        return 0
    if args.example:
        if args.dumps:
            parser.print_usage(sys.stderr)
            say("--example takes no DUMP (it is the shipped extract)")
            return 2
        from pykdump_ext.output.extract import EXAMPLE
        if not os.path.exists(EXAMPLE):
            say("the example extract is not installed (%s)" % EXAMPLE)
            return 2
        args.dumps = [EXAMPLE]
    if args.codec and not args.extract:
        say("-c/--lzo/-p/-z/--compress choose the compression of --extract OUT")
        return 2
    if not args.extract:
        return None
    if not args.dumps:
        parser.print_usage(sys.stderr)
        say("--extract OUT needs the DUMP to extract from")
        return 2
    from pykdump_ext.output.extract import make_extract
    try:
        res = make_extract(args.dumps, args.extract, codec=args.codec,
                           vmcoreinfo=args.vmcoreinfo, vmlinux=args.vmlinux,
                           makedumpfile_check=not args.analysis_pages_only)
    except PcicrashError as exc:
        say(exc.message())
        return 2
    except OSError as exc:
        say("%s: %s" % (exc.filename or args.extract, exc.strerror or exc))
        return 2
    # a closed pipe, ^C and bugs: cli.main's handlers
    print("\n".join(res.lines()))
    return res.exit_code
