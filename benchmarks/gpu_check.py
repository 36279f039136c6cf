"""The GPU check: what a lent GPU must tell us, in one run of a few minutes, printed as tables.

1. **Training step** of each puzzle task's ``gpu`` and ``paper`` MDM recipes (model preset, batch size and
   sequence length of the preset, bf16 autocast on CUDA): seconds per iteration (median after warm-up),
   tokens/s, the FLOP/s sustained, the hours the recipe's full iteration count would take at that speed, and
   for ``gpu`` the hours of the table's whole plan (``SCALES["gpu"]["plan"]``, ARMs included) at that FLOP/s.
   Batches are random tokens of the recipe's shapes (the step's cost depends only on the shapes), so no data
   is generated.
2. **Decode agreement CPU vs GPU**: one random-weight Sudoku MDM (the small preset) decodes the same puzzles
   with margin, un-noised, on CPU in fp32 and on the GPU in fp32 and under bf16 autocast; the share of
   puzzles whose tokens and whose reveal orders equal the CPU's.
3. **Generation against LLaDA's reference loop** with an 8B LLaMA-shaped random bf16 model at batch 1 and
   16 (``benchmarks/decode_vs_reference.py --big``).

    python benchmarks/gpu_check.py                  # on a CUDA machine (what benchmarks/gpu_check.sh runs)
    python benchmarks/gpu_check.py --device cpu --quick   # the CPU-side pieces, seconds (the tests run this)

Exit code 0 (a benchmark, not a test); 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.decoding.decoder import DecodeConfig, decode  # noqa: E402
from harness.decoding.rng import example_seeds  # noqa: E402
from harness.models import build_model  # noqa: E402
from harness.training.precision import autocast_context  # noqa: E402
from harness.training.trainer import TrainConfig, make_optimizer, train_step  # noqa: E402
from tasks import get_task_class  # noqa: E402

TASKS = ("lo_nae_sat", "sudoku", "zebra")


def sync(device: torch.device) -> None:
    """Wait for the GPU (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_rows(device: torch.device, data_dir: str | None, quick: bool) -> list[list[str]]:
    """Return one row per puzzle task and scale (``gpu``, ``paper``; ``small`` if quick): the MDM recipe's step
    time on ``device`` at the recipe's own shapes (batch, sequence length, vocabulary; random tokens, every
    position maskable: the step's cost depends only on the shapes, so no data is generated), the FLOP/s it
    sustains (6 N tokens/s), the hours of the recipe, and for ``gpu`` the hours of the whole table's plan
    (its FLOPs at this FLOP/s)."""
    rows = []
    for name in TASKS:
        cls = get_task_class(name)
        for scale in (("small",) if quick else ("gpu", "paper")):
            task = cls(cls.variants(scale)[0], scale, data_dir)
            recipe = task.recipe("mdm")
            batch = 8 if quick else recipe.train["batch_size"]
            model = build_model(recipe.model_preset, task.vocab_size, task.seq_len, seed=0, **recipe.model).to(device)
            amp = "bf16" if device.type == "cuda" else "off"
            cfg = TrainConfig(objective="mdm", seed=0, batch_size=batch, iters=recipe.train["iters"], amp=amp,
                              lr=recipe.train.get("lr", 1e-3))
            opt = make_optimizer(model, cfg)
            autocast = autocast_context(amp, device)
            g = torch.Generator().manual_seed(0)
            values = [v for v in range(task.vocab_size) if v != task.mask_id]
            times = []
            for step in range(3 if quick else 8):
                x = torch.tensor(values)[torch.randint(len(values), (batch, task.seq_len), generator=g)]
                b = (x, torch.ones_like(x, dtype=torch.bool))
                sync(device)
                t0 = time.perf_counter()
                train_step(model, opt, b, step, cfg, task.mask_id, autocast, device)
                sync(device)
                times.append(time.perf_counter() - t0)
            s = statistics.median(times[1:])
            flops_s = 6 * model.num_params(non_embedding=True) * batch * task.seq_len / s
            plan = cls.SCALES[scale].get("plan")
            table_hours = f"{plan['flops'] / flops_s / 3600:.2f}" if plan and not quick else ""
            rows.append([name, scale, recipe.model_preset, f"{batch} x {task.seq_len}", amp, f"{s:.4f}",
                         f"{batch * task.seq_len / s:,.0f}", f"{flops_s:.2e}", f"{cfg.iters:,}",
                         f"{cfg.iters * s / 3600:.2f}", table_hours])
    return rows


def agreement_rows(device: torch.device, data_dir: str | None, quick: bool) -> list[list[str]]:
    """Return rows: tokens and orders of a Sudoku decode on ``device`` (fp32, bf16 autocast) vs the CPU's."""
    task = get_task_class("sudoku")("9x9+8", "small", data_dir)
    n = 8 if quick else 256
    examples = task.examples(n)
    x = torch.from_numpy(np.stack([e.prompt for e in examples]))
    allowed = torch.from_numpy(task.allowed())
    model = build_model("0.8M", task.vocab_size, task.seq_len, seed=0).eval()
    with torch.no_grad():                   # confident, varied predictions from random weights
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(5)
    cfg = DecodeConfig(steps=50, temperature=0.0)
    seeds = example_seeds(0, range(n))

    def run(dev: torch.device, amp: str):
        m = model.to(dev)
        with torch.no_grad(), autocast_context(amp, dev):
            out = decode(m, x.to(dev), task.mask_id, "margin", cfg, seeds=seeds.to(dev), allowed=allowed.to(dev))
        return out.tokens.cpu(), out.order.cpu()

    ref_tok, ref_ord = run(torch.device("cpu"), "off")
    rows = []
    for amp in ("off", "bf16"):
        tok, order = run(device, amp)
        rows.append([f"{device.type} {'fp32' if amp == 'off' else 'bf16 autocast'}", str(n),
                     f"{100 * (tok == ref_tok).all(1).float().mean():.1f}",
                     f"{100 * (order == ref_ord).all(1).float().mean():.1f}"])
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    """Return a markdown table."""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv=None) -> int:
    """Print the three parts; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data-dir", default=None, help="the shared data directory (default: the usual lookup)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, measures nothing")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# GPU check on {name}, torch {torch.__version__}{' (quick)' if a.quick else ''}\n")
    print("## 1. Training step, gpu and paper MDM recipes\n")
    print(table(["task", "scale", "model", "batch x tokens", "autocast", "s/iter", "tokens/s", "FLOP/s",
                 "recipe iters", "recipe hours", "gpu table hours (plan)"],
                training_rows(device, a.data_dir, a.quick)), flush=True)
    print("\n## 2. Sudoku decode, same puzzles and seeds, against CPU fp32\n")
    print(table(["where", "puzzles", "tokens equal %", "orders equal %"],
                agreement_rows(device, a.data_dir, a.quick)), flush=True)
    print("\n## 3. Generation, 8B-shaped random model, against LLaDA's reference loop\n")
    if device.type != "cuda":
        print("skipped: needs CUDA")
        return 0
    from benchmarks.decode_vs_reference import main as vs_reference
    return vs_reference(["--big", "--device", str(device), "--batches", "1,16", "--temperatures", "0,1",
                         "--repeats", "3", "--max-noise-gb", "4"])


if __name__ == "__main__":
    sys.exit(main())
