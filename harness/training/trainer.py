"""Losses, the training loop, and checkpoints with exact resume.

* :func:`mdm_loss` -- the masked-diffusion ELBO with the linear schedule alpha_t = 1 - t (Sahoo et al.,
  Shi et al.; PAPER.md section 3.1): mask each maskable position independently with probability t, score
  the masked ones with cross-entropy weighted by 1/t.
* :func:`arm_loss` -- next-token cross-entropy for a causal model.
* :func:`train` -- AdamW + warmup/cosine + clipping + optional bf16 autocast. It checkpoints atomically to
  ``ckpt_dir/ckpt.pt`` and resumes from there. All randomness of a step is a function of ``(cfg.seed,
  step)`` (loss noise) or is restored from the checkpoint (dropout), and the caller's ``batch_fn`` is
  deterministic in ``step``, so a run that is killed and resumed ends with bitwise the same weights as one
  that never stopped (on CPU).
"""
from __future__ import annotations

import contextlib
import math
import os
import pickle
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from harness.models.transformer import ModelConfig, Transformer
from harness.training.precision import autocast_context, decision_key, resolve_amp, time_steps

CKPT_NAME = "ckpt.pt"

BatchFn = Callable[[int], "tuple[torch.Tensor, ...]"]
"""step -> (x0 [B, L] long, maskable (MDM) or loss_mask (ARM) [B, L] bool[, t_floor [B] float (MDM only)]);
must be deterministic in step. ``t_floor`` raises each row's masking ratio to t_floor + (1 - t_floor)·t (1 =
every maskable position masked); rows without one use the plain schedule."""


@dataclass
class TrainConfig:
    """Optimisation settings of one training run (stored in the checkpoint; resume requires equality)."""

    objective: str = "mdm"      # "mdm" | "arm"
    iters: int = 1000
    batch_size: int = 128       # informational for the loop: batch_fn decides the actual batch
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0      # <= 0 disables clipping
    ckpt_every: int = 500       # <= 0: checkpoint only at the end
    log_every: int = 50
    seed: int = 0
    amp: str = "auto"           # "auto": decided on the machine (harness.training.precision); "bf16": on any device; "off"
    t_min: float = 1e-3         # MDM masking-ratio floor
    stratified_t: bool = True   # low-discrepancy t across the batch: t_i = (u + i/B) mod 1
    micro_batches: int = 1      # split each batch into this many chunks and accumulate gradients (less memory)

    def __post_init__(self):
        if self.objective not in ("mdm", "arm"):
            raise ValueError(f"objective must be 'mdm' or 'arm', got {self.objective!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be 'auto', 'bf16' or 'off', got {self.amp!r}")
        if self.micro_batches < 1:
            raise ValueError(f"micro_batches must be >= 1, got {self.micro_batches}")

    def to_dict(self) -> dict:
        """Return the config as a plain dict."""
        return asdict(self)


# ----------------------------------------------------------------------------------------------------------
# losses

def sample_t(batch: int, generator: torch.Generator | None = None, stratified: bool = True,
             t_min: float = 1e-3, device: str | torch.device = "cpu") -> torch.Tensor:
    """Return masking ratios t [batch] in [t_min, 1), i.i.d. uniform or stratified ((u + i/B) mod 1)."""
    gen_device = generator.device if generator is not None else device
    if stratified:
        u = torch.rand(1, generator=generator, device=gen_device)
        t = (u + torch.arange(batch, device=gen_device) / batch) % 1.0
    else:
        t = torch.rand(batch, generator=generator, device=gen_device)
    return (t_min + (1.0 - t_min) * t).to(device)


