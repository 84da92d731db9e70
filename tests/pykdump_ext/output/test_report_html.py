"""The HTML report (report_html, --html) without a browser, and terminal colours (style,
--color).  The rendered page itself is checked in Chromium by tests/peers/test_chromium.py."""

import html.parser
import io
import os
import pty
import re
import subprocess
import sys
import types

import pytest

from tests.builders import capture as cb
from tests.shared import ROOT, VMCORES, needs_shared
from pykdump_ext.frontends.cli import main as cli
from pykdump_ext.output import report_html, style
from pykdump_ext.analysis.report import analyse
from crash_ext_c.reader import PageStatus

jinja2 = pytest.importorskip("jinja2")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def built_report(**kw):
    return analyse(cb.reader(cb.buffer(cb.qemu_like_records(**kw))), names="system")


class Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text inside elements of interest."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(text):
    p = Tags()
    p.feed(text)
    return p.tags


def test_self_contained_no_external_reference():
    text = report_html.render(built_report())
    for tag, a in tags(text):
        for k in ("src", "href", "action", "poster", "data"):
            v = a.get(k)
            if v is not None:
                assert v.startswith(("#", "data:")), (tag, k, v)
        assert not (tag == "link" and a.get("rel") == "stylesheet"), a
        assert not (tag == "script" and "src" in a), a
    assert "@import" not in text and "@font-face" not in text
    assert not re.search(r"url\((?!data:)", text)
    assert "default-src 'none'" in text          # the browser refuses any load, too


def test_panel_and_tree_row_per_device_in_buffer_order():
    rep = built_report()
    t = tags(report_html.render(rep))
    panels = [a["data-bdf"] for tag, a in t if tag == "details" and "dev" in a.get("class", "")]
    assert panels == [d.bdf for d in rep.devices]
    rows = [a["data-bdf"] for tag, a in t if tag == "div" and "tn" in a.get("class", "").split()]
    assert sorted(rows) == sorted(panels)
    # the tree lists a child right after its parent (depth-first)
    assert rows.index("0000:01:00.0") == rows.index("0000:00:02.0") + 1
    assert not any("open" in a for tag, a in t if tag == "details")   # collapsed by default


def test_error_path_svg_hops_and_failing_element():
    rep = built_report()
    text = report_html.render(rep)
    hops = re.findall(r'<g class="hop (\w+)" data-bdf="([^"]+)"', text)
    assert [b for _c, b in hops] == [h.bdf for p in rep.paths for h in p.hops]
    assert dict((b, c) for c, b in hops)["0000:01:00.0"] == "fail"
    assert rep.verdict.suspects[0].bdf == "0000:01:00.0"


def test_link_down_is_drawn_as_such():
    # no message crossed the link (one that did would leave its state unknown, link.py)
    rep = built_report(endpoint_ff=True, dllla=False, reported=False)
    rules = {s.bdf: s.rules for s in rep.verdict.suspects}
    assert "link_down" in rules["0000:00:02.0"]
    assert "unreachable_link_down" in rules["0000:01:00.0"]
    text = report_html.render(rep)
    badges = re.findall(r'data-bdf="0000:01:00.0"[^>]*>.*?</div>', text)
    assert any('data-kind="unreachable"' in b for b in badges)
    assert 'data-kind="link-down"' in text


def test_error_path_link_is_the_one_conclusion():
    """A message crossed the link before the panic: the SVG draws it unknown, never down."""
    rep = built_report(endpoint_ff=True, dllla=False)
    assert rep.links["0000:00:02.0"].conclusion == "unknown"
    text = report_html.render(rep)
    assert re.search(r'<g class="link unknown">.*?link state unknown', text, re.S)
    assert "LINK DOWN" not in text
    up = report_html.render(built_report())
    assert re.search(r'<g class="link ok">.*?link up', up, re.S)


