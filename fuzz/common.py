"""The contract every harness checks, and the drivers that feed it.

Contract (docs/errors.md):
- the only exception bad input may cause is a crash_ext_c.errors.PcicrashError;
  anything else (IndexError, struct.error, MemoryError, RecursionError, ...) is a bug;
- a PcicrashError message is one line and names where (a path, a byte offset
  or a physical address / buffer offset);
- one input takes at most TIME_LIMIT seconds;
- one input's peak Python allocation (tracemalloc) stays under
  MEM_BASE + MEM_PER_BYTE * len(input): proportional to what was read, never
  to a size field inside it.

A harness module defines NAME, `target(data)` (parse `data`; may raise
PcicrashError) and `seeds()` (list of bytes).  `check_one(target, data)`
applies the contract and raises ContractViolation; `run(module, ...)` drives
seeds plus deterministic mutations (the short run in tests/hostile/test_fuzz_regressions.py);
`main(module)` runs atheris for long campaigns (`python fuzz/fuzz_X.py -runs=N`).
"""

import os
import random
import signal
import struct
import sys
import time
import traceback
import tracemalloc

from crash_ext_c.errors import PcicrashError


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
REGRESSIONS = os.path.join(ROOT, "tests", "data", "fuzz-regressions")
# seconds per input; a campaign on a loaded machine (instrumented code, shared cores)
# may widen it with PCICRASH_FUZZ_TIME_LIMIT, and says so in its results
TIME_LIMIT = float(os.environ.get("PCICRASH_FUZZ_TIME_LIMIT", "1.0"))
MEM_BASE = 96 << 20              # bytes of peak Python allocation allowed per input ...
MEM_PER_BYTE = 16                # ... plus this many per input byte
TRACE_SLOWDOWN = 5               # tracemalloc makes allocation-heavy code this much slower
MAX_INPUT = 1 << 20              # the drivers never build larger inputs
SHAPE_SHARE = 8                  # under atheris, 1 mutation in 8 is a shape mutation
USE_ALARM = True                 # off under atheris: libFuzzer's -timeout owns SIGALRM


class ContractViolation(AssertionError):
    """An input broke the contract: the message says how; `data` is the input."""

    def __init__(self, kind, detail, data):
        self.kind = kind
        self.data = data
        super().__init__("%s: %s (input of %d bytes)" % (kind, detail, len(data)))


class _Timeout(BaseException):
    """Raised by SIGALRM inside the target (BaseException: parsers must not catch it)."""


def _alarm(signum, frame):
    raise _Timeout()


def mem_bound(data):
    return MEM_BASE + MEM_PER_BYTE * len(data)


def check_error(exc):
    """None when `exc` is a PcicrashError honouring the message contract, else the complaint."""
    msg = str(exc)
    if not isinstance(exc, PcicrashError):
        return "not a PcicrashError"
    if "\n" in msg or "\r" in msg:
        return "message is not one line: %r" % msg[:300]
    if not msg.strip():
        return "empty message"
    if exc.path is None and exc.offset is None:
        return "message names no location (path/offset): %r" % msg[:300]
    return None


def check_one(target, data, *, time_limit=TIME_LIMIT, memory=False):
    """Run target(data) under the contract; returns 'ok' or 'error' (a PcicrashError).

    Raises ContractViolation for an uncaught non-contract exception, a hang
    (over `time_limit` s, by SIGALRM when in the main thread, else measured
    afterwards) or, with `memory`, a tracemalloc peak over mem_bound(data).  Under
    tracemalloc the time bound is scaled by TRACE_SLOWDOWN (the bound is for plain runs)."""
    if memory and time_limit:
        time_limit *= TRACE_SLOWDOWN
    use_alarm = USE_ALARM and time_limit and hasattr(signal, "setitimer") and \
        signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, _alarm, None)
    try:
        import threading
        use_alarm = use_alarm and threading.current_thread() is threading.main_thread()
    except ImportError:
        pass
    if use_alarm:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, time_limit * 1.5)
    tracing = False
    if memory:
        tracing = not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
    t0 = time.perf_counter()
    outcome = "ok"
    try:
        target(data)
    except _Timeout:
        raise ContractViolation("hang", "over %.1f s" % (time_limit * 1.5), data) from None
    except PcicrashError as exc:
        problem = check_error(exc)
        if problem:
            raise ContractViolation("bad-error", "%s: %s" % (type(exc).__name__, problem),
                                    data) from exc
        outcome = "error"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:     # noqa: B902 -- every other exception is a bug
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        raise ContractViolation("uncaught", "%s: %s\n%s" % (type(exc).__name__, exc,
                                                            "".join(tb[-6:])), data) from None
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - t0
        if memory:
            peak = tracemalloc.get_traced_memory()[1]
            if tracing:
                tracemalloc.stop()
    if time_limit and elapsed > time_limit:
        raise ContractViolation("slow", "%.2f s, bound %.1f s" % (elapsed, time_limit), data)
    if memory and peak > mem_bound(data):
        raise ContractViolation("memory", "tracemalloc peak %d bytes, bound %d"
                                % (peak, mem_bound(data)), data)
    return outcome


