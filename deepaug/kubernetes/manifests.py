"""Kubernetes manifests of a search: the trial Job (filled in from a YAML template) and the RBAC.

`fill_pod` and `set_limits` fill in what every deepaug Job takes from the settings (the
augment Job of deepaug.kubernetes.augment uses them too).

The template is `k8s/trial-job.yaml` (packaged as deepaug/builtin/k8s-trial-job.yaml);
`render_job` fills in what the `kubernetes:` settings say and keeps the rest as written,
so an edited copy (`kubernetes.job_template`) can add what deepaug does not know about.
Every Job carries the labels `app.kubernetes.io/name=deepaug`, `deepaug/experiment` and
`deepaug/trial`; its name is `deepaug-<experiment>-t<number>-<hash>`, a DNS-1123 label of
at most 63 characters (its hash, of the storage URI, the trial spec and the attempt, tells
apart retries, other searches and experiments whose names clip alike).

>>> job_name("My Search!", 7, attempt=0, salt="s3://bucket/deepaug")
'deepaug-my-search-t7-b1d577'
"""
from __future__ import annotations

import copy
import hashlib
import logging
import math
import re
from typing import TYPE_CHECKING, Any

import yaml

from deepaug import resources
from deepaug.errors import InputError
from deepaug.kubernetes.settings import KubernetesSettings

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.kubernetes.settings import KubernetesSettings

log = logging.getLogger(__name__)

TEMPLATE = "k8s-trial-job.yaml"
RBAC = "k8s-rbac.yaml"
CONTAINER = "trial"  # the container podFailurePolicy's exit-code rule names
APP_LABEL = "app.kubernetes.io/name"
EXPERIMENT_LABEL = "deepaug/experiment"
TRIAL_LABEL = "deepaug/trial"
KUBERNETES_VERSION = "1.31"  # the version manifests are validated against (tests, k8s/README.md)
_MAX_NAME = 63


def dns_label(text: str, limit: int = _MAX_NAME) -> str:
    """`text` as a DNS-1123 label: lowercase alphanumerics and '-', at most `limit` characters."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", label)[:limit].strip("-") or "x"


def label_value(text: str) -> str:
    """`text` as a label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:_MAX_NAME]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value) or "x"


def job_name(experiment: str, number: int, attempt: int = 0, salt: str = "") -> str:
    """The Job name of trial `number`'s `attempt` (0 first) in `experiment`."""
    digest = hashlib.sha256(f"{salt}\n{experiment}\n{number}\n{attempt}".encode()).hexdigest()[:6]
    tail = f"-t{int(number)}-{digest}"
    return f"{dns_label('deepaug-' + experiment, _MAX_NAME - len(tail))}{tail}"


def require(settings: "KubernetesSettings | None") -> "KubernetesSettings":
    """The settings if they name an image and a storage URI, else InputError saying what to add."""

    settings = settings if settings is not None else KubernetesSettings()
    missing = [key for key in ("image", "storage") if not getattr(settings, key)]
    if missing:
        note = (" (kubernetes.augment_image is for augment Jobs only: trial Jobs train, so they need the image "
                "with TensorFlow)" if "image" in missing and settings.augment_image else "")
        raise InputError(f"executor kubernetes needs kubernetes.{' and kubernetes.'.join(missing)} in the config: "
                         "image is the worker image built from k8s/Dockerfile (EXTRAS=cpu,s3,queue, the default), "
                         f"storage the s3:// URI (or shared volume path) that the controller and the pods share{note}; "
                         "see k8s/README.md")
    if "://" not in settings.storage and not settings.volume_claim:
        log.warning("kubernetes.storage %r is a local path but no kubernetes.volume_claim is set: pods can read it "
                    "only if the image or the template mounts it at the same path", settings.storage)
    return settings


def _load(name: str, path: str | None = None, setting: str = "kubernetes.job_template") -> Any:

    if path is None:
        text = resources.text(name)
        where = f"deepaug's {name}"
    else:
        text = resources.read_user_file(path, "Job template",
                                      f"fix {setting} or leave it out to use k8s/{name.removeprefix('k8s-')}")
        where = f"Job template {path!r}"
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise InputError(f"{where} does not parse as YAML ({exc})") from None
    return docs, where


def load_template(path: str | None = None, *, packaged: str = TEMPLATE, container: str = CONTAINER,
                  runs: str = "`deepaug trial run`", setting: str = "kubernetes.job_template") -> dict[str, Any]:
    """A Job template (the packaged one unless `path`), checked for what deepaug fills in."""
    docs, where = _load(packaged, path, setting)
    job = docs[0] if len(docs) == 1 else None
    if not isinstance(job, dict) or job.get("kind") != "Job" or job.get("apiVersion") != "batch/v1":
        raise InputError(f"{where} must hold one batch/v1 Job")
    containers = job.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    if not any(isinstance(c, dict) and c.get("name") == container for c in containers):
        raise InputError(f"{where}: the pod template needs a container named {container!r} (the one that runs "
                         f"{runs})")
    return job


