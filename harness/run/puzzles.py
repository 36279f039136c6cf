"""The runner's puzzle path (Tables 1, 2, 3, 5): train the task's MDM (and its ARM baselines) when no
finished checkpoint exists, run the learning checks once per model, then decode and score every evaluation
example with each sampler through :func:`harness.run.common.evaluate_examples`."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from harness.decoding.ar_decoder import arm_order, decode_causal, is_arm
from harness.decoding.decoder import DecodeConfig, blocks_needed, decode, value_mask
from harness.decoding.samplers import get_sampler
from harness.env_info import environment
from harness.models import build_model
from harness.models.fingerprint import fingerprint
from harness.run.common import (already_done, check_sampler_args, decode_config, eval_examples, evaluate_examples, resolve_device,
                                 shard)
from harness.run.config import RunConfig
from harness.training.trainer import TrainConfig, is_finished, load_checkpoint, train
from tasks import Task


def ensure_model(task: Task, cfg: RunConfig, device: str, order: str | None = None
                 ) -> tuple[torch.nn.Module, dict]:
    """Return (trained model in eval mode, its checkpoint record), training or resuming when needed.

    ``order`` None is the task's MDM; otherwise the autoregressive baseline trained in that order."""
    objective = "mdm" if order is None else "arm"
    recipe = task.recipe(objective)
    ident = [recipe.model_preset, recipe.objective, recipe.train] + ([recipe.model] if recipe.model else []) \
        + ([recipe.data] if recipe.data else [])
    recipe_hash = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    kind = recipe.objective if order is None else f"arm_{order}"
    ckpt_dir = Path(cfg.ckpt_dir) / task.scale / task.model_key() / \
        f"{kind}-{recipe.model_preset}-{recipe_hash}-seed{cfg.seed}"
    if order is None:
        vocab_size, seq_len, mask_id = task.vocab_size, task.seq_len, task.mask_id
    else:
        (vocab_size, seq_len), mask_id = task.arm_layout(), None
    if not is_finished(ckpt_dir):
        if shard()[1] > 1:
            raise ValueError(f"no finished checkpoint in {ckpt_dir}: train it in one process first "
                             f"(python -m harness.run --task {task.name} --scale {task.scale} --train-only)")
        tcfg = TrainConfig(objective=recipe.objective, seed=cfg.seed, **recipe.train)
        model = build_model(recipe.model_preset, vocab_size, seq_len, causal=order is not None, seed=cfg.seed,
                            **recipe.model)

        def batch_fn(step: int):
            if order is None:
                x, m, *floor = task.train_batch(step, tcfg.batch_size, cfg.seed)
            else:
                x, m, *floor = task.arm_train_batch(step, tcfg.batch_size, cfg.seed, order)
            out = (torch.from_numpy(x).to(device), torch.from_numpy(m).to(device))
            return out + tuple(torch.from_numpy(np.asarray(f, dtype=np.float32)).to(device) for f in floor)

        meta = {"task": task.name, "variant": task.variant, "scale": task.scale, "vocab_size": vocab_size,
                "seq_len": seq_len, "mask_id": mask_id, "preset": recipe.model_preset, "order": order}
        print(f"[train] {task.model_key()} ({task.scale}): {recipe.model_preset} {kind}, "
              f"{tcfg.iters} iters x batch {tcfg.batch_size} -> {ckpt_dir}", file=sys.stderr)
        train(model, batch_fn, tcfg, ckpt_dir, mask_id, meta=meta, device=device, progress=cfg.progress,
              eval_fn=curve_point(task, cfg.seed, device, recipe.eval_batch_size, order))
    model, ckpt = load_checkpoint(ckpt_dir / "ckpt.pt", device=device)
    meta = ckpt.get("meta", {})
    for key, want in (("vocab_size", vocab_size), ("seq_len", seq_len), ("mask_id", mask_id)):
        if meta.get(key) != want:
            raise ValueError(f"checkpoint {ckpt_dir} was trained with {key}={meta.get(key)}, the task needs "
                             f"{want}: delete the directory to retrain")
    ckpt["dir"] = str(ckpt_dir)
    return model, ckpt


CURVE_N = 256
"""Prompts per check at each point of a model's learning curve (the one-forward checks at every checkpoint)."""


def model_checks(task: Task, n: int, seed: int, order: str | None = None) -> list:
    """Return the task's one-forward learning checks on ``n`` prompts each: the MDM's, or with ``order`` the
    ARM baseline's."""
    return task.checks(n, seed) if order is None else task.arm_checks(order, n)


def check_accuracies(model, task: Task, checks: list, device: str, batch_size: int) -> dict[str, float]:
    """Return {check name: argmax accuracy of one forward pass} of ``model`` on ``checks``."""
    return {c.name: check_accuracy(model, task, c, device, batch_size) for c in checks}


