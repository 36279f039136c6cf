"""Masked-diffusion text generation throughput: generated tokens per second at batch 1 and batch 16.

What is measured
----------------
Each row is semi-autoregressive generation as the text tasks run it (LLaDA's ``generate()`` schedule):
a prompt of ``--prompt-length`` token ids followed by ``--gen-length`` mask ids, decoded by
:func:`harness.decoding.decoder.decode` with ``--sampler`` at temperature 0 in blocks of ``--block-length``,
``--steps`` forward passes in all (default: one token per step per row). Then

    generated tokens = gen_length x batch          (prompt excluded; every row has the same length, no padding)
    time             = wall clock of one whole decode: every forward, the sampler's scoring and the writes;
                       after one warm-up decode; torch.cuda.synchronize() before each clock read on GPU
    tokens/s         = generated tokens / median time over --repeats decodes
    s/seq            = median time / batch
    NFE              = forward passes of the batch;  tokens/forward = generated tokens / NFE
    peak mem         = CUDA allocator peak (torch.cuda.max_memory_allocated) on GPU; on CPU the process's
                       peak resident set (VmHWM, reset before each batch size's warm-up where Linux allows)

Models
------
(a) a small text MDM (``--model``, a ``transformers`` directory; default: the 3M preset trained for 50
    iterations by :func:`harness.training.text_mdm.build` into ``checkpoints/bench/text-mdm``, built once, about a
    minute on CPU). Its skill is irrelevant: the cost per forward depends only on the shapes. Prompts are
    random non-special ids and decoding goes through :func:`harness.decoding.textgen.decode_rows`, the path the
    text tasks use.
(b) with CUDA (``--big``, default on when CUDA is available): an 8B-parameter LLaMA-shaped bidirectional
    transformer with random weights in bf16, the same cost per forward as LLaDA-8B (32 layers, d_model
    4096, 32 heads, SwiGLU d_ff 12288, vocabulary 126464, RoPE; 8.0B parameters, about 16 GB). It is built
    on the meta device and materialised on the GPU, never on the CPU. Prompts are random ids, the mask id
    is LLaDA's 126336, and :func:`harness.decoding.decoder.decode` is called directly (no tokenizer).

On CPU the defaults shrink so that a run stays near two minutes on two cores: ``--gen-length 64`` and
``--repeats 2`` (printed in the header); pass them explicitly to override. On a busy machine (the header
prints the load average) use ``--threads 1``: with more torch threads than free cores every op waits for
its slowest thread, and CPU timings can drop several-fold.

Run
---
    .venv/bin/python benchmarks/text_generation.py                           # CPU: small model only
    .venv/bin/python benchmarks/text_generation.py --device cuda --json gen_throughput.json   # GPU: small + 8B
    .venv/bin/python benchmarks/text_generation.py --no-small --big --batch-sizes 1,16,64  # 8B only

Exit code is 0 (a benchmark, not a test); 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.decoding import rng  # noqa: E402
from harness.decoding.decoder import DecodeConfig, decode  # noqa: E402
from harness.env_info import cpu_name  # noqa: E402
from harness.models.transformer import ModelConfig, RMSNorm, Transformer  # noqa: E402
from harness.decoding.samplers import get_sampler  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "checkpoints" / "bench" / "text-mdm"
# LLaDA-8B's shape (its config.json): 32 x (attention 4096, 32 heads + SwiGLU 12288), vocabulary 126464.
LLADA_8B = dict(vocab_size=126464, n_layer=32, n_head=32, d_model=4096, d_ff=12288)
LLADA_MASK_ID = 126336
CPU_DEFAULTS = {"gen_length": 64, "repeats": 2}
GPU_DEFAULTS = {"gen_length": 128, "repeats": 3}

METRIC = ("generated tokens = gen_length x batch (prompt excluded, no padding); time = wall clock of one whole "
          "decode (forwards + sampling + writes) after one warm-up decode, torch.cuda.synchronize() before each "
          "clock read on GPU; tok/s = generated tokens / median time; s/seq = median time / batch; "
          "NFE = forward passes of the batch; tok/fwd = generated tokens / NFE; peak mem = CUDA allocator peak "
          "on GPU, process peak RSS on CPU (weights, activations, logits and the Python process itself)")


# ----------------------------------------------------------------------------------------------- devices


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA only); returns nothing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _vm_hwm_kb() -> int | None:
    try:
        m = re.search(r"VmHWM:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
        return int(m.group(1)) if m else None
    except OSError:
        return None


def reset_peak_memory(device: torch.device) -> bool:
    """Reset the peak-memory counter of ``device``; return whether the reset worked (CPU: Linux clear_refs)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:  # writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_bytes(device: torch.device) -> int:
    """Return the peak memory in bytes since the last reset: CUDA allocator peak, or the process's peak RSS."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    kb = _vm_hwm_kb()
    if kb is None:  # ru_maxrss is in kB on Linux, bytes on macOS; never reset
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(kb if sys.platform == "darwin" else kb * 1024)
    return kb * 1024


def device_name(device: torch.device) -> str:
    """Return a readable name of ``device`` (GPU model, or CPU model and torch threads)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"


