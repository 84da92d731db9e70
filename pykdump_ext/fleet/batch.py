"""Many dumps in one run: `pcicrash --jsonl OUT DUMP|DIR|GLOB...`.

plan() turns the arguments into Tasks (one per dump; the parts of a
makedumpfile --split set, told apart by their headers, are one task),
process_task() turns one Task into one JSON record (it runs in the workers:
a local process pool, or Dask workers, see cluster.py), run() writes the
records to OUT as they finish.  One bad dump costs one error record, never
the batch.  OUT is appended to: dumps already in it are skipped, and a last
line cut short by an interrupted run is dropped and its dump done again.

Record (one line of OUT): the `pcicrash -j` report (report_json, schema
report_json.SCHEMA; null fields when the dump could not be read) with these keys in
front: batch ("pcicrash-batch/1"), parts (the files of the dump), path (the
first), size (bytes of all parts), bytes_read (bytes the readers fetched:
from disk, or over the network for remote dumps), requests (reads / ranged
requests), seconds, exit (the exit status `pcicrash` would give),
exit_class, error (the one-line message or null), plan_note, worker
(host:pid that read it), fleet (the facts the summary counts: fleet_facts()).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import glob
import json
import multiprocessing
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, TYPE_CHECKING, TextIO, Tuple, Union

from crash_ext_c.source import close_source, is_url, open_source
from crash_ext_c.errors import CaptureError, PcicrashError
from pykdump_ext.capture.buffer import CaptureState

if TYPE_CHECKING:
    from pykdump_ext.analysis.report import Report
    from crash_ext_c.reader import MemoryReader

BATCH_SCHEMA = "pcicrash-batch/1"
# the exit statuses of cli.py, by name
EXIT_CLASS = {0: "ok", 1: "incomplete", 2: "unreadable", 3: "internal"}
IN_FLIGHT = 4          # chunks queued per worker: enough to keep it busy, bounded memory
CHUNK = 16             # most tasks per chunk
KEY_PREFIX = '{"batch":"%s","parts":' % BATCH_SCHEMA


@dataclass
class Task:
    """One dump of a fleet run: its files (the parts of a split set) and what planning noted."""
    parts: List[str]                      # the files of one dump (split parts sorted)
    note: Optional[str] = None            # what planning found (e.g. a split part alone)

    @property
    def key(self) -> Tuple[str, ...]:
        return tuple(self.parts)


@dataclass
class Outcome:
    """What a fleet run did: lines written, dumps skipped, errors by class, time taken."""
    written: int = 0
    skipped: int = 0
    errors: int = 0
    by_class: Dict[str, int] = field(default_factory=lambda: collections.Counter())
    seconds: float = 0.0


# ------------------------------------------------------------------ planning

def _looks_like_dump(path) -> bool:
    """In a directory or glob: skip files that are plainly something else (a non-empty
    file without a dump signature); empty or unreadable ones stay, to be reported."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return True
    return _signed(head)


def _signed(head) -> bool:
    from crash_ext_c.open import format_of
    return not head or format_of(head) is not None


def expand(args: Iterable[str]) -> List[str]:
    """Dump files named by DUMP (a file, kept as given), DIR (every dump file below it)
    or GLOB; local paths or URLs.  Order kept, duplicates dropped."""
    return [p for p, _listed in _expand(args)]


def _expand(args):
    """[(path, listed)]: `listed` for remote objects found by listing a prefix or glob,
    which plan() keeps only when they start with a dump signature."""
    out, seen = [], set()

    def add(p, listed=False) -> None:
        if p not in seen:
            seen.add(p)
            out.append((p, listed))

    for a in args:
        if is_url(a):
            from .listing import list_urls
            urls = list_urls(a)
            for u in urls:
                add(u, listed=urls != [a])
        elif os.path.isdir(a):
            for root, dirs, files in os.walk(a):
                dirs.sort()
                for name in sorted(files):
                    p = os.path.join(root, name)
                    if _looks_like_dump(p):
                        add(p)
        elif any(c in a for c in "*?[") and not os.path.exists(a):
            for p in sorted(glob.glob(a, recursive=True)):
                if os.path.isfile(p) and _looks_like_dump(p):
                    add(p)
        else:
            add(a)
    return out


NOT_A_DUMP = "not a dump"


def _split_key(path):
    """(identity, (start_pfn, end_pfn)) of a kdump --split part; NOT_A_DUMP when the file
    has no dump signature; None otherwise (another dump, or unreadable: the task says)."""
    from crash_ext_c.kdump import SIGNATURES, KdumpPart
    try:
        src = open_source(path)
    except (PcicrashError, OSError):
        return None
    try:
        head = src.pread(0, 16)
        if not _signed(head):
            return NOT_A_DUMP
        if head[:8] not in SIGNATURES:
            return None
        part = KdumpPart(src)
        if not part.split:
            return None
        return ((part.identity, part.block_size, part.max_mapnr, part.dump_level),
                (part.start_pfn, part.end_pfn))
    except (PcicrashError, OSError):
        return None
    finally:
        close_source(src)


