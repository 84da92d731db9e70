"""The PCI tree rebuilt from captured type-1 headers (secondary/subordinate bus numbers).

Pure.  Input: captured devices as (bdf, domain, bus, devfn, Config) in any
order.  Per domain, each device's parent is the bridge whose secondary bus
is the device's bus (else the narrowest bridge whose range encloses it).
Captured bus numbers can be inconsistent (a bridge whose range contains its
own bus, overlapping ranges, cycles): every such case becomes a line in
``Topology.problems`` and the links that would loop are dropped, so walking
the tree always ends.

A device on a bus that no readable bridge claims (its bridge's record is
all 0xFF) is placed below the unreadable record on the enclosing bridge's
secondary bus that must lead to it, when the bus numbering (Linux numbers
buses depth-first in device order) leaves one choice; the placement is
said as inferred.  Problems of one kind are said once, with the devices
they concern; every check is n log n.

Unreachable devices (config all 0xFF) get a reason from the link state of
the nearest readable port above them (link.py): link really down, a
spurious skip by a layout-B producer (the port's DLActive read 0 although
the link is not known to be down: the port cannot report link state or
other evidence says the link was up), or unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, TYPE_CHECKING, Tuple

if TYPE_CHECKING:
    from pykdump_ext.pci.config import Config

UNREACH_LINK_DOWN = "link down"
UNREACH_SPURIOUS = "spurious skip"
UNREACH_UNKNOWN = "unknown"


@dataclass
class Node:
    """One captured function in the PCI tree: its address, config and upstream bridge."""
    bdf: str
    domain: int
    bus: int
    devfn: int
    config: Config
    parent: Optional[str] = None    # bdf of the upstream bridge, None at a root bus
    children: List[str] = field(default_factory=list)
    unreachable: Optional[str] = None        # UNREACH_* when the record is all 0xFF
    unreachable_why: str = ""
    inferred_buses: Optional[tuple] = None   # (lo, hi) buses placed below this all-0xFF record

    secondary: Optional[int] = None      # bus range of a usable type-1 header
    subordinate: Optional[int] = None

    def __post_init__(self) -> None:
        c = self.config
        if (not c.all_ff and c.header_type == 1 and c.secondary_bus is not None
                and c.subordinate_bus is not None):
            self.secondary, self.subordinate = c.secondary_bus, c.subordinate_bus


@dataclass
class Topology:
    """The PCI tree rebuilt from the captured bridges' bus numbers, with what did not fit."""
    nodes: Dict[str, Node]
    roots: Dict[int, List[str]]           # domain -> bdfs with no parent, in bus/devfn order
    problems: List[str] = field(default_factory=list)
    links: dict = field(default_factory=dict)      # bdf -> link.LinkState
    _by_sec: Optional[dict] = field(default=None, repr=False)

    def path_to(self, bdf: str) -> List[str]:
        """bdfs from the top (root port side) down to `bdf`, bounded by the node count."""
        out: List[str] = []
        cur: Optional[str] = bdf
        seen: Set[str] = set()
        while cur is not None and cur in self.nodes and cur not in seen:
            seen.add(cur)
            out.append(cur)
            cur = self.nodes[cur].parent
        return out[::-1]

    def bridge_for_bus(self, domain: int, bus: int) -> Optional[str]:
        """The captured bridge whose secondary bus is `bus` (the parent port of that bus)."""
        if self._by_sec is None:
            self._by_sec = {}
            for n in sorted(self.nodes.values(), key=_sort_key, reverse=True):
                if n.secondary is not None:
                    self._by_sec[(n.domain, n.secondary)] = n.bdf
        return self._by_sec.get((domain, bus))

    def walk(self, domain: int) -> Iterator[Tuple[int, str]]:
        """(depth, bdf) depth-first from the domain's roots; each node once."""
        seen = set()
        stack = [(0, b) for b in reversed(self.roots.get(domain, []))]
        while stack:
            depth, b = stack.pop()
            if b in seen:
                continue
            seen.add(b)
            yield depth, b
            for c in reversed(self.nodes[b].children):
                stack.append((depth + 1, c))


def _sort_key(n):
    return (n.domain, n.bus, n.devfn)


def _width_key(b):
    return (b.subordinate - b.secondary, -b.secondary, _sort_key(b))


MAX_NAMED = 8


class _Problems:
    """Problems grouped by kind: one line per kind, naming the devices it concerns."""

    def __init__(self) -> None:
        self.kinds: Dict[Any, list] = {}          # key -> [single text, many-format, [names]]

    def add(self, key, single, many, name) -> None:
        k = self.kinds.get(key)
        if k is None:
            self.kinds[key] = [single, many, [name]]
        else:
            k[2].append(name)

    def lines(self) -> List[str]:
        out = []
        for single, many, names in self.kinds.values():
            if len(names) == 1:
                out.append(single)
            else:
                shown = ", ".join(names[:MAX_NAMED]) + (", ..." if len(names) > MAX_NAMED else "")
                out.append(many % {"n": len(names), "names": shown})
        return out


