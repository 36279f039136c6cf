#!/usr/bin/env bash
# The GPU check: run it whenever a GPU is lent (about 5-8 minutes on one H100), then put its tables in the
# README ("Paper scale on a GPU"). Uses this checkout's .venv when there is one, else python3 (a device
# machine's own CUDA torch); the repository root goes on PYTHONPATH so nothing needs installing.
#   benchmarks/gpu_check.sh [--data-dir DIR] | tee gpu_check.md
set -uo pipefail
cd "$(dirname "$0")/.."
py=".venv/bin/python"; [ -x "$py" ] || py="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
data="${TOKENORDER_DATA_DIR:-../shared/data}"; [ -d "$data" ] || data="$PWD/../shared/data"
exec timeout 480 "$py" benchmarks/gpu_check.py --data-dir "$data" "$@"
