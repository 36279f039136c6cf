"""lm-evaluation-harness model ``tokenorder``: any lm-eval task on a masked diffusion LM, decoded by our samplers.

``python -m harness.integrations.lm_eval_cli --model tokenorder --model_args pretrained=PATH,sampler=margin,steps=256 --tasks T``
(or ``tokenorder-lm-eval`` with the same arguments) runs lm-eval's own command line with this model known;
in Python, import this module and call ``lm_eval.simple_evaluate(model="tokenorder", ...)`` or pass a
``TokenorderLM`` instance. Nothing is registered at interpreter start-up (:mod:`harness.integrations.lm_eval_registry`).

* ``generate_until``: the prompt + ``max_gen_toks`` (default ``gen_length``) masks, decoded in blocks of
  ``block_length`` from the left (LLaDA's ``generate()``) with the chosen sampler; the text is cut at the
  first EOS/EOT token and then at the first ``until`` string. Requests with the same generation settings are
  batched ``batch_size`` at a time; request ``i`` decodes with seed ``example_seeds(seed, [i])``, so the
  output does not depend on the batch size (per-example counter-based noise).
* ``loglikelihood``: LLaDA's Monte-Carlo ELBO estimate of log p(continuation | context) with ``mc_num``
  samples (``mc_batch_size`` per forward), tokenised as lm-eval's HFLM does (whole string encoded, then
  split; trailing context spaces moved to the continuation; an empty context becomes BOS, else EOS). The
  second value is whether one forward with the continuation fully masked predicts it exactly. The MC seed
  is a hash of the run seed and the context tokens, so choices of one question share random numbers.
* ``loglikelihood_rolling``: the same ELBO over the whole text given BOS (or EOS), in chunks of at most
  the model's length when the text is longer; each later chunk sees at least half a window of the text
  before it as context.

Model arguments (``--model_args``, strings converted): ``pretrained`` (required), ``sampler`` (margin),
``gen_length`` (256), ``steps`` (= gen_length; scaled in proportion when a task's ``max_gen_toks`` differs),
``block_length`` (= the generation length: one block), ``temperature`` (0), ``cfg_scale`` (0), any other
:class:`~harness.decoding.decoder.DecodeConfig` knob (``gumbel``, ``mask_logit``, ``suppress_eos``, ``defer_eos``,
``noise``, ``cache=prefix`` for Fast-dLLM's approximate prefix key/value cache, ...), the chosen sampler's own
knobs (``sampler=threshold,tau=0.8``; see :mod:`harness.decoding.rules`), ``mask_id``, ``dtype`` (auto), ``device`` (auto: CUDA when present), ``batch_size`` (1),
``mc_num`` (128), ``mc_batch_size`` (32), ``seed`` (0), ``max_length`` (from the config),
``add_bos_token`` (tokenizer default), ``trust_remote_code`` (true).

A task's ``temperature`` in ``gen_kwargs`` (``do_sample: false`` means 0) replaces the model argument for
that request; pass ``--gen_kwargs temperature=X`` to override the task.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import zlib
from collections.abc import Iterable

import numpy as np
import torch
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from harness.integrations.lm_eval_registry import MODEL_NAME, register as _register_placeholder
from harness.decoding.decoder import DecodeConfig
from harness.models.text import context_length, load_text_model
from harness.decoding.rng import example_seeds
from harness.decoding.samplers import SAMPLERS, get_sampler
from harness.decoding.textgen import cut_at_stop, decode_rows, generation_rows, greedy_matches, mc_loglikelihood

log = logging.getLogger(__name__)

_register_placeholder()  # lm-eval's own models stay discoverable even when this module is imported first

_DECODE_FIELDS = {f.name: f for f in dataclasses.fields(DecodeConfig) if f.name != "sampler_args"}
_SAMPLER_KNOBS = tuple(dict.fromkeys(k for s in SAMPLERS.values() for k in s.knobs))
"""Every registered rule's knob names (``tau``, ``gamma``, ...): passed as model args to the chosen sampler."""
_MODEL_ARGS = {
    "pretrained": None, "sampler": "margin", "gen_length": 256, "mask_id": None, "dtype": "auto", "device": "auto",
    "batch_size": 1,
    "max_batch_size": None, "mc_num": 128, "mc_batch_size": 32, "seed": 0, "max_length": None,
    "add_bos_token": None, "trust_remote_code": True,
}
ACCEPTED_ARGS = tuple(dict.fromkeys([*_MODEL_ARGS, *_DECODE_FIELDS, *_SAMPLER_KNOBS]))
_AUTO_BATCH = 16
_IGNORED_GEN_KWARGS = ("top_p", "top_k", "min_p", "repetition_penalty", "num_beams", "seed")


