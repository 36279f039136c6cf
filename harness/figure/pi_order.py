"""Figure 2 (top right): the pi-ordered validation loss of a trained text MDM (paper App. C.2.2).

The paper scores a 170M MDM pretrained on text along orders pi drawn from the point mass at the identity,
from "Closer" (L/10 random swaps) and from Unif(S_L), over 1024 validation sequences, and reports
3.171 / 3.212 / 3.245 nats per token: the MDM is better at some of the problems it trains on than at
others. We score the same sequences under every family (paired), one fresh order per sequence, with the
exact L-step chain of :mod:`harness.figure.pi_likelihood`, and add the "much closer" family (sqrt(L) swaps).

Scales: ``smoke`` and ``small`` score the figures' small text MDM (built by
:func:`harness.figure.text_models.figure_text_models`, trained on the first 90% of Tiny Shakespeare) on
windows of the held-out last 10%. ``paper`` needs ``--model`` (any text MDM in ``transformers`` format)
and scores 2048-token windows of SlimPajama's validation split, streamed through ``datasets``.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.training import permutations
from harness.figure.common import (figure_path, figure_results, model_dir_fingerprint, recorded_complete,
                                   report_complete, text_model_info)
from harness.figure.pi_likelihood import pi_ordered_logprobs, step_profile

NAME = "pi_order"
PROFILE_BUCKETS = 8

SCALES = {
    "smoke": dict(families=["identity", "closer", "uniform"], n=4, length=16, batch=4, seed=0,
                  data="heldout"),
    "small": dict(families=["identity", "much_closer", "closer", "uniform"], n=64, length=128, batch=8, seed=0,
                  data="heldout"),
    "paper": dict(families=["identity", "much_closer", "closer", "uniform"], n=1024, length=2048, batch=1, seed=0,
                  data=dict(dataset="cerebras/SlimPajama-627B", split="validation", field="text")),
}
"""Per scale: the order families, sequences scored, window length in tokens (capped at the model's context),
sequences per forward group, seed, and the validation text."""


def model_variant(model: str, local: bool = False) -> str:
    """Return the results variant naming a model: its directory's last two parts (a directory that exists, or
    ``local``: one that will), else the hub id."""
    return "-".join(Path(model).parts[-2:]) if local or Path(model).exists() else model.replace("/", "--")


def _complete_files(scale: str, s: dict, results_dir, model: str, own: bool) -> list[Path] | None:
    """Return every family's results file when each already holds the preset's records for ``model`` (no
    model needed); else None. The fingerprint, window length and windows hash need the model and are not
    compared here: a different model at the same path is caught when an incomplete file resumes. ``own``: the
    scale's own model, named by its directory even before it is trained."""
    variant = model_variant(model, local=own)
    want = {"model": model, "n": s["n"], "seed": s["seed"],
            "data": s["data"] if isinstance(s["data"], str) else dict(s["data"])}
    paths = [figure_path(results_dir, scale, NAME, variant, fam, s["seed"]) for fam in s["families"]]
    return paths if all(recorded_complete(p, want) for p in paths) else None


def validation_texts(spec, data_dir: str | None, n_docs: int) -> list[str]:
    """Return validation documents: the held-out Tiny Shakespeare text, or the first ``n_docs`` documents of a
    ``datasets`` split (streamed)."""
    if spec == "heldout":
        from harness.figure.text_models import heldout_text
        return [heldout_text(data_dir)]
    try:
        import datasets
    except ImportError:
        raise ValueError("the paper-scale validation text streams through `datasets`: pip install datasets") from None
    stream = datasets.load_dataset(spec["dataset"], split=spec["split"], streaming=True)
    return [row[spec["field"]] for _, row in zip(range(n_docs), stream)]


