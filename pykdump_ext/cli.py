"""`pcicrash [options] DUMP [DUMP...]`: the PCI state a kernel captured at panic, from a dump.

``make_parser()`` builds the options, ``execute(reader, args, out)`` runs them
on any MemoryReader (the crash command reuses it with its own reader) and
``main()`` is the console script: it opens the dump files with
``crash_ext_c.open.open_dump`` and calls ``execute``.

Errors: every PcicrashError becomes one line ``pcicrash: <message>`` on
stderr, after whatever output could still be made; bad input never gives a
traceback.  Exit codes are in EXIT_HELP.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence, TYPE_CHECKING, TextIO

from . import __version__
from crash_ext_c.errors import CaptureError, PcicrashError, UsageError

if TYPE_CHECKING:
    from .kernel import KernelInfo
    from crash_ext_c.reader import MemoryReader

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_UNREADABLE = 2
EXIT_INTERNAL = 3

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


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pcicrash",
        description="Show the PCI config space (AER, DPC, link state) that a CONFIG_PCI_CRASH "
                    "kernel captured at panic time, read from its crash dump, and say which "
                    "device most likely brought the machine down.",
        epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    from .extract import add_options as _extract_options
    _extract_options(p)
    p.add_argument("--version", action="version", version="pcicrash %s" % __version__)
    from .fleet.command import add_options      # --jsonl, --summarize (docs/fleet.md)
    add_options(p)
    return p


def _say(err, message) -> None:
    err.write("pcicrash: %s\n" % message)


def _write(out, lines) -> None:
    if lines:
        out.write("\n".join(lines) + "\n")


def _run_check(reader, args, out, err):
    try:
        from .check import check
    except ImportError:
        raise UsageError("--check is not available in this installation") from None
    res = check(reader)
    if args.json:
        import json
        out.write(json.dumps(res.to_json(), indent=1) + "\n")
    else:
        _write(out, res.lines(verbose=bool(getattr(args, "verbose", False))))
    if res.exit_code and err is not out:
        _say(err, "check: %s" % res.verdict)
    return res.exit_code


def _run_dmesg(reader, out, err):
    from .klog.dmesg import write_dmesg
    from .klog.reader import read_kernel_log
    log = read_kernel_log(reader)
    write_dmesg(log, out)
    for note in log.notes:
        _say(err, note)
    return EXIT_OK if log.complete and log.records else EXIT_INCOMPLETE


def execute(reader: MemoryReader, args: argparse.Namespace, out: TextIO, *,
            kernel: Optional[KernelInfo] = None, err: Optional[TextIO] = None) -> int:
    """Run the options in `args` on `reader`, writing to `out`; returns the exit status."""
    err = err if err is not None else sys.stderr
    if getattr(args, "dmesg", False) and not getattr(args, "check", False):
        return _run_dmesg(reader, out, err)      # needs none of the capture analysis
    from .analysis import no_gc

    with no_gc():
        return _execute(reader, args, out, kernel, err)


def _html(rep, args, out, err):
    """Write the HTML report; True when it is the only output asked for."""
    from . import report_html
    from .analysis import load_names
    only = not any(getattr(args, k, None) for k in ("all", "device", "errors", "tree", "hex", "json"))
    if args.html == "-" and not only:
        raise UsageError("--html - writes the report to stdout, where the other view goes too",
                         expected="--html FILE, or --html - alone")
    size = report_html.write(rep, args.html, out, names=load_names())
    if only and args.html != "-":
        _say(err, "HTML report written to %s (%d devices, %.1f MB)"
             % (args.html, len(rep.devices), size / 1e6))
    return only


def _execute(reader, args, out, kernel, err):
    from . import render, report_json
    from .analysis import analyse, load_names

    rep = None
    try:
        if getattr(args, "check", False):
            return _run_check(reader, args, out, err)
        rep = analyse(reader, kernel=kernel)
        cap = rep.capture
        status = EXIT_OK if cap.state == "captured" and not rep.duplicates else EXIT_INCOMPLETE
        try:
            devs = [] if args.log and args.device and not args.json else render.select(rep, args)
        except LookupError as exc:
            _write(out, render.capture_lines(rep))
            specs = exc.args[1] if len(exc.args) > 1 else []
            bad = [r for r in cap.untrusted
                   if r.bdf == exc.args[0] or any(s.matches(r.domain, r.bus, r.devfn)
                                                  for s in specs)]
            if bad:
                _say(err, "%s: its record is not trusted (%s)" % (exc.args[0], bad[0].note))
            else:
                _say(err, "%s is not in the capture (%d devices captured)"
                     % (exc.args[0], len(rep.devices)))
            return EXIT_INCOMPLETE
        if getattr(args, "html", None) and _html(rep, args, out, err):
            return status
        if args.json:
            out.write(report_json.dumps(rep, devs if render.filtered(args) else None))
            out.write("\n")            # not text + "\n": that copies ~100 MB at 6000 devices
        else:
            from . import style
            color = not args.hex and style.wants_color(getattr(args, "color", "never"), out)
            with style.using(style.Style(color)):
                _write(out, render.render_text(rep, args, names=load_names()))
        # a non-zero exit always says why on stderr, one line (stdout stays pure data); where
        # stderr is the output itself (inside crash) the capture line already says it,
        # except in -x/-t data
        said = []
        if cap.state != "captured":
            said.append("capture %s: %s" % (cap.state, cap.reason))
        if rep.duplicates:
            said.append("%d record(s) repeat another record's BDF: %s"
                        % (len(rep.duplicates), ", ".join(d.bdf for d in rep.duplicates[:8])))
        if said and (err is not out or args.hex or args.tree):
            _say(err, "; ".join(said))
        return status
    except UsageError as exc:
        _say(err, exc.message())
        return EXIT_UNREADABLE
    except CaptureError as exc:
        if rep is not None:
            _write(out, render.capture_lines(rep))
        _say(err, exc.message())
        return EXIT_INCOMPLETE
    except PcicrashError as exc:
        if rep is not None:
            _write(out, render.capture_lines(rep))
        _say(err, exc.message())
        return EXIT_UNREADABLE


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        from .extract import dispatch as _extract_dispatch
        status = _extract_dispatch(args, parser)    # --extract, --install-units; --example: DUMP
        if status is not None:
            return status
        from .fleet import command as fleet
        if fleet.wanted(args):
            return fleet.run(args, lambda m: _say(sys.stderr, m))
        if not args.dumps:
            parser.print_usage(sys.stderr)
            _say(sys.stderr, "no DUMP given")
            return EXIT_UNREADABLE
        try:
            from crash_ext_c.open import open_dump
        except ImportError as exc:
            _say(sys.stderr, "the dump readers (crash_ext_c) are not installed: %s" % exc)
            return EXIT_UNREADABLE
        try:
            reader = open_dump(args.dumps, vmcoreinfo=args.vmcoreinfo)
        except PcicrashError as exc:
            _say(sys.stderr, exc.message())
            return EXIT_UNREADABLE
        except OSError as exc:
            _say(sys.stderr, "%s: %s" % (exc.filename or " ".join(args.dumps),
                                         exc.strerror or exc))
            return EXIT_UNREADABLE
        with reader:
            kernel = None
            if getattr(args, "vmlinux", None):
                # optional (python3-drgn); problems become one note in the kernel section
                from .drgn_source import kernel_info
                kernel = kernel_info(reader, args.dumps[0], args.vmlinux, lazy=True)
            try:
                return execute(reader, args, sys.stdout, kernel=kernel)
            except OSError as exc:      # the file went away or an I/O error while reading
                if isinstance(exc, BrokenPipeError):
                    raise
                sys.stdout.flush()
                _say(sys.stderr, "%s: %s" % (exc.filename or reader.name, exc.strerror or exc))
                return EXIT_UNREADABLE
    except BrokenPipeError:
        # output piped into head/less that quit: not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:     # a bug: one line unless asked for the traceback
        if os.environ.get("PCICRASH_DEBUG"):
            raise
        _say(sys.stderr, "internal error: %s: %s (PCICRASH_DEBUG=1 shows the traceback)"
             % (type(exc).__name__, exc))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
