"""Kernel state beyond the capture: structures via drgn, and the kernel log."""
