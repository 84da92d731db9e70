"""The JSON schema is written once, in docs/json.md: every key `pcicrash -j` emits (on the
fixtures, synthetic captures and the real shared dumps) is documented there, and every key
documented there still exists (emitted here, or written by the code that makes the JSON)."""

import json
import re

import pytest

from tests.builders import capture as cb
from tests.shared import ROOT, VMCORES, have_shared
from pykdump_ext.output import report_json
from pykdump_ext.analysis.report import analyse
from pykdump_ext.kernel.structs import KernelInfo
from tests.captures import SCENARIOS, fixture_reader

DOC = ROOT / "docs" / "json.md"
# modules whose source writes the report's keys (the other direction's evidence)
EMITTERS = ("pykdump_ext/output/report_json.py", "pykdump_ext/output/kernel_view.py",
            "pykdump_ext/output/klog_view.py")
PLACEHOLDER_KEYS = {"dddd", "dddd:bb:dd.f"}       # "roots": {"dddd": ...}: any key

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|<capability>|\.\.\.|[{}\[\]:,|]|[A-Za-z_][\w.]*|\S')


class Node:
    """What the doc says of one value: an object's keys, an array's items, or anything."""

    def __init__(self):
        self.keys = {}          # name -> Node
        self.wild = None        # Node for keys that are data (BDFs, kinds, register names)
        self.items = None       # Node for an array's elements
        self.any = False        # {...} / object: not spelled out
        self.ref = False        # <capability>

    def merge(self, other):
        for k, v in other.keys.items():
            self.keys[k] = self.keys[k].merge(v) if k in self.keys else v
        for attr in ("wild", "items"):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            if theirs is not None:
                setattr(self, attr, theirs if mine is None else mine.merge(theirs))
        self.any |= other.any
        self.ref |= other.ref
        return self


def _strip_comments(block):
    out = []
    for line in block.splitlines():
        quoted, cut = False, len(line)
        for i, ch in enumerate(line):
            if ch == '"':
                quoted = not quoted
            elif ch == "#" and not quoted:
                cut = i
                break
        out.append(line[:cut])
    return "\n".join(out)


class _Parser:
    def __init__(self, text):
        self.toks = _TOKEN.findall(_strip_comments(text))
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want=None):
        tok = self.peek()
        assert want is None or tok == want, "docs/json.md: %r where %r belongs (token %d)" \
            % (tok, want, self.i)
        self.i += 1
        return tok

    def value(self):
        node = self.alternative()
        while self.peek() == "|":
            self.take()
            node = node.merge(self.alternative())
        return node

    def alternative(self):
        tok = self.take()
        node = Node()
        if tok == "{":
            self.object_body(node)
        elif tok == "[":
            items = Node()
            while self.peek() != "]":
                items.merge(self.value())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            node.items = items
        elif tok == "<capability>":
            node.ref = True
        elif tok in ("object", "..."):
            node.any = True
        return node              # a scalar: str, int, "captured", null, ...

    def object_body(self, node):
        while self.peek() != "}":
            key = self.take()
            if key == "...":
                node.any = True
            else:
                sub = self.value() if self.peek() == ":" and self.take() else Node()
                name = key[1:-1] if key.startswith('"') else None
                if name is None or name in PLACEHOLDER_KEYS:
                    node.wild = sub if node.wild is None else node.wild.merge(sub)
                else:
                    node.keys[name] = node.keys[name].merge(sub) if name in node.keys else sub
            if self.peek() == ",":
                self.take()
        self.take("}")


def doc_schema():
    """(report node, capability node) from docs/json.md's two schema blocks."""
    text = DOC.read_text()
    blocks = re.findall(r"^```\n(.*?)^```", text, re.S | re.M)
    report = _Parser(blocks[0]).value()
    cap = _Parser(blocks[1]).value()
    return report, cap


