"""What a run ran on: git commit, package versions, device. Stamped into every results header."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def git_commit() -> tuple[str, bool]:
    """Return (short commit hash or 'unknown', whether tracked source files have uncommitted changes)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "harness", "tasks",
                                 "pyproject.toml"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """Return the CPU model name (from /proc/cpuinfo where available)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str) -> dict:
    """Return the run's environment: commit, versions, device name, CUDA, threads."""
    import torch

    commit, dirty = git_commit()
    env = {
        "commit": commit, "dirty": dirty, "python": platform.python_version(),
        "torch": torch.__version__, "numpy": _version("numpy"), "transformers": _version("transformers"),
        "platform": platform.platform(), "device": device, "threads": torch.get_num_threads(),
        "cpu": cpu_name(), "cpu_count": os.cpu_count(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
        env["gpus"] = torch.cuda.device_count()
    else:
        env["device_name"] = f"{env['cpu']} ({env['threads']} threads)"
    return env
