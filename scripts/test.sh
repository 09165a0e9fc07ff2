#!/usr/bin/env bash
# Set everything up (see setup.sh), then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2
# The container tests (tests/containers, marker `container`) run the worker images in Docker; without
# Docker or the images they skip and say why. Images built on this machine before (bash
# scripts/build-image.sh) are brought up to date first: 1-15 s when nothing changed, about 30 s after a
# change to deepaug (docs/benchmarks.md, "Worker images"). DEEPAUG_CONTAINER_TESTS=0 leaves them out;
# =1 builds the images even when they were never built (4-6 minutes the first time).
case "${DEEPAUG_CONTAINER_TESTS:-auto}" in
    0) set -- -m "not container" "$@" ;;
    1) bash scripts/build-image.sh ;;
    *) if command -v docker >/dev/null && { [ "$(id -u)" = 0 ] || docker info >/dev/null 2>&1; }; then
           bash scripts/build-image.sh --if-built ||
               echo "test: bringing the worker images up to date failed; the container tests will skip" >&2
       fi ;;
esac
# One pytest process per core (2 here), whole files to each (--dist loadfile: module fixtures
# stay in one process); DEEPAUG_TEST_WORKERS=0 runs everything in this process.
workers="${DEEPAUG_TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