# ----------------------------------------------------------------------------------------------- models


def build_random_llama(cfg: ModelConfig, device: torch.device, dtype: torch.dtype = torch.bfloat16,
                       seed: int = 0) -> Transformer:
    """Return a bidirectional :class:`Transformer` of shape ``cfg`` with random weights, in eval mode.

    Built on the meta device, cast there, then materialised directly on ``device`` (``to_empty``), so an
    8B model never touches CPU memory. Linear and embedding weights are drawn N(0, 0.02), RMSNorm gains
    set to 1, and the RoPE tables rebuilt on ``device``."""
    with torch.device("meta"):
        model = Transformer(cfg)
    model = model.to(dtype=dtype).to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.normal_(0.0, 0.02, generator=g)
            elif isinstance(m, RMSNorm):
                m.weight.fill_(1.0)
    model.reset_rope()
    return model.eval()


def llama8b_config(seq_len: int) -> ModelConfig:
    """Return the :class:`ModelConfig` of an LLaDA-8B-shaped bidirectional model for ``seq_len`` positions."""
    return ModelConfig(seq_len=seq_len, causal=False, pos="rope", **LLADA_8B)


def meta_param_count(cfg: ModelConfig) -> int:
    """Return the parameter count of a :class:`Transformer` of shape ``cfg`` (built on the meta device)."""
    with torch.device("meta"):
        return sum(p.numel() for p in Transformer(cfg).parameters())


def small_model_dir(path: str | None, device: torch.device) -> tuple[Path, str]:
    """Return (the small text MDM's directory, a note on where it came from), building the default once."""
    if path:
        return Path(path), "given with --model"
    from harness.training.text_mdm import build
    done = (DEFAULT_MODEL_DIR / "model" / "config.json").exists()
    if not done:
        print(f"building the small text MDM in {DEFAULT_MODEL_DIR} (3M preset, 50 iterations; once, ~1-2 min "
              f"on CPU) ...", file=sys.stderr, flush=True)
    d = build(DEFAULT_MODEL_DIR, preset="3M", seq_len=256, vocab_size=4096, iters=50, batch_size=16,
              code_bytes=1_000_000, device=str(device), progress=False)
    return d, ("default 3M preset, 50 training iterations (throughput depends on shapes only; "
               "this model is not meant to write good text)")


def small_model_name(path: Path) -> str:
    """Return a short table name for the small model at ``path`` (its preset when it records one)."""
    try:
        preset = json.loads((path / "training.json").read_text()).get("preset")
    except (OSError, ValueError):
        preset = None
    base = path.parent.name if path.name == "model" else path.name
    return f"{base} {preset}" if preset else base


# ----------------------------------------------------------------------------------------------- timing


def random_prompts(batch: int, length: int, vocab: int, banned: set[int], seed: int = 0) -> torch.Tensor:
    """Return [batch, length] random token ids from ``range(vocab)`` minus ``banned`` (special ids)."""
    ok = torch.tensor([i for i in range(vocab) if i not in banned], dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    return ok[torch.randint(0, len(ok), (batch, length), generator=g)]


def time_runs(run, device: torch.device, repeats: int) -> dict:
    """Run ``run()`` (one whole decode, returning its NFE) once to warm up, then ``repeats`` times timed.

    Returns the per-repeat seconds, the NFE, the peak memory over warm-up + repeats, and whether the
    peak counter could be reset."""
    was_reset = reset_peak_memory(device)
    run()  # warm-up: kernels, allocator, thread pools
    times, nfe = [], None
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        nfe = run()
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"times_s": times, "nfe": int(nfe), "peak_mem_bytes": peak_memory_bytes(device), "peak_reset": was_reset}


