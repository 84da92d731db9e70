"""Kernel-virtual to physical from VMCOREINFO alone, over page tables built from the documented formats."""

import struct

import pytest

from tests.builders import klog as kb
from crash_ext_c.errors import PcicrashError
from pykdump_ext.kernel.klog.physmem import PhysMem
from pykdump_ext.kernel.klog.vtop import (
    Arm64, KernelMemory, VtopError, X86_64, architecture, translator,
)
from crash_ext_c.reader import PageDictReader, PageStatus


def x86_translator(k, statuses=None, pages=None):
    reader = PageDictReader(pages if pages is not None else k.mem.frozen(), statuses=statuses,
                            vmcoreinfo=k.info())
    mem = PhysMem(reader)
    return translator(mem, reader.vmcoreinfo), mem


@pytest.mark.parametrize("levels", [4, 5])
def test_x86_image_direct_map_and_vmalloc(levels):
    po = 0xFF11000000000000 if levels == 5 else 0xFFFF8F2A00000000
    k = kb.X86Kernel(levels=levels, page_offset=po)
    k.tables.map(po + (3 << 30) + (6 << 20), 0x5000000, 4 << 20, page=2 << 20)   # 2 MiB pages
    k.write_vmalloc(0xFFFFC90000123000, bytes(3 * 4096), [0x777, 0x123, 0x999])  # 4 KiB
    tr, mem = x86_translator(k)
    assert isinstance(tr, X86_64) and tr.levels == levels
    # the kernel image: phys_base arithmetic, no page read
    assert tr.vtop(k.img + 0x1234) == k.img + 0x1234 - 0xFFFFFFFF80000000 + k.phys_base
    assert mem.pfns == set()
    # the randomized direct map (1 GiB pages), through the tables
    assert tr.vtop(po + 0x12345678) == 0x12345678
    assert tr.vtop(po + (3 << 30) + (6 << 20) + 0x2ABCDE) == 0x5000000 + 0x2ABCDE
    assert tr.vtop(0xFFFFC90000124010) == 0x123010
    assert tr.vtop(0xFFFFC90000125FFF) == 0x999FFF
    assert k.v2p(k.pgt) // 4096 in mem.pfns          # the walk's pages are recorded