def test_missing_pages_are_listed_with_their_status():
    buf = cb.buffer(cb.qemu_like_records())
    rep = analyse(cb.reader(buf, missing={1: PageStatus.EXCLUDED}), names="system")
    assert rep.capture.state == "partial"
    text = report_html.render(rep)
    assert "Missing buffer pages" in text
    assert "page 1: pfn 0x%x, %s" % (rep.capture.missing[0][1], PageStatus.EXCLUDED.value) in text
    assert 'state-partial' in text


def test_absent_capture_still_renders():
    rep = analyse(cb.reader(b"", vmcoreinfo={"PCI_CRASH_PAGEMAP": "0x0"}), names="system")
    text = report_html.render(rep)
    assert "<details" not in text
    assert rep.capture.state in text and rep.verdict.lines[0].split(":")[0] in text


def test_hexdump_keeps_bytes_and_folds_empty_runs():
    raw = bytes(range(32)) + bytes(4096 - 64) + b"\xff" * 32
    text = report_html._hexdump(raw)
    lines = text.splitlines()
    assert lines[0] == "000: " + " ".join("%02x" % i for i in range(16))
    assert lines[2] == "020-fdf: 00 (all 4032 bytes)"
    assert lines[3] == "fe0-fff: ff (all 32 bytes)" and len(lines) == 4
    # every byte is accounted for: shown rows + folded runs = 4096
    shown = sum(16 for l in lines if "all" not in l)
    folded = sum(int(m) for m in re.findall(r"all (\d+) bytes", text))
    assert shown + folded == 4096


def test_kernel_log_events_and_panic_shown_when_present():
    """The kernel-log work's shapes (klog.judge.LogSummary: pci_events of Events with a list
    of raw lines; verdict.panic a Panic), stood in by plain objects."""
    rep = built_report()
    assert "Kernel PCI events" not in report_html.render(rep)
    ev = types.SimpleNamespace(time=5.677693, bdf="0000:01:00.0", kind="aer",
                               fields={"severity": "nonfatal", "errors": "CmpltTO"},
                               raw=["pcieport 0000:00:02.0: AER: Uncorrected (Non-Fatal) error",
                                    "virtio-pci 0000:01:00.0:    [14] CmpltTO"])
    other = types.SimpleNamespace(time=6.0, bdf="0000:09:00.0", kind="link_down", fields={},
                                  raw=["pcieport 0000:09:00.0: link down"])
    panic = types.SimpleNamespace(line="Kernel panic - not syncing: sysrq triggered crash\n",
                                  time=6.5, pci=False, why="sysrq crash request", bdf=None)
    rep.kernel_log = types.SimpleNamespace(pci_events=[ev, other], events=[ev, other],
                                           notes=["2 records lost"], panic=panic)
    rep.verdict.panic = panic
    text = report_html.render(rep)
    tl = text.split('id="timeline"')[1]
    assert "[5.677693]" in tl and "<b>aer</b>" in tl and "severity=" in tl
    assert "AER: Uncorrected (Non-Fatal) error\nvirtio-pci 0000:01:00.0:    [14] CmpltTO" in tl
    assert 'href="#dev-0000:01:00.0"' in tl
    assert "0000:09:00.0" in tl and 'href="#dev-0000:09:00.0"' not in tl   # not captured
    assert len(re.findall(r'<line class="tick', tl)) == 2
    assert 'class="tick bad" x1="10.0"' in tl and 'class="tick" x1="990.0"' in tl
    assert "2 records lost" in text
    assert re.search(r'<div class="panic" id="panic">\[6.500000\] Kernel panic - not syncing: '
                     r'sysrq triggered crash</div>', text)
    assert "not a PCI error: sysrq crash request" in text


def test_escaping_of_dump_controlled_text():
    rep = built_report()
    rep.source = "<script>alert(1)</script>"
    rep.devices[0].vendor_name = '"><img src=x onerror=alert(1)>'
    text = report_html.render(rep)
    assert "<script>alert(1)" not in text and "<img src=x" not in text


