#!/usr/bin/env bash
# The main job: every implemented experiment at one scale, then the reports.
#   ./run_all.sh                  # small scale (CPU)
#   ./run_all.sh --scale medium   # small, with the Sudoku tables (and ARMs) trained longer, Table 1 larger: 2-4 h (CPU)
#   ./run_all.sh --scale gpu      # the puzzle tables near the paper's regime, about one H100-hour each (a GPU)
#   ./run_all.sh --scale paper    # the paper's sizes (a GPU)
#   ./run_all.sh --scale smoke    # seconds; checks the plumbing
#   ./run_all.sh --report-only [--results DIR] [--out DIR]   # only rebuild reports/ from results/ alone
#   ./run_all.sh --fresh [NAME]   # reproduce everything into runs/NAME/ (results, checkpoints, logs, reports),
#                                 # never touching results/; its reports set the new numbers beside the committed
# Options in that order: --fresh first, then --scale, then arguments for the runner.
# Extra arguments after the scale go to every `python -m harness.run` (e.g. --device cuda:1).
# The figure experiments take $FIGURE_ARGS (e.g. FIGURE_ARGS="--device cuda --model PATH --judge PATH").
# Runs resume: interrupt it and start it again, nothing is lost or duplicated.
#
# On a CPU the work runs in two lanes side by side, one torch thread each (small models use a second thread
# poorly, a second process well); each lane logs to logs/run_all-<lane>.log and the terminal gets one line
# per step. $TOKENORDER_LANES=1 runs everything in one process chain (the default on a GPU).
# Minutes per lane and part, from the lane logs: .venv/bin/python benchmarks/run_all_parts.py logs
set -euo pipefail
cd "$(dirname "$0")"
scale="small"
py="$(scripts/ensure_env.sh)"
if [ "${1:-}" = "--report-only" ]; then
  shift
  exec "$py" -m harness.report "$@"
