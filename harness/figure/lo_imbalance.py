"""Figure 2 (bottom right): the L&O-NAE-SAT error imbalance of an early MDM against a long-trained proxy.

Paper (App. C.2.1, PAPER.md 2): (N, P) = (20, 280), each sequence padded with 212 tokens of value 2 to a
512 context; a 19M RoPE MDM after 2x10^3 iterations is compared with "the same MDM trained further"
(5x10^4 iterations), which stands in for the Bayes-optimal predictor. For each l in 1..N-1, l random latents
and l*P/N random observations are masked, and at every masked position the error
``sum_v (log p_early(v | x[M]) - log p_proxy(v | x[M]))^2`` is measured; 1000 repeats. The figure shows
l = 11; latent positions carry the larger errors.

What this module does:

* **One training run.** The proxy is the run's final checkpoint and the early model is a snapshot of the same
  run at ``early_step`` (``train(..., snapshot_steps=...)``), so both share data order, initialisation and
  schedule. Data are the task's fresh batches (:meth:`tasks.lo_nae_sat.LoNaeSat.train_batch`), padded with
  PAD (never masked, never scored) when the preset sets ``pad_to``.
* **Errors.** Log-probabilities are renormalised over the value alphabet {0, 1}; both models see the same
  masked input; the masking and the data are functions of (seed, l) only. One record per l.
* **Beyond the paper: the exact conditional.** With l masked latents there are 2^l completions; the true
  posterior given the visible tokens is uniform over those consistent with every visible observation. It
  gives the exact p(x_j = v | visible) at every masked latent and observation, and each model's
  KL(p_true || p_model) there, which tells whether the proxy is a good proxy. Enumeration is capped at
  ``exact_max_l`` (records above it carry nulls).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.figure.common import figure_path, figure_results, recorded_complete, report_complete
from harness.models import build_model
from harness.models.transformer import ModelConfig, Transformer, new_model
from harness.models.fingerprint import fingerprint
from harness.training.trainer import TrainConfig, load_checkpoint, snapshot_path, train
from tasks.lo_nae_sat import MASK, PAD, LoNaeSat

NAME = "lo_imbalance"
VARIANT = "N20_P280"
SHOWN_L = 11
"""The l of the paper's heat strip."""
SEED = 0

SCALES = {
    # tests: seconds. A 1-layer toy on the paper's (20, 280), a handful of repeats.
    "smoke": dict(
        variant=VARIANT, model=dict(n_layer=1, n_head=2, d_model=32, d_ff=64), pos="rope", pad_to=None,
        train=dict(iters=12, batch_size=8, lr=3e-3, min_lr=3e-4, warmup=2, ckpt_every=6, log_every=2),
        early_step=4, repeats=6, eval_batch=64, ls=None, exact_max_l=10, exact_chunk=1 << 22, check_n=64,
        needs_gpu=False,
    ),
    # this 2-core CPU, about 5 minutes in all (1000 iterations took 549 s of training, 19 values of l x 200
    # repeats with the exact conditional 146 s; halved to 500 iterations so ./run_all.sh fits 90 minutes). The
    # early step keeps the paper's 2k/50k = 1/25 ratio. No padding: the 212 PAD tokens would add 70% compute
    # and carry no information. At this budget neither model learns the observation rule (learning checks at
    # naive guessing; Table 1's small family shows what learning it takes), see the report's verdict.
    "small": dict(
        variant=VARIANT, model="0.2M", pos="rope", pad_to=None,
        train=dict(iters=500, batch_size=32, lr=3e-3, min_lr=3e-4, warmup=20, ckpt_every=100, log_every=10),
        early_step=20, repeats=200, eval_batch=200, ls=None, exact_max_l=19, exact_chunk=1 << 22, check_n=512,
        needs_gpu=False,
    ),
    # the paper's setting on a GPU: 19M RoPE MDM, 512 context, the task's paper training recipe.
    "paper": dict(
        variant=VARIANT, model="19M", pos="rope", pad_to=512,
        train=dict(LoNaeSat.SCALES["paper"]["train"]),
        early_step=2000, repeats=1000, eval_batch=250, ls=None, exact_max_l=19, exact_chunk=1 << 27, check_n=512,
        needs_gpu=True,
    ),
}
"""Scale presets (plain data). ``model``: a preset name of :data:`harness.models.transformer.PRESETS` or a
shape dict; ``pad_to``: context length with PAD after the N+P tokens (None: no padding); ``ls``: the l values
(None: 1..N-1); ``exact_max_l``: largest l whose exact conditional is enumerated; ``check_n``: sequences per
learning check; ``exact_chunk``: booleans per enumeration chunk (memory bound)."""


