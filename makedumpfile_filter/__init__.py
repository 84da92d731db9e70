"""makedumpfile / kdump configuration that keeps the pci_crash capture.

Data only: `kdump.conf` (Fedora/RHEL core_collector lines),
`kdump-tools/kdump-tools.default` (Debian/Ubuntu MAKEDUMP_ARGS) and
`README.md` (which dump levels and options keep or drop which pages, measured
with makedumpfile 1.7.2).  `pcicrash --check` (makedumpfile_filter.check) verifies a
dump made with them.
"""
