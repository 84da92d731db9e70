#!/bin/sh
# Long atheris campaign for one harness:  fuzz/campaign.sh NAME RUNS [extra libFuzzer args]
# Seeds are copied into a working corpus (the committed seed corpus is never written);
# log, working corpus and crash artifacts go under $FUZZ_OUT (default /tmp/pcicrash-fuzz).
set -eu
name=$1; runs=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-/tmp/pcicrash-fuzz}
mkdir -p "$out/work/$name" "$out/artifacts"
cp -n "$here/fuzz/corpus/$name/"* "$out/work/$name/" 2>/dev/null || true
cd "$here"
exec env PYTHONPATH="$here" "${PYTHON:-$here/.venv/bin/python}" -m "fuzz.fuzz_$name" \
    -runs="$runs" -timeout=1 -rss_limit_mb=2048 -max_len=${MAX_LEN:-262144} \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" "$@" "$out/work/$name"