def curve_point(task: Task, seed: int, device: str, batch_size: int, order: str | None = None):
    """Return the trainer's ``eval_fn`` for a model of ``task``: at every checkpoint, the accuracy of each of
    the task's learning checks (see :func:`model_checks`) on ``CURVE_N`` prompts, so every trained model
    carries its learning curve. It reads the weights only (the trainer isolates its RNG), so the trained
    weights are the same with or without it."""
    checks = model_checks(task, CURVE_N, seed, order)

    def point(model) -> dict:
        accs = check_accuracies(model, task, checks, device, batch_size)
        return {name: round(acc, 4) for name, acc in accs.items()}
    return point


@torch.no_grad()
def learning_checks(model, task: Task, ckpt: dict, seed: int, device: str, batch_size: int,
                    order: str | None = None) -> dict:
    """Return the task's one-forward learning checks (the MDM's, or with ``order`` the ARM baseline's):
    ``{"acc": {name: accuracy}, "learned_at": {name: threshold}, "about": {name: text}, "learned": bool | None}``
    (``learned`` is None when no check has a threshold). Accuracies are cached beside the checkpoint per
    (weights, task, variant)."""
    checks = model_checks(task, 512, seed, order)
    fp, key = ckpt["fingerprint"], f"{task.name}/{task.variant}"
    cache = Path(ckpt["dir"]) / "checks.json"
    try:                                 # a cache: unreadable (or being replaced by another run) means recompute
        stored = json.loads(cache.read_text()) if cache.exists() else {}
    except (OSError, ValueError):
        stored = {}
    by_key = stored.get("by_task", {}) if stored.get("fingerprint") == fp else {}
    accs = by_key.get(key)
    if accs is None or set(accs) != {c.name for c in checks}:
        accs = check_accuracies(model, task, checks, device, batch_size)
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


def decode_in_buckets(model, x: torch.Tensor, mask_id: int, sampler: str, dcfg: DecodeConfig, seeds: torch.Tensor,
                      allowed: torch.Tensor | None, prior: torch.Tensor | None) -> list[tuple]:
    """Return per row (tokens, order, the batch's forward passes, its steps, the row's forward passes), decoding
    rows that need different numbers of semi-autoregressive blocks (``--block-length``; blocks start at each
    row's first masked cell) in separate batches, as the decoder requires; one batch without blocks."""
    masked = x == mask_id
    need = blocks_needed(masked, dcfg.block_length)
    out: list[tuple | None] = [None] * x.shape[0]
    for n in sorted(set(need.tolist())):
        idx = (need == n).nonzero().flatten()
        res = decode(model, x[idx], mask_id, sampler, dcfg, seeds=seeds[idx], allowed=allowed, token_prior=prior)
        tokens, order, nfe_row = res.tokens.cpu().numpy(), res.order.cpu().numpy(), res.nfe_row.tolist()
        for j, i in enumerate(idx.tolist()):
            out[i] = (tokens[j], order[j].tolist(), res.nfe, res.steps, nfe_row[j])
    return out


PRIOR_BATCHES, PRIOR_BATCH_SIZE = 8, 128
"""Training batches whose maskable tokens give a task's token frequencies (for rules that calibrate by them)."""


def token_frequencies(task: Task, vocab: int, seed: int) -> tuple[torch.Tensor, dict]:
    """Return (frequency of each token id among the maskable positions of the first training batches [V],
    what the results header says about it). Deterministic in the task and seed."""
    counts = np.zeros(vocab, dtype=np.int64)
    for step in range(PRIOR_BATCHES):
        tokens, maskable = task.train_batch(step, PRIOR_BATCH_SIZE, seed)[:2]
        counts += np.bincount(tokens[maskable].ravel(), minlength=vocab)[:vocab]
    info = {"source": "train_batch maskable tokens", "batches": PRIOR_BATCHES, "batch_size": PRIOR_BATCH_SIZE,
            "tokens": int(counts.sum()), "seen_ids": int((counts > 0).sum())}
    return torch.from_numpy(counts / max(int(counts.sum()), 1)), info


