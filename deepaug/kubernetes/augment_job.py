"""The augment Job: its settings and request checks, its shape (parallelism, completions), its
pods' arguments and its manifest (see deepaug.kubernetes.augment for running and following it).
"""
from __future__ import annotations

import copy
import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import ValidationError

from deepaug.augmentation.plan import RunPlan
from deepaug.augmentation.request import BY_NAME, MAX_INDEXES, AugmentRequest
from deepaug.augmentation.shards import ranges_text
from deepaug.errors import InputError, RunError, problems
from deepaug.kubernetes.manifests import (APP_LABEL, cpu_threads, dns_label, fill_pod, label_value, load_template,
                                         set_limits)
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.policy.core import Policy, policy_source
from deepaug.storage.backends import is_remote, open_storage, read_json, write_json

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.kubernetes.settings import KubernetesSettings

log = logging.getLogger(__name__)

TEMPLATE = "k8s-augment-job.yaml"
CONTAINER = "augment"  # the container podFailurePolicy's exit-code rule names
COMPONENT_LABEL = "app.kubernetes.io/component"
DATASET_LABEL = "deepaug/dataset"
POLICY_KEY = "_policy.json"  # a policy the pods cannot name otherwise, next to the output's _run.json
DEFAULT_PARALLELISM = 4  # pods at a time
SHARES_PER_POD = 4  # default completions: min(shards, SHARES_PER_POD * parallelism)
MAX_SHARDS_TEXT = 20_000  # a resumed Job's --shards ranges longer than this: every shard, complete ones skipped


# ---------------------------------------------------------------- settings and request checks

def check_settings(settings: "KubernetesSettings | Mapping[str, Any] | None") -> "KubernetesSettings":
    """Validated settings (a dict is checked like the config's `kubernetes:` section); they must name an image."""
    if settings is None or isinstance(settings, Mapping):
        try:
            settings = KubernetesSettings(**dict(settings or {}))
        except ValidationError as exc:
            raise InputError(f"bad kubernetes settings: {problems(exc, ('kubernetes',))}. Valid keys are: "
                             f"{', '.join(KubernetesSettings.model_fields)}") from None
    if not isinstance(settings, KubernetesSettings):
        raise InputError(f"kubernetes settings must be a dict or KubernetesSettings, got {type(settings).__name__}")
    if not (settings.augment_image or settings.image):
        raise InputError("executor kubernetes needs an image for the augment pods: kubernetes.augment_image (the "
                         "light image, k8s/Dockerfile built with EXTRAS=s3,queue) or kubernetes.image in --config, or "
                         "--image; see k8s/README.md")
    return pod_settings(settings)


def pod_settings(settings: "KubernetesSettings") -> "KubernetesSettings":
    """The settings for augment pods: their image (augment_image when set, else image), one CPU and no GPU,
    whatever a search's trials ask for (an augment pod runs one single-threaded worker; spread the work with
    parallelism instead)."""

    changes: dict[str, Any] = {}
    if settings.augment_image and settings.augment_image != settings.image:
        changes["image"] = settings.augment_image
    if settings.gpus:
        changes["gpus"] = 0
    if cpu_threads(settings.cpu) > 1:
        changes["cpu"] = "1"
    if changes.keys() - {"image"}:
        log.info("augment pods request 1 CPU and no GPU (kubernetes.cpu %s, gpus %d are for search trials); "
                 "raise parallelism to go faster", settings.cpu, settings.gpus)
    return settings.model_copy(update=changes) if changes else settings


def check_shape(parallelism: int | None, completions: int | None) -> tuple[int, int | None]:
    """(parallelism, completions) checked as the request's options are; parallelism defaults,
    completions may be None."""
    parallelism = BY_NAME["parallelism"].check(parallelism)
    return parallelism or DEFAULT_PARALLELISM, BY_NAME["completions"].check(completions)


def job_shape(n_shards: int, parallelism: int, completions: int | None) -> tuple[int, int]:
    """(parallelism, completions) for `n_shards` shards: by default min(n_shards, 4 * parallelism)
    pods in all (shares of a few shards even out pods that start late); never more pods than shards."""
    wanted = completions or SHARES_PER_POD * parallelism
    if completions and completions > n_shards:
        log.info("completions %d > %d shard(s): using %d pods, one shard each", completions, n_shards, n_shards)
    count = max(1, min(wanted, n_shards, MAX_INDEXES))
    return min(parallelism, count), count


def _on_shared_volume(uri: str, settings: "KubernetesSettings") -> bool:
    if not settings.volume_claim or not settings.storage or "://" in settings.storage:
        return False
    mount = Path(settings.storage).expanduser().resolve()
    path = Path(uri).expanduser().resolve()
    return path == mount or mount in path.parents


