"""`pcicrash --extract OUT DUMP...`: a triage extract, a kdump-compressed file holding only
the pages the analysis reads.

The analysis runs once over the dump through a RecordingReader: the capture
(pagemap, buffer), the kernel log, and with --vmlinux the kernel structures
drgn reads.  Every page it touched is written to OUT as the source holds it
(bytes copied unchanged when the compression matches), with VMCOREINFO in
the sub-header's note area and one "PCICRASH" note saying what OUT is and
where it came from; nothing else.  OUT is then opened again and every page
compared with the source before it is called done.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, TYPE_CHECKING, Tuple, Union

from pykdump_ext import __version__
from crash_ext_c.errors import PcicrashError
from crash_ext_c.reader import PageStatus
from pykdump_ext.capture.recording import RecordingReader

if TYPE_CHECKING:
    from crash_ext_c.kdump_write import PageOut
    from pykdump_ext.analysis.report import Report
    from pykdump_ext.kernel.klog.records import KernelLog
    from crash_ext_c.reader import MemoryReader



@dataclass
class ExtractResult:
    path: str
    size: int
    source: str
    source_size: int
    codec: str
    pfns: List[int] = field(default_factory=list)      # every page in the 2nd bitmap
    stored: int = 0
    zero: int = 0
    lost: int = 0
    copied: int = 0               # stored bytes taken from the source unchanged
    recompressed: int = 0
    not_kept: Dict[str, int] = field(default_factory=dict)   # status -> pages asked, not storable
    log_pfns: int = 0             # pages the kernel-log reader reported reading
    support_pfns: int = 0         # pages only makedumpfile's own reads need (page tables...)
    analysis: set = field(default_factory=set)   # pfns the analysis touched (+ the log's)
    support: set = field(default_factory=set)    # pfns the peers' own reads added
    makedumpfile: str = ""        # whether makedumpfile --dump-dmesg reads the extract
    crash: str = ""               # whether crash --minimal opens it (with --vmlinux)
    report: object = None
    exit_code: int = 0

    def lines(self) -> List[str]:
        out = ["pcicrash: wrote triage extract %s: %d bytes (source %s: %d bytes)"
               % (self.path, self.size, self.source, self.source_size),
               "  %d pages: %d stored (%d copied unchanged, %d compressed %s), %d zero, %d lost"
               % (len(self.pfns), self.stored, self.copied, self.recompressed, self.codec,
                  self.zero, self.lost)]
        if self.makedumpfile:
            out.append("  makedumpfile --dump-dmesg %s; crash --minimal %s%s"
                       % (self.makedumpfile, self.crash,
                          " (%d pages added for their own reads: page tables, mem_section,"
                          " utsname...)" % self.support_pfns if self.support_pfns else ""))
        if self.not_kept:
            out.append("  asked about, not stored (the source does not hold them): %s"
                       % ", ".join("%d %s" % (n, s) for s, n in sorted(self.not_kept.items())))
        v = getattr(self.report, "verdict", None)
        if v is not None and v.lines:
            out.append("  " + v.lines[0])
        return out


def record(reader: MemoryReader, *, vmlinux: Optional[str] = None, dump_path: Optional[str] = None,
           ) -> Tuple[Report, RecordingReader]:
    """(Report, RecordingReader): the full analysis run over `reader`, every view's data
    produced (the JSON form loads every lazy part), the kernel log read (pcicrash --dmesg)
    when the analysis did not, with the pages it all touched noted."""
    from . import report_json
    from pykdump_ext.analysis.report import analyse
    rec = RecordingReader(reader)
    kernel = None
    if vmlinux:
        from pykdump_ext.kernel.drgn_source import kernel_info
        kernel = kernel_info(rec, dump_path, vmlinux, lazy=True)
    rep = analyse(rec, kernel=kernel, names="system")
    report_json.dumps(rep)              # kernel extras and anything else read lazily
    rec.kernel_log = report_log(rep)
    if rec.kernel_log is None:
        try:
            from pykdump_ext.kernel.klog.reader import read_kernel_log
        except ImportError:             # an installation without the log reader
            pass
        else:
            rec.kernel_log = read_kernel_log(rec)
    return rep, rec


def report_log(rep: Report) -> Optional[KernelLog]:
    """The KernelLog the analysis read into the report, if it did."""
    for name in ("kernel_log", "klog", "log"):
        klog = getattr(rep, name, None)
        if getattr(klog, "pfns", None) is not None:
            return klog
    return None


def log_pfns(rec: RecordingReader) -> Set[int]:
    """Pages the kernel-log reader says it read (KernelLog.pfns); `rec` a RecordingReader."""
    klog = rec.kernel_log
    return set(getattr(klog, "pfns", None) or ())


# ---- what makedumpfile itself reads on top of the analysis' pages
#
# `makedumpfile --dump-dmesg` starts with its own initialisation (release check
# in init_uts_ns, online nodes, the mem_section array) and turns every
# kernel-virtual address into a physical one by walking the swapper page table
# (x86_64 vtop4_x86_64: kernel-image addresses too).  Which pages that touches
# depends on its version and the architecture, so the extract asks makedumpfile
# itself: it runs on the extract, names the excluded page and the read it was
# part of, those pages come from the source, and again, until it reads the log
# or asks for nothing new.  They are kernel metadata (page tables, mem_section,
# node mask, utsname, printk ring), never user or file pages.

MDF_TRIES = 64                # makedumpfile runs at most
MDF_MAX_PAGES = 1 << 16       # pages makedumpfile may add in all
_MDF_EXCLUDED = re.compile(r"pfn\(([0-9a-f]+)\) is excluded")
_MDF_READMEM = re.compile(r"readmem: type_addr: (\d+), addr:([0-9a-f]+), size:(\d+)")
MDF_VADDR, MDF_PADDR = 0, 1   # makedumpfile's type_addr values
# what makedumpfile 1.7 says of any kernel newer than it knows, whether it then works or not
_MDF_WARNINGS = ("The kernel version is not supported.",
                 "The makedumpfile operation may be incomplete.")


def vtop_pages(reader: MemoryReader, info: Dict[str, str], vaddr: int) -> Tuple[Optional[int], List[int]]:
    """(physical address or None, pfns of the page-table pages read) for a kernel `vaddr`,
    translated as makedumpfile does: on x86_64 a page-table walk for every address,
    kernel-image ones too (vtop4_x86_64).  The walk is the log reader's (klog/vtop.py)."""
    from pykdump_ext.kernel.klog.physmem import PhysMem
    from pykdump_ext.kernel.klog.vtop import X86_64, VtopError, translator
    mem = PhysMem(reader)
    try:
        tr = translator(mem, info)
        if isinstance(tr, X86_64):
            # after __init__ (which needs it to place init_top_pgt): from here on every
            # address is walked, as vtop4_x86_64 does, instead of the image shortcut
            tr.image_shortcut = False
        phys = tr.vtop(vaddr)
    except (VtopError, PcicrashError):
        phys = None
    return phys, sorted(mem.pfns)


