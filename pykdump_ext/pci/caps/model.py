"""Register layouts as data, and the typed results decoded from them.

A capability's registers are declared as `Register` specs (name as lspci
prints it, offset from the capability, size in bytes, fields).  Fields are
written as one string, `"Name@bit"` for a flag and `"Name@lo:width"` for a
multi-bit field, in the order lspci prints them, e.g.::

    DEVCAP = Register("DevCap", 0x04, 4,
                      "MaxPayload@0:3 PhantFunc@3:2 ExtTag@5 L0s@6:3 L1@9:3 AttnBtn@12")

Fields that are codes carry their words as data too: `words=` maps a name to a
table indexed by the same-named field's value, or to a function of the register
for words made of several fields (`"Count": lambda r: "%d/%d" % ...`).  The text
views and the JSON (`decoded`) both take them from `Reg.word()`, so lspci's
words exist once.

Decoding reads the register once; `Reg` (the result) keeps the raw value and
answers field lookups from the spec (`reg["ExtTag"]` -> True/False,
`reg["MaxPayload"]` -> 1), so building one is cheap and a view asks only for
what it prints.  `CapResult` is one capability: its registers, nested entries
(VC resources, EA entries, Resizable BARs...), typed extras and problems.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .access import Access


@dataclass(frozen=True)
class Field:
    """Bits lo..lo+width-1 of a register.  `flag` when one bit and no value table."""
    name: str
    lo: int
    width: int = 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lo

    @property
    def flag(self) -> bool:
        return self.width == 1


def parse_fields(spec: str) -> Tuple[Field, ...]:
    """'Name@3 Other@4:2' -> Fields (names may hold any character but space and '@')."""
    out = []
    for item in spec.split():
        name, _, where = item.rpartition("@")
        lo, _, width = where.partition(":")
        out.append(Field(name, int(lo), int(width) if width else 1))
    return tuple(out)


_FORMATS = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"), 8: struct.Struct("<Q")}


Word = Union[Sequence[str], Mapping[int, str], Callable[["Reg"], str]]


class Register:
    """A register of a capability: lspci's name, offset from the capability, size (1/2/4/8),
    its fields, and lspci's words for the fields that are codes."""
    __slots__ = ("name", "rel", "size", "fields", "_by_name", "_unpack", "_spec", "words")

    def __init__(self, name: str, rel: int, size: int, fields: str = "",
                 words: Optional[Mapping[str, Word]] = None) -> None:
        self.name = name
        self.rel = rel
        self.size = size
        self._spec = fields
        self._unpack = _FORMATS[size].unpack_from
        self.words: Mapping[str, Word] = words or {}

    def __getattr__(self, name: str):
        # `fields` and `_by_name` are parsed on first use (hundreds of tables are declared
        # at import; a run reads a few): then they are plain slots, no cost per access
        if name not in ("fields", "_by_name"):
            raise AttributeError(name)
        self.fields = parse_fields(self._spec)
        self._by_name = {f.name: f for f in self.fields}
        return getattr(self, name)

    def field(self, name: str) -> Field:
        return self._by_name[name]

    def read(self, a: Access, base: int) -> Optional["Reg"]:
        """The register at `base` + its offset, or None when it does not fit inside `a`."""
        off = base + self.rel
        if off < 0 or off + self.size > a.n:
            return None
        return Reg(self, off, self._unpack(a.raw, off)[0])

    def __repr__(self) -> str:
        return "Register(%r, 0x%x, %d)" % (self.name, self.rel, self.size)


