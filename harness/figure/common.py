"""What the figure experiments share: the results header and file of one panel's run."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from harness.env_info import environment
from harness.results import ResultsFile


def figure_results(results_dir: str | Path, scale: str, figure: str, variant: str, name: str, *,
                   identity: dict, n_planned: int | None, device: str, info: dict | None = None,
                   seed: int = 0) -> ResultsFile:
    """Return the opened (created or resumed) results file ``results_dir/scale/figure/variant/name__seedS.jsonl``.

    ``identity`` holds everything that determines the records (models, data, protocol); a resumed file
    whose identity differs is refused with a one-line error. ``info`` is descriptive only."""
    path = Path(results_dir) / scale / figure / variant / f"{name}__seed{seed}.jsonl"
    header = {"type": "header", "schema": 1, "task": figure, "variant": variant, "scale": scale,
              "sampler": name, "seed": seed, "decode": {}, "decode_tag": "default",
              "model_identity": identity, "task_identity": {"figure": figure, "variant": variant},
              "n_planned": n_planned, "figure_info": info or {}, "env": environment(device),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return ResultsFile(path, header).open()


def text_model_info(path: str) -> dict:
    """Return what the records' header says about a model: path, and our training summary when present."""
    info: dict = {"path": str(path)}
    tj = Path(path) / "training.json"
    if tj.exists():
        d = json.loads(tj.read_text())
        s = d.get("summary", {})
        info.update(preset=d.get("preset"), iters=s.get("iters"), params=s.get("params"),
                    non_embedding_params=s.get("non_embedding_params"), train_loss=s.get("final_loss"),
                    heldout_loss=s.get("heldout_loss"), unigram_heldout_loss=s.get("unigram_heldout_loss"),
                    train_seconds=s.get("seconds"),
                    objective=d.get("train", {}).get("objective"), seq_len=None)
    cfg = Path(path) / "config.json"
    if cfg.exists():
        c = json.loads(cfg.read_text())
        info["seq_len"] = c.get("seq_len") or c.get("max_position_embeddings") or c.get("max_sequence_length")
        info["model_type"] = c.get("model_type")
    return info
