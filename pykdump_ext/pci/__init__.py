"""PCI: config space decode, capabilities, register tables, addresses."""
