"""``python -m harness.integrations.lm_eval_cli ARGS`` (or ``tokenorder-lm-eval ARGS``): the stock lm-eval command line
with ``--model tokenorder`` known::

    python -m harness.integrations.lm_eval_cli --model tokenorder \\
        --model_args pretrained=PATH,sampler=margin,gen_length=256,steps=256,block_length=32 --tasks gsm8k

Errors of the arguments (an unknown task, a missing ``pretrained=`` directory, a bad model argument) are one
line on stderr with exit code 2; ``TOKENORDER_TRACEBACK=1`` shows the full traceback instead.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Register ``tokenorder`` with lm-eval's model registry, then run lm-eval's CLI (returns nothing; exits
    with 2 and one line on a bad argument). ``argv`` replaces ``sys.argv[1:]`` when given."""
    from harness.integrations.lm_eval_registry import register

    if not register():
        raise SystemExit("error: lm_eval is not importable here; install it (pip install 'lm_eval>=0.4.13,<0.5')")
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", *(sys.argv[1:] if argv is None else argv)]
    try:
        cli_evaluate()
    except (ValueError, OSError, KeyError) as e:
        if os.environ.get("TOKENORDER_TRACEBACK"):
            raise
        text = " ".join(str(e).split()) or type(e).__name__
        print(f"error: lm-eval: {text} (TOKENORDER_TRACEBACK=1 shows where)", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
