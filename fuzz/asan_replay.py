"""Run harnesses against an AddressSanitizer build of the C helper (crash_ext_c/pfnmap.c).

atheris gives coverage feedback only for Python, so the C helper gets this extra
check: build a copy with -fsanitize=address, load it in place of crash_ext_c._pfnmap,
and run the seeds plus N mutations of the harnesses that reach C code.  Run through
fuzz/asan_pages.sh (it preloads libasan):

    fuzz/asan_pages.sh [mutations] [harness ...]
"""
import importlib.util
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(outdir):
    from crash_ext_c import _build
    fb = _build.ffibuilder
    name, src, ext, kw = fb._assigned_source
    kw = dict(kw)
    kw["sources"] = [os.path.join(ROOT, "crash_ext_c", "pfnmap.c")]
    kw["extra_compile_args"] = ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"]
    kw["extra_link_args"] = ["-fsanitize=address"]
    fb._assigned_source = (name, src, ext, kw)
    return fb.compile(tmpdir=outdir)


def main(argv):
    mutations = int(argv[0]) if argv else 2000
    names = argv[1:] or ["pages", "kdump", "split", "flat"]
    outdir = tempfile.mkdtemp(prefix="pfnmap-asan-")
    path = build(outdir)
    spec = importlib.util.spec_from_file_location("crash_ext_c._pfnmap", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from crash_ext_c import kdump
    kdump._C = mod
    assert kdump.c_helper() is mod
    from fuzz import common
    for name in names:
        h = importlib.import_module("fuzz.fuzz_" + name)
        print(name, common.run(h, mutations=mutations, seed=7, memory_every=0), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
