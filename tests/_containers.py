"""The worker images, run as a Job's pods run them, for the container tests (tests/containers/).

    from _containers import docker, augment_image, trial_image  # noqa: F401  (fixtures)

`docker` is a daemon that answers: the one running, or, as root with dockerd installed, one
started for the session (`dockerd --iptables=false --bridge=none`) and stopped after it; the
tests skip with the reason when there is none. `augment_image` and `trial_image` are the tags
that scripts/build-image.sh builds; a test skips when its image is missing, or holds another
deepaug than this checkout's (rebuild: `bash scripts/build-image.sh`).

`DockerPods` is a pod hook for the stand-in cluster of tests/_k8s.py: it runs the Job's
container (image, command, args, env, `envFrom` Secrets, JOB_COMPLETION_INDEX) with `docker
run`, with the security settings the manifest asks for translated to Docker's (runAsUser and
runAsGroup -> --user, readOnlyRootFilesystem -> --read-only, an emptyDir -> --tmpfs,
capabilities drop ALL -> --cap-drop ALL, allowPrivilegeEscalation false -> no-new-privileges)
and --network host, so the pods reach the moto S3 server on loopback. Environment values go
to Docker by name only (`-e NAME`, the value from the docker client's environment), never on
a command line.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from deepaug._version import __version__

REPO = Path(__file__).resolve().parent.parent
AUGMENT_IMAGE = os.environ.get("DEEPAUG_AUGMENT_IMAGE", f"deepaug-augment:{__version__}")
TRIAL_IMAGE = os.environ.get("DEEPAUG_IMAGE", f"deepaug:{__version__}")
BUILD_HINT = "build them with `bash scripts/build-image.sh` (as root it installs and starts Docker)"
POD_SECONDS = 600  # one pod's limit
SESSION_LABEL = f"deepaug.test.session={uuid.uuid4().hex}"  # this session's containers, removed at its end

# The deepaug package inside an image, file -> SHA-256 (compiled files aside), to compare with this checkout.
_PACKAGE_DIGESTS = """
import hashlib, json, pathlib, deepaug
root = pathlib.Path(deepaug.__file__).parent
print(json.dumps({p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}))
"""


def _docker(*args: str, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kwargs)


def _answers() -> bool:
    try:
        return _docker("info", timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Docker daemon that answers (see the module docstring); yields the docker command's path."""
    binary = shutil.which("docker")
    if binary is None:
        pytest.skip(f"no docker command: the container tests need Docker; {BUILD_HINT}")
    if _answers():
        yield binary
        _remove_containers()
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        pytest.skip(f"no Docker daemon answers (and this is not root with dockerd to start one); {BUILD_HINT}")
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen([dockerd, "--iptables=false", "--bridge=none"], stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"dockerd did not start (see {log_path})")
            time.sleep(0.3)
        yield binary
        _remove_containers()
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()


def _remove_containers() -> None:
    """Remove the containers this session started that are still there (a test that failed mid-pod)."""
    found = _docker("ps", "--all", "--quiet", "--filter", f"label={SESSION_LABEL}").stdout.split()
    if found:
        _docker("rm", "--force", *found)


def local_digests() -> dict[str, str]:
    root = REPO / "deepaug"
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
            and not p.name.endswith((".pyc", ".pyo"))}


def require_image(tag: str) -> str:
    """`tag`, or a skip when it is not built or holds another deepaug than this checkout."""
    if _docker("image", "inspect", tag).returncode != 0:
        pytest.skip(f"image {tag} is not built; {BUILD_HINT}")
    done = _docker("run", "--rm", "--network", "none", "--entrypoint", "python3", tag, "-c", _PACKAGE_DIGESTS,
                   timeout=120)
    if done.returncode != 0:
        pytest.fail(f"cannot list deepaug in image {tag}: {done.stderr[-2000:]}")
    inside, here = json.loads(done.stdout), local_digests()
    differ = sorted(k for k in set(inside) | {k for k in here if k.endswith(".py")} if inside.get(k) != here.get(k))
    if differ:
        pytest.skip(f"image {tag} holds another deepaug than this checkout ({len(differ)} file(s) differ, e.g. "
                    f"{differ[0]}); rebuild: `bash scripts/build-image.sh`")
    return tag


@pytest.fixture(scope="session")
def augment_image(docker: str) -> str:
    return require_image(AUGMENT_IMAGE)


@pytest.fixture(scope="session")
def trial_image(docker: str) -> str:
    return require_image(TRIAL_IMAGE)


def _memory(quantity: str) -> str:
    """A Kubernetes memory quantity (4Gi, 512Mi) as docker's --memory."""
    for suffix, unit in (("Gi", "g"), ("Mi", "m"), ("Ki", "k")):
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + unit
    return quantity


