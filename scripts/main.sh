#!/usr/bin/env bash
# Set everything up (see setup.sh), then run deepaug's main job on its embedded default.
# Until the search lands this is the demo: real Fashion-MNIST, the reference policy, and
# a PNG grid of originals next to augmented images. Extra arguments go to `deepaug demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/deepaug demo "$@"
