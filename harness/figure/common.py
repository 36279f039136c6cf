"""What the figure experiments share: the results header and file of one panel's run, whether a panel's
records are already complete (so no model need be trained or loaded), and a text model directory's fingerprint."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from harness.env_info import environment
from harness.results import ResultsFile, readable_records

FINGERPRINT_SKIPS = frozenset({"training.json"})
"""Files of a model directory left out of its fingerprint: our training summary holds wall-clock timings, so
two bit-identical models trained on different days would otherwise get different fingerprints."""


def figure_path(results_dir: str | Path, scale: str, figure: str, variant: str, name: str, seed: int = 0) -> Path:
    """Return the path of one panel's results file: ``results_dir/scale/figure/variant/name__seedS.jsonl``."""
    return Path(results_dir) / scale / figure / variant / f"{name}__seed{seed}.jsonl"


def recorded_complete(path: str | Path, want: dict, ids: set[str] | None = None) -> bool:
    """Return whether the results file at ``path`` already holds every planned record under a header whose
    ``model_identity`` agrees with ``want`` on each of ``want``'s keys (keys left out, such as fingerprints of
    weights not yet trained, are not compared). ``ids`` are the planned ids; None takes ``n_planned`` records
    from the header. A missing, damaged or different file is simply not complete: the normal path reports it."""
    found = readable_records(path)
    if found is None or not isinstance(found[0].get("model_identity"), dict):
        return False
    header, records = found
    have = header["model_identity"]
    if any(k not in have or have[k] != v for k, v in json.loads(json.dumps(want)).items()):
        return False
    done = {r.get("id") for r in records}
    if ids is not None:
        return set(ids) <= done
    planned = header.get("n_planned")
    return isinstance(planned, int) and planned > 0 and len(done) >= planned


def report_complete(figure: str, paths: list[Path]) -> None:
    """Print one ``[complete]`` line per results file a figure did not need a model for."""
    for p in paths:
        print(f"[complete] {figure}: all records present in {p}, no model trained or loaded")


def model_dir_fingerprint(path: str | Path) -> str | None:
    """Return a short sha256 of a local model directory: every file's name and bytes (config, weights, tokenizer)
    except :data:`FINGERPRINT_SKIPS`, so the same weights give the same fingerprint on any machine or day;
    None for a hub id (not a directory). Weights are read in full (a few seconds per GB)."""
    p = Path(path)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if not f.is_file() or f.name in FINGERPRINT_SKIPS or f.name.startswith("."):
            continue
        h.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 24), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()[:16]


def figure_results(results_dir: str | Path, scale: str, figure: str, variant: str, name: str, *,
                   identity: dict, n_planned: int | None, device: str, info: dict | None = None,
                   seed: int = 0) -> ResultsFile:
    """Return the opened (created or resumed) results file ``results_dir/scale/figure/variant/name__seedS.jsonl``.

    ``identity`` holds everything that determines the records (models, data, protocol); a resumed file
    whose identity differs is refused with a one-line error. ``info`` is descriptive only."""
    path = figure_path(results_dir, scale, figure, variant, name, seed)
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
