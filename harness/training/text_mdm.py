"""The offline small text MDM: a byte-level BPE tokenizer trained here and one of our transformers trained
with the masked-diffusion loss, saved in ``transformers`` format (``save_pretrained``) so it loads through
exactly the path LLaDA does.

No machine here can download LLaDA's weights, so the ``small`` scale and the tests run the text tasks
with this model. It checks the pipeline (prompts, masks, decoding, scoring), not the skill of an 8B model.

Corpus (all local): the Python standard library's own source files (code, for the HumanEval infilling
tasks) and, when present, Tiny Shakespeare from the shared data directory (prose). No evaluation set is
trained on. ``corpus="prose"`` trains on Tiny Shakespeare alone (optionally its first ``prose_frac``,
holding out the rest), and ``objective="arm"`` trains a causal next-token model instead (the generative-
perplexity judge of Figure 3), optionally on the tokenizer of another model (``tokenizer_dir``).

:func:`build` makes one (resumable); the runner (``python -m harness.run --task rocstories --train-only``) and
the figure experiments call it with their presets.
"""
from __future__ import annotations

import gzip
import json
import sysconfig
from pathlib import Path

import numpy as np
import torch

from harness.models.hf import TokenorderForCausalLM, TokenorderForMaskedDiffusion
from harness.models.transformer import ModelConfig, build_model, new_model
from harness.training.trainer import TrainConfig, train

SPECIAL_TOKENS = {"bos": "<|startoftext|>", "eos": "<|endoftext|>", "eot": "<|eot_id|>", "mask": "<|mdm_mask|>"}
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                 "{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")


def stdlib_python_files(limit_bytes: int) -> list[Path]:
    """Return standard-library ``.py`` files (sorted, tests excluded) totalling about ``limit_bytes``."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files, total = [], 0
    for p in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py")):
        if "test" in p.parts[-2:][0] or p.name.startswith("test"):
            continue
        size = p.stat().st_size
        if 2_000 < size < 200_000:
            files.append(p)
            total += size
            if total >= limit_bytes:
                break
    return files


CORPORA = ("mixed", "prose")
"""``mixed``: stdlib code + Tiny Shakespeare speeches, one document each (the default); ``prose``: Tiny
Shakespeare only, as one running text (speeches keep their blank-line separators, no EOS between them)."""


def shakespeare_text(data_dir: str | Path | None) -> str | None:
    """Return the whole Tiny Shakespeare text from ``data_dir`` (the caller resolves the shared data
    directory: training never looks for task data itself), or None when there is none."""
    path = Path(data_dir) / "text" / "tinyshakespeare.txt.gz" if data_dir else None
    if path is None or not path.exists():
        return None
    return gzip.open(path, "rt", encoding="utf-8").read()


def split_prose(text: str, frac: float) -> tuple[str, str, int]:
    """Return (train part, held-out part, cut offset): the cut is the first blank line at or after
    ``frac`` of the characters, so no speech is split; ``frac >= 1`` keeps everything for training."""
    if not 0 < frac <= 1:
        raise ValueError(f"prose_frac must be in (0, 1], got {frac}")
    if frac >= 1:
        return text, "", len(text)
    cut = text.find("\n\n", int(frac * len(text)))
    cut = len(text) if cut < 0 else cut
    return text[:cut], text[cut + 2:], cut


def corpus_texts(code_bytes: int, data_dir: str | None, corpus: str = "mixed", prose_frac: float = 1.0) -> list[str]:
    """Return the training documents: ``mixed`` = stdlib Python sources and Tiny Shakespeare speeches (when
    available); ``prose`` = the first ``prose_frac`` of Tiny Shakespeare as one document."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; choose one of: {', '.join(CORPORA)}")
    text = shakespeare_text(data_dir)
    if corpus == "prose":
        if text is None:
            raise FileNotFoundError("corpus 'prose' needs text/tinyshakespeare.txt.gz; pass --data-dir (the shared "
                                    "data directory) or set $TOKENORDER_SHARED_DATA")
        return [split_prose(text, prose_frac)[0]]
    docs = [p.read_text(encoding="utf-8", errors="replace") for p in stdlib_python_files(code_bytes)]
    if text is not None:
        docs += [p for p in split_prose(text, prose_frac)[0].split("\n\n") if p.strip()]
    return docs


