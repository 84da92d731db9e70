"""What only the crashed kernel's own structures can add to a capture.

With symbols (crash + PyKdump, or drgn + vmlinux) we can show, per PCI
device: the bound driver, the kernel's `error_state` and power state, and
the AER counters of `struct pci_dev.aer_stats`; machine-wide: the
recoverable hardware-error counters `hwerr_data[]` and CRASHTIME, and the
device dumps (VMCOREDD notes) the capture kernel appended.

Every piece is optional: a kernel without the symbol or the member gets a
one-line note saying what could not be shown, never a traceback.

The symbols are read through a tiny `SymbolSource` interface (below) that
crash's PyKdump and drgn both implement; this module is pure Python and
imports only the standard library and the core.
"""

from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from pykdump_ext.pci import regs
from crash_ext_c.errors import PcicrashError
from crash_ext_c.vmcoreinfo import to_int
from pykdump_ext.pci.bdf import bdf as format_bdf


class SymbolError(PcicrashError):
    """A symbol, member or kernel address could not be read."""


class SymbolMissing(SymbolError):
    """The kernel has no such symbol or type."""


class MemberMissing(SymbolError):
    """The structure has no such member in this kernel."""


class ReadFailed(SymbolError):
    """The kernel memory behind a symbol or pointer is not in the dump."""


class SymbolSource:
    """Kernel symbols and typed memory; PyKdump and drgn implement this.

    Values are opaque to KernelInfo: it only passes them back here.  Every
    method raises only the SymbolError family above.
    """

    name = "<symbols>"

    def symbol_exists(self, name: str) -> bool:
        raise NotImplementedError

    def symbol_address(self, name: str) -> int:
        """Address of a global (SymbolMissing when absent)."""
        raise NotImplementedError

    def read_symbol(self, name: str) -> Any:
        """The global's value (struct, array, int...)."""
        raise NotImplementedError

    def struct_at(self, type_name: str, addr: int) -> Any:
        """A `struct X` value at kernel virtual `addr` (read lazily or not)."""
        raise NotImplementedError

    def member_offset(self, type_name: str, member: str) -> Optional[int]:
        """Byte offset of `member` in `type_name`, or None when it has no such member."""
        raise NotImplementedError

    def get(self, value: Any, member: str) -> Any:
        """value.member, following a pointer to struct (MemberMissing / ReadFailed)."""
        raise NotImplementedError

    def to_int(self, value: Any) -> int:
        """An integer, enum or pointer value as an int (a pointer: its address)."""
        raise NotImplementedError

    def string(self, value: Any, limit: int = 256) -> str:
        """The NUL-terminated string a `char *` value points to."""
        raise NotImplementedError

    def elements(self, value: Any) -> List[Any]:
        """The elements of an array value, as a list of values."""
        raise NotImplementedError


# enum hwerr_error_type (include/uapi/linux/vmcore.h, seed 001 v5): index -> name.
HWERR_TYPES = ("CPU", "memory", "PCI", "CXL", "others")

# pci_channel_state_t values (include/linux/pci.h, enum pci_channel_state).
ERROR_STATES = {1: "normal", 2: "frozen", 3: "perm_failure"}

# pci_power_t values (include/linux/pci.h PCI_D0..PCI_POWER_ERROR).
POWER_STATES = {-1: "error", 0: "D0", 1: "D1", 2: "D2", 3: "D3hot", 4: "D3cold", 5: "unknown"}

# struct aer_stats per-bit arrays (drivers/pci/pcie/aer.c) and the status
# register whose bit numbers index them.
AER_ARRAYS = (("dev_cor_errs", "correctable", regs.AER_COR_ERRORS),
              ("dev_fatal_errs", "fatal", regs.AER_UNCOR_ERRORS),
              ("dev_nonfatal_errs", "non-fatal", regs.AER_UNCOR_ERRORS))
AER_TOTALS = ("dev_total_cor_errs", "dev_total_fatal_errs", "dev_total_nonfatal_errs")
AER_ROOT_TOTALS = ("rootport_total_cor_errs", "rootport_total_fatal_errs",
                   "rootport_total_nonfatal_errs")

# Walk bounds: a corrupt list must not loop or grow without end.
MAX_BUSES = 4096
MAX_DEVICES = 65536
MAX_HWERR = 64




class DeviceInfo:
    """The kernel's view of one PCI device (any field None when not shown; views in
    output/kernel_view.py)."""

    def __init__(self, bdf: str, addr: int) -> None:
        self.bdf = bdf
        self.addr = addr
        self.driver: Optional[str] = None          # "" when no driver is bound
        self.error_state: Optional[int] = None
        self.power_state: Optional[int] = None
        self.aer: Union[Dict[str, Any], str, None] = None             # dict (see _read_aer) or "none" when no aer_stats
        self.problems: List[str] = []


