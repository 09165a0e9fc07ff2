#!/usr/bin/env bash
# Set everything up (see setup.sh), then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
