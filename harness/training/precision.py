"""Training precision decided on the machine at hand, never by a preset.

``amp="auto"`` means: bf16 autocast on CUDA; on a CPU, bf16 only when the CPU reports bf16 instructions
(``avx512_bf16`` or ``amx_bf16``) *and* a short probe of the model's own training step shows bf16 clearly
faster than fp32 (median at least :data:`MIN_SPEEDUP` times, and every bf16 repetition faster than every fp32
one); fp32 otherwise. The reason: on an AVX2-only CPU bf16 autocast was measured 10-14x slower than fp32, on a
CPU with AMX 1.0-1.4x faster for our small models, whose steps are dominated by overheads bf16 does not
shrink. A probe is timing, and timing is noisy, so the first decision for a (machine, torch, model shape,
batch shape) is stored in ``$TOKENORDER_CACHE/precision.json`` (default ``~/.cache/tokenorder``) and reused:
the same preset and seed on the same machine always train in the same precision. The decision is also
stored in the checkpoint, so a resumed run keeps it. ``"bf16"`` and ``"off"`` force a choice on any device.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

MIN_SPEEDUP = 1.5
"""bf16's median probe step must be at least this much faster than fp32's to be chosen on a CPU."""
REPS = 3
"""Timed repetitions per precision in the probe (after one warm-up each), alternating."""


@lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """Return the bf16-related instruction-set flags this CPU reports (empty when none or unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return tuple(sorted(flags & {"avx512_bf16", "amx_bf16"}))
    except OSError:
        pass
    return ()


def autocast_context(amp: str, device: torch.device | str):
    """Return the autocast context for a resolved precision ('bf16' or 'off')."""
    device = torch.device(device)
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def time_steps(step: Callable[[], None], reps: int = REPS) -> list[float]:
    """Return the seconds of ``reps`` calls of ``step`` after one warm-up call."""
    step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def cpu_name() -> str:
    """Return the CPU's model name (for the decision cache key)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def decision_path() -> Path:
    """Return the file that stores this machine's precision decisions."""
    root = os.environ.get("TOKENORDER_CACHE") or Path.home() / ".cache" / "tokenorder"
    return Path(root) / "precision.json"


def _stored(key: str) -> dict | None:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(decision_path().read_text()).get(key)
    return None


def _store(key: str, decision: dict) -> None:
    path = decision_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError):
            table = {}
        table[key] = decision
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
        os.replace(tmp, path)


def decision_key(shape: object) -> str:
    """Return the cache key of a probe decision: machine, torch, thread count and the caller's ``shape``."""
    ident = [cpu_name(), torch.__version__, torch.get_num_threads(), shape]
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


def resolve_amp(requested: str, device: torch.device | str,
                probe: Callable[[str], list[float]] | None = None, key: str | None = None) -> tuple[str, dict]:
    """Return (the precision to train in, 'bf16' or 'off'; a dict saying why) for ``requested``.

    ``probe(amp)`` returns the seconds of a few training steps in that precision ('bf16' or 'off'); it is
    called only on a CPU that reports bf16 instructions under ``requested="auto"``, and only when no decision
    is stored under ``key`` (see the module docstring)."""
    device = torch.device(device)
    if requested in ("bf16", "off"):
        return requested, {"requested": requested, "reason": "forced by the config"}
    if requested != "auto":
        raise ValueError(f"amp must be 'auto', 'bf16' or 'off', got {requested!r}")
    if device.type == "cuda":
        return "bf16", {"requested": "auto", "reason": "CUDA"}
    flags = cpu_bf16_flags()
    if not flags:
        return "off", {"requested": "auto", "reason": "CPU reports no bf16 instructions"}
    if probe is None:
        return "off", {"requested": "auto", "reason": "no probe", "cpu_flags": list(flags)}
    if key is not None and (stored := _stored(key)) is not None:
        return stored["amp"], dict(stored["why"], reason="stored decision of an earlier probe on this machine: "
                                                         + stored["why"]["reason"])
    fp32, bf16 = [], []
    for _ in range(2):  # alternate, so a burst of load hits both
        fp32 += probe("off")
        bf16 += probe("bf16")
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    speedup = med(fp32) / med(bf16)
    choice = "bf16" if speedup >= MIN_SPEEDUP and max(bf16) < min(fp32) else "off"
    why = {"requested": "auto", "reason": f"probe: bf16 {speedup:.2f}x fp32's speed (chosen only at >= "
           f"{MIN_SPEEDUP}x with every bf16 step faster)", "cpu_flags": list(flags),
           "probe_seconds": {"fp32": round(med(fp32), 4), "bf16": round(med(bf16), 4)}}
    if key is not None:
        _store(key, {"amp": choice, "why": why})
    return choice, why
