#!/usr/bin/env bash
# Set up deepaug on a fresh machine: Debian packages (when run as root), a virtual
# environment in .venv/, and every Python package at its pinned version.
# Idempotent and quick when nothing changed. Sourced by main.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# dev brings what the tests need beyond the extras: CPU torch (deepaug.torch, Keras's torch backend),
# JAX (Keras's JAX backend) and mlflow-skinny (MLflowLogger's test). torch==2.13.0+cpu
# (requirements/constraints.txt) is the CPU build: pip finds it where its config has the wheel (here
# /opt/wheels) or the PyTorch CPU index (PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
# A fresh set-up took 134 s instead of 89 s (2 busy cores, warm pip cache; .venv 3.7 GB instead of 2.6 GB).
EXTRAS="${DEEPAUG_EXTRAS:-cpu,s3,k8s,bench,dev}"
DEBIAN_PACKAGES=(dataset-fashion-mnist redis-server chromium shellcheck)  # redis-server: the queue-mode tests; chromium: the HTML report test (headless); shellcheck: the shell scripts' lint test

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi

# Reinstall only when the pins, the package metadata or the extras changed.
stamp=.venv/.deepaug-installed
want="$(cat requirements/constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1) $EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing pinned packages into .venv (extras: $EXTRAS)"
    log=.venv/install.log
    if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade "pip>=23" &&
           .venv/bin/python -m pip install --disable-pip-version-check \
               -c requirements/constraints.txt -e ".[$EXTRAS]"; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "setup: pip install failed; the whole log is in $log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
