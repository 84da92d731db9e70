"""Link state as a conclusion from all the evidence, computed once per analysis.

Pure.  The Data Link Layer Link Active bit (LnkSta DLActive) alone is not the
state of a link: it means something only when the port says it reports it
(LnkCap bit 20, LLActRep), and real ports (QEMU's root ports, firmware and
silicon bugs) claim LLActRep+ yet never set it.  So the register is held
against what else the capture shows:

- for: a captured device below the port answered config reads (its record is
  not all 0xFF); an error message from a device below crossed the link (a root
  port's Error Source names it while the status bit is still set); the
  register itself (DLActive+ on a port that reports it).
- against: the register (DLActive- on a port that reports it), DPC triggered
  at the port (DPC disables the link), a Surprise Down error logged by it.

Evidence that the link carried traffic wins over the register; when they
disagree the text says so.  A device that is not a downstream-facing port
answered its own config reads, so its (upstream) link carried them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, TYPE_CHECKING

from pykdump_ext.pci import regs as R

if TYPE_CHECKING:
    from .errpath import ErrorPath
    from .topology import Topology

UP, DOWN, UNKNOWN = "up", "down", "unknown"


@dataclass
class LinkState:
    """The conclusion about one port's link (up, down or unknown) and the evidence for and against."""
    bdf: str
    downstream: bool                  # the port's link to the devices below it
    conclusion: str                   # UP / DOWN / UNKNOWN
    capable: bool                     # LnkCap LLActRep (the port reports DLActive)
    dl_active: Optional[bool]         # LnkSta DLActive as read; None when LnkSta unreadable
    evidence_up: List[str] = field(default_factory=list)
    evidence_down: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)    # neither for nor against
    answered_below: Optional[str] = None    # first captured device below that answered
    empty_slot: bool = False          # a slot whose presence detect says no card (SltSta PresDet-)
    register_distrusted: bool = False  # DLActive- not believed: the model reads it on working links

    @property
    def register_disagrees(self) -> bool:
        """The port reports link state, says DL inactive, and other evidence says up."""
        return self.capable and self.dl_active is False and self.conclusion == UP

    @property
    def register_says_down(self) -> bool:
        """DLActive reads 0 (what a layout-B producer tests before reading the device below)."""
        return self.dl_active is False

    def short(self) -> str:
        """A few words for a line that lists other facts (error path hops)."""
        if self.conclusion == UP:
            return "up, although LnkSta reads DLActive-" if self.register_disagrees else "up"
        if self.conclusion == DOWN:
            return "no link (slot empty)" if self.empty_slot else "DOWN"
        return "link state unknown"

    def text(self) -> str:
        """One sentence: the conclusion, and how sure it is."""
        if not self.downstream:
            return "up (this device answered config reads over it)"
        if self.conclusion == UP:
            why = " and ".join(self.evidence_up)
            if self.register_disagrees:
                return ("up: LnkSta says DL inactive, but %s: the port's link reporting is "
                        "unreliable" % why)
            return "up (%s)" % why
        if self.conclusion == DOWN and self.empty_slot:
            return "none: the slot is empty (%s)" % "; ".join(self.evidence_down)
        if self.conclusion == DOWN:
            return "DOWN (%s)" % "; ".join(self.evidence_down)
        return "unknown (%s)" % "; ".join(self.evidence_down + self.notes)


def _below(topo) -> Dict[str, str]:
    """bdf -> the first captured device below it that answered (children before parents)."""
    order = []
    for dom in sorted(topo.roots):
        order += [b for _d, b in topo.walk(dom)]
    below: Dict[str, str] = {}
    for b in reversed(order):
        n = topo.nodes[b]
        if n.parent is None:
            continue
        mine = b if not n.config.all_ff else below.get(b)
        if mine is not None:
            below[n.parent] = mine     # reversed order: the first child in devfn order wins
    return below


def _crossed(topo, paths) -> Dict[str, List[str]]:
    """port bdf -> error messages from a device below it that crossed its link."""
    out: Dict[str, List[str]] = {}
    for p in paths:
        if not p.current or p.dpc:
            continue
        bus = p.source_rid >> 8
        for h in p.hops:
            n = topo.nodes.get(h.bdf)
            if n is None or h.bdf == p.source_bdf or n.secondary is None:
                continue
            if n.secondary <= bus <= n.subordinate and bus != n.bus:
                out.setdefault(h.bdf, []).append(
                    "%s from %s crossed it (root port %s's Error Source)"
                    % (p.message, p.source_bdf, p.root_port))
    return out


