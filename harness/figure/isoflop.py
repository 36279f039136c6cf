"""Figure 2 (left): IsoFLOP curves of pi-learners (PAPER.md 2, "Left panel"; App. C.1).

    python -m harness.figure isoflop --scale small      # Tiny Shakespeare characters on this CPU
    python -m harness.figure isoflop --scale paper      # SlimPajama, L = 2048, on a GPU

Learners (all with learned absolute position embeddings, no RoPE, as in the paper):

* ``arm`` and the pi-learners ``much_closer_{0,1,2}``, ``closer_{0,1,2}``, ``uniform_{0,1,2}``: a causal
  transformer trained with next-token loss on ``pi(x) = x[perm]`` (a window with its positions permuted by
  one fixed permutation of :mod:`harness.training.permutations`; ``arm`` is the identity). A BOS token is prepended,
  so all L tokens are predicted and the loss is ``-log p(x) / L`` in nats per token.
* ``mdm``: the same shapes, bidirectional, trained with the masked-diffusion loss
  (:func:`harness.training.trainer.mdm_loss`, linear schedule). Its validation number is the diffusion ELBO, an
  upper bound on ``-log p(x) / L``, estimated by Monte Carlo (below).

IsoFLOP protocol (Hoffmann et al. 2022, as in the paper): for each compute budget C and model size (N
non-embedding parameters), train for ``round(C / (6 N batch L))`` steps (:func:`harness.figure.flops.isoflop_plan`);
the figure's point for (learner, C) is the smallest validation loss over the sizes. Every learner sees the
same training windows in the same order and starts from the same initial weights at a given size, so the
learners differ only in the order they factorise (or, for the MDM, the objective).

Validation: a fixed set of ``n_val`` windows of the held-out split, the same for every run.

* pi-learners: exact ``-log p(pi(x)) / L`` per window, averaged; ``val_se`` is the standard error over windows.
* MDM: ``-log p(x) / L <= E_{k ~ U{1..L}} E_{|M| = k} [mean_{i in M} -log p(x_i | x_{not M})]`` (the
  continuous-time ELBO of the linear schedule, integrated over t exactly: a set of k masked positions has
  weight 1/k). Each window gets ``eval_draws`` draws with k stratified over 1..L and M uniform given k.
  ``val_mc_se`` is the Monte-Carlo standard error (from the per-window variance over draws, which ignores
  the stratification and so overstates it); ``val_se`` is the standard error over windows.

Records (one per (learner, size, budget), ``id = "learner|size|budget"``) go to
``results/<scale>/isoflop/<corpus>/sweep__seed<S>.jsonl``; a rerun skips recorded ids. Independent runs train
in a pool of ``workers`` processes with one torch thread each on CPU; on a GPU they run one after another in
this process. Each run checkpoints under ``ckpt_dir/<scale>/isoflop/<corpus>/<learner>__<size>__<budget>``
(resumable mid-run when ``ckpt_every`` > 0); the checkpoint is deleted once the run's record is written
unless the preset says ``keep_ckpt`` (the small runs are cheap to redo; paper-scale models are kept).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.figure.char_corpus import load_corpus
from harness.figure.common import figure_results
from harness.figure.flops import isoflop_plan, non_embedding_params
from harness.models.transformer import ModelConfig, Transformer
from harness.training.permutations import distances, n_swaps, permutation
from harness.training.trainer import TrainConfig, train

NAME = "isoflop"
PI_FAMILIES = ("much_closer", "closer", "uniform")
"""The random pi-learner families (``perms_per_family`` permutations each); ``arm`` is the identity."""

SMDM_SHAPES = {
    "19M": dict(n_layer=8, n_head=6, d_model=384, d_ff=1536),
    "34M": dict(n_layer=8, n_head=8, d_model=512, d_ff=2048),
    "48M": dict(n_layer=9, n_head=9, d_model=576, d_ff=2304),
    "66M": dict(n_layer=10, n_head=10, d_model=640, d_ff=2560),
    "85M": dict(n_layer=13, n_head=10, d_model=640, d_ff=2560),
    "113M": dict(n_layer=12, n_head=12, d_model=768, d_ff=3072),
    "142M": dict(n_layer=15, n_head=12, d_model=768, d_ff=3072),
    "170M": dict(n_layer=18, n_head=12, d_model=768, d_ff=3072),
}
"""SMDM's ``Diff_LLaMA_<N>M`` shapes (lit_gpt/config.py; the name counts non-embedding parameters), with
multi-head attention and a LLaMA (SwiGLU) MLP like our :class:`Transformer`."""

SCALES: dict[str, dict] = {
    # Seconds: wiring only. L = 32 < 100, so "much_closer" (6 swaps) has more swaps than "closer" (3).
    "smoke": dict(
        corpus="chars", seq_len=32, batch=4,
        sizes={"xs": dict(n_layer=1, n_head=2, d_model=16, d_ff=32),
               "s": dict(n_layer=1, n_head=2, d_model=24, d_ff=48)},
        budgets=[4e6, 1.2e7], min_iters=2,
        lr=3e-3, min_lr=3e-4, warmup_frac=0.1, warmup_min=1, weight_decay=0.1, grad_clip=1.0,
        perms_per_family=3, n_val=8, eval_draws=4, eval_batch=64, seed=0, ckpt_every=0, keep_ckpt=False,
        amp="off"),
    # This 2-core CPU: budgets 7e10 / 2.2e11 / 7e11 took 31 core-minutes of training; the budgets were moved
    # down one step (2.2e10 / 7e10 / 2.2e11, about 13 core-minutes) so ./run_all.sh fits 90 minutes with every
    # table's model learned. L = 64 < 100, so "much_closer"
    # (8 swaps) is farther from the identity than "closer" (6 swaps); the report orders families by distance.
    # lr 3e-3 beat 1e-3 and 1e-2 in 2000-step pilots (ARM and uniform pi-learner, 55k size).
    "small": dict(
        corpus="chars", seq_len=64, batch=16,
        sizes={"55k": dict(n_layer=2, n_head=4, d_model=48, d_ff=128),
               "151k": dict(n_layer=3, n_head=4, d_model=64, d_ff=176),
               "443k": dict(n_layer=4, n_head=4, d_model=96, d_ff=256)},
        budgets=[2.2e10, 7e10, 2.2e11], min_iters=50,
        lr=3e-3, min_lr=3e-4, warmup_frac=0.05, warmup_min=5, weight_decay=0.1, grad_clip=1.0,
        perms_per_family=3, n_val=256, eval_draws=16, eval_batch=512, seed=0, ckpt_every=0, keep_ckpt=False,
        amp="off"),
    # The paper's setting (App. C.1) on a GPU. Budgets are our choice (the paper lists none): SMDM's
    # `--flops` unit is 1e18; four budgets over 1.5 decades, whose Chinchilla-optimal sizes (50M-290M) lie in or
    # near the size grid. Runs beyond 1000 tokens per parameter
    # (50x Chinchilla's 20) are skipped: at that budget a larger size is certainly better.
    "paper": dict(
        corpus="stream", dataset="cerebras/SlimPajama-627B", tokenizer="TinyLlama/TinyLlama_v1.1",
        seq_len=2048, batch=256,
        sizes={k: SMDM_SHAPES[k] for k in ("19M", "34M", "48M", "66M", "85M", "113M", "142M", "170M")},
        budgets=[3e17, 1e18, 3e18, 1e19], min_iters=500, max_tokens_per_param=1000,
        lr=4e-4, min_lr=4e-5, warmup_frac=0.01, warmup_min=100, weight_decay=0.1, grad_clip=1.0,
        perms_per_family=3, n_val=256, eval_draws=8, eval_batch=16, seed=0, ckpt_every=1000, keep_ckpt=True,
        amp="auto", micro_batches=16),
}
"""Scale presets (plain data). ``batch`` sequences of ``seq_len`` tokens per step; ``sizes`` are model shapes;
``budgets`` in FLOPs (6 N tokens); runs with fewer than ``min_iters`` steps are skipped; ``micro_batches``
splits each batch for gradient accumulation (paper: 16 micro-batches of 16 x 2048 tokens, so the 256-sequence
batch fits one 80 GB GPU); AdamW
beta = (0.9, 0.95) with warmup (``max(warmup_min, warmup_frac * iters)`` steps) then cosine ``lr -> min_lr``."""


# ----------------------------------------------------------------------------------------------- learners

def learners(preset: dict) -> list[dict]:
    """Return the learner specs of a preset: ``arm``, ``<family>_<j>`` for each random family, and ``mdm``."""
    out = [{"learner": "arm", "family": "identity", "perm_index": 0, "objective": "arm"}]
    for fam in PI_FAMILIES:
        out += [{"learner": f"{fam}_{j}", "family": fam, "perm_index": j, "objective": "arm"}
                for j in range(preset["perms_per_family"])]
    out.append({"learner": "mdm", "family": "mdm", "perm_index": None, "objective": "mdm"})
    return out


def learner_permutation(spec: dict, preset: dict) -> np.ndarray | None:
    """Return the fixed permutation of a pi-learner (None for the MDM)."""
    if spec["objective"] != "arm":
        return None
    return permutation(spec["family"], preset["seq_len"], spec["perm_index"], preset["seed"])


def model_config(preset: dict, size: str, vocab_size: int, causal: bool) -> ModelConfig:
    """Return the shape of a learner: causal pi-learners see BOS + L tokens, the bidirectional MDM L tokens;
    both use learned position embeddings and the corpus vocabulary plus BOS and MASK."""
    L = preset["seq_len"]
    return ModelConfig(vocab_size=vocab_size + 2, seq_len=L + 1 if causal else L, causal=causal, pos="learned",
                       **preset["sizes"][size])


def sizes_n(preset: dict) -> dict[str, int]:
    """Return size name -> non-embedding parameter count."""
    return {name: non_embedding_params(ModelConfig(vocab_size=2, seq_len=2, **shape))
            for name, shape in preset["sizes"].items()}


def plan(preset: dict):
    """Return :func:`harness.figure.flops.isoflop_plan` of the preset: (runs, skipped)."""
    return isoflop_plan(preset["budgets"], sizes_n(preset), preset["batch"] * preset["seq_len"],
                        preset["min_iters"], preset.get("max_tokens_per_param"))


def run_id(learner: str, size: str, budget: float) -> str:
    """Return the record id of one training run."""
    return f"{learner}|{size}|{budget:g}"


# ------------------------------------------------------------------------------------------------ batches

def pi_inputs(windows: np.ndarray, perm: np.ndarray, bos_id: int) -> torch.Tensor:
    """Return BOS + pi(x) for windows [B, L]: int64 [B, L + 1] with row b = [BOS, x_b[perm[0]], ...]."""
    permuted = np.asarray(windows)[:, perm]
    bos = np.full((permuted.shape[0], 1), bos_id, dtype=np.int64)
    return torch.from_numpy(np.concatenate([bos, permuted], axis=1).astype(np.int64))


def make_batch_fn(corpus, preset: dict, perm: np.ndarray | None, bos_id: int):
    """Return the training ``batch_fn(step)`` of a learner: (BOS + pi(x), all-True loss mask) for a
    pi-learner, (x, all-True maskable) for the MDM; the windows depend only on (seed, step)."""
    B, L, seed = preset["batch"], preset["seq_len"], preset["seed"]

    def batch_fn(step: int):
        w = corpus.train_windows(step, B, L, seed)
        x = pi_inputs(w, perm, bos_id) if perm is not None else torch.from_numpy(w.astype(np.int64))
        return x, torch.ones_like(x, dtype=torch.bool)

    return batch_fn


# ------------------------------------------------------------------------------------------------ evaluation

@torch.no_grad()
def pi_val_nll(model: Transformer, windows: np.ndarray, perm: np.ndarray, bos_id: int, batch_rows: int = 64,
               device: str | torch.device = "cpu") -> np.ndarray:
    """Return float64 [W]: each window's -log p(pi(x)) / L under the causal ``model`` (nats per token)."""
    model.eval()
    inp = pi_inputs(windows, perm, bos_id)
    out = []
    for s in range(0, inp.shape[0], batch_rows):
        x = inp[s:s + batch_rows].to(device)
        logits = model(x[:, :-1]).float()                      # position j predicts pi(x)_j from BOS + pi(x)_<j
        ce = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")
        out.append(ce.mean(1).double().cpu())
    return torch.cat(out).numpy()


