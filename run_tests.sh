#!/usr/bin/env bash
# The test command: creates/reuses .venv with the test extras, then runs the whole CPU suite.
set -euo pipefail
cd "$(dirname "$0")"
py="$(scripts/ensure_env.sh test)"
exec "$py" -m pytest "$@"
