"""A stand-in cluster for the Kubernetes tests: kmock serves the API, a harness plays the Job controller.

`Emulator` runs kmock's KubernetesEmulator (an in-memory Kubernetes API over real HTTP)
in a background thread, so the official (synchronous) client talks to it as to a cluster,
through a kubeconfig file. Nothing runs pods there, so `JobController` does what
kube-controller-manager and the kubelet would: for each new Job it runs the container's
command as a local process with the Job's environment (`deepaug` -> this Python's
`-m deepaug.cli`; the /tmp emptyDir -> a folder of its own), then patches the Job's
status: Complete on exit 0, a new pod on failure until `backoffLimit` is spent, Failed
at once when an exit code matches the Job's podFailurePolicy FailJob rule. A deleted
Job's running pod is killed. A `pod` hook can replace a pod by an exit code (a crash,
an OOM kill) or by a quick fake that writes a finished record without training.

Indexed Jobs (`completionMode: Indexed`) run as Kubernetes 1.31 runs them: `completions`
pods, at most `parallelism` at once, each with JOB_COMPLETION_INDEX; a failed index is
retried up to `backoffLimitPerIndex` times (or the Job's `backoffLimit` counts every
failure); podFailurePolicy rules (FailJob, FailIndex, Ignore, Count; onExitCodes In/NotIn)
apply in order; the status carries active, succeeded, failed, completedIndexes and
failedIndexes; the Job ends with FailureTarget then Failed (reasons PodFailurePolicy,
BackoffLimitExceeded, FailedIndexes, MaxFailedIndexesExceeded; the other pods killed
first) or SuccessCriteriaMet then Complete (CompletionsReached). For them the hooks get
the completion index, not the retry number. `envFrom: secretRef` takes the Secret's
keys from `secrets`.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "deepaug-tests"
UID = "harness.deepaug.test/uid"  # the identity the harness gives each Job it runs (kmock sets no metadata.uid)
PodHook = Callable[[dict, int], "int | None"]  # (Job manifest, pod index) -> exit code, or None: run the command
KillHook = Callable[[dict, int], bool]  # called while a pod runs: True kills it (exit code 137, as an OOM kill)


class Emulator:
    """kmock's Kubernetes API emulator on 127.0.0.1:`port` (0: any free port), served from a thread."""

    def __init__(self, port: int = 0) -> None:
        import kmock

        self._kmock = kmock
        self.handler: Any = None
        self.port = port
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("the kmock emulator did not start")

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self._kmock.KubernetesEmulator() as handler, self._kmock.Server(handler, port=self.port) as server:
            handler.resources["batch/v1/jobs"] = self._kmock.ResourceInfo(kind="Job", namespaced=True)
            self.handler, self.port = handler, server.port
            self._ready.set()
            await self._stop.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, fn: Callable[[], Any]) -> Any:
        """Call fn() in the emulator's thread (to add kmock reactions safely)."""
        async def call() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)


def write_kubeconfig(path: Path, url: str) -> Path:
    """A kubeconfig whose current context points at `url` with a dummy bearer token."""
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "emulator",
              "clusters": [{"name": "emulator", "cluster": {"server": url}}],
              "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
              "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}]}
    path.write_text(json.dumps(config))
    return path


