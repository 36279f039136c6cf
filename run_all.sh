#!/usr/bin/env bash
# The main job: every implemented experiment at one scale, then the reports.
#   ./run_all.sh                  # small scale (CPU, minutes)
#   ./run_all.sh --scale paper    # the paper's sizes (a GPU)
#   ./run_all.sh --scale smoke    # seconds; checks the plumbing
# Extra arguments after the scale go to every `python -m harness.run` (e.g. --device cuda:1 --threads 8).
# Runs resume: interrupt it and start it again, nothing is lost or duplicated.
set -euo pipefail
cd "$(dirname "$0")"
scale="small"
if [ "${1:-}" = "--scale" ]; then scale="${2:?--scale needs a value: smoke, small or paper}"; shift 2; fi
py="$(scripts/ensure_env.sh)"
export PYTHONUNBUFFERED=1
start=$(date +%s)

run() { echo "== $*" >&2; "$py" -m harness.run --scale "$scale" "$@"; }

# Table 1: L&O-NAE-SAT, vanilla vs adaptive (margin; top probability and entropy beside it).
run --task lo_nae_sat --sampler vanilla,top_prob,margin,entropy "$@"

"$py" -m harness.report --results results --out reports
echo "run_all ($scale) finished in $(( $(date +%s) - start )) s; reports in reports/index.md" >&2