class Reg:
    """One decoded register: its spec, config-space offset and raw value (read-only)."""
    __slots__ = ("spec", "offset", "value")

    def __init__(self, spec: Register, offset: int, value: int) -> None:
        self.spec = spec
        self.offset = offset
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reg) and (self.offset, self.value, self.spec.name) == (
            other.offset, other.value, other.spec.name)

    def __hash__(self) -> int:
        return hash((self.offset, self.value))

    def __repr__(self) -> str:
        return "Reg(%s @0x%x = 0x%x)" % (self.spec.name, self.offset, self.value)

    @property
    def name(self) -> str:
        return self.spec.name

    def __getitem__(self, name: str) -> Any:
        f = self.spec.field(name)
        v = (self.value >> f.lo) & ((1 << f.width) - 1)
        return bool(v) if f.width == 1 else v

    def flag(self, *names: str) -> str:
        """lspci's 'Name+ Other-' text for these flag fields."""
        v = self.value
        by = self.spec._by_name
        return " ".join(n + ("+" if v >> by[n].lo & 1 else "-") for n in names)

    def fields(self) -> Dict[str, Any]:
        """Every field of the spec by name (bool for flags, int otherwise)."""
        return _fields(self.spec, self.value)

    def word(self, name: str) -> str:
        """lspci's word for `name` (a coded field, or one made of several fields)."""
        w = self.spec.words[name]
        if callable(w):
            return w(self)
        code = self[name]
        if isinstance(w, Mapping):
            return w.get(code, "??%d" % code)
        return w[code] if code < len(w) else "??%d" % code

    def decoded(self) -> Dict[str, str]:
        """Every word of the spec by name (empty when none are declared)."""
        return {n: self.word(n) for n in self.spec.words}


_FIELD_CACHE: Dict[Tuple[Register, int], Dict[str, Any]] = {}


def _fields(spec: Register, value: int) -> Dict[str, Any]:
    """Decoded fields of (spec, value), shared between equal registers (read-only)."""
    # keyed by the spec itself (hashed by identity), not its id(): the key keeps it alive,
    # so a spec built for one entry and freed cannot lend its id, and its fields, to another
    key = (spec, value)
    d = _FIELD_CACHE.get(key)
    if d is None:
        if len(_FIELD_CACHE) > 65536:      # bounded: a fleet's registers repeat, noise does not
            _FIELD_CACHE.clear()
        d = _FIELD_CACHE[key] = {f.name: (bool(value >> f.lo & 1) if f.width == 1
                                          else (value >> f.lo) & ((1 << f.width) - 1))
                                 for f in spec.fields}
    return d


@dataclass
class CapResult:
    """One decoded capability (standard: `version` None; extended: its header version)."""
    kind: str                      # "std" or "ext"
    id: int
    offset: int
    name: str                      # lspci's heading word(s) for this capability
    version: Optional[int] = None
    regs: Dict[str, Reg] = field(default_factory=dict)
    entries: List["CapResult"] = field(default_factory=list)   # VC resources, EA entries, ...
    info: Dict[str, Any] = field(default_factory=dict)        # derived values (typed, JSON-able)
    typed: Any = None              # the capability's own dataclass where one exists (Pcie, Aer, Dpc)
    problems: List[str] = field(default_factory=list)
    truncated: bool = False        # registers lspci would show lie beyond the bytes

    def r(self, name: str) -> Optional[Reg]:
        """The register, or None when it was not read (cut off, or absent from this layout)."""
        return self.regs.get(name)

    def reg(self, name: str) -> Reg:
        """A register the caller knows was read (read_regs() succeeded, or a later register of
        the same read is there); KeyError otherwise."""
        return self.regs[name]

    def value(self, name: str, default: int = 0) -> int:
        """The register's raw value, or `default` when it was not read."""
        r = self.regs.get(name)
        return default if r is None else r.value

    def __iter__(self) -> Iterator[Reg]:
        return iter(self.regs.values())


def read_regs(c: CapResult, a: Access, base: int, specs: Iterable[Register]) -> bool:
    """Read `specs` (Registers) at `base` into c.regs; False (and c.truncated) when one is cut off."""
    ok = True
    for s in specs:
        r = s.read(a, base)
        if r is None:
            ok = False
            c.truncated = True
            continue
        c.regs[s.name] = r
    return ok
