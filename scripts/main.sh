#!/usr/bin/env bash
# Set everything up (see setup.sh), then run deepaug's main job on its embedded default:
# a small real policy search on Fashion-MNIST, then the augmentation of the whole training
# split with the best policy found (`deepaug run` with the built-in `quickstart` config, a
# few minutes on 2 CPU cores). It prints the top policies, the report's path and the
# augmented dataset's. Running it again resumes/reuses the same experiment
# (reports/experiments/quickstart) and dataset. Extra arguments go to `deepaug run`
# (e.g. --iterations 30, --config my_run.yaml with an `augment:` section).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
config=(--config quickstart)
for arg in "$@"; do
  if [[ "$arg" == --config || "$arg" == --config=* ]]; then config=(); fi
done
exec .venv/bin/deepaug run "${config[@]}" "$@"
