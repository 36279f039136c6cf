"""Text masked-diffusion LMs through ``transformers``: LLaDA, our own small MDM, or any model whose forward
returns logits for every position.

:func:`load_text_model` takes a local directory or a hub id and returns a :class:`TextModel`: the model in
eval mode, its tokenizer, and the special-token ids the decoder needs, all read from the model's config
and tokenizer (never hard-coded): the mask token, EOS and end-of-turn ids, the padding id, and whether the
tokenizer has a chat template.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import hf as _hf  # noqa: F401  (registers our model type with the Auto classes)

MASK_TOKEN_NAMES = ("<|mdm_mask|>", "<|mask|>", "[MASK]", "<mask>", "<|MASK|>")
EOT_TOKEN_NAMES = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


@dataclass
class TextModel:
    """A loaded text MDM: ``model(ids, attention_mask=...)`` gives logits; ids come from ``tokenizer``."""

    model: torch.nn.Module
    tokenizer: object
    mask_id: int
    eos_ids: tuple[int, ...]
    eot_ids: tuple[int, ...]
    pad_id: int
    path: str
    device: str
    supports_padding: bool
    vocab_size: int
    info: dict = field(default_factory=dict)

    def __call__(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Return logits [B, L, V] for token ids ``x`` [B, L]."""
        out = self.model(x, **kwargs)
        return out.logits if hasattr(out, "logits") else out

    def encode(self, text: str, specials: bool = False) -> list[int]:
        """Return the token ids of ``text`` (with the tokenizer's BOS etc. only when ``specials``)."""
        return list(self.tokenizer(text, add_special_tokens=specials)["input_ids"])

    def decode(self, ids) -> str:
        """Return the text of ``ids`` with special tokens dropped."""
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    @property
    def has_chat_template(self) -> bool:
        """Return whether the tokenizer defines a chat template (instruct models)."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    def chat(self, user_text: str) -> str:
        """Return ``user_text`` wrapped in the tokenizer's chat template with the assistant turn opened."""
        return self.tokenizer.apply_chat_template([{"role": "user", "content": user_text}],
                                                  add_generation_prompt=True, tokenize=False)

    def stop_ids(self) -> tuple[int, ...]:
        """Return the ids that end a generation (EOS and end-of-turn)."""
        return tuple(dict.fromkeys(self.eos_ids + self.eot_ids))


CONTEXT_KEYS = ("max_sequence_length", "max_position_embeddings", "seq_len", "n_positions", "n_ctx")
"""Config attributes that name a model's context length, in the order they are read (LLaDA, Llama/ours, GPT-2)."""


def context_length(model, default: int) -> int:
    """Return the longest sequence ``model`` takes, read from its ``config`` (see :data:`CONTEXT_KEYS`), else
    ``default``."""
    cfg = getattr(model, "config", None)
    for key in CONTEXT_KEYS:
        v = getattr(cfg, key, None)
        if v:
            return int(v)
    return default


def _ids(value) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value if v is not None]
    return [int(value)]


def _token_id(tokenizer, name: str) -> int | None:
    vocab = tokenizer.get_vocab()
    return int(vocab[name]) if name in vocab else None


def resolve_mask_id(config, tokenizer, override: int | None = None) -> int:
    """Return the mask token id: ``override``, the config's, the tokenizer's, or a known mask token's id."""
    if override is not None:
        return int(override)
    for value in (getattr(config, "mask_token_id", None), getattr(tokenizer, "mask_token_id", None)):
        if value is not None:
            return int(value)
    for name in MASK_TOKEN_NAMES:
        i = _token_id(tokenizer, name)
        if i is not None:
            return i
    raise ValueError("cannot find the mask token id in the model's config or tokenizer; pass --mask-id ID "
                     "(mask_id=ID in lm-eval model_args)")


def special_ids(config, tokenizer, generation_config=None) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Return (EOS ids, end-of-turn ids, padding id) from the config, generation config and tokenizer."""
    eos = _ids(getattr(config, "eos_token_id", None)) + _ids(getattr(tokenizer, "eos_token_id", None))
    if generation_config is not None:
        eos += _ids(getattr(generation_config, "eos_token_id", None))
    eos = list(dict.fromkeys(eos))
    eot = [i for i in (_token_id(tokenizer, n) for n in EOT_TOKEN_NAMES) if i is not None and i not in eos]
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = getattr(config, "pad_token_id", None)
    if pad is None:
        pad = eos[0] if eos else 0
    return tuple(eos), tuple(dict.fromkeys(eot)), int(pad)


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """Return the torch dtype for 'auto' (bf16 on CUDA, float32 on CPU), 'bf16', 'fp16' or 'fp32'."""
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; choose auto, bf16, fp16 or fp32")
    return table[dtype]


def load_text_model(path: str, device: str = "cpu", dtype: str = "auto", mask_id: int | None = None,
                    trust_remote_code: bool = True) -> TextModel:
    """Return the :class:`TextModel` at ``path`` (a local directory or hub id), in eval mode on ``device``."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    local = Path(path).expanduser()
    if (local.exists() and not (local / "config.json").exists()) or (not local.exists() and path.startswith((".", "/"))):
        raise FileNotFoundError(f"no transformers model at {path} (expected config.json there); "
                                f"point --model at a directory written by save_pretrained")
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise FileNotFoundError(f"cannot load model {path!r}: {str(e).splitlines()[0]}; pass a local directory "
                                f"with config.json and the tokenizer files") from e
    torch_dtype = resolve_dtype(dtype, device)
    model = AutoModel.from_pretrained(path, trust_remote_code=trust_remote_code, dtype=torch_dtype)
    model = model.to(device).eval()
    mid = resolve_mask_id(config, tokenizer, mask_id)
    generation_config = getattr(model, "generation_config", None)
    eos, eot, pad = special_ids(config, tokenizer, generation_config)
    vocab = int(getattr(config, "vocab_size", 0) or len(tokenizer))
    if not 0 <= mid < vocab:
        raise ValueError(f"mask id {mid} is outside the model's vocabulary of {vocab}; pass the right --mask-id")
    params = inspect.signature(model.forward).parameters
    info = {"path": str(path), "model_type": getattr(config, "model_type", None), "dtype": str(torch_dtype),
            "params": sum(p.numel() for p in model.parameters()), "mask_id": mid, "eos_ids": list(eos),
            "eot_ids": list(eot), "pad_id": pad, "chat_template": bool(getattr(tokenizer, "chat_template", None))}
    return TextModel(model=model, tokenizer=tokenizer, mask_id=mid, eos_ids=eos, eot_ids=eot, pad_id=pad,
                     path=str(path), device=device, supports_padding="attention_mask" in params,
                     vocab_size=vocab, info=info)
