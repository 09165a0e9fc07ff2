"""The Kubernetes executor against an emulated cluster: the real kubernetes client over HTTP.

Only the cluster is stood in for (tests/_k8s.py): kmock serves the Kubernetes API, and a
harness plays the Job controller, running each pod as a local process (`deepaug trial run`)
or, where a test is about the controller and not the training, as a quick fake pod that
exits with a code or writes a finished record. The shared volume is a tmp folder.
"""
from __future__ import annotations

import os
import json
import threading
from dataclasses import replace

import pytest

from _k8s import (Cluster, Emulator, JobController, batch_api, complete_without_training, free_port,
                  pod_log, settings, spec_of, trial_in_process, trial_of, write_kubeconfig)
from _search import tiny_config, toy_data
from deepaug import Policy
from deepaug.datasets import from_arrays, split_train_val
from deepaug.errors import InputError
from deepaug.kubernetes.client import KubernetesUnavailable
from deepaug.kubernetes.executor import KubernetesExecutor
from deepaug.storage.backends import locate, read_json, write_json
from deepaug.training.train import TrainingConfig
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState, now

pytest.importorskip("kubernetes")
pytest.importorskip("kmock")

ROT = Policy.from_list([[("rotate", 0.8, 0.3), ("cutout", 0.5, 0.3)]])


def context(tmp_path, **overrides) -> TrialContext:
    x, y = toy_data(n=120)
    train, val = split_train_val(from_arrays(x, y), 60, 30, seed=0)
    values = dict(child_epochs=1, child_batch_size=32, opt_samples=2, opt_last_n_epochs=1,
                  child_models_dir=str(tmp_path / "child_models"))
    return TrialContext(train, val, TrainingConfig(**{**values, **overrides}))


@pytest.fixture
def clusters(tmp_path):
    started: list[Cluster] = []

    def start(pod=None, kill=None) -> Cluster:
        started.append(Cluster(tmp_path / f"cluster{len(started)}", pod=pod, kill=kill))
        return started[-1]

    yield start
    for cluster in started:
        cluster.stop()


def run_all(executor, specs, resume=None) -> dict[int, TrialRecord]:
    for spec in specs:
        executor.submit(spec, (resume or {}).get(spec.number))
    out: dict[int, TrialRecord] = {}
    while len(out) < len(specs):
        out.update((r.number, r) for r in executor.wait())
    return out


def test_a_pod_that_keeps_failing_is_retried_to_the_limit_then_failed_and_the_next_trial_runs(tmp_path, clusters):
    cluster = clusters(pod=lambda job, i: 1 if trial_of(job) == 1 else complete_without_training(job, i))
    updates: list[TrialRecord] = []
    executor = KubernetesExecutor(context(tmp_path), updates.append, cluster.settings(backoff_limit=1, max_retries=1),
                                  "faulty", workers=2)
    records = run_all(executor, [TrialSpec(1, ROT, 6), TrialSpec(2, None, 7, "baseline")])
    assert records[2].state is TrialState.COMPLETE and records[2].reward == 0.5
    failed = records[1]
    assert failed.state is TrialState.FAILED and "BackoffLimitExceeded" in failed.error
    assert "gave up after 2 Job(s)" in failed.error
    assert sorted(code for _, code in cluster.controller.pods) == [0, 1, 1, 1, 1]  # 2 Jobs x (1 + backoff 1)
    assert [u.state for u in updates if u.number == 1] == [TrialState.RUNNING] * 2 + [TrialState.FAILED]
    assert len(cluster.jobs()) == 2  # the failed Jobs stay for `kubectl logs` until the search ends...
    executor.close()
    assert cluster.jobs() == []  # ...then every Job it started is gone


def test_a_user_error_is_not_retried(tmp_path, clusters):
    cluster = clusters(pod=lambda job, i: 2)
    executor = KubernetesExecutor(context(tmp_path), None, cluster.settings(backoff_limit=3, max_retries=2), "usr")
    record = run_all(executor, [TrialSpec(1, ROT, 6)])[1]
    executor.close()
    assert len(cluster.controller.pods) == 1
    assert record.state is TrialState.FAILED and "user error" in record.error and "kubectl logs" in record.error