def make_row(model_name: str, batch: int, gen_length: int, r: dict) -> dict:
    """Return one table row (a dict) from :func:`time_runs`' result for ``batch`` rows of ``gen_length``."""
    t = statistics.median(r["times_s"])
    gen_tokens = gen_length * batch
    return {"model": model_name, "batch": batch, "gen_tokens": gen_tokens, "nfe": r["nfe"],
            "tokens_per_forward": gen_tokens / r["nfe"], "median_s": t, "min_s": min(r["times_s"]),
            "max_s": max(r["times_s"]), "tokens_per_s": gen_tokens / t, "s_per_seq": t / batch,
            "peak_mem_bytes": r["peak_mem_bytes"], "peak_reset": r["peak_reset"], "times_s": r["times_s"],
            "status": "ok"}


def failed_row(model_name: str, batch: int, gen_length: int, why: str) -> dict:
    """Return a table row for a batch size that could not run (e.g. out of memory)."""
    return {"model": model_name, "batch": batch, "gen_tokens": gen_length * batch, "status": why}


def bench_small(args, device: torch.device) -> tuple[dict, list[dict]]:
    """Time the small text MDM at every batch size; return (its description, its rows)."""
    from harness.models.text import load_text_model
    from harness.decoding.textgen import decode_rows, generation_rows

    path, note = small_model_dir(args.model, device)
    tm = load_text_model(str(path), device=str(device))
    max_len = int(getattr(tm.model.config, "seq_len", 0) or getattr(tm.model.config, "max_position_embeddings", 0)
                  or 0)
    if max_len and args.prompt_length + args.gen_length > max_len:
        raise SystemExit(f"prompt_length + gen_length = {args.prompt_length + args.gen_length} exceeds the "
                         f"model's {max_len} positions; lower --prompt-length or --gen-length")
    banned = set(int(i) for i in tm.tokenizer.all_special_ids) | {tm.mask_id, tm.pad_id, *tm.stop_ids()}
    cfg = DecodeConfig(steps=args.steps, temperature=0.0, block_length=args.block_length)
    dtype = next(tm.model.parameters()).dtype
    name = small_model_name(Path(path))
    desc = {"model": name, "path": str(path), "note": note, "params": tm.info["params"], "dtype": str(dtype),
            "device": str(device), "device_name": device_name(device), "vocab": tm.vocab_size,
            "mask_id": tm.mask_id}
    rows = []
    for b in args.batch_sizes:
        prompts = random_prompts(b, args.prompt_length, tm.vocab_size, banned).tolist()
        token_rows = generation_rows(tm, prompts, args.gen_length)
        seeds = rng.example_seeds(0, range(b))

        def run():
            return max(o.nfe for o in decode_rows(tm, token_rows, args.sampler, cfg, seeds))

        with torch.inference_mode():
            rows.append(make_row(name, b, args.gen_length, time_runs(run, device, args.repeats)))
        progress(rows[-1])
    return desc, rows  # the model is freed on return


