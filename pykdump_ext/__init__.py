"""pcicrash: PCI state captured at panic time (CONFIG_PCI_CRASH), read back from crash dumps.

The package is the pure core plus its front ends.  Nothing imported here may
need anything but the standard library, because inside crash it runs under
the Python that PyKdump embeds.
"""

__version__ = "0.1.0"
