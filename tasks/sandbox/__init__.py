"""Running untrusted programs for tasks that score code (HumanEval's completions): :mod:`.host` starts each
program in a limited, isolated process and returns its verdict (the threat model and every layer are in
its docstring); :mod:`.child` is the code that runs first inside the sandbox."""
from tasks.sandbox.host import (ExecResult, Limits, check_program, isolation_prefix, mounts_isolated, run_program,
                                run_programs)

__all__ = ["ExecResult", "Limits", "check_program", "isolation_prefix", "mounts_isolated", "run_program",
           "run_programs"]
