#!/usr/bin/env bash
# The main job: every implemented experiment at one scale, then the reports.
#   ./run_all.sh                  # small scale (CPU, minutes)
#   ./run_all.sh --scale paper    # the paper's sizes (a GPU)
#   ./run_all.sh --scale smoke    # seconds; checks the plumbing
#   ./run_all.sh --report-only [--results DIR] [--out DIR]   # only rebuild reports/ from results/ alone
# Extra arguments after the scale go to every `python -m harness.run` (e.g. --device cuda:1 --threads 8).
# The figure experiments take $FIGURE_ARGS (e.g. FIGURE_ARGS="--device cuda --model PATH --judge PATH").
# Runs resume: interrupt it and start it again, nothing is lost or duplicated.
set -euo pipefail
cd "$(dirname "$0")"
scale="small"
py="$(scripts/ensure_env.sh)"
if [ "${1:-}" = "--report-only" ]; then
  shift
  exec "$py" -m harness.report "$@"
fi
if [ "${1:-}" = "--scale" ]; then scale="${2:?--scale needs a value: smoke, small or paper}"; shift 2; fi
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

# Figures 2 and 3: IsoFLOP curves of pi-learners, the pi-ordered loss of a text MDM, the L&O-NAE-SAT error
# imbalance, generative perplexity. At paper scale pi_order and genppl need FIGURE_ARGS="--model ... --judge ...".
for fig in isoflop pi_order lo_imbalance genppl; do
  echo "== figure $fig" >&2
  # shellcheck disable=SC2086
  "$py" -m harness.figure "$fig" --scale "$scale" --data-dir "$data_dir" ${FIGURE_ARGS:-} \
    || echo "== figure $fig skipped (see the error above)" >&2
done

"$py" -m harness.report --results results --out reports
echo "run_all ($scale) finished in $(( $(date +%s) - start )) s; reports in reports/index.md" >&2
