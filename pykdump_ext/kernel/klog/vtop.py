"""Kernel-virtual to physical translation from VMCOREINFO alone (no vmlinux).

x86_64 (arch/x86/include/asm/page_64_types.h, pgtable_64_types.h; the
values the kernel puts in VMCOREINFO in arch/x86/kernel/crash.c /
machine_kexec_64.c):
- kernel image: [__START_KERNEL_map, + KERNEL_IMAGE_SIZE) maps to
  vaddr - __START_KERNEL_map + phys_base (NUMBER(phys_base); the symbol
  addresses in VMCOREINFO already carry the KASLR offset KERNELOFFSET);
- anything else (the direct map, randomized or not, vmalloc): a walk of the
  swapper page table SYMBOL(init_top_pgt) (init_level4_pgt before 4.13),
  4 levels, or 5 when NUMBER(pgtable_l5_enabled)=1; entries hold the
  physical address in bits 12..51, minus the SME encryption bit
  NUMBER(sme_mask); bit 0 present, bit 7 (PSE) a 1 GiB (PUD) or 2 MiB (PMD)
  page.

arm64 (arch/arm64/include/asm/memory.h, pgtable-hwdef.h;
arch/arm64/kernel/crash_core.c):
- NUMBER(VA_BITS), NUMBER(kimage_voffset), NUMBER(PHYS_OFFSET),
  NUMBER(TCR_EL1_T1SZ) (5.9+: vabits_actual = 64 - T1SZ);
- linear map: since 5.4 ("flipped", the kernel image above PAGE_END) the
  lower half of the kernel space, PAGE_OFFSET = -(1 << vabits_actual), and
  phys = vaddr - PAGE_OFFSET + PHYS_OFFSET; before 5.4 the upper half,
  PAGE_OFFSET = -(1 << (VA_BITS - 1)), phys = (vaddr & ~PAGE_OFFSET) +
  PHYS_OFFSET;
- everything else: a walk of swapper_pg_dir (physical = symbol -
  kimage_voffset), (VA_BITS - 4) / (PAGE_SHIFT - 3) levels; descriptor
  bits[1:0] 3 = table/page, 1 = block; output address bits [47:PAGE_SHIFT]
  (with 52-bit physical addresses and 64 KiB pages, PA[51:48] in bits
  [15:12]).
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from crash_ext_c.errors import PcicrashError
from crash_ext_c.reader import PageStatus
from crash_ext_c.vmcoreinfo import get_int, to_int
from .physmem import PhysMem, Unreadable

MASK64 = (1 << 64) - 1

X86_START_KERNEL_MAP = 0xFFFFFFFF80000000
X86_IMAGE_SIZE_NOKASLR = 512 << 20     # KERNEL_IMAGE_SIZE without RANDOMIZE_BASE
X86_IMAGE_SIZE_KASLR = 1 << 30
X86_ENTRY_ADDR = 0x000FFFFFFFFFF000    # bits 12..51
X86_PRESENT = 1 << 0
X86_PSE = 1 << 7


class VtopError(Exception):
    """A kernel-virtual address that cannot be translated; says why."""

    def __init__(self, vaddr: int, why: str) -> None:
        self.vaddr, self.why = vaddr, why
        super().__init__("virtual 0x%x: %s" % (vaddr, why))


def number(info: Dict[str, str], key: str) -> Optional[int]:
    """A VMCOREINFO integer: SYMBOL()/KERNELOFFSET in hex, NUMBER()s decimal or 0x-hex
    (arm64 writes its NUMBERs in hex); None when absent, PcicrashError when not a number."""
    hexa = key.startswith("SYMBOL(") or key == "KERNELOFFSET"
    return get_int(info, key, base=16 if hexa else 0)


def _release(info: Dict[str, str]):
    """(major, minor) of OSRELEASE, (0, 0) when it does not start with them."""
    parts = info.get("OSRELEASE", "").split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1][:3] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def symbol(info: Dict[str, str], name: str) -> Optional[int]:
    return number(info, "SYMBOL(%s)" % name)


class Translator:
    arch = "unknown"

    def __init__(self, mem: PhysMem) -> None:
        self.mem = mem

    def vtop(self, vaddr: int) -> int:
        raise NotImplementedError

    def describe(self) -> str:
        return self.arch

    def _entry(self, table: int, index: int, vaddr: int, level: str) -> int:
        paddr = table + 8 * index
        try:
            return self.mem.u64(paddr)
        except Unreadable as exc:
            raise VtopError(vaddr, "page table %s entry at physical 0x%x: %s"
                            % (level, paddr, exc.why)) from None


PROBE_LIMIT = 1 << 30          # relocated pre-4.10 kernels load within the first GiB
PROBE_ALIGN = 2 << 20          # CONFIG_PHYSICAL_ALIGN
PROBE_BATCH = 16               # candidate pages read per reader call (the match comes early)


def probe_phys_base(mem: PhysMem, info: Dict[str, str]) -> Optional[int]:
    """phys_base at which init_uts_ns's release field holds OSRELEASE (new_utsname: 65-byte
    sysname, nodename, release), trying 0 first; only that page is kept in mem.pfns."""
    uts, release = symbol(info, "init_uts_ns"), info.get("OSRELEASE", "").strip()
    if uts is None or not release or not X86_START_KERNEL_MAP <= uts < 1 << 64:
        return None
    name_off = number(info, "OFFSET(uts_namespace.name)")
    offsets = [name_off] if name_off is not None else [0, 4, 8]   # after a 4-byte kref
    want = release.encode()[:64] + b"\0"
    ps = mem.page_size
    reader = mem.reader
    cands = []                 # (phys_base, pfn, offset in the page), in the order tried
    for base in range(0, PROBE_LIMIT, PROBE_ALIGN):
        for off in offsets:
            paddr = uts - X86_START_KERNEL_MAP + base + off + 2 * 65
            if paddr % ps + len(want) <= ps:
                cands.append((base, paddr // ps, paddr % ps))
    # One status pass over all (up to 1536) candidate pages, then only stored ones are
    # read, a batch at a time: one page at a time cost a bitmap lookup each, 0.1-1 s
    # per dump without NUMBER(phys_base) (found by fuzz_kdump).
    pfns = sorted({pfn for _b, pfn, _a in cands})
    try:
        stored = {p for p, st in zip(pfns, reader.page_statuses(pfns))
                  if st is PageStatus.PRESENT}
    except PcicrashError:
        return None
    cands = [c for c in cands if c[1] in stored]
    for i in range(0, len(cands), PROBE_BATCH):
        chunk = cands[i:i + PROBE_BATCH]
        try:
            pages = reader.read_pages(sorted({pfn for _b, pfn, _a in chunk}))
        except PcicrashError:
            continue
        for base, pfn, at in chunk:
            page = pages.get(pfn)
            if isinstance(page, bytes) and page[at:at + len(want)] == want:
                mem.page(pfn)                    # the one page that told: kept for triage
                return base
    return None


class X86_64(Translator):
    arch = "x86_64"
    # kernel-image addresses by their fixed offset (False: walk the page tables for
    # them too, as makedumpfile's vtop4_x86_64 does)
    image_shortcut = True

    def __init__(self, mem: PhysMem, info: Dict[str, str]) -> None:
        super().__init__(mem)
        phys_base = number(info, "NUMBER(phys_base)")
        self.phys_base = 0 if phys_base is None else phys_base
        self.assumed: List[str] = []
        if phys_base is None:          # kernels before 4.10 export only SYMBOL(phys_base)
            found = probe_phys_base(mem, info)
            if found is None:
                self.phys_base = 0
                self.assumed.append("NUMBER(phys_base) missing and init_uts_ns does not hold "
                                    "OSRELEASE at any 2 MiB-aligned phys_base below 1 GiB: "
                                    "phys_base 0 assumed (kernel image where it was linked)")
            else:
                self.phys_base = found
                self.assumed.append("NUMBER(phys_base) missing: phys_base 0x%x found by "
                                    "init_uts_ns holding OSRELEASE there" % found)
        size = number(info, "NUMBER(KERNEL_IMAGE_SIZE)")
        if size is None:
            size = X86_IMAGE_SIZE_KASLR if "KERNELOFFSET" in info else X86_IMAGE_SIZE_NOKASLR
        self.image_end = min(X86_START_KERNEL_MAP + size, 1 << 64)
        self.levels = 5 if (number(info, "NUMBER(pgtable_l5_enabled)") or 0) else 4
        sme = number(info, "NUMBER(sme_mask)") or 0
        self.entry_mask = X86_ENTRY_ADDR & ~(sme & MASK64)
        pgt = None
        for name in ("init_top_pgt", "init_level4_pgt", "swapper_pg_dir"):
            pgt = symbol(info, name)
            if pgt is not None:
                break
        self.pgt_vaddr = pgt
        self.pgt = self._image(pgt) if pgt is not None and self._in_image(pgt) else None

    def describe(self) -> str:
        return "x86_64, %d-level paging, phys_base 0x%x" % (self.levels, self.phys_base)

    def _in_image(self, vaddr):
        return X86_START_KERNEL_MAP <= vaddr < self.image_end

    def _image(self, vaddr):
        return vaddr - X86_START_KERNEL_MAP + self.phys_base

    def vtop(self, vaddr: int) -> int:
        vaddr &= MASK64
        if self.image_shortcut and self._in_image(vaddr):
            return self._image(vaddr)
        bits = 57 if self.levels == 5 else 48
        top = vaddr >> (bits - 1)
        if top != (MASK64 >> (bits - 1)):
            raise VtopError(vaddr, "not a canonical kernel address for %d-bit virtual "
                            "addresses" % bits)
        if self.pgt is None:
            raise VtopError(vaddr, "outside the kernel image and VMCOREINFO has no "
                            "SYMBOL(init_top_pgt) to walk the page tables")
        table = self.pgt
        names = ("PGD", "P4D", "PUD", "PMD", "PTE") if self.levels == 5 else \
            ("PGD", "PUD", "PMD", "PTE")
        shifts = (48, 39, 30, 21, 12)[5 - self.levels:]
        for name, shift in zip(names, shifts):
            entry = self._entry(table, (vaddr >> shift) & 0x1FF, vaddr, name)
            if not entry & X86_PRESENT:
                raise VtopError(vaddr, "%s entry 0x%x at physical 0x%x is not present"
                                % (name, entry, table + 8 * ((vaddr >> shift) & 0x1FF)))
            addr = entry & self.entry_mask
            if shift == 12:
                return addr + (vaddr & 0xFFF)
            if shift in (30, 21) and entry & X86_PSE:
                size = 1 << shift
                return (addr & ~(size - 1)) + (vaddr & (size - 1))
            table = addr
        raise AssertionError("unreachable")


class Arm64(Translator):
    arch = "arm64"

    def __init__(self, mem: PhysMem, info: Dict[str, str]) -> None:
        super().__init__(mem)
        self.assumed = []
        ps = mem.page_size
        if ps not in (4096, 16384, 65536):
            raise PcicrashError("arm64 with %d-byte pages" % ps, path="VMCOREINFO",
                                expected="4, 16 or 64 KiB pages")
        self.page_shift = ps.bit_length() - 1
        va_bits = number(info, "NUMBER(VA_BITS)")
        if va_bits is None or not 36 <= va_bits <= 52:
            raise PcicrashError("NUMBER(VA_BITS)=%s" % info.get("NUMBER(VA_BITS)"),
                                path="VMCOREINFO", expected="36..52")
        self.va_bits = va_bits
        t1sz = number(info, "NUMBER(TCR_EL1_T1SZ)")
        self.vabits_actual = 64 - t1sz if t1sz and 12 <= t1sz <= 28 else va_bits
        mem_section = symbol(info, "mem_section")
        if t1sz is None and va_bits == 52 and mem_section is not None:
            # 5.4-5.8 with 52-bit VA on 48-bit hardware: the linear map (where mem_section
            # lives) starts at -(1 << 48) instead of -(1 << 52)
            self.vabits_actual = 48 if mem_section & (1 << 51) else 52
        self.kimage_voffset = number(info, "NUMBER(kimage_voffset)")
        phys_offset = number(info, "NUMBER(PHYS_OFFSET)")
        if phys_offset is None:
            phys_offset = 0
            self.assumed.append("NUMBER(PHYS_OFFSET) missing: memory assumed to start at "
                                "physical 0")
        self.phys_offset = phys_offset & MASK64
        self.lpa52 = (number(info, "NUMBER(MAX_PHYSMEM_BITS)") or 48) == 52
        stext = symbol(info, "_stext")
        page_end = (-(1 << (min(va_bits, 48) - 1))) & MASK64
        if stext is not None:
            self.flipped = stext > page_end
        else:       # 5.4 flipped the layout (VMCOREINFO of 5.9+ also has TCR_EL1_T1SZ)
            self.flipped = t1sz is not None or _release(info) >= (5, 4)
            self.assumed.append("SYMBOL(_stext) missing: %s arm64 memory layout assumed"
                                % ("5.4+" if self.flipped else "pre-5.4"))
        if self.flipped:
            self.page_offset = (-(1 << self.vabits_actual)) & MASK64
        else:
            self.page_offset = (-(1 << (self.vabits_actual - 1))) & MASK64
        self.levels = (va_bits - 4) // (self.page_shift - 3)
        swapper = symbol(info, "swapper_pg_dir")
        self.pgd = None
        if swapper is not None and self.kimage_voffset is not None:
            self.pgd = (swapper - self.kimage_voffset) & MASK64

    def describe(self) -> str:
        return "arm64, %d KiB pages, VA_BITS %d, %d-level tables" % (
            (1 << self.page_shift) >> 10, self.va_bits, self.levels)

    def is_linear(self, vaddr: int) -> bool:
        bit = 1 << (self.vabits_actual - 1)
        if vaddr < ((-(1 << self.vabits_actual)) & MASK64):
            return False
        return not vaddr & bit if self.flipped else bool(vaddr & bit)

    def _out_addr(self, entry):
        addr = entry & ((1 << 48) - 1) & ~((1 << self.page_shift) - 1)
        if self.lpa52 and self.page_shift == 16:
            addr |= ((entry >> 12) & 0xF) << 48
        return addr

    def vtop(self, vaddr: int) -> int:
        vaddr &= MASK64
        if self.is_linear(vaddr):
            if self.flipped:
                return vaddr - self.page_offset + self.phys_offset
            return (vaddr & ~self.page_offset & MASK64) + self.phys_offset
        if vaddr < ((-(1 << self.va_bits)) & MASK64):
            raise VtopError(vaddr, "not a kernel address for VA_BITS=%d" % self.va_bits)
        if self.pgd is None:
            raise VtopError(vaddr, "outside the linear map and VMCOREINFO lacks "
                            "SYMBOL(swapper_pg_dir) or NUMBER(kimage_voffset) for a table walk")
        stride = self.page_shift - 3
        table = self.pgd
        for i in range(self.levels):
            level = 4 - self.levels + i          # 0..3 as the architecture numbers them
            shift = stride * (3 - level) + self.page_shift
            bits = (self.va_bits - shift) if i == 0 else stride
            index = (vaddr >> shift) & ((1 << bits) - 1)
            entry = self._entry(table, index, vaddr, "level %d" % level)
            kind = entry & 3
            if level == 3:
                if kind != 3:
                    raise VtopError(vaddr, "level 3 descriptor 0x%x at physical 0x%x is not "
                                    "a page" % (entry, table + 8 * index))
                return self._out_addr(entry) + (vaddr & ((1 << self.page_shift) - 1))
            if kind == 1 and level in (1, 2):
                size = 1 << shift
                return (self._out_addr(entry) & ~(size - 1)) + (vaddr & (size - 1))
            if kind != 3:
                raise VtopError(vaddr, "level %d descriptor 0x%x at physical 0x%x is not "
                                "valid" % (level, entry, table + 8 * index))
            table = self._out_addr(entry)
        raise AssertionError("unreachable")


def architecture(info: Dict[str, str]) -> Optional[str]:
    """'arm64', 'x86_64' or None, from which keys VMCOREINFO has (it names no architecture)."""
    if any(k in info for k in ("NUMBER(kimage_voffset)", "NUMBER(VA_BITS)",
                               "NUMBER(TCR_EL1_T1SZ)")):
        return "arm64"
    if any(k in info for k in ("NUMBER(phys_base)", "SYMBOL(init_top_pgt)",
                               "SYMBOL(init_level4_pgt)", "NUMBER(pgtable_l5_enabled)")):
        return "x86_64"
    for key, value in info.items():     # x86_64 kernel symbols live in the top 2 GiB
        if key.startswith("SYMBOL("):
            addr = to_int(value, 16)
            return "x86_64" if addr is not None and addr >= X86_START_KERNEL_MAP else None
    return None


def translator(mem: PhysMem, info: Dict[str, str]) -> Translator:
    """The translator for this dump's kernel; PcicrashError when VMCOREINFO cannot say."""
    arch = architecture(info)
    if arch == "arm64":
        return Arm64(mem, info)
    if arch == "x86_64":
        return X86_64(mem, info)
    raise PcicrashError("cannot tell the architecture", path="VMCOREINFO",
                        expected="x86_64 (NUMBER(phys_base), SYMBOL(init_top_pgt)) or arm64 "
                                 "(NUMBER(VA_BITS), NUMBER(kimage_voffset)) entries")


