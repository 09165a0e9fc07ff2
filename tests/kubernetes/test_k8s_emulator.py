"""The Job semantics the test cluster plays (tests/_k8s.py), checked against the Kubernetes Job docs.

The other Kubernetes tests trust the harness to behave like the Job controller of Kubernetes
1.31. Here each test creates a Job through the real `kubernetes` client, lets the harness
run its pods (quick fake pods from a pod hook that exit with scripted codes, or real local
processes where the pod's own environment matters), and reads the Job's status back over
the API, checking it against what https://kubernetes.io/docs/concepts/workloads/controllers/job/
documents: completions and parallelism, completion indexes and their compressed range
strings, backoffLimit and backoffLimitPerIndex, maxFailedIndexes, podFailurePolicy rules
(FailJob, FailIndex, Ignore, Count; In and NotIn) and the Job's conditions.
"""
from __future__ import annotations

import sys
import threading
import time

import pytest

from _k8s import NAMESPACE, Cluster, clusters  # noqa: F401  (fixture)

pytest.importorskip("kubernetes")
pytest.importorskip("kmock")

CONTAINER = "main"
PYTHON = [sys.executable, "-I", "-S", "-c"]  # a real pod's process, started quickly




class Script:
    """A pod hook: the exit codes of the successive pods of each index (or, for a plain Job, of each
    retry), the last code repeating; an index without a script exits 0."""

    def __init__(self, codes: dict[int, list[int]]) -> None:
        self.codes = {index: list(seq) for index, seq in codes.items()}
        self.lock = threading.Lock()

    def __call__(self, job: dict, index: int) -> int:
        with self.lock:
            seq = self.codes.get(index, [0])
            return seq.pop(0) if len(seq) > 1 else seq[0]