def mdm_loss(model: Transformer, x0: torch.Tensor, maskable: torch.Tensor, mask_id: int,
             generator: torch.Generator | None = None, t: torch.Tensor | None = None,
             stratified: bool = True, t_min: float = 1e-3, t_floor: torch.Tensor | None = None) -> torch.Tensor:
    """Return the scalar masked-diffusion ELBO loss (nats per maskable position, batch mean).

    For each sequence: t ~ U(t_min, 1) (unless given), every maskable position is replaced by ``mask_id``
    independently with probability t, and the loss is sum over masked positions of CE / t, divided by the
    number of maskable positions. Positions that are not maskable are never masked and never scored. The
    noise comes from ``generator`` (any device; it is moved to x0's device), CE is computed in float32.
    ``t_floor`` [B] moves row i's ratio to t_floor_i + (1 − t_floor_i)·t (a training-distribution choice: with
    1 every maskable position of the row is masked and weighted 1).
    """
    B, L = x0.shape
    maskable = maskable.to(torch.bool)
    if t is None:
        t = sample_t(B, generator, stratified, t_min, device=x0.device)
    t = t.to(device=x0.device, dtype=torch.float32)
    if t_floor is not None:
        floor = t_floor.to(device=x0.device, dtype=torch.float32)
        t = floor + (1.0 - floor) * t
    gen_device = generator.device if generator is not None else x0.device
    u = torch.rand(B, L, generator=generator, device=gen_device).to(x0.device)
    masked = (u < t[:, None]) & maskable
    xt = torch.where(masked, torch.full_like(x0, mask_id), x0)
    logits = model(xt)
    ce = F.cross_entropy(logits.float().reshape(B * L, -1), x0.reshape(-1), reduction="none").view(B, L)
    per_seq = (ce * masked).sum(dim=1) / t / maskable.sum(dim=1).clamp(min=1)
    return per_seq.mean()