def plan(args: Iterable[str]) -> List[Task]:
    """Tasks for the dumps named by `args`: split parts with the same header (utsname,
    time stamp, page size, max_mapnr, dump level) whose pfn ranges follow each other
    become one task (two sets with equal headers stay apart by their ranges)."""
    groups: "collections.OrderedDict[Any, List[Tuple[Tuple[int, int], str]]]" = collections.OrderedDict()
    tasks: List[Union[Task, List[Task], None]] = []     # None: a set's place, filled below
    slot: Dict[Any, int] = {}
    for p, listed in _expand(args):
        k = _split_key(p)
        if k == NOT_A_DUMP and listed:
            continue                       # an object beside the dumps (notes, logs)
        if k is None or k == NOT_A_DUMP:
            tasks.append(Task([p]))
            continue
        ident, rng = k
        if ident not in groups:
            groups[ident] = []
            slot[ident] = len(tasks)
            tasks.append(None)             # placeholder keeps the order of first sight
        groups[ident].append((rng, p))
    for ident, members in groups.items():
        members.sort()
        chains: List[List[Any]] = []       # [[end_pfn, [paths]]]
        for (start, end), p in members:
            nxt = [c for c in chains if c[0] == start]
            # several sets with equal headers: keep a part with its namesakes (vmcore.N)
            nxt.sort(key=lambda c: _stem(c[1][-1]) != _stem(p))
            if nxt:
                nxt[0][0] = end
                nxt[0][1].append(p)
            else:
                chains.append([end, [p]])
        made = []
        for _end, paths in chains:
            t = Task(paths)
            if len(paths) == 1:
                t.note = "a --split part without the other parts of its dump"
            made.append(t)
        tasks[slot[ident]] = made
    out: List[Task] = []
    for item in tasks:
        if isinstance(item, list):
            out.extend(item)
        elif item is not None:
            out.append(item)
    return out


def _stem(path):
    return path.rsplit(".", 1)[0]


# ------------------------------------------------------------------ one dump

@dataclass
class Culprit:
    """The device the verdict blames, as the summary counts it."""
    bdf: str
    score: int
    ids: Optional[str]              # "vvvv:dddd", None when not captured / all 0xFF
    subsystem: Optional[str]        # subsystem "vvvv:dddd"
    name: Optional[str]
    errors: List[str]               # error kinds: AER short names, "DPC", "link down"
    root_port: Optional[str]
    slot: Optional[int]             # physical slot number of the port it sits behind


@dataclass
class FleetFacts:
    """The few facts a fleet line carries about one dump: kernel, capture state, culprit."""
    osrelease: Optional[str]
    state: str
    missing: List[str]              # page statuses that made the capture partial
    culprit: Optional[Culprit] = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def fleet_facts(rep: Report, reader: MemoryReader) -> FleetFacts:
    """What the summary counts, from the typed Report: kernel release, capture state,
    which page statuses made it partial, and the device the verdict blames."""
    cap = rep.capture
    facts = FleetFacts(osrelease=(reader.vmcoreinfo or {}).get("OSRELEASE"),
                       state=cap.state, missing=sorted({st.value for _i, _p, st in cap.missing}))
    sus = rep.verdict.suspects if rep.verdict else []
    if sus:
        facts.culprit = _culprit(rep, sus[0])
    return facts


def _culprit(rep, s) -> Culprit:
    d = rep.by_bdf.get(s.bdf)
    c = d.config if d is not None else None
    if c is not None and (c.all_ff or c.vendor_id is None):
        c = None                       # no registers to tell the error kinds or the ids
    kinds: List[str] = []
    if c is not None and c.aer is not None:
        kinds = [e.short for e in c.aer.uncor_errors if not e.masked]
    if c is not None and c.dpc is not None and c.dpc.triggered:
        kinds.append("DPC")
    if "link_down" in s.rules or "unreachable_link_down" in s.rules:
        kinds.append("link down")
    if not kinds and c is not None and c.aer is not None:
        kinds = [e.short for e in c.aer.cor_errors if not e.masked]
    if not kinds:
        kinds = list(s.rules[:1])
    root, slot = _place(rep, s.bdf)
    return Culprit(bdf=s.bdf, score=s.score,
                   ids="%04x:%04x" % (c.vendor_id, c.device_id) if c is not None else None,
                   subsystem="%04x:%04x" % (c.subsys_vendor_id, c.subsys_id)
                   if c is not None and c.subsys_vendor_id is not None else None,
                   name=d.name if d is not None else None,
                   errors=kinds, root_port=root, slot=slot)