def _model(cfg):
    return (cfg.vendor_id, cfg.device_id)


def assess(topo: Topology, paths: Iterable[ErrorPath] = ()) -> Dict[str, LinkState]:
    """LinkState of every captured PCIe device with a readable Link Status, by bdf.

    A register (DLActive-, SltSta PresDet-) is not believed on a port whose model reads the
    same on another port whose link demonstrably carried traffic (QEMU's ports do both)."""
    below = _below(topo)
    crossed = _crossed(topo, paths)
    out: Dict[str, LinkState] = {}
    presence = {}
    dl_liars: Dict[tuple, List[str]] = {}
    pres_liars: Dict[tuple, List[str]] = {}
    for b, n in topo.nodes.items():
        c = n.config
        p = c.pcie if not c.all_ff else None
        if p is None or p.lnksta is None or not p.has_link:
            continue
        st = LinkState(bdf=b, downstream=p.port_type in R.DOWNSTREAM_FACING,
                       conclusion=UNKNOWN, capable=bool(p.dll_active_reporting_capable),
                       dl_active=bool(p.dll_link_active), answered_below=below.get(b))
        out[b] = st
        if not st.downstream:
            continue
        # a device below answered at the panic, as the register was read: a register that
        # says otherwise is wrong (an error message that crossed earlier proves less)
        worked = bool(st.answered_below)
        if p.slot_implemented and p.sltsta is not None:
            presence[b] = "PresDet" in (p.slot_status_flags or [])
            if worked and not presence[b]:
                pres_liars.setdefault(_model(c), []).append(b)
        if worked and st.capable and not st.dl_active:
            dl_liars.setdefault(_model(c), []).append(b)
    for b, st in out.items():
        c = topo.nodes[b].config
        if not st.downstream:
            st.conclusion = UP
            st.evidence_up.append("the device answered config reads")
            continue
        _conclude(st, topo.nodes[b], crossed.get(b, []), presence.get(b),
                  [x for x in dl_liars.get(_model(c), ()) if x != b],
                  [x for x in pres_liars.get(_model(c), ()) if x != b])
    return out


def _same_model(c, seen, what) -> str:
    return ("%s, but ports of the same model [%04x:%04x] (%s) read that on links that worked"
            % (what, c.vendor_id or 0, c.device_id or 0, ", ".join(seen[:3])))


def _conclude(st, n, crossed, present, dl_liars, pres_liars) -> None:
    c = n.config
    if st.answered_below:
        st.evidence_up.append("%s below answered" % st.answered_below)
    st.evidence_up += crossed
    if st.capable and st.dl_active:
        st.evidence_up.append("LnkSta DLActive+")
    dpc = c.dpc is not None and c.dpc.triggered
    if dpc:
        st.evidence_down.append("DPC triggered: the port disabled its link")
    a = c.aer
    if a is not None and any(e.bit == 5 and not e.masked for e in a.uncor_errors):
        st.evidence_down.append("the port logged a Surprise Down error")
    if st.capable and not st.dl_active:
        what = "LnkSta DLActive- on a port that reports link state (LnkCap LLActRep+)"
        if st.answered_below:
            pass                    # register_disagrees says it
        elif dl_liars:
            st.notes.append(_same_model(c, dl_liars, what))
            st.register_distrusted = True
        else:
            st.evidence_down.append(what)
    if present is False and not st.answered_below:
        what = "SltSta PresDet-: no card in the slot"
        if pres_liars:
            st.notes.append(_same_model(c, pres_liars, "SltSta PresDet-"))
        else:
            st.empty_slot = True
            st.evidence_down.insert(0, what)
    trusted_down = st.capable and not st.dl_active and not st.register_distrusted
    if dpc:
        st.conclusion = DOWN       # containment comes after the traffic that caused it
    elif st.answered_below or (st.capable and st.dl_active):
        st.conclusion = UP
    elif crossed and trusted_down:
        # the message crossed before the panic; the register is the state at the panic
        st.notes += st.evidence_down + ["%s: the link was up when it was sent and may have gone "
                                        "down after" % " and ".join(crossed)]
        st.evidence_down = []
    elif crossed:
        st.conclusion = UP
    elif st.evidence_down:
        st.conclusion = DOWN
    else:
        if not st.capable:
            st.notes.append("the port cannot report link state (LnkCap LLActRep-), so "
                            "DLActive%s means nothing" % ("+" if st.dl_active else "-"))
    if st.conclusion != UP:
        (st.evidence_down if st.conclusion == DOWN else st.notes).append(
            "no device below answered" if n.children else "nothing captured below")