def _none(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip().lower() in ("", "none", "null"))


def _as_bool(name: str, v) -> bool:
    """Return ``v`` as a bool ('true'/'false'/'1'/'0'/'yes'/'no' accepted)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    s = str(v).strip().lower()
    if s in ("true", "1", "yes", "y", "on"):
        return True
    if s in ("false", "0", "no", "n", "off"):
        return False
    raise ValueError(f"model arg {name}={v!r} is not a boolean (use true or false)")


def _as_int(name: str, v) -> int:
    """Return ``v`` as an int (integral floats and numeric strings accepted)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"model arg {name}={v!r} is not an integer") from None
    if not f.is_integer():
        raise ValueError(f"model arg {name}={v!r} is not an integer")
    return int(f)


def _as_float(name: str, v) -> float:
    """Return ``v`` as a float."""
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"model arg {name}={v!r} is not a number") from None


def _convert(name: str, v, like):
    """Return ``v`` converted to the type of the default ``like`` (None stays None for optional args)."""
    if _none(v):
        return None
    if isinstance(like, bool):
        return _as_bool(name, v)
    if isinstance(like, int):
        return _as_int(name, v)
    if isinstance(like, float):
        return _as_float(name, v)
    return str(v)


def _batch_size(v, max_batch_size) -> int:
    """Return the request batch size for lm-eval's ``batch_size`` ('auto' / 'auto:N' -> a fixed size)."""
    if _none(v):
        return 1
    if isinstance(v, str) and v.strip().lower().startswith("auto"):
        return int(max_batch_size) if max_batch_size else _AUTO_BATCH
    n = _as_int("batch_size", v)
    if n < 1:
        raise ValueError(f"batch_size must be >= 1 (got {n})")
    return n


def _resolve_device(v) -> str:
    """Return the torch device string for ``device`` ('auto' = cuda when available, else cpu; an unavailable
    CUDA device falls back to cpu with a warning, as lm-eval's HFLM does)."""
    d = "auto" if _none(v) else str(v)
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d.startswith("cuda") and not torch.cuda.is_available():
        # lm-eval's CLI passes cuda:0 unless told otherwise; like its HFLM, fall back to the CPU
        log.warning("device %s is not available; running on cpu", d)
        return "cpu"
    return d


def chunk_windows(n_context: int, n_total: int, max_len: int) -> list[tuple[int, int, int]]:
    """Return ``(context_start, pred_start, pred_end)`` windows covering positions [n_context, n_total).

    Each window is at most ``max_len`` tokens (context + predicted), predicts as many tokens as fit while
    keeping at least ``min(available, max_len // 2)`` tokens of context, and takes as much context as fits."""
    if max_len < 2:
        raise ValueError(f"max_length must be >= 2 (got {max_len})")
    keep = max_len // 2
    out, pos = [], n_context
    while pos < n_total:
        p = min(n_total - pos, max_len - min(pos, keep))
        c = min(pos, max_len - p)
        out.append((pos - c, pos, pos + p))
        pos += p
    return out