# ------------------------------------------------------------------ inputs

def corpus_dir(name):
    return os.path.join(CORPUS, name)


def corpus_files(name):
    d = corpus_dir(name)
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, f) for f in sorted(os.listdir(d))]


def load_corpus(name):
    out = []
    for p in corpus_files(name):
        with open(p, "rb") as f:
            out.append(f.read())
    return out


INTERESTING = (0, 1, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000, 0x7fffffff,
               0x80000000, 0xffffffff, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1,
               # huge declared sizes: pfn counts and offsets of machines the file is not
               1 << 36, 1 << 40, (1 << 40) - 1, 1 << 44, 1 << 52)


def mutate(data, rnd, pool=()):
    """One deterministic mutation of `data` (bit flips, interesting integers, cuts, splices)."""
    b = bytearray(data)
    for _ in range(rnd.choice((1, 1, 1, 2, 3, 8))):
        op = rnd.randrange(11)
        if op >= 9:                          # a shape: sparse, pipe, repeated run
            if not b.startswith(SHAPE_MAGIC):
                add_shape(b, rnd)
            continue
        if not b:
            b += bytes(rnd.randrange(1, 64))
            continue
        i = rnd.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            b[i] = rnd.randrange(256)
        elif op in (2, 3):                   # an interesting integer at an aligned offset
            size, code = rnd.choice(((2, "H"), (4, "I"), (8, "Q")))
            i -= i % size
            if i + size <= len(b):
                v = rnd.choice(INTERESTING) & ((1 << (8 * size)) - 1)
                struct.pack_into(rnd.choice("<>") + code, b, i, v)
        elif op == 4:                        # truncate
            del b[rnd.randrange(len(b) + 1):]
        elif op == 5:                        # delete a run
            del b[i:i + rnd.randrange(1, 64)]
        elif op == 6:                        # duplicate a run
            j = rnd.randrange(len(b))
            b[j:j] = b[i:i + rnd.randrange(1, 256)]
        elif op == 7 and pool:               # splice from another seed
            other = rnd.choice(pool)
            if other:
                j = rnd.randrange(len(other))
                n = rnd.randrange(1, 512)
                b[i:i + n] = other[j:j + n]
        else:                                # small arithmetic on a byte
            b[i] = (b[i] + rnd.choice((-1, 1, -16, 16))) & 0xff
    return bytes(b[:MAX_INPUT])


def add_shape(b, rnd):
    """Put a shape header (sparse split with a hole, pipe, repeated run) before plain bytes."""
    kind = rnd.choice("SSRRP")
    at = rnd.randrange(len(b) + 1)
    hole = rnd.choice((1 << 12, 1 << 30, 1 << 40))
    if kind == "S":              # the bytes split in two at `at`, a hole between
        table = PIECE.pack(0, at) + PIECE.pack(at + hole, len(b) - at)
        b[:0] = shape("S", table, count=2, hole=rnd.choice((0, hole)))
    else:
        b[:0] = SHAPE_MAGIC + SHAPE.pack(ord(kind), 0, rnd.choice((1, 16, 1024)), at,
                                         rnd.choice((12, 16, 24, 56, 264, 4104)), hole)


HUGE = (1 << 36, 1 << 40, (1 << 40) - 1, 1 << 44, 1 << 52)