def bench_big(args, device: torch.device) -> tuple[dict, list[dict]]:
    """Time the random 8B LLaMA-shaped model in bf16 at every batch size; return (its description, its rows)."""
    seq_len = args.prompt_length + args.gen_length
    cfg = llama8b_config(seq_len)
    n_params = meta_param_count(cfg)
    name = "random 8B (LLaDA shape)"
    desc = {"model": name, "params": n_params, "dtype": str(torch.bfloat16), "device": str(device),
            "device_name": device_name(device), "vocab": cfg.vocab_size, "mask_id": LLADA_MASK_ID,
            "shape": {k: getattr(cfg, k) for k in ("n_layer", "n_head", "d_model", "d_ff", "vocab_size", "seq_len")},
            "note": "random weights N(0, 0.02) in bf16; same cost per forward as LLaDA-8B"}
    free, total = torch.cuda.mem_get_info(device)
    need = 2 * n_params + (2 << 30)
    if free < need:
        desc["skipped"] = (f"needs about {need / 2**30:.0f} GiB of GPU memory for the weights, "
                           f"{free / 2**30:.0f} of {total / 2**30:.0f} GiB free")
        return desc, []
    print(f"materialising {n_params / 1e9:.2f}B parameters in bf16 on {desc['device_name']} ...",
          file=sys.stderr, flush=True)
    torch.manual_seed(0)
    model = build_random_llama(cfg, device, torch.bfloat16)
    dcfg = DecodeConfig(steps=args.steps, temperature=0.0, block_length=args.block_length)
    rows = []
    for b in args.batch_sizes:
        prompt = random_prompts(b, args.prompt_length, 126000, {LLADA_MASK_ID})  # ids >= 126000: specials
        x = torch.cat([prompt, torch.full((b, args.gen_length), LLADA_MASK_ID, dtype=torch.long)], 1).to(device)
        seeds = rng.example_seeds(0, range(b)).to(device)

        def run():
            return decode(model, x, LLADA_MASK_ID, args.sampler, dcfg, seeds=seeds).nfe

        try:
            with torch.inference_mode():
                rows.append(make_row(name, b, args.gen_length, time_runs(run, device, args.repeats)))
        except torch.cuda.OutOfMemoryError:
            rows.append(failed_row(name, b, args.gen_length, "out of GPU memory"))
        if rows[-1]["status"] != "ok":  # after the except block, so the failed decode's tensors are gone
            gc.collect()
            torch.cuda.empty_cache()
        progress(rows[-1])
    return desc, rows  # the model is freed on return