def elbo_masks(n_windows: int, L: int, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (k [W, draws], masked [W, draws, L] bool): per window, k stratified over 1..L across the draws
    (offset by a random shift) and a uniformly random set of exactly k masked positions per draw."""
    rng = np.random.default_rng([seed, 0xE1B0, n_windows, L, draws])
    u = (rng.random(n_windows)[:, None] + np.arange(draws) / draws) % 1.0
    k = 1 + np.floor(u * L).astype(np.int64)                   # uniform on 1..L, stratified
    ranks = rng.random((n_windows, draws, L)).argsort(-1).argsort(-1)
    return k, ranks < k[..., None]


@torch.no_grad()
def mdm_val_elbo(model: Transformer, windows: np.ndarray, mask_id: int, draws: int, seed: int,
                 batch_rows: int = 256, device: str | torch.device = "cpu") -> tuple[np.ndarray, float]:
    """Return (per-window ELBO estimates [W] in nats per token, Monte-Carlo standard error of their mean).

    ELBO per token = E_{k ~ U{1..L}} E_{|M| = k} [mean over i in M of -log p(x_i | x with M masked)], which
    equals the linear-schedule continuous-time ELBO (the training loss) in expectation and bounds
    -log p(x) / L from above."""
    model.eval()
    W, L = windows.shape
    _, masked = elbo_masks(W, L, draws, seed)
    x0 = torch.from_numpy(np.repeat(np.asarray(windows, dtype=np.int64), draws, axis=0))      # [W*draws, L]
    m = torch.from_numpy(masked.reshape(W * draws, L))
    vals = []
    for s in range(0, x0.shape[0], batch_rows):
        x, mm = x0[s:s + batch_rows].to(device), m[s:s + batch_rows].to(device)
        logits = model(torch.where(mm, torch.full_like(x, mask_id), x)).float()
        ce = F.cross_entropy(logits.transpose(1, 2), x, reduction="none")
        vals.append(((ce * mm).sum(1) / mm.sum(1)).double().cpu())
    v = torch.cat(vals).numpy().reshape(W, draws)
    per_window = v.mean(1)
    mc_var = v.var(1, ddof=1) / draws if draws > 1 else np.full(W, np.nan)
    return per_window, float(math.sqrt(mc_var.sum()) / W)


# ---------------------------------------------------------------------------------------------- one run

@lru_cache(maxsize=4)
def _corpus(preset_json: str, data_dir: str | None):
    return load_corpus(json.loads(preset_json), data_dir)


@lru_cache(maxsize=4)
def _val_windows(preset_json: str, data_dir: str | None) -> np.ndarray:
    preset = json.loads(preset_json)
    return _corpus(preset_json, data_dir).val_windows(preset["n_val"], preset["seq_len"])


def _init_seed(seed: int, size: str) -> int:
    """Return the weight-init seed of a size: every learner of one size starts from the same weights."""
    return int(np.random.SeedSequence([seed, 0x1A17, *size.encode()]).generate_state(1)[0])


def train_and_evaluate(job: dict) -> dict:
    """Train one (learner, size, budget) run and return its record (see the module docstring)."""
    preset, spec, planned = job["preset"], job["spec"], job["run"]
    pj = json.dumps(preset, sort_keys=True)
    corpus = _corpus(pj, job["data_dir"])
    device = torch.device(job["device"])
    V, L = corpus.vocab_size, preset["seq_len"]
    bos_id, mask_id = V, V + 1
    perm = learner_permutation(spec, preset)
    causal = spec["objective"] == "arm"
    cfg = model_config(preset, planned["size"], V, causal)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_init_seed(preset["seed"], planned["size"]))
        model = Transformer(cfg)
    iters = planned["iters"]
    warmup = min(max(preset["warmup_min"], int(round(preset["warmup_frac"] * iters))), max(1, iters // 2))
    tcfg = TrainConfig(objective=spec["objective"], iters=iters, batch_size=preset["batch"], lr=preset["lr"],
                       min_lr=preset["min_lr"], warmup=warmup, weight_decay=preset["weight_decay"], beta1=0.9,
                       beta2=0.95, grad_clip=preset["grad_clip"], ckpt_every=preset["ckpt_every"],
                       log_every=max(1, iters // 20), seed=preset["seed"], amp=preset["amp"],
                       micro_batches=preset.get("micro_batches", 1))
    summary = train(model, make_batch_fn(corpus, preset, perm, bos_id), tcfg, job["ckpt"],
                    mask_id=None if causal else mask_id, device=device, progress=job["progress"],
                    meta={"figure": NAME, "learner": spec["learner"], "size": planned["size"],
                          "budget": planned["budget"]})
    t0 = time.perf_counter()
    windows = _val_windows(pj, job["data_dir"])
    rec = {"id": run_id(spec["learner"], planned["size"], planned["budget"]), **spec,
           "size": planned["size"], "n_params": planned["n_params"], "params_total": model.num_params(),
           "budget": planned["budget"], "flops": planned["flops"], "iters": iters, "tokens": planned["tokens"],
           "batch": preset["batch"], "seq_len": L, "lr": preset["lr"], "warmup": warmup}
    if causal:
        per = pi_val_nll(model, windows, perm, bos_id, preset["eval_batch"], device)
        rec.update(val_mc_se=None, eval_draws=None, n_swaps=n_swaps(spec["family"], L),
                   perm_distance=distances(perm))
    else:
        per, mc_se = mdm_val_elbo(model, windows, mask_id, preset["eval_draws"], preset["seed"],
                                  preset["eval_batch"], device)
        rec.update(val_mc_se=mc_se, eval_draws=preset["eval_draws"], n_swaps=None, perm_distance=None)
    rec.update(val_loss=float(per.mean()), val_se=float(per.std(ddof=1) / math.sqrt(per.size)),
               val_windows=int(per.size), final_train_loss=summary["final_loss"],
               train_seconds=summary["seconds"], tokens_per_s=summary["tokens_per_s"],
               eval_seconds=time.perf_counter() - t0)
    return rec


# ---------------------------------------------------------------------------------------------- the sweep

def _init_worker() -> None:
    torch.set_num_threads(1)


def _results(jobs_in: list[dict], workers: int, device: str):
    """Yield each job's record as it finishes: in this process (one worker, or a GPU), else in a pool."""
    if workers <= 1 or torch.device(device).type != "cpu" or len(jobs_in) <= 1:
        for job in jobs_in:
            yield job, train_and_evaluate(job)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker) as ex:
        futures = {ex.submit(train_and_evaluate, job): job for job in jobs_in}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def corpus_variant(corpus) -> str:
    """Return the results/checkpoint folder name of a corpus: its kind and a hash of its identity (e.g.
    ``chars-1a2b3c4d5e``), so folders name no data file and two corpora never share one."""
    ident = json.dumps(corpus.identity(), sort_keys=True, default=str).encode()
    return f"{corpus.identity()['kind']}-{hashlib.sha256(ident).hexdigest()[:10]}"


