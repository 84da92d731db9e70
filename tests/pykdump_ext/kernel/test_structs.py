"""KernelInfo (symbol-based extras) against real crash 8.0.2 on the shared dumps.

Ground truth is what crash itself prints for the same dump and vmlinux:
`p hwerr_data`, `dev -p`, and `struct pci_dev.<members>` / `struct aer_stats`
for every device.  KernelInfo reads through drgn here (drgn_source); the
PyKdump path is tested in tests/pykdump_ext/frontends/crash/test_command.py.
"""

import os
import re
import subprocess
import sys

import pytest

from tests.shared import ROOT, VMCORES, needs_crash, needs_shared, run_crash, vmlinux
from pykdump_ext.kernel import structs as kmod
from pykdump_ext.output import kernel_view
from pykdump_ext.kernel.structs import (
    KernelInfo, MemberMissing, ReadFailed, SymbolMissing, SymbolSource,
)

drgn_source = pytest.importorskip("pykdump_ext.kernel.drgn_source")
needs_drgn = pytest.mark.skipif(not drgn_source.available(), reason="python3-drgn not installed")


def gdb_array(text):
    """Integers of a gdb array print, expanding "N <repeats K times>"."""
    out = []
    for tok in text.split(","):
        m = re.match(r"\s*(-?\d+)(?: <repeats (\d+) times>)?\s*$", tok)
        assert m, tok
        out += [int(m.group(1))] * int(m.group(2) or 1)
    return out


def crash_struct_values(text):
    """{member: int} from crash's `struct X.a,b,c ADDR` / `struct X ADDR` output."""
    vals = {}
    for m in re.finditer(r"^\s*(\w+) = (0x[0-9a-f]+|-?\d+)", text, re.M):
        vals[m.group(1)] = int(m.group(2), 0)
    return vals


@pytest.fixture(scope="module")
def handled():
    """aer-handled (kernel-c: hwerr_data, AER driver active) through drgn, and crash's view."""
    if not drgn_source.available():
        pytest.skip("python3-drgn not installed")
    dump = VMCORES / "aer-handled" / "d31-zlib.kdump"
    if not dump.exists():
        pytest.skip("../shared not present")
    vml = vmlinux("kernel-c")
    from crash_ext_c.open import open_dump
    reader = open_dump([str(dump)])
    info = drgn_source.kernel_info(reader, dump, vml)
    return dump, vml, reader, info


REAL = [("aer-handled", "kernel-c", 19), ("aer-uncor", "kernel", 18)]


@pytest.fixture(scope="module", params=REAL, ids=[r[0] for r in REAL])
def real(request):
    scen, kern, ndev = request.param
    if not drgn_source.available():
        pytest.skip("python3-drgn not installed")
    dump = VMCORES / scen / "d31-zlib.kdump"
    if not dump.exists():
        pytest.skip("../shared not present")
    vml = vmlinux(kern)
    from crash_ext_c.open import open_dump
    reader = open_dump([str(dump)])
    return scen, ndev, dump, vml, reader, drgn_source.kernel_info(reader, dump, vml)


