"""Where task data lives on disk: the user's data directory and the cache of generated sets."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

SHARED_ENV = "TOKENORDER_SHARED_DATA"


def cache_dir() -> Path:
    """Return the cache directory ($TOKENORDER_CACHE, else ~/.cache/tokenorder)."""
    return Path(os.environ.get("TOKENORDER_CACHE") or Path.home() / ".cache" / "tokenorder")


def find_file(data_dir: str | None, name: str, subdir: str) -> Path | None:
    """Return ``data_dir/name`` or ``data_dir/<subdir>/name`` when it exists, else None."""
    if not data_dir:
        return None
    for p in (Path(data_dir) / name, Path(data_dir) / subdir / name):
        if p.is_file():
            return p
    return None


def replace_atomically(path: Path, write) -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``path`` and move it into place (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def default_data_dir() -> Path | None:
    """Return $TOKENORDER_SHARED_DATA, else the ``shared/data`` folder beside the repository when it exists, else None."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2] / "shared" / "data"
    return here if here.is_dir() else None


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_path(data_dir, name: str, subdir: str, sha256: str, what: str, source: str) -> Path:
    """Return the path of ``name`` in ``data_dir`` (or its ``subdir``) after checking its sha256; raise if missing or altered."""
    root = data_dir if data_dir is not None else default_data_dir()
    path = find_file(str(root) if root is not None else None, name, subdir)
    if path is None:
        raise FileNotFoundError(
            f"{what}: {subdir}/{name} not found under {root if root is not None else '(no data dir)'}; "
            f"pass --data-dir (or set ${SHARED_ENV}) to a folder holding {subdir}/{name} (canonical source: {source})")
    got = sha256_file(path)
    if got != sha256:
        raise ValueError(
            f"{path}: sha256 {got[:16]}... is not the expected {sha256[:16]}... (file altered or a different "
            f"version); restore it from shared/data (see its README.md) or from {source}")
    return path


@lru_cache(maxsize=8)
def read_jsonl_gz(path: str, mtime_ns: int, size: int) -> tuple[dict, ...]:
    """Return the records of a gzipped JSONL file (cached per path, modification time and size)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())