def _bus_dword_failed(cfg) -> bool:
    raw = getattr(cfg, "raw", b"") or b""
    return raw[0x18:0x1C] == b"\xff\xff\xff\xff"


def build(devices: Iterable[Tuple[str, int, int, int, Config]], *, layout: Optional[str] = None,
          explain: bool = True) -> Topology:
    """devices: iterable of (bdf, domain, bus, devfn, Config), bdfs unique (a repeated one is
    kept as 'bdf#2', ...).  explain=False leaves the unreachable reasons to a later
    explain_unreachable() call (analysis does it once the error paths are known)."""
    nodes = {}
    pr = _Problems()
    for bdf, domain, bus, devfn, cfg in devices:
        if bdf in nodes:
            k = 2
            while "%s#%d" % (bdf, k) in nodes:
                k += 1
            pr.add(("twice", bdf), "%s captured twice; the second record is kept as %s#%d"
                   % (bdf, bdf, k), "%s captured %%(n)d more times" % bdf, bdf)
            bdf = "%s#%d" % (bdf, k)
        nodes[bdf] = Node(bdf, domain, bus, devfn, cfg)
    ordered = sorted(nodes.values(), key=_sort_key)
    bridges: Dict[int, List[Node]] = {}      # domain -> bridges with a usable bus range
    by_sec: Dict[Tuple[int, int], List[Node]] = {}
    for n in ordered:
        if n.secondary is None or n.subordinate is None:
            continue
        sec, sub = n.secondary, n.subordinate
        if _bus_dword_failed(n.config):
            pr.add("busff", "bridge %s: bus number register reads 0xffffffff (failed config "
                   "read); range ignored" % n.bdf,
                   "%(n)d bridges: bus number register reads 0xffffffff (failed config read); "
                   "ranges ignored: %(names)s", n.bdf)
            n.secondary = n.subordinate = None
            continue
        if sec == 0 and sub == 0:
            continue        # bridge not configured
        if sub < sec:
            pr.add("subsec", "bridge %s: subordinate bus %02x below secondary %02x; range ignored"
                   % (n.bdf, sub, sec), "%(n)d bridges: subordinate bus below secondary; ranges "
                   "ignored: %(names)s", n.bdf)
            continue
        if sec <= n.bus <= sub:
            pr.add("ownbus", "bridge %s: its bus range [%02x-%02x] contains its own bus %02x; "
                   "range ignored" % (n.bdf, sec, sub, n.bus),
                   "%(n)d bridges: bus range contains their own bus; ranges ignored: %(names)s",
                   n.bdf)
            continue
        bridges.setdefault(n.domain, []).append(n)
        by_sec.setdefault((n.domain, sec), []).append(n)
    claimed = [(dom, sec, bl) for (dom, sec), bl in sorted(by_sec.items()) if len(bl) > 1]
    for dom, sec, bl in claimed:
        names = ", ".join(b.bdf for b in bl[:MAX_NAMED]) + (", ..." if len(bl) > MAX_NAMED
                                                             else "")
        one = ("bridges %s and %s both claim secondary bus %02x" % (bl[0].bdf, bl[1].bdf, sec)
               if len(bl) == 2 else "%d bridges claim secondary bus %02x: %s"
               % (len(bl), sec, names))
        if len(claimed) <= 3:
            pr.add(("samesec", dom, sec), one, "", "")
        else:
            pr.add("samesec", one, "%(n)d secondary buses are claimed by more than one bridge: "
                   "%(names)s", "%02x (%s)" % (sec, names))
    _overlaps(bridges, pr)
    # the parent of each device: the narrowest bridge whose secondary bus is the device's bus,
    # else the narrowest whose range encloses it (one pass per domain over 256 bus numbers)
    direct = {k: min(bl, key=_width_key) for k, bl in by_sec.items()}
    enclosing = {dom: _narrowest_per_bus(bl) for dom, bl in bridges.items()}
    orphans: Dict[str, List[Node]] = {}
    for n in ordered:
        best = direct.get((n.domain, n.bus))
        if best is None:
            encl = enclosing.get(n.domain)
            best = encl[n.bus] if encl is not None and 0 <= n.bus < 256 else None
            if best is None:
                continue
            orphans.setdefault(best.bdf, []).append(n)
        n.parent = best.bdf
    _infer_hidden_bridges(nodes, orphans, pr)
    _break_cycles(ordered, nodes, pr)
    roots: Dict[int, List[str]] = {}
    for n in ordered:
        if n.parent is None:
            roots.setdefault(n.domain, []).append(n.bdf)
        else:
            nodes[n.parent].children.append(n.bdf)
    topo = Topology(nodes=nodes, roots=roots, problems=pr.lines())
    if explain:
        from . import link
        explain_unreachable(topo, link.assess(topo), layout=layout)
    return topo


