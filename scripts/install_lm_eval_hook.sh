#!/usr/bin/env bash
# Install the lm-eval "tokenorder" model hook: writes tokenorder_lm_eval.pth into the venv's site-packages so
# the stock `lm_eval --model tokenorder ...` works. Idempotent; prints the .pth path.
# Usage: scripts/install_lm_eval_hook.sh [PYTHON]   (default: $TOKENORDER_VENV/bin/python or ./.venv/bin/python)
#        scripts/install_lm_eval_hook.sh [PYTHON] --uninstall
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${TOKENORDER_VENV:-$root/.venv}/bin/python"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then py="$1"; shift; fi
cd "$root"
if [ "${1:-}" = "--uninstall" ]; then
  exec "$py" -c 'import harness._lm_eval_hook as h; print(h.uninstall() or "not installed")'
fi
exec "$py" -c 'import harness._lm_eval_hook as h; print(h.install())'
