"""--check also says whether the kernel log's pages are in the dump (report only: the capture
verdict and exit code are unchanged)."""

import io
import json

import pytest

from tests.builders import klog as kb
from tests.builders.kdump import write_kdump
from tests.shared import needs_shared, scenario_dir
from crash_ext_c.open import open_dump
from makedumpfile_filter import check as check_mod
from pykdump_ext.output import check_view
from pykdump_ext.frontends.cli import main as cli


@needs_shared
@pytest.mark.parametrize("name", ["aer-uncor", "vanilla-aer"])
def test_real_dump_log_pages_present_verdict_unchanged(name):
    with open_dump([str(scenario_dir(name) / "d31-zlib.kdump")]) as reader:
        res = check_mod.check(reader)
        alone = check_mod._check_capture(reader)
    assert (res.verdict, res.exit_code) == (alone.verdict, alone.exit_code)
    log = res.kernel_log
    assert log.complete and not log.missing and log.records > 300 and 10 < log.pages < 60
    assert check_view.lines(res)[-1].startswith("kernel log: OK: printk_ringbuffer, %d records, all %d "
                                      "pages in the dump" % (log.records, log.pages))
    assert json.loads(json.dumps(check_view.to_json(res)))["kernel_log"]["missing"] == []


@needs_shared
def test_missing_split_part_names_the_log_page():
    part = scenario_dir("aer-uncor") / "d31-zlib-split.2"
    with open_dump([str(part)]) as reader:
        args = cli.make_parser().parse_args(["--check", "x"])
        out = io.StringIO()
        rc = cli.execute(reader, args, out, err=io.StringIO())
    text = out.getvalue()
    assert rc == 1
    assert "kernel log: INCOMPLETE: printk_ringbuffer, 0 records" in text
    assert "NOT_IN_PART: in the --split part covering pfn 0x0-0x15000" in text


def test_filtered_text_page_explained_by_dump_level(tmp_path):
    k = kb.X86Kernel()
    prb = kb.Prb(6, 13)
    for i in range(200):
        prb.add(kb.Rec(i * 1000, "message %d %s" % (i, "y" * 50)))
    addrs = k.place_prb(prb)
    gone = k.v2p(addrs["data"]) // 4096 + 1
    pages = k.mem.frozen()
    del pages[gone]
    path = write_kdump(tmp_path / "f.kdump", pages, max_pfn=k.max_pfn(),
                             vmcoreinfo_lines=k.lines, phys_base=k.phys_base, dump_level=31,
                             ram=[(0, k.max_pfn())])
    with open_dump([path]) as reader:
        res = check_mod.check(reader)
    log = res.kernel_log
    assert not log.complete and [m.pfn for m in log.missing] == [gone]
    assert log.missing[0].status == "EXCLUDED" and "dump level 31" in log.missing[0].reason
    lines = check_view.lines(res)
    assert any(l.startswith("kernel log page pfn 0x%x (physical 0x%x): EXCLUDED"
                            % (gone, gone * 4096)) for l in lines)
    assert any("text data unreadable" in l for l in lines)
    assert res.exit_code == 1 and res.verdict.startswith("FAIL: no capture")
