"""Fleet summary: `pcicrash --summarize OUT.jsonl [--format table|csv|json|parquet]`.

summarize() reads batch records (batch.py) into a typed Summary: for each
dimension, how many dumps have each value and which dumps they are.  Every
dimension except `error` counts each read dump once (a dump whose culprit has
two error kinds counts under both kinds).  The views (table, CSV, JSON,
Parquet) are rendered from the Summary.

Dimensions, from each record's `fleet` facts (the device the verdict blames):
  state       capture state; "partial (<page status>)" says why pages were
              missing (e.g. "excluded by filtering"); dumps that could not be
              read at all count as "not read (<exit class>)"
  kernel      OSRELEASE from VMCOREINFO
  device      vendor:device of the blamed device
  subsystem   vendor:device plus subsystem vendor:device
  error       error kinds of the blamed device (AER short names, DPC, link down)
  root_port   the root port above it
  slot        the physical slot number of the port it sits behind
A dump read without a blamed device (or without that fact) counts as "(none)".
"""

from __future__ import annotations

import collections
import csv
import io
import json
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from crash_ext_c.errors import UsageError
from pykdump_ext.capture.buffer import CaptureState
from .batch import record_key
from crash_ext_c.extras import need

SCHEMA = "pcicrash-summary/1"
DIMENSIONS = ("state", "kernel", "device", "subsystem", "error", "root_port", "slot")
NONE = "(none)"
SHOW_DUMPS = 3          # dumps named per row in the terminal table


@dataclass
class Row:
    """One value of one dimension of a fleet summary, with the dumps that have it."""
    dimension: str
    key: str
    count: int
    dumps: List[str]
    label: str = ""         # e.g. the device name from pci.ids


@dataclass
class Summary:
    """The fleet summary of a JSON-lines file: rows by dimension and the lines skipped."""
    dumps: int
    rows: List[Row] = field(default_factory=list)
    skipped_lines: int = 0

    def of(self, dimension: str) -> Dict[str, Row]:
        return {r.key: r for r in self.rows if r.dimension == dimension}


def _values(rec) -> Dict[str, List[str]]:
    f = rec.get("fleet")
    if not f:
        return {"state": ["not read (%s)" % rec.get("exit_class", "internal")]}
    st = f.get("state") or NONE
    if st == CaptureState.PARTIAL and f.get("missing"):
        st = ["partial (%s)" % m for m in f["missing"]]
    c = f.get("culprit") or {}
    ids = c.get("ids") or NONE
    out = {"state": st if isinstance(st, list) else [st],
           "kernel": [f.get("osrelease") or NONE],
           "device": [ids],
           "subsystem": ["%s subsystem %s" % (ids, c["subsystem"]) if c.get("subsystem")
                         else NONE if not c.get("ids") else "%s subsystem (none)" % ids],
           "error": list(dict.fromkeys(c.get("errors") or [])) or [NONE],
           "root_port": [c.get("root_port") or NONE],
           "slot": [str(c["slot"]) if c.get("slot") is not None else NONE]}
    return out


