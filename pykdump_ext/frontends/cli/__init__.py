"""The standalone `pcicrash` command."""
