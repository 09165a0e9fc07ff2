#!/usr/bin/env bash
# Build deepaug's two worker images from k8s/Dockerfile (see k8s/README.md):
#   deepaug-augment:<version>  EXTRAS=s3,queue      the augment Job's pods (no TensorFlow)
#   deepaug:<version>          EXTRAS=cpu,s3,queue  the trial Jobs' pods (and `deepaug run`)
# (queue: redis-py, so that either runs `deepaug augment --queue redis://...`)
# Idempotent and quick when nothing changed (Docker's layer cache; the pinned dependencies
# are a layer of their own, so a change to deepaug's code reinstalls deepaug alone).
#
# Run as root it installs what it needs (Debian's docker.io, and debootstrap for the base
# image), and starts dockerd when no daemon answers (`--iptables=false --bridge=none`, its
# log in $DOCKERD_LOG); a daemon it started is stopped when it exits, unless --keep-daemon
# (then the container tests, tests/containers/, can use it; they start one themselves too).
# A daemon that was running already is never stopped.
#
# Base image: $DEEPAUG_BASE_IMAGE if set; else python:3.11-slim-bookworm when it is here or
# can be pulled; else a local one, deepaug-base:bookworm, made without any registry
# (`debootstrap --variant=minbase bookworm` with Debian's python3 and python3-venv, then
# `docker import`), which carries this machine's CA certificates so that pip inside the build
# reaches the package index through a TLS-intercepting proxy.
#
# Options: --keep-daemon; --only augment|trial; --no-cache (rebuild every layer); --if-built: only
# bring images built before up to date (nothing when either is missing: what scripts/test.sh runs, so
# CI never builds them from nothing). Environment: DEEPAUG_AUGMENT_IMAGE and
# DEEPAUG_IMAGE (the tags), DEEPAUG_BASE_IMAGE, DEBIAN_MIRROR, DOCKERD_LOG.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

keep_daemon=0
only=""
if_built=0
cache=()
while [ $# -gt 0 ]; do
    case "$1" in
        --keep-daemon) keep_daemon=1 ;;
        --only) only="${2:?--only needs augment or trial}"; shift ;;
        --if-built) if_built=1 ;;
        --no-cache) cache=(--no-cache) ;;
        *) echo "build-image: unknown option $1 (options: --keep-daemon, --only augment|trial, --no-cache, --if-built)" >&2
           exit 2 ;;
    esac
    shift
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)"
AUGMENT_IMAGE="${DEEPAUG_AUGMENT_IMAGE:-deepaug-augment:$version}"
TRIAL_IMAGE="${DEEPAUG_IMAGE:-deepaug:$version}"
REGISTRY_BASE=python:3.11-slim-bookworm  # the Dockerfile's default BASE
LOCAL_BASE=deepaug-base:bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/deepaug-dockerd.log}"
export DOCKER_BUILDKIT=0  # the classic builder: Debian's docker.io ships no buildx plugin

say() { echo "build-image: $*"; }

# ---------------------------------------------------------------- what it needs
if [ "$if_built" = 1 ] && ! { command -v dockerd >/dev/null || docker info >/dev/null 2>&1; }; then
    exit 0  # no Docker engine here: no images built before
fi
if [ "$(id -u)" = 0 ] && [ "$if_built" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi
command -v docker >/dev/null || { echo "build-image: no docker command; install Docker (Debian: docker.io)" >&2; exit 1; }

# ---------------------------------------------------------------- the daemon
started_pid=""
stop_daemon() {
    if [ -n "$started_pid" ]; then
        say "stopping the dockerd this script started (pid $started_pid)"
        kill "$started_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$started_pid" 2>/dev/null || break; sleep 0.1; done
    fi
}
if ! docker info >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
        [ "$if_built" = 0 ] || { say "no Docker daemon answers; images not checked"; exit 0; }
        echo "build-image: no Docker daemon answers; start one (or run this script as root to start it)" >&2
        exit 1
    fi
    say "starting dockerd (log: $DOCKERD_LOG)"
    dockerd --iptables=false --bridge=none >>"$DOCKERD_LOG" 2>&1 &
    started_pid=$!
    [ "$keep_daemon" = 1 ] || trap stop_daemon EXIT
    for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { echo "build-image: dockerd did not start; see $DOCKERD_LOG" >&2; exit 1; }
fi

# ---------------------------------------------------------------- the base image
have() { docker image inspect "$1" >/dev/null 2>&1; }
if [ "$if_built" = 1 ] && ! { have "$AUGMENT_IMAGE" && have "$TRIAL_IMAGE"; }; then
    say "$AUGMENT_IMAGE or $TRIAL_IMAGE was never built here; not building them now (bash scripts/build-image.sh does)"
    exit 0
fi
make_local_base() {
    command -v debootstrap >/dev/null || { echo "build-image: no debootstrap (run as root, or apt-get install debootstrap)" >&2; exit 1; }
    local root
    root="$(mktemp -d /var/tmp/deepaug-base.XXXXXX)"
    say "making $LOCAL_BASE: debootstrap --variant=minbase bookworm with python3 (a few minutes, once)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$DEBIAN_MIRROR" \
        >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; echo "build-image: debootstrap failed; log: $root.log" >&2; exit 1; }
    # this machine's CA bundle (a TLS-intercepting proxy's CA included), for pip inside the build
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/locale/*
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$LOCAL_BASE" >/dev/null
    rm -rf "$root" "$root.log"
}
if [ -n "${DEEPAUG_BASE_IMAGE:-}" ]; then
    base="$DEEPAUG_BASE_IMAGE"
elif have "$REGISTRY_BASE"; then
    base="$REGISTRY_BASE"
elif have "$LOCAL_BASE"; then
    base="$LOCAL_BASE"
elif timeout 60 docker pull -q "$REGISTRY_BASE" >/dev/null 2>&1; then
    base="$REGISTRY_BASE"
else
    say "$REGISTRY_BASE cannot be pulled (no registry reachable)"
    make_local_base
    base="$LOCAL_BASE"
fi

# ---------------------------------------------------------------- the images
build() {  # tag extras
    local start log
    start=$(date +%s)
    log="$(mktemp /tmp/deepaug-build.XXXXXX.log)"
    if ! docker build "${cache[@]}" --network host -f k8s/Dockerfile --build-arg "BASE=$base" --build-arg "EXTRAS=$2" \
            -t "$1" . >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "build-image: building $1 failed; the whole log is in $log" >&2
        exit 1
    fi
    rm -f "$log"
    say "$1 (EXTRAS=$2, base $base): $(docker image inspect --format '{{.Size}}' "$1" |
        awk '{printf "%.2f GB", $1 / 1e9}') in $(( $(date +%s) - start )) s"
}
[ "$only" = trial ] || build "$AUGMENT_IMAGE" s3,queue
[ "$only" = augment ] || build "$TRIAL_IMAGE" cpu,s3,queue
