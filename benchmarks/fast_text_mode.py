"""The approximate fast text mode against the exact decode: speed and agreement, on a real text MDM.

What is measured
----------------
A text MDM (default: the small Table 4 model, ``checkpoints/small/text-mdm/seed0/model``; any model that
follows the key/value-cache contract of :mod:`harness.decoding.prefix_cache`) generates ``--gen-length``
tokens after each of ``--n`` prompts of a text task (default MATH, built exactly as the runner builds them),
semi-autoregressively in blocks of ``--block-length``, at temperature 0, four ways:

* ``exact  <rule>``: the exact decode, one token per step (``--rule``, default ``top_prob`` = LLaDA's
  ``low_confidence``), the reference every other row is compared with;
* ``prefix <rule>``: the same rule with Fast-dLLM's prefix key/value cache (``cache="prefix"``);
* ``exact  threshold``: Fast-dLLM's parallel reveal (every position whose confidence is >= tau, at least
  one per step), exact forwards;
* ``prefix threshold``: both of Fast-dLLM's ideas together (its recipe).

Variants alternate inside each repeat and the median wall time of ``--repeats`` is reported, after a warm-up.
Columns: wall seconds for all prompts, generated tokens per second, speed-up over the exact decode, forward
passes per prompt, and agreement with the exact decode (share of generated tokens equal, prompts fully
equal); for the cached rule also its agreement with the same rule decoded exactly (the cache's own error).

Run
---
    .venv/bin/python benchmarks/fast_text_mode.py                                  # the small text MDM
    .venv/bin/python benchmarks/fast_text_mode.py --taus 0.9,0.7 --n 32 --threads 2
    .venv/bin/python benchmarks/fast_text_mode.py --model PATH --device cuda --gen-length 256   # a GPU

Exit code 0 (a benchmark, not a test); 2 on bad arguments or a model without the cache contract.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from harness.decoding.decoder import DecodeConfig  # noqa: E402
from harness.decoding.prefix_cache import cache_argument  # noqa: E402
from harness.decoding.rng import example_seeds  # noqa: E402
from harness.decoding.textgen import decode_rows  # noqa: E402

DEFAULT_MODEL = ROOT / "checkpoints" / "small" / "text-mdm" / "seed0" / "model"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="transformers model directory (default: small Table 4 MDM)")
    p.add_argument("--task", default="math", help="text task whose prompts are used (generate-mode tasks)")
    p.add_argument("--variant", default="test")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--n", type=int, default=16, help="prompts")
    p.add_argument("--gen-length", type=int, default=128)
    p.add_argument("--block-length", type=int, default=32)
    p.add_argument("--rule", default="top_prob", help="the top-k rule of the exact baseline")
    p.add_argument("--taus", default="0.9", help="threshold values (comma-separated)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    if a.n < 1 or a.gen_length < 1 or a.block_length < 1 or a.repeats < 1 or a.threads < 1:
        p.error("--n, --gen-length, --block-length, --repeats and --threads must be >= 1")
    if a.gen_length % a.block_length:
        p.error(f"--gen-length ({a.gen_length}) must be a multiple of --block-length ({a.block_length})")
    try:
        a.taus = [float(t) for t in a.taus.split(",")]
    except ValueError:
        p.error(f"--taus must be numbers separated by commas (got {a.taus!r})")
    return a


def prompt_rows(tm, args) -> list[list[int]]:
    """Return the generation rows (prompt + masks) of the task's first ``--n`` prompts that fit the model."""
    from harness.models.text import context_length
    from harness.run.text import build_row
    from tasks import get_task_class
    task = get_task_class(args.task)(args.variant, "small", args.data_dir)
    limit = context_length(tm.model, 512)
    rows = []
    for e in task.examples(10 * args.n):
        if e.mode != "generate":
            raise SystemExit(f"error: task {args.task} variant {args.variant} is not a generation task")
        row, _ = build_row(tm, e, chat=False, gen_length=args.gen_length, limit=limit)
        if row is not None:
            rows.append(row)
        if len(rows) == args.n:
            break
    return rows


def agreement(a, b) -> tuple[float, float]:
    """Return (share of generated tokens equal, share of rows fully equal) between two decodes."""
    same = sum(sum(x == y for x, y in zip(p.ids, q.ids)) for p, q in zip(a, b))
    total = sum(len(p.ids) for p in a)
    return same / max(total, 1), sum(p.ids == q.ids for p, q in zip(a, b)) / max(len(a), 1)


def main(argv=None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    from harness.models.text import load_text_model
    try:
        tm = load_text_model(args.model, device=args.device, dtype="fp32" if args.device == "cpu" else "auto")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if cache_argument(tm.model) is None:
        print(f"error: {args.model} has no key/value-cache contract (see harness/decoding/prefix_cache.py)",
              file=sys.stderr)
        return 2
    rows = prompt_rows(tm, args)
    seeds = example_seeds(0, range(len(rows)))
    base = dict(steps=args.gen_length, block_length=args.block_length)
    variants = {f"exact  {args.rule}": (args.rule, DecodeConfig(**base)),
                f"prefix {args.rule}": (args.rule, DecodeConfig(**base, cache="prefix"))}
    for tau in args.taus:
        for mode in ("exact ", "prefix"):
            cfg = DecodeConfig(**base, cache="prefix" if mode == "prefix" else "none",
                               sampler_args={"tau": tau}).for_sampler("threshold")
            variants[f"{mode} threshold tau={tau:g}"] = ("threshold", cfg)
    outs, times = {}, {k: [] for k in variants}
    for name, (smp, cfg) in variants.items():   # warm-up, and the decodes compared below
        outs[name] = decode_rows(tm, rows, smp, cfg, seeds)
    for _ in range(args.repeats):
        for name, (smp, cfg) in variants.items():
            t0 = time.perf_counter()
            decode_rows(tm, rows, smp, cfg, seeds)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    prompt_len = statistics.mean(len(r) - args.gen_length for r in rows)
    print(f"model {args.model} ({tm.info['params']:,} parameters), task {args.task}/{args.variant}: {len(rows)} "
          f"prompts (mean {prompt_len:.0f} tokens), {args.gen_length} generated in blocks of {args.block_length}, "
          f"T=0, {args.threads} thread(s), {args.device}, median of {args.repeats}")
    ref = outs[f"exact  {args.rule}"]
    t_ref = statistics.median(times[f"exact  {args.rule}"])
    print(f"| decode | seconds | tok/s | speed-up | forwards/prompt | tokens = exact {args.rule} | prompts = exact "
          f"| tokens = same rule exact |")
    print("|---|---|---|---|---|---|---|---|")
    for name in variants:
        t = statistics.median(times[name])
        tok, whole = agreement(outs[name], ref)
        exact_twin = outs.get(name.replace("prefix", "exact ", 1))
        own = agreement(outs[name], exact_twin)[0] if name.startswith("prefix") else 1.0
        nfe = statistics.mean(o.nfe for o in outs[name])
        print(f"| {name} | {t:.2f} | {len(rows) * args.gen_length / t:.0f} | {t_ref / t:.2f}x | {nfe:.1f} | "
              f"{100 * tok:.1f} % | {100 * whole:.0f} % | {100 * own:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