def test_each_training_is_reported_once_even_when_polls_miss_them_and_a_crash_keeps_progress(tmp_path, clusters):
    def pod(job, index):  # trains once per pod; the first pod is then OOM killed
        store, key = locate(spec_of(job)["record"])
        record = TrialRecord.from_dict(read_json(store, key)).with_training({"val_accuracy": [0.1 * (index + 1)]})
        if index == 0:
            write_json(store, key, record.to_dict())
            return 137
        write_json(store, key, replace(record, state=TrialState.COMPLETE, reward=0.5, reward_std=0.0,
                                       sample_rewards=(0.5,), finished_at=now()).to_dict())
        return 0

    cluster = clusters(pod=pod)
    updates: list[TrialRecord] = []
    executor = KubernetesExecutor(context(tmp_path), updates.append, cluster.settings(), "progress")
    record = run_all(executor, [TrialSpec(1, ROT, 6)])[1]
    executor.close()
    assert [code for _, code in cluster.controller.pods] == [137, 0]
    assert record.state is TrialState.COMPLETE and record.histories == ({"val_accuracy": [0.1]},
                                                                        {"val_accuracy": [0.2]})
    assert [len(u.histories) for u in updates] == [0, 1, 2, 2]
    assert [u.state for u in updates] == [TrialState.RUNNING] * 3 + [TrialState.COMPLETE]


def test_an_unreachable_api_server_is_retried_with_backoff_then_a_clear_error(tmp_path):
    port = free_port()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    updates: list[TrialRecord] = []
    executor = KubernetesExecutor(context(tmp_path), updates.append,
                                  settings(tmp_path / "shared", kubeconfig, api_retries=3), "down",
                                  backoff_seconds=0.01)
    delays: list[float] = []
    executor.jobs.sleep = delays.append
    with pytest.raises(KubernetesUnavailable) as err:
        executor.submit(TrialSpec(1, ROT, 6))
    assert f"127.0.0.1:{port}" in str(err.value) and "4 time(s)" in str(err.value) and "resume" in str(err.value)
    assert delays == [0.01, 0.02, 0.04] and updates == []  # nothing reached the experiment's records
    executor.close()  # nothing was started: returns at once
    for path in (tmp_path / "shared").rglob("*.json"):
        json.loads(path.read_text())  # whatever was stored is whole


def test_an_api_server_that_comes_back_during_the_backoff_is_used(tmp_path):
    port = free_port()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    started: list = []

    def sleep(seconds: float) -> None:  # the server comes up during the second wait
        if len(started) == 0 and seconds > 0.015:
            emulator = Emulator(port)
            started.extend([emulator, JobController(batch_api(kubeconfig), tmp_path / "pods",
                                                    pod=complete_without_training)])

    executor = KubernetesExecutor(context(tmp_path), None, settings(tmp_path / "shared", kubeconfig), "back",
                                  backoff_seconds=0.01)
    executor.jobs.sleep = sleep
    try:
        record = run_all(executor, [TrialSpec(1, ROT, 6)])[1]
        executor.close()
    finally:
        for thing in reversed(started):
            thing.stop()
    assert started and record.state is TrialState.COMPLETE


def test_forbidden_is_an_input_error_naming_the_role(tmp_path, clusters):
    import kmock

    cluster = clusters()

    def forbid(request):
        raise kmock.KubernetesError(status=403, reason="Forbidden",
                                    message='jobs.batch is forbidden: User "tester" cannot create resource "jobs"')

    cluster.emulator.run(lambda: cluster.emulator.handler["post"] << forbid)
    executor = KubernetesExecutor(context(tmp_path), None, cluster.settings(), "forbidden")
    with pytest.raises(InputError, match=r"refused to create Job .*403.*k8s/rbac.yaml"):
        executor.submit(TrialSpec(1, ROT, 6))


def test_cancel_deletes_the_jobs_and_their_pods_stop(tmp_path, clusters):
    cluster = clusters()  # real pods: `deepaug trial run` processes
    executor = KubernetesExecutor(context(tmp_path, child_epochs=50), None, cluster.settings(), "cancel")
    executor.submit(TrialSpec(1, ROT, 6))
    assert _eventually(lambda: cluster.controller.running)
    process = next(iter(cluster.controller.running.values()))
    executor.cancel()
    assert cluster.jobs() == []
    assert _eventually(lambda: process.poll() is not None)
    executor.close()