fi
run_root=""
if [ "${1:-}" = "--fresh" ]; then
  shift
  name="fresh-$(date +%Y%m%d-%H%M%S)"
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then name="$1"; shift; fi
  case "$name" in */*|.*|"") echo "error: --fresh NAME must be a plain name (got '$name')" >&2; exit 2 ;; esac
  run_root="runs/$name"
fi
if [ "${1:-}" = "--scale" ]; then scale="${2:?--scale needs a value: smoke, small, medium, gpu or paper}"; shift 2; fi
# Which preset each part runs at (harness/run/scales.py): every part at the scale, except gpu (Table 4 at paper,
# the figures at small) and medium (the Sudoku tables and Table 1 have medium presets; the rest runs at small).
parts="$("$py" -m harness.run.scales "$scale")" || exit 2
eval "$parts"   # sudoku_scale, lo_scale, zebra_scale, text_scale, figure_scale
results="${run_root:+$run_root/}results"
ckpts="${run_root:+$run_root/}checkpoints"
logs="${run_root:+$run_root/}logs"
reports="${run_root:+$run_root/}reports"
export PYTHONUNBUFFERED=1
start=$(date +%s)
data_dir="${TOKENORDER_DATA_DIR:-../shared/data}"
cores="$(nproc 2>/dev/null || echo 1)"
has_cuda="$("$py" -c 'import torch; print(int(torch.cuda.is_available()))')"
lanes="${TOKENORDER_LANES:-$([ "$has_cuda" = 1 ] || [ "$cores" -lt 2 ] && echo 1 || echo 2)}"
threads=$(( lanes > 1 ? (cores / lanes > 0 ? cores / lanes : 1) : cores ))
extra=("$@")
mkdir -p "$logs"
if [ -n "$run_root" ]; then
  echo "[$(date +%H:%M:%S)] fresh run into $run_root/ (results, checkpoints, logs, reports); results/ is not touched" >&2
fi

step() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# a log line per progress-bar redraw (unbuffered where coreutils' stdbuf exists)
to_lines() { if command -v stdbuf >/dev/null 2>&1; then stdbuf -o0 tr '\r' '\n'; else tr '\r' '\n'; fi; }
run() {
  step "run $*"
  "$py" -m harness.run --threads "$threads" --results-dir "$results" --ckpt-dir "$ckpts" "$@" \
    "${extra[@]}"
}
figure() {
  step "figure $1"
  # shellcheck disable=SC2086
  "$py" -m harness.figure "$1" --scale "$figure_scale" --data-dir "$data_dir" --threads "$threads" --workers "$threads" \
    --results-dir "$results" --ckpt-dir "$ckpts" ${FIGURE_ARGS:-} || step "figure $1 skipped (see the error above)"
}

# The Sudoku parts are split over the two lanes so that they end together: the MDM is trained in the Sudoku
# lane's first step, which then writes $ready; the other lane waits for it before its Sudoku runs (all of
# them need the MDM only; the ARMs are trained next in the Sudoku lane).
ready="$logs/.sudoku-models-$sudoku_scale"
rm -f "$ready"
mdm="vanilla,top_prob,margin,entropy"
sudoku_level() { "$py" -c "from tasks.sudoku.task import SCALES as S; print(S['$sudoku_scale']['variants'][0])"; }

# Tables 2 and 5: Sudoku (easy test split) and hard Sudoku, at every difficulty level of the preset, with one
# MDM and two ARMs trained on the easy split, under the paper's decoding (50 steps, Gumbel 0.5 annealed, on
# log scores) and without noise; then the text figures (2 top right, 3), which share a small text MDM and
# judge (trained by the first; at paper scale they need FIGURE_ARGS="--model ... --judge ...").
zoo_n=200
zoo_size() {  # the number of examples a zoo sweep decodes: zoo_n, or fewer where the scale's evaluation set is smaller
  "$py" -c "from tasks import get_task_class as g; print(min($zoo_n, g('$1')('$2', '$3').recipe('mdm').n_eval))"
}
zoo() {  # TASK VARIANT SCALE: every published unmasking rule against forward passes, un-noised (beyond_frontier, issue 19)
  local common=(--task "$1" --variant "$2" --scale "$3" --gumbel 0 --n "$(zoo_size "$1" "$2" "$3")")
  for steps in 5 10 20 50; do
    run "${common[@]}" --sampler vanilla,top_prob,margin,entropy,pc,vanilla_ancestral,p2,remdm --steps "$steps"
    run "${common[@]}" --sampler pc --sampler-arg lam=0 --steps "$steps"   # PC-Sampler's own Sudoku setting
  done
  for tau in 0.5 0.7 0.9 0.99; do run "${common[@]}" --sampler threshold --sampler-arg "tau=$tau"; done
  for gamma in 0.01 0.1 0.5 1 2; do run "${common[@]}" --sampler eb --sampler-arg "gamma=$gamma"; done
  for kappa in 0.001 0.01 0.1; do run "${common[@]}" --sampler klass --sampler-arg "kappa=$kappa"; done
  run "${common[@]}" --sampler klass --sampler-arg tau=0.6 --sampler-arg kappa=0.015
  run "${common[@]}" --sampler dus
  for b in 3 9 27; do run "${common[@]}" --sampler dus --block-length "$b"; done
}
zebra_level() { "$py" -c "from tasks.zebra.task import SCALES as S; print(S['$zebra_scale']['variants'][0])"; }
lo_level() {  # the scale's L&O-NAE-SAT variant with the most latents under the paper's protocol
  "$py" -c "from tasks.lo_nae_sat import LoNaeSat as L; print([v for v in L.variants('$lo_scale') if '_g' not in v][-1])"
}

lane_sudoku() {
  learnable="$(sudoku_level)"
  hard="$learnable"; [ "$learnable" = 9x9 ] || hard="$learnable,9x9"   # the hard split: learnable and paper level
  if run --scale "$sudoku_scale" --task sudoku --sampler "$mdm"; then echo ok > "$ready"; else echo failed > "$ready"; return 1; fi
  run --scale "$sudoku_scale" --task sudoku --sampler arm_solver,arm_fixed   # after the MDM: the other lane goes on
  run --scale "$sudoku_scale" --task sudoku --sampler "$mdm" --gumbel 0
  run --scale "$sudoku_scale" --task sudoku_hard --variant "$hard" --sampler "$mdm,arm_solver,arm_fixed"
  for fig in pi_order genppl; do figure "$fig"; done
  zoo sudoku "$learnable" "$sudoku_scale"
}

# Table 1 (L&O-NAE-SAT), Table 3 (Zebra), Table 4 (text tasks), Figure 2 left and bottom right; then the rest
# of the Sudoku tables: the hard split without noise, a steps sweep and a certainty-noise sweep on the
# learnable level, and the rule sweep on the hard split.
lane_rest() {
  # Table 1: vanilla vs adaptive (margin; top probability and entropy beside it), both protocols.
  run --task lo_nae_sat --sampler vanilla,top_prob,margin,entropy --scale "$lo_scale"
  # Table 3: Zebra, one MDM and two ARMs (solver order, fixed order); paper decoding and un-noised.
  run --task zebra --sampler "vanilla,top_prob,margin,entropy,arm_solver,arm_fixed" --scale "$zebra_scale"
  run --task zebra --sampler "vanilla,top_prob,margin,entropy" --gumbel 0 --scale "$zebra_scale"
  # Table 4: the text tasks. At small/smoke scale our own small text MDM (built here, transformers format):
  # a pipeline check, not LLaDA's skill. At paper scale LLaDA-8B-Base from --model or the hub (GPU).
  # Data: ../shared/data (or $TOKENORDER_DATA_DIR); tasks whose files are missing are skipped with a note.
  for task in humaneval_single humaneval_multi humaneval_split rocstories math mmlu; do
    run --task "$task" --sampler vanilla,top_prob,margin --data-dir "$data_dir" --scale "$text_scale" \
      || step "$task skipped (see the error above: data or model missing)"
  done
  # Figure 2: IsoFLOP curves of pi-learners, the L&O-NAE-SAT error imbalance.
  for fig in isoflop lo_imbalance; do figure "$fig"; done
  zoo zebra "$(zebra_level)" "$zebra_scale"
  zoo lo_nae_sat "$(lo_level)" "$lo_scale"
  # Tables 2 and 5, continued (needs the Sudoku models of the other lane).
  while [ ! -s "$ready" ]; do sleep 5; done
  if [ "$(cat "$ready")" != ok ]; then step "Sudoku sweeps skipped: the Sudoku models were not trained"; return 1; fi
  learnable="$(sudoku_level)"
  hard="$learnable"; [ "$learnable" = 9x9 ] || hard="$learnable,9x9"
  run --scale "$sudoku_scale" --task sudoku_hard --variant "$hard" --sampler "$mdm" --gumbel 0
  for steps in 5 10 20; do
    run --scale "$sudoku_scale" --task sudoku --variant "$learnable" --sampler vanilla,top_prob,margin --steps "$steps"
  done
  sweep_n="$("$py" -c "from tasks.sudoku.task import SCALES as S; print(min(200, S['$sudoku_scale']['data']['test']))")"
  for g in 0.1 0.25 1; do
    run --scale "$sudoku_scale" --task sudoku --variant "$learnable" --sampler top_prob,margin --gumbel "$g" --n "$sweep_n"
  done
  for g in 0.1 0.5; do
    run --scale "$sudoku_scale" --task sudoku --variant "$learnable" --sampler top_prob,margin --gumbel "$g" --gumbel-space prob --n "$sweep_n"
  done
  zoo sudoku_hard "$learnable" "$sudoku_scale"   # here, not in the Sudoku lane: the lanes then end together
}

if [ "$lanes" -gt 1 ]; then
  step "two lanes, $threads thread(s) each: $logs/run_all-sudoku.log and $logs/run_all-rest.log (tail -f them)"
  # progress bars in the lane logs: a line per redraw, at most one per $TQDM_MININTERVAL seconds per bar
  export TQDM_MININTERVAL="${TQDM_MININTERVAL:-30}"
  logged_lane() {  # NAME: runs lane_NAME into $logs/run_all-NAME.log, which then ends with the lane's end (timed
                  # by benchmarks/run_all_parts.py); a failing lane stops before that line, with its status
    local log="$logs/run_all-$1.log"
    "lane_$1" 2>&1 | to_lines > "$log"
    step "lane $1 done" 2>&1 | tee -a "$log" >&2
  }
  (logged_lane sudoku) &
  pid_a=$!
  (logged_lane rest) &
  pid_b=$!
  status=0
  wait "$pid_a" || { status=$?; step "lane sudoku failed (exit $status): see $logs/run_all-sudoku.log"; }
  wait "$pid_b" || { status=$?; step "lane rest failed (exit $status): see $logs/run_all-rest.log"; }
  [ "$status" = 0 ] || exit "$status"
else
  lane_sudoku
  lane_rest
fi

if [ -n "$run_root" ]; then
  "$py" -m harness.report --results "$results" --out "$reports" --compare results
else
  "$py" -m harness.report --results results --out reports
fi
step "run_all ($scale) finished in $(( $(date +%s) - start )) s; reports in $reports/index.md"
