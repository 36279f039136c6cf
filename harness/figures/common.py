"""What the figure experiments share: the results header and file of one panel's run."""
from __future__ import annotations

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