def evaluate(task: Task, model, sampler: str, dcfg: DecodeConfig, cfg: RunConfig, device: str, header_base: dict) -> dict:
    """Decode every example with MDM sampler ``sampler``; returns the run's summary (see :func:`harness.run.common.evaluate_examples`)."""
    recipe = task.recipe("mdm")
    dcfg = dcfg.for_sampler(sampler)
    allowed = task.allowed()
    allowed_t = torch.from_numpy(allowed).to(device) if allowed is not None else None
    prior = None
    if get_sampler(sampler).uses_prior:
        prior, prior_info = token_frequencies(task, model.cfg.vocab_size, cfg.seed)
        header_base = dict(header_base, token_prior=prior_info)

    def decode_batch(batch, seeds):
        x = torch.from_numpy(np.stack([e.prompt for e in batch])).to(device)
        rows = decode_in_buckets(model, x, task.mask_id, sampler, dcfg, seeds, allowed_t, prior)
        return [{"tokens": tok, "order": ordr, "nfe": nfe, "steps": steps,
                 "gen_tokens": int((e.prompt == task.mask_id).sum()), "score": task.score(e, tok),
                 "input": task.render(e.prompt), "output": task.render(tok), "extra": {"nfe_row": nfe_row}}
                for e, (tok, ordr, nfe, steps, nfe_row) in zip(batch, rows)]

    return evaluate_examples(task, sampler, dcfg.tag(), dcfg.to_dict(), cfg, device, header_base, recipe.n_eval,
                     recipe.eval_batch_size, decode_batch)


def arm_temperature(recipe_decode: dict, cfg: RunConfig) -> float:
    """Return the ARM decoding temperature: the preset's (0 = greedy) unless the run overrides it."""
    t = cfg.decode.get("temperature") if cfg.decode.get("temperature") is not None else recipe_decode.get("temperature", 0.0)
    if t < 0:
        raise ValueError(f"temperature must be >= 0 (got {t})")
    return float(t)


def evaluate_arm(task: Task, model, name: str, cfg: RunConfig, device: str, header_base: dict) -> dict:
    """Decode every example with the ARM baseline ``name`` (left to right); returns the run's summary."""
    recipe = task.recipe("arm")
    temperature = arm_temperature(recipe.decode, cfg)
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

    return evaluate_examples(task, name, tag, {"temperature": temperature, "order": arm_order(name)}, cfg, device,
                     header_base, recipe.n_eval, recipe.eval_batch_size, decode_batch)


def recipe_identity(recipe, order: str | None = None, fingerprint: str | None = None) -> dict:
    """Return the ``model_identity`` a results header records: the recipe (preset, objective, training, model
    and data knobs, ARM order) and, once the model exists, its weights' fingerprint."""
    ident = {"preset": recipe.model_preset, "objective": recipe.objective, "train": recipe.train}
    if fingerprint is not None:
        ident["fingerprint"] = fingerprint
    if recipe.model:
        ident["model"] = recipe.model
    if recipe.data:
        ident["data"] = recipe.data
    if order is not None:
        ident["order"] = order
    return ident


def complete_without_model(task: Task, cfg: RunConfig, samplers: list[str], dcfg: DecodeConfig,
                           order: str | None = None) -> list[dict] | None:
    """Return the summaries of ``samplers`` (MDM samplers, or with ``order`` the one ARM baseline) when every
    record they would write is already present under this run's identity, so neither training nor loading
    the model is needed; else None. The model's fingerprint is not checked (that would need the model)."""
    if cfg.train_only:
        return None
    if order is None:
        recipe = task.recipe("mdm")
        plans = [(s, c.tag(), c.to_dict()) for s, c in ((s, dcfg.for_sampler(s)) for s in samplers)]
    else:
        recipe = task.recipe("arm")
        t = arm_temperature(recipe.decode, cfg)
        plans = [(s, "greedy" if t == 0 else f"T{t:g}", {"temperature": t, "order": order}) for s in samplers]
    done = already_done(task, plans, recipe_identity(recipe, order), cfg, recipe.n_eval)
    if done is None:
        return None
    for s, d in zip(samplers, done):
        print(f"[complete] {task.name}/{task.variant} {s}: all {d['n']} records present, no model needed "
              f"(score {100 * d['score']:.2f}%) -> {d['path']}")
    return done


def model_header(task: Task, recipe, model, ckpt: dict, checks: dict, env: dict, seed: int, order=None) -> dict:
    """Return the results-header fields that identify the task, the model and the environment."""
    summary = ckpt.get("summary") or {}
    model_info = {"preset": recipe.model_preset, "objective": recipe.objective, "order": order,
                  "params": model.num_params(), "non_embedding_params": model.num_params(non_embedding=True),
                  "train_iters": recipe.train.get("iters"), "batch_size": recipe.train.get("batch_size"),
                  "train_seconds": ckpt.get("elapsed"), "final_loss": summary.get("final_loss"),
                  "train_amp": ckpt.get("amp"), "train_amp_reason": ckpt.get("amp_reason"),
                  "checkpoint": ckpt["dir"], "fingerprint": ckpt["fingerprint"], "checks": checks.get("acc", {}),
                  "learning_curve": list(ckpt.get("evals") or []),
                  "learning_curve_variant": (ckpt.get("meta") or {}).get("variant")}
    info = task.info()
    ident = recipe_identity(recipe, order, ckpt["fingerprint"])
    return {"type": "header", "schema": 1, "task": task.name, "variant": task.variant, "scale": task.scale,
            "seed": seed, "model": model_info, "model_identity": ident, "task_identity": info,
            "task_info": dict(info, learning_check=checks.get("acc", {}),
                              learning_check_learned_at=checks.get("learned_at", {}),
                              learning_check_about=checks.get("about", {}), learned=checks.get("learned")),
            "env": env}