def test_cli_html_writes_file_and_says_so(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    f = tmp_path / "r.html"
    args = cli.make_parser().parse_args(["--html", str(f), "x"])
    rc = cli.execute(cb.reader(cb.buffer(cb.qemu_like_records())), args, out, err=err)
    assert rc == 0 and out.getvalue() == ""
    assert err.getvalue().startswith("pcicrash: HTML report written to %s (7 devices" % f)
    assert f.read_text().startswith("<!DOCTYPE html>")
    # with a view as well: both
    args = cli.make_parser().parse_args(["--html", str(f), "-t", "x"])
    out = io.StringIO()
    cli.execute(cb.reader(cb.buffer(cb.qemu_like_records())), args, out, err=io.StringIO())
    assert "-[0000:00]-" in out.getvalue()


def test_cli_html_to_stdout_alone_only():
    reader = cb.reader(cb.buffer(cb.qemu_like_records()))
    out, err = io.StringIO(), io.StringIO()
    assert cli.execute(reader, cli.make_parser().parse_args(["--html", "-", "x"]), out,
                       err=err) == 0
    assert out.getvalue().startswith("<!DOCTYPE html>") and err.getvalue() == ""
    out, err = io.StringIO(), io.StringIO()
    assert cli.execute(reader, cli.make_parser().parse_args(["--html", "-", "-j", "x"]), out,
                       err=err) == 2
    assert out.getvalue() == "" and "--html - writes the report to stdout" in err.getvalue()


def test_cli_html_unwritable_is_one_line(tmp_path):
    args = cli.make_parser().parse_args(["--html", str(tmp_path / "no" / "r.html"), "x"])
    out, err = io.StringIO(), io.StringIO()
    rc = cli.execute(cb.reader(cb.buffer(cb.qemu_like_records())), args, out, err=err)
    assert rc == 2
    assert re.fullmatch(r"pcicrash: .*/no/r\.html: cannot write the HTML report: No such file"
                        r" or directory\n", err.getvalue())


def test_without_jinja2_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "jinja2", None)
    monkeypatch.setattr(report_html, "_ENV", {})
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "dist-packages" not in p])
    args = cli.make_parser().parse_args(["--html", "-", "x"])
    out, err = io.StringIO(), io.StringIO()
    rc = cli.execute(cb.reader(cb.buffer(cb.qemu_like_records())), args, out, err=err)
    assert rc == 2
    assert err.getvalue() == ("pcicrash: --html needs Jinja2, which this Python cannot import "
                              "(expected Debian python3-jinja2, or pip install "
                              "'pcicrash[html]')\n")