def reshape(data, rnd):
    """One shape-level mutation: add a shape to plain bytes; on a shaped input change its
    kind, counts, offsets or hole (huge sizes), or drop the header; or write a huge
    declared size into the file bytes.  libFuzzer's own mutations rarely make these."""
    b = bytearray(data)
    hdr = len(SHAPE_MAGIC)
    if rnd.randrange(4) == 0 and len(b) >= 8:          # a huge declared size in the bytes
        start = hdr + SHAPE.size if b.startswith(SHAPE_MAGIC) else 0
        if len(b) - start >= 8:
            i = rnd.randrange(start, len(b) - 7)
            i -= (i - start) % rnd.choice((4, 8))
            if i + 8 <= len(b):
                struct.pack_into(rnd.choice("<>") + "Q", b, i, rnd.choice(HUGE))
        return bytes(b)
    if not b.startswith(SHAPE_MAGIC) or len(b) < hdr + SHAPE.size:
        add_shape(b, rnd)
        return bytes(b)
    kind, pad, count, at, span, hole = SHAPE.unpack_from(b, hdr)
    op = rnd.randrange(6)
    if op == 0:
        kind = ord(rnd.choice("SRP"))
    elif op == 1:
        count = rnd.choice((0, 1, 2, 16, 64, 1024, 0xffff))
    elif op == 2:
        hole = rnd.choice((0, 1 << 12) + HUGE + (MAX_HOLE, (1 << 64) - 1))
    elif op == 3:
        at = rnd.randrange(max(len(b) - hdr - SHAPE.size, 1))
        span = rnd.choice((1, 12, 16, 24, 56, 64, 264, 4096, 4104))
    elif op == 4 and kind == ord("S"):               # move one piece far away
        n = min(count, MAX_PIECES, (len(b) - hdr - SHAPE.size) // PIECE.size)
        if n:
            pos = hdr + SHAPE.size + rnd.randrange(n) * PIECE.size
            off, length = PIECE.unpack_from(b, pos)
            far = rnd.choice((off + (1 << 12), off + (1 << 30)) + HUGE) & ((1 << 64) - 1)
            PIECE.pack_into(b, pos, far, length)
    else:                                            # back to plain bytes
        return bytes(b[hdr + SHAPE.size:])
    SHAPE.pack_into(b, hdr, kind, pad, count, at, span, hole)
    return bytes(b)


def run(module, *, mutations=200, seed=0, time_budget=None, memory_every=25, inputs=None):
    """Seeds (plus `inputs`) then `mutations` mutated inputs; returns counts.

    Deterministic for a given seed; stops early when `time_budget` seconds have
    passed.  Every `memory_every`-th input runs under tracemalloc.  The first
    contract violation is raised."""
    rnd = random.Random(seed)
    pool = list(module.seeds()) + list(inputs or ())
    counts = {"inputs": 0, "ok": 0, "error": 0}
    t0 = time.monotonic()

    def one(data):
        mem = memory_every and counts["inputs"] % memory_every == 0
        counts[check_one(module.target, data, memory=mem)] += 1
        counts["inputs"] += 1

    for data in pool:
        one(data)
    for _ in range(mutations):
        if time_budget is not None and time.monotonic() - t0 > time_budget:
            break
        base = rnd.choice(pool) if pool else b""
        one(mutate(base, rnd, pool))
    counts["seconds"] = round(time.monotonic() - t0, 2)
    return counts


# ------------------------------------------------------------------ atheris

_INSTRUMENT = None
PARSER_MODULES = ("crash_ext_c.kdump", "crash_ext_c.flat", "crash_ext_c.elf", "crash_ext_c.open",
                  "crash_ext_c.vmcoreinfo", "pykdump_ext.capture.buffer", "makedumpfile_filter.check",
                  "pykdump_ext.pci.config", "pykdump_ext.pci.tlp", "pykdump_ext.pci.regs",
                  "pykdump_ext.output.device_text", "pykdump_ext.pci.lspci_hex", "pykdump_ext.analysis.report",
                  "pykdump_ext.analysis.topology", "pykdump_ext.analysis.errpath", "pykdump_ext.analysis.verdict",
                  "pykdump_ext.output.render", "pykdump_ext.output.report_json")


def instrument():
    """Call before the harness imports the parsers: they get coverage instrumentation."""
    global _INSTRUMENT
    try:
        import atheris
    except ImportError:
        return
    _INSTRUMENT = atheris.instrument_imports(include=["pykdump_ext", "crash_ext_c"])
    _INSTRUMENT.__enter__()
    # the readers and the capture code are also imported lazily (open_dump picks the
    # reader, exercise_reader loads check/capture): import them now, instrumented
    import importlib
    for name in PARSER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def keep_freed_memory():
    """glibc: keep freed blocks (up to 64 MiB) instead of unmapping them.  In a VM every
    fresh page faults expensively: a 1 MiB bitmap read of a sparse input cost 1.3 ms of
    page faults, 0.09 ms with the memory kept.  Allocation sizes and tracemalloc peaks
    are unchanged; only RSS stays at its high-water mark."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 256 << 20)      # M_TRIM_THRESHOLD
        libc.mallopt(-3, 64 << 20)       # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def main(module, argv=None):
    """atheris entry point: `python fuzz/fuzz_X.py [libFuzzer args] [corpus dirs]`.

    With no corpus directory on the command line the seed corpus is used.
    Every 100th input is run under tracemalloc to check the memory bound."""
    import atheris
    global _INSTRUMENT, USE_ALARM
    USE_ALARM = False
    keep_freed_memory()
    if _INSTRUMENT is not None:
        _INSTRUMENT.__exit__(None, None, None)
        _INSTRUMENT = None
    argv = list(sys.argv if argv is None else argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        d = corpus_dir(module.NAME)
        if os.path.isdir(d):
            argv.append(d)
    n = [0]
    # a niced campaign on a loaded machine measures wall time far above CPU time: there
    # FUZZ_TIME_LIMIT raises the bound, and the slow inputs are re-timed alone
    limit = float(os.environ.get("FUZZ_TIME_LIMIT", TIME_LIMIT))

    kinds = {}

    def one(data):
        n[0] += 1
        if data.startswith(SHAPE_MAGIC) and len(data) > len(SHAPE_MAGIC):
            k = chr(data[len(SHAPE_MAGIC)])
            kinds[k] = kinds.get(k, 0) + 1
        if n[0] % 100000 == 0:       # how many inputs had each shape (for the records)
            sys.stderr.write("#%d shaped inputs: %s\n" % (n[0], " ".join(
                "%s=%d" % (k, v) for k, v in sorted(kinds.items()) if k in "SPR")))
        check_one(module.target, data, memory=n[0] % 100 == 0, time_limit=limit)

    def mutator(data, max_size, seed):
        # one input in SHAPE_SHARE gets a shape-level mutation (libFuzzer alone seldom
        # writes a valid shape header, so the campaign would hardly see the shapes)
        if shaped and seed % SHAPE_SHARE == 0:
            return reshape(data, random.Random(seed))[:max_size]
        return atheris.Mutate(data, max_size)

    shaped = getattr(module, "SHAPES", False)
    atheris.Setup(argv, one, **({"custom_mutator": mutator} if shaped else {}))
    atheris.Fuzz()


# ------------------------------------------------------------------ in-memory files

class BytesSource:
    """`name`, `size`, `pread()` over bytes: what crash_ext_c.kdump.KdumpReader accepts."""

    def __init__(self, data, name="<fuzz>"):
        self.data = bytes(data)
        self.name = name
        self.size = len(self.data)

    def pread(self, offset, size):
        if size <= 0 or offset < 0 or offset >= self.size:
            return b""
        return self.data[offset:offset + size]

    def close(self):
        pass


class MemFile:
    """A path whose contents are `data`, for readers that only take paths.

    memfd (no file system) when the platform has it, else a file in /dev/shm."""

    def __init__(self, data, name="fuzz"):
        self.fd = None
        self.tmp = None
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create(name)
            os.write(self.fd, data) if data else None
            self.path = "/proc/self/fd/%d" % self.fd
        else:
            import tempfile
            d = "/dev/shm" if os.path.isdir("/dev/shm") else None
            fd, self.tmp = tempfile.mkstemp(dir=d)
            os.write(fd, data)
            os.close(fd)
            self.path = self.tmp

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
        if self.tmp:
            os.unlink(self.tmp)


def near_top(pfns, reader, *more):
    """`pfns`, `more`, and the reader's last pfn and the one past it, sorted once each."""
    return sorted(set(pfns) | {reader.max_pfn - 1, reader.max_pfn, *more})


def exercise_reader(reader, pfns=None, budget=64, seen=None):
    """Touch what a front end would: statuses, a few pages, read_phys, the capture.

    `pfns` defaults to a spread over max_pfn.  Bounded: at most `budget` pages.
    `seen` (a dict) receives the "statuses" and "pages" read, so a harness's
    differential need not read them again."""
    from pykdump_ext.capture.buffer import load_capture
    top = reader.max_pfn or 0
    if pfns is None:
        pfns = sorted({0, 1, 2, 3, top // 2, max(top - 1, 0), top, top + 1})
    pfns = list(pfns)[:budget]
    statuses = reader.page_statuses(pfns)
    got = reader.read_pages(pfns)
    if seen is not None:
        seen.update(statuses=statuses, pages=got)
    for v in got.values():
        if isinstance(v, BaseException) and not isinstance(v, PcicrashError):
            raise v
        if isinstance(v, PcicrashError):
            problem = check_error(v)
            if problem:
                raise AssertionError("read_pages returned a bad error: %s" % problem)
        elif len(v) != reader.page_size:
            raise AssertionError("page of %d bytes, page size %d" % (len(v), reader.page_size))
    for pfn in pfns[:4]:
        try:
            reader.read_page(pfn)
        except PcicrashError as exc:
            problem = check_error(exc)
            if problem:
                raise AssertionError("read_page raised a bad error: %s" % problem) from exc
    try:
        from makedumpfile_filter.check import check
        from pykdump_ext.output import check_view
    except ImportError:
        check = None
    if check is not None:       # --check: which capture pages the dump holds, and why not
        res = check(reader)
        for line in check_view.lines(res):
            if "\n" in line:
                raise AssertionError("--check line not one line: %r" % line)
        check_view.to_json(res)
    cap = load_capture(reader)
    if cap.state not in ("captured", "skipped", "absent", "partial", "corrupt"):
        raise AssertionError("capture state %r" % cap.state)
    if "\n" in cap.reason:
        raise AssertionError("capture reason is not one line: %r" % cap.reason)
    return cap


# ------------------------------------------------------------------ shapes
#
# What bytes alone cannot say about a file: that it is sparse (a small file declaring
# gigabytes, its tables in holes), that it is not a regular file at all (a pipe), or
# that one stretch of it repeats many times (a record duplicated 100,000 times).  An
# input that starts with SHAPE_MAGIC carries one shape header, then the file bytes;
# libFuzzer mutates the header like any other bytes.
#
#   SHAPE_MAGIC, kind (1 byte), pad (1), count (u16), at (u32), span (u32), hole (u64)
#   kind 'S': sparse: `count` pieces, a table of (file offset u64, length u32) then their
#             bytes; zeros (a hole, never stored) between them and `hole` bytes after
#   kind 'P': the file is a pipe (FIFO) holding the bytes
#   kind 'R': the `span` bytes at `at` repeated `count` * 64 more times (duplicate records)

SHAPE_MAGIC = b"pcicrash-shape\0"
SHAPE = struct.Struct("<BBHIIQ")
PIECE = struct.Struct("<QI")
MAX_HOLE = 1 << 44            # 16 TiB of declared-but-absent file
MAX_PIECES = 64
MAX_REPEAT = 64 << 10         # repeated bytes: inside the 1 s per input of instrumented runs
REPEAT_UNIT = 64


def shape(kind, payload, *, at=0, span=0, count=0, hole=0):
    """An input of shape `kind` around the file bytes `payload` (for seeds and tests)."""
    return SHAPE_MAGIC + SHAPE.pack(ord(kind), 0, count, at, span, hole) + payload


def unshape(data, repeat_cap=MAX_REPEAT):
    """(kind or None, pieces [(file offset, bytes)], file size) for a harness input."""
    if not data.startswith(SHAPE_MAGIC) or len(data) < len(SHAPE_MAGIC) + SHAPE.size:
        return None, [(0, data)], len(data)
    kind, _pad, count, at, span, hole = SHAPE.unpack_from(data, len(SHAPE_MAGIC))
    body = data[len(SHAPE_MAGIC) + SHAPE.size:]
    kind = chr(kind)
    if kind == "S":
        n = min(count, MAX_PIECES, len(body) // PIECE.size)
        pos = n * PIECE.size
        pieces = []
        for i in range(n):
            off, length = PIECE.unpack_from(body, i * PIECE.size)
            off = min(off, MAX_HOLE)
            pieces.append((off, body[pos:pos + length]))
            pos += length
        if not pieces:
            pieces = [(0, body)]
        end = max(o + len(b) for o, b in pieces)
        return "S", pieces, end + min(hole, MAX_HOLE)
    if kind == "R":
        at = min(at, len(body))
        run = body[at:at + span]
        times = count * REPEAT_UNIT
        if run and len(run) * times > repeat_cap:
            times = repeat_cap // len(run)
        body = body[:at] + run * times + body[at:]
        return "R", [(0, body)], len(body)
    if kind == "P":
        return "P", [(0, body)], len(body)
    return None, [(0, body)], len(body)


class SparseSource(BytesSource):
    """name/size/pread/data_from over pieces of a sparse file: zeros between them."""

    def __init__(self, pieces, size, name="<fuzz>"):
        self.pieces = [(o, bytes(b)) for o, b in pieces if b]
        self.name = name
        self.size = size

    def pread(self, offset, size):
        end = min(offset + size, self.size)
        if size <= 0 or offset < 0 or offset >= end:
            return b""
        hits = [(o, b) for o, b in self.pieces if o < end and o + len(b) > offset]
        if not hits:                    # all hole: one zeroed allocation, no copy
            return bytes(end - offset)
        if len(hits) == 1 and hits[0][0] <= offset and hits[0][0] + len(hits[0][1]) >= end:
            o, b = hits[0]
            return b[offset - o:end - o]
        out = bytearray(end - offset)
        for o, b in hits:
            lo, hi = max(o, offset), min(o + len(b), end)
            out[lo - offset:hi - offset] = b[lo - o:hi - o]
        return bytes(out)

    def data_from(self, offset):
        nxt = [max(o, offset) for o, b in self.pieces if o + len(b) > offset]
        return min(nxt) if nxt else self.size


def shaped_source(data, name="<fuzz>"):
    """The in-memory source an input stands for, or None for a non-regular file."""
    kind, pieces, size = unshape(data)
    if kind == "P":
        return None
    if kind == "S":
        return SparseSource(pieces, size, name)
    return BytesSource(pieces[0][1], name)


class ShapedFile:
    """A path for an input: a (sparse) memfd, or a pipe holding the bytes (kind 'P')."""

    def __init__(self, data, name="fuzz"):
        self.kind, self.pieces, self.size = unshape(data)
        self.fds = []

    def __enter__(self):
        if self.kind == "P":
            r, w = os.pipe()
            self.fds = [r, w]
            os.set_blocking(w, False)
            try:
                os.write(w, self.pieces[0][1][:4096])
            except (BlockingIOError, BrokenPipeError):
                pass
            return "/proc/self/fd/%d" % r
        if not hasattr(os, "memfd_create"):
            self.mem = MemFile(b"".join(b for _o, b in self.pieces))
            return self.mem.__enter__()
        fd = os.memfd_create("fuzz")
        self.fds = [fd]
        os.ftruncate(fd, self.size)
        for off, b in self.pieces:
            if b:
                os.pwrite(fd, b, off)
        return "/proc/self/fd/%d" % fd

    def __exit__(self, *exc):
        for fd in self.fds:
            os.close(fd)
        if getattr(self, "mem", None):
            self.mem.__exit__(*exc)


def expect_refused(fn):
    """fn() on a non-regular file must raise a located PcicrashError, at once."""
    try:
        fn()
    except PcicrashError as exc:
        if "pipe" not in str(exc):
            raise AssertionError("a pipe refused without saying so: %s" % exc) from exc
        raise
    raise AssertionError("a pipe was accepted as a dump")
