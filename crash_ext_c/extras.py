"""Optional packages of the fleet mode: import them, or say which extra brings them."""

import importlib

from .errors import UsageError

EXTRA = "fleet"


def need(module: str, what: str):
    """The imported `module`, or UsageError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError("%s needs the Python package %s, which is not installed (%s): "
                         "pip install 'pcicrash[%s]'"
                         % (what, module.split(".")[0], exc, EXTRA)) from None