@needs_shared
@needs_drgn
@needs_crash
def test_kernel_extras_match_real_crash(real):
    scen, ndev, dump, vml, reader, info = real
    base = ["p hwerr_data", "dev -p"]
    first = run_crash(vml, dump, base)
    # hwerr_data: crash prints count = { counter = N }, timestamp = T for each element.
    counts = [int(x) for x in re.findall(r"counter = (\d+)", first["p hwerr_data"])]
    stamps = [int(x) for x in re.findall(r"timestamp = (\d+)", first["p hwerr_data"])]
    if scen == "aer-uncor":                       # kernel/ predates seed 001
        assert "hwerr_data" in first["p hwerr_data"] and not counts
        assert info.hwerr is None
    else:
        assert len(counts) == len(stamps) == 5
        assert [(c, t) for _n, c, t in info.hwerr] == list(zip(counts, stamps))
        assert info.hwerr[2][0] == "PCI" and info.hwerr[2][1] > 0   # the non-fatal errors
    # Device list: crash's dev -p (pci_dev address and BDF for every device).
    crash_devs = dict((bdf, int(addr, 16)) for addr, bdf in re.findall(
        r"^\s+([0-9a-f]{16}) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) ", first["dev -p"], re.M))
    assert len(crash_devs) == ndev
    assert {b: d.addr for b, d in info.devices.items()} == crash_devs
    # Per device: the members, read by crash.
    cmds = []
    for _bdf, addr in sorted(crash_devs.items()):
        cmds.append("struct pci_dev.driver,current_state,error_state,aer_stats 0x%x" % addr)
    per = run_crash(vml, dump, cmds)
    aer_cmds = {}
    for (bdf, _addr), cmd in zip(sorted(crash_devs.items()), cmds):
        v = crash_struct_values(per[cmd])
        d = info.devices[bdf]
        assert d.error_state == v["error_state"], bdf
        assert d.power_state == v["current_state"], bdf
        drv = re.search(r"driver = 0x[0-9a-f]+(?: <(\w+)>)?", per[cmd]).group(1)
        if v["driver"] == 0:
            assert d.driver == "", bdf
        else:
            assert d.driver, bdf
            aer_cmds.setdefault(v["driver"], []).append(bdf)
        if v["aer_stats"] == 0:
            assert d.aer == "none", bdf
        else:
            aer_cmds.setdefault(("aer", v["aer_stats"]), []).append(bdf)
        assert drv is None or v["driver"] != 0
    # Driver names and AER counters, again from crash.
    keys = list(aer_cmds)
    cmds2 = []
    for k in keys:
        if isinstance(k, tuple):
            cmds2.append("struct aer_stats 0x%x" % k[1])
        else:
            cmds2.append("struct pci_driver.name 0x%x" % k)
    second = run_crash(vml, dump, cmds2)
    checked_aer = 0
    for k, cmd in zip(keys, cmds2):
        text = second[cmd]
        for bdf in aer_cmds[k]:
            d = info.devices[bdf]
            if isinstance(k, tuple):
                v = crash_struct_values(text)
                for m in kmod.AER_TOTALS + kmod.AER_ROOT_TOTALS:
                    assert d.aer[m] == v[m], (bdf, m)
                for m, _kind, _names in kmod.AER_ARRAYS:
                    arr = re.search(m + r" = \{([^}]*)\}", text).group(1)
                    nums = gdb_array(arr)
                    assert d.aer[m] == {str(i): n for i, n in enumerate(nums) if n}, (bdf, m)
                checked_aer += 1
            else:
                name = re.search(r'name = 0x[0-9a-f]+ "([^"]*)"', text).group(1)
                assert d.driver == name, bdf
    assert checked_aer >= 9
    if scen != "aer-handled":
        return
    # The scenario: 00:02.3 took two non-fatal errors (CmpltTO, UnxCmplt) and recovered.
    rp4 = info.devices["0000:00:02.3"]
    assert rp4.aer["dev_total_nonfatal_errs"] == 2
    assert rp4.aer["dev_nonfatal_errs"] == {"14": 1, "16": 1}


@needs_shared
@needs_drgn
def test_kernel_lines_and_json(handled):
    _dump, _vml, reader, info = handled
    text = "\n".join(kernel_view.summary_lines(info))
    assert "CRASHTIME=%s" % reader.vmcoreinfo["CRASHTIME"] in text
    assert "PCI 6 (last" in text and "13 s before the crash" in text
    assert "device dumps (VMCOREDD notes): none" in text      # the kdump note area has none
    lines = kernel_view.device_lines(info, "0000:00:02.3")
    assert lines[0].startswith("Kernel: driver pcieport, error_state normal, power D0")
    assert "non-fatal by error: CmpltTO x1, UnxCmplt x1" in "\n".join(lines)
    assert kernel_view.device_lines(info, "0000:00:1f.2")[0].startswith("Kernel: driver (none)")
    assert "no struct pci_dev" in kernel_view.device_lines(info, "0000:42:00.0")[0]
    j = kernel_view.to_json(info)
    assert j["crashtime"] == int(reader.vmcoreinfo["CRASHTIME"])
    assert [h["count"] for h in j["hwerr_data"]] == [h[1] for h in info.hwerr]
    assert j["devices"]["0000:00:02.3"]["aer_stats"]["dev_nonfatal_errs"] == {"14": 1, "16": 1}
    import json
    json.dumps(j)