def progress(row: dict) -> None:
    """Print one finished row to stderr."""
    if row["status"] != "ok":
        print(f"  {row['model']} batch {row['batch']}: {row['status']}", file=sys.stderr, flush=True)
        return
    print(f"  {row['model']} batch {row['batch']}: {row['tokens_per_s']:.1f} tok/s "
          f"(median {row['median_s']:.2f} s of {[round(t, 2) for t in row['times_s']]})", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- output


def _mem(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def format_report(header: dict, models: list[dict], rows: list[dict]) -> str:
    """Return the header lines, the per-model lines and the markdown table as text."""
    lines = [f"# torch {header['torch']} | transformers {header['transformers']} | prompt {header['prompt_length']} "
             f"+ gen {header['gen_length']} tokens | steps {header['steps']} | block {header['block_length']} | "
             f"sampler {header['sampler']} (T=0) | median of {header['repeats']} after 1 warm-up"]
    load = header.get("loadavg_1m")
    if load is not None:
        busy = load > max(1, (header["cpu_count"] or 1) - 1) and header["threads"] > 1
        lines.append(f"# {header['cpu']} | {header['threads']} torch threads | load average {load:.1f} on "
                     f"{header['cpu_count']} cores at the start"
                     + (" (busy: CPU timings with several threads suffer badly; try --threads 1)" if busy else ""))
    if header.get("cpu_defaults"):
        lines.append(f"# CPU defaults reduced to keep the run short: {header['cpu_defaults']} "
                     f"(GPU defaults: gen_length {GPU_DEFAULTS['gen_length']}, repeats {GPU_DEFAULTS['repeats']})")
    for m in models:
        extra = f" | {m['note']}" if m.get("note") else ""
        lines.append(f"# {m['model']}: {m['params']:,} params | {m['dtype']} | {m['device_name']}{extra}")
        if m.get("skipped"):
            lines.append(f"#   skipped: {m['skipped']}")
    for s in header.get("skipped", []):
        lines.append(f"# skipped: {s}")
    lines.append(f"# metric: {METRIC}")
    if rows:
        lines += ["", "| model | device | batch | gen tokens | NFE | tok/fwd | median s | tok/s | s/seq | peak mem |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        dev = {m["model"]: m["device"] for m in models}
        for r in rows:
            if r["status"] != "ok":
                lines.append(f"| {r['model']} | {dev[r['model']]} | {r['batch']} | {r['gen_tokens']} | "
                             f"{r['status']} | | | | | |")
                continue
            lines.append(f"| {r['model']} | {dev[r['model']]} | {r['batch']} | {r['gen_tokens']} | {r['nfe']} | "
                         f"{r['tokens_per_forward']:.1f} | {r['median_s']:.2f} | {r['tokens_per_s']:.1f} | "
                         f"{r['s_per_seq']:.3f} | {_mem(r['peak_mem_bytes'])}"
                         f"{'' if r['peak_reset'] else ' (process max)'} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    """Return the parsed command line, with device-dependent defaults filled in."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a transformers directory of a small text MDM (default: build "
                                                 f"or reuse {DEFAULT_MODEL_DIR.relative_to(ROOT)})")
    p.add_argument("--gen-length", type=int, default=None,
                   help=f"generated tokens per row (default {GPU_DEFAULTS['gen_length']}; "
                        f"{CPU_DEFAULTS['gen_length']} on CPU)")
    p.add_argument("--steps", type=int, default=None, help="forward passes per decode (default: gen_length)")
    p.add_argument("--block-length", type=int, default=32)
    p.add_argument("--prompt-length", type=int, default=64)
    p.add_argument("--batch-sizes", default="1,16", help="comma-separated batch sizes")
    p.add_argument("--sampler", default="margin")
    p.add_argument("--repeats", type=int, default=None,
                   help=f"timed decodes per row (default {GPU_DEFAULTS['repeats']}; {CPU_DEFAULTS['repeats']} on CPU)")
    p.add_argument("--device", default="auto", help="device of the small model: auto (cuda when available), "
                                                    "cpu, cuda, cuda:N")
    p.add_argument("--big", action=argparse.BooleanOptionalAction, default=None,
                   help="also time the random 8B model (default: on when CUDA is available; needs CUDA)")
    p.add_argument("--small", action=argparse.BooleanOptionalAction, default=True,
                   help="time the small text MDM (default: on)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--json", type=Path, default=None, help="also write the header, models and rows as JSON here")
    args = p.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available here")
    try:
        args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    except ValueError:
        p.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        p.error("--batch-sizes needs at least one size, each >= 1")
    defaults = CPU_DEFAULTS if args.device == "cpu" else GPU_DEFAULTS
    args.cpu_defaults = ", ".join(f"{k} {v}" for k, v in defaults.items() if getattr(args, k) is None) \
        if args.device == "cpu" else ""
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.steps is None:
        args.steps = args.gen_length
    if min(args.gen_length, args.steps, args.block_length, args.prompt_length, args.repeats) < 1:
        p.error("--gen-length, --steps, --block-length, --prompt-length and --repeats must be >= 1")
    blocks = -(-args.gen_length // args.block_length)
    if args.steps % blocks:
        p.error(f"--steps ({args.steps}) must be a multiple of the number of blocks ({blocks} = "
                f"ceil(gen_length / block_length))")
    try:
        get_sampler(args.sampler)
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv=None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from importlib import metadata
    header = {"torch": torch.__version__, "transformers": metadata.version("transformers"),
              "prompt_length": args.prompt_length, "gen_length": args.gen_length, "steps": args.steps,
              "block_length": args.block_length, "sampler": args.sampler, "temperature": 0.0,
              "repeats": args.repeats, "batch_sizes": args.batch_sizes, "cpu_defaults": args.cpu_defaults,
              "threads": torch.get_num_threads(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
              "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
              "cuda": torch.version.cuda if torch.cuda.is_available() else None, "metric": METRIC, "skipped": []}
    models, rows = [], []
    if args.small:
        desc, r = bench_small(args, torch.device(args.device))
        models.append(desc)
        rows += r
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # give the small model's memory back before the 8B model
    big = torch.cuda.is_available() if args.big is None else args.big
    if big and not torch.cuda.is_available():
        header["skipped"].append("random 8B model: CUDA is not available (it runs on a GPU only: bf16 weights "
                                 "are about 16 GB)")
    elif not big:
        header["skipped"].append("random 8B model: turned off with --no-big" if args.big is False else
                                 "random 8B model: CUDA is not available")
    else:
        dev = torch.device(args.device if args.device.startswith("cuda") else "cuda")
        desc, r = bench_big(args, dev)
        models.append(desc)
        rows += r
    print(format_report(header, models, rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"header": header, "models": models, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