def _place(rep, bdf):
    """(root port above or at `bdf`, physical slot number of the port it sits behind)."""
    from pykdump_ext.pci import regs
    nodes = rep.topology.nodes if rep.topology else {}
    root = slot = None
    cur, first, hops = bdf, True, 0
    while cur is not None and cur in nodes and hops < 64:      # 64: deeper than PCIe allows
        d = rep.by_bdf.get(cur)
        p = d.config.pcie if d is not None and not d.config.all_ff else None
        if p is not None:
            downstream = p.port_type in regs.SLOT_PORT_TYPES
            if slot is None and p.slot_implemented and p.slot_number is not None and \
                    (not first or downstream):
                slot = p.slot_number
            if p.port_type in regs.ROOT_PORT_TYPES:
                root = cur
                break
        cur, first, hops = nodes[cur].parent, False, hops + 1
    if root is None:
        named = [p.root_port for p in rep.paths if p.source_bdf == bdf]
        root = named[0] if named else None
    return root, slot


_WORKER = "%s:%d" % (socket.gethostname(), os.getpid())


def process_task(task: Task) -> str:
    """One dump -> one JSON record (a line without its newline).  Never raises."""
    from pykdump_ext.analysis.report import analyse
    from pykdump_ext.output import report_json
    from crash_ext_c.open import open_dump

    global _WORKER
    _WORKER = "%s:%d" % (socket.gethostname(), os.getpid())      # this process (forked)
    t0 = time.perf_counter()
    srcs, report, facts = [], None, None
    code, error = 3, None
    try:
        for p in task.parts:
            srcs.append(open_source(p))
        with open_dump(srcs) as reader:
            rep = analyse(reader, names="system")
            report = report_json.to_dict(rep)
            facts = fleet_facts(rep, reader).to_json()
        cap = rep.capture
        code = 0 if cap.state == CaptureState.CAPTURED else 1
        if code:
            error = "capture %s: %s" % (cap.state, cap.reason)
    except CaptureError as exc:
        code, error = 1, exc.message()
    except PcicrashError as exc:
        code, error = 2, exc.message()
    except OSError as exc:            # vanished, cut, or a failed ranged request
        code, error = 2, "%s: %s" % (exc.filename or task.parts[0], exc.strerror or exc)
    except Exception as exc:          # a bug: the record says so, the batch goes on
        code, error = 3, "internal error: %s: %s" % (type(exc).__name__, exc)
    finally:
        for s in srcs:
            try:
                close_source(s)
            except Exception:      # closing a broken connection must not lose the record
                pass
    rec = {"batch": BATCH_SCHEMA, "parts": list(task.parts), "path": task.parts[0],
           "size": sum(getattr(s, "size", 0) for s in srcs) if srcs else None,
           "bytes_read": sum(getattr(s, "bytes_read", 0) for s in srcs),
           "requests": sum(getattr(s, "reads", 0) for s in srcs),
           "seconds": round(time.perf_counter() - t0, 6),
           "exit": code, "exit_class": EXIT_CLASS[code], "error": error, "plan_note": task.note,
           "worker": _WORKER, "fleet": facts}
    if report is None:
        report = {"schema": report_json.SCHEMA, "source": task.parts[0], "format": None,
                  "reader_notes": [], "capture": None, "devices": [], "topology": None,
                  "error_paths": [], "verdict": None, "kernel": None}
    rec.update(report)
    return json.dumps(rec, separators=(",", ":"))


def process_chunk(tasks: List[Task]) -> List[str]:
    """process_task over several tasks (one Dask task each, to amortise scheduling)."""
    from pykdump_ext.analysis.report import no_gc
    with no_gc():
        return [process_task(t) for t in tasks]


def error_record(task: Task, message: str, code: int = 3) -> str:
    """The record of a task whose worker died (the task itself never ran to its end)."""
    from pykdump_ext.output.report_json import SCHEMA
    rec = {"batch": BATCH_SCHEMA, "parts": list(task.parts), "path": task.parts[0],
           "size": None, "bytes_read": 0, "requests": 0, "seconds": 0.0, "exit": code,
           "exit_class": EXIT_CLASS[code], "error": message, "fleet": None,
           "schema": SCHEMA, "source": task.parts[0], "capture": None}
    return json.dumps(rec, separators=(",", ":"))


# ------------------------------------------------------------------ OUT

def record_key(line: str) -> Optional[Tuple[str, ...]]:
    """The parts of a record line, read from its start only (lines are large)."""
    if not line.startswith(KEY_PREFIX):
        return None
    try:
        parts, _end = json.JSONDecoder().raw_decode(line, len(KEY_PREFIX))
    except ValueError:
        return None
    return tuple(parts) if isinstance(parts, list) else None