def check_reachable(uri: str, what: str, settings: "KubernetesSettings", custom_template: bool = False) -> None:
    """InputError unless the pods can reach `uri`: s3://, or a path on the shared volume."""
    if uri.lower().startswith("s3://") or _on_shared_volume(uri, settings):
        return
    where = "is on a store the pods are not given credentials for" if is_remote(uri) else "is a local path"
    problem = (f"the {what} {uri} {where}, which the pods cannot read: use an s3:// URI, or put it on the "
               "shared volume (kubernetes.volume_claim names a ReadWriteMany PVC mounted here and in the pods at "
               "kubernetes.storage, and the path must lie under it)")
    if custom_template:  # an edited template may mount it itself
        log.warning("%s; going on since the Job template may mount it at the same path", problem)
        return
    raise InputError(f"{problem}; see k8s/README.md")


# ---------------------------------------------------------------- the Job

def augment_job_name(dataset_id: str, output_uri: str) -> str:
    """The Job's name: the same request to the same output finds the same Job (a DNS-1123 label: a dataset
    id is lowercase hex, which dns_label keeps as it is)."""
    digest = hashlib.sha256(output_uri.encode("utf-8")).hexdigest()[:6]
    return f"deepaug-augment-{dns_label(dataset_id, 16)}-{digest}"


def policy_argument(policy: Any, plan: RunPlan, upload: bool = True) -> str | None:
    """What the pods get as --policy: a built-in name or s3:// URI as is, else the URI of the policy's JSON
    uploaded next to the output (`upload=False`: the URI only). None in chain mode."""
    if plan.recipe.policy is None:
        return None
    if policy_source(policy) in ("s3", "builtin"):  # what the pods read as the user gave it
        return os.fspath(policy)
    storage = open_storage(plan.output_uri, **plan.storage_options)
    if upload:
        write_json(storage, POLICY_KEY, plan.recipe.policy.to_dict())
        if Policy.from_dict(read_json(storage, POLICY_KEY)).to_dict() != plan.recipe.policy.to_dict():
            raise RunError(f"the policy uploaded to {storage.uri(POLICY_KEY)} reads back differently; the pods "
                           "would compute another dataset id")
    return storage.uri(POLICY_KEY)


def augment_arguments(plan: RunPlan, policy_arg: str | None, completions: int,
                      todo: list[int] | None = None) -> list[str]:
    """The pod's `deepaug augment` arguments: the same request (its dataset options, as the plan
    resolved them), with --shard /N (of `todo`, when given, as --shards ranges)."""
    recipe = plan.recipe
    chain = None if recipe.chain is None else ",".join(f"{op.name}:{op.magnitude!r}" for op in recipe.chain.operations)
    request = AugmentRequest(variants=recipe.variants, chain=chain, format=plan.format, size=recipe.size,
                             crop=recipe.crop, seed=recipe.seed, shard_size=plan.shard_size,
                             jpeg_quality=plan.jpeg_quality, png_compression=plan.png_compression,
                             io_threads=plan.io_threads)
    what = [] if chain is not None else ["--policy", str(policy_arg)]
    args = ["augment", *what, "--input", plan.input_uri, "--output", plan.output_uri, *request.arguments()]
    if todo is not None:
        args += ["--shards", ranges_text(todo)]
    return [*args, "--shard", f"/{completions}"]


def render_augment_job(settings: "KubernetesSettings", plan: RunPlan, policy_arg: str | None, parallelism: int,
                       completions: int, template: dict[str, Any] | None = None,
                       todo: list[int] | None = None) -> dict[str, Any]:
    """The Indexed Job manifest that augments `plan`'s dataset with `completions` pods, `parallelism` at once
    (only the shards in `todo`, shared evenly, when given)."""
    job = copy.deepcopy(template if template is not None else load_augment_template())
    labels = {APP_LABEL: "deepaug", COMPONENT_LABEL: "augment", DATASET_LABEL: label_value(plan.dataset_id[:16])}
    meta = job.get("metadata") or {}
    job["metadata"] = {**meta, "name": augment_job_name(plan.dataset_id, plan.output_uri),
                       "namespace": settings.namespace, "labels": {**(meta.get("labels") or {}), **labels},
                       "annotations": {**(meta.get("annotations") or {}), "deepaug/dataset-id": plan.dataset_id,
                                       "deepaug/input": plan.input_uri, "deepaug/output": plan.output_uri}}
    spec = job.setdefault("spec", {})
    spec.update(completionMode="Indexed", completions=completions, parallelism=parallelism,
                backoffLimitPerIndex=settings.backoff_limit)
    spec.pop("backoffLimit", None)  # with a per-index limit it defaults to no overall limit
    set_limits(spec, settings)
    container = fill_pod(job, settings, labels, CONTAINER)
    container.update(command=["deepaug"], args=augment_arguments(plan, policy_arg, completions, todo))
    return job


def load_augment_template(path: str | None = None) -> dict[str, Any]:
    """The augment Job template (k8s/augment-job.yaml unless `path`), checked."""
    return load_template(path, packaged=TEMPLATE, container=CONTAINER, runs="`deepaug augment`",
                         setting="--job-template")
