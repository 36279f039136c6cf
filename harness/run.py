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
import contextlib
import hashlib
import json
import os
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from harness import rng
from harness.cli_args import (OneLineParser, device_name, existing_dir, names_list, nonneg_float, nonneg_int,
                               output_dir, positive_int)
from harness.ar_decoder import arm_order, decode_causal, is_arm
from harness.decoder import DecodeConfig, decode, value_mask
from harness.env_info import environment
from harness.models import build_model
from harness.results import ResultsFile, ResultsMismatch, read_records, results_path
from harness.samplers import SAMPLERS, get_sampler
from harness.training import TrainConfig, is_finished, load_checkpoint, train
from tasks import Task, get_task_class, task_names

SCALES = ("smoke", "small", "paper")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the parsed command line."""
    p = OneLineParser(prog="python -m harness.run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", required=True, help=f"one of: {', '.join(task_names())}")
    p.add_argument("--sampler", default="vanilla,top_prob,margin", type=names_list,
                   help=f"comma-separated; registered: {', '.join(SAMPLERS)}; plus the task's autoregressive "
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
    t.add_argument("--chat", choices=["auto", "on", "off"], default="auto",
                   help="wrap generation prompts in the tokenizer's chat template (auto: when it has one)")
    t.add_argument("--mc-num", type=positive_int, default=None, help="Monte-Carlo samples per likelihood (choice tasks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def resolve_device(name: str) -> str:
    """Return a concrete torch device string for ``name`` ('auto' picks CUDA when present)."""
    if name == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{os.environ['LOCAL_RANK']}" if "LOCAL_RANK" in os.environ else "cuda"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} asked for CUDA but torch sees no GPU; use --device cpu")
    return name


def decode_config(recipe_decode: dict, args: argparse.Namespace) -> DecodeConfig:
    """Return the scale's decode knobs with the command line's overrides applied, validated."""
    knobs = dict(recipe_decode)
    for field in ("steps", "temperature", "gumbel", "gumbel_schedule", "gumbel_space", "gaussian", "block_length",
                  "remask", "score_dtype", "cfg_scale", "suppress_eos", "defer_eos", "noise", "mask_logit"):
        value = getattr(args, field, None)
        if value is not None:
            knobs[field] = value
    return DecodeConfig(**knobs).validate()


def fingerprint(model: torch.nn.Module) -> str:
    """Return a short sha256 of the model's parameters (ties results to the exact weights)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def autocast(device: str, amp: str):
    """Return the autocast context for decoding: bf16 on CUDA under 'auto', everywhere under 'bf16'."""
    if amp == "bf16" or (amp == "auto" and device.startswith("cuda")):
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def ensure_model(task: Task, args: argparse.Namespace, device: str, order: str | None = None
                 ) -> tuple[torch.nn.Module, dict]:
    """Return (trained model in eval mode, its checkpoint record), training or resuming when needed.

    ``order`` None is the task's MDM; otherwise the autoregressive baseline trained in that order."""
    objective = "mdm" if order is None else "arm"
    recipe = task.recipe(objective)
    ident = [recipe.model_preset, recipe.objective, recipe.train] + ([recipe.model] if recipe.model else []) \
        + ([recipe.data] if recipe.data else [])
    recipe_hash = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    kind = recipe.objective if order is None else f"arm_{order}"
    ckpt_dir = Path(args.ckpt_dir) / task.scale / task.model_key() / \
        f"{kind}-{recipe.model_preset}-{recipe_hash}-seed{args.seed}"
    if order is None:
        vocab_size, seq_len, mask_id = task.vocab_size, task.seq_len, task.mask_id
    else:
        (vocab_size, seq_len), mask_id = task.arm_layout(), None
    if not is_finished(ckpt_dir):
        if shard()[1] > 1:
            raise ValueError(f"no finished checkpoint in {ckpt_dir}: train it in one process first "
                             f"(python -m harness.run --task {task.name} --scale {task.scale} --train-only)")
        cfg = TrainConfig(objective=recipe.objective, seed=args.seed, **recipe.train)
        model = build_model(recipe.model_preset, vocab_size, seq_len, causal=order is not None, seed=args.seed,
                            **recipe.model)

        def batch_fn(step: int):
            if order is None:
                x, m, *floor = task.train_batch(step, cfg.batch_size, args.seed)
            else:
                x, m, *floor = task.arm_train_batch(step, cfg.batch_size, args.seed, order)
            out = (torch.from_numpy(x).to(device), torch.from_numpy(m).to(device))
            return out + tuple(torch.from_numpy(np.asarray(f, dtype=np.float32)).to(device) for f in floor)

        meta = {"task": task.name, "variant": task.variant, "scale": task.scale, "vocab_size": vocab_size,
                "seq_len": seq_len, "mask_id": mask_id, "preset": recipe.model_preset, "order": order}
        print(f"[train] {task.model_key()} ({task.scale}): {recipe.model_preset} {kind}, "
              f"{cfg.iters} iters x batch {cfg.batch_size} -> {ckpt_dir}", file=sys.stderr)
        train(model, batch_fn, cfg, ckpt_dir, mask_id, meta=meta, device=device, progress=not args.no_progress)
    model, ckpt = load_checkpoint(ckpt_dir / "ckpt.pt", device=device)
    meta = ckpt.get("meta", {})
    for key, want in (("vocab_size", vocab_size), ("seq_len", seq_len), ("mask_id", mask_id)):
        if meta.get(key) != want:
            raise ValueError(f"checkpoint {ckpt_dir} was trained with {key}={meta.get(key)}, the task needs "
                             f"{want}: delete the directory to retrain")
    ckpt["dir"] = str(ckpt_dir)
    return model, ckpt


