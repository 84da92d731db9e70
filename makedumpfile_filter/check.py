"""`pcicrash --check`: is the pci_crash capture in this dump, and if not, why?

Pure, standard library only.  Reads only what makedumpfile's filtering
decides: VMCOREINFO, the pagemap (through capture.read_pagemap, which also
looks at the first buffer page for the 'PCIC' header), the page statuses of
the pagemap and of every buffer page (bitmaps / descriptors / PT_LOAD
headers), and the dump's eraseinfo text.  Buffer contents are never read:
a ZERO status is enough to tell "all-zero buffer = capture skipped".

Exit codes (CheckResult.exit_code):
  0  the pagemap and every buffer page are in the dump (stored, or zero pages
     that read back as the zeros they were: a skipped capture is fine);
  1  a page is missing, a filter rule erased capture bytes, the pagemap is
     unusable, or the dump has no capture at all (no PCI_CRASH lines);
  2  the dump could not be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, TYPE_CHECKING, Tuple

from pykdump_ext.capture.buffer import dump_incomplete, read_pagemap
from crash_ext_c.errors import CaptureError, DumpFormatError, PageUnavailable, PcicrashError
from crash_ext_c.reader import PageStatus
from crash_ext_c.vmcoreinfo import to_int

if TYPE_CHECKING:
    from pykdump_ext.kernel.klog.logcheck import LogCheck
    from crash_ext_c.reader import MemoryReader

# makedumpfile's dump level bits (makedumpfile(8) -d): what each drops.
LEVEL_BITS = (
    (1, "zero pages"),
    (2, "page cache (non-private)"),
    (4, "page cache (private)"),
    (8, "user process pages"),
    (16, "free pages"),
)

# Why a page with this status is not stored, for a pci_crash page
# (kmalloc'd pagemap, kvmalloc'd buffer: slab / page-allocator kernel memory).
REASONS = {
    PageStatus.ZERO: (
        "zero page: makedumpfile dump level bit 1 kept it as the shared zero page, it "
        "reads back as the zeros it held"),
    PageStatus.ZERO_OR_EXCLUDED: (
        "zero or excluded: a p_filesz < p_memsz tail of makedumpfile -E output, read as "
        "zeros; ELF cannot say which, but dump levels 2/4/8 never drop kernel slab or "
        "page-allocator memory, so this is almost surely a zero page dropped by bit 1"),
    PageStatus.EXCLUDED: "excluded by the dump level",
    PageStatus.LOST: (
        "lost: the dump is incomplete (makedumpfile -L size limit reached or the disk "
        "filled up); the pages written last are missing: the highest pfns of a "
        "kdump-compressed dump, the last PT_LOAD segments of an ELF dump"),
    PageStatus.NOT_IN_PART: "in a --split part that was not given",
    PageStatus.ERASED: (
        "erased: its bytes were overwritten with 'X' by a makedumpfile --config/--eppic "
        "filter rule"),
    PageStatus.OUTSIDE: (
        "outside every memory range of the dump: the pagemap address is wrong or the "
        "dump does not cover this RAM"),
}

# eraseinfo lines as makedumpfile writes them: "erase <expr> size <n>" / "erase <expr> nullify"
_ERASE_RE = re.compile(r"^\s*erase\s+(\S+)(?:\s+(size)\s+(\S+)|\s+(nullify))?", re.I)


@dataclass
class Finding:
    """One page of the capture that is not simply stored, or one eraseinfo rule."""
    what: str                       # 'pagemap', 'buffer', 'eraseinfo'
    status: Optional[PageStatus]
    reason: str
    harmless: bool = False
    index: Optional[int] = None     # buffer page index
    pfn: Optional[int] = None
    phys: Optional[int] = None
    damaged: bool = False           # stored, but the dump's tables show it cannot be read

    @property
    def tag(self) -> str:
        """The finding's kind as --check prints it: a page status name, UNREADABLE,
        BAD_POINTER (stored but unusable), RULE (an eraseinfo rule)."""
        if self.damaged:
            return "UNREADABLE" if self.pfn is not None else "BAD_POINTER"
        if self.status is not None:
            return self.status.name
        return "RULE" if self.what == "eraseinfo" else "UNKNOWN"


@dataclass
class CheckResult:
    """What --check found (views: output/check_view.lines, to_json)."""
    source: str
    exit_code: int
    verdict: str                    # one line
    format: str = ""
    pagemap_phys: Optional[int] = None
    layout: Optional[str] = None
    num_pages: int = 0
    buf_size: int = 0
    pages_stored: int = 0           # buffer pages PRESENT
    pages_zero: int = 0             # buffer pages ZERO / ZERO_OR_EXCLUDED
    findings: List[Finding] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    eraseinfo: Optional[str] = None
    reasoning: List[str] = field(default_factory=list)    # layout validation (-v; JSON notes)
    kernel_log: Optional[LogCheck] = None     # the log's own pages

    @property
    def missing(self) -> List[Finding]:
        """Findings that make the check fail."""
        return [f for f in self.findings if not f.harmless]


# ---------------------------------------------------------------- reasons

def _level_text(level) -> str:
    if level is None:
        return "unknown dump level"
    names = [name for bit, name in LEVEL_BITS if level & bit]
    return "dump level %d (%s)" % (level, ", ".join(names) if names else "nothing excluded")


def _excluded_reason(reader):
    """Which dump level bit most likely dropped an allocated kernel page."""
    level = reader.dump_level
    text = "excluded by %s" % _level_text(level)
    if level is None:
        return text + ": the buffer is kernel memory, which only bit 1 (zero) or 16 (free) drop"
    if level & 16:
        return (text + ": of these only bit 16 (free pages) drops kernel memory, so the page "
                "was free at the crash (buffer freed, stale pagemap)")
    if level & 1:
        return text + ": bit 1 (zero pages): the page held only zeros"
    return text + ": no level bit drops kvmalloc'd kernel memory; the dump was filtered by other means"


def _not_in_part_reason(reader, pfn):
    for lo, hi in reader.missing_ranges:
        if lo <= pfn < hi:
            return ("in the --split part covering pfn 0x%x-0x%x, which was not given"
                    % (lo, hi))
    parts = reader.split_parts
    if parts:
        return ("in a --split part that was not given (given: %s)"
                % ", ".join("%s pfn 0x%x-0x%x" % (p["path"], p["start_pfn"], p["end_pfn"])
                            for p in parts))
    return REASONS[PageStatus.NOT_IN_PART]


def _reason(reader, status, pfn):
    if status is PageStatus.OUTSIDE and dump_incomplete(reader):
        return ("in no memory range of this incomplete dump: makedumpfile -E writes each "
                "PT_LOAD header only when it reaches that segment, so a cut (-L size limit, "
                "full disk) leaves the later segments out entirely: most likely lost")
    if status is PageStatus.EXCLUDED:
        return _excluded_reason(reader)
    if status is PageStatus.NOT_IN_PART:
        return _not_in_part_reason(reader, pfn)
    if status is PageStatus.ERASED and reader.eraseinfo:
        return REASONS[status] + " (eraseinfo: %s)" % "; ".join(
            l.strip() for l in reader.eraseinfo.splitlines() if l.strip())
    return REASONS.get(status, status.value)


# ---------------------------------------------------------------- eraseinfo

def erase_rules(text: Optional[str]) -> List[Tuple[str, str, bool]]:
    """[(symbol_expr, size_text or None, nullify)] from eraseinfo text."""
    rules = []
    for line in (text or "").splitlines():
        m = _ERASE_RE.match(line)
        if m:
            rules.append((m.group(1), m.group(3), bool(m.group(4))))
    return rules


def _rule_effect(expr, size, nullify):
    """(touches_capture, explanation) for one erase rule, judged by its symbol.

    makedumpfile erases by symbol: it resolves the expression with the
    vmlinux DWARF and overwrites that object's bytes (or, for a pointer with
    `size`, the bytes it points at) with 'X'; `nullify` zeroes the pointer
    itself.  The capture is found through VMCOREINFO, not through these
    variables, so only rules that follow pci_crash_buffer / pci_crash_pagemap
    into the data touch it."""
    base = re.split(r"[.\[-]", expr, maxsplit=1)[0]
    if not base.startswith("pci_crash"):
        return False, "rule on %s: not a pci_crash object" % expr
    if nullify:
        return False, ("rule nullifies the pointer %s only; the capture is located through "
                       "VMCOREINFO, its bytes are untouched" % expr)
    if base == "pci_crash_buffer" and expr == base:
        if size:
            return True, ("rule erases %s bytes of the buffer that pci_crash_buffer points at: "
                          "the capture is overwritten with 'X'" % size)
        return False, ("rule names the void * pci_crash_buffer without size: makedumpfile "
                       "erases nothing for it")
    if base == "pci_crash_pagemap":
        return True, ("rule erases the pagemap that pci_crash_pagemap points at (%s bytes): "
                      "the capture can no longer be located" % (size or "sizeof"))
    return False, "rule on %s: a pci_crash bookkeeping variable, not capture data" % expr


def _eraseinfo_findings(text):
    findings = []
    rules = erase_rules(text)
    if not rules:
        findings.append(Finding("eraseinfo", None, harmless=True,
                                reason="the dump carries eraseinfo but no erase rule could be "
                                       "parsed from it: %r" % (text or "")[:200]))
    for expr, size, nullify in rules:
        touches, why = _rule_effect(expr, size, nullify)
        findings.append(Finding("eraseinfo", PageStatus.ERASED if touches else None,
                                reason=why, harmless=not touches))
    return findings


# ---------------------------------------------------------------- the check

def _pagemap_page_findings(reader):
    """Status of the page VMCOREINFO's PCI_CRASH_PAGEMAP points at, when the pagemap could
    not be used: a page that is not simply stored explains why."""
    phys = to_int((reader.vmcoreinfo or {}).get("PCI_CRASH_PAGEMAP"), 16)
    if phys is None:
        return []
    pfn = phys // reader.page_size
    try:
        (st,) = reader.page_statuses([pfn])
    except PcicrashError:
        return []
    if st is PageStatus.PRESENT:
        return []
    reason = _reason(reader, st, pfn)
    if st is PageStatus.ZERO:
        reason = "the pagemap page is a zero page: it held no pagemap when the dump was taken"
    return [Finding("pagemap", st, reason, pfn=pfn, phys=pfn * reader.page_size)]


def _unreadable(exc) -> str:
    return "stored, but unreadable: %s" % exc.message()


def _pfn_span(addr, size, page_size):
    return list(range(addr // page_size, (addr + size - 1) // page_size + 1))


def check(reader: MemoryReader) -> CheckResult:
    """The capture check, plus whether the kernel log's pages are in the dump (report only:
    the verdict and exit code stay the capture's)."""
    res = _check_capture(reader)
    from pykdump_ext.kernel.klog.logcheck import check_log
    res.kernel_log = check_log(reader, _reason)
    return res