def _overlaps(bridges, pr) -> None:
    """Ranges that intersect without nesting: one sorted sweep with a stack of open ranges."""
    for bl in bridges.values():
        bl.sort(key=lambda b: (b.secondary, -b.subordinate))
        stack: List[Any] = []        # bridge Nodes (bus ranges set)
        for b in bl:
            while stack and stack[-1].subordinate < b.secondary:
                stack.pop()
            top = stack[-1] if stack else None
            if top is not None and top.secondary != b.secondary and b.subordinate > top.subordinate:
                pr.add("overlap", "bridges %s [%02x-%02x] and %s [%02x-%02x] have overlapping bus "
                       "ranges" % (top.bdf, top.secondary, top.subordinate, b.bdf, b.secondary,
                                   b.subordinate),
                       "%(n)d bridges have bus ranges overlapping another's without nesting: "
                       "%(names)s", "%s [%02x-%02x]" % (b.bdf, b.secondary, b.subordinate))
                continue        # keep the outer range open; this one is not nested in it
            stack.append(b)


def _narrowest_per_bus(bl):
    """[bus] -> the narrowest bridge whose range encloses that bus (None where none does)."""
    out = [None] * 256
    nxt = list(range(257))        # next bus at or after i still unfilled (path-halving)

    def find(i):
        while nxt[i] != i:
            nxt[i] = nxt[nxt[i]]
            i = nxt[i]
        return i

    for b in sorted(bl, key=_width_key):
        i = find(max(0, b.secondary))
        while i <= min(255, b.subordinate):
            out[i] = b
            nxt[i] = i + 1
            i = find(i + 1)
    return out


def _infer_hidden_bridges(nodes, orphans, pr) -> None:
    """Devices placed below an enclosing bridge P because their own bus's bridge is unreadable:
    move them below the all-0xFF record on P's secondary bus that must lead to them.  Linux
    numbers buses depth-first in device order, so between two readable sibling bridges the
    unreadable ones own the buses in between, in device order; placed only when that leaves
    one choice (one candidate, or as many candidates as buses).  A candidate owning several
    buses has the lowest as its secondary, and the rest are placed below it the same way."""
    if not orphans:
        return
    on_sec: Dict[str, List[Node]] = {}
    for n in nodes.values():
        if n.parent in orphans and n.bus == nodes[n.parent].secondary:
            on_sec.setdefault(n.parent, []).append(n)
    work = [(pb, nodes[pb].secondary, nodes[pb].subordinate, devs, on_sec.get(pb, []))
            for pb, devs in orphans.items()]
    while work:         # each step leaves fewer buses: ends
        pb, sec, sub, devs, sibs = work.pop()
        sibs = sorted(sibs, key=lambda n: n.devfn)
        known = [n for n in sibs if n.secondary is not None]
        hidden = [n for n in sibs if n.config.all_ff]
        gaps: Dict[Tuple[int, int], List[int]] = {}
        for bus in sorted({n.bus for n in devs}):
            lo = max((k.devfn for k in known if k.subordinate < bus), default=-1)
            hi = min((k.devfn for k in known if k.secondary > bus), default=256)
            gaps.setdefault((lo, hi), []).append(bus)
        for (lo, hi), gb in gaps.items():
            cands = [h for h in hidden if lo < h.devfn < hi]
            if len(cands) == 1:
                owned = {id(cands[0]): (cands[0], gb)}
            elif cands and len(cands) == len(gb):
                owned = {id(h): (h, [bus]) for h, bus in zip(cands, gb)}
            else:
                for bus in gb:
                    pr.add(("enclosed", pb), "bus %02x: no readable bridge has it as secondary "
                           "bus; its devices are placed below %s whose range [%02x-%02x] "
                           "encloses it" % (bus, pb, sec, sub),
                           "buses %%(names)s: no readable bridge has them as secondary bus; "
                           "their devices are placed below %s whose range [%02x-%02x] encloses "
                           "them" % (pb, sec, sub), "%02x" % bus)
                continue
            for h, hb in owned.values():
                h.inferred_buses = (hb[0], hb[-1])
                mine = [n for n in devs if hb[0] <= n.bus <= hb[-1]]
                for n in mine:
                    n.parent = h.bdf
                pr.add("inferred", "%s (record all 0xFF) is taken as the bridge to bus %s: no "
                       "readable bridge claims it and bus numbers go depth-first in device order "
                       "(inferred)" % (h.bdf, _range(hb[0], hb[-1])),
                       "%(n)d all-0xFF records are taken as the bridges to the buses no readable "
                       "bridge claims (inferred from depth-first bus numbering): %(names)s",
                       "%s -> bus %s" % (h.bdf, _range(hb[0], hb[-1])))
                deeper = [n for n in mine if n.bus != hb[0]]
                if deeper:
                    work.append((h.bdf, hb[0], hb[-1], deeper,
                                 [n for n in mine if n.bus == hb[0]]))