# ------------------------------------------------------------------------------------------------ model

def build(spec: dict, seq_len: int) -> Transformer:
    """Return a fresh bidirectional model for the preset's ``model`` (preset name or shape dict)."""
    model, pos = spec["model"], spec["pos"]
    if isinstance(model, str):
        return build_model(model, LoNaeSat.vocab_size, seq_len, causal=False, pos=pos, seed=SEED)
    return new_model(ModelConfig(vocab_size=LoNaeSat.vocab_size, seq_len=seq_len, causal=False, pos=pos,
                                 **model), SEED)


def context_len(spec: dict, task: LoNaeSat) -> int:
    """Return the model's context: ``pad_to`` when set (validated), else N+P."""
    pad_to = spec.get("pad_to")
    if pad_to is None:
        return task.seq_len
    if pad_to < task.seq_len:
        raise ValueError(f"pad_to={pad_to} is shorter than N+P={task.seq_len}; raise pad_to or set it to None")
    return int(pad_to)


def pad(x: np.ndarray, length: int, value: int) -> np.ndarray:
    """Return x [B, L0] right-padded with ``value`` to [B, length]."""
    return np.concatenate([x, np.full((x.shape[0], length - x.shape[1]), value, dtype=x.dtype)], axis=1)


def run_dir(ckpt_dir: str | Path, scale: str, spec: dict) -> Path:
    """Return the training run's directory: ``ckpt_dir/scale/lo_imbalance/<variant>-<model>-<hash>-seedS``."""
    ident = {k: spec[k] for k in ("variant", "model", "pos", "pad_to", "train", "early_step")}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    label = spec["model"] if isinstance(spec["model"], str) else "custom"
    return Path(ckpt_dir) / scale / NAME / f"{spec['variant']}-{label}-{digest}-seed{SEED}"


def train_models(task: LoNaeSat, spec: dict, ckpt: Path, device: str, progress: bool
                 ) -> tuple[tuple[Transformer, dict], tuple[Transformer, dict]]:
    """Train (or resume, or reuse) the run; return ((early model, snapshot dict), (proxy model, checkpoint dict))."""
    cfg = TrainConfig(objective="mdm", seed=SEED, **spec["train"])
    if not 1 <= spec["early_step"] < cfg.iters:
        raise ValueError(f"early_step={spec['early_step']} must lie in 1..iters-1={cfg.iters - 1}")
    length = context_len(spec, task)
    model = build(spec, length)

    def batch_fn(step: int):
        # the paper's plain schedule (every position maskable in every row), whatever the task's scale preset adds
        x, maskable = task.train_batch(step, cfg.batch_size, SEED, latents_shown=0.0)
        x, maskable = pad(x, length, PAD), pad(maskable, length, False)
        return torch.from_numpy(x), torch.from_numpy(maskable)

    meta = {"figure": NAME, "variant": task.variant, "seq_len": length, "mask_id": MASK, "pad_id": PAD}
    train(model, batch_fn, cfg, ckpt, MASK, meta=meta, device=device, progress=progress,
          snapshot_steps=[spec["early_step"]])
    snap = snapshot_path(ckpt, spec["early_step"])
    if not snap.is_file():
        raise FileNotFoundError(f"{ckpt} finished without the early snapshot {snap.name}; delete {ckpt} to retrain")
    return load_checkpoint(snap, device), load_checkpoint(ckpt / "ckpt.pt", device)


def final_loss(loss_history: list) -> float:
    """Return the mean of the last 10% of logged losses (as :func:`harness.training.trainer.train` summarises)."""
    losses = [loss for _, loss in loss_history]
    if not losses:
        return math.nan
    return float(np.mean(losses[-max(1, math.ceil(0.1 * len(losses))):]))


@torch.no_grad()
def learning_checks(model: Transformer, task: LoNaeSat, length: int, n: int, device: str, batch: int) -> dict:
    """Return the task's one-forward learning checks (argmax over the values 0/1) on padded prompts."""
    allowed = torch.from_numpy(np.flatnonzero(task.allowed())).to(device)
    out = {}
    for check in task.checks(n, SEED):
        prompts = pad(check.prompts, length, PAD)
        preds = []
        for i in range(0, n, batch):
            logits = model(torch.from_numpy(prompts[i:i + batch]).to(device)).float()[:, :task.seq_len]
            preds.append(allowed[logits[..., allowed].argmax(-1)].cpu().numpy())
        pred = np.concatenate(preds)
        out[check.name] = float((pred[check.where] == check.targets[check.where]).mean())
    return out


# --------------------------------------------------------------------------------------------- protocol

