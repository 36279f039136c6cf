"""The runner's text path (Table 4): ``python -m harness.run --task humaneval_split --sampler margin --model PATH``.

Loads the text MDM through ``transformers`` (``--model``; at ``small``/``smoke`` scale our own small text
MDM, built here when missing), turns each task example into token rows with the model's tokenizer
(infill: prefix + n masks + suffix with n the reference's token length; generate: prompt + gen_length
masks), decodes them with the shared decoder, and records one JSONL line per example through the same
results store, resume and sharding as the puzzle tasks.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from harness.decoding.decoder import DecodeConfig
from harness.env_info import environment
from harness.models.text import TextModel, context_length, load_text_model
from harness.run.common import (already_done, check_sampler_args, decode_config, evaluate_examples, resolve_device,
                                 shard)
from harness.run.config import RunConfig
from harness.decoding.textgen import (content_tokens, cut_at_stop, decode_rows, generation_rows, infill_rows,
                                      masked_logprobs, mc_loglikelihood)
from tasks.datafiles import default_data_dir
from tasks.text import DEFAULT_MODEL, TextExample, TextTask

SMALL_TEXT_MDM = {"smoke": dict(preset="0.2M", seq_len=256, vocab_size=1024, iters=60, batch_size=8,
                                code_bytes=400_000),
                  "small": dict(preset="0.8M", seq_len=512, vocab_size=4096, iters=300, batch_size=8,
                                code_bytes=3_000_000)}
"""Our offline text MDM per scale (see harness.training.text_mdm): checks the pipeline, not an 8B model's skill."""


def planned_model_path(cfg: RunConfig, scale: str) -> str:
    """Return the model this run loads: ``--model``, the scale's default, or where our small text MDM lives
    (``<ckpt-dir>/<scale>/text-mdm/seed<seed>/model``, built there when missing)."""
    if cfg.model:
        return cfg.model
    if scale in DEFAULT_MODEL:
        return DEFAULT_MODEL[scale]
    return str(Path(cfg.ckpt_dir) / scale / "text-mdm" / f"seed{cfg.seed}" / "model")


def model_name(path: str) -> str:
    """Return the name a results header records for a model path: its directory name, the hub id as given,
    and ``text-mdm/seed<s>`` for our own small text MDM."""
    p = Path(path.rstrip("/"))
    if p.name == "model":
        return "/".join(p.parts[-3:-1])
    return p.name if p.exists() else path


def text_plan(task: TextTask, dcfg: DecodeConfig, cfg: RunConfig) -> tuple[str, dict, int]:
    """Return (file tag, decode fields the header records, generation length) of ``task`` under this run."""
    preset = task.preset()
    gen_length = cfg.gen_length or preset["gen_length"]
    if task.mode == "choice":
        mc_num = cfg.mc_num or preset["mc_num"]
        return f"mc{mc_num}", {"mc_num": mc_num}, gen_length
    return dcfg.tag() + (f"-gen{gen_length}" if task.mode == "generate" else ""), dcfg.to_dict(), gen_length


def ensure_text_model(cfg: RunConfig, scale: str) -> str:
    """Return the model path to load: ``--model``, the scale's default, or our small text MDM (built if needed)."""
    if cfg.model:
        return cfg.model
    if scale in DEFAULT_MODEL:
        return DEFAULT_MODEL[scale]
    from harness.training.text_mdm import build
    out = Path(cfg.ckpt_dir) / scale / "text-mdm" / f"seed{cfg.seed}"
    if not (out / "model" / "config.json").exists() and shard()[1] > 1:
        raise ValueError(f"no small text MDM in {out}: build it in one process first "
                         f"(python -m harness.run --task rocstories --scale {scale} --train-only)")
    print(f"[model] small text MDM ({scale}) -> {out}/model", file=sys.stderr)
    data_dir = cfg.data_dir if cfg.data_dir is not None else default_data_dir()
    return str(build(out, seed=cfg.seed, data_dir=data_dir, progress=cfg.progress,
                     **SMALL_TEXT_MDM[scale]))


def encode_prompt(tm: TextModel, text: str, chat: bool) -> list[int]:
    """Return the prompt's ids: inside the chat template when ``chat``, else with the tokenizer's specials."""
    if chat:
        return tm.encode(tm.chat(text), specials=False)
    return tm.encode(text, specials=True)


