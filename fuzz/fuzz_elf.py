"""ELF64 vmcores: ELF header, program headers (PN_XNUM, overlaps, -E tails, cut files),
PT_NOTE walk (VMCOREINFO, ERASEINFO, device dumps), pages, and the capture.

Input: the bytes of one ELF file (a memfd path: ElfReader only takes paths),
opened through open_dump so the sniffing is covered too; or a shaped input
(fuzz/common.py): sparse (program headers or notes in a hole), a pipe, a repeated run.

    python -m fuzz.fuzz_elf -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from crash_ext_c.open import open_dump

NAME = "elf"
SHAPES = True        # the campaign adds shape-level mutations (common.reshape)
PFNS = (0, 1, 2, 3, 5, 8, 0x100, 0xa03, 0xa60)


def target(data):
    kind = common.unshape(data)[0]
    with common.ShapedFile(data, "fuzz.elf") as path:
        if kind == "P":                 # a pipe: refused at once, never read
            common.expect_refused(lambda: open_dump([path]))
        with open_dump([path]) as r:
            common.exercise_reader(r, common.near_top(PFNS, r))


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
