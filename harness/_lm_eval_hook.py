"""Make the stock ``lm_eval`` command know ``--model tokenorder`` without forking lm-eval.

lm-eval 0.4.13 discovers models only through its own ``lm_eval.models.MODEL_MAPPING`` (no entry points).
This module puts a tiny finder at the front of ``sys.meta_path`` that looks at one module name,
``lm_eval.api.registry``: right after lm-eval executes that module, the finder registers the lazy placeholder
``"tokenorder" -> "harness.lm_eval_model:TokenorderLM"`` (nothing of ours is imported until lm-eval asks for
the model) and imports ``lm_eval.models`` so lm-eval's own models stay registered (its ``get_model`` only
fills an *empty* registry). Every other import costs one string comparison; a process that never imports
lm-eval never imports it here either.

The finder is installed by importing this module, which a one-line ``tokenorder_lm_eval.pth`` in the
environment's site-packages does at interpreter start (written by :func:`install`; the line swallows every
error, so a missing or changed lm-eval, or a moved project, never breaks start-up)::

    python -c 'import harness._lm_eval_hook as h; print(h.install())'     # into this python's site-packages
    python -c 'import harness._lm_eval_hook as h; print(h.uninstall())'   # remove it
    scripts/install_lm_eval_hook.sh [PYTHON] [--uninstall]                # the same from the shell

(``python -m harness._lm_eval_hook [--uninstall]`` works too, with a harmless runpy warning once the ``.pth``
is in place, since the hook module is then already imported at start-up.)

Without the ``.pth``, ``python -m harness.lm_eval_cli ARGS`` does the same registration and runs lm-eval.
"""
from __future__ import annotations

import sys

MODEL_NAME = "tokenorder"
TARGET = "harness.lm_eval_model:TokenorderLM"
REGISTRY_MODULE = "lm_eval.api.registry"
PTH_NAME = "tokenorder_lm_eval.pth"
PTH_LINE = 'import sys; exec("try:\\n import harness._lm_eval_hook\\nexcept Exception:\\n pass")\n'


def register(registry=None) -> bool:
    """Return True when ``tokenorder`` is (now) in lm-eval's model registry; False if lm-eval is unusable.

    Adds the lazy placeholder unless the name is already there, then imports ``lm_eval.models`` (lm-eval's
    own lazy placeholders). Never raises."""
    try:
        if registry is None:
            import importlib
            registry = importlib.import_module(REGISTRY_MODULE)
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


class _Loader:
    """Wraps the real loader of ``lm_eval.api.registry``: runs it, then registers ``tokenorder``."""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        register(module)

    def __getattr__(self, name):  # get_source, get_resource_reader, ... of the real loader
        return getattr(self._inner, name)


class _RegistryFinder:
    """Meta-path finder that answers only for ``lm_eval.api.registry``, handing out a wrapped loader."""

    _tokenorder_lm_eval_hook = True

    def __init__(self):
        self._busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != REGISTRY_MODULE or self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if getattr(finder, "_tokenorder_lm_eval_hook", False) or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader)
                    return spec
            return None
        except Exception:
            return None  # let the normal machinery try (and report) on its own
        finally:
            self._busy = False

    def invalidate_caches(self):
        pass


def install_finder() -> bool:
    """Return True after making sure the finder is on ``sys.meta_path`` (registers at once if lm-eval's
    registry is already imported)."""
    if not any(getattr(f, "_tokenorder_lm_eval_hook", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegistryFinder())
    mod = sys.modules.get(REGISTRY_MODULE)
    if mod is not None:
        register(mod)
    return True


def site_packages() -> str:
    """Return this interpreter's site-packages directory (purelib)."""
    import sysconfig
    return sysconfig.get_paths()["purelib"]


def install(site_dir: str | None = None) -> str:
    """Return the path of the ``.pth`` file written into ``site_dir`` (default: this interpreter's
    site-packages) that installs the hook at every interpreter start."""
    from pathlib import Path
    path = Path(site_dir or site_packages()) / PTH_NAME
    if not path.exists() or path.read_text() != PTH_LINE:
        tmp = path.with_suffix(".pth.tmp")
        tmp.write_text(PTH_LINE)
        tmp.replace(path)
    return str(path)


def uninstall(site_dir: str | None = None) -> str | None:
    """Return the path of the removed ``.pth`` file, or None when there was none."""
    from pathlib import Path
    path = Path(site_dir or site_packages()) / PTH_NAME
    if path.exists():
        path.unlink()
        return str(path)
    return None


def main(argv=None) -> int:
    """Command-line entry point (install or remove the ``.pth``); returns the exit code."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m harness._lm_eval_hook",
                                description="install the lm-eval 'tokenorder' model hook (.pth)")
    p.add_argument("--site-dir", default=None, help="site-packages to write into (default: this python's)")
    p.add_argument("--uninstall", action="store_true", help="remove the .pth instead")
    a = p.parse_args(argv)
    if a.uninstall:
        print(uninstall(a.site_dir) or "not installed")
    else:
        print(install(a.site_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
else:
    try:
        install_finder()
    except Exception:  # never break the importer (this runs at interpreter start via the .pth)
        pass