@torch.no_grad()
def learning_checks(model, task: Task, ckpt: dict, seed: int, device: str, batch_size: int,
                    order: str | None = None) -> dict:
    """Return the task's one-forward learning checks (the MDM's, or with ``order`` the ARM baseline's):
    ``{"acc": {name: accuracy}, "learned_at": {name: threshold}, "about": {name: text}, "learned": bool | None}``
    (``learned`` is None when no check has a threshold). Accuracies are cached beside the checkpoint per
    (weights, task, variant)."""
    checks = task.checks(512, seed) if order is None else task.arm_checks(order, 512)
    fp, key = ckpt["fingerprint"], f"{task.name}/{task.variant}"
    cache = Path(ckpt["dir"]) / "checks.json"
    try:                                 # a cache: unreadable (or being replaced by another run) means recompute
        stored = json.loads(cache.read_text()) if cache.exists() else {}
    except (OSError, ValueError):
        stored = {}
    by_key = stored.get("by_task", {}) if stored.get("fingerprint") == fp else {}
    accs = by_key.get(key)
    if accs is None or set(accs) != {c.name for c in checks}:
        accs = {c.name: check_accuracy(model, task, c, device, batch_size) for c in checks}
        by_key[key] = accs
        tmp = cache.with_name(f"checks.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": fp, "by_task": by_key}, indent=1))
        os.replace(tmp, cache)           # atomic: a run in the other lane never reads half a file
    thresholds = {c.name: c.learned_at for c in checks if c.learned_at is not None}
    learned = all(accs[n] >= t for n, t in thresholds.items()) if thresholds else None
    return {"acc": accs, "learned_at": thresholds, "about": {c.name: c.about for c in checks if c.about},
            "learned": learned}


def check_accuracy(model, task: Task, check, device: str, batch_size: int) -> float:
    """Return the argmax accuracy of one forward pass over ``check``'s prompts at its ``where`` positions
    (an MDM's prediction restricted to the task's values; a causal model's over its whole vocabulary)."""
    causal = bool(getattr(getattr(model, "cfg", None), "causal", False))
    allowed = None if causal else task.allowed()
    allowed = torch.from_numpy(allowed) if allowed is not None else None
    hits = total = 0
    for i in range(0, len(check.prompts), batch_size):
        x = torch.from_numpy(check.prompts[i:i + batch_size]).to(device)
        logits = model(x).float()
        if not causal:
            logits = logits.masked_fill(~value_mask(allowed, logits.shape[-1], task.mask_id, device), float("-inf"))
        pred = logits.argmax(-1).cpu().numpy()
        where = check.where[i:i + batch_size]
        hits += int((pred[where] == check.targets[i:i + batch_size][where]).sum())
        total += int(where.sum())
    return hits / max(total, 1)


