#!/bin/sh
# The C helper under AddressSanitizer: fuzz/asan_pages.sh [mutations] [harness ...]
here=$(cd "$(dirname "$0")/.." && pwd)
exec env LD_PRELOAD="$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    PYTHONPATH="$here" "${PYTHON:-$here/.venv/bin/python}" "$here/fuzz/asan_replay.py" "$@"
