"""The small text models the figure experiments share: a prose MDM and a stronger autoregressive judge.

Both are trained here on the first 90% of Tiny Shakespeare (cut at a blank line, so no speech is split);
the last 10% is held out (:func:`heldout_text`) for the reference lines and validation losses. They share
one byte-level BPE tokenizer, trained on the training part only, so a sample of the MDM and its judge
speak the same tokens (the judge still re-tokenises decoded text, exactly as a Llama judge would).

* ``mdm``: bidirectional, masked-diffusion loss (:func:`harness.training.text_mdm.build`, ``corpus="prose"``), saved as
  ``TokenorderForMaskedDiffusion``; Figure 3 samples from it and Figure 2 (top right) scores it.
* ``judge``: causal, next-token loss, larger and trained on the same text, saved as
  ``TokenorderForCausalLM`` (loads with ``AutoModelForCausalLM``, as Llama-2-7B does at paper scale).

Sizes and iterations per scale are in ``TEXT_MODELS`` (plain data, chosen by measurement on the 2-core CPU:
the ``small`` MDM's held-out loss after 1000 iterations was 4.35 / 4.09 nats per token for seeds 0 / 1 and
after 2500 iterations 3.86 / 3.59, against 5.17 for the training text's unigram distribution, so 2500 it is:
clearly below unigram for any seed, and the same seed reproduces it exactly;
a 512-token vocabulary was chosen over 1024: in pilots of 800 MDM iterations the larger one was somewhat
better per character (held-out MDM loss 2.04 vs 2.29 nats/char) but the decoder's per-example token noise
costs time in proportion to the vocabulary, so Figure 3's sampling took about twice as long). The ``paper`` scale
trains nothing: the experiments take ``--model`` / ``--judge`` paths. Checkpoints live under
``ckpt_dir/<scale>/text_models/{tokenizer,mdm,judge}``; a rerun reuses finished models and resumes
interrupted training.
"""
from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from tasks.datafiles import default_data_dir

PROSE_FRAC = 0.9
"""Fraction of Tiny Shakespeare (by characters, cut at the next blank line) the text models train on."""

TEXT_MODELS: dict[str, dict | None] = {
    "smoke": dict(vocab_size=512,
                  mdm=dict(preset="0.2M", seq_len=64, iters=30, batch_size=8, lr=2e-3),
                  judge=dict(preset="0.2M", seq_len=128, iters=30, batch_size=8, lr=2e-3)),
    "small": dict(vocab_size=512,
                  mdm=dict(preset="0.8M", seq_len=128, iters=2500, batch_size=32, lr=2e-3),
                  judge=dict(preset=dict(n_layer=4, n_head=4, d_model=192, d_ff=576), seq_len=256, iters=600,
                             batch_size=16, lr=2e-3)),
    "paper": None,
}
"""Per scale: the shared tokenizer's vocabulary and the :func:`harness.training.text_mdm.build` arguments of each model."""


def heldout_text(data_dir: str | None) -> str:
    """Return the held-out last 10% of Tiny Shakespeare (the text after the training cut)."""
    from harness.training.text_mdm import shakespeare_text, split_prose
    text = shakespeare_text(data_dir if data_dir is not None else default_data_dir())
    if text is None:
        raise FileNotFoundError("text/tinyshakespeare.txt.gz not found; pass --data-dir (the shared data directory) "
                                "or set $TOKENORDER_SHARED_DATA")
    return split_prose(text, PROSE_FRAC)[1]


def models_dir(ckpt_dir: str | Path, scale: str) -> Path:
    """Return the directory holding one scale's shared tokenizer and text models."""
    return Path(ckpt_dir) / scale / "text_models"


def _build_one(kwargs: dict, threads: int) -> str:
    """Worker: train one model with ``threads`` torch threads; return its model directory."""
    import torch
    from harness.training.text_mdm import build
    if threads:
        torch.set_num_threads(threads)
    return str(build(**kwargs))


def figure_text_models(scale: str, ckpt_dir: str | Path, data_dir: str | None, device: str = "cpu",
                       progress: bool = True, workers: int = 2) -> dict[str, Path]:
    """Return ``{"mdm": Path, "judge": Path}``: the scale's prose MDM and ARM judge (trained if missing).

    The shared tokenizer is trained first; then the two models train side by side in ``workers`` processes
    (one torch thread each) on CPU, one after the other on a GPU. Raises ValueError for the ``paper`` scale,
    which trains nothing (pass the models' paths instead)."""
    if scale not in TEXT_MODELS:
        raise ValueError(f"unknown scale {scale!r}; choose one of: {', '.join(TEXT_MODELS)}")
    preset = TEXT_MODELS[scale]
    if preset is None:
        raise ValueError(f"scale {scale!r} trains no text models: pass --model (a text MDM in transformers "
                         f"format) and --judge (an autoregressive LM such as Llama-2-7B)")
    from harness.training.text_mdm import corpus_texts, train_tokenizer
    data_dir = data_dir if data_dir is not None else default_data_dir()
    root = models_dir(ckpt_dir, scale)
    tok_dir = root / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        docs = corpus_texts(0, data_dir, "prose", PROSE_FRAC)
        train_tokenizer(docs, preset["vocab_size"]).save_pretrained(tok_dir)
        (tok_dir / "split.json").write_text(json.dumps({"corpus": "tinyshakespeare", "train_frac": PROSE_FRAC,
                                                        "cut": "first blank line at or after the fraction"}))
    jobs = {}
    for name, objective in (("mdm", "mdm"), ("judge", "arm")):
        kw = dict(preset[name])
        jobs[name] = dict(out=root / name, data_dir=data_dir, device=device, progress=progress, objective=objective,
                          corpus="prose", prose_frac=PROSE_FRAC, tokenizer_dir=tok_dir, **kw)
    todo = {k: v for k, v in jobs.items() if not (Path(v["out"]) / "model" / "config.json").exists()}
    parallel = device == "cpu" and workers > 1 and len(todo) > 1
    if parallel:
        with ProcessPoolExecutor(max_workers=len(todo), mp_context=get_context("spawn")) as pool:
            futures = {k: pool.submit(_build_one, v, 1) for k, v in todo.items()}
            built = {k: f.result() for k, f in futures.items()}
    else:
        built = {k: _build_one(v, 0) for k, v in todo.items()}
    return {k: Path(built.get(k) or Path(v["out"]) / "model") for k, v in jobs.items()}