def test_x86_sme_mask_is_stripped():
    k = kb.X86Kernel()
    sme = 1 << 47
    root = k.v2p(k.pgt)
    # mark every top-level entry encrypted, as an SME kernel does
    page = bytearray(k.mem.pages[root // 4096])
    for i in range(0, 4096, 8):
        e, = struct.unpack_from("<Q", page, i)
        if e & 1:
            struct.pack_into("<Q", page, i, e | sme)
    k.mem.pages[root // 4096] = page
    k.lines.append("NUMBER(sme_mask)=%d" % sme)
    k.lines = [l for l in k.lines if l != "NUMBER(sme_mask)=0"]
    tr, _ = x86_translator(k)
    assert tr.vtop(k.page_offset + 0x4321000) == 0x4321000


def test_x86_walk_failures_say_where():
    k = kb.X86Kernel()
    tr, _ = x86_translator(k)
    with pytest.raises(VtopError, match="PGD entry 0x0 at physical 0x.* is not present"):
        tr.vtop(0xFFFFC90000000000)
    with pytest.raises(VtopError, match="not a canonical kernel address"):
        tr.vtop(0x0000123400000000)
    # a page table page excluded from the dump
    root = k.v2p(k.pgt) // 4096
    pages = k.mem.frozen()
    del pages[root]
    tr, _ = x86_translator(k, statuses={root: PageStatus.EXCLUDED}, pages=pages)
    with pytest.raises(VtopError, match="PGD entry at physical 0x%x.*: excluded by filtering"
                       % (root * 4096 >> 12)):
        tr.vtop(k.page_offset + 4096)
    assert tr.vtop(k.img) == k.v2p(k.img)            # the image still translates


def test_x86_without_page_table_symbol_still_reads_the_image():
    k = kb.X86Kernel()
    k.lines = [l for l in k.lines if "init_top_pgt" not in l and "swapper_pg_dir" not in l]
    tr, _ = x86_translator(k)
    assert tr.vtop(k.img + 8) == k.v2p(k.img + 8)
    with pytest.raises(VtopError, match="SYMBOL\\(init_top_pgt\\)"):
        tr.vtop(k.page_offset)


ARM = [(4096, 48, True), (4096, 39, True), (65536, 48, True), (65536, 52, True),
       (65536, 42, True), (4096, 48, False), (4096, 39, False), (65536, 42, False),
       (16384, 47, True), (16384, 48, True), (16384, 36, False)]


@pytest.mark.parametrize("page,va_bits,flipped", ARM,
                         ids=["%dK-%d-%s" % (p >> 10, v, "5.4+" if f else "pre5.4")
                              for p, v, f in ARM])
def test_arm64_linear_image_and_pages(page, va_bits, flipped):
    k = kb.Arm64Kernel(page=page, va_bits=va_bits, flipped=flipped)
    vmalloc = k.img + (1 << 30)                      # past the image: only the tables know it
    k.tables.map(vmalloc, k.phys_offset + 0x7000000, 2 * page)
    reader = PageDictReader(k.mem.frozen(), page_size=page, vmcoreinfo=k.info())
    mem = PhysMem(reader)
    tr = translator(mem, reader.vmcoreinfo)
    assert isinstance(tr, Arm64) and tr.flipped is flipped
    assert tr.levels == (va_bits - 4) // (page.bit_length() - 4)
    lin = k.linear(k.phys_offset + 0x345678)
    assert tr.vtop(lin) == k.phys_offset + 0x345678
    assert not mem.pfns                               # the linear map needs no table
    assert tr.vtop(k.img + 0x123456) == k.v2p(k.img + 0x123456)     # block descriptor
    assert tr.vtop(vmalloc + page + 5) == k.phys_offset + 0x7000000 + page + 5   # page
    with pytest.raises(VtopError, match="not valid|not a page"):
        tr.vtop(vmalloc + 64 * page)


def test_arm64_52bit_physical_addresses_with_64k_pages():
    k = kb.Arm64Kernel(page=65536, va_bits=52)
    k.lines.append("NUMBER(MAX_PHYSMEM_BITS)=52")
    high = (0x9 << 48) | 0x20000                      # PA[51:48] in descriptor bits [15:12]
    va = k.img + (1 << 30)
    root = k.v2p(k.swapper)
    # hand-written last-level entry: bits [47:16] low address, [15:12] PA[51:48]
    k.tables.map(va, 0x20000, 65536)
    tr = translator(PhysMem(PageDictReader(k.mem.frozen(), page_size=65536,
                                           vmcoreinfo=k.info())), k.info())
    assert tr.vtop(va) == 0x20000
    pte_at = None
    mem = k.mem
    # find the entry the walk used and add the high bits
    from pykdump_ext.kernel.klog import vtop as vt
    seen = []

    class Spy(PhysMem):
        def u64(self, paddr):
            seen.append(paddr)
            return super().u64(paddr)
    spy = Spy(PageDictReader(mem.frozen(), page_size=65536, vmcoreinfo=k.info()))
    vt.Arm64(spy, k.info()).vtop(va)
    pte_at = seen[-1]
    e, = struct.unpack("<Q", mem.read(pte_at, 8))
    mem.write(pte_at, struct.pack("<Q", e | (0x9 << 12)))
    tr = translator(PhysMem(PageDictReader(mem.frozen(), page_size=65536,
                                           vmcoreinfo=k.info())), k.info())
    assert tr.vtop(va + 3) == high + 3
    assert root


def test_arm64_52bit_kernel_on_48bit_hardware_before_5_9():
    """No TCR_EL1_T1SZ (5.4-5.8): vabits_actual from where mem_section lies; the tables
    are indexed with VA_BITS=52 (the kernel offsets TTBR1 to the same entries)."""
    k = kb.Arm64Kernel(page=65536, va_bits=52, vabits_actual=48, t1sz=False)
    va = k.img + (1 << 30)
    k.tables.map(va, k.phys_offset + 0x5000000, 65536)
    tr = translator(PhysMem(PageDictReader(k.mem.frozen(), page_size=65536,
                                           vmcoreinfo=k.info())), k.info())
    assert tr.vabits_actual == 48 and tr.flipped
    assert tr.vtop(k.linear(k.phys_offset + 0x123456)) == k.phys_offset + 0x123456
    assert tr.vtop(va + 77) == k.phys_offset + 0x5000000 + 77
    assert tr.vtop(k.img + 0x4321) == k.v2p(k.img + 0x4321)


def test_arm64_layout_from_release_without_stext():
    k = kb.Arm64Kernel(t1sz=False)
    info = {key: v for key, v in k.info().items() if key != "SYMBOL(_stext)"}
    mem = PhysMem(PageDictReader(k.mem.frozen(), vmcoreinfo=info))
    tr = translator(mem, info)
    assert tr.flipped and "5.4+ arm64 memory layout assumed" in tr.assumed[0]
    assert tr.vtop(k.linear(k.phys_offset + 0x2000)) == k.phys_offset + 0x2000
    info["OSRELEASE"] = "4.19.0-arm64"
    assert not translator(mem, info).flipped


def test_architecture_from_vmcoreinfo_keys():
    assert architecture({"NUMBER(VA_BITS)": "48"}) == "arm64"
    assert architecture({"NUMBER(phys_base)": "0"}) == "x86_64"
    assert architecture({"SYMBOL(prb)": "ffffffff82000000"}) == "x86_64"
    assert architecture({"OSRELEASE": "6.1"}) is None
    with pytest.raises(PcicrashError, match="cannot tell the architecture"):
        translator(PhysMem(PageDictReader({})), {})


def test_kernel_memory_crosses_pages_that_are_not_contiguous():
    k = kb.X86Kernel()
    blob = bytes(range(256)) * 48                    # 3 pages
    k.write_vmalloc(0xFFFFC90000200000, blob, [0x3333, 0x1111, 0x2222])
    tr, mem = x86_translator(k)
    km = KernelMemory(mem, tr)
    assert km.read(0xFFFFC90000200FF0, 0x20) == blob[0xFF0:0x1010]
    km.prefetch(0xFFFFC90000200000, len(blob))
    assert {0x3333, 0x1111, 0x2222} <= mem.pfns
    assert km.read(0xFFFFC90000200000, len(blob)) == blob
