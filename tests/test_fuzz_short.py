"""Short, deterministic fuzz runs of every harness (issue 6), so CI keeps them working.

Each harness's seed corpus (fuzz/corpus/<target>/) plus a fixed number of mutations from
a fixed seed goes through fuzz.common.check_one: any exception other than a
PcicrashError, a PcicrashError without a one-line located message, an input over the
time bound, or (every 10th input) a tracemalloc peak over the memory bound fails the
test with the input's size and the traceback.  Long campaigns: fuzz/README.md.
Minimised inputs of every bug found are replayed from tests/data/fuzz-regressions/.
"""

import importlib
import os
import sys
import time

import pytest

from conftest import DATA, ROOT

sys.path.insert(0, str(ROOT))
from fuzz import common  # noqa: E402
from crash_ext_c.errors import DumpFormatError, PcicrashError  # noqa: E402

# harness -> mutations in the short run (a few seconds each on a loaded CI core)
HARNESSES = {
    "vmcoreinfo": 1500, "tlp": 3000, "config": 600, "pages": 1500, "pagemap": 600,
    "buffer": 80, "kdump": 400, "split": 400, "flat": 400, "elf": 400, "klog": 300, "events": 400,
}
REGRESSIONS = DATA / "fuzz-regressions"


def harness(name):
    return importlib.import_module("fuzz.fuzz_" + name)


def test_every_harness_is_listed():
    names = {f[5:-3] for f in os.listdir(ROOT / "fuzz") if f.startswith("fuzz_") and f.endswith(".py")}
    assert names == set(HARNESSES)


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_short_fuzz_run(name):
    mod = harness(name)
    seeds = mod.seeds()
    assert len(seeds) >= 3, "seed corpus of %s is missing" % name
    t0 = time.monotonic()
    counts = common.run(mod, mutations=HARNESSES[name], seed=20261121, time_budget=60,
                        memory_every=10)
    assert counts["inputs"] == len(seeds) + HARNESSES[name], counts
    # the seeds must reach past the first check: not every input may be an error
    assert counts["ok"] > 0, counts
    assert time.monotonic() - t0 < 90


def _regressions():
    if not REGRESSIONS.is_dir():
        return []
    return sorted((d.name, f.name) for d in REGRESSIONS.iterdir() if d.is_dir()
                  for f in d.iterdir() if f.is_file() and not f.name.endswith(".txt"))


@pytest.mark.parametrize("target,fname", _regressions())
def test_regression_input(target, fname):
    """A minimised input that once broke the contract (see its .txt next to it)."""
    data = (REGRESSIONS / target / fname).read_bytes()
    common.check_one(harness(target).target, data, memory=True)


# ---------------------------------------------------------------- the checker itself

def test_contract_rejects_foreign_exceptions():
    def boom(data):
        return data[10]
    with pytest.raises(common.ContractViolation, match="uncaught: IndexError"):
        common.check_one(boom, b"")


def test_contract_rejects_unlocated_or_multiline_errors():
    def nowhere(data):
        raise PcicrashError("bad")
    with pytest.raises(common.ContractViolation, match="no location"):
        common.check_one(nowhere, b"")

    def two_lines(data):
        raise DumpFormatError("bad\nworse", path="f", offset=3)
    with pytest.raises(common.ContractViolation, match="not one line"):
        common.check_one(two_lines, b"")

    def fine(data):
        raise DumpFormatError("bad magic", path="f", offset=0, expected="KDUMP")
    assert common.check_one(fine, b"") == "error"


def test_contract_rejects_hangs_and_memory_by_size_field():
    def hang(data):
        while True:
            pass
    with pytest.raises(common.ContractViolation, match="hang"):
        common.check_one(hang, b"", time_limit=0.2)

    def greedy(data):
        return bytearray(common.mem_bound(data) + (1 << 20))
    with pytest.raises(common.ContractViolation, match="memory"):
        common.check_one(greedy, b"x", memory=True)


def test_mutations_are_deterministic():
    import random
    a = [common.mutate(b"seed bytes" * 10, random.Random(5)) for _ in range(3)]
    b = [common.mutate(b"seed bytes" * 10, random.Random(5)) for _ in range(3)]
    assert a == b


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_atheris_entry_point(name, tmp_path):
    """`python fuzz/fuzz_X.py` (the long-campaign entry point) runs under atheris."""
    pytest.importorskip("atheris")
    import shutil
    import subprocess
    work = tmp_path / name
    shutil.copytree(common.corpus_dir(name), work)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(ROOT / "fuzz" / ("fuzz_%s.py" % name)), "-runs=40",
                          "-timeout=5", "-seed=1", "-artifact_prefix=%s/" % tmp_path, str(work)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    import re
    done = re.search(r"Done (\d+) runs", res.stderr)
    assert done and int(done.group(1)) >= 40, res.stderr[-2000:]