@needs_shared
@needs_drgn
def test_kernel_without_hwerr_data_says_so():
    """kernel/ (aer-uncor) predates seed 001: no hwerr_data, the rest still shown."""
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    from crash_ext_c.open import open_dump
    reader = open_dump([str(dump)])
    info = drgn_source.kernel_info(reader, dump, vmlinux("kernel"))
    assert info.hwerr is None
    assert any(n.startswith("hwerr_data: not in this kernel") for n in info.notes)
    assert len(info.devices) == 18
    assert info.devices["0000:00:02.0"].driver == "pcieport"
    text = "\n".join(kernel_view.summary_lines(info))
    assert "note: hwerr_data: not in this kernel" in text


# ---- degradation over a byte-built symbol source (no dump needed) ----

class DictSource(SymbolSource):
    """Symbols from plain dicts: {addr: {member: value}}; pointers are ints."""

    name = "dict symbols"

    def __init__(self, symbols, structs, types, strings=None, unreadable=()):
        self.symbols = symbols          # name -> (addr, value)
        self.structs = structs          # addr -> {member: value}
        self.types = types              # type -> {member: offset}
        self.strings = strings or {}
        self.unreadable = set(unreadable)

    def symbol_exists(self, name):
        return name in self.symbols

    def symbol_address(self, name):
        if name not in self.symbols:
            raise SymbolMissing(name)
        return self.symbols[name][0]

    def read_symbol(self, name):
        if name not in self.symbols:
            raise SymbolMissing(name)
        return self.symbols[name][1]

    def struct_at(self, type_name, addr):
        return ("ptr", addr)

    def member_offset(self, type_name, member):
        return self.types.get(type_name, {}).get(member)

    def get(self, value, member):
        if isinstance(value, tuple) and value[0] == "ptr":
            addr = value[1]
            if addr in self.unreadable:
                raise ReadFailed("0x%x not in the dump" % addr)
            st = self.structs.get(addr)
            if st is None:
                raise ReadFailed("0x%x not in the dump" % addr)
            value = st
        if member not in value:
            raise MemberMissing(member)
        v = value[member]
        return ("ptr", v) if isinstance(v, int) and v >= 0x1000 else v

    def to_int(self, value):
        return value[1] if isinstance(value, tuple) else int(value)

    def string(self, value, limit=256):
        return self.strings[self.to_int(value)][:limit]

    def elements(self, value):
        return list(value)


def _machine(pdev_members=("driver", "error_state", "current_state", "aer_stats"), cycle=False):
    """One root bus with two devices; optional corrupt (cyclic) device list.

    Memory is {address: {member: value}}; each list_head is its own entry at
    struct address + member offset, as in the kernel.
    """
    HEAD, BUS, D1, D2, DRV, NAME1, NAME2, DRVNAME = (0xA000, 0xB000, 0xC000, 0xD000, 0xE000,
                                                     0xF000, 0xF100, 0xF200)
    types = {"struct pci_bus": {"node": 8, "devices": 16, "children": 32},
             "struct pci_dev": {"bus_list": 8, "devfn": 56, "bus": 16, "dev": 64},
             "struct list_head": {"next": 0}}
    for i, m in enumerate(pdev_members):
        types["struct pci_dev"][m] = 100 + 8 * i
    structs = {
        HEAD: {"next": BUS + 8},
        BUS: {"node": {"next": HEAD}, "devices": {"next": D1 + 8},
              "children": {"next": BUS + 32}, "number": 0},
        BUS + 8: {"next": HEAD},
        BUS + 16: {"next": D1 + 8},
        BUS + 32: {"next": BUS + 32},               # no child buses
        D1: {"devfn": 0x10, "bus": BUS, "dev": {"kobj": {"name": NAME1}}, "driver": DRV,
             "error_state": 2, "current_state": 0, "aer_stats": 0},
        D1 + 8: {"next": (D1 + 8) if cycle else (D2 + 8)},
        D2: {"devfn": 0x18, "bus": BUS, "dev": {"kobj": {"name": NAME2}},
             "driver": 0, "error_state": 1, "current_state": 3, "aer_stats": 0},
        D2 + 8: {"next": BUS + 16},
        DRV: {"name": DRVNAME},
    }
    for d in (D1, D2):
        for m in ("driver", "error_state", "current_state", "aer_stats"):
            if m not in pdev_members:
                structs[d].pop(m)
    strings = {NAME1: "0000:00:02.0", NAME2: "0000:00:03.0", DRVNAME: "pcieport"}
    symbols = {"pci_root_buses": (HEAD, {"next": BUS + 8})}
    return DictSource(symbols, structs, types, strings)


