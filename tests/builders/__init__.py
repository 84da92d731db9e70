"""The byte builders the tests, fuzz/ and bench/ share (one of each):

- kdump.py: the kdump-compressed writer (files or bytes; split parts, old versions,
  32-bit and big-endian layouts, incomplete dumps), on the production tables of
  crash_ext_c.kdump and the page codec of crash_ext_c.kdump_write;
- elf.py: ELF notes (the production elf_note), VMCOREINFO text, ELF64 vmcores;
- flat.py: the flattened (makedumpfile -F) writer;
- capture.py: pci_crash config spaces, buffers and pagemaps (into a reader or pages);
- klog.py: kernel logs (printk ring buffer, log_buf) and page tables;
- fleet.py: a generated fleet of small dumps.

Import them as `from tests.builders.kdump import write_kdump` (run from the
repository root: pytest, `python -m bench.bench_x`, `python -m fuzz.make_corpus`).
"""
