#!/usr/bin/env bash
# Set everything up (see setup.sh), then run deepaug's main job on its embedded default:
# a small real policy search on Fashion-MNIST (the built-in `quickstart` config, a few
# minutes on 2 CPU cores). It prints the top policies and the path of the report.
# Running it again resumes/reuses the same experiment (reports/experiments/quickstart).
# Extra arguments go to `deepaug optimize` (e.g. --iterations 30, --config my_run.yaml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
config=(--config quickstart)
for arg in "$@"; do
  if [[ "$arg" == --config || "$arg" == --config=* ]]; then config=(); fi
done
exec .venv/bin/deepaug optimize "${config[@]}" "$@"