def _mdf_ranges(text, reader, info):
    """pfns that makedumpfile's complaint `text` names: each excluded page, and every page
    of the read it belonged to (with the page-table pages that translate it)."""
    ps = reader.page_size
    out = {int(m, 16) for m in _MDF_EXCLUDED.findall(text)}
    for kind, addr, size in _MDF_READMEM.findall(text):
        addr, size = int(addr, 16), min(int(size), MDF_MAX_PAGES * ps)
        if int(kind) == MDF_PADDR:
            out.update(range(addr // ps, (addr + max(size, 1) - 1) // ps + 1))
        elif int(kind) == MDF_VADDR:
            for v in range(addr & ~(ps - 1), addr + max(size, 1), ps):
                phys, tables = vtop_pages(reader, info, v)
                out.update(tables)
                if phys is not None:
                    out.add(phys // ps)
    return out


def _probe(write, source, wanted, support, reads, tries):
    """(pages `reads` needs beyond `wanted` and `support`, how it went): write a zlib copy
    of the extract, let the peer read it, add the pages it names, again.  zlib: Debian's
    makedumpfile has no snappy/zstd, and the pages a peer needs do not depend on it."""
    import tempfile
    support = set(support)
    with tempfile.TemporaryDirectory(prefix="pcicrash-probe-") as tmp:
        probe = os.path.join(tmp, "probe.kdump")
        for _ in range(tries):
            write(probe, support, "zlib")
            ok, more, why = reads(probe)
            more -= wanted | support
            if ok is None:
                return support, "not checked (%s)" % why
            if ok:
                return support, "reads it"
            if not more or len(support | more) > MDF_MAX_PAGES:
                return support, "cannot read it: %s" % why
            support |= more
    return support, "still asks for more pages after %d runs" % tries


CRASH_TRIES = 16
_CRASH_EXCLUDED = re.compile(r"page excluded: (kernel virtual|physical) address: ([0-9a-f]+)")


def crash_reads(path: str, vmlinux: str, reader: MemoryReader, info: Dict[str, str],
                ) -> Tuple[Optional[bool], Set[int], str]:
    """(ok, pfns, why): `crash --minimal VMLINUX path` opens the extract and runs `log`; else
    the page it stopped at (crash names one excluded address per run)."""
    import shutil
    import subprocess
    import tempfile
    exe = shutil.which("crash")
    if exe is None:
        return None, set(), "crash is not installed"
    with tempfile.NamedTemporaryFile("w", suffix=".crash") as cmds:
        cmds.write("log\nq\n")
        cmds.flush()
        try:
            # -d 1: in minimal mode crash says why it gives up only when debugging
            r = subprocess.run([exe, "-d", "1", "--minimal", "-i", cmds.name, str(vmlinux),
                                str(path)], capture_output=True, text=True, timeout=300,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            return False, set(), "crash did not run: %s" % exc
    text = r.stdout + r.stderr
    m = _CRASH_EXCLUDED.search(text)
    if m is None:
        ok = "crash> q" in text or "crash> log" in text
        err = next((l.strip() for l in text.splitlines() if l.startswith("crash:")),
                   "exit %d" % r.returncode)
        return ok, set(), err
    addr = int(m.group(2), 16)
    ps = reader.page_size
    if m.group(1) == "physical":
        return False, {addr // ps}, m.group(0)
    return False, _mdf_ranges("readmem: type_addr: %d, addr:%x, size:1" % (MDF_VADDR, addr),
                              reader, info), m.group(0)


def makedumpfile_reads(path: str, reader: MemoryReader, info: Dict[str, str],
                       ) -> Tuple[Optional[bool], Set[int], str]:
    """(ok, pfns, last message): run `makedumpfile --dump-dmesg` on the extract at `path`;
    ok when it printed the log, else the pages it said it could not read (from `reader`)."""
    import shutil
    import subprocess
    import tempfile
    exe = shutil.which("makedumpfile")
    if exe is None:
        return None, set(), "makedumpfile is not installed"
    with tempfile.TemporaryDirectory(prefix="pcicrash-mdf-") as tmp:
        out = os.path.join(tmp, "dmesg")
        try:
            r = subprocess.run([exe, "--dump-dmesg", str(path), out], capture_output=True,
                               text=True, timeout=120, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, set(), "makedumpfile did not run: %s" % exc
    text = r.stdout + r.stderr
    if r.returncode == 0:
        return True, set(), ""
    said = [l.strip() for l in text.splitlines() if l.strip() and l.strip() not in _MDF_WARNINGS]
    first = next((l for l in said if "Can't" in l), said[0] if said else
                 "exit %d" % r.returncode)
    if not _MDF_EXCLUDED.search(text):         # failing for another reason than a page
        return False, set(), first
    return False, _mdf_ranges(text, reader, info), first


def _marker(paths, source, result_pages, codec, vmcoreinfo_from, analysis, support, mdf):
    size = sum(_size(p) for p in paths)
    lines = [
        "PCICRASH_EXTRACT=1",
        "MADE_BY=%s" % __version__,
        "MADE_AT=%s" % datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC"),
        "SOURCE=%s" % " ".join(os.path.abspath(p) for p in paths),
        "SOURCE_FORMAT=%s" % source.format,
        "SOURCE_SIZE=%d" % size,
        "PAGES=%d" % result_pages,
        "PAGES_ANALYSIS=%d" % analysis,
        "PAGES_MAKEDUMPFILE=%d" % support,
        "PEERS_CHECKED=makedumpfile --dump-dmesg %s" % mdf,
        "COMPRESSION=%s" % codec,
        "VMCOREINFO_FROM=%s" % (vmcoreinfo_from or "the dump"),
    ]
    return ("\n".join(l.replace("\n", " ") for l in lines) + "\n").encode()


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


if TYPE_CHECKING:   # (pfn, codec) -> (page, how)
    Memo = Dict[Tuple[int, str], Tuple[Optional[PageOut], Optional[str]]]


def plan(source: MemoryReader, pfns: Iterable[int], codec: str, memo: Optional[Memo] = None,
         ) -> Tuple[Dict[int, PageOut], Dict[str, Any]]:
    """{pfn: Page | ZERO | LOST} for the pages asked about, and counters.  `memo` (a dict
    kept by the caller) saves reading a page again when the same set grows."""
    from crash_ext_c.kdump_write import LOST, ZERO, compress_page, stored_page
    memo = {} if memo is None else memo
    top = source.max_pfn
    todo = sorted(p for p in pfns if (top is None or p < top) and (p, codec) not in memo)
    if todo:
        statuses = dict(zip(todo, source.page_statuses(todo)))
        readable = [p for p in todo if statuses[p].readable and statuses[p] is not PageStatus.ZERO]
        got = source.read_pages(readable)
        raw = stored_page(source, readable, codec)
        kdump_source = source.stored_pages is not None
        for pfn in todo:
            st = statuses[pfn]
            if st is PageStatus.ZERO:
                memo[pfn, codec] = (ZERO, "zero")
            elif st is PageStatus.LOST:
                memo[pfn, codec] = (LOST, "lost")
            elif st.readable:
                data = got.get(pfn)
                if not isinstance(data, bytes):
                    memo[pfn, codec] = (None, "unreadable")
                elif not kdump_source and not any(data):
                    memo[pfn, codec] = (ZERO, "zero")   # what makedumpfile -d 1 makes of it
                elif pfn in raw:
                    memo[pfn, codec] = (raw[pfn], "copied")
                else:
                    memo[pfn, codec] = (compress_page(codec, data), "recompressed")
            elif st in (PageStatus.EXCLUDED, PageStatus.OUTSIDE):
                memo[pfn, codec] = (None, None)          # the extract says the same
            else:
                memo[pfn, codec] = (None, st.value)
    pages = {}
    not_kept: Dict[str, int] = {}
    counts: Dict[str, Any] = dict(copied=0, recompressed=0, not_kept=not_kept)
    for pfn in pfns:
        page, how = memo.get((pfn, codec), (None, None))
        if page is not None:
            pages[pfn] = page
            if how in ("copied", "recompressed"):
                counts[how] += 1
        elif how is not None:
            not_kept[how] = not_kept.get(how, 0) + 1
    return pages, counts


def make_extract(paths: Union[str, os.PathLike, Sequence[str]], out: Union[str, os.PathLike], *,
                 codec: Optional[str] = None, vmcoreinfo: Optional[str] = None,
                 vmlinux: Optional[str] = None, makedumpfile_check: bool = True) -> ExtractResult:
    """Analyse the dump in `paths`, write the triage extract to `out`, check it, return a summary."""
    from crash_ext_c.kdump_write import CODECS, source_codec, source_layout, write_kdump
    from crash_ext_c.open import open_dump
    if isinstance(paths, (str, os.PathLike)):
        paths = [str(paths)]
    paths = [str(p) for p in paths]
    if os.path.abspath(str(out)) in {os.path.abspath(p) for p in paths}:
        raise PcicrashError("the extract would overwrite its own source", path=str(out))
    with open_dump(paths, vmcoreinfo=vmcoreinfo) as source:
        rep, rec = record(source, vmlinux=vmlinux, dump_path=paths[0])
        klog = log_pfns(rec)
        codec = codec or source_codec(source)
        if codec not in CODECS:
            raise PcicrashError("unknown compression %r" % codec,
                                expected=", ".join(sorted(CODECS)))
        wanted = rec.pfns | klog
        override = None
        if vmcoreinfo is not None:
            override = "".join("%s=%s\n" % kv for kv in source.vmcoreinfo.items()).encode()

        memo: Memo = {}
        import tempfile
        ram = tempfile.TemporaryFile()      # the 1st bitmap, read from the dump once
        for chunk in source_layout(source, codec, b"", vmcoreinfo_text=override)[1]:
            ram.write(chunk)

        def write(path, support, codec, mdf="not tried"):
            pages, counts = plan(source, wanted | support, codec, memo)
            marker = _marker(paths, source, len(pages), codec, vmcoreinfo,
                             len(wanted), len(support), mdf)
            layout, _ = source_layout(source, codec, marker, vmcoreinfo_text=override)
            layout.incomplete = bool(source.incomplete)
            return write_kdump(str(path), layout, pages, _replay(ram)), pages, counts

        support: Set[int]
        support, mdf, crash = set(), "not tried (--analysis-pages-only)", \
            "not tried (needs --vmlinux)"
        info = source.vmcoreinfo or {}
        if makedumpfile_check:
            support, mdf = _probe(write, source, wanted, support,
                                  lambda path: makedumpfile_reads(path, source, info), MDF_TRIES)
            if vmlinux:
                support, crash = _probe(write, source, wanted, support,
                                        lambda path: crash_reads(path, vmlinux, source, info),
                                        CRASH_TRIES)
        written, pages, counts = write(out, support, codec, "%s; crash --minimal %s"
                                       % (mdf, crash))
        ram.close()
        verify(str(out), source, pages)
    from pykdump_ext.capture.buffer import CaptureState
    cap = rep.capture
    res = ExtractResult(path=str(out), size=written.size, source=" ".join(paths),
                        source_size=sum(_size(p) for p in paths), codec=codec,
                        pfns=written.pfns, stored=written.stored, zero=written.zero,
                        lost=written.lost, copied=counts["copied"],
                        recompressed=counts["recompressed"], not_kept=counts["not_kept"],
                        log_pfns=len(klog), support_pfns=len(support), makedumpfile=mdf,
                        crash=crash, analysis=set(wanted), support=set(support),
                        report=rep,
                        exit_code=0 if cap.state == CaptureState.CAPTURED else 1)
    return res


def _replay(f, chunk=1 << 20):
    f.seek(0)
    while True:
        data = f.read(chunk)
        if not data:
            return
        yield data


def verify(path: str, source: MemoryReader, pages: Dict[int, PageOut]) -> None:
    """Open the written extract and compare every page with the source: the same bytes for
    every stored or zero page, LOST where the source lost it, nothing else stored."""
    from crash_ext_c.kdump import KdumpReader
    from crash_ext_c.kdump_write import LOST
    with KdumpReader(path) as ext:
        want = sorted(pages)
        readable = [p for p in want if pages[p] != LOST]
        mine, theirs = ext.read_pages(readable), source.read_pages(readable)
        for pfn in readable:
            got = mine[pfn]
            if not isinstance(got, bytes) or got != theirs[pfn]:
                raise PcicrashError("page 0x%x of the extract does not read back as the"
                                    " source's (%s)" % (pfn, got if not isinstance(got, bytes)
                                                        else "different bytes"), path=path)
        for pfn in want:
            if pages[pfn] == LOST and ext.page_status(pfn) is not PageStatus.LOST:
                raise PcicrashError("page 0x%x should read as lost" % pfn, path=path)
        stored = ext.parts[0].count_stored(0, ext.max_pfn)
        if stored != len(pages):
            raise PcicrashError("the extract's bitmap holds %d pages, %d were written"
                                % (stored, len(pages)), path=path)


# ---- command line: --extract, --example, --install-units

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "aer-uncor.triage.kdump")
