"""cffi build script (API mode, out of line) for crash_ext_c._pfnmap.

setup.py hands `ffibuilder` to cffi's setuptools hook; running this file
directly builds the module in place (handy while developing).
"""

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = FFI()
ffibuilder.cdef("""
    #define PFNMAP_CLEAR ...
    #define PFNMAP_OUT_RANGE ...
    #define PFNMAP_ZLIB ...
    #define PFNMAP_LZO ...
    #define PFNMAP_SNAPPY ...
    #define PFNMAP_ZSTD ...
    #define PFNMAP_OK ...
    uint64_t pfnmap_popcount(const uint8_t *buf, size_t nbytes);
    int64_t pfnmap_block_counts(const uint8_t *buf, size_t nbytes, size_t block_bytes,
                                uint64_t run, uint64_t *out, size_t nout);
    int pfnmap_rank(const uint8_t *buf, size_t nbytes, uint64_t block_bits,
                    const int64_t *base, size_t nbase,
                    const uint64_t *bit, size_t n, int64_t *out);
    int pfnmap_decompress(size_t n, const uint8_t *src, size_t src_len,
                          const uint64_t *src_off, const uint32_t *src_size,
                          const uint32_t *flags, uint32_t page_size,
                          uint8_t *dst, size_t dst_len, int32_t *err);
    const char *pfnmap_codec_error(int32_t code);
""")
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