def arm_loss(model: Transformer, x: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Return the scalar next-token CE: logits[:, :-1] predict x[:, 1:], mean over targets with loss_mask[:, 1:]."""
    logits = model(x)[:, :-1].float()
    targets = x[:, 1:]
    m = loss_mask[:, 1:].to(torch.bool)
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
    return (ce * m.reshape(-1)).sum() / m.sum().clamp(min=1)


# ----------------------------------------------------------------------------------------------------------
# training loop helpers

def lr_at(step: int, cfg: TrainConfig) -> float:
    """Return the learning rate for (0-based) step: linear warmup, then cosine decay from lr to min_lr."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / (cfg.warmup + 1)
    decay_steps = max(1, cfg.iters - cfg.warmup)
    ratio = min(1.0, (step - cfg.warmup) / decay_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


def step_generator(seed: int, step: int) -> torch.Generator:
    """Return a CPU torch.Generator seeded from (seed, step) by a well-mixed hash (SeedSequence)."""
    s = int(np.random.SeedSequence([seed & 0xFFFFFFFF, step]).generate_state(1, np.uint64)[0]) >> 1
    return torch.Generator(device="cpu").manual_seed(s)


def make_optimizer(model: Transformer, cfg: TrainConfig) -> torch.optim.AdamW:
    """Return AdamW with weight decay on all >=2-D parameters and none on 1-D ones (norm gains)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def _probe_seconds(model: Transformer, batch_fn: BatchFn, cfg: TrainConfig, mask_id: int | None,
                   device: torch.device, amp: str) -> list[float]:
    """Return the seconds of a few forward + backward passes on batch 0 in precision ``amp``; leaves the
    weights, the gradients (cleared) and every RNG as they were."""
    x, m, *_ = batch_fn(0)
    x, m = x.to(device).chunk(cfg.micro_batches)[0], m.to(device).chunk(cfg.micro_batches)[0]

    def step():
        with autocast_context(amp, device):
            if cfg.objective == "mdm":
                loss = mdm_loss(model, x, m, mask_id, generator=step_generator(cfg.seed, 0))
            else:
                loss = arm_loss(model, x, m)
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    with _fork_rng(device):
        model.train()
        seconds = time_steps(step)
    model.zero_grad(set_to_none=True)
    return seconds


def _fork_rng(device: torch.device):
    """Context that restores the caller's global RNG state(s) on exit."""
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}"


def _atomic_save(obj: dict, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _load_raw(path: Path, map_location="cpu", mmap: bool = False) -> dict:
    """Return the checkpoint dict at ``path``, read with ``weights_only=True``: only tensors and plain data
    (dict, list, tuple, str, numbers, None) are accepted, so loading a file never runs code from it. A file
    that holds anything else (a pickled object's ``__reduce__``, a class) is refused with a ValueError."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found is None:
            raise ValueError(f"{path} is not a readable checkpoint (not a torch file of tensors and plain data)"
                             ) from None
        raise ValueError(f"{path} holds more than tensors and plain data (it names {found.group(1)}), so it was "
                         f"not loaded and nothing in it ran") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable checkpoint ({_one_line(e)})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"expected a dict, got {type(ckpt).__name__}")
    return ckpt


def _summary(state: dict, model: Transformer, resumed_from: int | None) -> dict:
    losses = [loss for _, loss in state["loss_history"]]
    k = max(1, math.ceil(0.1 * len(losses))) if losses else 0
    final = float(np.mean(losses[-k:])) if losses else float("nan")
    secs = state["elapsed"]
    return {
        "iters": state["step"],
        "final_loss": final,
        "seconds": secs,
        "tokens_per_s": state["tokens"] / secs if secs > 0 else float("nan"),
        "params": model.num_params(),
        "non_embedding_params": model.num_params(non_embedding=True),
        "resumed_from": resumed_from,
        "amp": state.get("amp"),
        "amp_reason": state.get("amp_reason"),
    }


# ----------------------------------------------------------------------------------------------------------
# training loop

def _resume_state(ckpt_path: Path, model: Transformer, cfg: TrainConfig, mask_id: int | None,
                  device: torch.device) -> dict | None:
    """Return the saved training state of ``ckpt_path`` with its weights loaded into ``model`` (None when there
    is no checkpoint); raises a one-line ValueError when the checkpoint is unreadable or was written with
    another train config, model config or mask id."""
    if not ckpt_path.exists():
        return None
    ckpt_dir = ckpt_path.parent
    try:
        state = _load_raw(ckpt_path, map_location=device)
        stored_cfg, stored_model = state["train_config"], state["model_config"]
    except Exception as e:
        raise ValueError(f"run dir {ckpt_dir} holds an unreadable checkpoint ({_one_line(e)}); "
                         f"delete it or use another run dir") from None
    defaults = TrainConfig().to_dict()  # a knob added after the checkpoint was written has its default
    diffs = [k for k in sorted(set(stored_cfg) | set(cfg.to_dict()))
             if stored_cfg.get(k, defaults.get(k)) != cfg.to_dict().get(k)]
    diffs += [f"model.{k}" for k in sorted(set(stored_model) | set(model.cfg.to_dict()))
              if stored_model.get(k) != model.cfg.to_dict().get(k)]
    if state.get("mask_id") != mask_id:
        diffs.append("mask_id")
    if diffs:
        raise ValueError(f"run dir {ckpt_dir} holds a checkpoint with a different config "
                         f"({', '.join(diffs)}); delete it or use another run dir")
    model.load_state_dict(state.pop("model"))  # free the loaded copy; save() stores a fresh one
    return state


def train_step(model: Transformer, optimizer: torch.optim.Optimizer, batch: tuple, step: int, cfg: TrainConfig,
               mask_id: int | None, autocast, device: torch.device) -> tuple[torch.Tensor, torch.Generator | None]:
    """Run one optimizer step on ``batch`` = (x, maskable or loss mask[, per-row t floor]); return (the batch's
    loss, detached; the step's loss-noise generator). The batch is split into ``cfg.micro_batches`` equal
    chunks whose gradients are summed (one chunk is the plain step)."""
    x, m, *rest = batch
    x, m = x.to(device, non_blocking=True), m.to(device, non_blocking=True)
    floor = rest[0].to(device) if rest and rest[0] is not None else None
    if floor is not None and cfg.objective != "mdm":
        raise ValueError("a per-row t_floor only applies to the MDM objective")
    floors = floor.chunk(cfg.micro_batches) if floor is not None else [None] * cfg.micro_batches
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, cfg)
    optimizer.zero_grad(set_to_none=True)
    gen = step_generator(cfg.seed, step) if cfg.objective == "mdm" else None
    loss = torch.zeros((), device=device)
    for xc, mc, fc in zip(x.chunk(cfg.micro_batches), m.chunk(cfg.micro_batches), floors):
        with autocast:
            if cfg.objective == "mdm":
                part = mdm_loss(model, xc, mc, mask_id, generator=gen, stratified=cfg.stratified_t,
                                t_min=cfg.t_min, t_floor=fc)
            else:
                part = arm_loss(model, xc, mc)
        part = part * (xc.shape[0] / x.shape[0])
        part.backward()
        loss = loss + part.detach()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss, gen


def train(model: Transformer, batch_fn: BatchFn, cfg: TrainConfig, ckpt_dir: str | Path, mask_id: int | None,
          meta: dict | None = None, device: str | torch.device = "cpu", progress: bool = True,
          eval_fn: Callable[[Transformer], dict] | None = None,
          snapshot_steps: list[int] | tuple[int, ...] = ()) -> dict:
    """Train ``model`` in place (resuming from ``ckpt_dir/ckpt.pt`` if present) and return a summary dict.

    The summary is ``{"iters", "final_loss" (mean of the last 10% of logged losses), "seconds",
    "tokens_per_s", "params", "non_embedding_params", "resumed_from"}``; ``resumed_from`` is the step this
    call started from, or None for a fresh run. A finished checkpoint is loaded into ``model`` and its
    summary returned without training. The model is left in eval mode on ``device``.
    ``eval_fn(model)`` runs at every checkpoint (eval mode, no grad, RNG isolated) and its dict is stored
    under ``"evals"`` as ``{"step": step, **result}``.
    ``snapshot_steps`` (each in 1..iters) also writes a model-only copy of the weights after those steps to
    ``ckpt_dir/snapshot_step<N>.pt`` (see :func:`snapshot_path`; loadable by :func:`load_checkpoint`). It is
    not part of the config: the main checkpoint is unchanged, and a resumed run that passes a step again
    rewrites its snapshot with the same weights. A run already past a step does not go back for it (callers
    check :func:`snapshot_path`).
    """
    device = torch.device(device)
    ckpt_dir = Path(ckpt_dir)
    ckpt_path = ckpt_dir / CKPT_NAME
    if cfg.objective == "mdm" and mask_id is None:
        raise ValueError("objective 'mdm' needs a mask_id")
    if cfg.objective == "arm" and not model.cfg.causal:
        raise ValueError("objective 'arm' needs a causal model (build it with causal=True)")
    snapshots = {int(s) for s in snapshot_steps}
    if any(not 1 <= s <= cfg.iters for s in snapshots):
        raise ValueError(f"snapshot_steps must lie in 1..iters={cfg.iters} (got {sorted(snapshots)})")
    model.to(device)
    optimizer = make_optimizer(model, cfg)

    state = _resume_state(ckpt_path, model, cfg, mask_id, device)
    if state is not None:
        if state["finished"]:
            model.eval()
            return _summary(state, model, resumed_from=state["step"])
        optimizer.load_state_dict(state.pop("optimizer"))

    if state is None:
        state = {
            "model_config": model.cfg.to_dict(), "train_config": cfg.to_dict(), "mask_id": mask_id,
            "step": 0, "elapsed": 0.0, "tokens": 0, "loss_history": [], "evals": [],
            "loss_acc": (0.0, 0), "finished": False,
        }
        resumed_from = None
    else:
        resumed_from = state["step"]
    state["meta"] = meta

    if state.get("amp") is None:  # decided once per run, on this machine; a resumed run keeps it
        shape = [model.cfg.to_dict(), cfg.objective, cfg.batch_size, cfg.micro_batches, device.type]
        state["amp"], state["amp_reason"] = resolve_amp(
            cfg.amp, device, lambda amp: _probe_seconds(model, batch_fn, cfg, mask_id, device, amp),
            key=decision_key(shape))
    autocast = autocast_context(state["amp"], device)
    start = state["step"]
    acc_sum = torch.tensor(state["loss_acc"][0], dtype=torch.float64, device=device)
    acc_n = state["loss_acc"][1]
    elapsed0, t0, session_tokens, eval_seconds = state["elapsed"], time.perf_counter(), 0, 0.0
    bar = tqdm(total=cfg.iters, initial=start, disable=not progress, dynamic_ncols=True,
               desc=f"train {cfg.objective}")

    def save(step: int, finished: bool):
        nonlocal eval_seconds
        if eval_fn is not None:
            t_eval = time.perf_counter()
            model.eval()
            with _fork_rng(device), torch.no_grad():
                result = eval_fn(model)
            model.train()
            state["evals"].append({"step": step, **dict(result or {})})
            eval_seconds += time.perf_counter() - t_eval
        state.update(
            model=model.state_dict(), optimizer=optimizer.state_dict(), step=step, finished=finished,
            elapsed=elapsed0 + time.perf_counter() - t0 - eval_seconds,  # training time only
            loss_acc=(acc_sum.item(), acc_n),
            rng_state=torch.get_rng_state(),
            cuda_rng_state=torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            loss_rng_state=gen.get_state() if gen is not None else None,
        )
        if finished:
            state["summary"] = _summary(state, model, resumed_from)
        _atomic_save(state, ckpt_path)

    gen = None
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    with _fork_rng(device), contextlib.closing(bar):
        # Dropout draws from the global RNG: seed it for a fresh run, restore it on resume.
        if start == 0:
            torch.manual_seed(cfg.seed)
        else:
            torch.set_rng_state(state["rng_state"])
            if device.type == "cuda" and state.get("cuda_rng_state") is not None:
                torch.cuda.set_rng_state(state["cuda_rng_state"], device)
        model.train()
        for step in range(start, cfg.iters):
            batch = batch_fn(step)
            loss, gen = train_step(model, optimizer, batch, step, cfg, mask_id, autocast, device)
            tokens_per_step = batch[0].numel()
            done = step + 1
            state["tokens"] += tokens_per_step
            session_tokens += tokens_per_step
            acc_sum += loss.detach()
            acc_n += 1
            bar.update(1)
            if done % max(1, cfg.log_every) == 0 or done == cfg.iters:
                mean_loss = acc_sum.item() / acc_n
                state["loss_history"].append((done, mean_loss))
                acc_sum.zero_()
                acc_n = 0
                tok_s = session_tokens / max(1e-9, time.perf_counter() - t0)
                bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{tok_s:,.0f}")
            if done in snapshots:
                _atomic_save({"model_config": model.cfg.to_dict(), "model": model.state_dict(),
                              "train_config": cfg.to_dict(), "mask_id": mask_id, "step": done, "meta": meta,
                              "loss_history": list(state["loss_history"]), "snapshot": True,
                              "elapsed": elapsed0 + time.perf_counter() - t0 - eval_seconds},
                             snapshot_path(ckpt_dir, done))
            if done == cfg.iters:
                save(done, finished=True)
            elif cfg.ckpt_every > 0 and done % cfg.ckpt_every == 0:
                save(done, finished=False)
        if start >= cfg.iters:  # nothing to run (e.g. iters == 0): still leave a finished checkpoint
            save(start, finished=True)
    model.eval()
    return dict(state["summary"])


# ----------------------------------------------------------------------------------------------------------
# loading

def snapshot_path(ckpt_dir: str | Path, step: int) -> Path:
    """Return the path of the model-only snapshot that ``train(..., snapshot_steps=[step])`` writes."""
    return Path(ckpt_dir) / f"snapshot_step{int(step)}.pt"


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[Transformer, dict]:
    """Return (model in eval mode on device, the checkpoint dict without its optimizer state).

    Missing file -> FileNotFoundError; unreadable or inconsistent file -> ValueError (one line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = _load_raw(path, map_location=device)    # refuses a file that is more than tensors and data
    except ValueError as e:
        raise ValueError(f"{e}: delete it to retrain") from None
    try:
        model = Transformer(ModelConfig.from_dict(ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
    except Exception as e:
        raise ValueError(f"checkpoint {path} does not match the expected format or its model config "
                         f"({_one_line(e)}): delete it to retrain") from None
    model.to(device).eval()
    return model, {k: v for k, v in ckpt.items() if k != "optimizer"}


def is_finished(ckpt_dir: str | Path) -> bool:
    """Return True if ckpt_dir/ckpt.pt exists, is readable, and is marked finished."""
    path = Path(ckpt_dir) / CKPT_NAME
    if not path.is_file():
        return False
    try:
        return bool(_load_raw(path, mmap=True).get("finished", False))
    except Exception:
        return False
