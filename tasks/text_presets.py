"""Scale presets shared by the text tasks (Table 4). Values are data, chosen by name; never a code edit.

``decode`` holds :class:`harness.decoding.decoder.DecodeConfig` fields. ``steps=0`` is one token per step (the
paper's samplers reveal one position per step; for infilling this is the span's length). The ``paper``
preset follows LLaDA's published settings where the paper is silent (PAPER.md §3.6): greedy tokens
(temperature 0), the mask token allowed as a value as in LLaDA's ``generate()``; MATH semi-autoregressive
with 256 generated tokens in blocks of 32.
"""
from __future__ import annotations

INFILL_DECODE = {"steps": 0, "temperature": 0.0, "mask_logit": "keep"}
GENERATE_DECODE = {"steps": 0, "temperature": 0.0, "mask_logit": "keep"}


def text_scales(variants: dict[str, list[str]], n_eval: dict[str, int], decode: dict, gen_length: dict[str, int],
                block_length: dict[str, int | None], batch_size: dict[str, int], mc_num: int = 128) -> dict:
    """Return the SCALES dict of a text task from per-scale values (keys smoke, small, paper)."""
    out = {}
    for scale in ("smoke", "small", "paper"):
        d = dict(decode)
        if block_length.get(scale):
            d["block_length"] = block_length[scale]
        out[scale] = {"variants": variants[scale], "n_eval": n_eval[scale], "batch_size": batch_size[scale],
                      "decode": d, "gen_length": gen_length.get(scale, 0), "mc_num": mc_num, "chat": "auto"}
    return out