def train_tokenizer(docs: list[str], vocab_size: int):
    """Return a ``PreTrainedTokenizerFast`` (byte-level BPE trained on ``docs``) with chat template and specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    extra = ["<|start_header_id|>", "<|end_header_id|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()) + extra,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL_TOKENS["bos"],
                                   eos_token=SPECIAL_TOKENS["eos"], pad_token=SPECIAL_TOKENS["eos"],
                                   mask_token=SPECIAL_TOKENS["mask"], additional_special_tokens=[SPECIAL_TOKENS["eot"]] + extra)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def token_stream(docs: list[str], tokenizer) -> np.ndarray:
    """Return all documents tokenised and joined by EOS as one int64 array."""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for d in docs:
        ids.extend(tokenizer(d, add_special_tokens=False)["input_ids"])
        ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


def heldout_eval(held: np.ndarray, seq_len: int, objective: str, mask_id: int | None, bos: int, seed: int,
                 device: str, windows: int = 64, batch: int = 32):
    """Return ``eval_fn(model) -> {"heldout_loss", "heldout_windows"}``: the training loss on ``windows``
    fixed, evenly spaced held-out windows (ARM: next-token NLL per token after BOS; MDM: the ELBO loss with
    fixed masking noise), so successive evaluations are comparable."""
    from harness.training.trainer import arm_loss, mdm_loss, step_generator
    width = seq_len - 1 if objective == "arm" else seq_len
    n = int(min(windows, max(0, len(held) - width)))
    if n < 1:
        raise ValueError(f"the held-out text has {len(held)} tokens, too few for one window of {width}; "
                         f"lower prose_frac")
    starts = np.linspace(0, len(held) - width, n).astype(np.int64)
    x = torch.from_numpy(np.stack([held[s:s + width] for s in starts]))
    if objective == "arm":
        x = torch.cat([torch.full((n, 1), bos, dtype=x.dtype), x], dim=1)

    def eval_fn(model) -> dict:
        total = 0.0
        for i in range(0, n, batch):
            xb = x[i:i + batch].to(device)
            ones = torch.ones_like(xb, dtype=torch.bool)
            loss = (arm_loss(model, xb, ones) if objective == "arm" else
                    mdm_loss(model, xb, ones, mask_id, generator=step_generator(seed + 1, i)))
            total += float(loss) * len(xb)
        return {"heldout_loss": total / n, "heldout_windows": n}

    return eval_fn


def build(out: str | Path, preset: str | dict = "3M", seq_len: int = 256, vocab_size: int = 4096, iters: int = 1500,
          batch_size: int = 32, lr: float = 1e-3, code_bytes: int = 4_000_000, data_dir: str | None = None,
          seed: int = 0, device: str = "cpu", progress: bool = True, *, objective: str = "mdm",
          corpus: str = "mixed", prose_frac: float = 1.0, tokenizer_dir: str | Path | None = None,
          pos: str = "rope", amp: str = "auto") -> Path:
    """Return the directory of a trained small text model (tokenizer + model, ``save_pretrained`` format).

    ``objective="mdm"`` (default) trains a bidirectional masked-diffusion model saved as
    :class:`TokenorderForMaskedDiffusion`; ``"arm"`` a causal next-token model saved as
    :class:`TokenorderForCausalLM` (loads with ``AutoModelForCausalLM``). An ARM window is BOS followed by
    ``seq_len - 1`` corpus tokens, every one of them a target, so the model scores text that starts
    anywhere given BOS. ``preset`` is a name in ``PRESETS`` or a dict of ``n_layer, n_head, d_model, d_ff``.
    ``corpus`` / ``prose_frac`` choose the training text (see :func:`corpus_texts`). The tokenizer is
    loaded from ``tokenizer_dir`` when it holds one, else trained on the corpus and saved there (default
    ``out/tokenizer``), so two models can share one. Trains for ``iters`` steps on random windows (resumes
    from ``out/train``); writes ``out/model`` and returns it."""
    out = Path(out)
    model_dir = out / "model"
    if (model_dir / "config.json").exists() and (model_dir / "tokenizer.json").exists():
        return model_dir
    if objective not in ("mdm", "arm"):
        raise ValueError(f"objective must be 'mdm' or 'arm', got {objective!r}")
    docs = corpus_texts(code_bytes, data_dir, corpus, prose_frac)
    tok_dir = Path(tokenizer_dir) if tokenizer_dir is not None else out / "tokenizer"
    if (tok_dir / "tokenizer.json").exists():
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    else:
        tokenizer = train_tokenizer(docs, vocab_size)
        tokenizer.save_pretrained(tok_dir)
    stream = token_stream(docs, tokenizer)
    causal = objective == "arm"
    mask_id = None if causal else tokenizer.mask_token_id
    bos = tokenizer.bos_token_id
    vocab = len(tokenizer)
    if isinstance(preset, dict):
        net = new_model(ModelConfig(vocab_size=vocab, seq_len=seq_len, causal=causal, pos=pos, **preset), seed)
    else:
        net = build_model(preset, vocab, seq_len, causal=causal, pos=pos, seed=seed)
    cfg = TrainConfig(objective=objective, iters=iters, batch_size=batch_size, lr=lr, min_lr=lr / 10,
                      warmup=min(100, iters // 10), seed=seed, ckpt_every=max(100, iters // 5), log_every=50,
                      amp=amp)
    width = seq_len - 1 if causal else seq_len  # ARM windows: BOS + seq_len - 1 corpus tokens

    def batch_fn(step: int):
        g = np.random.default_rng([seed, step])
        starts = g.integers(0, len(stream) - width, size=batch_size)
        x = np.stack([stream[s:s + width] for s in starts])
        if causal:
            x = np.concatenate([np.full((batch_size, 1), bos, dtype=x.dtype), x], axis=1)
        return torch.from_numpy(x).to(device), torch.ones(x.shape, dtype=torch.bool, device=device)

    meta = {"kind": f"text-{objective}", "tokens_in_corpus": int(len(stream)), "docs": len(docs)}
    if corpus != "mixed":
        meta["corpus"] = corpus
    eval_fn = None
    if prose_frac < 1:
        text = shakespeare_text(data_dir) or ""
        _, held, cut = split_prose(text, prose_frac)
        meta["prose_split"] = {"frac": prose_frac, "train_chars": cut, "heldout_chars": len(held),
                               "total_chars": len(text), "heldout_from_char": cut + 2}
        held_ids = token_stream([held], tokenizer)
        eval_fn = heldout_eval(held_ids, seq_len, objective, mask_id, bos, seed, device)
        meta["unigram_heldout_loss"] = unigram_loss(stream, held_ids, vocab)
    summary = train(net, batch_fn, cfg, out / "train", mask_id, meta=meta, device=device, progress=progress,
                    eval_fn=eval_fn)
    if eval_fn is not None:
        from harness.training.trainer import load_checkpoint
        summary["heldout_evals"] = load_checkpoint(out / "train" / "ckpt.pt")[1].get("evals", [])
        summary["heldout_loss"] = summary["heldout_evals"][-1]["heldout_loss"] if summary["heldout_evals"] else None
        summary["unigram_heldout_loss"] = meta["unigram_heldout_loss"]
    wrapper = TokenorderForCausalLM if causal else TokenorderForMaskedDiffusion
    ids = {"mask_token_id": tokenizer.mask_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id, "bos_token_id": bos}
    model = wrapper.from_transformer(net.cpu(), **ids)
    tmp = out / "model.tmp"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "training.json").write_text(json.dumps({"summary": summary, "train": cfg.to_dict(), "preset": preset,
                                                   "corpus": meta}, indent=1, default=str))
    tmp.rename(model_dir)
    return model_dir


def unigram_loss(train_ids: np.ndarray, heldout_ids: np.ndarray, vocab: int) -> float:
    """Return the held-out cross-entropy (nats per token) of the training tokens' unigram distribution
    (add-one smoothed): what a model that learned no context at all would score."""
    counts = np.bincount(np.asarray(train_ids, dtype=np.int64), minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[np.asarray(heldout_ids, dtype=np.int64)].mean())
