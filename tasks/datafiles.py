"""Where task data lives on disk: the user's data directory and the cache of generated sets."""
from __future__ import annotations

import os
from pathlib import Path


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