@register_model(MODEL_NAME)
class TokenorderLM(TemplateLM):
    """lm-eval model for masked diffusion LMs: sampler-decoded generation, Monte-Carlo ELBO likelihoods."""

    backend = "causal"  # lm-eval's pair encoding: encode context+continuation whole, then split

    def __init__(self, **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(ACCEPTED_ARGS))
        if unknown:
            raise ValueError(f"unknown tokenorder model arg(s) {', '.join(unknown)}; accepted: "
                             f"{', '.join(ACCEPTED_ARGS)}")
        if _none(kwargs.get("pretrained")):
            raise ValueError("tokenorder needs pretrained=PATH (a local model directory or hub id) in --model_args")
        a = {k: kwargs.get(k, d) for k, d in _MODEL_ARGS.items()}
        self.pretrained = str(a["pretrained"])
        self.sampler = str(a["sampler"])
        smp = get_sampler(self.sampler)  # one-line ValueError for an unknown name
        self.gen_length = _as_int("gen_length", a["gen_length"])
        if self.gen_length < 1:
            raise ValueError(f"gen_length must be >= 1 (got {self.gen_length})")
        self.mc_num = _as_int("mc_num", a["mc_num"])
        self.mc_batch_size = min(_as_int("mc_batch_size", a["mc_batch_size"]), self.mc_num)
        if self.mc_num < 1 or self.mc_batch_size < 1 or self.mc_num % self.mc_batch_size:
            raise ValueError(f"mc_num ({self.mc_num}) must be a positive multiple of mc_batch_size "
                             f"({self.mc_batch_size})")
        self.seed = _as_int("seed", a["seed"])
        self._batch_size = _batch_size(a["batch_size"], a["max_batch_size"])
        self._max_length_arg = None if _none(a["max_length"]) else _as_int("max_length", a["max_length"])
        self.add_bos_token = None if _none(a["add_bos_token"]) else _as_bool("add_bos_token", a["add_bos_token"])

        decode_kw = {}
        for name, f in _DECODE_FIELDS.items():
            if name in kwargs and not _none(kwargs[name]):  # steps/block_length=None: the defaults below
                decode_kw[name] = _convert(name, kwargs[name], 0 if f.default is None else f.default)
        knobs = {k: _as_float(k, kwargs[k]) for k in _SAMPLER_KNOBS if k in kwargs and not _none(kwargs[k])}
        foreign = sorted(set(knobs) - set(smp.knobs))
        if foreign:
            raise ValueError(f"sampler {self.sampler!r} has no knob {', '.join(foreign)} (its knobs: "
                             f"{', '.join(smp.knobs) or 'none'})")
        steps = decode_kw.pop("steps", self.gen_length)
        block = decode_kw.pop("block_length", None)
        self.base_config = DecodeConfig(steps=steps, block_length=block, sampler_args=knobs,
                                        **decode_kw).for_sampler(smp)  # adaptive rules: steps=0
        if self.base_config.remask and smp.select != "topk":
            raise ValueError(f"remask decoding needs a top-k sampler, not '{self.sampler}'")
        self._check_schedule(self.gen_length, self.base_config.steps, block)

        dev = _resolve_device(a["device"])
        mask_id = None if _none(a["mask_id"]) else _as_int("mask_id", a["mask_id"])
        self.tm = load_text_model(self.pretrained, device=dev, dtype=str(a["dtype"]), mask_id=mask_id,
                                  trust_remote_code=_as_bool("trust_remote_code", a["trust_remote_code"]))
        self.tokenizer = self.tm.tokenizer
        self._device = torch.device(dev)
        self._stop_ids = self.tm.stop_ids()
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ settings and lm-eval properties
    @staticmethod
    def _check_schedule(length: int, steps: int, block: int | None) -> None:
        nb = 1 if block is None else math.ceil(length / block)
        if steps and steps % nb:
            raise ValueError(f"steps ({steps}) must be a multiple of the number of blocks ({nb} = "
                             f"ceil({length} / block_length {block})); change steps or block_length")

    def decode_config(self, length: int, temperature: float | None = None) -> DecodeConfig:
        """Return the :class:`DecodeConfig` for ``length`` generated tokens: steps scaled from ``gen_length``
        in proportion (rounded up to a multiple of the block count), ``temperature`` if given."""
        cfg = self.base_config
        block = cfg.block_length
        steps = cfg.steps
        if length != self.gen_length and steps:
            nb = 1 if block is None else math.ceil(length / block)
            steps = max(nb, math.ceil(steps * length / self.gen_length / nb) * nb)
        kw = {"steps": steps}
        if temperature is not None:
            kw["temperature"] = float(temperature)
        return dataclasses.replace(cfg, **kw).validate()

    @property
    def eot_token_id(self) -> int:
        """Return the end-of-text id (the tokenizer's EOS, else the model's first EOS id)."""
        eos = getattr(self.tokenizer, "eos_token_id", None)
        if eos is not None:
            return int(eos)
        return int(self.tm.eos_ids[0]) if self.tm.eos_ids else int(self.tm.pad_id)

    @property
    def prefix_token_id(self) -> int:
        """Return the id that stands in for an empty context (BOS, else EOS)."""
        bos = getattr(self.tokenizer, "bos_token_id", None)
        return int(bos) if bos is not None else self.eot_token_id

    @property
    def max_length(self) -> int:
        """Return the longest sequence the model takes (model arg, else its config, else the tokenizer's)."""
        if self._max_length_arg:
            return self._max_length_arg
        n = context_length(self.tm.model, default=0)
        if n > 0:
            return n
        v = getattr(self.tokenizer, "model_max_length", None)
        return int(v) if isinstance(v, int) and 0 < v < 1_000_000 else 2048

    @property
    def max_gen_toks(self) -> int:
        """Return the default generation length (``gen_length``)."""
        return self.gen_length

    @property
    def batch_size(self) -> int:
        """Return the number of generation requests decoded per forward batch."""
        return self._batch_size

    @property
    def tokenizer_name(self) -> str:
        """Return the tokenizer's name, file-name safe (lm-eval keys its chat-template caches by it)."""
        return str(getattr(self.tokenizer, "name_or_path", self.pretrained)).replace("/", "__")

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Return ``chat_history`` rendered by the tokenizer's chat template (as lm-eval's HFLM does)."""
        import jinja2

        kw = dict(tokenize=False, add_generation_prompt=add_generation_prompt,
                  continue_final_message=not add_generation_prompt)
        try:
            return self.tokenizer.apply_chat_template(chat_history, **kw)
        except jinja2.exceptions.TemplateError:
            log.warning("chat template failed; retrying without the system turn")
            return self.tokenizer.apply_chat_template([m for m in chat_history if m["role"] != "system"], **kw)

    def get_model_info(self) -> dict:
        """Return the model and decoding settings for lm-eval's results header."""
        info = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.tm.info.items()}
        return {"model_num_parameters": info.get("params"), "model_dtype": info.get("dtype"),
                "tokenorder": {"model": info, "sampler": self.sampler, "gen_length": self.gen_length,
                               "decode": self.base_config.to_dict(), "mc_num": self.mc_num,
                               "mc_batch_size": self.mc_batch_size, "seed": self.seed,
                               "max_length": self.max_length}}

    # ------------------------------------------------------------------ tokenisation
    def tok_encode(self, string: str, add_special_tokens: bool | None = None, left_truncate_len: int | None = None,
                   **kwargs) -> list[int]:
        """Return the token ids of ``string`` (HFLM's rules: the tokenizer's default specials unless told, and
        none when the string already starts with the BOS text)."""
        if add_special_tokens is None:
            add_special_tokens = self.add_bos_token
        if add_special_tokens is None:
            bos = getattr(self.tokenizer, "bos_token", None)
            kw = {"add_special_tokens": False} if bos and string.startswith(bos) else {}
        else:
            kw = {"add_special_tokens": bool(add_special_tokens)}
        ids = list(self.tokenizer(string, **kw)["input_ids"])
        if left_truncate_len:
            ids = ids[-left_truncate_len:]
        return ids

    def tok_decode(self, ids: Iterable[int]) -> str:
        """Return the text of ``ids`` with special tokens dropped."""
        return self.tm.decode(list(ids))

    # ------------------------------------------------------------------ likelihoods
    def _mc_seed(self, context: list[int]) -> int:
        """Return the Monte-Carlo seed for a window: a hash of the run seed and the context tokens."""
        crc = zlib.crc32(np.asarray(context, dtype=np.int64).tobytes())
        return int(example_seeds(self.seed, [crc])[0])

    def score_tokens(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        """Return (ELBO estimate of log p(continuation | context), whether greedy decoding reproduces it),
        chunking the continuation into windows of at most ``max_length`` tokens (context left-truncated)."""
        if not continuation:
            return 0.0, True
        full = list(context) + list(continuation)
        total, greedy = 0.0, True
        for c0, p0, p1 in chunk_windows(len(context), len(full), self.max_length):
            ctx, cont = full[c0:p0], full[p0:p1]
            total += mc_loglikelihood(self.tm, ctx, cont, mc_num=self.mc_num, batch_size=self.mc_batch_size,
                                      cfg_scale=self.base_config.cfg_scale, seed=self._mc_seed(ctx))
            greedy = greedy and greedy_matches(self.tm, ctx, cont)
        return total, greedy

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        """Return (log-likelihood, is_greedy) per ``((context, continuation), context_ids, continuation_ids)``."""
        memo: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[float, bool]] = {}
        out = []
        for (strings, ctx, cont) in tqdm(requests, desc="tokenorder loglikelihood", disable=disable_tqdm):
            key = (tuple(ctx), tuple(cont))
            if key not in memo:
                memo[key] = self.score_tokens(list(ctx), list(cont))
            ans = (float(memo[key][0]), bool(memo[key][1]))
            out.append(ans)
            if strings is not None:
                self.cache_hook.add_partial("loglikelihood", strings, ans)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Return the ELBO estimate of log p(text) per request, given the BOS (or EOS) token."""
        out = []
        for (string,) in tqdm([r.args for r in requests], desc="tokenorder loglikelihood_rolling",
                              disable=disable_tqdm):
            ids = self.tok_encode(string, add_special_tokens=False)
            ll, _ = self.score_tokens([self.prefix_token_id], ids)
            out.append(float(ll))
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), float(ll))
        return out

    # ------------------------------------------------------------------ generation
    def _gen_settings(self, gen_kwargs: dict) -> tuple[int, float | None, list[str]]:
        """Return (tokens to generate, temperature or None for the model arg's, stop strings) of a request."""
        from lm_eval.models.utils import handle_stop_sequences

        gk = dict(gen_kwargs or {})
        length = self.gen_length
        for key in ("max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens"):
            if not _none(gk.get(key)):
                length = _as_int(key, gk[key])
                break
        if length < 1:
            raise ValueError(f"max_gen_toks must be >= 1 (got {length})")
        temperature = None
        if "temperature" in gk and not _none(gk["temperature"]):
            temperature = _as_float("temperature", gk["temperature"])
            if gk.get("do_sample") is False:
                temperature = 0.0
        for key in _IGNORED_GEN_KWARGS:
            if key in gk and key not in self._warned:
                self._warned.add(key)
                log.warning("tokenorder ignores gen_kwargs %s=%r", key, gk[key])
        until = handle_stop_sequences(gk.get("until"), eos=None)
        return length, temperature, [s for s in until if s]

    @torch.no_grad()
    def generate_ids(self, prompts: list[list[int]], length: int, cfg: DecodeConfig, seeds: torch.Tensor,
                     generator: torch.Generator | None = None) -> list[list[int]]:
        """Return the ``length`` decoded ids after each prompt (EOS/EOT included, not cut).

        Rows are prompt + ``length`` masks, decoded by :func:`harness.decoding.textgen.decode_rows` (left-padded under
        an attention mask, per-example noise following each row's content, so a row decodes as it does
        alone)."""
        rows = generation_rows(self.tm, prompts, length)
        return [o.ids for o in decode_rows(self.tm, rows, self.sampler, cfg, seeds, generator)]

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Return the generated continuation of each request, cut at its first EOS/EOT and stop string."""
        if not requests:
            return []
        n = len(requests)
        seeds = example_seeds(self.seed, range(n))
        settings = [self._gen_settings(r.args[1]) for r in requests]
        groups: dict[tuple[int, float | None], list[int]] = {}
        for i, (length, temperature, _) in enumerate(settings):
            groups.setdefault((length, temperature), []).append(i)
        generator = None
        if self.base_config.noise != "example":
            generator = torch.Generator(device=self._device).manual_seed(self.seed)
        out: list[str | None] = [None] * n
        pbar = tqdm(total=n, desc="tokenorder generate_until", disable=disable_tqdm)
        for (length, temperature), idx in groups.items():
            if length >= self.max_length:
                raise ValueError(f"max_gen_toks {length} leaves no room for a prompt in the model's "
                                 f"{self.max_length} positions; lower gen_length / max_gen_toks")
            cfg = self.decode_config(length, temperature)
            prompts = {i: self.tok_encode(requests[i].args[0], left_truncate_len=self.max_length - length)
                       for i in idx}
            idx = sorted(idx, key=lambda i: (-len(prompts[i]), i))  # similar lengths share a batch
            for s in range(0, len(idx), self.batch_size):
                chunk = idx[s:s + self.batch_size]
                gen = self.generate_ids([prompts[i] for i in chunk], length, cfg, seeds[chunk], generator)
                for i, ids in zip(chunk, gen):
                    text = self.tok_decode(cut_at_stop(ids, self._stop_ids))
                    for stop in settings[i][2]:
                        text = text.split(stop)[0]
                    out[i] = text
                    self.cache_hook.add_partial("generate_until", requests[i].args, text)
                pbar.update(len(chunk))
        pbar.close()
        return out  # type: ignore[return-value]
