"""One contract every executor passes, plus the local pool's fault handling.

Real trainings (1-2 epochs on 120 16x16 images); the local pool spawns real worker
processes with their own TensorFlow. A worker is killed with SIGKILL to test retries.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from _k8s import contract_executor
from _search import toy_data
from deepaug import Policy
from deepaug.datasets import from_arrays, split_train_val
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState
from deepaug.processes import threads_per_worker

pytest.importorskip("tensorflow")

from deepaug.execution.executors import InlineExecutor  # noqa: E402
from deepaug.search.executor import make_executor  # noqa: E402
from deepaug.execution.local_pool import LocalExecutor  # noqa: E402
from deepaug.training.train import TrainingConfig  # noqa: E402

ROT = Policy.from_list([[("rotate", 0.8, 0.3), ("cutout", 0.5, 0.3)]])
FLIP = Policy.from_list([[("horizontal-flip", 0.5, 0.0), ("contrast", 0.5, 0.4)]])


def context(tmp_path, model: str = "basiccnn", **overrides) -> TrialContext:
    x, y = toy_data()
    train, val = split_train_val(from_arrays(x, y), 120, 60, seed=0)
    values = dict(model=model, child_epochs=1, child_batch_size=32, opt_samples=2, opt_last_n_epochs=1,
                  child_models_dir=str(tmp_path / "child_models"))
    return TrialContext(train, val, TrainingConfig(**{**values, **overrides}))


EXECUTORS = {
    "inline": lambda ctx, updates: InlineExecutor(ctx, updates.append),
    "local": lambda ctx, updates: LocalExecutor(ctx, updates.append, workers=2),
    # Jobs on kmock's API emulator; tests/_k8s.py plays the Job controller, pods are local processes
    "kubernetes": lambda ctx, updates: contract_executor(ctx, updates),
}


@pytest.fixture(params=sorted(EXECUTORS))
def kind(request):
    return request.param


def run_all(executor, specs, resume=None) -> dict[int, TrialRecord]:
    for spec in specs:
        executor.submit(spec, (resume or {}).get(spec.number))
    out: dict[int, TrialRecord] = {}
    try:
        while len(out) < len(specs):
            for record in executor.wait():
                assert record.number not in out, "a trial came back twice"
                out[record.number] = record
    finally:
        executor.close()
    return out


def test_every_submitted_trial_comes_back_once_with_its_updates(tmp_path, kind):
    updates: list[TrialRecord] = []
    specs = [TrialSpec(0, None, 5, "baseline"), TrialSpec(1, ROT, 6), TrialSpec(2, FLIP, 7)]
    records = run_all(EXECUTORS[kind](context(tmp_path), updates), specs)
    assert sorted(records) == [0, 1, 2]
    for spec in specs:
        record = records[spec.number]
        assert record.state is TrialState.COMPLETE and 0 <= record.reward <= 1
        assert record.seed == spec.seed and record.policy_object() == spec.policy and record.kind == spec.kind
        mine = [u for u in updates if u.number == spec.number]
        assert [len(u.histories) for u in mine] == [0, 1, 2, 2]  # started, each training, finished
        assert [u.state for u in mine][-1] is TrialState.COMPLETE and mine[-1] == record


def test_a_trial_that_raises_comes_back_failed_with_its_error(tmp_path, kind):
    good = context(tmp_path)
    bad = TrialContext(good.train, good.val, good.config, initial_weights=str(tmp_path / "missing.weights.npz"))
    records = run_all(EXECUTORS[kind](bad, []), [TrialSpec(1, ROT, 6)])
    assert records[1].state is TrialState.FAILED and "missing.weights.npz" in records[1].error


def test_a_storage_outage_is_not_the_trial_failing(tmp_path):
    # a record that cannot be stored (a service down) propagates, so that the worker or pod
    # is retried, instead of the trial being recorded FAILED and dropped from the search
    from deepaug.execution.trials import run_spec
    from deepaug.storage.base import StorageError

    def store(record):
        if record.histories:
            raise StorageError("s3://bucket/record.json: the service did not answer after 3 attempts")

    with pytest.raises(StorageError, match="did not answer"):
        run_spec(TrialSpec(1, ROT, 6), context(tmp_path, opt_samples=1), store)


def test_an_interrupted_trial_keeps_its_finished_trainings(tmp_path, kind):
    first = run_all(InlineExecutor(context(tmp_path, opt_samples=1)), [TrialSpec(1, ROT, 6)])[1]
    partial = TrialRecord.running(TrialSpec(1, ROT, 6), first.model).with_training(first.histories[0])
    updates: list[TrialRecord] = []
    record = run_all(EXECUTORS[kind](context(tmp_path), updates), [TrialSpec(1, ROT, 6)], {1: partial})[1]
    assert record.state is TrialState.COMPLETE and record.histories[0] == first.histories[0]
    assert [len(u.histories) for u in updates] == [1, 2, 2]  # only the second training ran


def test_cancel_stops_trials_in_flight(tmp_path, kind):
    executor = EXECUTORS[kind](context(tmp_path, child_epochs=50), [])
    executor.submit(TrialSpec(1, ROT, 6))
    executor.cancel()
    executor.close()


# ---------------------------------------------------------------- the local pool

def test_a_killed_worker_is_replaced_and_its_trial_retried_from_its_last_training(tmp_path):
    updates: list[TrialRecord] = []
    killed: list[int] = []

    def kill_after_first_training(record: TrialRecord) -> None:
        updates.append(record)
        if len(record.histories) == 1 and not killed:
            killed.append(executor.worker_pids()[0])
            os.kill(killed[0], signal.SIGKILL)

    executor = LocalExecutor(context(tmp_path), kill_after_first_training, workers=1)
    record = run_all(executor, [TrialSpec(1, ROT, 6)])[1]
    assert killed and record.state is TrialState.COMPLETE and len(record.histories) == 2
    first = next(u for u in updates if len(u.histories) == 1)
    assert record.histories[0] == first.histories[0]  # the finished training was kept, not redone
    assert [len(u.histories) for u in updates] == [0, 1, 1, 2, 2]  # started, trained, retried, trained, done


def test_a_trial_whose_worker_keeps_dying_is_recorded_as_failed(tmp_path):
    killed: list[int] = []

    def kill_at_start(record: TrialRecord) -> None:
        if record.state is TrialState.RUNNING:
            killed.append(executor.worker_pids()[0])
            os.kill(killed[-1], signal.SIGKILL)

    executor = LocalExecutor(context(tmp_path, child_epochs=20), kill_at_start, workers=1, max_retries=1)
    record = run_all(executor, [TrialSpec(1, ROT, 6)])[1]
    assert len(set(killed)) == 2
    assert record.state is TrialState.FAILED and "died" in record.error and "2 times" in record.error


def test_threads_are_shared_fairly():
    assert threads_per_worker(2, cpus=2) == 1 and threads_per_worker(2, cpus=8) == 4
    assert threads_per_worker(16, cpus=2) == 1


def test_make_executor_picks_the_pool_and_falls_back_inline_for_models_that_cannot_travel(tmp_path):
    ctx = context(tmp_path)
    assert isinstance(make_executor("local", ctx, None, 2), LocalExecutor)
    assert isinstance(make_executor("inline", ctx), InlineExecutor)


def test_a_user_script_without_a_main_guard_runs_on_the_pool(tmp_path):
    """multiprocessing's spawn would re-run this script in every worker; our workers do not."""
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    script = tmp_path / "search.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(tests)!r})\n"
        "from _search import tiny_config, toy_data\nfrom pathlib import Path\nfrom deepaug import DeepAugment\n"
        "x, y = toy_data()\n"
        f"config = tiny_config(Path({str(tmp_path)!r}), executor='local', workers=2)\n"
        "print('RUNS', len(DeepAugment(x, y, config).optimize(2)))\n")
    env = {**os.environ, "PYTHONPATH": str(tests.parent), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("RUNS 2") == 1  # the script ran once, not once more per worker


def test_two_trials_that_end_in_the_same_poll_both_come_back(tmp_path, monkeypatch):
    """The pool reads every worker with a message ready at once; a second "done" must not be dropped
    (it was once: its worker stayed busy and the search waited for it forever)."""
    import deepaug.execution.local_pool as local_pool

    class Idle:  # a worker that has sent its last message
        def __init__(self, number):
            self.number, self.dead = number, False

    specs = [TrialSpec(1, ROT, 6), TrialSpec(2, FLIP, 7)]
    done = [("done", TrialRecord.running(spec, "basiccnn").to_dict()) for spec in specs]
    executor = LocalExecutor(context(tmp_path), workers=2)
    executor._started, executor._workers = True, [Idle(1), Idle(2)]  # no processes: only wait()'s bookkeeping
    messages = [list(zip(executor._workers, done))]
    monkeypatch.setattr(local_pool, "receive_any", lambda workers, *a: messages.pop() if messages else [])
    assert sorted(r.number for r in executor.wait()) == [1, 2]
    assert [w.number for w in executor._workers] == [None, None]