def peak_memory_mb(device: str) -> float:
    """Return the peak memory so far in MiB: CUDA allocator peak on GPU, process max RSS on CPU."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shard() -> tuple[int, int]:
    """Return (rank, world size) of this process under ``torchrun`` / ``accelerate launch`` (else (0, 1))."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad RANK={rank} / WORLD_SIZE={world} in the environment")
    return rank, world


def eval_examples(task, n: int, explicit: bool) -> list:
    """Return the task's first ``n`` evaluation examples; raises ValueError (naming --n) when an explicit
    ``--n`` asks for more than there are (a preset's default may ask for "all" with a large number)."""
    examples = task.examples(n)
    if explicit and len(examples) < n:
        raise ValueError(f"--n {n}: {task.name}/{task.variant} has only {len(examples)} examples; pass --n "
                         f"{len(examples)} or fewer")
    return examples


def _evaluate(task: Task, sampler: str, tag: str, decode_fields: dict, args, device: str, header_base: dict,
              n_default: int, batch_default: int, decode_batch) -> dict:
    """Decode and score every example not yet in the results file; returns the run's summary.

    ``decode_batch(examples, seeds)`` returns one dict per example with tokens, order, nfe, steps,
    gen_tokens, a Score, the rendered input and output, and optionally ``extra`` fields for the record.
    Under ``torchrun``/``accelerate launch`` each rank takes every world-th example and writes its own
    file (``...__rank<r>of<W>.jsonl``); the report pools the shards. Seeds depend on the example's index
    only, so a sharded run writes the same records as a single process."""
    n = args.n if args.n is not None else n_default
    batch_size = args.batch_size or batch_default
    rank, world = shard()
    path = results_path(args.results_dir, task.scale, task.name, task.variant, sampler, tag, args.seed)
    if world > 1:
        path = path.with_name(f"{path.stem}__rank{rank}of{world}.jsonl")
    header = dict(header_base, sampler=sampler, decode=decode_fields, decode_tag=tag, n_planned=n,
                  started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if world > 1:
        header.update(rank=rank, world_size=world)
    examples = eval_examples(task, n, explicit=args.n is not None)    # read and checked before any write
    rf = ResultsFile(path, header, defaults={"decode": DecodeConfig().to_dict()}).open()
    index = {e.id: i for i, e in enumerate(examples)}
    examples = examples[rank::world]
    todo = [e for e in examples if e.id not in rf.done]
    bar = tqdm(total=len(examples), initial=len(examples) - len(todo), desc=f"{task.name}/{task.variant} {sampler}",
               disable=args.no_progress, unit="ex", file=sys.stderr)
    for i in range(0, len(todo), batch_size):
        batch = todo[i:i + batch_size]
        seeds = rng.example_seeds(args.seed, [index[e.id] for e in batch]).to(device)
        t0 = time.perf_counter()
        with autocast(device, args.amp):
            outs = decode_batch(batch, seeds)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        mem = peak_memory_mb(device)
        records = []
        for e, o in zip(batch, outs):
            s = o["score"]
            rec = {"type": "example", "id": e.id, "input": o["input"], "output": o["output"],
                   "correct": s.correct, "score": s.score, "metrics": s.metrics,
                   "order": s.order if s.order is not None else o["order"], "steps": o["steps"], "nfe": o["nfe"],
                   "gen_tokens": o["gen_tokens"], "seconds": seconds / len(batch), "batch_seconds": seconds,
                   "batch_size": len(batch), "peak_mem_mb": round(mem, 1)}
            rec.update(o.get("extra", {}))
            if e.meta.get("record"):
                rec["meta"] = e.meta["record"]
            records.append(rec)
        rf.append(records)
        bar.update(len(batch))
    bar.close()
    _, recs, _ = read_records(path)
    scores = [r["score"] for r in recs]
    return {"path": str(path), "n": len(recs), "score": float(np.mean(scores)) if scores else float("nan"),
            "correct": float(np.mean([r["correct"] for r in recs])) if recs else float("nan")}


def evaluate(task: Task, model, sampler: str, dcfg: DecodeConfig, args, device: str, header_base: dict) -> dict:
    """Decode every example with MDM sampler ``sampler``; returns the run's summary (see :func:`_evaluate`)."""
    recipe = task.recipe("mdm")
    allowed = task.allowed()
    allowed_t = torch.from_numpy(allowed).to(device) if allowed is not None else None

    def decode_batch(batch, seeds):
        x = torch.from_numpy(np.stack([e.prompt for e in batch])).to(device)
        out = decode(model, x, task.mask_id, sampler, dcfg, seeds=seeds, allowed=allowed_t)
        tokens, order = out.tokens.cpu().numpy(), out.order.cpu().numpy()
        return [{"tokens": tok, "order": ordr.tolist(), "nfe": out.nfe, "steps": out.steps,
                 "gen_tokens": int((e.prompt == task.mask_id).sum()), "score": task.score(e, tok),
                 "input": task.render(e.prompt), "output": task.render(tok)}
                for e, tok, ordr in zip(batch, tokens, order)]

    return _evaluate(task, sampler, dcfg.tag(), dcfg.to_dict(), args, device, header_base, recipe.n_eval,
                     recipe.eval_batch_size, decode_batch)


def arm_temperature(recipe_decode: dict, args: argparse.Namespace) -> float:
    """Return the ARM decoding temperature: the preset's (0 = greedy) unless --temperature overrides it."""
    t = args.temperature if args.temperature is not None else recipe_decode.get("temperature", 0.0)
    if t < 0:
        raise ValueError(f"temperature must be >= 0 (got {t})")
    return float(t)


def evaluate_arm(task: Task, model, name: str, args, device: str, header_base: dict) -> dict:
    """Decode every example with the ARM baseline ``name`` (left to right); returns the run's summary."""
    recipe = task.recipe("arm")
    temperature = arm_temperature(recipe.decode, args)
    tag = "greedy" if temperature == 0 else f"T{temperature:g}"

    def decode_batch(batch, seeds):
        prompts = [task.arm_prompt(e) for e in batch]
        x = torch.from_numpy(np.stack([p for p, _ in prompts])).to(device)
        n_prompt = torch.tensor([k for _, k in prompts], device=device)
        out = decode_causal(model, x, n_prompt, temperature=temperature, seeds=seeds)
        tokens = out.tokens.cpu().numpy()
        return [{"tokens": tok, "order": None, "nfe": out.nfe, "steps": len(tok) - k,
                 "gen_tokens": len(tok) - k, "score": task.arm_score(e, tok),
                 "input": task.arm_render(p[:k]), "output": task.arm_render(tok[k:])}
                for e, tok, (p, k) in zip(batch, tokens, prompts)]

    return _evaluate(task, name, tag, {"temperature": temperature, "order": arm_order(name)}, args, device,
                     header_base, recipe.n_eval, recipe.eval_batch_size, decode_batch)


def model_header(task: Task, recipe, model, ckpt: dict, checks: dict, env: dict, seed: int, order=None) -> dict:
    """Return the results-header fields that identify the task, the model and the environment."""
    summary = ckpt.get("summary") or {}
    model_info = {"preset": recipe.model_preset, "objective": recipe.objective, "order": order,
                  "params": model.num_params(), "non_embedding_params": model.num_params(non_embedding=True),
                  "train_iters": recipe.train.get("iters"), "batch_size": recipe.train.get("batch_size"),
                  "train_seconds": ckpt.get("elapsed"), "final_loss": summary.get("final_loss"),
                  "train_amp": ckpt.get("amp"), "train_amp_reason": ckpt.get("amp_reason"),
                  "checkpoint": ckpt["dir"], "fingerprint": ckpt["fingerprint"], "checks": checks.get("acc", {})}
    info = task.info()
    ident = {"preset": recipe.model_preset, "objective": recipe.objective, "train": recipe.train,
             "fingerprint": ckpt["fingerprint"]}
    if recipe.model:
        ident["model"] = recipe.model
    if recipe.data:
        ident["data"] = recipe.data
    if order is not None:
        ident["order"] = order
    return {"type": "header", "schema": 1, "task": task.name, "variant": task.variant, "scale": task.scale,
            "seed": seed, "model": model_info, "model_identity": ident, "task_identity": info,
            "task_info": dict(info, learning_check=checks.get("acc", {}),
                              learning_check_learned_at=checks.get("learned_at", {}),
                              learning_check_about=checks.get("about", {}), learned=checks.get("learned")),
            "env": env}


def run(args: argparse.Namespace) -> list[dict]:
    """Run every (variant, sampler) the arguments name; returns one summary per results file."""
    if args.scale not in SCALES:
        raise ValueError(f"unknown scale '{args.scale}'; choose one of: {', '.join(SCALES)}")
    task_cls = get_task_class(args.task)
    if getattr(task_cls, "is_text", False):
        from harness.run_text import run_text
        return run_text(args, task_cls)
    if args.model:
        raise ValueError(f"--model is for the text tasks; task {args.task} trains its own model")
    samplers = [s.strip() for s in args.sampler.split(",") if s.strip()]
    mdm_samplers = [s for s in samplers if not is_arm(s)]
    arm_names = [s for s in samplers if is_arm(s)]
    for s in mdm_samplers:
        get_sampler(s)
    for s in arm_names:
        if arm_order(s) not in task_cls.arm_orders:
            offered = ", ".join(f"arm_{o}" for o in task_cls.arm_orders) or "none"
            raise ValueError(f"task {args.task} has no autoregressive baseline '{s}' (it offers: {offered})")
    if args.scale not in task_cls.SCALES:
        raise ValueError(f"task {args.task} has no '{args.scale}' preset; choose one of: {', '.join(task_cls.SCALES)}")
    variants = args.variant.split(",") if args.variant else task_cls.variants(args.scale)
    tasks = [task_cls(v, args.scale, args.data_dir) for v in variants]
    dcfgs = [decode_config(t.recipe("mdm").decode, args) for t in tasks]
    for t in tasks:
        if arm_names:
            arm_temperature(t.recipe("arm").decode, args)
    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1 (got {args.n})")
    if not args.train_only:              # read and check every evaluation input before any training
        for t in tasks:
            for kind in (["mdm"] if mdm_samplers else []) + (["arm"] if arm_names else []):
                eval_examples(t, args.n if args.n is not None else t.recipe(kind).n_eval, args.n is not None)
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    env = environment(device)
    summaries = []
    for task, dcfg in zip(tasks, dcfgs):
        if mdm_samplers or (args.train_only and not arm_names):
            model, ckpt = ensure_model(task, args, device)
            ckpt["fingerprint"] = fingerprint(model)
            if not args.train_only:
                recipe = task.recipe("mdm")
                checks = learning_checks(model, task, ckpt, args.seed, device,
                                         args.batch_size or recipe.eval_batch_size)
                header_base = model_header(task, recipe, model, ckpt, checks, env, args.seed)
                for sampler in mdm_samplers:
                    s = evaluate(task, model, sampler, dcfg, args, device, header_base)
                    print(f"[result] {task.name}/{task.variant} {sampler} {dcfg.tag()}: score "
                          f"{100 * s['score']:.2f}% all-correct {100 * s['correct']:.1f}% (n={s['n']}) -> {s['path']}")
                    summaries.append(s)
        for name in arm_names:
            model, ckpt = ensure_model(task, args, device, order=arm_order(name))
            ckpt["fingerprint"] = fingerprint(model)
            if args.train_only:
                continue
            recipe = task.recipe("arm")
            checks = learning_checks(model, task, ckpt, args.seed, device, args.batch_size or recipe.eval_batch_size,
                                     order=arm_order(name))
            header_base = model_header(task, recipe, model, ckpt, checks, env, args.seed, arm_order(name))
            s = evaluate_arm(task, model, name, args, device, header_base)
            print(f"[result] {task.name}/{task.variant} {name}: score {100 * s['score']:.2f}% "
                  f"all-correct {100 * s['correct']:.1f}% (n={s['n']}) -> {s['path']}")
            summaries.append(s)
    return summaries


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    args = parse_args(argv)
    try:
        run(args)
    except (ValueError, FileNotFoundError, ResultsMismatch) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:             # a full disk, a permission, a directory where a file should be
        where = f" {e.filename}" if e.filename else ""
        print(f"error:{where}: {e.strerror or e}; results written so far are kept (a torn last line is cut on "
              f"resume): free the space or fix the path and run the same command again", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
