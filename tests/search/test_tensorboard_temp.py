"""TensorBoard's local folder for an experiment on S3: a search killed with SIGKILL leaves it behind,
and the next search's start removes it (its owner is gone), never the folder of a search still running.

The searches are real processes that open the TensorBoard logger as a search does (its
`on_search_begin` with an experiment on a moto S3 server on loopback) and wait; one is SIGKILLed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401

from deepaug.search.callbacks import TensorBoardLogger
from deepaug.storage.backends import open_storage

pytest.importorskip("tensorboard")

TEMP_PREFIX = "deepaug-tensorboard-"  # the folders in TMPDIR
REPO = Path(__file__).resolve().parents[2]
SEARCH = """
import sys, time, types
from deepaug.search.callbacks import TensorBoardLogger
from deepaug.storage.backends import open_storage
logger = TensorBoardLogger()
logger.on_search_begin(types.SimpleNamespace(local=None, store=open_storage(sys.argv[1])))
print(logger.log_dir, flush=True)
time.sleep(120)
"""


def _start_search(uri: str, tmpdir: Path) -> tuple[subprocess.Popen, Path]:
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-c", SEARCH, uri], env=env, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    assert line, "the search process printed no folder"
    return process, Path(line)


def _experiment(uri: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(local=None, store=open_storage(uri))


def test_a_killed_search_s_tensorboard_folder_is_removed_by_the_next_start(tmp_path, s3_bucket, monkeypatch):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    uri = f"s3://{s3_bucket}/runs/experiments/tb"
    running, live = _start_search(uri, tmpdir)
    killed, stale = _start_search(uri, tmpdir)
    try:
        assert live.parent == stale.parent == tmpdir and live.name.startswith(TEMP_PREFIX)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert stale.is_dir()  # a kill runs no clean-up: the folder is left behind

        logger = TensorBoardLogger()
        logger.on_search_begin(_experiment(uri))  # the next search's start
        assert not stale.exists()
        assert live.is_dir()  # its search still runs
        assert logger.log_dir is not None and logger.log_dir.is_dir() and logger.log_dir.parent == tmpdir
        logger.close()
        assert not logger.log_dir.exists()
    finally:
        running.kill()
        running.wait(timeout=30)
    TensorBoardLogger().on_search_begin(types.SimpleNamespace(local=tmp_path / "exp", store=None))  # any search
    assert list(tmpdir.iterdir()) == []  # the second killed search's folder is gone too
