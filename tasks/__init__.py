"""Task registry: name -> adapter class. A new task is one module in tasks/ plus one line here."""
from __future__ import annotations

import importlib

from tasks.base import Check, Example, Recipe, Score, Task

_REGISTRY: dict[str, str] = {
    "lo_nae_sat": "tasks.lo_nae_sat:LoNaeSat",
    "sudoku": "tasks.sudoku.task:Sudoku",
    "sudoku_hard": "tasks.sudoku.task:SudokuHard",
    "zebra": "tasks.zebra.task:Zebra",
    "humaneval_single": "tasks.humaneval.task:HumanEvalSingle",
    "humaneval_multi": "tasks.humaneval.task:HumanEvalMulti",
    "humaneval_split": "tasks.humaneval.task:HumanEvalSplit",
    "math": "tasks.mathqa.task:Math",
    "mmlu": "tasks.mmlu.task:Mmlu",
    "rocstories": "tasks.rocstories.task:RocStories",
}


def task_names() -> list[str]:
    """Return the registered task names."""
    return list(_REGISTRY)


def get_task_class(name: str):
    """Return the adapter class registered as ``name`` (a Task or a TextTask); unknown names raise a one-line
    ValueError."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task '{name}'; choose one of: {', '.join(_REGISTRY)}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["Check", "Example", "Recipe", "Score", "Task", "get_task_class", "task_names"]
