"""Terminal colours for the text views: ``--color=auto|always|never`` and NO_COLOR.

The views call ``current()`` at the few places that print the verdict and
error flags; the front end picks the style for one rendering with
``using(Style(on))``.  The default style is plain: every method returns its
text unchanged, so a view rendered without a chosen style is byte for byte
what it was before colours existed.  JSON and ``-x`` are never coloured (the
front end does not choose a colour style for them).  Standard library only
(it runs inside crash too).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator, Mapping, Optional, TextIO

# SGR codes per role: what the text says, not which colour it is
_SGR = {
    "error": "1;31",     # uncorrectable error, device unreachable, DPC, link down
    "warn": "33",        # correctable / masked errors, a capture that is not whole
    "ok": "32",          # nothing wrong
    "verdict": "1",      # the verdict line itself
}
MODES = ("auto", "always", "never")


class Style:
    """Paints text for a role when `on`; identity when off."""

    def __init__(self, on: bool = False) -> None:
        self.on = bool(on)

    def paint(self, role: str, text: str) -> str:
        if not self.on or not text:
            return text
        return "\x1b[%sm%s\x1b[0m" % (_SGR[role], text)

    def error(self, text: str) -> str:
        return self.paint("error", text)

    def warn(self, text: str) -> str:
        return self.paint("warn", text)

    def ok(self, text: str) -> str:
        return self.paint("ok", text)

    def verdict(self, text: str, *, fault: Optional[bool]) -> str:
        """The verdict line: bold red when it names a device at fault, bold green when nothing
        is wrong, bold yellow in between (None: errors seen, but the panic was not PCI's)."""
        if not self.on or not text:
            return text
        return "\x1b[1;%sm%s\x1b[0m" % ("33" if fault is None else "31" if fault else "32", text)


PLAIN = Style(False)
_CURRENT = contextvars.ContextVar("pcicrash_style", default=PLAIN)


def current() -> Style:
    return _CURRENT.get()


@contextlib.contextmanager
def using(style: Style) -> Iterator[Style]:
    token = _CURRENT.set(style)
    try:
        yield style
    finally:
        _CURRENT.reset(token)


def wants_color(mode: Optional[str], stream: TextIO, environ: Optional[Mapping[str, str]] = None) -> bool:
    """--color=always: yes; never: no; auto (default): only on a terminal, unless NO_COLOR is
    set to anything non-empty (https://no-color.org) or TERM is "dumb"."""
    env = os.environ if environ is None else environ
    if mode == "always":
        return True
    if mode == "never":
        return False
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):   # no isatty, or a closed stream
        return False