def job(name: str, command: list[str] | None = None, **spec) -> dict:
    """A Job manifest as a user would write it: restartPolicy Never, one container named `main`."""
    container = {"name": CONTAINER, "image": "python:3", "command": command or [*PYTHON, "pass"]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {**spec, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}


def indexed(name: str, completions: int, parallelism: int = 1, command: list[str] | None = None, **spec) -> dict:
    return job(name, command, completionMode="Indexed", completions=completions, parallelism=parallelism, **spec)


def on_exit_codes(action: str, operator: str, *values: int, **extra) -> dict:
    return {"action": action, "onExitCodes": {"operator": operator, "values": list(values), **extra}}


def run(cluster: Cluster, manifest: dict, timeout: float = 15) -> object:
    """Create the Job through the API and return its status once it has a terminal condition."""
    cluster.api.create_namespaced_job(NAMESPACE, manifest)
    return wait_finished(cluster, manifest["metadata"]["name"], timeout)


def wait_finished(cluster: Cluster, name: str, timeout: float = 15) -> object:
    deadline = time.monotonic() + timeout
    while True:
        status = cluster.api.read_namespaced_job(name, NAMESPACE).status
        if status is not None and {c.type for c in status.conditions or ()} & {"Complete", "Failed"}:
            return status
        assert time.monotonic() < deadline, f"Job {name} did not finish: {status}"
        time.sleep(0.02)


def conditions(status) -> list[tuple[str, str]]:
    return [(c.type, c.reason) for c in status.conditions or ()]


def condition(status, kind: str):
    return next(c for c in status.conditions if c.type == kind)


def pods(cluster: Cluster, name: str) -> list[tuple[int, int]]:
    """(completion index, exit code) of each pod of an Indexed Job that ended, in order."""
    return [(index, code) for job_name, index, code in cluster.controller.indexed if job_name == name]


def wait_until(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- Indexed Jobs: completions, parallelism, completion indexes ---------------------------------------------------

def test_an_indexed_job_runs_one_successful_pod_per_index_and_completes(clusters):
    cluster = clusters(pod=Script({}))
    status = run(cluster, indexed("all-ok", completions=4, parallelism=2))
    assert sorted(pods(cluster, "all-ok")) == [(0, 0), (1, 0), (2, 0), (3, 0)]
    assert status.succeeded == 4 and not status.failed and not status.active
    assert status.completed_indexes == "0-3"
    assert status.failed_indexes is None  # only reported with backoffLimitPerIndex
    # since 1.31: SuccessCriteriaMet first, then Complete, both with reason CompletionsReached
    assert conditions(status) == [("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
    assert all(c.status == "True" for c in status.conditions)


def test_parallelism_caps_the_pods_running_at_once_and_active_counts_them(clusters):
    lock, running, peak, seen_active = threading.Lock(), [0], [0], []
    both_started = threading.Barrier(2, timeout=10)

    def pod(manifest, index):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if index in (0, 1):  # the first two pods run together: the Job reports both as active
            both_started.wait()
            seen_active.append(cluster.api.read_namespaced_job("capped", NAMESPACE).status.active)
            both_started.wait()
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return 0

    cluster = clusters(pod=pod)
    status = run(cluster, indexed("capped", completions=6, parallelism=2))
    assert peak[0] == 2 and seen_active == [2, 2]
    assert sorted(index for index, _ in pods(cluster, "capped")) == list(range(6))
    assert status.succeeded == 6 and not status.active and status.completed_indexes == "0-5"


def test_parallelism_above_completions_starts_only_as_many_pods_as_indexes(clusters):
    lock, running, peak = threading.Lock(), [0], [0]

    def pod(manifest, index):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return 0

    cluster = clusters(pod=pod)
    status = run(cluster, indexed("few-indexes", completions=2, parallelism=5))
    assert peak[0] == 2 and sorted(pods(cluster, "few-indexes")) == [(0, 0), (1, 0)]
    assert status.succeeded == 2 and status.completed_indexes == "0,1"  # two in a row are not a range


def test_each_pod_gets_its_index_in_job_completion_index_as_in_the_documented_per_index_example(clusters, tmp_path):
    """The docs' job-backoff-limit-per-index-example, run as real processes: 10 indexes, even ones fail."""
    seen = tmp_path / "seen"
    seen.mkdir()
    script = ("import os, sys\n"
              "index = os.environ['JOB_COMPLETION_INDEX']\n"
              f"open(os.path.join({str(seen)!r}, index + '-' + str(os.getpid())), 'w').close()\n"
              "sys.exit(1 if int(index) % 2 == 0 else 0)\n")
    cluster = clusters()
    status = run(cluster, indexed("per-index-example", completions=10, parallelism=3, command=[*PYTHON, script],
                                  backoffLimitPerIndex=1, maxFailedIndexes=5), timeout=25)
    runs = sorted(int(path.name.split("-")[0]) for path in seen.iterdir())
    assert runs == sorted([*range(10), 0, 2, 4, 6, 8])  # each even index is retried once
    # the status the docs show for this example
    assert status.completed_indexes == "1,3,5,7,9" and status.failed_indexes == "0,2,4,6,8"
    assert status.succeeded == 5 and status.failed == 10 and not status.active
    assert conditions(status) == [("FailureTarget", "FailedIndexes"), ("Failed", "FailedIndexes")]
    assert condition(status, "Failed").message == condition(status, "FailureTarget").message \
        == "Job has failed indexes"


# --- backoffLimitPerIndex and maxFailedIndexes ----------------------------------------------------------------------

def test_a_failed_index_is_retried_up_to_its_limit_then_marked_failed_while_the_others_continue(clusters):
    cluster = clusters(pod=Script({1: [1]}))
    status = run(cluster, indexed("one-bad-index", completions=3, backoffLimitPerIndex=2))
    assert pods(cluster, "one-bad-index") == [(0, 0), (1, 1), (1, 1), (1, 1), (2, 0)]  # 1 try + 2 retries
    assert status.failed_indexes == "1" and status.completed_indexes == "0,2"
    assert status.succeeded == 2 and status.failed == 3
    # the Job fails only once every index has finished, and never completes
    assert conditions(status) == [("FailureTarget", "FailedIndexes"), ("Failed", "FailedIndexes")]


def test_an_index_that_succeeds_on_a_retry_leaves_the_job_complete(clusters):
    cluster = clusters(pod=Script({0: [1, 0], 2: [1, 0]}))
    status = run(cluster, indexed("flaky-indexes", completions=3, backoffLimitPerIndex=1))
    assert pods(cluster, "flaky-indexes") == [(0, 1), (0, 0), (1, 0), (2, 1), (2, 0)]
    assert status.succeeded == 3 and status.failed == 2 and status.completed_indexes == "0-2"
    assert not status.failed_indexes
    assert [kind for kind, _ in conditions(status)] == ["SuccessCriteriaMet", "Complete"]


def test_with_backoff_limit_per_index_the_job_wide_backoff_limit_defaults_to_unlimited(clusters):
    """backoffLimit defaults to 6, but to 2147483647 with backoffLimitPerIndex: 10 failures do not end it."""
    cluster = clusters(pod=Script({index: [1] for index in range(5)}))
    status = run(cluster, indexed("many-failures", completions=6, backoffLimitPerIndex=1))
    assert len(pods(cluster, "many-failures")) == 11  # every index was tried
    assert status.failed == 10 and status.failed_indexes == "0-4" and status.completed_indexes == "5"
    assert conditions(status)[-1] == ("Failed", "FailedIndexes")


def test_completed_and_failed_indexes_are_compressed_range_strings(clusters):
    cluster = clusters(pod=Script({3: [1], 4: [1], 8: [1]}))
    status = run(cluster, indexed("ranges", completions=10, parallelism=3, backoffLimitPerIndex=0))
    # three or more consecutive indexes become a range; two stay a list
    assert status.completed_indexes == "0-2,5-7,9" and status.failed_indexes == "3,4,8"
    assert status.succeeded == 7 and status.failed == 3


def test_exceeding_max_failed_indexes_fails_the_job_without_running_the_remaining_indexes(clusters):
    cluster = clusters(pod=Script({0: [1], 1: [1]}))
    status = run(cluster, indexed("too-many-failed", completions=5, backoffLimitPerIndex=0, maxFailedIndexes=1))
    assert pods(cluster, "too-many-failed") == [(0, 1), (1, 1)]  # indexes 2-4 never start
    assert status.failed_indexes == "0,1" and not status.completed_indexes and not status.succeeded
    assert conditions(status) == [("FailureTarget", "MaxFailedIndexesExceeded"),
                                  ("Failed", "MaxFailedIndexesExceeded")]
    assert condition(status, "Failed").message == "Job has exceeded the specified maximal number of failed indexes"


def test_as_many_failed_indexes_as_max_failed_indexes_lets_every_index_run(clusters):
    cluster = clusters(pod=Script({0: [1], 1: [1]}))
    status = run(cluster, indexed("at-the-limit", completions=4, backoffLimitPerIndex=0, maxFailedIndexes=2))
    assert [index for index, _ in pods(cluster, "at-the-limit")] == [0, 1, 2, 3]
    assert status.failed_indexes == "0,1" and status.completed_indexes == "2,3"
    assert conditions(status)[-1] == ("Failed", "FailedIndexes")  # not MaxFailedIndexesExceeded


# --- backoffLimit ----------------------------------------------------------------------------------------------------

def test_without_per_index_limits_backoff_limit_counts_the_failures_of_all_indexes_together(clusters):
    cluster = clusters(pod=Script({0: [1, 0], 1: [1, 0], 2: [1, 0]}))
    status = run(cluster, indexed("shared-budget", completions=3, backoffLimit=2))
    # the third failure exceeds backoffLimit 2, although each index failed only once
    assert pods(cluster, "shared-budget") == [(0, 1), (0, 0), (1, 1), (1, 0), (2, 1)]
    assert status.failed == 3 and status.succeeded == 2 and status.completed_indexes == "0,1"
    assert status.failed_indexes is None
    assert conditions(status) == [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
    assert condition(status, "Failed").message == "Job has reached the specified backoff limit"


def test_a_plain_job_retries_a_failed_pod_then_completes(clusters):
    cluster = clusters(pod=Script({0: [1], 1: [3], 2: [0]}))  # a plain Job's hook gets the retry number
    status = run(cluster, job("plain-retried", backoffLimit=2))
    assert cluster.controller.pods == [("plain-retried", 1), ("plain-retried", 3), ("plain-retried", 0)]
    assert status.succeeded == 1 and status.failed == 2
    assert ("Complete", "CompletionsReached") in conditions(status) and "Failed" not in dict(conditions(status))


def test_a_plain_job_fails_once_its_failures_exceed_backoff_limit(clusters):
    cluster = clusters(pod=lambda manifest, retry: 1)
    status = run(cluster, job("plain-exhausted", backoffLimit=2))
    assert cluster.controller.pods == [("plain-exhausted", 1)] * 3  # the first pod and 2 retries
    assert status.failed == 3 and not status.succeeded
    assert conditions(status)[-1] == ("Failed", "BackoffLimitExceeded")
    assert "Complete" not in dict(conditions(status))


def test_backoff_limit_defaults_to_6(clusters):
    cluster = clusters(pod=lambda manifest, retry: 1)
    status = run(cluster, job("plain-default-limit"))
    assert len(cluster.controller.pods) == 7 and status.failed == 7
    assert conditions(status)[-1] == ("Failed", "BackoffLimitExceeded")


# --- podFailurePolicy --------------------------------------------------------------------------------------------------

def test_a_fail_job_rule_fails_a_plain_job_at_once_with_retries_left(clusters):
    cluster = clusters(pod=Script({0: [42]}))
    status = run(cluster, job("plain-fail-job", backoffLimit=6,
                              podFailurePolicy={"rules": [on_exit_codes("FailJob", "In", 42)]}))
    assert cluster.controller.pods == [("plain-fail-job", 42)]  # no retry
    assert status.failed == 1 and conditions(status)[-1] == ("Failed", "PodFailurePolicy")
    assert "exit code 42" in condition(status, "Failed").message


def test_a_fail_job_rule_fails_the_whole_indexed_job_and_terminates_its_other_pods(clusters):
    """The docs' FailJob example: one pod's exit code 42 ends the Job; the running pods are killed."""
    def pod(manifest, index):
        if index != 1:
            return None  # a real pod that would run for a minute
        wait_until(lambda: len(cluster.controller.running) == 2)  # indexes 0 and 2 are running
        return 42

    cluster = clusters(pod=pod)
    started = time.monotonic()
    status = run(cluster, indexed("fail-job", completions=3, parallelism=3, backoffLimitPerIndex=3,
                                  command=[*PYTHON, "import time; time.sleep(60)"],
                                  podFailurePolicy={"rules": [on_exit_codes("FailJob", "In", 42,
                                                                            containerName=CONTAINER)]}))
    assert time.monotonic() - started < 15 and cluster.controller.running == {}  # killed, not waited for
    assert pods(cluster, "fail-job") == [(1, 42)]  # not retried, although backoffLimitPerIndex allows 3
    assert conditions(status) == [("FailureTarget", "PodFailurePolicy"), ("Failed", "PodFailurePolicy")]
    message = condition(status, "Failed").message
    assert message == condition(status, "FailureTarget").message
    assert "exit code 42" in message and "FailJob rule at index 0" in message
    assert not status.succeeded and not status.completed_indexes and not status.active and status.failed >= 1


def test_an_ignore_rule_does_not_count_towards_backoff_limit(clusters):
    cluster = clusters(pod=Script({0: [137, 137, 137, 0]}))
    status = run(cluster, indexed("ignored", completions=1, backoffLimit=0,
                                  podFailurePolicy={"rules": [on_exit_codes("Ignore", "In", 137)]}))
    assert pods(cluster, "ignored") == [(0, 137), (0, 137), (0, 137), (0, 0)]  # replaced each time
    assert not status.failed and status.succeeded == 1  # ignored failures are not in status.failed
    assert conditions(status)[-1] == ("Complete", "CompletionsReached")


def test_an_ignore_rule_does_not_count_towards_backoff_limit_per_index(clusters):
    cluster = clusters(pod=Script({0: [137, 137, 0], 1: [137, 1]}))
    status = run(cluster, indexed("ignored-per-index", completions=2, backoffLimitPerIndex=0,
                                  podFailurePolicy={"rules": [on_exit_codes("Ignore", "In", 137)]}))
    assert pods(cluster, "ignored-per-index") == [(0, 137), (0, 137), (0, 0), (1, 137), (1, 1)]
    assert status.failed == 1 and status.completed_indexes == "0" and status.failed_indexes == "1"


def test_a_fail_index_rule_fails_the_index_without_retries_as_in_the_documented_example(clusters):
    """The docs' job-backoff-limit-per-index-failindex example, run as real processes."""
    script = ("import os, sys\n"
              "index = int(os.environ['JOB_COMPLETION_INDEX'])\n"
              "sys.exit(1 if index == 0 else 42 if index == 1 else 0)\n")
    cluster = clusters()
    status = run(cluster, indexed("fail-index", completions=4, parallelism=2, command=[*PYTHON, script],
                                  backoffLimitPerIndex=1, backoffLimit=6, podFailurePolicy={"rules": [
                                      on_exit_codes("FailIndex", "In", 42, containerName=CONTAINER)]}))
    assert sorted(pods(cluster, "fail-index")) == [(0, 1), (0, 1), (1, 42), (2, 0), (3, 0)]
    # the status the docs show for this example
    assert status.failed_indexes == "0,1" and status.completed_indexes == "2,3"
    assert status.failed == 3 and status.succeeded == 2
    assert conditions(status) == [("FailureTarget", "FailedIndexes"), ("Failed", "FailedIndexes")]


def test_a_count_rule_counts_the_failure_as_without_a_policy(clusters):
    cluster = clusters(pod=Script({0: [3, 3]}))
    status = run(cluster, indexed("counted", completions=1, backoffLimit=1,
                                  podFailurePolicy={"rules": [on_exit_codes("Count", "In", 3),
                                                              on_exit_codes("Ignore", "In", 3, 4)]}))
    assert pods(cluster, "counted") == [(0, 3), (0, 3)]  # the later Ignore rule is not reached
    assert status.failed == 2 and conditions(status)[-1] == ("Failed", "BackoffLimitExceeded")


def test_rules_apply_in_order_and_the_first_match_wins(clusters):
    cluster = clusters(pod=Script({0: [3, 4]}))
    status = run(cluster, indexed("ordered", completions=1, backoffLimit=6, podFailurePolicy={"rules": [
        on_exit_codes("Count", "In", 3), on_exit_codes("FailJob", "In", 3, 4)]}))
    assert pods(cluster, "ordered") == [(0, 3), (0, 4)]  # 3 matched the Count rule first; 4 only FailJob
    assert status.failed == 2 and conditions(status)[-1] == ("Failed", "PodFailurePolicy")
    assert "exit code 4 matching FailJob rule at index 1" in condition(status, "Failed").message


def test_a_not_in_rule_matches_every_exit_code_outside_its_values(clusters):
    cluster = clusters(pod=Script({0: [1, 2, 1, 5]}))
    status = run(cluster, indexed("not-in", completions=1, backoffLimit=6,
                                  podFailurePolicy={"rules": [on_exit_codes("FailJob", "NotIn", 1, 2)]}))
    assert pods(cluster, "not-in") == [(0, 1), (0, 2), (0, 1), (0, 5)]  # 1 and 2 are retried, 5 fails the Job
    assert status.failed == 4 and conditions(status)[-1] == ("Failed", "PodFailurePolicy")
    assert "exit code 5" in condition(status, "Failed").message


def test_a_disruption_target_rule_does_not_match_a_container_that_exited_with_an_error(clusters):
    cluster = clusters(pod=Script({0: [1]}))
    status = run(cluster, indexed("not-disrupted", completions=1, backoffLimit=1, podFailurePolicy={"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}))
    assert pods(cluster, "not-disrupted") == [(0, 1), (0, 1)]  # counted: the pod was not disrupted
    assert status.failed == 2 and conditions(status)[-1] == ("Failed", "BackoffLimitExceeded")


# --- deletion --------------------------------------------------------------------------------------------------------

def test_deleting_a_job_terminates_its_running_pod(clusters):
    cluster = clusters()
    cluster.api.create_namespaced_job(NAMESPACE, job("deleted", command=[*PYTHON, "import time; time.sleep(60)"]))
    wait_until(lambda: "deleted" in cluster.controller.running)
    process = cluster.controller.running["deleted"]
    cluster.api.delete_namespaced_job("deleted", NAMESPACE, propagation_policy="Background")
    wait_until(lambda: process.poll() is not None)
    assert process.returncode == -9 and cluster.jobs() == []
    time.sleep(0.3)  # and no replacement pod is started
    assert cluster.controller.running == {} and cluster.controller.pods == []
