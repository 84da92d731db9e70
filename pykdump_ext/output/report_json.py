"""The JSON form of a Report (``pcicrash -j`` / ``--json``).  Schema version 2.

``pcicrash/2`` adds, per device, ``header`` and ``capabilities``: every register
the caps registry decodes, with every field by the name lspci prints (see
docs/json.md); all ``pcicrash/1`` keys are kept with their meaning.

The schema is documented once, in docs/json.md; tests/pykdump_ext/output/test_report_json_schema.py fails when
this module emits a key the document does not name, or the document names one that no
longer exists.
"""

from __future__ import annotations

import itertools
import json
from typing import List, Optional, TYPE_CHECKING


if TYPE_CHECKING:
    from pykdump_ext.analysis.report import Device, Report
    from pykdump_ext.pci.caps.model import CapResult

SCHEMA = "pcicrash/2"


def cap_json(c: CapResult) -> str:
    """One decoded capability as JSON text, made once per result: results are shared between
    identical functions, and within a fleet's differing functions most registers still
    repeat, so each register's text is made once too."""
    t = c.__dict__.get("_json")
    if t is None:
        t = '{"kind":%s,"id":%d,"offset":%d,"version":%s,"name":%s,"registers":{%s},"info":%s,' \
            '"entries":[%s],"problems":%s,"truncated":%s}' % (
                _enc(c.kind), c.id, c.offset, _enc(c.version), _enc(c.name),
                ",".join(map(_reg_json, c.regs.values())), _enc(c.info),
                ",".join(map(cap_json, c.entries)), _enc(c.problems), "true" if c.truncated else "false")
        c.__dict__["_json"] = t
    return t


def cap_dict(c: CapResult) -> dict:
    """The capability's JSON object as data: read back from cap_json(), the one place that
    says what the object holds."""
    return json.loads(cap_json(c))


# compact, and the same text json.dumps(separators=(",", ":")) makes (check_circular only
# detects cycles, which decoded results never have); str() of anything JSON has no type for
_enc = json.JSONEncoder(separators=(",", ":"), check_circular=False, default=str).encode
_REG_JSON: dict = {}


def _reg_json(r) -> str:
    key = (id(r.spec), r.offset, r.value)
    t = _REG_JSON.get(key)
    if t is None:
        if len(_REG_JSON) >= 65536:          # bounded: repeats are what it is for
            _REG_JSON.clear()
        t = _REG_JSON[key] = '%s:{"offset":%d,"size":%d,"value":%d,"fields":%s%s}' % (
            _enc(r.name), r.offset, r.spec.size, r.value, _enc(r.fields()),
            ',"decoded":' + _enc(r.decoded()) if r.spec.words else "")
    return t


def _aer(a):
    if a is None:
        return None
    return {
        "uncor_status": a.uncor_status, "uncor_mask": a.uncor_mask,
        "uncor_severity": a.uncor_severity, "cor_status": a.cor_status,
        "cor_mask": a.cor_mask, "first_error_pointer": a.first_error_pointer,
        "header_log": list(a.header_log), "root_status": a.root_status,
        "err_src_cor": a.err_src_cor, "err_src_uncor": a.err_src_uncor,
        "uncorrectable": [{"name": e.name, "short": e.short, "bit": e.bit, "fatal": e.fatal,
                           "masked": e.masked, "first": e.first} for e in a.uncor_errors],
        "correctable": [{"name": e.name, "short": e.short, "bit": e.bit, "masked": e.masked}
                        for e in a.cor_errors],
    }


def _link(ls):
    if ls is None:
        return None
    return {"conclusion": ls.conclusion, "text": ls.text(), "downstream": ls.downstream,
            "capable": ls.capable, "dl_active": ls.dl_active,
            "evidence_up": list(ls.evidence_up), "evidence_down": list(ls.evidence_down),
            "notes": list(ls.notes)}


def _hex(raw, memo):
    """The config bytes as hex; `memo` shares the text between records with equal bytes."""
    if memo is None:
        return raw.hex()
    t = memo.get(raw)
    if t is None:
        t = memo[raw] = raw.hex()
    return t


def _device(d, link=None, hexes=None):
    c, r, n = d.config, d.record, d.node
    return {
        "bdf": d.bdf, "domain": r.domain, "bus": r.bus, "device": r.devfn >> 3,
        "function": r.devfn & 7, "record_offset": r.offset, "config_size": len(r.config),
        "config": _hex(r.config, hexes), "all_ff": c.all_ff,
        "vendor_id": None if c.all_ff else c.vendor_id,
        "device_id": None if c.all_ff else c.device_id,
        "class_code": None if c.all_ff else c.class_code,
        "vendor_name": d.vendor_name, "device_name": d.device_name,
        "port_type": c.pcie.port_type_name if c.pcie is not None and not c.all_ff else None,
        "parent": n.parent,
        "unreachable": {"kind": n.unreachable, "why": n.unreachable_why} if n.unreachable else None,
        "link": _link(link),
        "duplicate_of": d.duplicate,
        "errors": list(d.items),
        "aer": None if c.all_ff else _aer(c.aer),
        "dpc": None if c.dpc is None or c.all_ff else {
            "status": c.dpc.status, "triggered": c.dpc.triggered,
            "reason": c.dpc.trigger_reason, "source_id": c.dpc.source_id},
        "problems": list(c.problems),
        "header": None if c.header is None or c.all_ff else _CapsSlot(c.header),
        "capabilities": [] if c.all_ff else [_CapsSlot(x) for x in c.capabilities],
    }


