"""read_kernel_log(reader): the kernel log out of any MemoryReader, with VMCOREINFO alone.

Picks the format as makedumpfile --dump-dmesg does: SYMBOL(prb) means the
lockless ring buffer (5.10+), otherwise SYMBOL(log_buf) with log_first_idx
the variable-length printk_log records (3.5 to 5.9).  Never raises for bad
dump data: what could not be read becomes a note naming where, and the
records that could be read are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crash_ext_c.errors import PcicrashError
from .physmem import PhysMem
from .records import KernelLog
from .vtop import KernelMemory, translator

if TYPE_CHECKING:
    from crash_ext_c.reader import MemoryReader


def read_kernel_log(reader: MemoryReader) -> KernelLog:
    """Every readable record of the crashed kernel's log; notes say what is missing and where."""
    log = KernelLog()
    info = dict(reader.vmcoreinfo or {})
    try:
        mem = PhysMem(reader)
    except (TypeError, ValueError) as exc:
        log.notes.append("kernel log: the memory reader has no usable page size (%s)" % exc)
        log.complete = False
        return log
    try:
        try:
            km = KernelMemory(mem, translator(mem, info))
            log.notes.extend("kernel log: " + s for s in getattr(km.tr, "assumed", ()))
            if "SYMBOL(prb)" in info:
                from .prb import read_prb
                read_prb(km, info, log)
            elif "SYMBOL(log_buf)" in info:
                from .logbuf import read_log_buf
                read_log_buf(km, info, log)
            else:
                log.complete = False
                log.notes.append("kernel log: VMCOREINFO has neither SYMBOL(prb) (printk ring "
                                 "buffer, 5.10+) nor SYMBOL(log_buf) (3.5 to 5.9)")
        except PcicrashError as exc:
            log.complete = False
            log.notes.append("kernel log%s: %s" % (" (%s)" % log.format if log.format else "",
                                                   exc.message()))
    finally:
        log.pfns = set(mem.pfns)
        log.missing = dict(mem.failed)
    return log
