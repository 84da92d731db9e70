"""The `pcicrash --check` views of a check.CheckResult (and of the kernel log's
klog.logcheck.LogCheck in it): text lines and the -j object."""

from __future__ import annotations

from typing import Any, List


def finding_line(f: Any) -> str:
    """One finding (a capture page not simply stored, or an eraseinfo rule) as one line."""
    if f.what == "eraseinfo":
        head = "eraseinfo"
    elif f.what == "pagemap":
        head = "pagemap page pfn 0x%x (physical 0x%x)" % (f.pfn, f.phys)
    elif f.pfn is None:
        head = "buffer page %d (address unknown)" % f.index
    else:
        head = "buffer page %d pfn 0x%x (physical 0x%x)" % (f.index, f.pfn, f.phys)
    return "%s: %s%s: %s" % (head, f.tag, " (harmless)" if f.harmless else "", f.reason)


def finding_json(f: Any) -> dict:
    return dict(what=f.what, status=f.tag if f.status or f.damaged else None,
                index=f.index, pfn=f.pfn, phys=f.phys, harmless=f.harmless,
                reason=f.reason)


def _run_lines(findings: List[Any]) -> List[str]:
    """One line per finding; consecutive buffer pages (index and pfn both +1) with the
    same status and reason share a line that names the index, pfn and address ranges."""
    out = []
    i = 0
    while i < len(findings):
        f = findings[i]
        j = i + 1
        if f.what == "buffer" and f.pfn is not None:
            while (j < len(findings) and findings[j].what == "buffer"
                   and findings[j].pfn == findings[j - 1].pfn + 1
                   and findings[j].index == findings[j - 1].index + 1
                   and (findings[j].status, findings[j].reason, findings[j].harmless)
                   == (f.status, f.reason, f.harmless)):
                j += 1
        if j - i == 1:
            out.append(finding_line(f))
        else:
            last = findings[j - 1]
            size = (last.phys - f.phys) // (last.pfn - f.pfn)
            out.append("buffer pages %d-%d pfn 0x%x-0x%x (physical 0x%x-0x%x): %s%s: %s" % (
                f.index, last.index, f.pfn, last.pfn, f.phys, last.phys + size - 1,
                f.tag, " (harmless)" if f.harmless else "", f.reason))
        i = j
    return out


def lines(res: Any, verbose: bool = False) -> List[str]:
    """The text --check prints; `verbose` adds the pagemap layout reasoning."""
    out = ["%s: %s" % (res.source, res.verdict)]
    if res.format:
        out.append("format: %s" % res.format)
    if res.pagemap_phys is not None:
        out.append("pagemap at physical 0x%x, layout %s, %d buffer page%s (%d bytes): "
                   "%d stored, %d zero, %d not stored"
                   % (res.pagemap_phys, res.layout, res.num_pages,
                      "" if res.num_pages == 1 else "s", res.buf_size,
                      res.pages_stored, res.pages_zero,
                      res.num_pages - res.pages_stored - res.pages_zero))
    out.extend(_run_lines(res.findings))
    why = [n for n in res.reasoning if verbose or "ambiguous" in n]
    out.extend("note: %s" % n for n in why + res.notes)
    if res.kernel_log is not None:
        out.extend(log_lines(res.kernel_log))
    return out


def to_json(res: Any) -> dict:
    """The object `pcicrash --check -j` prints."""
    return dict(source=res.source, exit_code=res.exit_code, verdict=res.verdict,
                format=res.format, pagemap_phys=res.pagemap_phys, layout=res.layout,
                num_pages=res.num_pages, buf_size=res.buf_size,
                pages_stored=res.pages_stored, pages_zero=res.pages_zero,
                findings=[finding_json(f) for f in res.findings],
                notes=list(res.reasoning) + list(res.notes),
                eraseinfo=res.eraseinfo,
                kernel_log=log_json(res.kernel_log) if res.kernel_log else None)


def log_lines(lc: Any) -> List[str]:
    """The kernel log's part of --check: whether its pages are in the dump, each missing one."""
    what = lc.format or "not found"
    if lc.complete and not lc.missing:
        head = "kernel log: OK: %s, %d records, all %d pages in the dump" % (
            what, lc.records, lc.pages)
    else:
        head = "kernel log: INCOMPLETE: %s, %d records read from %d pages; %d page%s not " \
               "in the dump" % (what, lc.records, lc.pages, len(lc.missing),
                                "" if len(lc.missing) == 1 else "s")
    out = [head]
    out += ["kernel log page pfn 0x%x (physical 0x%x): %s: %s"
            % (m.pfn, m.pfn * lc.page_size, m.status or "UNREADABLE", m.reason)
            for m in lc.missing]
    out += ["kernel log note: %s" % n for n in lc.notes]
    return out


def log_json(lc: Any) -> dict:
    """The "kernel_log" object of `--check -j`."""
    return dict(format=lc.format, records=lc.records, pages=lc.pages,
                complete=lc.complete, notes=list(lc.notes),
                missing=[dict(pfn=m.pfn, status=m.status, reason=m.reason)
                         for m in lc.missing])