def run_puzzles(cfg: RunConfig, task_cls) -> list[dict]:
    """Run every (variant, sampler) of a puzzle task (its MDM samplers and ARM baselines); returns one summary
    per results file. Every evaluation input is read and checked before any training or write."""
    if cfg.model:
        raise ValueError(f"--model is for the text tasks; task {cfg.task} trains its own model")
    if cfg.decode.get("cache") not in (None, "none"):
        raise ValueError(f"--cache is for the text tasks (semi-autoregressive text decoding); task {cfg.task} "
                         f"decodes a whole grid at once")
    samplers = list(cfg.samplers)
    mdm_samplers = [s for s in samplers if not is_arm(s)]
    arm_names = [s for s in samplers if is_arm(s)]
    check_sampler_args(mdm_samplers, cfg)
    for s in arm_names:
        if arm_order(s) not in task_cls.arm_orders:
            offered = ", ".join(f"arm_{o}" for o in task_cls.arm_orders) or "none"
            raise ValueError(f"task {cfg.task} has no autoregressive baseline '{s}' (it offers: {offered})")
    if cfg.scale not in task_cls.SCALES:
        raise ValueError(f"task {cfg.task} has no '{cfg.scale}' preset; choose one of: {', '.join(task_cls.SCALES)}")
    variants = list(cfg.variants) if cfg.variants else task_cls.variants(cfg.scale)
    tasks = [task_cls(v, cfg.scale, cfg.data_dir) for v in variants]
    dcfgs = [decode_config(t.recipe("mdm").decode, cfg.decode) for t in tasks]
    for t in tasks:
        if arm_names:
            arm_temperature(t.recipe("arm").decode, cfg)
    if not cfg.train_only:              # read and check every evaluation input before any training
        for t in tasks:
            for kind in (["mdm"] if mdm_samplers else []) + (["arm"] if arm_names else []):
                eval_examples(t, cfg.n if cfg.n is not None else t.recipe(kind).n_eval, cfg.n is not None)
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    env = environment(device)
    summaries = []
    for task, dcfg in zip(tasks, dcfgs):
        done = complete_without_model(task, cfg, mdm_samplers, dcfg) if mdm_samplers else None
        if done:
            summaries.extend(done)
        elif mdm_samplers or (cfg.train_only and not arm_names):
            model, ckpt = ensure_model(task, cfg, device)
            ckpt["fingerprint"] = fingerprint(model)
            if not cfg.train_only:
                recipe = task.recipe("mdm")
                checks = learning_checks(model, task, ckpt, cfg.seed, device,
                                         cfg.batch_size or recipe.eval_batch_size)
                header_base = model_header(task, recipe, model, ckpt, checks, env, cfg.seed)
                for sampler in mdm_samplers:
                    s = evaluate(task, model, sampler, dcfg, cfg, device, header_base)
                    print(f"[result] {task.name}/{task.variant} {sampler} {dcfg.for_sampler(sampler).tag()}: score "
                          f"{100 * s['score']:.2f}% all-correct {100 * s['correct']:.1f}% (n={s['n']}) -> {s['path']}")
                    summaries.append(s)
        for name in arm_names:
            done = complete_without_model(task, cfg, [name], dcfg, order=arm_order(name))
            if done:
                summaries.extend(done)
                continue
            model, ckpt = ensure_model(task, cfg, device, order=arm_order(name))
            ckpt["fingerprint"] = fingerprint(model)
            if cfg.train_only:
                continue
            recipe = task.recipe("arm")
            checks = learning_checks(model, task, ckpt, cfg.seed, device, cfg.batch_size or recipe.eval_batch_size,
                                     order=arm_order(name))
            header_base = model_header(task, recipe, model, ckpt, checks, env, cfg.seed, arm_order(name))
            s = evaluate_arm(task, model, name, cfg, device, header_base)
            print(f"[result] {task.name}/{task.variant} {name}: score {100 * s['score']:.2f}% "
                  f"all-correct {100 * s['correct']:.1f}% (n={s['n']}) -> {s['path']}")
            summaries.append(s)
    return summaries