def render_job(settings: "KubernetesSettings", experiment: str, number: int, spec_uri: str, attempt: int = 0,
               template: dict[str, Any] | None = None, spec_digest: str = "") -> dict[str, Any]:
    """The Job manifest that runs trial `number` (attempt `attempt`) of `experiment` from `spec_uri`.

    `spec_digest` (of the trial spec) goes into the name's hash, so that a Job left over
    from another search under the same name and storage is never mistaken for this one's.
    """
    job = copy.deepcopy(template if template is not None else load_template(settings.job_template))
    labels = {APP_LABEL: "deepaug", EXPERIMENT_LABEL: label_value(experiment), TRIAL_LABEL: str(int(number))}
    meta = job.get("metadata") or {}
    job["metadata"] = {**meta, "name": job_name(experiment, number, attempt, f"{settings.storage}\n{spec_digest}"),
                       "namespace": settings.namespace, "labels": {**(meta.get("labels") or {}), **labels},
                       "annotations": {**(meta.get("annotations") or {}), "deepaug/experiment-name": experiment,
                                       "deepaug/spec": spec_uri, "deepaug/attempt": str(int(attempt))}}
    spec = job.setdefault("spec", {})
    spec["backoffLimit"] = settings.backoff_limit
    set_limits(spec, settings)
    container = fill_pod(job, settings, labels, CONTAINER)
    container.update(command=["deepaug"], args=["trial", "run", "--spec", spec_uri])
    return job


def set_limits(spec: dict[str, Any], settings: "KubernetesSettings") -> None:
    """activeDeadlineSeconds and ttlSecondsAfterFinished from the settings (None: left out)."""
    for key, value in (("activeDeadlineSeconds", settings.active_deadline_seconds),
                       ("ttlSecondsAfterFinished", settings.ttl_seconds_after_finished)):
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value


def fill_pod(job: dict[str, Any], settings: "KubernetesSettings", labels: dict[str, str],
             container_name: str) -> dict[str, Any]:
    """Fill the Job's pod template from the settings (labels, placement, image, env, resources, shared
    volume); the container named `container_name`, for the caller to set its command."""
    spec = job["spec"]
    pod_meta = spec["template"].setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
    pod = spec["template"]["spec"]
    if settings.service_account:
        pod["serviceAccountName"] = settings.service_account
    if settings.node_selector:
        pod["nodeSelector"] = {**(pod.get("nodeSelector") or {}), **settings.node_selector}
    if settings.tolerations:
        pod["tolerations"] = [*(pod.get("tolerations") or []), *settings.tolerations]
    container = next(c for c in pod["containers"] if c.get("name") == container_name)
    container.update(image=settings.image, imagePullPolicy=settings.image_pull_policy)
    _fill_env(container, settings)
    _fill_resources(container, settings)
    if settings.volume_claim and "://" not in (settings.storage or ""):
        pod["volumes"] = [*(pod.get("volumes") or []),
                          {"name": "shared", "persistentVolumeClaim": {"claimName": settings.volume_claim}}]
        container["volumeMounts"] = [*(container.get("volumeMounts") or []),
                                     {"name": "shared", "mountPath": settings.storage}]
    return container


def cpu_threads(cpu: str | int | float) -> int:
    """CPU threads for a container that requests `cpu` (a quantity: 2, 1.5, 500m): at least one."""
    text = str(cpu)
    cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    return max(1, math.ceil(cores))


def _fill_env(container: dict[str, Any], settings: "KubernetesSettings") -> None:
    # A container sees every core of its node; TensorFlow and OpenMP would start a thread per core.
    threads = str(cpu_threads(settings.cpu))
    fixed = {"OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
             "TF_NUM_INTEROP_THREADS": str(min(2, int(threads))), **settings.env}
    env = [e for e in container.get("env") or [] if e.get("name") not in fixed]
    env += [{"name": name, "value": str(value)} for name, value in fixed.items()]
    container["env"] = env
    if settings.secret_name:  # credentials reach the pod only by reference to the user's Secret
        container["envFrom"] = [*(container.get("envFrom") or []), {"secretRef": {"name": settings.secret_name}}]


def _fill_resources(container: dict[str, Any], settings: "KubernetesSettings") -> None:
    res = container.setdefault("resources", {})
    requests, limits = res.setdefault("requests", {}), res.setdefault("limits", {})
    requests.update(cpu=str(settings.cpu), memory=settings.memory)
    limits["memory"] = settings.memory  # a pod past its request is the first evicted; past its limit, OOM killed
    if settings.gpus:
        requests[settings.gpu_resource] = limits[settings.gpu_resource] = settings.gpus


def render_rbac(settings: "KubernetesSettings") -> list[dict[str, Any]]:
    """The ServiceAccounts, Role and RoleBinding of k8s/rbac.yaml, in the settings' namespace."""
    docs, _ = _load(RBAC)
    for doc in docs:
        doc["metadata"]["namespace"] = settings.namespace
        if doc["kind"] == "ServiceAccount" and doc["metadata"]["name"] == "deepaug-worker" \
                and settings.service_account:
            doc["metadata"]["name"] = settings.service_account
        for subject in doc.get("subjects", ()):
            subject["namespace"] = settings.namespace
    return docs


def to_yaml(docs: list[dict[str, Any]]) -> str:
    """Manifests as one multi-document YAML text (what `kubectl apply -f -` reads)."""
    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)
