"""The runner's shared library: device and decode-knob resolution, model fingerprints, sharding under
``torchrun``/``accelerate``, and :func:`evaluate_examples`, the one loop that decodes, scores and records
every example of a run (resuming, batching and seeding per example) for the puzzle and the text paths."""
from __future__ import annotations

import os
import resource
import sys
import time
from datetime import datetime, timezone

import numpy as np
import torch
from tqdm import tqdm

from harness.decoding import rng
from harness.decoding.decoder import DecodeConfig
from harness.decoding.samplers import get_sampler
from harness.results import ResultsFile, complete_run, read_records, results_path
from harness.run.config import RunConfig
from harness.training.precision import autocast_context


def resolve_device(name: str) -> str:
    """Return a concrete torch device string for ``name`` ('auto' picks CUDA when present)."""
    if name == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{os.environ['LOCAL_RANK']}" if "LOCAL_RANK" in os.environ else "cuda"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} asked for CUDA but torch sees no GPU; use --device cpu")
    return name


def decode_config(recipe_decode: dict, overrides: dict) -> DecodeConfig:
    """Return the scale's decode knobs with the run's explicit ``overrides`` applied, validated."""
    return DecodeConfig(**{**recipe_decode, **{k: v for k, v in overrides.items() if v is not None}}).validate()


def check_sampler_args(samplers: list[str], cfg: RunConfig) -> None:
    """Check every sampler name and that each ``--sampler-arg`` knob belongs to at least one of them (a knob
    applies to the samplers that have it); raises a one-line ValueError otherwise."""
    knobs: dict[str, list[str]] = {}
    for s in samplers:
        for k in get_sampler(s).knobs:
            knobs.setdefault(k, []).append(s)
    unknown = sorted(set(cfg.decode.get("sampler_args") or {}) - set(knobs))
    if unknown:
        have = "; ".join(f"{k} ({', '.join(v)})" for k, v in knobs.items()) or "none"
        raise ValueError(f"--sampler-arg {', '.join(unknown)}: no sampler of this run has that knob "
                         f"(knobs here: {have})")


def decode_precision(device: str, amp: str) -> str:
    """Return the decoding precision, 'bf16' or 'off': bf16 on CUDA under 'auto', everywhere under 'bf16'."""
    return "bf16" if amp == "bf16" or (amp == "auto" and device.startswith("cuda")) else "off"


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


def evaluate_examples(task, sampler: str, tag: str, decode_fields: dict, cfg: RunConfig, device: str,
                      header_base: dict, n_default: int, batch_default: int, decode_batch) -> dict:
    """Decode and score every example not yet in the results file; returns the run's summary.

    ``decode_batch(examples, seeds)`` returns one dict per example with tokens, order, nfe, steps,
    gen_tokens, a Score, the rendered input and output, and optionally ``extra`` fields for the record.
    Under ``torchrun``/``accelerate launch`` each rank takes every world-th example and writes its own
    file (``...__rank<r>of<W>.jsonl``); the report pools the shards. Seeds depend on the example's index
    only, so a sharded run writes the same records as a single process."""
    n = cfg.n if cfg.n is not None else n_default
    batch_size = cfg.batch_size or batch_default
    rank, world = shard()
    path = planned_path(task, sampler, tag, cfg)
    header = dict(header_base, sampler=sampler, decode=decode_fields, decode_tag=tag, n_planned=n,
                  started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  run=cfg.to_dict())
    if world > 1:
        header.update(rank=rank, world_size=world)
    examples = eval_examples(task, n, explicit=cfg.n is not None)    # read and checked before any write
    rf = ResultsFile(path, header, defaults={"decode": DecodeConfig().to_dict()}).open()
    index = {e.id: i for i, e in enumerate(examples)}
    examples = examples[rank::world]
    todo = [e for e in examples if e.id not in rf.done]
    bar = tqdm(total=len(examples), initial=len(examples) - len(todo), desc=f"{task.name}/{task.variant} {sampler}",
               disable=not cfg.progress, unit="ex", file=sys.stderr)
    for i in range(0, len(todo), batch_size):
        batch = todo[i:i + batch_size]
        seeds = rng.example_seeds(cfg.seed, [index[e.id] for e in batch]).to(device)
        t0 = time.perf_counter()
        with autocast_context(decode_precision(device, cfg.amp), device):
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
    return file_summary(path)


def file_summary(path) -> dict:
    """Return a results file's summary: path, records, mean score and mean all-correct."""
    _, recs, _ = read_records(path)
    scores = [r["score"] for r in recs]
    return {"path": str(path), "n": len(recs), "score": float(np.mean(scores)) if scores else float("nan"),
            "correct": float(np.mean([r["correct"] for r in recs])) if recs else float("nan")}


def planned_path(task, sampler: str, tag: str, cfg: RunConfig):
    """Return the results file this process writes for (task, sampler, tag) (a rank's shard under torchrun)."""
    path = results_path(cfg.results_dir, task.scale, task.name, task.variant, sampler, tag, cfg.seed)
    rank, world = shard()
    return path.with_name(f"{path.stem}__rank{rank}of{world}.jsonl") if world > 1 else path


def already_done(task, plans: list[tuple[str, str, dict]], model_identity: dict, cfg: RunConfig, n_default: int,
                 unchecked: tuple[str, ...] = ("model_identity.fingerprint",)) -> list[dict] | None:
    """Return one summary per (sampler, tag, decode fields) in ``plans`` when each results file already holds
    every planned example under this run's identity, so nothing needs a model (the model's weights, not
    loaded, are not compared: see ``unchecked``); else None. The task's examples and facts are read once."""
    n = cfg.n if cfg.n is not None else n_default
    rank, world = shard()
    ids = {e.id for e in eval_examples(task, n, explicit=cfg.n is not None)[rank::world]}
    base = {"task": task.name, "variant": task.variant, "scale": task.scale, "seed": cfg.seed,
            "model_identity": model_identity, "task_identity": task.info()}
    paths = []
    for sampler, tag, fields in plans:
        path = planned_path(task, sampler, tag, cfg)
        if not complete_run(path, dict(base, sampler=sampler, decode=fields), ids,
                            defaults={"decode": DecodeConfig().to_dict()}, unchecked=unchecked):
            return None
        paths.append(path)
    return [file_summary(path) for path in paths]
