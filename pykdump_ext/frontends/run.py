"""The one entry point every front end calls, its options, and its exit codes.

A front end (the standalone command, the crash command, drgn) only builds a
MemoryReader (and, when it has one, a kernel-symbol source), then calls
``run(reader, options, out)``: it analyses and renders.  ``parse_argv`` is the
one place options are made from a command line (``cli.make_parser`` is the
one parser); ``exit_status`` is the one mapping from an exception to an
exit code and its ``pcicrash:`` line.  Exit codes: docs/errors.md.

Adding a front end: build its reader and call ``run`` (or, inside a debugger
session, ``session_command``).  Adding an output: a module in pykdump_ext/output/
that renders the typed results, a ViewOptions field, its option in cli.make_parser
(and view_options), and one branch in ``_execute``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional, TextIO, Tuple

from crash_ext_c.errors import CaptureError, PcicrashError, UsageError

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_UNREADABLE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

Say = Callable[[str], None]


@dataclass(frozen=True)
class ViewOptions:
    """Every choice a view makes (which views, which devices, colour, ...)."""
    all: bool = False                   # -a
    devices: Tuple[str, ...] = ()       # -d BDF, each as given (lspci -s syntax)
    slots: Tuple[str, ...] = ()         # -s SLOT
    errors: bool = False                # -e
    tree: bool = False                  # -t
    hex: bool = False                   # -x
    log: bool = False                   # -l
    json: bool = False                  # -j
    html: Optional[str] = None          # --html FILE ("-": stdout)
    color: str = "never"                # --color auto|always|never (the parser: auto)
    check: bool = False                 # --check
    dmesg: bool = False                 # --dmesg
    verbose: bool = False               # -v

    @property
    def filtered(self) -> bool:
        """Do the options select a subset of the devices (-d, -s, -e)?"""
        return bool(self.devices or self.slots or self.errors)

    @property
    def views(self) -> bool:
        """Is any view other than the summary asked for (-t, -a, -d, -x, -l)?"""
        return bool(self.tree or self.all or self.devices or self.hex or self.log)


@dataclass(frozen=True)
class Inputs:
    """What the front end opens: the dump files, a VMCOREINFO file, a vmlinux."""
    dumps: Tuple[str, ...] = ()
    vmcoreinfo: Optional[str] = None
    vmlinux: Optional[str] = None


@dataclass(frozen=True)
class Options:
    """A parsed command line: the views, and the namespace the other modes (--extract,
    --jsonl, --summarize: their own modules, which may fill DUMP in) read."""
    view: ViewOptions
    namespace: Any
    parser: Any

    @property
    def inputs(self) -> Inputs:
        ns = self.namespace
        return Inputs(dumps=tuple(ns.dumps or ()), vmcoreinfo=ns.vmcoreinfo, vmlinux=ns.vmlinux)


def _strings(vals: Any) -> Tuple[str, ...]:
    if not vals:
        return ()
    return (vals,) if isinstance(vals, str) else tuple(vals)


def view_options(ns: Any) -> ViewOptions:
    """The ViewOptions of a namespace from ``cli.make_parser()`` (which defines every one)."""
    return ViewOptions(all=bool(ns.all), devices=_strings(ns.device), slots=_strings(ns.slot),
                       errors=bool(ns.errors), tree=bool(ns.tree), hex=bool(ns.hex),
                       log=bool(ns.log), json=bool(ns.json), html=ns.html, color=ns.color,
                       check=bool(ns.check), dmesg=bool(ns.dmesg), verbose=bool(ns.verbose))


def parse_argv(argv: Optional[Iterable[str]] = None, prog: str = "pcicrash") -> Options:
    """Options from a command line (None: sys.argv), by the one parser; argparse's
    SystemExit on -h or a usage error (it has printed why)."""
    from .cli.main import make_parser
    parser = make_parser()
    parser.prog = prog
    ns = parser.parse_args(None if argv is None else list(argv))
    return Options(view=view_options(ns), namespace=ns, parser=parser)


# ---------------------------------------------------------------- errors -> exit codes

def sayer(err: TextIO) -> Say:
    """`say(message)`: one ``pcicrash: <message>`` line on `err`."""
    def say(message: str) -> None:
        err.write("pcicrash: %s\n" % message)
    return say


def exit_status(exc: BaseException, say: Say, *, name: str = "") -> int:
    """The exit code for `exc`, after saying why in one line (re-raises a bug under
    PCICRASH_DEBUG=1).  `name` is the file an OSError without a file name was about."""
    if isinstance(exc, UsageError):
        say(exc.message())
        return EXIT_UNREADABLE
    if isinstance(exc, CaptureError):
        say(exc.message())
        return EXIT_INCOMPLETE
    if isinstance(exc, PcicrashError):
        say(exc.message())
        return EXIT_UNREADABLE
    if isinstance(exc, BrokenPipeError):
        # output piped into head/less that quit: not an error of ours
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_OK
    if isinstance(exc, OSError):        # the file went away, or an I/O error while reading
        try:
            sys.stdout.flush()          # what was made before it goes out first
        except (OSError, ValueError):
            pass
        say("%s: %s" % (exc.filename or name, exc.strerror or exc))
        return EXIT_UNREADABLE
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if not isinstance(exc, Exception):  # SystemExit and the like are not ours to map
        raise exc
    if os.environ.get("PCICRASH_DEBUG"):
        raise exc
    say("internal error: %s: %s (PCICRASH_DEBUG=1 shows the traceback)"
        % (type(exc).__name__, exc))
    return EXIT_INTERNAL


def guarded(body: Callable[[], int], say: Say, *, name: str = "") -> int:
    """body(), with every exception turned into its exit code (exit_status)."""
    try:
        return body()
    except BaseException as exc:        # noqa: B036 - mapped, or re-raised by exit_status
        if isinstance(exc, SystemExit):
            raise
        return exit_status(exc, say, name=name)


# ---------------------------------------------------------------- the entry point

def _write(out: TextIO, lines: List[str]) -> None:
    if lines:
        out.write("\n".join(lines) + "\n")


def run(reader: Any, view: ViewOptions, out: TextIO, *, kernel: Any = None,
        err: Optional[TextIO] = None) -> int:
    """Analyse `reader` and write the views `view` asks for to `out`; one ``pcicrash:`` line
    per problem on `err` (default stderr).  Returns the exit status; never raises for bad
    input (an OSError from the reader is mapped too)."""
    err = err if err is not None else sys.stderr
    say = sayer(err)
    return guarded(lambda: _run(reader, view, out, kernel, err, say), say,
                   name=reader.name)


def session_command(argv: Iterable[str], *, prog: str, memory: str, symbols: str,
                    open_reader: Callable[[], Any], kernel_of: Callable[[Any], Any],
                    out: TextIO, err: TextIO) -> int:
    """A front end inside a debugger session (crash, drgn), whose memory and symbols take
    the place of DUMP and --vmlinux: parse `argv`, refuse those two (`memory` and
    `symbols` say what replaces them), open the session's reader, apply --vmcoreinfo
    (the one vmcoreinfo_file path) and run()."""
    try:
        opts = parse_argv(argv, prog=prog)
    except SystemExit as exc:             # -h or a usage error: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_UNREADABLE
    inputs, say = opts.inputs, sayer(err)
    if inputs.dumps:
        say("inside %s; drop %s" % (memory, " ".join(inputs.dumps)))
        return EXIT_UNREADABLE
    if inputs.vmlinux:
        say("inside %s gives the symbols; drop --vmlinux" % symbols)
        return EXIT_UNREADABLE

    def body() -> int:
        reader = open_reader()
        if inputs.vmcoreinfo:
            from crash_ext_c.vmcoreinfo_file import load_and_apply
            load_and_apply(reader, inputs.vmcoreinfo)
        return run(reader, opts.view, out, kernel=kernel_of(reader), err=err)
    return guarded(body, say)


def _run(reader, view, out, kernel, err, say) -> int:
    if view.dmesg and not view.check:
        return _run_dmesg(reader, out, say)      # needs none of the capture analysis
    from pykdump_ext.analysis.report import no_gc
    with no_gc():
        return _execute(reader, view, out, kernel, err, say)


def _run_check(reader, view: ViewOptions, out, err, say) -> int:
    try:
        from makedumpfile_filter.check import check
    except ImportError:
        raise UsageError("--check is not available in this installation") from None
    from ..output import check_view
    res = check(reader)
    if view.json:
        import json
        out.write(json.dumps(check_view.to_json(res), indent=1) + "\n")
    else:
        _write(out, check_view.lines(res, verbose=view.verbose))
    if res.exit_code and err is not out:
        say("check: %s" % res.verdict)
    return res.exit_code


def _run_dmesg(reader, out, say) -> int:
    from pykdump_ext.kernel.klog.dmesg import write_dmesg
    from pykdump_ext.kernel.klog.reader import read_kernel_log
    log = read_kernel_log(reader)
    write_dmesg(log, out)
    for note in log.notes:
        say(note)
    return EXIT_OK if log.complete and log.records else EXIT_INCOMPLETE


def _html(rep, view: ViewOptions, out, say) -> bool:
    """Write the HTML report; True when it is the only output asked for."""
    from pykdump_ext.output import report_html
    from pykdump_ext.analysis.report import load_names
    only = not (view.all or view.devices or view.errors or view.tree or view.hex or view.json)
    assert view.html is not None         # called only when --html was given
    if view.html == "-" and not only:
        raise UsageError("--html - writes the report to stdout, where the other view goes too",
                         expected="--html FILE, or --html - alone")
    size = report_html.write(rep, view.html, out, names=load_names())
    if only and view.html != "-":
        say("HTML report written to %s (%d devices, %.1f MB)"
            % (view.html, len(rep.devices), size / 1e6))
    return only


def _execute(reader, view: ViewOptions, out, kernel, err, say) -> int:
    from pykdump_ext.output import render, report_json
    from pykdump_ext.analysis.report import analyse, load_names
    from pykdump_ext.capture.buffer import CaptureState

    rep = None
    try:
        if view.check:
            return _run_check(reader, view, out, err, say)
        rep = analyse(reader, kernel=kernel, names="system")
        cap = rep.capture
        captured = cap.state == CaptureState.CAPTURED
        status = EXIT_OK if captured and not rep.duplicates else EXIT_INCOMPLETE
        try:
            devs = [] if view.log and view.devices and not view.json else render.select(rep, view)
        except LookupError as exc:
            _write(out, render.capture_lines(rep))
            specs = exc.args[1] if len(exc.args) > 1 else []
            bad = [r for r in cap.untrusted
                   if r.bdf == exc.args[0] or any(s.matches(r.domain, r.bus, r.devfn)
                                                  for s in specs)]
            if bad:
                say("%s: its record is not trusted (%s)" % (exc.args[0], bad[0].note))
            else:
                say("%s is not in the capture (%d devices captured)"
                    % (exc.args[0], len(rep.devices)))
            return EXIT_INCOMPLETE
        if view.html and _html(rep, view, out, say):
            return status
        if view.json:
            out.write(report_json.dumps(rep, devs if view.filtered else None) + "\n")
        else:
            from pykdump_ext.output import style
            color = not view.hex and style.wants_color(view.color, out)
            with style.using(style.Style(color)):
                _write(out, render.render_text(rep, view, names=load_names()))
        # a non-zero exit always says why on stderr, one line (stdout stays pure data); where
        # stderr is the output itself (inside crash) the capture line already says it,
        # except in -x/-t data
        said = []
        if not captured:
            said.append("capture %s: %s" % (cap.state, cap.reason))
        if rep.duplicates:
            said.append("%d record(s) repeat another record's BDF: %s"
                        % (len(rep.duplicates), ", ".join(d.bdf for d in rep.duplicates[:8])))
        if said and (err is not out or view.hex or view.tree):
            say("; ".join(said))
        return status
    except UsageError:
        raise
    except PcicrashError:               # what could be read first, then the one line
        if rep is not None:
            _write(out, render.capture_lines(rep))
        raise
