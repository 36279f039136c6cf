#!/usr/bin/env bash
# Create or reuse the project's virtual environment and install what it needs; prints the python to use.
# Usage: scripts/ensure_env.sh [EXTRAS]   (EXTRAS e.g. "test"; default none)
# - Reuses ./.venv (or $TOKENORDER_VENV). Reinstalls only when pyproject.toml changes or an extra is missing.
# - Installs the project's dependencies, not the project: run it from the checkout's root (`python -m ...`).
# - If the python that creates the venv already has torch (e.g. a CUDA build on a GPU machine), the venv
#   sees it (--system-site-packages) and keeps it. Otherwise it installs torch==2.13.0, which on this
#   project's CPU machines is a local CPU wheel (seconds) instead of a multi-GB CUDA download.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
venv="${TOKENORDER_VENV:-$root/.venv}"
base_python="${PYTHON:-python3}"
log() { echo "[env] $*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
  if "$base_python" -c "import torch" >/dev/null 2>&1; then
    log "creating $venv (keeping the torch of $base_python: $("$base_python" -c 'import torch; print(torch.__version__)'))"
    "$base_python" -m venv --system-site-packages "$venv"
  else
    log "creating $venv"
    "$base_python" -m venv "$venv"
  fi
fi
py="$venv/bin/python"
stamp="$venv/.tokenorder-stamp"
hash="$(sha256sum < "$root/pyproject.toml" | cut -c1-16)"
have_hash=""; have_extras=""
if [ -f "$stamp" ]; then read -r have_hash have_extras < "$stamp" || true; fi
missing=""
for e in ${extras//,/ }; do
  case ",$have_extras," in *",$e,"*) ;; *) missing="$missing $e" ;; esac
done
if [ "$have_hash" != "$hash" ] || [ -n "$missing" ]; then
  if ! "$py" -c "import torch" >/dev/null 2>&1; then
    log "installing torch==2.13.0"
    "$py" -m pip install -q --disable-pip-version-check "torch==2.13.0" >&2
  fi
  all="$extras"
  [ "$have_hash" = "$hash" ] && all="$have_extras${have_extras:+${extras:+,}}$extras"
  # The project itself is not installed: every command runs from this checkout's root (`python -m ...`), so
  # each checkout imports its own code and no .pth start-up hook is written. `pip install .` where you want
  # the console scripts (tokenorder-run, tokenorder-report, tokenorder-lm-eval) in an environment of yours.
  mapfile -t deps < <("$py" - "$root/pyproject.toml" "$all" <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
deps = list(project["dependencies"])
for extra in filter(None, sys.argv[2].split(",")):
    deps += project["optional-dependencies"][extra]
print("\n".join(dict.fromkeys(deps)))
PY
)
  log "installing the dependencies of pyproject.toml${all:+ with extras [$all]}"
  "$py" -m pip install -q --disable-pip-version-check "${deps[@]}" >&2
  if "$py" -m pip show -q tokenorder >/dev/null 2>&1; then
    log "removing the installed copy of tokenorder (older versions of this script installed it in editable mode)"
    "$py" -m pip uninstall -q -y --disable-pip-version-check tokenorder >&2
  fi
  echo "$hash $all" > "$stamp"
fi
# Nothing of the project may run at interpreter start-up: remove the lm-eval .pth hook that older versions
# of this script installed (use `python -m harness.integrations.lm_eval_cli` / `tokenorder-lm-eval` instead).
find "$venv/lib" -maxdepth 3 -name tokenorder_lm_eval.pth -path "*site-packages*" -delete 2>/dev/null || true
echo "$py"