def test_dict_source_full():
    info = KernelInfo(_machine(), vmcoreinfo={"CRASHTIME": "100"})
    assert sorted(info.devices) == ["0000:00:02.0", "0000:00:03.0"]
    a = info.devices["0000:00:02.0"]
    assert (a.driver, a.error_state, a.power_state, a.aer) == ("pcieport", 2, 0, "none")
    assert kernel_view.device_lines(info, "0000:00:02.0")[0].startswith(
        "Kernel: driver pcieport, error_state frozen, power D0")
    assert kernel_view.device_lines(info, "0000:00:03.0")[0].startswith(
        "Kernel: driver (none), error_state normal, power D3hot")
    assert info.hwerr is None and any("hwerr_data: not in this kernel" in n for n in info.notes)


def test_missing_members_each_become_one_note():
    info = KernelInfo(_machine(pdev_members=("driver",)), vmcoreinfo={})
    notes = "\n".join(info.notes)
    for m in ("error_state", "current_state", "aer_stats"):
        assert "struct pci_dev has no member %s in this kernel" % m in notes
    assert "CRASHTIME: not in VMCOREINFO" in notes
    assert kernel_view.device_lines(info, "0000:00:02.0") == [
        "Kernel: driver pcieport [struct pci_dev 0xc000]"]


def test_cyclic_device_list_is_bounded():
    info = KernelInfo(_machine(cycle=True), vmcoreinfo={})
    # D1 -> D1: the walk stops at the repeat instead of looping.
    assert list(info.devices) == ["0000:00:02.0"]


def test_unreadable_device_list_is_a_note():
    src = _machine()
    src.unreadable.add(0xB000)
    info = KernelInfo(src, vmcoreinfo={})
    assert info.devices == {}
    assert any(n.startswith("PCI device list (pci_root_buses): unreadable") for n in info.notes)
    assert "note: PCI device list" in "\n".join(kernel_view.summary_lines(info))


def test_no_symbols_at_all():
    info = KernelInfo(None, vmcoreinfo={"CRASHTIME": "1795243552"}, device_dumps=[("cxgb4_0000:02:00.4", 33558488)])
    text = "\n".join(kernel_view.summary_lines(info))
    assert "no kernel symbols" in text
    assert "cxgb4_0000:02:00.4 (33558488 bytes)" in text
    assert kernel_view.device_lines(info, "0000:00:02.0") == []
    assert kernel_view.to_json(info)["device_dumps"] == [{"name": "cxgb4_0000:02:00.4", "size": 33558488}]


def test_lazy_reads_nothing_until_asked():
    class Boom(SymbolSource):
        def __getattribute__(self, name):
            if name in ("symbol_exists", "read_symbol", "struct_at", "member_offset", "get"):
                raise AssertionError("symbol access before it was needed: %s" % name)
            return object.__getattribute__(self, name)
    info = KernelInfo(Boom(), vmcoreinfo={"CRASHTIME": "5"}, lazy=True)
    assert info.crashtime == 5
    info2 = KernelInfo(_machine(), vmcoreinfo={}, lazy=True)
    assert info2.devices == {}
    assert kernel_view.device_lines(info2, "0000:00:02.0")[0].startswith("Kernel: driver pcieport")