@needs_shared
def test_console_script_on_a_real_dump(tmp_path):
    f = tmp_path / "aer.html"
    res = subprocess.run([str(ROOT / ".venv" / "bin" / "pcicrash"), "--html", str(f),
                          str(VMCORES / "aer-uncor" / "d31-zlib.kdump")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    text = f.read_text()
    assert "Completion Timeout" in text and text.count('<details class="dev') == 18


# --- terminal colours ------------------------------------------------------------------

class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("mode,env,tty,want", [
    ("auto", {}, True, True),
    ("auto", {}, False, False),
    ("auto", {"NO_COLOR": "1"}, True, False),
    ("auto", {"NO_COLOR": ""}, True, True),          # set but empty: no effect (no-color.org)
    ("auto", {"TERM": "dumb"}, True, False),
    ("always", {"NO_COLOR": "1"}, False, True),      # an explicit option beats the variable
    ("never", {}, True, False),
])
def test_wants_color(mode, env, tty, want):
    stream = Tty() if tty else io.StringIO()
    assert style.wants_color(mode, stream, env) is want


def _run_pty(argv, env):
    """Run the console script with stdout on a pseudo-terminal; its output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:          # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env["TERM"] = "xterm"
    env.update(extra)
    return env


@needs_shared
def test_colour_on_a_terminal_only():
    dump = str(VMCORES / "aer-uncor" / "d31-zlib.kdump")
    exe = str(ROOT / ".venv" / "bin" / "pcicrash")
    rc, tty_out = _run_pty([exe, dump], _env())
    assert rc == 0
    first = tty_out.splitlines()[0]
    # bold red when a device is named at fault; bold yellow when the kernel log says the
    # panic itself was not a PCI error (aer-uncor's was a sysrq crash)
    assert re.match(r"\x1b\[1;3[13]mVerdict: ", first) and first.endswith("\x1b[0m")
    assert re.search(r"\x1b\[1;3[13]m[^\n]*0000:01:00\.0 \[1af4:1041\]", tty_out)
    assert "\x1b[1;31mUE Completion Timeout (CmpltTO)" in tty_out
    piped = subprocess.run([exe, dump], capture_output=True, text=True, env=_env()).stdout
    assert "\x1b[" not in piped
    assert ANSI.sub("", tty_out) == piped                # colour adds nothing else
    rc, no_color = _run_pty([exe, dump], _env(NO_COLOR="1"))
    assert no_color == piped
    rc, never = _run_pty([exe, "--color=never", dump], _env())
    assert never == piped
    forced = subprocess.run([exe, "--color=always", dump], capture_output=True, text=True,
                            env=_env(NO_COLOR="1")).stdout
    assert forced == tty_out
    for data_view in (["-j"], ["-x"], ["-x", "-t"]):
        rc, out = _run_pty([exe, "--color=always"] + data_view + [dump], _env())
        assert "\x1b[" not in out, data_view


def test_colour_of_full_decode_and_tree_strips_to_plain():
    rep_args = [["-a"], ["-t"], ["-e"], []]
    for opts in rep_args:
        for kw in ({}, {"endpoint_ff": True, "dllla": False}):
            reader = cb.reader(cb.buffer(cb.qemu_like_records(**kw)))
            plain, colour = io.StringIO(), io.StringIO()
            cli.execute(reader, cli.make_parser().parse_args(opts + ["x"]), plain,
                        err=io.StringIO())
            cli.execute(reader, cli.make_parser().parse_args(opts + ["--color=always", "x"]),
                        colour, err=io.StringIO())
            assert "\x1b[" not in plain.getvalue()
            assert ANSI.sub("", colour.getvalue()) == plain.getvalue(), opts
            assert "\x1b[1;31m" in colour.getvalue(), opts


@needs_shared
def test_tlp_header_table_matches_the_injected_headers():
    """aer-tlp: QEMU injected real TLP headers; scenario.json says what each field is."""
    import json
    from crash_ext_c.open import open_dump
    scen = VMCORES / "aer-tlp"
    with open_dump([str(scen / "d31-zlib.kdump")]) as r:
        text = report_html.render(analyse(r, names="system"))
    injected = [i for i in json.loads((scen / "scenario.json").read_text())["injections"]
                if i.get("tlp_header")]
    assert len(injected) >= 3
    for inj in injected:
        h = inj["tlp_header"]
        panel = re.search(r'<details class="dev[^"]*" id="dev-%s".*?</details>'
                          % re.escape(inj["bdf_guest"]), text, re.S).group(0)
        rows = dict(re.findall(r'<tr><th>([^<]+)</th><td class="mono">([^<]*)</td></tr>', panel))
        assert rows["Header log"] == " ".join(h["header_log_dwords"]).lower(), inj["bdf_guest"]
        f = h["fields"]
        if "requester_id" in f:
            assert rows["Requester"] == "0000:" + f["requester_id"]
        if "tag" in f:
            assert int(rows["Tag"], 16) == int(f["tag"], 16)
        if "address" in f:
            assert int(rows["Address"].split()[0], 16) == int(f["address"], 16)
        if "target" in f:
            assert rows["Target"] == "0000:" + f["target"]
        if "register_offset" in f:
            assert int(rows["Register"], 16) == int(f["register_offset"], 16)
        assert int(rows["Length (DW)"]) == f.get("length_dw", int(rows["Length (DW)"]))


@pytest.mark.parametrize("case", ["bad-magic", "cut", "count", "twice", "ff", "kernel-broken"])
def test_damaged_captures_still_render(case):
    """Whatever the capture state, the page renders, says the state and why, and keeps what
    could be read."""
    recs = cb.qemu_like_records(endpoint_ff=(case == "ff"))
    if case == "twice":
        recs = recs + recs[1:2]
    buf = cb.buffer(recs, magic=0xDEADBEEF if case == "bad-magic" else cb.PCIC,
                    device_count=99 if case == "count" else None)
    if case == "cut":
        buf = buf[:len(buf) - 3000]
    rep = analyse(cb.reader(buf), names="system")
    if case == "kernel-broken":
        class Broken:               # KernelInfo whose symbol reads fail (output/kernel_view)
            def load(self):
                return self

            @property
            def origin(self):
                raise RuntimeError("symbols gone")

            @property
            def devices(self):
                raise RuntimeError("no struct pci_dev")
        rep.kernel = Broken()
    text = report_html.render(rep)
    assert 'class="state state-%s"' % rep.capture.state in text
    assert text.count('<details class="dev') == len(rep.devices)
    if rep.capture.state != "captured":
        assert str(jinja2.utils.markupsafe.escape(rep.capture.reason)) in text
    if case == "twice":     # a repeated BDF is kept and shown as such (bdf#2), never dropped
        assert len(rep.devices) == rep.capture.header.device_count
        dup = [d for d in rep.devices if d.duplicate]
        assert len(dup) == 1 and 'data-bdf="%s"' % dup[0].bdf in text
    if case == "kernel-broken":
        assert "unavailable (symbols gone)" in text and "unavailable (no struct pci_dev)" in text
    if case == "ff":
        assert 'data-kind="unreachable"' in text


def test_shared_decode_text_never_carries_colour_into_plain_output():
    """The -a text of a capability is made once per equal bytes; a coloured rendering (a crash
    session on a terminal) must not leak into a later plain one (the same session into a file,
    or the HTML report)."""
    reader = cb.reader(cb.buffer(cb.qemu_like_records()))
    parse = cli.make_parser().parse_args
    first, plain = io.StringIO(), io.StringIO()
    cli.execute(reader, parse(["-a", "--color=always", "x"]), first, err=io.StringIO())
    assert "\x1b[1;31m" in first.getvalue()
    cli.execute(reader, parse(["-a", "x"]), plain, err=io.StringIO())
    assert "\x1b[" not in plain.getvalue()
    assert ANSI.sub("", first.getvalue()) == plain.getvalue()
    assert "\x1b[" not in report_html.render(analyse(reader, names="system"))


def test_hexdump_round_trips_every_byte():
    import random
    rnd = random.Random(10)
    for size in (64, 200, 256, 4096, 4000):
        for _ in range(30):
            raw = bytearray(size)
            for _ in range(rnd.randrange(0, 6)):        # a few runs of 0xff / data
                a = rnd.randrange(size)
                b = min(size, a + rnd.randrange(1, 600))
                fill = rnd.choice((0xFF, None))
                for i in range(a, b):
                    raw[i] = fill if fill is not None else rnd.randrange(256)
            back = bytearray()
            for line in report_html._hexdump(bytes(raw)).splitlines():
                head, _, rest = line.partition(": ")
                if "(all" in rest:
                    lo, hi = (int(x, 16) for x in head.split("-"))
                    assert lo == len(back)
                    back += bytes([int(rest[:2], 16)]) * (hi - lo + 1)
                else:
                    assert int(head, 16) == len(back)
                    back += bytes.fromhex(rest)
            assert bytes(back) == bytes(raw)