def _range(lo, hi):
    return "%02x" % lo if lo == hi else "%02x-%02x" % (lo, hi)


def _break_cycles(ordered, nodes, pr) -> None:
    """Drop the link that closes a loop (possible only with inconsistent numbers); each node
    is visited once over all walks."""
    done = set()
    for n in ordered:
        path: List[str] = []
        on_path: Set[str] = set()
        cur = n.bdf
        while cur is not None and cur not in done:
            if cur in on_path:
                loop = path[path.index(cur):]
                child = nodes[path[-1]]
                pr.add("loop", "bus numbers form a loop through %s; link %s -> %s dropped"
                       % (", ".join(loop), child.bdf, cur),
                       "%(n)d loops in the bus numbers; links dropped: %(names)s",
                       "%s -> %s" % (child.bdf, cur))
                child.parent = None
                break
            path.append(cur)
            on_path.add(cur)
            cur = nodes[cur].parent
        done.update(path)


def explain_unreachable(topo: Topology, links: dict, *, layout: Optional[str] = None) -> None:
    """Give every all-0xFF node its reason, from the link state of the nearest readable port
    above it; stores `links` as topo.links."""
    topo.links = links
    memo: Dict[str, Tuple[str, str]] = {}
    for n in sorted(topo.nodes.values(), key=_sort_key):
        if n.config.all_ff:
            n.unreachable, n.unreachable_why = _unreachable_reason(topo, n, links, layout, memo)


def _unreachable_reason(topo, n, links, layout, memo):
    if n.bdf in memo:
        return memo[n.bdf]
    parent = topo.nodes.get(n.parent) if n.parent else None
    if parent is None:
        up = topo.bridge_for_bus(n.domain, n.bus)
        parent = topo.nodes.get(up) if up and up != n.bdf else None
    if parent is None:
        res = UNREACH_UNKNOWN, "no parent port captured; cannot say why it did not answer"
    elif parent.config.all_ff:
        memo[n.bdf] = UNREACH_UNKNOWN, "parent %s did not answer either" % parent.bdf
        kind, _why = _unreachable_reason(topo, parent, links, layout, memo)
        if kind == UNREACH_SPURIOUS:
            res = kind, ("its parent %s was skipped the same way (all 0xFF): probably reachable "
                         "too" % parent.bdf)
        elif kind == UNREACH_LINK_DOWN:
            res = kind, "behind %s, which did not answer: %s" % (parent.bdf, _why)
        else:
            res = kind, "parent %s did not answer either" % parent.bdf
    else:
        res = _reason_from_port(parent, links.get(parent.bdf), layout)
    memo[n.bdf] = res
    return res


def _reason_from_port(parent, ls, layout):
    from . import link
    if ls is None:
        return UNREACH_UNKNOWN, "parent %s has no readable link status" % parent.bdf
    if ls.conclusion == link.DOWN and ls.downstream:
        return UNREACH_LINK_DOWN, "parent port %s: link %s" % (parent.bdf, ls.text())
    if ls.register_says_down and layout != "A":
        if not ls.capable or ls.register_distrusted:
            return UNREACH_SPURIOUS, (
                "parent port %s %s, so its DLActive- means nothing%s: the producer skipped a "
                "device that was probably reachable"
                % (parent.bdf, "cannot report link state (LnkCap LLActRep-)" if not ls.capable
                   else "is of a model that reads DLActive- on links that worked",
                   " (%s)" % " and ".join(ls.evidence_up) if ls.evidence_up else ""))
        if ls.conclusion == link.UP:
            return UNREACH_SPURIOUS, (
                "parent port %s: link %s; the producer skipped a device that was probably "
                "reachable" % (parent.bdf, ls.text()))
        return UNREACH_UNKNOWN, ("the producer skipped it because parent port %s read "
                                 "DLActive-; link %s" % (parent.bdf, ls.text()))
    if ls.register_says_down:
        return UNREACH_UNKNOWN, ("it did not answer config reads; parent port %s: link %s"
                                 % (parent.bdf, ls.text()))
    return UNREACH_UNKNOWN, ("parent port %s reports its link active; the device itself did not "
                             "answer (removed, powered off or in D3cold)" % parent.bdf)
