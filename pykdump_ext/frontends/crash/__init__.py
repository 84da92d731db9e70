"""The `pcicrash` command inside crash (PyKdump)."""
