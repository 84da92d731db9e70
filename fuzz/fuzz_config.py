"""Config-space decoders: config.decode (header, capability chains, PCIe, AER, DPC,
TLP header log), device_text.describe, lspci_hex.hexdump.

decode() and describe() promise never to raise and catch their own bugs into a
"internal ... error" line; this harness counts such a line as a bug too.

    python -m fuzz.fuzz_config -runs=1000000 -timeout=1 -rss_limit_mb=2048
"""
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from pykdump_ext.pci import config, lspci_hex
from pykdump_ext.output import device_text
from crash_ext_c.errors import PcicrashError

NAME = "config"


def target(data):
    try:
        cfg = config.decode(data)
    except PcicrashError as exc:
        raise AssertionError("config.decode raised (it promises not to): %s" % exc) from exc
    bad = [p for p in cfg.problems if "internal" in p]
    if bad:
        raise AssertionError("decode swallowed a bug: %s" % bad[0])
    for p in cfg.problems:
        if "\n" in p:
            raise AssertionError("problem not one line: %r" % p)
    lines = device_text.describe(cfg, bdf="0000:00:1c.0")
    bad = [l for l in lines if "internal error" in l]
    if bad:
        raise AssertionError("describe swallowed a bug: %s" % bad[0])
    if any("\n" in l for l in lines):
        raise AssertionError("describe produced a multi-line line")
    if data:
        lspci_hex.hexdump("0000:00:1c.0", data[:4096])


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