class KernelInfo:
    """Symbol-based extras for one dump; everything is read once, at construction.

    `source` is a SymbolSource or None (no symbols at all); `vmcoreinfo` the
    dump's VMCOREINFO dict; `device_dumps` a list of (name, size) pairs, or
    None when the front end cannot tell.  Its views are output/kernel_view.py's.
    """

    def __init__(self, source: Optional[SymbolSource], *, vmcoreinfo: Optional[Dict[str, str]] = None,
                 device_dumps: Optional[Iterable[Tuple[str, int]]] = None, origin: Optional[str] = None,
                 lazy: bool = False) -> None:
        self.source = source
        self.origin = origin or (source.name if source is not None else None) or "kernel symbols"
        self.vmcoreinfo = dict(vmcoreinfo or {})
        self.device_dumps = None if device_dumps is None else list(device_dumps)
        self.notes = []             # one line per piece that could not be shown
        self.crashtime: Optional[int] = None
        self.hwerr: Optional[List[Tuple[str, Any, Any]]] = None           # list of (name, count, timestamp)
        self.devices: Dict[str, DeviceInfo] = {}           # bdf -> DeviceInfo
        self.members: Dict[str, bool] = {}           # "aer_stats" etc. -> bool (present in struct pci_dev)
        self._loaded = False
        self._load_crashtime()
        if source is None:
            self.notes.append("no kernel symbols: driver, error state, power state, AER counters"
                              " and hwerr_data not shown")
            self._loaded = True
        elif not lazy:
            self.load()

    def _symbols(self) -> SymbolSource:
        """The symbol source; the readers below run only when there is one."""
        if self.source is None:
            raise SymbolMissing("no kernel symbols (no crash session, drgn program or --vmlinux)")
        return self.source

    def load(self) -> "KernelInfo":
        """Read the symbol-based pieces (once); lazy instances do it on first use."""
        if not self._loaded:
            self._loaded = True
            self._load_hwerr()
            self._load_devices()
        return self

    # ---- machine-wide pieces ----

    def _load_crashtime(self) -> None:
        value = self.vmcoreinfo.get("CRASHTIME")
        if value is None:
            self.notes.append("CRASHTIME: not in VMCOREINFO")
            return
        self.crashtime = to_int(value)
        if self.crashtime is None:
            self.notes.append("CRASHTIME=%r in VMCOREINFO is not a number" % value[:40])

    def _load_hwerr(self) -> None:
        src = self._symbols()
        if not src.symbol_exists("hwerr_data"):
            self.notes.append("hwerr_data: not in this kernel (no symbol hwerr_data):"
                              " recoverable hardware-error counters not shown")
            return
        try:
            elems = src.elements(src.read_symbol("hwerr_data"))[:MAX_HWERR]
            out = []
            for i, e in enumerate(elems):
                count = src.get(e, "count")
                try:
                    count = src.get(count, "counter")      # atomic_t
                except MemberMissing:
                    pass
                name = HWERR_TYPES[i] if i < len(HWERR_TYPES) else "type %d" % i
                out.append((name, src.to_int(count), src.to_int(src.get(e, "timestamp"))))
            self.hwerr = out
        except SymbolError as exc:
            self.notes.append("hwerr_data: unreadable (%s)" % exc)

    # ---- per-device pieces ----

    def _walk(self, head_addr, next_value, type_name, member, limit):
        """Addresses of the `type_name` entries of a list_head list (bounded, cycle-safe)."""
        src = self._symbols()
        off = src.member_offset(type_name, member)
        if off is None:
            raise MemberMissing("%s has no member %s" % (type_name, member))
        out: List[int] = []
        seen = {head_addr}
        ptr = src.to_int(next_value)
        while ptr not in seen:
            if ptr == 0:
                raise ReadFailed("NULL next pointer in the %s.%s list" % (type_name, member))
            if len(out) >= limit:
                raise ReadFailed("more than %d entries in the %s.%s list" % (limit, type_name, member))
            seen.add(ptr)
            out.append(ptr - off)
            node = src.struct_at("struct list_head", ptr)
            ptr = src.to_int(src.get(node, "next"))
        return out

    def _bus_lists(self, bus_addr):
        src = self._symbols()
        bus = src.struct_at("struct pci_bus", bus_addr)
        lists = {}
        for name, etype, emember in (("devices", "struct pci_dev", "bus_list"),
                                     ("children", "struct pci_bus", "node")):
            off = src.member_offset("struct pci_bus", name)
            if off is None:
                raise MemberMissing("struct pci_bus has no member %s" % name)
            head = src.get(bus, name)
            lists[name] = self._walk(bus_addr + off, src.get(head, "next"), etype, emember,
                                     MAX_DEVICES if name == "devices" else MAX_BUSES)
        return lists

    def pci_dev_addrs(self) -> List[int]:
        """Every struct pci_dev the kernel knows, walking pci_root_buses and child buses."""
        src = self._symbols()
        head_addr = src.symbol_address("pci_root_buses")
        head = src.read_symbol("pci_root_buses")
        todo = self._walk(head_addr, src.get(head, "next"), "struct pci_bus", "node", MAX_BUSES)
        seen_bus = set()
        devs, seen_dev = [], set()
        while todo:
            bus = todo.pop(0)
            if bus in seen_bus:
                continue
            seen_bus.add(bus)
            if len(seen_bus) > MAX_BUSES:
                raise ReadFailed("more than %d PCI buses" % MAX_BUSES)
            lists = self._bus_lists(bus)
            for d in lists["devices"]:
                if d not in seen_dev:
                    seen_dev.add(d)
                    devs.append(d)
            todo.extend(lists["children"])
            if len(devs) > MAX_DEVICES:
                raise ReadFailed("more than %d PCI devices" % MAX_DEVICES)
        return devs

    def _bdf(self, pdev):
        """The device's name ("dddd:bb:dd.f"), from its struct device; else bus number + devfn."""
        src = self._symbols()
        try:
            name = src.string(src.get(src.get(src.get(pdev, "dev"), "kobj"), "name"), 64)
            if len(name) == 12 and name[4] == ":" and name[7] == ":" and name[10] == ".":
                return name.lower()
        except SymbolError:
            pass
        devfn = src.to_int(src.get(pdev, "devfn"))
        busnr = src.to_int(src.get(src.get(pdev, "bus"), "number"))
        return format_bdf(0, busnr & 0xFF, devfn & 0xFF)

    def _load_devices(self) -> None:
        src = self._symbols()
        for member in ("driver", "error_state", "current_state", "aer_stats"):
            self.members[member] = src.member_offset("struct pci_dev", member) is not None
        try:
            addrs = self.pci_dev_addrs()
        except SymbolError as exc:
            self.notes.append("PCI device list (pci_root_buses): unreadable (%s): driver, error"
                              " state, power state and AER counters not shown" % exc)
            return
        for m, what in (("driver", "bound driver"), ("error_state", "error state"),
                        ("current_state", "power state"), ("aer_stats", "AER counters")):
            if not self.members[m]:
                self.notes.append("struct pci_dev has no member %s in this kernel: %s not shown"
                                  % (m, what))
        for addr in addrs:
            pdev = src.struct_at("struct pci_dev", addr)
            try:
                bdf = self._bdf(pdev)
            except SymbolError as exc:
                self.notes.append("struct pci_dev at 0x%x: unreadable (%s)" % (addr, exc))
                continue
            info = DeviceInfo(bdf, addr)
            self._read_device(pdev, info)
            self.devices.setdefault(bdf, info)

    def _read_device(self, pdev, info) -> None:
        src = self._symbols()
        if self.members["driver"]:
            try:
                drv = src.get(pdev, "driver")
                info.driver = "" if src.to_int(drv) == 0 else src.string(src.get(drv, "name"), 64)
            except SymbolError as exc:
                info.problems.append("driver: %s" % exc)
        for m, attr in (("error_state", "error_state"), ("current_state", "power_state")):
            if self.members[m]:
                try:
                    v = src.to_int(src.get(pdev, m))
                    if m == "current_state" and v >= 1 << 31:
                        v -= 1 << 32           # pci_power_t is a signed int
                    setattr(info, attr, v)
                except SymbolError as exc:
                    info.problems.append("%s: %s" % (m, exc))
        if self.members["aer_stats"]:
            try:
                info.aer = self._read_aer(src.get(pdev, "aer_stats"))
            except SymbolError as exc:
                info.problems.append("aer_stats: %s" % exc)

    def _read_aer(self, ptr):
        src = self._symbols()
        if src.to_int(ptr) == 0:
            return "none"                      # the AER driver never set this device up
        out: Dict[str, Any] = {}               # totals (int) and per-bit counts (dict)
        for m in AER_TOTALS + AER_ROOT_TOTALS:
            try:
                out[m] = src.to_int(src.get(ptr, m))
            except MemberMissing:
                pass
        for m, _kind, _names in AER_ARRAYS:
            try:
                vals = [src.to_int(v) for v in src.elements(src.get(ptr, m))]
            except MemberMissing:
                continue
            out[m] = {str(bit): n for bit, n in enumerate(vals) if n}
        return out
