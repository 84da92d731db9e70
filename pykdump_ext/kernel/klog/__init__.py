"""The kernel's own log, read out of a dump with VMCOREINFO alone, and the PCI events in it."""
