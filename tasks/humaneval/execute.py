"""Score HumanEval-Infilling completions the way the official harness does, in the project's sandbox.

The program is upstream's ``check_program`` (``human_eval_infilling/execution.py`` at commit 88062ff):
``prompt + completion + suffix + "\\n" + test + "\\n" + f"check({entry_point})"`` (we end it with a newline).
Upstream ``exec``s it in a forked process and reports "passed" only if ``check`` returned without raising;
``SystemExit`` counts as a failure there (it catches ``BaseException``, and sets ``builtins.exit``/``quit`` to
None). Here each program runs in :mod:`tasks.sandbox.host`, where an early ``exit(0)``/``sys.exit(0)``/
``os._exit(0)`` in a completion would end with status 0, so a run counts as passed only if it exited with
status 0 *and* the sandbox's runner saw the program's code return (:attr:`ExecResult.completed`: reported
on a pipe with a per-run secret that is in no file and no program text, so a completion cannot fake it by
printing, reading ``program.py`` or its own code constants, and a program that prints a lot still passes).

Known difference that remains: upstream ``exec``s with empty globals, where ``__name__`` resolves to
``"builtins"``, so an ``if __name__ == "__main__":`` block in a completion is skipped there but runs here.

Time limit: upstream's default is 3 s per problem, timed with ``SIGALRM`` inside an already running
interpreter. Our limit is wall clock for a fresh, isolated interpreter (start-up included) on machines
whose cores may be busy with training, so the default is 10 s wall and 10 s CPU (see :data:`DEFAULT_LIMITS`);
canonical solutions run in well under a second each, so the larger limit only keeps a loaded machine from
failing correct programs. Memory: 1 GB address space per process.
"""
from __future__ import annotations

import math
from typing import Sequence

from tasks.sandbox.host import PASSED, Limits, run_programs

DEFAULT_LIMITS = Limits(timeout_s=10.0, cpu_s=10, memory_mb=1024)
STDERR_TAIL_CHARS = 2000


def build_program(record: dict, completion: str) -> str:
    """Return the program upstream's evaluation runs for ``completion`` filling ``record``'s gap."""
    return (record["prompt"] + completion + record["suffix"] + "\n" + record["test"] + "\n"
            + f"check({record['entry_point']})\n")


def score_completions(records: Sequence[dict], completions: Sequence[str], limits: Limits | None = None,
                      workers: int = 2) -> list[dict]:
    """Run each (record, completion) program in the sandbox; return one result dict per record, in order.

    Each dict has ``task_id``, ``passed`` (bool: exit status 0 and the program ran to its end), ``status``
    (the sandbox's "passed" / "failed" / "timeout" / "error", with "failed" also for a program that exited
    early with status 0), ``seconds`` (wall clock of the run) and ``stderr_tail`` (the last
    :data:`STDERR_TAIL_CHARS` characters of stderr).
    """
    if len(records) != len(completions):
        raise ValueError(f"got {len(records)} records but {len(completions)} completions; pass one completion "
                         f"per record")
    limits = limits or DEFAULT_LIMITS
    sources = [build_program(r, c) for r, c in zip(records, completions)]
    results = run_programs(sources, limits, workers=workers)
    out = []
    for r, res in zip(records, results):
        status = res.status
        if status == PASSED and not res.completed:
            status = "failed"
        stderr = res.stderr
        out.append({"task_id": r["task_id"], "passed": status == PASSED, "status": status,
                    "seconds": round(res.seconds, 4), "stderr_tail": stderr[-STDERR_TAIL_CHARS:]})
    return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Return the unbiased pass@k estimate 1 - C(n-c, k) / C(n, k) for n samples of which c passed.

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)`` (Chen et al. 2021), stable for large n; needs
    ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))