def test_a_restarted_controller_follows_the_job_it_had_created(tmp_path, clusters):
    go = threading.Event()
    cluster = clusters(pod=lambda job, i: go.wait(20) and complete_without_training(job, i))
    spec = TrialSpec(1, ROT, 6)
    first = KubernetesExecutor(context(tmp_path), None, cluster.settings(), "restart")
    first.submit(spec)  # ...and the controller dies: no close, the Job keeps running
    assert _eventually(lambda: cluster.jobs())
    running = TrialRecord.running(spec, "basiccnn")
    second = KubernetesExecutor(context(tmp_path), None, cluster.settings(), "restart")
    second.submit(spec, resume_from=running)  # same Job name: followed, not created twice
    go.set()
    record = second.wait()[0]
    second.close()
    assert record.state is TrialState.COMPLETE and len(cluster.controller.pods) == 1


def test_a_rung_that_failed_runs_again_when_the_search_resumes(tmp_path, clusters):
    # the stored record is this spec's, FAILED (its Job gave up): a resumed search asks for it
    # again, and it gets a Job whose pod (its own code) trains it, not the old failure back
    cluster = clusters(pod=trial_in_process)
    spec = TrialSpec(1, ROT, 6, epochs=1, seeds=(11,))
    failed = replace(TrialRecord.running(spec, "basiccnn"), state=TrialState.FAILED, finished_at=now(),
                     error="BackoffLimitExceeded")
    key = cluster.storage / "experiments" / "again" / "trials" / "0001" / "record.json"
    write_json(*locate(str(key)), failed.to_dict())
    executor = KubernetesExecutor(context(tmp_path), None, cluster.settings(), "again")
    record = run_all(executor, [spec], {1: failed})[1]
    executor.close()
    assert record.state is TrialState.COMPLETE and len(cluster.controller.pods) == 1
    assert [h["seed"] for h in record.histories] == [11] and record.error is None
    import hashlib

    from deepaug.kubernetes.manifests import job_name

    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()
    first = job_name("again", 1, 0, f"{cluster.settings().storage}\n{digest}")  # the failed Job's name
    assert cluster.controller.pods[0][0] != first  # a leftover failed Job is not followed


@pytest.mark.slow
def test_a_pod_killed_after_its_first_training_is_replaced_and_resumes_from_it(tmp_path, clusters):
    def kill(job, index):
        if index:
            return False
        store, key = locate(spec_of(job)["record"])
        return store.exists(key) and len(read_json(store, key)["histories"]) >= 1

    cluster = clusters(kill=kill)  # real pods: `deepaug trial run` processes
    updates: list[TrialRecord] = []
    executor = KubernetesExecutor(context(tmp_path), updates.append, cluster.settings(), "killed")
    record = run_all(executor, [TrialSpec(1, ROT, 6)])[1]
    executor.close()
    job, code = cluster.controller.pods[0]
    assert code == 137  # the first pod; the second may be deleted with its Job while it exits, once its record is in
    log = pod_log(cluster.root / "pods", job, 1)
    assert "resumes after 1 finished training" in log and "trial 1 complete" in log
    assert record.state is TrialState.COMPLETE and len(record.histories) == 2
    first = next(u for u in updates if len(u.histories) == 1)
    assert record.histories[0] == first.histories[0]  # kept, not trained again
    assert cluster.jobs() == []


