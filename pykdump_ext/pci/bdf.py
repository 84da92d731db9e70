"""The one formatter of a PCI address: 'dddd:bb:dd.f' (domain, bus, device, function),
lower-case hex as lspci -D prints it."""

from __future__ import annotations


def slot_bdf(domain: int, bus: int, device: int, function: int) -> str:
    """'dddd:bb:dd.f' of separate numbers (already in range: the caller parsed them)."""
    return "%04x:%02x:%02x.%x" % (domain, bus, device, function)


def bdf(domain: int, bus: int, devfn: int) -> str:
    """'dddd:bb:dd.f' of a bus number and devfn (device << 3 | function)."""
    return slot_bdf(domain, bus & 0xFF, (devfn >> 3) & 0x1F, devfn & 7)


def rid_bdf(domain: int, rid: int) -> str:
    """'dddd:bb:dd.f' of a 16-bit requester/completer ID (bus << 8 | devfn)."""
    return bdf(domain, (rid >> 8) & 0xFF, rid & 0xFF)