def _check_capture(reader) -> CheckResult:
    """Check that the capture survived the dump's filtering; see the module docstring."""
    res = CheckResult(source=reader.name, exit_code=1, verdict="", format=reader.format)
    res.notes.extend(reader.notes)
    res.eraseinfo = reader.eraseinfo
    erase_findings = _eraseinfo_findings(res.eraseinfo) if res.eraseinfo else []
    rps = reader.page_size
    try:
        pm = read_pagemap(reader)
    except CaptureError as exc:
        status = getattr(exc, "page_status", None)
        phys = exc.offset
        if status is not None and phys is not None:
            pfn = phys // rps
            res.findings.append(Finding("pagemap", status, _reason(reader, status, pfn),
                                        pfn=pfn, phys=pfn * rps))
            res.verdict = "FAIL: the pagemap is not in the dump, nothing of the capture can be located"
        else:
            res.verdict = "FAIL: the pagemap is unusable: %s" % exc.message()
            if erase_findings and any(f.status is PageStatus.ERASED for f in erase_findings):
                res.verdict += " (an erase rule touched it, see eraseinfo)"
            res.findings.extend(_pagemap_page_findings(reader))
        res.findings.extend(erase_findings)
        return res
    except PageUnavailable as exc:   # a reader that raises instead of reporting a status
        res.verdict = "FAIL: the pagemap is not in the dump: %s" % exc.message()
        return res
    except DumpFormatError as exc:
        res.exit_code = 2
        res.verdict = "ERROR: cannot read the dump: %s" % exc.message()
        return res
    except PcicrashError as exc:     # a malformed PCI_CRASH_* value: as -j calls it corrupt
        res.verdict = "FAIL: the pagemap cannot be located: %s" % exc.message()
        return res
    if pm is None:
        if not reader.vmcoreinfo:
            res.verdict = ("FAIL: the dump carries no VMCOREINFO, so the capture cannot be "
                           "located (give the crashed kernel's VMCOREINFO with --vmcoreinfo FILE)")
        else:
            res.verdict = ("FAIL: no capture: VMCOREINFO has no PCI_CRASH lines (kernel without "
                           "CONFIG_PCI_CRASH, or no buffer was allocated)")
        res.findings.extend(erase_findings)
        return res

    kps = pm.page_size
    res.pagemap_phys, res.layout = pm.phys_addr, pm.layout
    res.num_pages, res.buf_size = pm.num_pages, pm.buf_size
    addrs_at = 16 if pm.layout == "A" else 20
    pm_pfns = _pfn_span(pm.phys_addr, addrs_at + 8 * pm.num_pages, rps)
    buf_pfns: List[Tuple[int, int]] = []                   # (index, pfn)
    for i, addr in enumerate(pm.page_addrs):
        if i in pm.bad_entries:
            res.findings.append(Finding("buffer", None, index=i, damaged=True, reason=(
                "pagemap entry %d is a bad pointer: %s" % (i, pm.bad_entries[i]))))
            continue
        if addr is None:
            res.findings.append(Finding("buffer", None, index=i, reason=(
                "its address is in pagemap bytes that are not in the dump")))
            continue
        buf_pfns.extend((i, p) for p in _pfn_span(addr, kps, rps))
    try:
        statuses = reader.page_statuses(pm_pfns + [p for _, p in buf_pfns])
    except PcicrashError as exc:
        res.exit_code = 2
        res.verdict = "ERROR: cannot read the dump's page tables: %s" % exc.message()
        return res
    pm_st, buf_st = statuses[:len(pm_pfns)], statuses[len(pm_pfns):]
    # stored, but the descriptor already shows the page cannot be read
    broken = reader.stored_problems([p for p, st in zip(pm_pfns + [p for _, p in buf_pfns],
                                                         statuses) if st is PageStatus.PRESENT])
    for pfn, st in zip(pm_pfns, pm_st):
        if pfn in broken:
            res.findings.append(Finding("pagemap", None, _unreadable(broken[pfn]), pfn=pfn,
                                        phys=pfn * rps, damaged=True))
        elif st is not PageStatus.PRESENT:
            res.findings.append(Finding("pagemap", st, _reason(reader, st, pfn),
                                        pfn=pfn, phys=pfn * rps))
    per_index: Dict[int, Any] = {}
    for (i, pfn), st in zip(buf_pfns, buf_st):
        if pfn in broken:
            per_index.setdefault(i, []).append(None)
            res.findings.append(Finding("buffer", None, _unreadable(broken[pfn]), index=i,
                                        pfn=pfn, phys=pfn * rps, damaged=True))
            continue
        per_index.setdefault(i, []).append(st)
        if st is PageStatus.PRESENT:
            continue
        zero_like = st in (PageStatus.ZERO, PageStatus.ZERO_OR_EXCLUDED)
        reason = _reason(reader, st, pfn)
        if zero_like:
            reason += ("; with no 'PCIC' header in the first buffer page the whole buffer is "
                       "zero: capture skipped" if not pm.header_found else
                       "; a zero page in a captured buffer is its unused tail")
        res.findings.append(Finding("buffer", st, reason, harmless=zero_like, index=i,
                                    pfn=pfn, phys=pfn * rps))
    for sts in per_index.values():
        if all(s is PageStatus.PRESENT for s in sts):
            res.pages_stored += 1
        elif all(s in (PageStatus.PRESENT, PageStatus.ZERO, PageStatus.ZERO_OR_EXCLUDED)
                 for s in sts):
            res.pages_zero += 1
    res.findings.extend(erase_findings)
    res.reasoning.extend(pm.notes[:1])
    res.notes.extend(pm.notes[1:])

    bad = res.missing
    if not bad:
        res.exit_code = 0
        if not pm.header_found and res.pages_zero == pm.num_pages:
            res.verdict = ("OK: the pagemap and all %d buffer pages are in the dump; they are "
                           "zero pages: the kernel skipped the capture (all-zero buffer)"
                           % pm.num_pages)
        elif not pm.header_found:
            res.verdict = ("OK: the pagemap and all %d buffer pages are in the dump; no 'PCIC' "
                           "header where the buffer starts: the capture was skipped (all-zero "
                           "buffer) or its header is damaged (pcicrash without --check tells)"
                           % pm.num_pages)
        else:
            res.verdict = ("OK: the pagemap and its buffer page are in the dump" if pm.num_pages == 1
                           else "OK: the pagemap and all %d buffer pages are in the dump"
                           % pm.num_pages)
        return res
    kinds = sorted({f.tag for f in bad})
    parts = []
    if any(f.what == "pagemap" and not f.damaged for f in bad):
        parts.append("pagemap pages missing")
    if any(f.what == "pagemap" and f.damaged for f in bad):
        parts.append("pagemap pages unreadable")
    n_pages = len({f.index for f in bad if f.what == "buffer" and not f.damaged})
    if n_pages:
        parts.append("%d of %d buffer pages missing" % (n_pages, pm.num_pages))
    n_bad = len({f.index for f in bad if f.what == "buffer" and f.damaged and f.pfn is not None})
    if n_bad:
        parts.append("%d of %d buffer pages stored but unreadable" % (n_bad, pm.num_pages))
    n_ptr = len({f.index for f in bad if f.what == "buffer" and f.damaged and f.pfn is None})
    if n_ptr:
        parts.append("%d of %d pagemap entries are bad pointers" % (n_ptr, pm.num_pages))
    if any(f.what == "eraseinfo" for f in bad):
        parts.append("an erase rule overwrote capture bytes")
    res.verdict = "FAIL: %s (%s)" % ("; ".join(parts), ", ".join(kinds))
    return res
