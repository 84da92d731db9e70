"""Which remote objects a DUMP argument stands for: a glob, a 'directory', one object.

The objects are then read with crash_ext_c.remote.RangeSource (ranged requests).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from crash_ext_c.errors import PcicrashError
from crash_ext_c.remote import url_filesystem, url_protocol

GLOB_CHARS = "*?["


def list_urls(pattern: str, storage_options: Optional[Dict] = None) -> List[str]:
    """The object URLs a remote DUMP argument stands for: a glob, a 'directory' (every
    object under it) or one object (itself, unchecked: opening it reports problems)."""
    fs, path = url_filesystem(pattern, storage_options)
    try:
        if any(c in path for c in GLOB_CHARS):
            found = fs.glob(path)
        elif pattern.endswith("/") or fs.isdir(path):
            found = fs.find(path)
        else:
            return [pattern]
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise PcicrashError("cannot list: %s: %s" % (type(exc).__name__, exc),
                            path=pattern) from None
    proto = url_protocol(pattern)
    out = []
    for p in sorted(found):
        out.append(p if "://" in p else "%s://%s" % (proto, p.lstrip(os.sep)))
    return out
