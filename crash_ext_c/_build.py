"""cffi build script (API mode, out of line) for crash_ext_c._pfnmap.

setup.py hands `ffibuilder` to cffi's setuptools hook; running this file
directly builds the module in place (handy while developing).
"""

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def cdef_from_header(path: str) -> str:
    """pfnmap.h as cffi wants it: its PFNMAP_* constants (values left to the compiler)
    and its prototypes, so the header stays the one declaration of the interface."""
    out = []
    for line in open(path):
        code = line.split("/*")[0].rstrip()
        define = re.match(r"#define (PFNMAP_\w+)\s+\S", code)
        if define:
            out.append("#define %s ..." % define.group(1))
        elif code and not code.startswith("#") and not code.lstrip().startswith("*"):
            out.append(code)
    return "\n".join(out)


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(os.path.join(HERE, "pfnmap.h")))
ffibuilder.set_source(
    "crash_ext_c._pfnmap",
    '#include "pfnmap.h"',
    # Relative paths: setuptools runs the build from the project root and
    # rejects absolute source paths in a wheel build.
    sources=[os.path.relpath(os.path.join(HERE, "pfnmap.c"))],
    include_dirs=[HERE],
    libraries=["z", "lzo2", "snappy", "zstd"],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.dirname(HERE), verbose=True)
