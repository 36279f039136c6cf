"""Our decoding loop against LLaDA's reference ``generate()``: step time at several vocabularies and batches.

What is measured
----------------
One small bidirectional model (our transformer, ``--preset``, random weights, the vocabulary of the row)
generates ``--gen-length`` tokens after a ``--prompt-length`` prompt in blocks of ``--block-length``, one
token per step, with LLaDA's confidence rule (``low_confidence``; our ``confidence`` sampler), three ways:

* ``reference``: the test-only re-statement of LLaDA's ``generate()`` (``tests/llada_reference.py``), which
  at T > 0 draws float64 noise over [B, L, V] with ``torch.rand`` every step;
* ``parity``: :func:`harness.decoding.decoder.decode` in its exact-parity mode (``noise="torch"``,
  ``mask_logit="keep"``, ``score_dtype="model"``): the same tokens as the reference, the same draws;
* ``default``: our default mode (``noise="example"``: per-example counter-based draws, batch-invariant;
  float32 certainty), which draws token noise only where a step can write.

Variants are alternated inside each repeat (so drift in machine load hits all alike) and the median of
``--repeats`` decodes is reported, after one warm-up each. Columns: generated tokens per second, the speed
relative to the reference, and the share of the wall time spent outside the model's forward passes (the
sampler's cost). Shapes whose float64 noise tensor would exceed ``--max-noise-gb`` are skipped (the
reference's own draw would not fit).

Run
---
    .venv/bin/python benchmarks/decode_vs_reference.py                       # vocab 512 / 32k / 126k
    .venv/bin/python benchmarks/decode_vs_reference.py --vocabs 512 --batches 1,16 --temperatures 0,1

Exit code 0 (a benchmark, not a test); 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.decoding.decoder import DecodeConfig, decode  # noqa: E402
from harness.decoding.rng import example_seeds  # noqa: E402
from harness.models import build_model  # noqa: E402
from tests.llada_reference import llada_generate  # noqa: E402


class Timed(torch.nn.Module):
    """The model, returning an object with ``.logits`` (as the reference expects), timing every forward."""

    def __init__(self, model, device: torch.device):
        super().__init__()
        self.model, self.seconds, self.device = model, 0.0, device

    def forward(self, x, attention_mask=None):
        sync(self.device)
        t0 = time.perf_counter()
        out = self.model(x)
        out = out.logits if hasattr(out, "logits") else out
        sync(self.device)
        self.seconds += time.perf_counter() - t0
        return type("Out", (), {"logits": out})()


def run_variant(name: str, timed: Timed, prompt: torch.Tensor, args, temperature: float, mask_id: int):
    """Decode once with variant ``name``; return (wall seconds, forward seconds)."""
    timed.seconds = 0.0
    torch.manual_seed(0)
    device = prompt.device
    sync(device)
    t0 = time.perf_counter()
    if name == "reference":
        llada_generate(timed, prompt, steps=args.gen_length, gen_length=args.gen_length,
                       block_length=args.block_length, temperature=temperature, mask_id=mask_id)
    else:
        B = prompt.shape[0]
        x = torch.cat([prompt, torch.full((B, args.gen_length), mask_id, dtype=torch.long, device=device)], 1)
        knobs = dict(noise="torch", mask_logit="keep", score_dtype="model") if name == "parity" else {}
        cfg = DecodeConfig(steps=args.gen_length, block_length=args.block_length, temperature=temperature, **knobs)
        decode(timed, x, mask_id, "confidence", cfg, seeds=example_seeds(0, range(B)).to(device),
               generator=torch.Generator(device=device).manual_seed(0))
    sync(device)
    return time.perf_counter() - t0, timed.seconds


def parse_args(argv=None) -> argparse.Namespace:
    """Return the parsed command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocabs", default="512,32000,126464")
    p.add_argument("--batches", default="1,16")
    p.add_argument("--temperatures", default="0,1")
    p.add_argument("--preset", default="0.2M")
    p.add_argument("--prompt-length", type=int, default=16)
    p.add_argument("--gen-length", type=int, default=64)
    p.add_argument("--block-length", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-noise-gb", type=float, default=0.5)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--big", action="store_true",
                   help="an 8B LLaMA-shaped random bf16 model (vocabulary 126464, LLaDA's mask id; needs a GPU) "
                        "instead of --preset at --vocabs")
    a = p.parse_args(argv)
    if a.gen_length % a.block_length:
        p.error("--gen-length must be a multiple of --block-length")
    return a


def models(args, L: int, device: torch.device):
    """Yield (vocabulary, mask id, model) for every row group: --preset at each of --vocabs, or the 8B shape."""
    if args.big:
        from benchmarks.text_generation import build_random_llama, llama8b_config
        cfg = llama8b_config(L)
        yield cfg.vocab_size, 126336, build_random_llama(cfg, device)
        return
    for V in map(int, args.vocabs.split(",")):
        yield V, V - 1, build_model(args.preset, V, L, seed=0).to(device).eval()


def sync(device: torch.device) -> None:
    """Wait for the GPU (a no-op on CPU) so that wall-clock reads mean what they say."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> int:
    """Print one row per (vocabulary, batch, temperature); return the exit code."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    L = args.prompt_length + args.gen_length
    print(f"# decode vs LLaDA reference: {'8B-shaped bf16' if args.big else 'preset ' + args.preset} on {device}, "
          f"prompt {args.prompt_length}, gen {args.gen_length}, block {args.block_length}, one token per step, "
          f"median of {args.repeats}, {args.threads} thread(s), torch {torch.__version__}")
    print("| vocab | batch | T | reference tok/s (outside forward) | parity | default |")
    print("|---|---|---|---|---|---|")
    for V, mask_id, model in models(args, L, device):
        timed = Timed(model, device)
        for B in map(int, args.batches.split(",")):
            if B * L * V * 8 / 2**30 > args.max_noise_gb:
                print(f"| {V} | {B} | — | skipped: a [B, L, V] float64 draw is {B * L * V * 8 / 2**30:.1f} GB |  |  |")
                continue
            prompt = torch.randint(0, mask_id, (B, args.prompt_length), generator=torch.Generator().manual_seed(1))
            prompt = prompt.to(device)
            for T in map(float, args.temperatures.split(",")):
                names = ("reference", "parity", "default")
                times = {n: [] for n in names}
                with torch.no_grad():
                    for n in names:
                        run_variant(n, timed, prompt, args, T, mask_id)          # warm-up
                    for _ in range(args.repeats):
                        for n in names:
                            times[n].append(run_variant(n, timed, prompt, args, T, mask_id))
                med = {n: statistics.median(w for w, _ in times[n]) for n in names}
                share = {n: 1 - statistics.median(f / w for w, f in times[n]) for n in names}
                tok = B * args.gen_length
                ref = med["reference"]
                cells = [f"{tok / ref:,.0f} ({100 * share['reference']:.0f} %)"]
                cells += [f"{ref / med[n]:.2f}x ({100 * share[n]:.0f} %)" for n in ("parity", "default")]
                print(f"| {V} | {B} | {T:g} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
