"""TensorFlow's C++ log lines from trial workers: dropped below the level in effect, everything else relayed."""
from __future__ import annotations

import logging

import pytest

from deepaug.processes import WorkerProcess, keep_line, pickled, start_workers, stopping, worker_log_level

# Lines as TensorFlow 2.21 writes them before absl's logging starts (TF_CPP_MIN_LOG_LEVEL cannot hide them).
ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN = ("I0000 00:00:1796559537.345317   25648 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results due to floating-point round-off errors.")
CUDNN = ("E0000 00:00:1796559537.389097   25648 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting "
         "to register factory for plugin cuDNN when one has already been registered")
WARN = "W0000 00:00:1796559537.389097   25648 external/local_xla/xla/tsl/lib/monitoring/collection_registry.cc:81] x"
FATAL = "F0000 00:00:1796559537.389097   25648 logging.cc:60] Check failed: ok"
OWN = ["Traceback (most recent call last):", "UserWarning: I0000 looks like a log line but is not",
       "2026-01-01 12:00:00 WARNING deepaug.training: a Python log line"]

# A worker that writes those lines to its stderr (fd 2, as the C++ runtime does), then answers.
NOISY = f"""
import os
from deepaug.processes import tasks, worker_pipes

rx, tx = worker_pipes()
rx.recv()
os.write(2, {"".join(line + chr(10) for line in [ABSL, ONEDNN, WARN, CUDNN, FATAL, *OWN]).encode()!r})
tx.send("written")
for task in tasks(rx):
    pass
"""


def test_the_level_hides_info_and_warnings_by_default_and_errors_at_3_never_fatal_or_python_lines():
    assert [keep_line(2)(line) for line in (ABSL, ONEDNN, WARN, CUDNN, FATAL, *OWN)] == [
        False, False, False, True, True, True, True, True]
    assert [keep_line(3)(line) for line in (ONEDNN, CUDNN, FATAL)] == [False, False, True]
    assert all(keep_line(0)(line) for line in (ABSL, ONEDNN, WARN, CUDNN))
    assert keep_line(1)(WARN) and not keep_line(1)(ONEDNN) and not keep_line(1)(ABSL)


def test_the_users_level_wins_then_deepaugs_debug_logging_shows_everything():
    logger = logging.getLogger("deepaug")
    before = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert worker_log_level({}) == 2 and worker_log_level({"TF_CPP_MIN_LOG_LEVEL": "junk"}) == 2
        assert worker_log_level({"TF_CPP_MIN_LOG_LEVEL": "0"}) == 0
        logger.setLevel(logging.DEBUG)  # what deepaug -v sets
        assert worker_log_level({}) == 0 and worker_log_level({"TF_CPP_MIN_LOG_LEVEL": "3"}) == 3
    finally:
        logger.setLevel(before)


@pytest.mark.parametrize("level, shown", [(2, [CUDNN, FATAL, *OWN]), (0, [ABSL, ONEDNN, WARN, CUDNN, FATAL, *OWN])])
def test_a_workers_stderr_reaches_the_parent_without_the_lines_below_the_level(tmp_path, monkeypatch, capsys,
                                                                               level, shown):
    (tmp_path / "noisy_worker.py").write_text(NOISY)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    workers = start_workers(1, lambda i: WorkerProcess("noisy_worker", {}, keep_stderr=keep_line(level)),
                            [pickled("go")])
    with stopping(workers):
        assert workers[0].receive() == "written"
    workers[0].relay.join(timeout=10)
    assert not workers[0].relay.is_alive()  # it ends with the worker's stderr
    assert capsys.readouterr().err.splitlines() == shown
