"""The runner: ``python -m harness.run --task lo_nae_sat --sampler margin [--scale small] [--seed 0]``.

Trains the task's model when no finished checkpoint exists, runs the learning checks once per model,
then decodes every evaluation example with each sampler and appends one JSONL record per example under
``results/<scale>/<task>/<variant>/``. Runs resume: a finished checkpoint is reused, an unfinished one
continues from its last save, and a results file skips the examples it already holds. Bad input (unknown
task, sampler or scale, bad knobs, a checkpoint or results file that does not match) gets one line on
stderr and exit code 2 before anything is written.
"""
from __future__ import annotations

import argparse
import sys

from harness.cli_args import (OneLineParser, device_name, existing_dir, names_list, nonneg_float, nonneg_int,
                               output_dir, positive_int)
from harness.decoding.samplers import sampler_names
from harness.results import ResultsMismatch
from harness.run.config import DECODE_KNOBS, RunConfig
from harness.run.puzzles import run_puzzles
from harness.run.scales import SCALES
from tasks import get_task_class, task_names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the parsed command line."""
    p = OneLineParser(prog="python -m harness.run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", required=True, help=f"one of: {', '.join(task_names())}")
    p.add_argument("--sampler", default="vanilla,top_prob,margin", type=names_list,
                   help=f"comma-separated; registered: {', '.join(sampler_names())}; plus the task's autoregressive "
                        f"baselines arm_<order> (e.g. arm_solver)")
    p.add_argument("--scale", default="small", help=f"preset: {', '.join(SCALES)}")
    p.add_argument("--variant", default=None, type=names_list, help="comma-separated task variants (default: the scale's list)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="training seed and base of the per-example decode seeds")
    p.add_argument("--n", type=positive_int, default=None, help="number of evaluation examples (default: the scale's)")
    g = p.add_argument_group("decoding knobs (default: the scale preset's)")
    g.add_argument("--steps", type=positive_int)
    g.add_argument("--temperature", type=nonneg_float)
    g.add_argument("--gumbel", type=nonneg_float, help="coefficient of Gumbel noise on the certainty score")
    g.add_argument("--gumbel-schedule", choices=["constant", "linear"])
    g.add_argument("--gumbel-space", choices=["prob", "log"], help="add the noise to the score or to its log")
    g.add_argument("--gaussian", type=nonneg_float, help="sigma of Gaussian noise on the certainty score (paper Fig. 3)")
    g.add_argument("--block-length", type=positive_int)
    g.add_argument("--remask", action="store_true", default=None, help="Ye et al.-style remasking (not the paper's)")
    g.add_argument("--score-dtype", choices=["float32", "float64", "model"])
    g.add_argument("--noise", choices=["example", "torch", "torch-legacy"],
                   help="example: per-example counter-based draws (batch-invariant); torch/torch-legacy: "
                        "torch's generator in the order of LLaDA's generate() (token-exact parity)")
    g.add_argument("--mask-logit", choices=["exclude", "keep"], help="keep: the mask token may be drawn (LLaDA)")
    g.add_argument("--sampler-arg", action="append", type=knob_value, metavar="KNOB=VALUE",
                   help="a sampler's knob (repeatable), e.g. tau=0.8 for threshold; applies to the samplers "
                        "that have it, the others keep their defaults")
    p.add_argument("--batch-size", type=positive_int, default=None, help="evaluation batch size")
    p.add_argument("--device", default="auto", type=device_name, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"],
                   help="bf16 autocast for decoding (auto: on CUDA only)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--results-dir", default="results", type=output_dir)
    p.add_argument("--ckpt-dir", default="checkpoints", type=output_dir)
    p.add_argument("--data-dir", default=None, type=existing_dir, help="local data directory for tasks that read files")
    p.add_argument("--train-only", action="store_true", help="train (or resume training) and stop")
    t = p.add_argument_group("text tasks (Table 4)")
    t.add_argument("--model", default=None, help="transformers model directory or hub id (LLaDA-8B-Base/Instruct, "
                   "any MDM returning logits for every position); default: the scale's (small: our small text MDM)")
    t.add_argument("--mask-id", type=nonneg_int, default=None, help="mask token id when config/tokenizer do not name it")
    t.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp16 | fp32")
    t.add_argument("--gen-length", type=positive_int, default=None, help="generated tokens (generation tasks)")
    t.add_argument("--cfg-scale", type=nonneg_float, default=None, help="LLaDA classifier-free guidance scale")
    t.add_argument("--suppress-eos", action="store_true", default=None, help="LLaDA logits_eos_inf")
    t.add_argument("--defer-eos", action="store_true", default=None, help="LLaDA confidence_eos_eot_inf")
    t.add_argument("--cache", choices=["none", "prefix"], default=None,
                   help="prefix: Fast-dLLM's prefix key/value cache for semi-AR blocks, APPROXIMATE and faster "
                        "(pair it with --sampler threshold for Fast-dLLM's recipe); default none, the exact decode")
    t.add_argument("--chat", choices=["auto", "on", "off"], default="auto",
                   help="wrap generation prompts in the tokenizer's chat template (auto: when it has one)")
    t.add_argument("--mc-num", type=positive_int, default=None, help="Monte-Carlo samples per likelihood (choice tasks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def knob_value(text: str) -> tuple[str, float]:
    """Return (knob, value) parsed from ``KNOB=NUMBER``; anything else is a one-line argparse error."""
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not sep or not name.strip().isidentifier() or number is None or number != number:
        raise argparse.ArgumentTypeError(f"expected KNOB=NUMBER, e.g. tau=0.9 (got {text!r})")
    return name.strip(), number


def to_config(args: argparse.Namespace) -> RunConfig:
    """Return the typed run configuration for parsed arguments (the only place a Namespace is read)."""
    names = lambda text: tuple(s.strip() for s in text.split(",") if s.strip()) if text else None  # noqa: E731
    if args.sampler_arg:
        args.sampler_args = dict(args.sampler_arg)
    return RunConfig(task=args.task, samplers=names(args.sampler), scale=args.scale, variants=names(args.variant),
                     seed=args.seed, n=args.n, decode={k: getattr(args, k) for k in DECODE_KNOBS
                                                       if getattr(args, k, None) is not None},
                     batch_size=args.batch_size, device=args.device, amp=args.amp, threads=args.threads,
                     results_dir=args.results_dir, ckpt_dir=args.ckpt_dir, data_dir=args.data_dir,
                     train_only=args.train_only, progress=not args.no_progress, model=args.model,
                     mask_id=args.mask_id, dtype=args.dtype, gen_length=args.gen_length, chat=args.chat,
                     mc_num=args.mc_num)


def run(cfg: RunConfig) -> list[dict]:
    """Run every (variant, sampler) the configuration names; returns one summary per results file."""
    if cfg.scale not in SCALES:
        raise ValueError(f"unknown scale '{cfg.scale}'; choose one of: {', '.join(SCALES)}")
    task_cls = get_task_class(cfg.task)
    if getattr(task_cls, "is_text", False):
        from harness.run.text import run_text      # loads transformers: only for the text tasks
        return run_text(cfg, task_cls)
    return run_puzzles(cfg, task_cls)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    args = parse_args(argv)
    try:
        run(to_config(args))
    except (ValueError, FileNotFoundError, ResultsMismatch) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:             # a full disk, a permission, a directory where a file should be
        where = f" {e.filename}:" if e.filename else ""
        print(f"error:{where} {e.strerror or e}; results written so far are kept (a failed write is undone): "
              f"free the space or fix the path and run the same command again", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