def test_a_search_runs_on_the_cluster_and_goes_on_after_a_failed_trial(tmp_path, clusters):
    from deepaug.search.config import SearchConfig
    from deepaug.search.loop import Search

    rewards = {0: 0.4, 1: 0.6, 3: 0.7}
    cluster = clusters(pod=lambda job, i: 1 if trial_of(job) == 2 else complete_without_training(
        job, i, rewards[trial_of(job)]))
    config = SearchConfig.from_user(tiny_config(tmp_path, executor="kubernetes", workers=2, kubernetes=cluster.settings(
        max_retries=0, backoff_limit=0).model_dump()))
    x, y = toy_data()
    records = Search(from_arrays(x, y), config, "on-k8s").run(3)
    assert [(r.number, r.state) for r in records] == [(0, TrialState.COMPLETE), (1, TrialState.COMPLETE),
                                                      (2, TrialState.FAILED), (3, TrialState.COMPLETE)]
    stored = json.loads((tmp_path / "reports/experiments/on-k8s/trials/0003/record.json").read_text())
    assert stored["reward"] == 0.7
    assert cluster.jobs() == []
    assert len(list((cluster.storage / "contexts").iterdir())) == 1  # the context went up once


def test_a_search_whose_reports_dir_is_the_shared_storage_keeps_one_copy_of_each_record(tmp_path, clusters):
    from deepaug.search.config import SearchConfig
    from deepaug.search.experiment import Experiment
    from deepaug.search.loop import Search

    cluster = clusters(pod=lambda job, i: 1 if trial_of(job) == 2 else complete_without_training(
        job, i, {0: 0.4, 1: 0.6, 3: 0.7}[trial_of(job)]))
    settings = cluster.settings(max_retries=0, backoff_limit=0)
    config = SearchConfig.from_user(tiny_config(tmp_path, executor="kubernetes", workers=2,
                                                kubernetes=settings.model_dump(), reports_dir=settings.storage))
    x, y = toy_data()
    records = Search(from_arrays(x, y), config, "shared").run(3)
    folder = cluster.storage / "experiments" / "shared"
    # the pods' records are the experiment's: one layout, one copy, the failed trial's written by the controller
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("record.json")) == [
        f"trials/{n:04d}/record.json" for n in range(4)]
    again = Experiment(folder).records()
    assert [(r.number, r.state, r.reward) for r in again] == [(r.number, r.state, r.reward) for r in records]
    assert again[2].state is TrialState.FAILED and "BackoffLimitExceeded" in again[2].error
    assert (folder / "notebook.csv").is_file() and (folder / "top_policies.csv").is_file()
    assert not (tmp_path / "reports").exists()


