#!/usr/bin/env bash
# The one-shot device check (bench/gpu.py): one JSON line per stage in $OUT/gpu.jsonl.
#
#   bash bench/gpu_check.sh                   # on a CUDA machine (6.5 minutes on an H200)
#   bash bench/gpu_check.sh --device cpu      # tiny, on a CPU machine (minutes)
#
# Reads the carry folder bench/gpu_prepare.py made (.gpu_carry, or $GPU_CARRY): the
# sample clip, its object and convex cache, and the wheels a bare machine lacks (installed
# into /tmp/intermimic-gpu-site where missing). Exit status: 0 all stages ran (or were
# skipped, saying why), 1 a stage failed, 2 the sample clip is missing, 3 the carry is
# incomplete (carry the load it names next) or lacks something this machine needs,
# 4 no CUDA device where one was asked for.
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
export GPU_CHECK_T0="${GPU_CHECK_T0:-$(date +%s.%N)}"
: "${OUT:=$PWD/gpu_out}"
export OUT
mkdir -p "$OUT"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
exec "$PY" -u bench/gpu.py --carry "${GPU_CARRY:-.gpu_carry}" --out "$OUT" "$@"
