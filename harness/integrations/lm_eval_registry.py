"""Register ``tokenorder`` with lm-eval's model registry, on request only.

lm-eval 0.4.13 discovers models only through its own registry (no entry points), so the project's lm-eval
entry points call :func:`register` before handing over to lm-eval: ``python -m harness.integrations.lm_eval_cli ARGS``
(installed as ``tokenorder-lm-eval``) for the command line, and importing :mod:`harness.integrations.lm_eval_model` for
``lm_eval.simple_evaluate(model="tokenorder", ...)`` or ``simple_evaluate(model=TokenorderLM(...), ...)``.
Nothing of the project runs at interpreter start-up (no ``.pth`` file), so a sandboxed child or a second
checkout of the project never imports this one's code behind its back.
"""
from __future__ import annotations

MODEL_NAME = "tokenorder"
TARGET = "harness.integrations.lm_eval_model:TokenorderLM"


def register(registry=None) -> bool:
    """Return True when ``tokenorder`` is (now) in lm-eval's model registry; False if lm-eval is unusable.

    Adds a lazy placeholder (nothing of ours is imported until lm-eval asks for the model) unless the name
    is already there, then imports ``lm_eval.models`` so lm-eval's own models stay registered (its
    ``get_model`` only fills an *empty* registry). Never raises."""
    try:
        if registry is None:
            import importlib
            registry = importlib.import_module("lm_eval.api.registry")
        models = registry.model_registry
        if MODEL_NAME not in models:
            models.register(MODEL_NAME, target=TARGET)
    except Exception:
        return False
    try:
        import lm_eval.models  # noqa: F401  (registry non-empty now: get_model would no longer import it)
    except Exception:
        pass
    return True
