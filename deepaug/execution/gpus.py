"""Placing the local workers' trials on GPUs.

Without placement, every TensorFlow process on a GPU host maps every visible card and
reserves nearly all its memory, so a second worker fails or crawls. The local executor
therefore gives each worker one card (``CUDA_VISIBLE_DEVICES``, round robin over the
visible ones) and turns on memory growth (``TF_FORCE_GPU_ALLOW_GROWTH``), so that
`trials_per_gpu` workers can share a card, each taking the memory it needs rather than
all of it. With no GPU visible nothing changes.

GPUs are found without starting TensorFlow in the driver: ``CUDA_VISIBLE_DEVICES`` when it
is set (the ids it lists; empty or -1: none), else ``nvidia-smi`` when it is installed.

>>> worker_gpu_env(3, ["0", "1"])["CUDA_VISIBLE_DEVICES"]
'1'
>>> worker_gpu_env(0, [])
{}
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
from typing import Mapping, Sequence

log = logging.getLogger(__name__)

def visible_gpus(env: Mapping[str, str] | None = None) -> list[str]:
    """The ids of the GPUs this process may use (see the module docstring); [] on a CPU host."""
    env = os.environ if env is None else env
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [part.strip() for part in listed.split(",") if part.strip()]
        return [] if not ids or ids[0] == "-1" else ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi could not list the GPUs (%s); trials run on the CPU", exc)
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def worker_gpu_env(index: int, gpus: Sequence[str]) -> dict[str, str]:
    """The environment of local worker `index`: its one GPU (round robin) with memory growth on."""
    if not gpus:
        return {}
    return {"CUDA_VISIBLE_DEVICES": gpus[index % len(gpus)], "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def gpu_workers(gpus: Sequence[str], trials_per_gpu: int) -> int:
    """How many local workers a GPU host runs when the config does not say: trials_per_gpu per card."""
    return max(1, len(gpus) * max(1, int(trials_per_gpu)))
