"""The offline small text MDM: a byte-level BPE tokenizer trained here and one of our transformers trained
with the masked-diffusion loss, saved in ``transformers`` format (``save_pretrained``) so it loads through
exactly the path LLaDA does.

No machine here can download LLaDA's weights, so the ``small`` scale and the tests run the text tasks
with this model. It checks the pipeline (prompts, masks, decoding, scoring), not the skill of an 8B model.

Corpus (all local): the Python standard library's own source files (code, for the HumanEval infilling
tasks) and, when present, Tiny Shakespeare from the shared data directory (prose). No evaluation set is
trained on.

``python -m harness.text_mdm --out checkpoints/small/text-mdm --iters 1500`` builds one (resumable).
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import sysconfig
from pathlib import Path

import numpy as np
import torch

from harness.models.hf import TokenorderForMaskedDiffusion
from harness.models.transformer import build_model
from harness.training import TrainConfig, train

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


def corpus_texts(code_bytes: int, data_dir: str | None) -> list[str]:
    """Return the training documents: stdlib Python sources and Tiny Shakespeare when available."""
    docs = [p.read_text(encoding="utf-8", errors="replace") for p in stdlib_python_files(code_bytes)]
    from tasks.datafiles import default_data_dir
    base = Path(data_dir) if data_dir else default_data_dir()
    shakespeare = base / "text" / "tinyshakespeare.txt.gz" if base else None
    if shakespeare is not None and shakespeare.exists():
        text = gzip.open(shakespeare, "rt", encoding="utf-8").read()
        docs += [p for p in text.split("\n\n") if p.strip()]
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


def build(out: str | Path, preset: str = "3M", seq_len: int = 256, vocab_size: int = 4096, iters: int = 1500,
          batch_size: int = 32, lr: float = 1e-3, code_bytes: int = 4_000_000, data_dir: str | None = None,
          seed: int = 0, device: str = "cpu", progress: bool = True) -> Path:
    """Return the directory of a trained small text MDM (tokenizer + model, ``save_pretrained`` format).

    Trains the tokenizer, then the model for ``iters`` steps on random windows of the corpus (training
    resumes from ``out/train``); writes ``out/model`` and returns it."""
    out = Path(out)
    model_dir = out / "model"
    if (model_dir / "config.json").exists() and (model_dir / "tokenizer.json").exists():
        return model_dir
    docs = corpus_texts(code_bytes, data_dir)
    tok_dir = out / "tokenizer"
    if (tok_dir / "tokenizer.json").exists():
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    else:
        tokenizer = train_tokenizer(docs, vocab_size)
        tokenizer.save_pretrained(tok_dir)
    stream = token_stream(docs, tokenizer)
    mask_id = tokenizer.mask_token_id
    vocab = len(tokenizer)
    net = build_model(preset, vocab, seq_len)
    cfg = TrainConfig(objective="mdm", iters=iters, batch_size=batch_size, lr=lr, min_lr=lr / 10,
                      warmup=min(100, iters // 10), seed=seed, ckpt_every=max(100, iters // 5), log_every=50)

    def batch_fn(step: int):
        g = np.random.default_rng([seed, step])
        starts = g.integers(0, len(stream) - seq_len, size=batch_size)
        x = np.stack([stream[s:s + seq_len] for s in starts])
        return torch.from_numpy(x).to(device), torch.ones(x.shape, dtype=torch.bool, device=device)

    meta = {"kind": "text-mdm", "tokens_in_corpus": int(len(stream)), "docs": len(docs)}
    summary = train(net, batch_fn, cfg, out / "train", mask_id, meta=meta, device=device, progress=progress)
    model = TokenorderForMaskedDiffusion.from_transformer(
        net.cpu(), mask_token_id=mask_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id)
    tmp = out / "model.tmp"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "training.json").write_text(json.dumps({"summary": summary, "train": cfg.to_dict(), "preset": preset,
                                                   "corpus": meta}, indent=1, default=str))
    tmp.rename(model_dir)
    return model_dir


def main(argv=None) -> int:
    """Command-line entry point; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m harness.text_mdm", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--preset", default="3M")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--iters", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    d = build(a.out, a.preset, a.seq_len, a.vocab_size, a.iters, a.batch_size, data_dir=a.data_dir, seed=a.seed,
              device=a.device)
    print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