def build_row(tm: TextModel, e: TextExample, chat: bool, gen_length: int, limit: int) -> tuple[list[int] | None, dict]:
    """Return (token row with mask ids where the model writes, facts for the record); None when it cannot fit.

    Context that does not fit ``limit`` is cut from the far ends (the prefix's start, the suffix's end)."""
    if e.mode == "infill":
        prefix = tm.encode(e.prefix, specials=True)
        suffix = tm.encode(e.suffix) if e.suffix else []
        n = len(tm.encode(e.reference))
        info = {"n_infill": n, "prefix_tokens": len(prefix), "suffix_tokens": len(suffix)}
        if n < 1 or n >= limit:
            return None, dict(info, error=f"span of {n} tokens does not fit the model's {limit}")
        room = limit - n
        if len(prefix) + len(suffix) > room:
            keep_s = min(len(suffix), room // 2)
            keep_p = room - keep_s
            if keep_p > len(prefix):
                keep_p, keep_s = len(prefix), room - len(prefix)
            prefix, suffix = prefix[len(prefix) - keep_p:], suffix[:keep_s]
            info["truncated"] = True
        return infill_rows(tm, [prefix], [suffix], [n])[0], info
    prompt = encode_prompt(tm, e.prompt, chat)
    info = {"prompt_tokens": len(prompt), "gen_length": gen_length}
    if gen_length >= limit:
        return None, dict(info, error=f"gen_length {gen_length} does not fit the model's {limit}")
    if len(prompt) + gen_length > limit:
        prompt = prompt[len(prompt) + gen_length - limit:]
        info["truncated"] = True
    return generation_rows(tm, [prompt], gen_length)[0], info


def evaluate_text(task: TextTask, tm: TextModel, sampler: str, dcfg: DecodeConfig, cfg: RunConfig, device: str,
                  header_base: dict, chat: bool, gen_length: int) -> dict:
    """Decode (or score by likelihood) every example of ``task`` with ``sampler``; returns the run's summary."""
    preset = task.preset()
    if sampler != "likelihood":
        dcfg = dcfg.for_sampler(sampler)
    limit = context_length(tm.model, default=1 << 30)
    mc_num = cfg.mc_num or preset["mc_num"]

    def decode_batch(batch: list[TextExample], seeds: torch.Tensor) -> list[dict]:
        rows, infos = zip(*(build_row(tm, e, chat, gen_length, limit) for e in batch))
        ok = [i for i, r in enumerate(rows) if r is not None]
        outs = decode_rows(tm, [rows[i] for i in ok], sampler, dcfg, seeds[ok].cpu()) if ok else []
        texts, decoded = [""] * len(batch), [None] * len(batch)
        for i, o in zip(ok, outs):
            ids = o.ids if batch[i].mode == "infill" else cut_at_stop(o.ids, tm.stop_ids())
            texts[i], decoded[i] = tm.decode(ids), o
        scores = task.score_batch(list(batch), texts)
        res = []
        for i, (e, s) in enumerate(zip(batch, scores)):
            o = decoded[i]
            extra = dict(infos[i], n_masked=len(o.ids) if o else 0, masks_left=o.masks_left if o else 0)
            res.append({"tokens": None, "order": o.order if o else [], "nfe": o.nfe if o else 0,
                        "steps": o.nfe if o else 0, "gen_tokens": content_tokens(o.ids, tm) if o else 0,
                        "score": s, "input": _input_text(e), "output": texts[i], "extra": extra})
        return res

    def likelihood_batch(batch: list[TextExample], seeds: torch.Tensor) -> list[dict]:
        res = []
        for e, seed in zip(batch, seeds.tolist()):
            ctx = encode_prompt(tm, e.prompt, False)
            conts = [tm.encode(c) for c in e.choices or []]
            nfe, lls = 0, []
            if all(len(c) == 1 for c in conts):  # one masked token: exact, one forward scores every choice
                logp = masked_logprobs(tm, ctx[-(limit - 1):])
                lls, nfe = [float(logp[c[0]]) for c in conts], 1
            else:
                for c in conts:
                    lls.append(mc_loglikelihood(tm, ctx, c, mc_num=mc_num, batch_size=min(32, mc_num), seed=seed))
                    nfe += mc_num
            best = max(range(len(lls)), key=lambda j: lls[j])
            s = task.score_batch([e], [e.choices[best]])[0]
            s.metrics["loglikelihoods"] = lls
            res.append({"tokens": None, "order": [], "nfe": nfe, "steps": 0, "gen_tokens": 0, "score": s,
                        "input": _input_text(e), "output": e.choices[best], "extra": {"mc_num": mc_num}})
        return res

    fn = likelihood_batch if task.mode == "choice" else decode_batch
    tag, fields, _ = text_plan(task, dcfg, cfg)  # dcfg is this sampler's (evaluate_text narrowed it)
    return evaluate_examples(task, sampler, tag, fields, cfg, device, header_base, preset["n_eval"],
                             preset["batch_size"], fn)


def _input_text(e: TextExample, limit: int = 2000) -> str:
    text = e.prompt if e.mode != "infill" else f"{e.prefix}<|infill {e.reference!r}|>{e.suffix}"
    return text if len(text) <= limit else text[:limit // 2] + " … " + text[-limit // 2:]


def complete_text_runs(tasks: list[TextTask], dcfgs: list[DecodeConfig], samplers: list[str],
                       cfg: RunConfig) -> list[dict] | None:
    """Return every summary when each (task, sampler) this run names already has all its records under this
    run's identity (the model compared by its recorded name only: it is neither built nor loaded); else None."""
    if cfg.train_only:
        return None
    name = model_name(planned_model_path(cfg, cfg.scale))
    out = []
    for task, dcfg in zip(tasks, dcfgs):
        names = ["likelihood"] if task.mode == "choice" else [s for s in samplers if s != "likelihood"]
        plans = [(s, *text_plan(task, dcfg if s == "likelihood" else dcfg.for_sampler(s), cfg)[:2]) for s in names]
        done = already_done(task, plans, {"name": name}, cfg, task.preset()["n_eval"],
                            unchecked=("model_identity.params", "model_identity.dtype", "model_identity.mask_id"))
        if done is None:
            return None
        out += [(task, s, d) for s, d in zip(names, done)]
    for task, sampler, d in out:
        print(f"[complete] {task.name}/{task.variant} {sampler}: all {d['n']} records present, no model needed "
              f"(score {100 * d['score']:.2f}%) -> {d['path']}")
    return [d for _, _, d in out]


def run_text(cfg: RunConfig, task_cls) -> list[dict]:
    """Run every (variant, sampler) of a text task; returns one summary per results file."""
    samplers = list(cfg.samplers)
    check_sampler_args([s for s in samplers if s != "likelihood"], cfg)
    if cfg.scale not in task_cls.SCALES:
        raise ValueError(f"task {cfg.task} has no '{cfg.scale}' preset; choose one of: {', '.join(task_cls.SCALES)}")
    variants = list(cfg.variants) if cfg.variants else task_cls.variants(cfg.scale)
    tasks = [task_cls(v, cfg.scale, cfg.data_dir) for v in variants]
    dcfgs = [decode_config(t.preset()["decode"], cfg.decode) for t in tasks]
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    done = complete_text_runs(tasks, dcfgs, samplers, cfg)
    if done is not None:
        return done
    path = ensure_text_model(cfg, cfg.scale)
    if cfg.train_only:
        return []
    tm = load_text_model(path, device=device, dtype=cfg.dtype, mask_id=cfg.mask_id)
    env = environment(device)
    name = model_name(path)
    summaries = []
    for task, dcfg in zip(tasks, dcfgs):
        preset = task.preset()
        gen_length = cfg.gen_length or preset["gen_length"]
        chat = {"on": True, "off": False}.get(cfg.chat, tm.has_chat_template) and task.mode == "generate"
        model_info = dict(tm.info, name=name)
        header_base = {"type": "header", "schema": 1, "task": task.name, "variant": task.variant,
                       "scale": task.scale, "seed": cfg.seed, "model": model_info,
                       "model_identity": {"name": name, "params": tm.info["params"], "dtype": tm.info["dtype"],
                                          "mask_id": tm.mask_id},
                       "task_identity": task.info(), "task_info": task.info(), "env": env,
                       "text": {"mode": task.mode, "gen_length": gen_length if task.mode == "generate" else None,
                                "block_length": dcfg.block_length, "steps": dcfg.steps, "chat": chat}}
        run_samplers = ["likelihood"] if task.mode == "choice" else [s for s in samplers if s != "likelihood"]
        for sampler in run_samplers:
            s = evaluate_text(task, tm, sampler, dcfg, cfg, device, header_base, chat, gen_length)
            print(f"[result] {task.name}/{task.variant} {sampler}: score {100 * s['score']:.2f}% "
                  f"(n={s['n']}) -> {s['path']}")
            summaries.append(s)
    return summaries
