"""The one registry: (kind, capability id) -> how to decode it and how lspci words it.

A capability module declares its entry with `@capability(kind, id, name, span=)`
on its decode function and `@text_for(kind, id)` on the function that words the
result as lspci -vvv does.  `decode_cap()` is the only caller of decoders: it
shares results between functions whose capability bytes and context are equal
(a fleet's thousands of identical endpoints decode once), bounded in size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from .access import Access
from .model import CapResult


class Ctx(NamedTuple):
    """What a decoder may need beyond its own bytes: the device around it (a NamedTuple:
    it is part of every cache key, and tuples hash fast)."""
    header_type: Optional[int] = None
    vendor_id: Optional[int] = None
    device_id: Optional[int] = None
    port_type: Optional[int] = None      # PCIe port type, None without a PCIe capability
    pcie_version: int = 0
    has_mem_bar: bool = False
    devfn: Optional[int] = None          # None when unknown (decoded as function 0)


Decoder = Callable[[Access, CapResult, Ctx], None]
Texter = Callable[[CapResult, Ctx], List[str]]


@dataclass
class CapSpec:
    kind: str
    id: int
    name: str
    decode: Optional[Decoder] = None
    text: Optional[Texter] = None
    span: int = 0x40            # bytes from the capability's offset its decoder may read: the
                                # cache key, so it must cover every read (a variable-length
                                # capability says 0x1000)
    opaque: bool = False        # lspci names it and decodes nothing ("<?>")
    needs: str = ""             # the register `text` cannot do without (see text_for)
    unreadable: bool = False    # lspci adds "<unreadable>" below the heading when it is cut off
    limit_std: bool = True      # standard capabilities: reads stay inside the 256-byte space


REGISTRY: Dict[Tuple[str, int], CapSpec] = {}


def _entry(kind: str, cid: int, name: str = "") -> CapSpec:
    s = REGISTRY.get((kind, cid))
    if s is None:
        s = REGISTRY[kind, cid] = CapSpec(kind, cid, name)
    elif name:
        s.name = name
    return s


def capability(kind: str, cid: int, name: str, span: int = 0x40) -> Callable[[Decoder], Decoder]:
    """Register the decoder of one capability (kind "std" or "ext")."""
    def deco(fn: Decoder) -> Decoder:
        s = _entry(kind, cid, name)
        s.decode = fn
        s.span = span
        return fn
    return deco


def text_for(kind: str, cid: int, needs: str = "", unreadable: bool = False) -> Callable[[Texter], Texter]:
    """Register the lspci wording of one capability: fn(result, ctx) -> [heading, body...].

    `needs`: the register whose presence means the decoder read every register fn takes
    (the last of them); a result without it is worded as lspci words a capability cut
    off, its heading alone (and a "<unreadable>" line when `unreadable`), so fn takes
    its registers with c.reg()."""
    def deco(fn: Texter) -> Texter:
        s = _entry(kind, cid)
        s.text, s.needs, s.unreadable = fn, needs, unreadable
        return fn
    return deco


def named(kind: str, names: Dict[int, str]) -> None:
    """Capabilities lspci names only (no registers decoded): a table entry each."""
    for cid, name in names.items():
        opaque = name.endswith(" <?>")
        _entry(kind, cid, name[:-4] if opaque else name).opaque = opaque


def spec(kind: str, cid: int) -> Optional[CapSpec]:
    return REGISTRY.get((kind, cid))


_CACHE: Dict[tuple, CapResult] = {}
_CACHE_MAX = 8192


def decode_cap(raw: bytes, kind: str, cid: int, offset: int, version: Optional[int],
               ctx: Ctx, end: Optional[int] = None) -> CapResult:
    """Decode the capability at `offset`; never raises (a decoder bug becomes a problem).

    `end` bounds the reads (256 for standard capabilities).  Results for equal
    bytes and context are shared: treat them as read-only.
    """
    s = REGISTRY.get((kind, cid))
    name = s.name if s is not None and s.name else (
        "Capability ID %#02x" % cid if kind == "std" else "Extended Capability ID %#02x" % cid)
    if s is None or s.decode is None:
        c = CapResult(kind, cid, offset, name, version)
        if kind == "std":       # lspci shows the unknown capability's flags word
            w = Access(raw, end).u16(offset + 2)
            if w is not None:
                c.info["flags_word"] = w
        return c
    limit = len(raw) if end is None else min(end, len(raw))
    key = (kind, cid, offset, version, ctx, raw[offset:min(offset + s.span, limit)])
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    c = CapResult(kind, cid, offset, name, version)
    try:
        s.decode(Access(raw, limit), c, ctx)
    except Exception as exc:       # a decoder bug must not take the device down
        c.problems.append("internal error decoding %s at 0x%x: %s: %s"
                          % (name, offset, type(exc).__name__, exc))
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = c
    return c


def text(c: CapResult, ctx: Ctx) -> List[str]:
    """[heading, body lines] of a decoded capability, in lspci -vvv words (body lines start
    with one tab: their depth below the 'Capabilities:' line)."""
    s = REGISTRY.get((c.kind, c.id))
    if s is not None and s.text is not None:
        if s.needs and s.needs not in c.regs:
            return [c.name, "\t<unreadable>"] if s.unreadable else [c.name]
        return s.text(c, ctx)
    if s is not None and s.opaque:
        return [c.name + " <?>"]
    if s is None and c.kind == "std":
        return ["Capability ID %#02x [%04x]" % (c.id, c.info.get("flags_word", 0))]
    return [c.name]


def clear_caches() -> None:
    """Forget every shared result (the next decode starts cold, as a new process would)."""
    from . import header, model
    from pykdump_ext.pci import config
    config._DECODED.clear()
    _CACHE.clear()
    header._CACHE.clear()
    model._FIELD_CACHE.clear()
