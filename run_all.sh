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

# Tables 2 and 5: Sudoku (easy test split) and hard Sudoku, one MDM and two ARMs trained on the easy split.
# Paper decoding (50 steps, Gumbel 0.5 annealed, on log scores), the same without noise, a steps sweep.
mdm="vanilla,top_prob,margin,entropy"
for task in sudoku sudoku_hard; do
  run --task "$task" --sampler "$mdm,arm_solver,arm_fixed" "$@"
  run --task "$task" --sampler "$mdm" --gumbel 0 "$@"
done
for steps in 5 10 20; do
  run --task sudoku --sampler vanilla,top_prob,margin --steps "$steps" "$@"
done

# Table 3: Zebra, one MDM and two ARMs (solver order, fixed order); paper decoding and un-noised.
run --task zebra --sampler "$mdm,arm_solver,arm_fixed" "$@"
run --task zebra --sampler "$mdm" --gumbel 0 "$@"

# Table 4: the text tasks. At small/smoke scale our own small text MDM (built here, transformers format):
# a pipeline check, not LLaDA's skill. At paper scale LLaDA-8B-Base from --model or the hub (GPU).
# Data: ../shared/data (or $TOKENORDER_DATA_DIR); tasks whose files are missing are skipped with a note.
data_dir="${TOKENORDER_DATA_DIR:-../shared/data}"
for task in humaneval_single humaneval_multi humaneval_split rocstories math mmlu; do
  run --task "$task" --sampler vanilla,top_prob,margin --data-dir "$data_dir" "$@" \
    || echo "== $task skipped (see the error above: data or model missing)" >&2
done

"$py" -m harness.report --results results --out reports
echo "run_all ($scale) finished in $(( $(date +%s) - start )) s; reports in reports/index.md" >&2