def read_records(paths: Iterable[str]) -> Tuple[List[dict], int]:
    """Records of the JSONL files, the last one per dump (per part) winning; and how many
    lines were not records (a cut last line, other text)."""
    by_key: "collections.OrderedDict[Tuple[str, ...], dict]" = collections.OrderedDict()
    owner: Dict[str, Tuple[str, ...]] = {}          # part -> key of the record that holds it
    bad = 0
    for path in paths:
        try:
            f = open(path, "r", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
        with f:
            for line in f:
                key = record_key(line)
                if key is None or not line.endswith("\n"):
                    bad += 1
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                # a later record of the same dump, or of a set holding one of its
                # parts (a split part read alone before its siblings came), wins
                for part in key:
                    held = owner.pop(part, None)
                    if held is not None:
                        by_key.pop(held, None)
                by_key[key] = rec
                owner.update((part, key) for part in key)
    return list(by_key.values()), bad


def summarize_records(records: List[dict], skipped_lines: int = 0) -> Summary:
    counts: Dict[str, Dict[str, List[str]]] = {d: collections.OrderedDict() for d in DIMENSIONS}
    labels: Dict[str, str] = {}
    for rec in records:
        path = rec.get("path") or "?"
        vals = _values(rec)
        c = (rec.get("fleet") or {}).get("culprit") or {}
        for dim in DIMENSIONS:
            for v in vals.get(dim, ()):
                counts[dim].setdefault(v, []).append(path)
        if c.get("ids") and c.get("name"):
            labels.setdefault(c["ids"], c["name"])
    rows = []
    for dim in DIMENSIONS:
        items = sorted(counts[dim].items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for k, dumps in items:
            label = labels.get(k.split(" ", 1)[0], "") if dim in ("device", "subsystem") else ""
            rows.append(Row(dim, k, len(dumps), dumps, label))
    return Summary(dumps=len(records), rows=rows, skipped_lines=skipped_lines)


def summarize(paths: Iterable[str]) -> Summary:
    return summarize_records(*read_records(paths))


# ------------------------------------------------------------------ views

def table(s: Summary) -> str:
    out = ["%d dumps" % s.dumps + (" (%d lines that are not records skipped)" % s.skipped_lines
                                   if s.skipped_lines else "")]
    for dim in DIMENSIONS:
        rows = [r for r in s.rows if r.dimension == dim]
        if not rows:
            continue
        out.append("")
        out.append("by %s:" % dim.replace("_", " "))
        width = max(len(r.key) for r in rows)
        for r in rows:
            names = ", ".join(r.dumps[:SHOW_DUMPS])
            if len(r.dumps) > SHOW_DUMPS:
                names += ", ... (+%d)" % (len(r.dumps) - SHOW_DUMPS)
            label = "  %s" % r.label if r.label else ""
            out.append("  %6d  %-*s%s  [%s]" % (r.count, width, r.key, label, names))
    return "\n".join(out) + "\n"


def to_csv(s: Summary) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["dimension", "key", "count", "label", "dumps"])
    for r in s.rows:
        w.writerow([r.dimension, r.key, r.count, r.label, ";".join(r.dumps)])
    return buf.getvalue()


def to_json(s: Summary) -> dict:
    return {"schema": SCHEMA, "dumps": s.dumps, "skipped_lines": s.skipped_lines,
            "rows": [{"dimension": r.dimension, "key": r.key, "count": r.count,
                      "label": r.label, "dumps": list(r.dumps)} for r in s.rows]}


def write_parquet(s: Summary, path: str) -> None:
    pa = need("pyarrow", "--format parquet")
    pq = need("pyarrow.parquet", "--format parquet")
    t = pa.table({"dimension": [r.dimension for r in s.rows],
                  "key": [r.key for r in s.rows],
                  "count": pa.array([r.count for r in s.rows], type=pa.int64()),
                  "label": [r.label for r in s.rows],
                  "dumps": pa.array([list(r.dumps) for r in s.rows],
                                    type=pa.list_(pa.string()))})
    pq.write_table(t, path)


def render(s: Summary, fmt: str, output: Optional[str]) -> Optional[str]:
    """Text of the view for stdout, or None when it was written to `output`."""
    if fmt == "parquet":
        if not output:
            raise UsageError("--format parquet needs -o FILE (Parquet is binary)")
        write_parquet(s, output)
        return None
    text = {"table": table, "csv": to_csv,
            "json": lambda x: json.dumps(to_json(x), indent=1) + "\n"}[fmt](s)
    if output:
        try:
            with open(output, "w") as f:
                f.write(text)
        except OSError as exc:
            raise UsageError("cannot write %s: %s" % (output, exc.strerror or exc)) from None
        return None
    return text