def _eventually(condition, seconds: float = 30.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_one_controller_per_experiment_in_the_shared_storage(tmp_path, clusters):
    import json
    import time

    from deepaug.storage.backends import open_storage

    cluster = clusters(pod=complete_without_training)
    settings = cluster.settings()
    store = open_storage(settings.storage)
    key = "experiments/owned/owner.json"
    alive = {"host": "other-machine", "pid": 7, "started": "2026-12-02T00:00:00+00:00",
             "heartbeat": time.time() - 30, "token": "theirs"}
    store.write(key, json.dumps(alive).encode())
    with pytest.raises(InputError, match="being run by process 7 on other-machine .*alive 3\\d s ago"):
        KubernetesExecutor(context(tmp_path), None, settings, "owned")
    assert json.loads(store.read(key))["token"] == "theirs"  # left alone
    store.write(key, json.dumps({**alive, "heartbeat": time.time() - 3600}).encode())  # silent for an hour
    executor = KubernetesExecutor(context(tmp_path), None, settings, "owned")  # taken over
    mine = json.loads(store.read(key))
    assert mine["token"] != "theirs" and mine["pid"] == os.getpid()
    records = run_all(executor, [TrialSpec(1, ROT, 6)])
    assert records[1].state is TrialState.COMPLETE
    executor.close()
    assert not store.exists(key)  # released


def test_the_distribution_search_halves_and_races_on_the_cluster(tmp_path, clusters, caplog):
    """The pods' own code (`deepaug trial run`, in this process to save 13 interpreter starts).
    A trial comes back for the later rung and the race, one Job per training there, and
    starts from its earlier record (the finished record of a shorter rung is not the end);
    its rung training continues from the checkpoint the earlier pod left in the storage."""
    import logging

    from deepaug.search.callbacks import Callback
    from deepaug.search.config import SearchConfig
    from deepaug.search.race import RANDAUGMENT, TRIVIAL
    from deepaug.search.study import DistributionSearch

    caplog.set_level(logging.INFO, logger="deepaug.training.rungs")
    cluster = clusters(pod=trial_in_process)
    config = SearchConfig.from_user(tiny_config(
        tmp_path, executor="kubernetes", workers=2, kubernetes=cluster.settings(max_retries=0).model_dump(),
        search_space="distribution", screen="rungs", child_epochs=2, rungs=2, halving_rate=2, opt_last_n_epochs=1,
        validation_size=90, finalists=1, race_seeds=2, controls=["trivialaugment", "randaugment"]))  # both race
    x, y = toy_data(300)
    search = DistributionSearch(from_arrays(x, y), config, "study-on-k8s")
    trials = cluster.storage / "experiments" / "study-on-k8s" / "trials"

    class AtTheRaceEnd(Callback):  # the checkpoints the pods left, before the search deletes them
        def on_rung_end(self, stage, epochs, records):
            if stage == "race":
                self.stored = {int(folder.name): sorted(p.name for p in (folder / "checkpoints").iterdir())
                               for folder in trials.iterdir() if (folder / "checkpoints").is_dir()}

    seen = AtTheRaceEnd()
    records = {r.number: r for r in search.run(2, callbacks=[seen])}
    raced = [TRIVIAL, RANDAUGMENT, *search.verdict.gains]
    for number in raced:
        epochs = {h["seed"]: len(h["val_accuracy"]) for h in records[number].histories}
        assert epochs == {s: 2 for s in [*search.search_seeds, *search.race_seeds]}, number
    # each raced trial's pods kept a checkpoint per seed; the candidate halving stopped has none left
    assert seen.stored == {n: sorted(f"seed_{s}.npz" for s in [*search.search_seeds, *search.race_seeds])
                           for n in raced}
    assert not list(trials.glob("*/checkpoints/*"))  # and a finished search leaves none behind
    assert all(g is not None for gains in search.verdict.gains.values() for g in gains.values())
    assert len(search.screen_gains(list(records.values()))) == 2  # the screen's results survive the rungs
    seed = search.search_seeds[0]
    assert sum(f"seed {seed}: epochs 2-2" in m for m in caplog.messages) == 3  # rung 1 continued, 3 trials
    assert not any("no usable checkpoint" in m for m in caplog.messages)
    assert len(cluster.controller.pods) == 4 + 3 + 3 * 2  # screen, rung 1, race: a Job per training
    assert cluster.jobs() == []


def test_a_shared_screen_on_the_cluster_continues_the_shared_stage_its_pod_left_in_the_storage(tmp_path, clusters):
    """screen: shared on the cluster: the shared stage's pod keeps its checkpoint and history beside its
    record; each screened trial's pod fetches them and continues that training (its first epochs are
    the shared stage's), and the finished search leaves no checkpoint behind."""
    from deepaug.search.config import SearchConfig
    from deepaug.search.study import DistributionSearch

    cluster = clusters(pod=trial_in_process)
    config = SearchConfig.from_user(tiny_config(
        tmp_path, executor="kubernetes", workers=2, kubernetes=cluster.settings(max_retries=0).model_dump(),
        search_space="distribution", screen="shared", child_epochs=2, tune_epochs=1, opt_last_n_epochs=1,
        validation_size=90, finalists=1, race_seeds=2, controls=["trivialaugment", "randaugment"]))
    x, y = toy_data(300)
    search = DistributionSearch(from_arrays(x, y), config, "shared-on-k8s")
    records = {r.number: r for r in search.run(2)}
    seed = search.search_seeds[0]
    shared = next(h for h in records[0].histories if h["seed"] == seed)
    assert records[0].kind == "shared" and len(shared["accuracy"]) == 1
    screened = [r for r in records.values() if r.kind in ("search", "control")]
    assert len(screened) == 4
    for record in screened:
        mine = next(h for h in record.histories if h["seed"] == seed)
        assert len(mine["accuracy"]) == 2 and mine["accuracy"][0] == shared["accuracy"][0], record.number
    assert search.verdict is not None
    trials = cluster.storage / "experiments" / "shared-on-k8s" / "trials"
    assert not list(trials.glob("*/checkpoints/*"))
    assert cluster.jobs() == []
