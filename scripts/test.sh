#!/usr/bin/env bash
# Install everything, then run the linters and the default test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k v2store`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"
ruff check src tests
echo "== mypy (strict)"
mypy
echo "== pytest (default suite)"
pytest -m "not slow and not soak" "$@"
echo "== pytest (slow suites: real systemd in nspawn, containers, simulation seeds)"
pytest -m "slow and not soak" "$@" || [ $? -eq 5 ]  # 5: no test selected