class _CapsSlot:
    """Stands for one capability's JSON text until dumps() splices it in."""
    __slots__ = ("cap",)

    def __init__(self, cap) -> None:
        self.cap = cap


def to_dict(rep: Report) -> dict:
    """The report as plain data (capabilities as dicts); dumps() is the fast path."""
    d = _to_dict(rep)
    for x in d["devices"]:
        if x["header"] is not None:
            x["header"] = cap_dict(x["header"].cap)
        x["capabilities"] = [cap_dict(c.cap) for c in x["capabilities"]]
    return d


def _log_json(summary, part):
    """The kernel log's panic or whole summary as JSON data; None without a log (the log's
    views are imported only for a report that has one)."""
    if summary is None:
        return None
    from . import klog_view
    return klog_view.panic_json(summary) if part == "panic" else klog_view.to_json(summary)


def _to_dict(rep, hexes=None) -> dict:
    cap = rep.capture
    pm = cap.pagemap
    h = cap.header
    out = {
        "schema": SCHEMA,
        "source": rep.source,
        "format": rep.format,
        "reader_notes": list(rep.reader_notes),
        "capture": {
            "state": cap.state,
            "reason": cap.reason,
            "pagemap_layout": pm.layout if pm else None,
            "pagemap": None if pm is None else {
                "phys_addr": pm.phys_addr, "layout": pm.layout, "num_pages": pm.num_pages,
                "buf_size": pm.buf_size, "buf_offset": pm.buf_offset,
                "page_size": pm.page_size, "page_addrs": list(pm.page_addrs),
                "notes": list(pm.notes), "unaligned": pm.unaligned},
            "header": None if h is None else {
                "magic": h.magic, "version": h.version, "device_count": h.device_count,
                "config_size": h.config_size, "timestamp_ns": h.timestamp,
                "time_utc": h.time_utc, "clock_set": h.clock_set, "flags": h.flags,
                "reserved": h.reserved},
            "problems": list(cap.problems),
            "notes": list(cap.notes),
            "missing_pages": [{"index": i, "pfn": p, "status": st.value}
                              for i, p, st in cap.missing],
            "untrusted_records": [{"index": r.index, "offset": r.offset, "bdf": r.bdf,
                                   "why": r.note} for r in cap.untrusted],
        },
        "devices": [_device(d, rep.links.get(d.bdf), hexes) for d in rep.devices],
        "topology": {
            "problems": list(rep.topology.problems) if rep.topology else [],
            "roots": {"%04x" % dom: list(b) for dom, b in rep.topology.roots.items()}
            if rep.topology else {},
        },
        "error_paths": [{
            "root_port": p.root_port, "message": p.message, "source_bdf": p.source_bdf,
            "source_rid": p.source_rid, "current": p.current, "multiple": p.multiple,
            "source_captured": p.source_captured, "notes": list(p.notes),
            "hops": [{"bdf": x.bdf, "role": x.role, "captured": x.captured,
                      "status": list(x.items)} for x in p.hops]} for p in rep.paths],
        "verdict": {
            "lines": list(rep.verdict.lines) if rep.verdict else [],
            "notes": list(rep.verdict.notes) if rep.verdict else [],
            "suspects": [{"bdf": s.bdf, "score": s.score, "headline": s.headline,
                          "evidence": list(s.evidence), "rules": list(s.rules),
                          "errors": list(s.errors), "captured": s.captured}
                         for s in (rep.verdict.suspects if rep.verdict else [])],
            "panic": _log_json(rep.kernel_log, "panic"),
        },
        "kernel": None,
        "kernel_log": _log_json(rep.kernel_log, "log"),
    }
    if rep.kernel is not None:
        try:
            from .kernel_view import to_json as kernel_json
            out["kernel"] = kernel_json(rep.kernel)
        except Exception as exc:     # kernel-side data is optional
            out["kernel"] = {"error": str(exc)}
    return out


def _device_pieces(x, out) -> None:
    """Append one device's JSON text, in pieces, from its _device() dict (its key order): the
    config hex and the capabilities' (shared, memoised) texts go in without being encoded
    again, and nothing is joined until the whole report is."""
    hx, hdr, caps = x.pop("config"), x.pop("header"), x.pop("capabilities")
    head = dict(itertools.islice(x.items(), _CONFIG_AT))
    for k in head:
        del x[k]
    out += (_enc(head)[:-1], ',"config":"', hx, '",', _enc(x)[1:-1], ',"header":',
            "null" if hdr is None else cap_json(hdr.cap), ',"capabilities":[',
            ",".join([cap_json(c.cap) for c in caps]), "]},")


_CONFIG_AT = 7      # keys of _device() before "config"


def dumps(rep: Report, devs: Optional[List[Device]] = None) -> str:
    """Compact JSON text (pretty-print with jq or python -m json.tool), the same as
    json.dumps(to_dict(rep), separators=(",", ":")).

    Each device is encoded on its own and the texts joined once: the config hex strings
    (8 KiB per PCIe function) need no escaping and the capabilities' texts are made once per
    shared result, so the encoder never sees them.
    """
    d = _to_dict(rep, hexes={})
    devices = d["devices"]
    if devs is not None:
        keep = {x.bdf for x in devs}
        devices = [x for x in devices if x["bdf"] in keep]
    d["devices"] = []
    head, tail = _enc(d).split('"devices":[]', 1)
    out = [head, '"devices":[']
    for x in devices:
        _device_pieces(x, out)
    if devices:
        out[-1] = "]}"          # the last device's closing brace, without the comma
    out += ("]", tail)
    return "".join(out)