@needs_shared
@needs_drgn
def test_every_reader_format_gives_the_same_kernel_view():
    """Symbols through drgn, memory through our reader: flattened and split sets work too."""
    from crash_ext_c.open import open_dump
    d = VMCORES / "aer-uncor"
    vml = vmlinux("kernel")

    def view(paths):
        reader = open_dump([str(p) for p in paths])
        info = drgn_source.kernel_info(reader, paths[0], vml)
        return {b: kernel_view.device_json(x) for b, x in info.devices.items()}, info.notes
    ref, ref_notes = view([d / "d31-zlib.kdump"])
    assert len(ref) == 18
    for paths in ([d / "d31-zlib.flat"], [d / "d31-zlib-split.1", d / "d31-zlib-split.2"],
                  [d / "d31-zstd.kdump"]):
        got, notes = view(paths)
        assert got == ref, paths
        assert notes == ref_notes, paths


def test_stub_core_is_an_elf_core_with_our_vmcoreinfo(tmp_path):
    info = {"OSRELEASE": "6.1.192-pcicrash", "PAGESIZE": "4096", "NUMBER(phys_base)": "-664797184",
            "SYMBOL(init_top_pgt)": "ffffffffbb40a000", "CRASHTIME": "1795243552"}
    path = tmp_path / "stub.core"
    path.write_bytes(drgn_source.stub_core(info, 62))
    from crash_ext_c.elf import ElfReader
    r = ElfReader(str(path))
    assert r.vmcoreinfo == info


@needs_shared
@needs_drgn
def test_wrong_vmlinux_is_refused_not_misread():
    """kernel-c's vmlinux on an aer-uncor dump: every address would be wrong; say so instead."""
    from crash_ext_c.open import open_dump
    dump = VMCORES / "aer-uncor" / "d31-zlib.kdump"
    reader = open_dump([str(dump)])
    info = drgn_source.kernel_info(reader, dump, vmlinux("kernel-c"))
    assert info.devices == {} and info.hwerr is None
    assert "is not this dump's kernel" in info.notes[-1]
    assert "OSRELEASE=%s" % reader.vmcoreinfo["OSRELEASE"] in info.notes[-1]


@needs_shared
@needs_drgn
def test_cli_vmlinux_option_shows_kernel_lines():
    """The standalone CLI with --vmlinux: the kernel lines crash shows, from the dump file."""
    dump = VMCORES / "aer-handled" / "d31-zlib.kdump"
    vml = vmlinux("kernel-c")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = lambda *a: subprocess.run([sys.executable, "-m", "pykdump_ext.frontends.cli.main"] + list(a),
                                    capture_output=True, text=True, env=env, timeout=300)
    res = run("--vmlinux", str(vml), "-d", "00:02.3", str(dump))
    assert res.returncode == 0, res.stderr
    assert "\tKernel: driver pcieport, error_state normal, power D0" in res.stdout
    assert "non-fatal by error: CmpltTO x1, UnxCmplt x1" in res.stdout
    res = run("--vmlinux", str(vml), str(dump))
    assert "recoverable hardware errors (hwerr_data): CPU 0; memory 0; PCI 6" in res.stdout
    # the full view carries the same kernel context (CRASHTIME, hwerr_data) above the devices
    res = run("--vmlinux", str(vml), "-a", str(dump))
    head = res.stdout.split("\n0000:00:00.0 ")[0]
    assert "recoverable hardware errors (hwerr_data): CPU 0; memory 0; PCI 6" in head
    assert "(CRASHTIME=1795243552)" in head   # aer-handled/vmcoreinfo.txt
    # without --vmlinux: no kernel section at all
    assert "Kernel:" not in run(str(dump)).stdout
    # a file that is no vmlinux: one note, the capture still shown
    res = run("--vmlinux", "/etc/hostname", str(dump))
    assert res.returncode == 0 and "Devices (19 of 19)" in res.stdout
    assert "note: no kernel symbols: /etc/hostname" in res.stdout
