"""Figure 3: generative perplexity and unigram entropy of unconditional MDM samples against the number of
sampling steps, for vanilla decoding and for top-probability-margin decoding with Gaussian noise.

Protocol (PAPER.md §2 "Figure 3", App. D.1.2): every position of a ``gen_len`` row is masked and decoded
with ``steps`` steps, revealing ``gen_len // steps`` positions per step (the remainder one extra in the
first steps; the paper's K = #masks·(α_s−α_t)/(1−α_t) for the linear schedule). Token values are sampled
at temperature 1. The samplers are ``vanilla`` (random order) and ``margin`` with N(0, σ²) noise added to
the margin score at every step (:class:`harness.decoding.decoder.DecodeConfig` ``gaussian=σ``), once per σ in the
preset; the paper does not give σ, so the preset sweeps a few values (σ = 0 is plain margin). Each sample
is decoded to text (special tokens dropped), re-tokenised by the autoregressive judge and scored
(:mod:`harness.figure.genppl_score`); its unigram entropy is taken on the MDM's own token ids.

Reference line: ``n`` windows of ``gen_len`` tokens of held-out real text (the last 10% of Tiny Shakespeare,
never trained on), scored the same way, so the plot shows where real text sits.

Files: one results file per (sampler, σ) under ``results/<scale>/genppl/samples/``, one record per sample
(id ``s<steps>-<index>``), and ``results/<scale>/genppl/data/heldout__seed0.jsonl``. Per-example seeds come
from :func:`harness.decoding.rng.example_seeds`, the same index getting the same seed under every configuration
(common random numbers). A rerun skips recorded ids. On CPU the files run in ``workers`` processes of one
torch thread each.

Scales: ``smoke`` (tiny models, seconds), ``small`` (our prose MDM and judge from
:mod:`harness.figure.text_models`), ``paper`` (``--model``: a text MDM in ``transformers`` format, e.g.
LLaDA-8B-Base or a converted SMDM checkpoint; ``--judge``: e.g. a local Llama-2-7B; both required, on a GPU,
judge in bf16).
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

NAME = "genppl"
TEXT_CHARS = 300
"""Characters of each decoded sample kept in its record."""

SCALES: dict[str, dict] = {
    "smoke": dict(gen_len=32, steps=[4, 32], sigmas=[0.0, 0.5], n=4, batch=4, judge_batch=8, reference=True,
                  dtype="auto"),
    "small": dict(gen_len=128, steps=[4, 8, 16, 32, 64, 128], sigmas=[0.0, 0.05, 0.3], n=64, batch=32,
                  judge_batch=32, reference=True, dtype="auto"),
    "paper": dict(gen_len=1024, steps=[16, 32, 64, 128, 256, 512, 1024], sigmas=[0.0, 0.05, 0.3], n=128,
                  batch=8, judge_batch=8, reference=False, dtype="auto"),
}
"""Per scale: sample length, steps sweep, σ values of margin's Gaussian noise, samples per (sampler, σ, steps),
decode / judge batch sizes, whether to score held-out Tiny Shakespeare as the reference line (not at
``paper``: the paper's MDMs train on web text, so Shakespeare under Llama-2 would be a misleading line),
and the dtype (``auto`` = bf16 on CUDA, float32 on CPU). The decoder draws each example's token noise as a
float64 [batch, gen_len, vocab] tensor, so the decode batch is what bounds memory for large vocabularies
(``paper``: 8 x 1024 x 32k, Llama's vocabulary, is about 2 GB per temporary)."""

SEED = 0


def configs(preset: dict) -> list[tuple[str, float]]:
    """Return the (sampler, σ) pairs of a preset: vanilla, then margin with each σ."""
    return [("vanilla", 0.0)] + [("margin", float(s)) for s in preset["sigmas"]]


def config_name(sampler: str, sigma: float) -> str:
    """Return the results-file name of a (sampler, σ) pair, e.g. ``vanilla`` or ``margin-sigma0.05``."""
    return sampler if sampler == "vanilla" else f"{sampler}-sigma{sigma:g}"


def planned_models(scale: str, ckpt_dir, model: str | None, judge: str | None) -> tuple[str, str]:
    """Return (MDM path, judge path) without training anything: the given ones, else where the scale's own
    text models live (built or not)."""
    if model and judge:
        return str(model), str(judge)
    if scale == "paper":
        raise ValueError("scale 'paper' needs --model PATH (a text MDM in transformers format, e.g. LLaDA-8B-Base) "
                         "and --judge PATH (an autoregressive LM, e.g. a local Llama-2-7B)")
    from harness.figure.text_models import models_dir
    root = models_dir(ckpt_dir, scale)
    return str(model or root / "mdm" / "model"), str(judge or root / "judge" / "model")


def resolve_models(scale: str, ckpt_dir, data_dir, device: str, progress: bool, workers: int,
                   model: str | None, judge: str | None) -> tuple[str, str]:
    """Return (MDM path, judge path): the given ones, else the scale's own text models (trained if missing).
    :func:`planned_models` has already refused the paper scale without both paths."""
    if model and judge:
        return str(model), str(judge)
    from harness.figure.text_models import figure_text_models
    own = figure_text_models(scale, ckpt_dir, data_dir, device=device, progress=progress, workers=workers)
    return str(model or own["mdm"]), str(judge or own["judge"])


def load_judge(path: str, device: str, dtype: str = "auto"):
    """Return (judge model in eval mode on ``device``, its tokenizer), loaded as ``AutoModelForCausalLM``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models import hf as _hf  # noqa: F401  (registers our causal model with the Auto classes)
    from harness.models.text import resolve_dtype
    local = Path(path).expanduser()
    missing = not local.exists() and path.startswith((".", "/"))
    if missing or (local.exists() and not (local / "config.json").exists()):
        raise FileNotFoundError(f"no transformers model at {path} (expected config.json there); point --judge at "
                                f"a causal LM directory such as a local Llama-2-7B")
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise FileNotFoundError(f"cannot load judge {path!r}: {str(e).splitlines()[0]}; pass a local directory "
                                f"with config.json and the tokenizer files") from e
    net = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype, device)).to(device).eval()
    return net, tok


def _identity(job: dict, fingerprints: bool = True) -> dict:
    """Return what determines a file's records; ``fingerprints=False`` leaves out the two models' weight hashes
    (for the no-model completeness check, before the models exist)."""
    from harness.figure.common import model_dir_fingerprint
    ident = {"mdm": job["mdm"], "judge": job["judge"], "gen_len": job["gen_len"], "sampler": job["sampler"],
             "sigma": job["sigma"], "temperature": 1.0, "dtype": job["dtype"], "kind": job["kind"]}
    if fingerprints:
        ident.update(mdm_fingerprint=model_dir_fingerprint(job["mdm"]),
                     judge_fingerprint=model_dir_fingerprint(job["judge"]))
    return ident


def _file_name(job: dict) -> tuple[str, str, list[str]]:
    """Return (variant, name, planned ids) of one job's results file."""
    if job["kind"] == "samples":
        return "samples", config_name(job["sampler"], job["sigma"]), \
            [f"s{s}-{i}" for s in job["steps"] for i in range(job["n"])]
    return "data", "heldout", [f"w{i}" for i in range(job["n"])]


def _complete(job: dict) -> Path | None:
    """Return the job's results file when it already holds every planned record (no model needed), else None."""
    from harness.figure.common import figure_path, recorded_complete
    variant, name, ids = _file_name(job)
    path = figure_path(job["results_dir"], job["scale"], NAME, variant, name, SEED)
    return path if recorded_complete(path, _identity(job, fingerprints=False), set(ids)) else None


def _open(job: dict, n_planned: int):
    from harness.figure.common import figure_results, text_model_info
    variant, name, _ = _file_name(job)
    info = {"mdm": text_model_info(job["mdm"]), "judge": text_model_info(job["judge"]), "gen_len": job["gen_len"],
            "steps": job["steps"], "n": job["n"], "sampler": job["sampler"], "sigma": job["sigma"],
            "temperature": 1.0, "seed": SEED, "reference": job.get("reference_source")}
    return figure_results(job["results_dir"], job["scale"], NAME, variant, name, identity=_identity(job),
                          n_planned=n_planned, device=job["device"], info=info, seed=SEED)


def _score(judge, judge_tok, texts: list[str], job: dict) -> tuple[np.ndarray, np.ndarray, float]:
    from harness.figure.genppl_score import judge_nll
    t0 = time.perf_counter()
    nll, cnt = judge_nll(judge, judge_tok, texts, batch_size=job["judge_batch"])
    return nll, cnt, time.perf_counter() - t0


def run_samples(job: dict) -> str:
    """Decode and score every missing sample of one (sampler, σ) file; return the file's path."""
    from harness.decoding import rng
    from harness.decoding.decoder import DecodeConfig, decode
    from harness.figure.genppl_score import unigram_entropies
    from harness.models.text import context_length
    from harness.models.text import load_text_model

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    rf = _open(job, job["n"] * len(job["steps"]))
    todo = [(s, i) for s in job["steps"] for i in range(job["n"]) if f"s{s}-{i}" not in rf.done]
    if not todo:
        return str(rf.path)
    tm = load_text_model(job["mdm"], device=job["device"], dtype=job["dtype"])
    L = job["gen_len"]
    ctx = context_length(tm.model, default=L)
    if L > ctx:
        raise ValueError(f"gen_len {L} exceeds the MDM's context of {ctx} tokens; use a longer-context model "
                         f"or a smaller gen_len")
    judge, judge_tok = load_judge(job["judge"], job["device"], job["dtype"])
    bar = tqdm(total=len(todo), disable=not job["progress"], dynamic_ncols=True,
               desc=f"genppl {config_name(job['sampler'], job['sigma'])}")
    for steps in job["steps"]:
        idx = [i for s, i in todo if s == steps]
        for b in range(0, len(idx), job["batch"]):
            chunk = idx[b:b + job["batch"]]
            x = torch.full((len(chunk), L), tm.mask_id, dtype=torch.long, device=job["device"])
            cfg = DecodeConfig(steps=steps, temperature=1.0, gaussian=job["sigma"])
            t0 = time.perf_counter()
            out = decode(tm.model, x, tm.mask_id, job["sampler"], cfg, seeds=rng.example_seeds(SEED, chunk),
                         eos_ids=tm.eos_ids, eot_ids=tm.eot_ids)
            dec_s = time.perf_counter() - t0
            tokens = out.tokens.cpu()
            ent = unigram_entropies(tokens).numpy()
            texts = [tm.decode(row) for row in tokens.tolist()]
            nll, cnt, judge_s = _score(judge, judge_tok, texts, job)
            special = set(tm.stop_ids()) | {tm.pad_id, tm.mask_id}
            recs = [{"id": f"s{steps}-{i}", "index": i, "steps": steps, "method": job["sampler"],
                     "sigma": job["sigma"], "gen_len": L, "nll": float(nll[r]), "judge_tokens": int(cnt[r]),
                     "entropy": float(ent[r]), "special_tokens": sum(t in special for t in tokens[r].tolist()),
                     "text": texts[r][:TEXT_CHARS], "nfe": int(out.nfe_row[r]), "seconds": dec_s / len(chunk),
                     "judge_seconds": judge_s / len(chunk)} for r, i in enumerate(chunk)]
            rf.append(recs)
            bar.update(len(chunk))
    bar.close()
    return str(rf.path)


def run_reference(job: dict) -> str:
    """Score ``n`` held-out real-text windows of ``gen_len`` MDM tokens with the judge; return the file's path."""
    from harness.figure.text_models import heldout_text
    from harness.figure.genppl_score import unigram_entropies
    from harness.training.text_mdm import token_stream

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    rf = _open(job, job["n"])
    todo = [i for i in range(job["n"]) if f"w{i}" not in rf.done]
    if not todo:
        return str(rf.path)
    from transformers import AutoTokenizer
    mdm_tok = AutoTokenizer.from_pretrained(job["mdm"])
    stream = token_stream([heldout_text(job["data_dir"])], mdm_tok)[:-1]  # drop the closing EOS
    L = job["gen_len"]
    if len(stream) < L + 1:
        raise ValueError(f"the held-out text has {len(stream)} tokens, fewer than gen_len={L}; lower gen_len")
    starts = np.random.default_rng([SEED, 3]).integers(0, len(stream) - L, size=job["n"])
    judge, judge_tok = load_judge(job["judge"], job["device"], job["dtype"])
    for b in range(0, len(todo), job["batch"]):
        chunk = todo[b:b + job["batch"]]
        tokens = torch.from_numpy(np.stack([stream[starts[i]:starts[i] + L] for i in chunk]))
        texts = [mdm_tok.decode(row, skip_special_tokens=True) for row in tokens.tolist()]
        ent = unigram_entropies(tokens).numpy()
        nll, cnt, judge_s = _score(judge, judge_tok, texts, job)
        rf.append([{"id": f"w{i}", "index": i, "start_token": int(starts[i]), "gen_len": L, "nll": float(nll[r]),
                    "judge_tokens": int(cnt[r]), "entropy": float(ent[r]),  # no text: the data stays in data_dir
                    "judge_seconds": judge_s / len(chunk)} for r, i in enumerate(chunk)])
    return str(rf.path)


def _dispatch(job: dict) -> str:
    return run_samples(job) if job["kind"] == "samples" else run_reference(job)


def run(scale: str, *, results_dir="results", ckpt_dir="checkpoints", data_dir=None, device: str = "cpu",
        workers: int = 1, progress: bool = True, model: str | None = None, judge: str | None = None,
        **_) -> list[Path]:
    """Run Figure 3 at ``scale``; return the results files written (samples per (sampler, σ), then the
    held-out reference). Resumable: recorded ids are skipped."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of: {', '.join(SCALES)}")
    p = SCALES[scale]
    if any(s < 1 or s > p["gen_len"] for s in p["steps"]):
        raise ValueError(f"every steps value must be in 1..gen_len={p['gen_len']} (got {p['steps']})")
    parallel = device == "cpu" and workers > 1
    mdm_path, judge_path = planned_models(scale, ckpt_dir, model, judge)
    base = dict(scale=scale, results_dir=str(results_dir), data_dir=data_dir, device=device, mdm=mdm_path,
                judge=judge_path, gen_len=p["gen_len"], steps=list(p["steps"]), n=p["n"], batch=p["batch"],
                judge_batch=p["judge_batch"], dtype=p["dtype"], progress=progress, threads=1 if parallel else 0)
    jobs = [dict(base, kind="samples", sampler=s, sigma=sig) for s, sig in configs(p)]
    if p["reference"]:
        jobs.append(dict(base, kind="reference", sampler="data", sigma=0.0,
                         reference_source="tinyshakespeare, last 10% (held out)"))
    done = [_complete(j) for j in jobs]
    if all(done):
        from harness.figure.common import report_complete
        report_complete(NAME, done)
        return done
    built = resolve_models(scale, ckpt_dir, data_dir, device, progress, workers, model, judge)
    if built != (mdm_path, judge_path):
        jobs = [dict(j, mdm=built[0], judge=built[1]) for j in jobs]
    if parallel:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            paths = list(pool.map(_dispatch, jobs))
    else:
        paths = [_dispatch(j) for j in jobs]
    return [Path(x) for x in paths]