def security_options(job: dict[str, Any]) -> list[str]:
    """`docker run` options for the pod security settings of `job` (see the module docstring); ValueError for
    a setting this does not translate, so that a manifest asking for more fails the test instead of passing."""
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pod_sc, sc = pod.get("securityContext") or {}, container.get("securityContext") or {}
    user, group = sc.get("runAsUser", pod_sc.get("runAsUser")), sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    if user is None or user == 0 or not pod_sc.get("runAsNonRoot", sc.get("runAsNonRoot")):
        raise ValueError(f"the pod does not run as a non-root uid: {pod_sc} {sc}")
    options = ["--user", f"{user}:{group if group is not None else user}"]
    if sc.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    if "ALL" in (sc.get("capabilities") or {}).get("drop", ()):
        options += ["--cap-drop", "ALL"]
    if sc.get("capabilities", {}).get("add"):
        raise ValueError(f"capabilities added: {sc['capabilities']['add']}")
    if sc.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    volumes = {v["name"]: v for v in pod.get("volumes") or ()}
    for mount in container.get("volumeMounts") or ():
        volume = volumes[mount["name"]]
        if "emptyDir" not in volume:
            raise ValueError(f"volume {mount['name']} is not an emptyDir: {volume}")
        options += ["--tmpfs", f"{mount['mountPath']}:rw,nosuid,nodev,mode=1777"]
    memory = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if memory:
        options += ["--memory", _memory(str(memory))]
    return options


class DockerPods:
    """A pod hook (tests/_k8s.py) running each pod as a container; `secrets`: the Secrets `envFrom` names.
    `watch(job, index, name)`, when given, is called while a pod runs (detached) and may kill it: it returns
    True once it did. `runs` keeps (Job name, index, exit code, log) of every pod."""

    def __init__(self, secrets: dict[str, dict[str, str]] | None = None,
                 watch: Callable[[dict, int, str], bool] | None = None) -> None:
        self.secrets, self.watch = dict(secrets or {}), watch
        self.runs: list[tuple[str, int, int, str]] = []
        self._lock = threading.Lock()

    def ended(self, count: int, seconds: float = 120) -> list[tuple[str, int, int, str]]:
        """`runs` once `count` pods have ended (the controller may read a record before its pod exits)."""
        deadline = time.monotonic() + seconds
        while len(self.runs) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.runs)

    def command(self, job: dict[str, Any], index: int) -> tuple[list[str], dict[str, str]]:
        """The `docker run` arguments after `run` (options, image, the container's arguments) and the
        docker client's environment holding the values of the pod's."""
        container = job["spec"]["template"]["spec"]["containers"][0]
        values: dict[str, str] = {}
        for source in container.get("envFrom") or ():
            values.update(self.secrets[source["secretRef"]["name"]])  # KeyError: a pod that could not start
        for item in container.get("env") or ():
            if "value" in item:
                values[item["name"]] = str(item["value"])
        if job["spec"].get("completionMode") == "Indexed":
            values["JOB_COMPLETION_INDEX"] = str(index)
        command = container["command"]
        options = [*security_options(job), "--network", "host", "--workdir", "/tmp",
                   "--entrypoint", command[0], *[arg for name in values for arg in ("-e", name)]]
        client_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), **values}
        return [*options, container["image"], *command[1:], *container.get("args", ())], client_env

    def __call__(self, job: dict[str, Any], index: int) -> int:
        arguments, env = self.command(job, index)
        name = f"deepaug-test-{uuid.uuid4().hex[:12]}"
        started = subprocess.run(["docker", "run", "--detach", "--name", name, "--label", SESSION_LABEL, *arguments],
                                 env=env, capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            raise RuntimeError(f"docker run failed: {started.stderr[-2000:]}")
        try:
            killed = False
            deadline = time.monotonic() + POD_SECONDS
            while not killed and _docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true":
                if self.watch is not None and self.watch(job, index, name):
                    killed = True
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"pod {name} ran for more than {POD_SECONDS} s")
                else:
                    time.sleep(0.02)
            code = int(_docker("wait", name, timeout=POD_SECONDS).stdout.strip())
            logs = _docker("logs", name)
        finally:
            _docker("rm", "--force", name)
        with self._lock:
            self.runs.append((job["metadata"]["name"], index, code, logs.stdout + logs.stderr))
        return code


def kill(name: str) -> None:
    """SIGKILL the container `name` (as an OOM kill or a node loss stops a pod)."""
    done = _docker("kill", "--signal", "KILL", name)
    if done.returncode != 0 and "is not running" not in done.stderr:
        raise RuntimeError(f"docker kill {name} failed: {done.stderr}")