def batch_api(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    return client.BatchV1Api(client.ApiClient(configuration))


class JobController:
    """Plays the Job controller and the kubelet for the Jobs of `namespace` (see the module docstring)."""

    def __init__(self, api: Any, workdir: Path, namespace: str = NAMESPACE, pod: PodHook | None = None,
                 kill: KillHook | None = None, poll: float = 0.05,
                 secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.api, self.workdir, self.namespace, self.poll = api, Path(workdir), namespace, poll
        self.pod, self.kill, self.secrets = pod, kill, dict(secrets or {})
        self.pods: list[tuple[str, int]] = []  # (Job name, exit code) of every pod that ended, in order
        self.indexed: list[tuple[str, int, int]] = []  # (Job name, completion index, exit code), Indexed Jobs
        self.running: dict[str, subprocess.Popen] = {}  # pod name -> its process while it runs
        self._stopping: set[str] = set()  # uids of Indexed Jobs whose pods are being terminated
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for process in list(self.running.values()):
            process.kill()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                jobs = self.api.list_namespaced_job(self.namespace).items
            except Exception:  # the emulator is going away
                return
            for job in jobs:  # kmock sets no uid: the harness stamps each Job it starts with one of its own
                if UID not in (job.metadata.annotations or {}) and not (job.status and job.status.conditions):
                    self._start(job)
            self._stop.wait(self.poll)

    def _start(self, job: Any) -> None:
        """Stamp a new Job with a uid and run it in a thread of its own (unless it was deleted meanwhile)."""
        from kubernetes.client.exceptions import ApiException

        manifest = self.api.api_client.sanitize_for_serialization(job)
        manifest["metadata"].setdefault("annotations", {})[UID] = uuid.uuid4().hex
        try:
            self.api.patch_namespaced_job(job.metadata.name, self.namespace, {"metadata": {
                "annotations": {UID: manifest["metadata"]["annotations"][UID]}}})
        except ApiException as exc:
            if exc.status == 404:  # deleted since the listing
                return
            raise
        threading.Thread(target=self._run_job_quietly, args=(manifest,), daemon=True).start()

    def _patch(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        """Patch the status of `job`, unless it was deleted (and maybe created again under its name)."""
        from kubernetes.client.exceptions import ApiException

        if not self._exists(job):
            return
        try:
            self.api.patch_namespaced_job_status(job["metadata"]["name"], self.namespace, {"status": status})
        except ApiException as exc:
            if exc.status != 404:  # 404: the Job was deleted as its pod ended
                raise

    def _run_job_quietly(self, job: dict[str, Any]) -> None:
        try:
            self._run_job(job)
        except Exception:
            if not self._stop.is_set():  # errors after stop() are the emulator going away
                raise

    def _run_job(self, job: dict[str, Any]) -> None:
        if job["spec"].get("completionMode") == "Indexed":
            return _IndexedRun(self, job).run()
        name, spec = job["metadata"]["name"], job["spec"]
        rules = (spec.get("podFailurePolicy") or {}).get("rules", [])
        failed = 0
        for index in range(spec.get("backoffLimit", 6) + 1):
            if index and not self._exists(job):
                return
            code = self._run_pod(job, index)
            if code is None:  # the Job was deleted
                return
            self.pods.append((name, code))
            if code == 0:
                return self._patch(job, {"succeeded": 1, "failed": failed, "conditions": [
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]})
            failed += 1
            for i, rule in enumerate(rules):
                codes = rule.get("onExitCodes") or {}
                if rule["action"] == "FailJob" and code in codes.get("values", ()) and codes.get("operator") == "In":
                    return self._patch(job, {"failed": failed, "conditions": [
                        {"type": "Failed", "status": "True", "reason": "PodFailurePolicy",
                         "message": f"Container trial for pod {self.namespace}/{name}-{index} failed with exit code "
                                    f"{code} matching FailJob rule at index {i}"}]})
            self._patch(job, {"failed": failed})
        self._patch(job, {"failed": failed, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}]})

    def _exists(self, job: dict[str, Any]) -> bool:
        """Whether `job` is still there: its name, with the uid the harness gave it."""
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.api.read_namespaced_job(job["metadata"]["name"], self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return (found.metadata.annotations or {}).get(UID) == job["metadata"]["annotations"][UID]

    def _run_pod(self, job: dict[str, Any], index: int, completion: int | None = None) -> int | None:
        """Run one pod: attempt `index` (a plain Job) or one attempt at `completion` (an Indexed Job)."""
        name = job["metadata"]["name"]
        hook_index = index if completion is None else completion
        if self.pod is not None:
            code = self.pod(job, hook_index)
            if code is not None:
                return code
        container = job["spec"]["template"]["spec"]["containers"][0]
        pod_name = f"{name}-{index}" if completion is None else f"{name}-{completion}-{index}"
        scratch = self.workdir / pod_name
        (scratch / "tmp").mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "TMPDIR": str(scratch / "tmp")}
        for source in container.get("envFrom", ()):
            env.update(self.secrets[source["secretRef"]["name"]])  # KeyError: a pod that could not start
        for item in container.get("env", ()):
            value = item.get("value", "")
            env[item["name"]] = str(scratch) + value if value.startswith("/tmp") else value
        if completion is not None:
            env["JOB_COMPLETION_INDEX"] = str(completion)
        command = [*container["command"], *container.get("args", ())]
        if command[0] == "deepaug":
            command[:1] = [sys.executable, "-m", "deepaug.cli"]
        key = name if completion is None else pod_name
        with open(scratch / "log.txt", "wb") as log:
            process = subprocess.Popen(command, env=env, cwd=scratch, stdout=log, stderr=subprocess.STDOUT)
            self.running[key] = process
            try:
                return self._watch(job, hook_index, process)
            finally:
                self.running.pop(key, None)

    def _watch(self, job: dict[str, Any], index: int, process: subprocess.Popen) -> int | None:
        """Wait for the pod's process; kill it when the kill hook says so (137), or when its Job is deleted
        or failing (None)."""
        name, checked = job["metadata"]["name"], time.monotonic()
        while process.poll() is None:
            time.sleep(0.05)
            if self.kill is not None and self.kill(job, index):
                process.kill()
                process.wait()
                return 137
            if job["metadata"]["annotations"][UID] in self._stopping:
                process.kill()
                process.wait()
                return None
            if time.monotonic() - checked > 0.25:
                checked = time.monotonic()
                if not self._exists(job):  # deleted: the kubelet kills the pod
                    process.kill()
                    process.wait()
                    return None
        return process.returncode


MAX_INT32 = 2**31 - 1


def index_text(indexes: set[int]) -> str:
    """{1, 3, 4, 5, 7} -> '1,3-5,7', as the Job status writes completedIndexes and failedIndexes."""
    runs: list[list[int]] = []
    for k in sorted(indexes):
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ",".join(str(a) if a == b else f"{a}-{b}" if b > a + 1 else f"{a},{b}" for a, b in runs)


class _IndexedRun:
    """One Indexed Job, played as the Job controller of Kubernetes 1.31 plays it (see the module docstring)."""

    def __init__(self, controller: JobController, job: dict[str, Any]) -> None:
        spec = job["spec"]
        self.controller, self.job, self.name = controller, job, job["metadata"]["name"]
        self.uid = job["metadata"]["annotations"][UID]
        self.container = spec["template"]["spec"]["containers"][0]["name"]
        self.completions, self.parallelism = spec.get("completions") or 1, spec.get("parallelism") or 1
        self.per_index = spec.get("backoffLimitPerIndex")
        self.backoff = spec.get("backoffLimit", MAX_INT32 if self.per_index is not None else 6)
        self.max_failed = spec.get("maxFailedIndexes")
        self.rules = (spec.get("podFailurePolicy") or {}).get("rules", [])
        self.lock = threading.Lock()
        self.todo: queue.Queue[int] = queue.Queue()
        for index in range(self.completions):
            self.todo.put(index)
        self.active = self.failed = 0
        self.completed: set[int] = set()
        self.failed_indexes: set[int] = set()
        self.failure: tuple[str, str] | None = None  # (reason, message) once the Job is to fail

    def run(self) -> None:
        threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(min(self.parallelism,
                                                                                         self.completions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if not self.controller._exists(self.job):
            return
        if self.failure is None and self.failed_indexes:
            self.failure = ("FailedIndexes", "Job has failed indexes")
        if self.failure is not None:
            self._patch([("Failed", *self.failure)])
        else:
            message = "Reached expected number of succeeded pods"
            self._patch([("SuccessCriteriaMet", "CompletionsReached", message),
                         ("Complete", "CompletionsReached", message)])
        self.controller._stopping.discard(self.uid)

    def _worker(self) -> None:
        while self.failure is None:
            try:
                index = self.todo.get_nowait()
            except queue.Empty:
                return
            try:
                if not self._run_index(index):
                    return
            except Exception:
                if self.controller._stop.is_set():  # the emulator went away at the end of a test
                    return
                raise

    def _run_index(self, index: int) -> bool:
        """Pods for `index` until it completes or fails; False when the Job is gone or failing."""
        failures = attempt = 0
        while self.failure is None:
            with self.lock:
                self.active += 1
                self._patch()
            code = self.controller._run_pod(self.job, attempt, completion=index)
            attempt += 1
            with self.lock:
                self.active -= 1
                if code is None:  # deleted, or killed because the Job fails
                    self._patch()
                    return False
                self.controller.indexed.append((self.name, index, code))
                self.controller.pods.append((self.name, code))
                if code == 0:
                    self.completed.add(index)
                    self._patch()
                    return True
                action, rule = self._action(code)
                if action != "Ignore":
                    self.failed += 1
                    failures += 1
                if action == "FailJob":
                    self._fail("PodFailurePolicy", f"Container {self.container} for pod {self.controller.namespace}/"
                                                   f"{self.name}-{index} failed with exit code {code} matching FailJob "
                                                   f"rule at index {rule}")
                elif action == "FailIndex" or (self.per_index is not None and failures > self.per_index):
                    self.failed_indexes.add(index)
                    if self.max_failed is not None and len(self.failed_indexes) > self.max_failed:
                        self._fail("MaxFailedIndexesExceeded", "Job has exceeded the specified maximal number of "
                                                               "failed indexes")
                    self._patch()
                    return self.failure is None
                elif self.failed > self.backoff:
                    self._fail("BackoffLimitExceeded", "Job has reached the specified backoff limit")
                self._patch()
        return False

    def _action(self, code: int) -> tuple[str, int]:
        """The podFailurePolicy action for a pod that exited with `code` (Count when no rule matches)."""
        for i, rule in enumerate(self.rules):
            codes = rule.get("onExitCodes")
            if not codes or codes.get("containerName", self.container) != self.container:
                continue
            if (code in codes["values"]) == (codes["operator"] == "In"):
                if rule["action"] == "FailIndex" and self.per_index is None:
                    continue  # the API refuses FailIndex without backoffLimitPerIndex
                return rule["action"], i
        return "Count", -1

    def _fail(self, reason: str, message: str) -> None:
        """FailureTarget now; the other pods are killed; Failed once they are gone (in run)."""
        if self.failure is None:
            self.failure = (reason, message)
            self.controller._stopping.add(self.uid)

    def _patch(self, final: list[tuple[str, str, str]] | None = None) -> None:
        conditions = [] if self.failure is None else [("FailureTarget", *self.failure)]
        status: dict[str, Any] = {
            "active": self.active, "succeeded": len(self.completed), "failed": self.failed,
            "completedIndexes": index_text(self.completed),
            "conditions": [{"type": kind, "status": "True", "reason": reason, "message": message}
                           for kind, reason, message in conditions + [c for c in final or [] if c[0] !=
                                                                      "FailureTarget"]]}
        if self.per_index is not None:
            status["failedIndexes"] = index_text(self.failed_indexes)
        self.controller._patch(self.job, status)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def trial_of(job: dict[str, Any]) -> int:
    return int(job["metadata"]["labels"]["deepaug/trial"])


def pod_log(workdir: Path, job: str, index: int = 0) -> str:
    return (Path(workdir) / f"{job}-{index}" / "log.txt").read_text(errors="replace")


def spec_of(job: dict[str, Any]) -> dict[str, Any]:
    """The spec document a Job's pod would read."""
    from deepaug.storage.backends import locate, read_json

    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    return read_json(*locate(args[args.index("--spec") + 1]))


def complete_without_training(job: dict[str, Any], index: int, reward: float = 0.5) -> int:
    """A pod hook: write a COMPLETE record with one fake training, as a worker would, and exit 0."""
    from dataclasses import replace

    from deepaug.storage.backends import locate, write_json
    from deepaug.execution.trials import TrialRecord, TrialSpec, TrialState, now

    doc = spec_of(job)
    record = TrialRecord.running(TrialSpec.from_dict(doc["spec"]), "basiccnn").with_training(
        {"accuracy": [reward], "val_accuracy": [reward], "sample": 0})
    record = replace(record, state=TrialState.COMPLETE, reward=reward, reward_std=0.0, sample_rewards=(reward,),
                     finished_at=now())
    write_json(*locate(doc["record"]), record.to_dict())
    return 0


_IN_PROCESS = threading.Lock()


def trial_in_process(job: dict[str, Any], index: int) -> int:
    """A pod hook: the pod's own entry point (`deepaug trial run`'s function) in this process, one
    at a time; it saves a pod's interpreter start and TensorFlow import where a test runs many."""
    from deepaug.kubernetes.trial_worker import run_trial_spec

    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    with _IN_PROCESS:
        return run_trial_spec(args[args.index("--spec") + 1])


def settings(storage: Path | str, kubeconfig: Path, **overrides: Any) -> Any:
    from deepaug.kubernetes.settings import KubernetesSettings

    values = dict(image="deepaug:test", storage=str(storage), namespace=NAMESPACE, kubeconfig=str(kubeconfig),
                  poll_seconds=0.05, service_account=None, volume_claim="shared-volume")
    return KubernetesSettings(**{**values, **overrides})


class Cluster:
    """An emulator, its kubeconfig, a JobController and a shared-storage folder under `root`."""

    def __init__(self, root: Path, pod: PodHook | None = None, kill: KillHook | None = None,
                 secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.storage = self.root / "shared"
        self.emulator = Emulator()
        self.kubeconfig = write_kubeconfig(self.root / "kubeconfig", self.emulator.url)
        self.api = batch_api(self.kubeconfig)
        self.controller = JobController(self.api, self.root / "pods", pod=pod, kill=kill, secrets=secrets)

    def settings(self, **overrides: Any) -> Any:
        return settings(self.storage, self.kubeconfig, **overrides)

    def jobs(self) -> list[str]:
        return sorted(job.metadata.name for job in self.api.list_namespaced_job(NAMESPACE).items)

    def stop(self) -> None:
        self.controller.stop()
        self.emulator.stop()


_SHARED: dict[str, Any] = {}


def contract_executor(context: Any, updates: list) -> Any:
    """A KubernetesExecutor on a cluster shared by the executor contract tests (started on first use)."""

    pytest.importorskip("kmock")
    pytest.importorskip("kubernetes")
    from deepaug.kubernetes.executor import KubernetesExecutor

    if "cluster" not in _SHARED:
        root = Path(tempfile.mkdtemp(prefix="deepaug-k8s-"))
        _SHARED["cluster"] = Cluster(root)
        atexit.register(lambda: (_SHARED["cluster"].stop(), shutil.rmtree(root, ignore_errors=True)))
    cluster = _SHARED["cluster"]
    return KubernetesExecutor(context, updates.append, cluster.settings(max_retries=0),
                              experiment=f"contract-{uuid.uuid4().hex[:8]}", workers=2)


@pytest.fixture
def clusters(tmp_path):
    """Start Clusters with `clusters(**hooks)`; all are stopped at the end of the test."""
    started: list[Cluster] = []

    def start(**hooks) -> Cluster:
        started.append(Cluster(tmp_path / f"cluster{len(started)}", **hooks))
        return started[-1]

    yield start
    for cluster in started:
        cluster.stop()
