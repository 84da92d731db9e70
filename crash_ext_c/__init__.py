"""Dump-file readers for pcicrash, plus an optional C helper.

Readers (all `crash_ext_c.reader.MemoryReader`s):
  `crash_ext_c.kdump.KdumpReader`  kdump-compressed (makedumpfile), split sets, incomplete dumps
  `crash_ext_c.flat.FlatReader`    makedumpfile's flattened format (-F), read in place
  `crash_ext_c.elf.ElfReader`      ELF vmcores
  `crash_ext_c.open.open_dump`     sniffs the format and picks one of the above

`crash_ext_c._pfnmap` is a cffi extension (bitmap -> descriptor index,
batch page decompression for zlib/lzo/snappy/zstd) built at install time.
Nothing imports it at package import: the readers load it on first use and
fall back to pure Python (zlib only) when it is missing.
"""
