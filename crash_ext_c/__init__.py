"""Dump-file readers for pcicrash, plus an optional C helper; imports nothing from pykdump_ext.

Readers (all provide `crash_ext_c.reader.MemoryReader`, the reader protocol):
  `crash_ext_c.kdump.KdumpReader`  kdump-compressed (makedumpfile), split sets, incomplete dumps
  `crash_ext_c.flat.FlatReader`    makedumpfile's flattened format (-F), read in place
  `crash_ext_c.elf.ElfReader`      ELF vmcores
  `crash_ext_c.open.open_dump`     sniffs the format (the FORMATS list) and picks one of the above

Beside them: where bytes come from (source.py, files.py, remote.py), the dump's
VMCOREINFO (vmcoreinfo.py) and --vmcoreinfo files (vmcoreinfo_file.py), ELF
notes and device dumps (elfnote.py), the kdump writer (kdump_write.py) and the
one exception family both packages use (errors.py).  docs/readers.md.

`crash_ext_c._pfnmap` is a cffi extension (bitmap -> descriptor index,
batch page decompression for zlib/lzo/snappy/zstd) built at install time.
Nothing imports it at package import: the readers load it on first use and
fall back to pure Python (zlib only) when it is missing.
"""
