#!/usr/bin/env bash
# Create or reuse the project's virtual environment and install what it needs; prints the python to use.
# Usage: scripts/ensure_env.sh [EXTRAS]   (EXTRAS e.g. "test"; default none)
# - Reuses ./.venv (or $TOKENORDER_VENV). Rebuilt only when pyproject.toml or the extras change.
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
want="$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16)-$extras"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  if ! "$py" -c "import torch" >/dev/null 2>&1; then
    log "installing torch==2.13.0"
    "$py" -m pip install -q --disable-pip-version-check "torch==2.13.0" >&2
  fi
  spec="$root"
  [ -n "$extras" ] && spec="$root[$extras]"
  log "installing tokenorder${extras:+[$extras]} (editable)"
  "$py" -m pip install -q --disable-pip-version-check -e "$spec" >&2
  echo "$want" > "$stamp"
fi
# Nothing of the project may run at interpreter start-up: remove the lm-eval .pth hook that older versions
# of this script installed (use `python -m harness.integrations.lm_eval_cli` / `tokenorder-lm-eval` instead).
find "$venv/lib" -maxdepth 3 -name tokenorder_lm_eval.pth -path "*site-packages*" -delete 2>/dev/null || true
echo "$py"
