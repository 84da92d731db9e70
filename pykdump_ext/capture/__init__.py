"""The capture buffer: pagemap, records and VMCOREINFO, from any MemoryReader."""
