#!/usr/bin/env bash
# Set everything up (see setup.sh), then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2
# One pytest process per core (2 here), whole files to each (--dist loadfile: module fixtures
# stay in one process); DEEPAUG_TEST_WORKERS=0 runs everything in this process.
workers="${DEEPAUG_TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
