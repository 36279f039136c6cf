"""``python -m harness.lm_eval_cli ARGS``: the stock lm-eval command line with ``--model tokenorder`` known.

The same as ``lm_eval ARGS`` once the ``.pth`` hook is installed (:mod:`harness._lm_eval_hook`); this entry
point registers the model itself, so it needs no ``.pth``::

    python -m harness.lm_eval_cli --model tokenorder \\
        --model_args pretrained=PATH,sampler=margin,gen_length=256,steps=256,block_length=32 --tasks gsm8k
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Register ``tokenorder`` with lm-eval's model registry, then run lm-eval's CLI (returns nothing; lm-eval
    exits on errors). ``argv`` replaces ``sys.argv[1:]`` when given."""
    from harness._lm_eval_hook import register

    if not register():
        raise SystemExit("lm_eval is not importable here; install lm-eval (pip install lm-eval) first")
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", *(sys.argv[1:] if argv is None else argv)]
    cli_evaluate()


if __name__ == "__main__":
    main()