def walk(value, node, path, cap, seen, undocumented):
    if node.ref:
        node, path = cap, "<capability>"
    if node.any:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if k in node.keys:
                seen.add(path + "." + k)
                walk(v, node.keys[k], path + "." + k, cap, seen, undocumented)
            elif node.wild is not None:
                walk(v, node.wild, path + ".*", cap, seen, undocumented)
            else:
                undocumented.add(path + "." + k)
    elif isinstance(value, list):
        for v in value:
            if node.items is None:
                undocumented.add(path + "[]")
                break
            walk(v, node.items, path + "[]", cap, seen, undocumented)


def documented(node, path, cap, out, depth=0):
    """Every documented key path (data keys as *)."""
    if depth > 12 or node.ref:
        return
    for k, v in node.keys.items():
        out.add(path + "." + k)
        documented(v, path + "." + k, cap, out, depth + 1)
    if node.wild is not None:
        documented(node.wild, path + ".*", cap, out, depth + 1)
    if node.items is not None:
        documented(node.items, path + "[]", cap, out, depth + 1)


def reports():
    """Reports of every kind of input the tests have: real captures, synthetic ones in
    every state, a kernel section, and (with /work/shared) the real dumps with their logs."""
    for name in SCENARIOS:
        yield name, analyse(fixture_reader(name), names=None)
    recs = cb.qemu_like_records()
    for label, buf in (("synthetic", cb.buffer(recs)),
                       ("synthetic-ff", cb.buffer(cb.qemu_like_records(endpoint_ff=True))),
                       ("synthetic-twice", cb.buffer(recs + recs[1:2])),
                       ("synthetic-cut", cb.buffer(recs)[:-3000])):
        yield label, analyse(cb.reader(buf), names=None)
    rep = analyse(cb.reader(cb.buffer(recs)), names=None)
    rep.kernel = KernelInfo(None, vmcoreinfo={"CRASHTIME": "1795241199"},
                            device_dumps=[("nic-fw", 4096)])
    yield "kernel", rep
    if have_shared():
        from crash_ext_c.open import open_dump
        for dump in sorted(VMCORES.glob("*/d31-zlib.kdump")):
            with open_dump([str(dump)]) as r:
                yield dump.parent.name, analyse(r, names=None)


@pytest.fixture(scope="module")
def emitted():
    return [(name, json.loads(report_json.dumps(rep))) for name, rep in reports()]


def test_doc_schema_parses_into_the_report_sections():
    report, cap = doc_schema()
    assert {"schema", "capture", "devices", "topology", "error_paths", "verdict", "kernel",
            "kernel_log"} <= set(report.keys)
    assert {"kind", "registers", "entries"} <= set(cap.keys)
    assert report.keys["devices"].items.keys["capabilities"].items.ref


def test_every_emitted_key_is_documented(emitted):
    report, cap = doc_schema()
    bad = {}
    for name, obj in emitted:
        undocumented = set()
        walk(obj, report, "", cap, set(), undocumented)
        for p in undocumented:
            bad.setdefault(p, name)
    assert not bad, "keys emitted but not in docs/json.md (path: first input): %s" % bad


def test_every_documented_key_still_exists(emitted):
    report, cap = doc_schema()
    seen = set()
    for _name, obj in emitted:
        walk(obj, report, "", cap, seen, set())
    doc = set()
    documented(report, "", cap, doc)
    documented(cap, "<capability>", cap, doc)
    source = "\n".join((ROOT / p).read_text() for p in EMITTERS)
    gone = sorted(p for p in doc - seen
                  if '"%s"' % p.rsplit(".", 1)[-1] not in source)
    assert not gone, "docs/json.md documents keys nothing emits: %s" % gone
    assert len(seen) > 100          # the samples reach most of the schema


def test_the_check_catches_a_renamed_key(emitted):
    """A key renamed in the output (not in the doc) is caught both ways."""
    report, cap = doc_schema()
    obj = json.loads(json.dumps(emitted[0][1]))
    obj["capture"]["stat"] = obj["capture"].pop("state")
    undocumented = set()
    walk(obj, report, "", cap, set(), undocumented)
    assert undocumented == {".capture.stat"}
