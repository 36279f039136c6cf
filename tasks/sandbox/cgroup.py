"""A control group per sandboxed run: one memory ceiling and one process count for the whole run.

``RLIMIT_AS`` bounds each process and the tmpfs sizes bound each mount, but a program that forks, or fills
several mounts, could still take more in total; and ``RLIMIT_NPROC`` is ignored for root. A cgroup bounds the
run as a whole: ``memory`` (RAM and the pages of its tmpfs mounts, which are charged to the writer) and
``pids`` (processes and threads), and lets the harness kill every process left in it at the end.

Both cgroup layouts are handled: the unified v2 hierarchy (``memory.max``, ``pids.max``; the run's group is
made under the harness's own group when that group delegates both controllers) and the v1 ``memory`` and
``pids`` hierarchies (``memory.limit_in_bytes``, ``pids.max``). The program joins the group before anything
of it runs: the command is prefixed by :func:`join_prefix`, a ``sh`` that writes its own pid into the
group(s) and then ``exec``\\ s the rest, so every descendant is born inside. Where cgroups cannot be made
(no permission, no controller), :func:`RunGroup.create` returns None and the caller says so once.
Standard library only.
"""
from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

_V2_ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()

JOIN_SCRIPT = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 96; shift; done; shift; exec "$@"'
"""Joins the group(s) named by each ``cgroup.procs`` argument before ``--``, then runs the command after it."""


def _own_paths() -> dict[str, str]:
    """Return {controller or "" (v2): this process's cgroup path} from /proc/self/cgroup."""
    out = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for c in parts[1].split(",") if parts[1] else [""]:
                out[c] = parts[2]
    return out


def _v1_mounts() -> dict[str, Path]:
    """Return {controller: mount point} of the v1 cgroup hierarchies."""
    out = {}
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) >= 4 and f[2] == "cgroup":
            for opt in f[3].split(","):
                if opt in ("memory", "pids"):
                    out[opt] = Path(f[1])
    return out


def parent_dirs() -> dict[str, Path]:
    """Return where a run's group can be made: {"v2": dir} or {"memory": dir, "pids": dir} (v1), else {}."""
    own = _own_paths()
    if (_V2_ROOT / "cgroup.controllers").exists() and "" in own:
        base = _V2_ROOT / own[""].lstrip("/")
        try:
            delegated = set((base / "cgroup.subtree_control").read_text().split())
        except OSError:
            delegated = set()
        return {"v2": base} if {"memory", "pids"} <= delegated else {}
    mounts = _v1_mounts()
    if {"memory", "pids"} <= set(mounts) and {"memory", "pids"} <= set(own):
        return {c: mounts[c] / own[c].lstrip("/") for c in ("memory", "pids")}
    return {}


class RunGroup:
    """The cgroup(s) of one run: made with its limits by :meth:`create`, emptied and removed by :meth:`close`."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    @classmethod
    def create(cls, memory_bytes: int, max_pids: int) -> "RunGroup | None":
        """Return a new group limited to ``memory_bytes`` (RAM + tmpfs pages, swap included where the kernel
        accounts it) and ``max_pids`` tasks, or None when this machine does not let us make one."""
        parents = parent_dirs()
        if not parents:
            return None
        name = f"tokenorder-sandbox-{os.getpid()}-{next(_counter)}"
        made: list[Path] = []
        try:
            for kind, parent in parents.items():
                d = parent / name
                d.mkdir()
                made.append(d)
                if kind in ("v2", "memory"):
                    memory_file = "memory.max" if kind == "v2" else "memory.limit_in_bytes"
                    (d / memory_file).write_text(str(int(memory_bytes)))
                    swap = d / ("memory.swap.max" if kind == "v2" else "memory.memsw.limit_in_bytes")
                    if swap.exists():
                        try:
                            swap.write_text("0" if kind == "v2" else str(int(memory_bytes)))
                        except OSError:
                            pass
                if kind in ("v2", "pids"):
                    (d / "pids.max").write_text(str(int(max_pids)))
        except OSError:
            cls(made).close()
            return None
        return cls(made)

    def join_prefix(self) -> list[str]:
        """Return the argv prefix that puts the command (and so all its descendants) in this group."""
        return ["sh", "-c", JOIN_SCRIPT, "cgroup-join", *[str(d / "cgroup.procs") for d in self.dirs], "--"]

    def pids(self) -> set[int]:
        """Return the pids still in the group."""
        out: set[int] = set()
        for d in self.dirs:
            try:
                out |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return out

    def oom_killed(self) -> bool:
        """Return whether the kernel killed a process of the group for exceeding its memory ceiling."""
        for d in self.dirs:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    for line in (d / name).read_text().splitlines():
                        k, _, v = line.partition(" ")
                        if k == key and int(v) > 0:
                            return True
                except (OSError, ValueError):
                    pass
        return False

    def close(self, wait_s: float = 2.0) -> None:
        """Kill every process left in the group and remove it (best effort: never raises)."""
        deadline = time.monotonic() + wait_s
        for d in reversed(self.dirs):
            while True:
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.01)
