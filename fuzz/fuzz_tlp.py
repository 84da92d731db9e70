"""TLP header log (AER Header Log, 4 dwords): tlp.decode and dwords_from_wire.

    python -m fuzz.fuzz_tlp -runs=1000000 -timeout=1
"""
import struct
import sys

from fuzz import common

if __name__ == "__main__":
    common.instrument()

from pykdump_ext.pci import tlp

NAME = "tlp"


def target(data):
    n = min(len(data) // 4, 8)
    dw = struct.unpack_from("<%dI" % n, data) if n else ()
    t = tlp.decode(dw)
    if t is not None and not isinstance(t, tlp.Tlp):
        raise AssertionError("decode returned %r" % type(t))
    tlp.decode(tlp.dwords_from_wire(data[:64]))
    if t is not None:
        for name in ("kind", "category"):
            v = getattr(t, name)
            if not isinstance(v, str) or "\n" in v:
                raise AssertionError("%s = %r" % (name, v))


def seeds():
    return common.load_corpus(NAME)


if __name__ == "__main__":
    common.main(sys.modules[__name__])