def run(scale: str, *, results_dir="results", ckpt_dir="checkpoints", data_dir=None, device: str = "cpu",
        workers: int = 1, progress: bool = True, model=None, judge=None) -> list[Path]:
    """Run (or resume) the IsoFLOP sweep of ``scale`` and return ``[path of its results file]``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r} for {NAME}; choose one of: {', '.join(SCALES)}")
    preset = SCALES[scale]
    pj, dd = json.dumps(preset, sort_keys=True), None if data_dir is None else str(data_dir)
    corpus = _corpus(pj, dd)
    _val_windows(pj, dd)  # fail here, before any file is written, when the data cannot be read
    runs, skipped = plan(preset)
    specs = learners(preset)
    perms = {s["learner"]: learner_permutation(s, preset) for s in specs}
    identity = {"preset": preset, "corpus": corpus.identity(), "learners": [s["learner"] for s in specs]}
    info = {"corpus": corpus.name, "unigram_xent": corpus.unigram_xent(), "seq_len": preset["seq_len"],
            "batch": preset["batch"], "sizes": sizes_n(preset), "budgets": sorted(preset["budgets"]),
            "plan": [r.to_dict() for r in runs], "skipped": skipped,
            "permutations": {s["learner"]: {"n_swaps": n_swaps(s["family"], preset["seq_len"]),
                                            **distances(perms[s["learner"]])}
                             for s in specs if perms[s["learner"]] is not None}}
    res = figure_results(results_dir, scale, NAME, variant=corpus_variant(corpus), name="sweep", identity=identity,
                         n_planned=len(specs) * len(runs), device=str(device), info=info, seed=preset["seed"])
    root = Path(ckpt_dir) / scale / NAME / corpus_variant(corpus)
    jobs = []
    for spec in specs:
        for r in runs:
            rid = run_id(spec["learner"], r.size, r.budget)
            if rid in res.done:
                continue
            jobs.append({"preset": preset, "spec": spec, "run": r.to_dict(), "data_dir": dd, "device": str(device),
                         "id": rid, "ckpt": str(root / rid.replace("|", "__")),
                         "progress": bool(progress) and (workers <= 1 or torch.device(device).type != "cpu")})
    jobs.sort(key=lambda j: (-j["run"]["flops"], j["id"]))  # longest first: the pool ends together
    from tqdm.auto import tqdm
    with contextlib.closing(tqdm(total=len(jobs), disable=not progress, desc=f"{NAME} {scale}", unit="run")) as bar:
        for job, rec in _results(jobs, workers, str(device)):
            res.append([rec])
            if not preset["keep_ckpt"]:
                shutil.rmtree(job["ckpt"], ignore_errors=True)
            bar.set_postfix_str(f"{rec['id']} val {rec['val_loss']:.3f}")
            bar.update(1)
    return [res.path]
