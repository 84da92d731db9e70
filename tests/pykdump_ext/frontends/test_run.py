"""frontends/run.py: the options object, the one entry point of every front end, and the one
mapping from errors to exit codes (docs/errors.md)."""

import dataclasses
import io

import pytest

from tests.builders import capture as cb
from tests.builders.kdump import write_kdump
from pykdump_ext.frontends.cli import main as cli
from pykdump_ext.frontends.crash import command as crashcmd
from crash_ext_c.errors import CaptureError, DumpFormatError, PcicrashError, UsageError
from pykdump_ext.frontends import run as entry
from pykdump_ext.frontends.run import ViewOptions, exit_status, parse_argv


def test_options_are_made_once_from_argv_and_frozen():
    opts = parse_argv(["-a", "-d", "1:00.0", "-d", "02:", "-s", "*:*.3", "--color=always",
                       "-v", "--vmcoreinfo", "vi.txt", "dump"])
    assert opts.view == ViewOptions(all=True, devices=("1:00.0", "02:"), slots=("*:*.3",),
                                    color="always", verbose=True)
    assert opts.view.filtered and opts.view.views
    assert opts.inputs.dumps == ("dump",) and opts.inputs.vmcoreinfo == "vi.txt"
    assert not parse_argv(["x"]).view.filtered and not parse_argv(["x"]).view.views
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.view.all = False


@pytest.mark.parametrize("exc,code", [
    (UsageError("bad -d"), 2), (CaptureError("bad pagemap", offset=0x1000), 1),
    (DumpFormatError("bad magic", path="f", offset=0), 2), (PcicrashError("x"), 2),
    (FileNotFoundError(2, "No such file or directory"), 2), (KeyboardInterrupt(), 130),
    (ZeroDivisionError("division by zero"), 3)])
def test_one_mapping_from_errors_to_exit_codes(exc, code, monkeypatch):
    monkeypatch.delenv("PCICRASH_DEBUG", raising=False)
    said = []
    assert exit_status(exc, said.append, name="vmcore") == code
    if code == 130:
        assert said == []
    else:
        assert len(said) == 1
    if isinstance(exc, OSError):
        assert said == ["vmcore: No such file or directory"]
    if code == 3:
        assert said[0].startswith("internal error: ZeroDivisionError: division by zero")


def test_a_bug_reraises_under_pcicrash_debug(monkeypatch):
    monkeypatch.setenv("PCICRASH_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        exit_status(ZeroDivisionError("x"), lambda m: None)


def test_run_renders_the_views_the_options_ask_for():
    reader = cb.reader(cb.buffer(cb.qemu_like_records()))
    out, err = io.StringIO(), io.StringIO()
    assert entry.run(reader, ViewOptions(tree=True), out, err=err) == 0
    assert out.getvalue().startswith("-[0000:00]-") and err.getvalue() == ""
    # the namespace path (cli.execute) gives the same bytes
    same = io.StringIO()
    cli.execute(cb.reader(cb.buffer(cb.qemu_like_records())),
                cli.make_parser().parse_args(["-t", "x"]), same, err=io.StringIO())
    assert same.getvalue() == out.getvalue()


def test_every_front_end_calls_the_one_entry_point(tmp_path, monkeypatch):
    """The standalone command and the crash command build a reader and call run() with the
    parsed ViewOptions (drgn's print_pcicrash: test_drgn_front.py)."""
    calls = []

    def fake_run(reader, view, out, *, kernel=None, err=None):
        calls.append((type(reader).__name__, view))
        return 0
    monkeypatch.setattr(entry, "run", fake_run)
    monkeypatch.setattr(cli, "run", fake_run)
    dump = write_kdump(tmp_path / "d.kdump", {1: bytes(4096)}, max_pfn=4)
    assert cli.main(["-e", "-t", str(dump)]) == 0

    class Api:
        error = RuntimeError
        PHYSADDR = 1

        def exec_crash_command(self, cmd):
            return "    PAGESIZE=4096\n" if cmd == "help -D" else ""
    assert crashcmd.run(["-e", "-t"], api=Api(), out=io.StringIO()) == 0
    assert [c[0] for c in calls] == ["KdumpReader", "CrashReader"]
    assert calls[0][1] == calls[1][1] == ViewOptions(errors=True, tree=True, color="auto")


def test_vmcoreinfo_refused_is_exit_2_in_every_front_end(tmp_path, capsys):
    dump = write_kdump(tmp_path / "d.kdump", {1: bytes(4096)}, max_pfn=4,
                             vmcoreinfo_lines=["CRASHTIME=1"])
    other = tmp_path / "other.txt"
    other.write_text("PAGESIZE=4096\nCRASHTIME=2\n")
    assert cli.main(["--vmcoreinfo", str(other), str(dump)]) == 2
    assert "refused" in capsys.readouterr().err

    class Api:
        error = RuntimeError
        PHYSADDR = 1

        def exec_crash_command(self, cmd):
            return "    PAGESIZE=4096\n    CRASHTIME=1\n" if cmd == "help -D" else ""
    out = io.StringIO()
    assert crashcmd.run(["--vmcoreinfo", str(other)], api=Api(), out=out) == 2
    assert "refused" in out.getvalue()
