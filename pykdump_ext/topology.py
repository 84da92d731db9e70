"""The PCI tree rebuilt from captured type-1 headers (secondary/subordinate bus numbers).

Pure.  Input: captured devices as (bdf, domain, bus, devfn, Config) in any
order.  Per domain, each device's parent is the bridge whose secondary bus
is the device's bus (else the narrowest bridge whose range encloses it).
Captured bus numbers can be inconsistent (a bridge whose range contains its
own bus, overlapping ranges, cycles): every such case becomes a line in
``Topology.problems`` and the links that would loop are dropped, so walking
the tree always ends.

Unreachable devices (config all 0xFF) get a reason from their parent port:
link really down (the port reports link state - Link Capabilities bit 20 -
and Data Link Layer Link Active is clear), a spurious skip by the producer
(the port cannot report link state, so DLLLA reads 0 whatever the link), or
unknown (no usable parent captured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

UNREACH_LINK_DOWN = "link down"
UNREACH_SPURIOUS = "spurious skip"
UNREACH_UNKNOWN = "unknown"


@dataclass
class Node:
    bdf: str
    domain: int
    bus: int
    devfn: int
    config: object                  # config.Config
    parent: Optional[str] = None    # bdf of the upstream bridge, None at a root bus
    children: List[str] = field(default_factory=list)
    unreachable: Optional[str] = None        # UNREACH_* when the record is all 0xFF
    unreachable_why: str = ""

    secondary: Optional[int] = None      # bus range of a usable type-1 header
    subordinate: Optional[int] = None

    def __post_init__(self):
        c = self.config
        if (not c.all_ff and c.header_type == 1 and c.secondary_bus is not None
                and c.subordinate_bus is not None):
            self.secondary, self.subordinate = c.secondary_bus, c.subordinate_bus


@dataclass
class Topology:
    nodes: Dict[str, Node]
    roots: Dict[int, List[str]]           # domain -> bdfs with no parent, in bus/devfn order
    problems: List[str] = field(default_factory=list)
    _by_sec: Optional[dict] = field(default=None, repr=False)

    def path_to(self, bdf) -> List[str]:
        """bdfs from the top (root port side) down to `bdf`, bounded by the node count."""
        out = []
        cur = bdf
        seen = set()
        while cur is not None and cur in self.nodes and cur not in seen:
            seen.add(cur)
            out.append(cur)
            cur = self.nodes[cur].parent
        return out[::-1]

    def bridge_for_bus(self, domain, bus) -> Optional[str]:
        """The captured bridge whose secondary bus is `bus` (the parent port of that bus)."""
        if self._by_sec is None:
            self._by_sec = {}
            for n in sorted(self.nodes.values(), key=_sort_key, reverse=True):
                if n.secondary is not None:
                    self._by_sec[(n.domain, n.secondary)] = n.bdf
        return self._by_sec.get((domain, bus))

    def walk(self, domain):
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


def build(devices) -> Topology:
    """devices: iterable of (bdf, domain, bus, devfn, Config)."""
    nodes = {}
    problems = []
    for bdf, domain, bus, devfn, cfg in devices:
        if bdf in nodes:
            problems.append("%s captured twice; the first record is used" % bdf)
            continue
        nodes[bdf] = Node(bdf, domain, bus, devfn, cfg)
    ordered = sorted(nodes.values(), key=_sort_key)
    bridges = {}
    for n in ordered:
        if n.secondary is None:
            continue
        sec, sub = n.secondary, n.subordinate
        if sec == 0 and sub == 0:
            continue        # bridge not configured
        if sub < sec:
            problems.append("bridge %s: subordinate bus %02x below secondary %02x; range ignored"
                            % (n.bdf, sub, sec))
            continue
        if sec <= n.bus <= sub:
            problems.append("bridge %s: its bus range [%02x-%02x] contains its own bus %02x; "
                            "range ignored" % (n.bdf, sec, sub, n.bus))
            continue
        bridges.setdefault(n.domain, []).append(n)
    # overlapping ranges: two bridges whose ranges intersect without one nesting the other,
    # or the same secondary bus twice
    for dom, bl in bridges.items():
        bl.sort(key=lambda b: (b.secondary, -b.subordinate))
        for i, a in enumerate(bl):
            for b in bl[i + 1:]:
                if b.secondary > a.subordinate:
                    break
                if b.secondary == a.secondary:
                    problems.append("bridges %s and %s both claim secondary bus %02x"
                                    % (a.bdf, b.bdf, a.secondary))
                elif b.subordinate > a.subordinate:
                    problems.append("bridges %s [%02x-%02x] and %s [%02x-%02x] have overlapping "
                                    "bus ranges" % (a.bdf, a.secondary, a.subordinate,
                                                    b.bdf, b.secondary, b.subordinate))
    by_sec = {}
    for dom, bl in bridges.items():
        for b in bl:
            by_sec.setdefault((dom, b.secondary), []).append(b)
    for n in ordered:
        direct = [b for b in by_sec.get((n.domain, n.bus), ()) if b is not n]
        cands = direct or [b for b in bridges.get(n.domain, ()) if b is not n
                           and b.secondary <= n.bus <= b.subordinate]
        if not cands:
            continue
        best = min(cands, key=lambda b: (b.subordinate - b.secondary, -b.secondary,
                                         _sort_key(b)))
        if not direct:
            problems.append("%s: no captured bridge has secondary bus %02x; placed below %s "
                            "whose range [%02x-%02x] encloses it"
                            % (n.bdf, n.bus, best.bdf, best.secondary, best.subordinate))
        n.parent = best.bdf
    # break cycles (possible only with inconsistent numbers): walk up with a visited set
    for n in ordered:
        seen = [n.bdf]
        cur = n.parent
        while cur is not None:
            if cur in seen:
                child = nodes[seen[-1]]
                problems.append("bus numbers form a loop through %s; link %s -> %s dropped"
                                % (", ".join(seen[seen.index(cur):]), child.bdf, cur))
                child.parent = None
                break
            seen.append(cur)
            cur = nodes[cur].parent
            if len(seen) > len(nodes):
                break
    roots = {}
    for n in ordered:
        if n.parent is None:
            roots.setdefault(n.domain, []).append(n.bdf)
        else:
            nodes[n.parent].children.append(n.bdf)
    topo = Topology(nodes=nodes, roots=roots, problems=problems)
    for n in ordered:
        if n.config.all_ff:
            n.unreachable, n.unreachable_why = _unreachable_reason(topo, n)
    return topo


def _unreachable_reason(topo, n):
    parent = topo.nodes.get(n.parent) if n.parent else None
    if parent is None:
        up = topo.bridge_for_bus(n.domain, n.bus)
        parent = topo.nodes.get(up) if up else None
    if parent is None:
        return UNREACH_UNKNOWN, "no parent port captured; cannot say why it did not answer"
    p = parent.config.pcie
    if parent.config.all_ff or p is None or p.lnksta is None:
        return UNREACH_UNKNOWN, ("parent %s has no readable link status" % parent.bdf)
    if p.dll_active_reporting_capable and not p.dll_link_active:
        return UNREACH_LINK_DOWN, ("parent port %s reports link state (LnkCap LLActRep+) and its "
                                   "Data Link Layer is not active (LnkSta DLActive-): link down"
                                   % parent.bdf)
    if not p.dll_active_reporting_capable:
        return UNREACH_SPURIOUS, ("parent port %s cannot report link state (LnkCap LLActRep-), "
                                  "so its DLActive- means nothing: the producer skipped a device "
                                  "that was probably reachable" % parent.bdf)
    return UNREACH_UNKNOWN, ("parent port %s reports its link active; the device itself did not "
                             "answer (removed, powered off or in D3cold)" % parent.bdf)
