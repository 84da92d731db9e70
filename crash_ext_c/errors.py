"""The one exception family every parser raises.

Contract: a parser (dump readers, VMCOREINFO, pagemap, buffer, config space)
raises only PcicrashError subclasses for anything the input can cause.  The
message names where (file and byte offset, or physical address) and what was
expected, so the CLI can print it on one line and go on with what it has.
"""

from typing import Any, Optional


class PcicrashError(Exception):
    """Base of every error that bad input can cause."""

    def __init__(self, what: str, *, path: Optional[str] = None, offset: Optional[int] = None,
                 expected: Optional[str] = None) -> None:
        self.what = what
        self.path = path
        self.offset = offset
        self.expected = expected
        super().__init__(self.message())

    # What `offset` counts: a byte offset in `path`, unless a subclass says otherwise.
    offset_label = "offset"

    def where(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        if self.offset is not None:
            parts.append("%s 0x%x" % (self.offset_label, self.offset))
        return ", ".join(parts)

    def message(self) -> str:
        text = self.what
        if self.expected is not None:
            text += " (expected %s)" % self.expected
        where = self.where()
        return "%s: %s" % (where, text) if where else text


class DumpFormatError(PcicrashError):
    """The dump file itself is unreadable at this point: wrong magic, truncated, inconsistent."""


class PageUnavailable(PcicrashError):
    """A physical page the caller asked for is not in the dump; `status` says why."""

    def __init__(self, what: str, *, pfn: int, status: Any, path: Optional[str] = None,
                 offset: Optional[int] = None, expected: Optional[str] = None) -> None:
        self.pfn = pfn
        self.status = status
        super().__init__(what, path=path, offset=offset, expected=expected)


class PageCutOff(PageUnavailable, DumpFormatError):
    """A page the dump's tables promise but whose bytes lie past the end of the file.

    Both a missing page (status LOST: the file was cut, by a full disk or a
    partial copy, without makedumpfile marking it incomplete) and a format
    error naming where the file ends; callers that want either catch it.
    """


class CaptureError(PcicrashError):
    """The pci_crash pagemap or buffer is inconsistent; `offset` is a physical address."""

    offset_label = "physical address"
    page_status: Any = None      # the PageStatus of a pagemap page the dump lacks (partial, not corrupt)


class UsageError(PcicrashError):
    """Bad command-line input (not the dump's fault)."""
