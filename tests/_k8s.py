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
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "deepaug-tests"
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
                 kill: KillHook | None = None, poll: float = 0.05) -> None:
        self.api, self.workdir, self.namespace, self.poll = api, Path(workdir), namespace, poll
        self.pod, self.kill = pod, kill
        self.pods: list[tuple[str, int]] = []  # (Job name, exit code) of every pod that ended, in order
        self.running: dict[str, subprocess.Popen] = {}  # Job name -> its pod's process while it runs
        self._seen: set[str] = set()
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
            names = {job.metadata.name for job in jobs}
            self._seen &= names  # a deleted Job's name may be used again
            for job in jobs:
                if job.metadata.name not in self._seen and not (job.status and job.status.conditions):
                    self._seen.add(job.metadata.name)
                    manifest = self.api.api_client.sanitize_for_serialization(job)
                    threading.Thread(target=self._run_job_quietly, args=(manifest,), daemon=True).start()
            self._stop.wait(self.poll)

    def _patch(self, name: str, status: dict[str, Any]) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.api.patch_namespaced_job_status(name, self.namespace, {"status": status})
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
        name, spec = job["metadata"]["name"], job["spec"]
        rules = (spec.get("podFailurePolicy") or {}).get("rules", [])
        failed = 0
        for index in range(spec.get("backoffLimit", 6) + 1):
            if index and not self._exists(name):
                return
            code = self._run_pod(job, index)
            if code is None:  # the Job was deleted
                return
            self.pods.append((name, code))
            if code == 0:
                return self._patch(name, {"succeeded": 1, "failed": failed, "conditions": [
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]})
            failed += 1
            for i, rule in enumerate(rules):
                codes = rule.get("onExitCodes") or {}
                if rule["action"] == "FailJob" and code in codes.get("values", ()) and codes.get("operator") == "In":
                    return self._patch(name, {"failed": failed, "conditions": [
                        {"type": "Failed", "status": "True", "reason": "PodFailurePolicy",
                         "message": f"Container trial for pod {self.namespace}/{name}-{index} failed with exit code "
                                    f"{code} matching FailJob rule at index {i}"}]})
            self._patch(name, {"failed": failed})
        self._patch(name, {"failed": failed, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}]})

    def _exists(self, name: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            self.api.read_namespaced_job(name, self.namespace)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def _run_pod(self, job: dict[str, Any], index: int) -> int | None:
        name = job["metadata"]["name"]
        if self.pod is not None:
            code = self.pod(job, index)
            if code is not None:
                return code
        container = job["spec"]["template"]["spec"]["containers"][0]
        scratch = self.workdir / f"{name}-{index}"
        (scratch / "tmp").mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "TMPDIR": str(scratch / "tmp")}
        for item in container.get("env", ()):
            value = item.get("value", "")
            env[item["name"]] = str(scratch) + value if value.startswith("/tmp") else value
        command = [*container["command"], *container.get("args", ())]
        if command[0] == "deepaug":
            command[:1] = [sys.executable, "-m", "deepaug.cli"]
        with open(scratch / "log.txt", "wb") as log:
            process = subprocess.Popen(command, env=env, cwd=scratch, stdout=log, stderr=subprocess.STDOUT)
            self.running[name] = process
            try:
                return self._watch(job, index, process)
            finally:
                self.running.pop(name, None)

    def _watch(self, job: dict[str, Any], index: int, process: subprocess.Popen) -> int | None:
        """Wait for the pod's process; kill it when the kill hook says so (137) or its Job is deleted (None)."""
        name, checked = job["metadata"]["name"], time.monotonic()
        while process.poll() is None:
            time.sleep(0.05)
            if self.kill is not None and self.kill(job, index):
                process.kill()
                process.wait()
                return 137
            if time.monotonic() - checked > 0.25:
                checked = time.monotonic()
                if not self._exists(name):  # deleted: the kubelet kills the pod
                    process.kill()
                    process.wait()
                    return None
        return process.returncode


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
    from deepaug.storage import locate, read_json

    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    return read_json(*locate(args[args.index("--spec") + 1]))


def complete_without_training(job: dict[str, Any], index: int, reward: float = 0.5) -> int:
    """A pod hook: write a COMPLETE record with one fake training, as a worker would, and exit 0."""
    from dataclasses import replace

    from deepaug.storage import locate, write_json
    from deepaug.trials import TrialRecord, TrialSpec, TrialState, now

    doc = spec_of(job)
    record = TrialRecord.running(TrialSpec.from_dict(doc["spec"]), "basiccnn").with_training(
        {"accuracy": [reward], "val_accuracy": [reward], "sample": 0})
    record = replace(record, state=TrialState.COMPLETE, reward=reward, reward_std=0.0, sample_rewards=(reward,),
                     finished_at=now())
    write_json(*locate(doc["record"]), record.to_dict())
    return 0


def settings(storage: Path | str, kubeconfig: Path, **overrides: Any) -> Any:
    from deepaug.config import KubernetesSettings

    values = dict(image="deepaug:test", storage=str(storage), namespace=NAMESPACE, kubeconfig=str(kubeconfig),
                  poll_seconds=0.05, service_account=None, volume_claim="shared-volume")
    return KubernetesSettings(**{**values, **overrides})


class Cluster:
    """An emulator, its kubeconfig, a JobController and a shared-storage folder under `root`."""

    def __init__(self, root: Path, pod: PodHook | None = None, kill: KillHook | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.storage = self.root / "shared"
        self.emulator = Emulator()
        self.kubeconfig = write_kubeconfig(self.root / "kubeconfig", self.emulator.url)
        self.api = batch_api(self.kubeconfig)
        self.controller = JobController(self.api, self.root / "pods", pod=pod, kill=kill)

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
    import pytest

    pytest.importorskip("kmock")
    pytest.importorskip("kubernetes")
    from deepaug.k8s_executor import KubernetesExecutor

    if "cluster" not in _SHARED:
        root = Path(tempfile.mkdtemp(prefix="deepaug-k8s-"))
        _SHARED["cluster"] = Cluster(root)
        atexit.register(lambda: (_SHARED["cluster"].stop(), shutil.rmtree(root, ignore_errors=True)))
    cluster = _SHARED["cluster"]
    return KubernetesExecutor(context, updates.append, cluster.settings(max_retries=0),
                              experiment=f"contract-{uuid.uuid4().hex[:8]}", workers=2)
