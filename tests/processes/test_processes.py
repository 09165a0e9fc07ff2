"""The worker-process layer both local pools stand on (`deepaug.processes`), with a tiny echo worker."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import deepaug
from deepaug.processes import (
    WorkerProcess,
    default_workers,
    exit_reason,
    pickled,
    receive_any,
    start_workers,
    stopping,
    thread_env,
    threads_per_worker,
)
from deepaug.processes.spawning import PACKAGE_ROOT

# Answers (its greeting, deepaug's file, whether a module of deepaug/ imports as a top-level one), then echoes.
ECHO = """
import importlib.util, sys
import deepaug
from deepaug.processes import tasks, worker_pipes

rx, tx = worker_pipes()
greeting = rx.recv()
tx.send((greeting, deepaug.__file__, importlib.util.find_spec("images") is not None))
for task in tasks(rx):
    if task == "exit 3":
        sys.exit(3)
    tx.send(task)
"""


@pytest.fixture
def echo(tmp_path, monkeypatch) -> str:
    (tmp_path / "echo_worker.py").write_text(ECHO)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return "echo_worker"


def test_workers_import_the_parents_deepaug_and_no_module_of_its_folder_as_their_own(echo):
    assert (Path(PACKAGE_ROOT) / "deepaug" / "__init__.py").is_file()
    workers = start_workers(2, lambda i: WorkerProcess(echo, thread_env(1)), [pickled("hello")])
    with stopping(workers):
        answers = {}
        while len(answers) < 2:
            answers.update((w.pid, m) for w, m in receive_any(workers))
    assert sorted(answers.values()) == [("hello", deepaug.__file__, False)] * 2
    assert all(not w.alive() and w.process.returncode == 0 for w in workers)  # asked to stop, they exited


def test_a_worker_that_exits_ends_its_messages_and_stopping_kills_on_an_error(echo):
    workers = start_workers(2, lambda i: WorkerProcess(echo, {}), [pickled("hi")])
    with pytest.raises(KeyError), stopping(workers):
        for worker in workers:
            assert worker.receive()[0] == "hi"
        workers[0].send("exit 3")
        assert workers[0].receive() is None and workers[0].wait() == 3
        assert workers[1].send("ping") and workers[1].receive() == "ping"
        raise KeyError("the pool's own error")
    assert workers[1].process.returncode == -signal.SIGKILL


def test_exit_reasons_and_worker_counts():
    assert exit_reason(None) == "still running" and exit_reason(1) == "exit code 1"
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL (killed, or out of memory)"
    assert threads_per_worker(2, cpus=2) == 1 and threads_per_worker(2, cpus=8) == 4
    assert threads_per_worker(16, cpus=2) == 1
    assert 1 <= default_workers() <= 8
    assert thread_env(2)["OMP_NUM_THREADS"] == "2"


def test_the_old_module_path_gives_the_names_with_a_warning():
    from deepaug.processes import spawning

    with pytest.warns(DeprecationWarning, match="moved to deepaug.processes.spawning.spawn"):
        from deepaug.execution.processes import spawn
    assert spawn is spawning.spawn


def test_workers_find_a_checkout_first_but_leave_site_packages_in_its_place(tmp_path):
    import site

    from deepaug.processes.spawning import worker_pythonpath

    checkout = str(tmp_path)
    assert worker_pythonpath(None, checkout) == checkout
    assert worker_pythonpath("/opt/mine", checkout) == os.pathsep.join([checkout, "/opt/mine"])
    installed = site.getsitepackages()[0]  # deepaug installed as a wheel: the workers search it anyway
    assert worker_pythonpath(None, installed) is None
    assert worker_pythonpath("/opt/mine", installed) == "/opt/mine"