def n_obs_masked(task: LoNaeSat, l: int) -> int:
    """Return the number of observations masked with l latents: l*P/N, rounded."""
    return int(round(l * task.p / task.n))


def mask_positions(rng: np.random.Generator, repeats: int, n: int, p: int, l: int, k: int) -> np.ndarray:
    """Return [repeats, n+p] bool: exactly l of the n latents and k of the p observations per row, uniformly."""
    if not (0 <= l <= n and 0 <= k <= p):
        raise ValueError(f"cannot mask {l} of {n} latents and {k} of {p} observations")
    rows = np.arange(repeats)[:, None]
    masked = np.zeros((repeats, n + p), dtype=bool)
    masked[rows, rng.random((repeats, n)).argsort(axis=1)[:, :l]] = True
    masked[rows, n + rng.random((repeats, p)).argsort(axis=1)[:, :k]] = True
    return masked


def draw(task: LoNaeSat, l: int, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (x0 [R, N+P], masked [R, N+P]) for one l, a function of (SEED, N, P, l) only."""
    rng = np.random.default_rng([SEED, task.n, task.p, l, 2025])
    x0 = task.sample(rng, repeats)
    return x0, mask_positions(rng, repeats, task.n, task.p, l, n_obs_masked(task, l))


@torch.no_grad()
def value_logprobs(model: Transformer, x: np.ndarray, allowed: np.ndarray, length: int, device: str,
                   batch: int) -> torch.Tensor:
    """Return [R, L0, |allowed|] float64 log-probs over the allowed values at the first L0 = x.shape[1]
    positions, for inputs x right-padded with PAD to ``length``."""
    idx = torch.from_numpy(np.flatnonzero(allowed)).to(device)
    xs = torch.from_numpy(pad(x, length, PAD))
    out = []
    for i in range(0, len(xs), batch):
        logits = model(xs[i:i + batch].to(device)).float()[:, :x.shape[1]]
        out.append(torch.log_softmax(logits[..., idx].double(), dim=-1).cpu())
    return torch.cat(out)


def squared_log_error(lp_a: torch.Tensor, lp_b: torch.Tensor) -> torch.Tensor:
    """Return [R, L] sum over values of (log p_a - log p_b)^2 (the paper's per-position error)."""
    return (lp_a - lp_b).pow(2).sum(-1)


def exact_posterior(x0: torch.Tensor, masked: torch.Tensor, triples: torch.Tensor, n: int,
                    max_elems: int = 1 << 22) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (p [R, N+P] float64: exact P(x_j = 1 | visible tokens), solutions [R] int64).

    Every row must mask the same numbers of latents (l) and of observations. The posterior is uniform over
    the 2^l completions of the masked latents that reproduce every visible observation (NAE of its triple);
    ``solutions`` counts them. Completions are enumerated in chunks of at most ``max_elems`` (row x
    completion x visible observation, or consistent completion x observation): each chunk is checked
    against the visible observations only, and the marginals are summed over the consistent completions.
    Visible positions get their own value."""
    R, L = x0.shape
    p, dev = L - n, x0.device
    lat_masked, obs_masked = masked[:, :n], masked[:, n:]
    if R == 0:
        return torch.zeros(0, L, dtype=torch.float64, device=dev), torch.zeros(0, dtype=torch.int64, device=dev)
    l, n_vis = int(lat_masked[0].sum()), int((~obs_masked[0]).sum())
    if not (bool((lat_masked.sum(1) == l).all()) and bool(((~obs_masked).sum(1) == n_vis).all())):
        raise ValueError("exact_posterior needs the same numbers of masked latents and observations in every row")
    where = lat_masked.to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, :l]       # [R, l]
    vis = (~obs_masked).to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, :n_vis]  # [R, Pv]
    vis_val = x0[:, n:].gather(1, vis).bool()
    vis_tri = triples[vis]                                                                     # [R, Pv, 3]
    base = torch.where(lat_masked, 0, x0[:, :n]).to(torch.uint8)
    shifts = torch.arange(l, device=dev)
    total = torch.zeros(R, dtype=torch.int64, device=dev)
    ones_lat = torch.zeros(R, n, dtype=torch.int64, device=dev)
    ones_obs = torch.zeros(R, p, dtype=torch.int64, device=dev)
    chunk, part = max(1, max_elems // (R * max(n_vis, n))), max(1, max_elems // p)
    for start in range(0, 1 << l, chunk):
        s = torch.arange(start, min(1 << l, start + chunk), device=dev)
        C = len(s)
        bits = ((s[:, None] >> shifts) & 1).to(torch.uint8)                                       # [C, l]
        vals = base[:, None, :].expand(R, C, n).clone()
        vals.scatter_(2, where[:, None, :].expand(R, C, l), bits[None].expand(R, C, l))
        a, b, c = (vals.gather(2, vis_tri[:, None, :, k].expand(R, C, n_vis)) for k in range(3))
        ok = ((~((a == b) & (b == c))) == vis_val[:, None, :]).all(-1)                          # [R, C]
        hit_rows, hit_cols = ok.nonzero(as_tuple=True)
        total.index_add_(0, hit_rows, torch.ones_like(hit_rows))
        for j in range(0, len(hit_rows), part):  # consistent completions, at most max_elems booleans at a time
            rows = hit_rows[j:j + part]
            sel = vals[rows, hit_cols[j:j + part]]                                             # [K, N]
            u, v, w = sel[:, triples[:, 0]], sel[:, triples[:, 1]], sel[:, triples[:, 2]]        # [K, P]
            ones_lat.index_add_(0, rows, sel.long())
            ones_obs.index_add_(0, rows, (~((u == v) & (v == w))).long())
    prob = torch.cat([ones_lat, ones_obs], dim=1).double() / total[:, None].clamp(min=1).double()
    prob = torch.where(masked, prob, x0.double())
    return prob, total


def kl_to_exact(p_true: torch.Tensor, lp_model: torch.Tensor) -> torch.Tensor:
    """Return [R, L] KL(p_true || p_model) over the values {0, 1}: p_true [R, L] = P(x = 1), lp_model
    [R, L, 2] log-probs of the values 0 and 1 (0 log 0 = 0)."""
    pt = torch.stack([1 - p_true, p_true], dim=-1)
    return (torch.xlogy(pt, pt) - pt * lp_model).sum(-1)


def position_means(values: torch.Tensor, masked: torch.Tensor) -> tuple[list, list[int]]:
    """Return (per-position mean over the rows where masked, None where never masked; per-position counts)."""
    counts = masked.sum(0)
    sums = torch.where(masked, values, 0).sum(0)
    means = [float(s / c) if c else None for s, c in zip(sums.tolist(), counts.tolist())]
    return means, [int(c) for c in counts.tolist()]


def group_mean_se(values: torch.Tensor, where: torch.Tensor) -> tuple[float, float]:
    """Return (mean, standard error over rows) of the per-row mean of ``values`` at ``where`` (rows with no
    such position dropped)."""
    k = where.sum(1)
    per_row = torch.where(where, values, 0).sum(1)[k > 0] / k[k > 0]
    if len(per_row) == 0:
        return math.nan, math.nan
    se = float(per_row.std(unbiased=True) / math.sqrt(len(per_row))) if len(per_row) > 1 else math.nan
    return float(per_row.mean()), se


def measure_l(early: Transformer, proxy: Transformer, task: LoNaeSat, spec: dict, l: int, device: str) -> dict:
    """Return the record of one l: per-position mean error and counts, latent/observation means with SEs,
    each model's mean predicted P(x = 1) there, and (l <= exact_max_l) each model's KL to the exact
    conditional."""
    repeats, length = spec["repeats"], context_len(spec, task)
    x0, masked_np = draw(task, l, repeats)
    xt = np.where(masked_np, MASK, x0)
    lp = {name: value_logprobs(m, xt, task.allowed(), length, device, spec["eval_batch"])
          for name, m in (("early", early), ("proxy", proxy))}
    masked = torch.from_numpy(masked_np)
    lat = masked.clone()
    lat[:, task.n:] = False
    obs = masked & ~lat
    err = squared_log_error(lp["early"], lp["proxy"])
    err_pos, counts = position_means(err, masked)
    rec = {"id": f"l{l}", "l": l, "n_obs_masked": n_obs_masked(task, l), "repeats": repeats,
           "N": task.n, "P": task.p, "err_pos": err_pos, "count_pos": counts}
    for part, where in (("latent", lat), ("obs", obs)):
        rec[f"err_{part}_mean"], rec[f"err_{part}_se"] = group_mean_se(err, where)
        for name in ("early", "proxy"):  # calibration at a glance: the data marginals are 0.5 and 0.75
            rec[f"p1_{name}_{part}_mean"] = float(lp[name][..., 1].exp()[where].mean()) if where.any() else None
    exact = l <= spec["exact_max_l"]
    rec["exact"] = exact
    if exact:
        p_true, solutions = exact_posterior(torch.from_numpy(x0).to(device), masked.to(device),
                                            torch.from_numpy(task.triples).to(device), task.n, spec["exact_chunk"])
        p_true, solutions = p_true.cpu(), solutions.cpu()
        determined = (p_true == 0) | (p_true == 1)
        rec["solutions_mean"] = float(solutions.double().mean())
        for part, where in (("latent", lat), ("obs", obs)):
            rec[f"determined_{part}_frac"] = float(determined[where].double().mean()) if where.any() else None
        for name in ("early", "proxy"):
            kl = kl_to_exact(p_true, lp[name])
            rec[f"kl_{name}_pos"] = position_means(kl, masked)[0]
            for part, where in (("latent", lat), ("obs", obs)):
                rec[f"kl_{name}_{part}_mean"], rec[f"kl_{name}_{part}_se"] = group_mean_se(kl, where)
    return rec


def _json_floats(rec: dict) -> dict:
    """Return the record with NaN floats replaced by None (strict JSON)."""
    def fix(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        return [fix(x) for x in v] if isinstance(v, list) else v
    return {k: fix(v) for k, v in rec.items()}


# -------------------------------------------------------------------------------------------------- run

def model_info(model: Transformer, ckpt: dict, checks: dict) -> dict:
    """Return the header's description of one model: iterations, params, loss, time, checks, fingerprint."""
    return {"iters": int(ckpt["step"]), "params": model.num_params(),
            "non_embedding_params": model.num_params(non_embedding=True),
            "final_loss": final_loss(ckpt.get("loss_history", [])), "train_seconds": ckpt.get("elapsed"),
            "checks": checks, "fingerprint": fingerprint(model)}


def run(scale: str, *, results_dir, ckpt_dir, data_dir=None, device: str = "cpu", workers: int = 1,
        progress: bool = True, model=None, judge=None) -> list[Path]:
    """Train the MDM (early snapshot and proxy), measure every l not yet recorded; return [results path]."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r} for {NAME}; choose one of: {', '.join(SCALES)}")
    if model is not None or judge is not None:
        raise ValueError(f"{NAME} trains its own L&O-NAE-SAT MDM: drop --model/--judge")
    spec = SCALES[scale]
    if spec["needs_gpu"] and not str(device).startswith("cuda"):
        raise ValueError(f"the {scale} preset of {NAME} trains a {spec['model']} MDM for {spec['train']['iters']} "
                         f"iterations: run it on a GPU (--device cuda)")
    task = LoNaeSat(spec["variant"], scale)
    ls = spec["ls"] or list(range(1, task.n))
    if any(not 1 <= l < task.n for l in ls):
        raise ValueError(f"ls must lie in 1..N-1={task.n - 1} (got {ls})")
    length = context_len(spec, task)
    protocol = "App. C.2.1: l latents + round(l*P/N) observations masked uniformly"
    want = {k: spec[k] for k in ("variant", "model", "pos", "pad_to", "train", "early_step", "repeats", "exact_max_l")}
    want.update(ls=ls, protocol=protocol)
    path = figure_path(results_dir, scale, NAME, spec["variant"], "early_vs_proxy", SEED)
    if recorded_complete(path, want, {f"l{l}" for l in ls}):
        report_complete(NAME, [path])  # the two models' fingerprints need the models: not compared here
        return [path]
    ckpt = run_dir(ckpt_dir, scale, spec)
    (early, early_ck), (proxy, proxy_ck) = train_models(task, spec, ckpt, device, progress)
    info = {"N": task.n, "P": task.p, "context": length, "pad_to": spec.get("pad_to"), "shown_l": SHOWN_L,
            "checkpoint": str(ckpt),
            "task_info": {k: v for k, v in task.info().items()
                          if k in ("triple_seed", "triples_sha256", "naive_guess")},
            "error": "sum over v in {0,1} of (log p_early(v) - log p_proxy(v))^2, log-probs renormalised over "
                     "{0,1}; KL(p_exact || p_model) where the exact conditional is enumerated"}
    for name, m, ck in (("early", early, early_ck), ("proxy", proxy, proxy_ck)):
        info[name] = model_info(m, ck, learning_checks(m, task, length, spec["check_n"], device,
                                                       spec["eval_batch"]))
    identity = dict(want, early=info["early"]["fingerprint"], proxy=info["proxy"]["fingerprint"])
    rf = figure_results(results_dir, scale, NAME, spec["variant"], "early_vs_proxy", identity=identity,
                        n_planned=len(ls), device=str(device), info=info, seed=SEED)
    todo = [l for l in ls if f"l{l}" not in rf.done]
    for l in tqdm(todo, desc=f"{NAME} l", disable=not progress):
        rf.append([_json_floats(measure_l(early, proxy, task, spec, l, device))])
    return [rf.path]