def load_done(out_path: str, warn: Callable[[str], None] = lambda m: None) -> Set[Tuple[str, ...]]:
    """Keys of the dumps OUT already holds.  A last line without its newline (an
    interrupted run) is cut off the file so the next record starts on a line of its own."""
    done: Set[Tuple[str, ...]] = set()
    if not os.path.exists(out_path):
        return done
    with open(out_path, "rb+") as f:
        good_end = 0
        n = 0
        for raw in f:
            if not raw.endswith(b"\n"):
                warn("%s: last line cut short (%d bytes, interrupted run): dropped, its dump "
                     "is done again" % (out_path, len(raw)))
                break
            n += 1
            good_end += len(raw)
            key = record_key(raw.decode("utf-8", "replace"))
            if key is None:
                warn("%s: line %d is not a pcicrash batch record: ignored" % (out_path, n))
                continue
            done.add(key)
        f.truncate(good_end)
    return done


class Progress:
    """`n/N dumps` on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.on = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total, self.done, self.errors = total, 0, 0
        self.t0 = time.monotonic()

    def step(self, failed: bool) -> None:
        self.done += 1
        self.errors += bool(failed)
        if self.on:
            rate = self.done / max(time.monotonic() - self.t0, 1e-6)
            self.stream.write("\rpcicrash: %d/%d dumps, %d not ok, %.1f dumps/s "
                              % (self.done, self.total, self.errors, rate))
            self.stream.flush()

    def close(self) -> None:
        if self.on and self.done:
            self.stream.write("\n")
            self.stream.flush()


def _exit_of(line: str) -> int:
    i = line.find('"exit":')
    return int(line[i + 7]) if i >= 0 and line[i + 7].isdigit() else 3


def run(tasks: List[Task], out_path: str, *, workers: Optional[int] = None,
        scheduler: Optional[str] = None, progress_stream: Optional[TextIO] = None,
        warn: Callable[[str], None] = lambda m: None) -> Outcome:
    """Process `tasks` not yet in OUT and append their records; returns the tally."""
    t0 = time.perf_counter()
    done = load_done(out_path, warn)
    todo = [t for t in tasks if t.key not in done]
    res = Outcome(skipped=len(tasks) - len(todo))
    prog = Progress(len(todo), progress_stream)
    with open(out_path, "ab") as out:
        def emit(line) -> None:
            out.write(line.encode() + b"\n")
            out.flush()
            code = _exit_of(line)
            res.written += 1
            res.by_class[EXIT_CLASS.get(code, "internal")] += 1
            res.errors += code >= 2
            prog.step(code != 0)

        try:
            if scheduler:
                from .cluster import run_on_dask
                run_on_dask(todo, scheduler, emit)
            else:
                _run_local(todo, workers or os.cpu_count() or 1, emit)
        finally:
            prog.close()
    res.seconds = time.perf_counter() - t0
    return res


def _pool(n):
    # fork where there is fork: no re-import of the caller's main module (spawn would),
    # and fsspec resets its event loop in a forked child itself
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    if ctx.get_start_method() == "fork":
        from pykdump_ext.analysis.report import load_names
        load_names()        # pci.ids parsed once here, shared by every forked worker
    return cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx)


def _run_local(todo, workers, emit) -> None:
    """A local process pool fed chunks of tasks (small dumps take about a millisecond:
    one task each would cost more in messages than in work), at most IN_FLIGHT
    chunks per worker queued.  A worker that dies (a crash in native code) breaks the
    pool: the tasks it had are run again one by one in a fresh worker, and the one
    that kills that too gets an error record."""
    size = max(1, min(CHUNK, len(todo) // (workers * IN_FLIGHT) or 1))
    queue = collections.deque(todo[i:i + size] for i in range(0, len(todo), size))
    pool = _pool(workers)
    running: Dict[cf.Future, List[Task]] = {}     # future -> its batch
    try:
        while queue or running:
            while queue and len(running) < workers * IN_FLIGHT:
                chunk = queue.popleft()
                running[pool.submit(process_chunk, chunk)] = chunk
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            broken = []
            for fut in finished:
                chunk = running.pop(fut)
                try:
                    lines = fut.result()
                except cf.process.BrokenProcessPool:
                    broken.extend(chunk)
                    continue
                for line in lines:
                    emit(line)
            if broken:
                for chunk in running.values():
                    broken.extend(chunk)
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                for t in broken:
                    emit(_isolated(t))
                pool = _pool(workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _isolated(task):
    with _pool(1) as one:
        try:
            return one.submit(process_task, task).result()
        except cf.process.BrokenProcessPool:
            return error_record(task, "the worker process reading this dump died (a crash "
                                "in native code?); run pcicrash on it alone to see")