class KernelMemory:
    """Reads at kernel-virtual addresses: translate page by page, read through PhysMem."""

    def __init__(self, mem: PhysMem, tr: Translator) -> None:
        self.mem, self.tr = mem, tr
        self.page_size = mem.page_size
        self._vcache: Dict[int, int] = {}

    def _phys_page(self, vpage: int) -> int:
        p = self._vcache.get(vpage)
        if p is None:
            p = self.tr.vtop(vpage)
            if len(self._vcache) > 65536:
                self._vcache.clear()
            self._vcache[vpage] = p
        return p

    def phys(self, vaddr: int) -> int:
        ps = self.page_size
        off = vaddr % ps
        return self._phys_page(vaddr - off) + off

    def read(self, vaddr: int, size: int) -> bytes:
        """`size` bytes at kernel-virtual `vaddr`; VtopError or Unreadable when not there."""
        ps = self.page_size
        vaddr &= MASK64
        off = vaddr % ps
        if off + size <= ps:                           # the common case: one page
            p = self._vcache.get(vaddr - off)
            if p is None:
                p = self._phys_page(vaddr - off)
            return self.mem.read(p + off, size)
        out = bytearray()
        v = vaddr & MASK64
        while len(out) < size:
            off = v % ps
            take = min(ps - off, size - len(out))
            out += self.mem.read(self._phys_page(v - off) + off, take)
            v = (v + take) & MASK64
        return bytes(out)

    def prefetch(self, vaddr: int, size: int) -> None:
        self.prefetch_ranges([(vaddr, size)])

    def prefetch_ranges(self, ranges: Iterable[Tuple[int, int]]) -> None:
        """Batch-read the pages under [vaddr, vaddr+size) ranges; failures surface on read()."""
        ps = self.page_size
        vpages = set()
        for vaddr, size in ranges:
            vaddr &= MASK64                  # a pointer near 2^64 plus an index wraps
            end = min(vaddr + max(size, 0), MASK64 + 1)
            v = vaddr - vaddr % ps
            while v < end:
                vpages.add(v)
                v += ps
        pfns = []
        for v in sorted(vpages):
            try:
                pfns.append(self._phys_page(v) // ps)
            except (VtopError, Unreadable):
                pass
        self.mem.prefetch(pfns)

    def u64(self, vaddr: int) -> int:
        return int.from_bytes(self.read(vaddr, 8), "little")

    def u32(self, vaddr: int) -> int:
        return int.from_bytes(self.read(vaddr, 4), "little")
