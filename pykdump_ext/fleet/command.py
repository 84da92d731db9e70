"""The fleet options of `pcicrash` (cli.py adds them and hands over when one is given)."""

from __future__ import annotations

import argparse
import sys


def add_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("many dumps (docs/fleet.md)")
    g.add_argument("--jsonl", metavar="OUT",
                   help="batch: one JSON record per dump appended to OUT (DUMP may be a file, "
                        "a directory, a glob, or an s3:// gs:// http(s):// URL); dumps already "
                        "in OUT are skipped")
    g.add_argument("-P", "--workers", type=int, metavar="N",
                   help="worker processes for --jsonl (default: the CPU count)")
    g.add_argument("--scheduler", metavar="ADDR",
                   help="run the --jsonl batch on this Dask distributed scheduler "
                        "(tcp://host:8786) instead of local processes")
    g.add_argument("--summarize", metavar="JSONL", nargs="+",
                   help="counts across batch records: capture state, kernel, device, "
                        "subsystem, error kind, root port, slot, with the dumps behind each row")
    g.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table",
                   help="--summarize output (parquet needs pyarrow and -o)")
    g.add_argument("-o", "--output", metavar="FILE", help="write the --summarize output here")


def wanted(args) -> bool:
    return bool(args.jsonl or args.summarize)


def run(args, say) -> int:
    """Run --jsonl or --summarize; `say(message)` prints one pcicrash: line on stderr.
    Errors get the exit codes of every front end (frontends.run.exit_status); after ^C,
    OUT holds every record finished so far: a rerun resumes."""
    from ..frontends.run import guarded
    return guarded(lambda: _run(args, say), say)


def _run(args, say) -> int:
    if args.summarize:
        from .summary import render, summarize
        text = render(summarize(args.summarize), args.format, args.output)
        if text:
            sys.stdout.write(text)
        return 0
    return _batch(args, say)


def _batch(args, say) -> int:
    from .batch import plan, run as run_batch
    if not args.dumps:
        say("--jsonl needs at least one DUMP, DIR or GLOB")
        return 2
    if args.workers is not None and args.workers < 1:
        say("-P needs a positive number of workers")
        return 2
    tasks = plan(args.dumps)
    if not tasks:
        say("no dump files found in %s" % " ".join(args.dumps))
        return 2
    res = run_batch(tasks, args.jsonl, workers=args.workers, scheduler=args.scheduler,
                    warn=say)
    say("%d dumps written to %s (%s), %d already there, %.1f s"
        % (res.written, args.jsonl, ", ".join("%d %s" % (n, c) for c, n in
                                              sorted(res.by_class.items())) or "none",
           res.skipped, res.seconds))
    # the batch itself worked; say so unless no dump could be read at all
    return 2 if res.written and res.errors == res.written else 0
