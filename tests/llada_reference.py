"""A test-only re-statement of LLaDA's reference sampler (``generate.py`` of ML-GSAI/LLaDA), used to check our
decoder token for token. Written from the published procedure, loop for loop, so it shares none of our code:

* x = prompt followed by gen_length masks; blocks of block_length; steps // num_blocks steps per block;
  per step, each row transfers ``mask_count // steps`` tokens (+1 in the first ``mask_count % steps`` steps);
* optional CFG: a second pass with the prompt masked, logits = u + (s + 1)(c − u);
* optional ``logits_eos_inf`` (EOS logit -inf) and ``confidence_eos_eot_inf`` (EOS/EOT logits -inf after x0
  is chosen; at temperature 0 the noised logits *are* the logits, so both leave the confidence softmax);
* x0 = argmax(exp(logits) / (−log u)^T) with u ~ U(0,1) float64 (skipped at T = 0 in the current version,
  drawn at every step in the legacy version);
* confidence: softmax probability of x0 (``low_confidence``, float64 in the legacy version, the logits'
  dtype otherwise) or a float32 uniform (``random``); -inf outside the current block and on given tokens;
  top-k per row with ``torch.topk``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _transfer_counts(block_mask: torch.Tensor, steps: int) -> torch.Tensor:
    total = block_mask.sum(dim=1, keepdim=True)
    counts = torch.zeros(total.size(0), steps, dtype=torch.int64, device=total.device) + total // steps
    for row in range(total.size(0)):
        counts[row, : int(total[row] % steps)] += 1
    return counts


@torch.no_grad()
def llada_generate(model, prompt, attention_mask=None, steps=16, gen_length=16, block_length=16, temperature=0.0,
                   cfg_scale=0.0, remasking="low_confidence", mask_id=0, logits_eos_inf=False,
                   confidence_eos_eot_inf=False, eos_id=None, eot_id=None, legacy=False):
    """Return prompt + generated tokens [B, P + gen_length], decoded as LLaDA's generate() does."""
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    if attention_mask is not None:
        ones = torch.ones(B, gen_length, dtype=attention_mask.dtype, device=prompt.device)
        attention_mask = torch.cat([attention_mask, ones], dim=-1)
    prompt_index = x != mask_id
    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    steps_per_block = steps // num_blocks

    def forward(inp, am):
        out = model(inp, attention_mask=am) if am is not None else model(inp)
        return out.logits

    for nb in range(num_blocks):
        lo, hi = P + nb * block_length, P + (nb + 1) * block_length
        counts = _transfer_counts(x[:, lo:hi] == mask_id, steps_per_block)
        for i in range(steps_per_block):
            mask_index = x == mask_id
            if cfg_scale > 0:
                un_x = x.clone()
                un_x[prompt_index] = mask_id
                am = torch.cat([attention_mask, attention_mask]) if attention_mask is not None else None
                both = forward(torch.cat([x, un_x]), am)
                cond, uncond = torch.chunk(both, 2, dim=0)
                logits = uncond + (cfg_scale + 1) * (cond - uncond)
            else:
                logits = forward(x, attention_mask)
            if logits_eos_inf:
                logits[:, :, eos_id] = -torch.inf
            if temperature == 0 and not legacy:
                noised = logits
            else:
                l64 = logits.to(torch.float64)
                u = torch.rand_like(l64, dtype=torch.float64)
                noised = l64.exp() / (-torch.log(u)) ** temperature
            x0 = torch.argmax(noised, dim=-1)
            if confidence_eos_eot_inf:
                noised[:, :, eos_id] = logits[:, :, eot_id] = -torch.inf
            if remasking == "low_confidence":
                p = F.softmax(logits.to(torch.float64) if legacy else logits, dim=-1)
                x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            elif remasking == "random":
                x0_p = torch.rand(x0.shape, device=x0.device)
            else:
                raise NotImplementedError(remasking)
            x0_p[:, hi:] = -float("inf")
            x0 = torch.where(mask_index, x0, x)
            neg_inf = torch.tensor(-float("inf"), dtype=x0_p.dtype, device=x0_p.device)
            confidence = torch.where(mask_index, x0_p, neg_inf)
            transfer = torch.zeros_like(x0, dtype=torch.bool)
            for row in range(B):
                _, idx = torch.topk(confidence[row], k=int(counts[row, i]))
                transfer[row, idx] = True
            x[transfer] = x0[transfer]
    return x