def text_windows(texts: list[str], encode, eos_id: int | None, length: int, n: int) -> np.ndarray:
    """Return up to ``n`` non-overlapping token windows [n, length] of the documents joined by EOS."""
    ids: list[int] = []
    for t in texts:
        ids.extend(encode(t))
        if eos_id is not None:
            ids.append(eos_id)
        if len(ids) >= n * length:
            break
    k = min(n, len(ids) // length)
    if k == 0:
        raise ValueError(f"the validation text has {len(ids)} tokens, fewer than one window of {length}")
    return np.asarray(ids[: k * length], dtype=np.int64).reshape(k, length)


def family_orders(family: str, length: int, n: int, seed: int) -> np.ndarray:
    """Return [n, length] orders, one drawn from ``family`` per sequence (deterministic in seed, family, index)."""
    fam = permutations.FAMILIES.index(family)
    return np.stack([permutations.draw(family, length, np.random.default_rng([seed, fam, i])) for i in range(n)])


def run(scale: str, *, results_dir, ckpt_dir, data_dir, device, workers=1, progress=True, model=None, judge=None,
        **_) -> list[Path]:
    """Score the validation windows under every order family; return the results files written."""
    from harness.models.text import load_text_model

    s = SCALES[scale]
    if model is None and s["data"] != "heldout":
        raise ValueError("the paper-scale pi-ordered loss needs a text MDM: pass --model PATH "
                         "(the paper used a 170M MDM pretrained on SlimPajama)")
    if model is None:
        from harness.figure.text_models import models_dir
        done = _complete_files(scale, s, results_dir, str(models_dir(ckpt_dir, scale) / "mdm" / "model"), own=True)
    else:
        done = _complete_files(scale, s, results_dir, model, own=False)
    if done is not None:
        report_complete(NAME, done)
        return done
    if model is None:
        from harness.figure.text_models import figure_text_models
        model = str(figure_text_models(scale, ckpt_dir=ckpt_dir, data_dir=data_dir, device=device,
                                       progress=progress)["mdm"])
    tm = load_text_model(model, device=device)
    context = int(getattr(tm.model.config, "seq_len", 0) or getattr(tm.model.config, "max_position_embeddings", 0)
                  or s["length"])
    length = min(s["length"], context)
    texts = validation_texts(s["data"], data_dir, n_docs=4 * s["n"])
    eos = tm.eos_ids[0] if tm.eos_ids else None
    windows = text_windows(texts, tm.encode, eos, length, s["n"])
    n = len(windows)
    identity = {"model": model, "fingerprint": model_dir_fingerprint(model), "length": length, "n": n,
                "seed": s["seed"], "data": s["data"] if isinstance(s["data"], str) else dict(s["data"]),
                "windows_sha256": hashlib.sha256(windows.tobytes()).hexdigest()[:12]}
    info = {"model_params": tm.info.get("params"), "model_type": tm.info.get("model_type"),
            "model_path": model, "length": length, "families": s["families"], "mdm": text_model_info(model)}
    paths = []
    variant = model_variant(model)
    for family in s["families"]:
        rf = figure_results(results_dir, scale, NAME, variant, family, identity=identity, n_planned=n,
                            device=device, info=info, seed=s["seed"])
        todo = [i for i in range(n) if str(i) not in rf.done]
        orders = family_orders(family, length, n, s["seed"])
        bar = tqdm(total=len(todo) * length, disable=not progress, desc=f"pi-order {family}", unit="step")
        for g in range(0, len(todo), s["batch"]):
            idx = todo[g:g + s["batch"]]
            x = torch.from_numpy(windows[idx]).to(tm.device)
            perms = torch.from_numpy(orders[idx]).to(tm.device)
            lp = pi_ordered_logprobs(tm, x, perms, tm.mask_id, progress=bar.update).cpu()
            records = []
            for row, i in enumerate(idx):
                dist = permutations.distances(orders[i])
                records.append({"id": str(i), "family": family, "nll": float(-lp[row].sum()), "tokens": length,
                                "loss": float(-lp[row].mean()), "profile": step_profile(lp[row], PROFILE_BUCKETS),
                                "distance": dist})
            rf.append(records)
        bar.close()
        paths.append(rf.path)
    return paths
