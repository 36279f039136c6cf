"""Our transformer as a ``transformers`` model, registered with the Auto classes.

Importing this module registers model type ``tokenorder``: ``AutoConfig``, ``AutoModel`` and
``AutoModelForMaskedLM`` then load a directory written by :meth:`TokenorderForMaskedDiffusion.save_pretrained`,
so a small MDM trained here goes through exactly the loading path LLaDA does
(``AutoModel.from_pretrained(path, trust_remote_code=True)``). The config also carries the special-token
ids the decoder needs (``mask_token_id``, ``eos_token_id``, ``pad_token_id``), as LLaDA's config does.
A causal model saved by :class:`TokenorderForCausalLM` loads through ``AutoModelForCausalLM`` (the
generative-perplexity judge of Figure 3, loaded as a LLaMA would be).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, PretrainedConfig,
                          PreTrainedModel)
from transformers.modeling_outputs import CausalLMOutput
from transformers.utils import ModelOutput

from .transformer import ModelConfig, Transformer

MODEL_TYPE = "tokenorder"
_SHAPE_KEYS = ("vocab_size", "seq_len", "n_layer", "n_head", "d_model", "d_ff", "causal", "pos", "dropout",
               "rope_base")


@dataclass
class MaskedDiffusionOutput(ModelOutput):
    """Logits [B, L, V] at every position and, when asked for (``use_cache``), the keys/values per layer."""

    logits: torch.Tensor | None = None
    past_key_values: tuple | None = None


class TokenorderConfig(PretrainedConfig):
    """Shape of a :class:`TokenorderForMaskedDiffusion` plus its special-token ids."""

    model_type = MODEL_TYPE

    def __init__(self, vocab_size: int = 256, seq_len: int = 512, n_layer: int = 2, n_head: int = 4,
                 d_model: int = 64, d_ff: int = 192, causal: bool = False, pos: str = "rope", dropout: float = 0.0,
                 rope_base: float = 10000.0, mask_token_id: int | None = None, **kwargs):
        self.vocab_size, self.seq_len, self.n_layer, self.n_head = vocab_size, seq_len, n_layer, n_head
        self.d_model, self.d_ff, self.causal, self.pos = d_model, d_ff, causal, pos
        self.dropout, self.rope_base, self.mask_token_id = dropout, rope_base, mask_token_id
        self.max_position_embeddings = seq_len
        super().__init__(**kwargs)

    def model_config(self) -> ModelConfig:
        """Return the :class:`ModelConfig` of the wrapped transformer."""
        return ModelConfig(**{k: getattr(self, k) for k in _SHAPE_KEYS})


class TokenorderForMaskedDiffusion(PreTrainedModel):
    """``transformers`` face of :class:`Transformer`: ``forward(input_ids, attention_mask)`` -> ``.logits``."""

    config_class = TokenorderConfig
    base_model_prefix = "net"
    main_input_name = "input_ids"
    _supports_sdpa = True

    def __init__(self, config: TokenorderConfig):
        super().__init__(config)
        self.net = Transformer(config.model_config())
        self.post_init()

    def _init_weights(self, module):
        self.net._init_weights(module)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, labels=None,
                past_key_values=None, use_cache: bool = False, **kwargs) -> MaskedDiffusionOutput:
        """Return a ``MaskedDiffusionOutput`` whose ``logits`` [B, L, V] cover every position of ``input_ids``.

        The key/value cache follows LLaDA's (OLMo's) convention, as Fast-dLLM's prefix cache uses it:
        ``past_key_values`` is one (keys, values) pair [B, H, P, head] per layer for the first P positions,
        ``input_ids`` are the positions after them, and with ``use_cache`` the output's ``past_key_values``
        hold every position so far."""
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # no padding: the plain path (same numbers, faster)
        if past_key_values is None and not use_cache:
            return MaskedDiffusionOutput(logits=self.net(input_ids, attention_mask=attention_mask))
        if attention_mask is not None:
            raise ValueError("a key/value cache works with unpadded rows only (attention_mask has zeros)")
        logits, present = self.net.forward_cached(input_ids, None if past_key_values is None else list(past_key_values))
        return MaskedDiffusionOutput(logits=logits, past_key_values=tuple(present) if use_cache else None)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """Return the loaded model (as ``PreTrainedModel.from_pretrained``) with its RoPE tables rebuilt."""
        model = super().from_pretrained(*args, **kwargs)
        model.net.reset_rope()
        return model

    def num_params(self, non_embedding: bool = False) -> int:
        """Return the parameter count (see :meth:`Transformer.num_params`)."""
        return self.net.num_params(non_embedding)

    @classmethod
    def from_transformer(cls, net: Transformer, **special_ids) -> "TokenorderForMaskedDiffusion":
        """Return a wrapper around an existing :class:`Transformer` (weights shared, not copied)."""
        shape = net.cfg.to_dict()
        if shape.get("pos_factors"):
            raise ValueError("factored positions (puzzle models) have no transformers export")
        cfg = TokenorderConfig(**{k: shape[k] for k in _SHAPE_KEYS}, **special_ids)
        model = cls(cfg)
        model.net = net
        return model


AutoConfig.register(MODEL_TYPE, TokenorderConfig, exist_ok=True)
AutoModel.register(TokenorderConfig, TokenorderForMaskedDiffusion, exist_ok=True)
AutoModelForMaskedLM.register(TokenorderConfig, TokenorderForMaskedDiffusion, exist_ok=True)


class TokenorderForCausalLM(TokenorderForMaskedDiffusion):
    """Causal (next-token) face of our transformer, loadable as ``AutoModelForCausalLM`` like a LLaMA.

    Same :class:`TokenorderConfig` with ``causal=True``; ``forward`` returns a ``CausalLMOutput`` whose
    ``logits[:, i]`` predict token ``i + 1`` (and ``loss`` when ``labels`` are given, HF convention: labels
    are the input ids, shifted inside, -100 ignored). A small autoregressive judge trained here therefore
    loads with ``AutoModelForCausalLM.from_pretrained(path)`` + ``AutoTokenizer``, exactly as Llama-2 does."""

    def __init__(self, config: TokenorderConfig):
        if not config.causal:
            raise ValueError("this checkpoint is a bidirectional MDM (causal=False); load it with AutoModel, "
                             "not AutoModelForCausalLM")
        super().__init__(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, labels=None,
                **kwargs) -> CausalLMOutput:
        """Return a ``CausalLMOutput``: ``logits`` [B, L, V] (next-token), ``loss`` when ``labels`` are given."""
        logits = super().forward(input_ids, attention_mask=attention_mask).logits
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                                     labels[:, 1:].reshape(-1), ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits)

    @classmethod
    def from_transformer(cls, net: Transformer, **special_ids) -> "TokenorderForCausalLM":
        """Return a causal-LM wrapper around an existing causal :class:`Transformer` (weights shared)."""
        if not net.cfg.causal:
            raise ValueError("TokenorderForCausalLM wraps a causal transformer (build it with causal=True)")
        return super().from_transformer(net, **special_ids)


AutoModelForCausalLM.register(TokenorderConfig, TokenorderForCausalLM, exist_ok=True)
