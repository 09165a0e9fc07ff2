"""Augmenting a dataset on Kubernetes: one Indexed Job, whose pod I of N does share I of the shards.

The controller (`deepaug augment --executor kubernetes`, wherever it runs) checks the request
and makes the plan (it lists the input; `plan_augment_job`, all that `deepaug k8s render
augment` does before it prints the Job), then claims the output and, unless the dataset is
already complete, creates the Job of `k8s/augment-job.yaml` (`run_augment_job`): `completions` pods,
`parallelism` at a time, each running `deepaug augment ... --shard /N` with N =
completions. Pods skip complete shards, so a Job created again after a failure does only
the missing ones. The Job's name comes from the dataset id and the output, so running the
same request again follows a Job still running instead of starting a second one.

What the pods read must be reachable from them: s3:// URIs, or local paths on the shared
volume (`kubernetes.volume_claim`, mounted at `kubernetes.storage`). A built-in policy
name or an s3:// policy passes as is; any other policy is uploaded, as the JSON the
controller resolved, next to the output's run document (`_policy.json`), so the pods
compute the same dataset id from the same bytes.

>>> from deepaug import augment
>>> augment("best.json", "s3://bucket/train", "s3://bucket/augmented/{id}", executor="kubernetes",
...         kubernetes={"image": "registry.example.com/deepaug:0.1.0"}, parallelism=8)  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from tqdm import tqdm

from deepaug.augmentation.manifest import done_shards
from deepaug.augmentation.outputs import MANIFEST_KEY
from deepaug.augmentation.plan import RunPlan, make_plan
from deepaug.augmentation.run import AugmentResult
from deepaug.augmentation.shards import Share, parse_ranges, ranges_text, shares_of
from deepaug.augmentation.workers import finalize_run, prepare_output
from deepaug.errors import RunError
from deepaug.kubernetes.augment_job import (
    CONTAINER,
    DATASET_LABEL,
    MAX_SHARDS_TEXT,
    check_reachable,
    check_settings,
    check_shape,
    job_shape,
    load_augment_template,
    policy_argument,
    render_augment_job,
)
from deepaug.kubernetes.client import MISSING_POLLS, USER_ERROR_REASON, JobsApi, connect, job_state
from deepaug.kubernetes.manifests import APP_LABEL, label_value
from deepaug.storage.backends import Storage, open_storage, read_json_or_none

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.kubernetes.settings import KubernetesSettings

log = logging.getLogger(__name__)

LOG_SECONDS = 10.0  # at most one progress line per this many seconds (failures at once)
STALL_SECONDS = 600.0  # a warning when no shard completed for this long (pods stuck Pending?)


# ---------------------------------------------------------------- following the Job

def parse_indexes(text: str | None) -> set[int]:
    """'1,3-5,7' (a Job's completedIndexes / failedIndexes) -> {1, 3, 4, 5, 7}."""
    return set(parse_ranges(text or "", "index ranges"))


def job_todo(job: Any, n_shards: int) -> list[int]:
    """The shards a Job found on the cluster has its pods share (its --shards; every shard without it)."""
    args = next(c for c in job.spec.template.spec.containers if c.name == CONTAINER).args or []
    if "--shards" in args[:-1]:
        return parse_ranges(args[args.index("--shards") + 1])
    return list(range(n_shards))


class AugmentJob:
    """The Job of one run: `start` creates it (or follows one already running), `wait` follows it to the
    manifest, `close` deletes it unless it failed (kept for `kubectl logs` until its TTL). As a context
    manager it deletes the Job on success and on Ctrl-C, and leaves it running on any other error (the
    controller's credentials expired, the API server is unreachable...): the pods need no controller, and
    the same command follows the Job again."""

    def __init__(self, plan: RunPlan, settings: "KubernetesSettings", manifest: dict[str, Any], *, api: Any = None,
                 backoff_seconds: float = 0.5, max_backoff_seconds: float = 30.0,
                 todo: list[int] | None = None) -> None:
        self.plan, self.settings, self.manifest = plan, settings, manifest
        self.name: str = manifest["metadata"]["name"]
        self.completions: int = manifest["spec"]["completions"]
        self.todo: list[int] = list(range(plan.n_shards)) if todo is None else todo  # the shards its pods share
        self.jobs = JobsApi(settings, api, backoff_seconds, max_backoff_seconds, kept="complete shards are kept")
        self.storage: Storage = open_storage(plan.output_uri, **plan.storage_options)
        self.selector = f"{APP_LABEL}=deepaug,{DATASET_LABEL}={label_value(plan.dataset_id[:16])}"
        self.state = "new"  # new, running, complete, failed, deleted
        self._last_line, self._logged_at, self._failed_seen = "", -LOG_SECONDS, 0
        self._done: set[int] = set()  # shards with a marker at the last poll

    def __enter__(self) -> "AugmentJob":
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None or issubclass(kind, KeyboardInterrupt) or self.state != "running":
            self.close()
            return
        log.warning("Job %s keeps running in namespace %s; its pods need no controller. Run the same command "
                    "again to follow it and write the manifest, or delete it with `kubectl -n %s delete job %s`",
                    self.name, self.settings.namespace, self.settings.namespace, self.name)

    def start(self) -> None:
        """Create the Job, or follow the one of this name still running; a finished one is replaced."""
        found = self.jobs.read(self.name)
        if found is not None and job_state(found)[0] == "running":
            self.completions = found.spec.completions or self.completions  # its shares, not ours
            self.todo = job_todo(found, self.plan.n_shards)
            log.info("Job %s (namespace %s) is already running for this dataset (%d pods); following it", self.name,
                     self.settings.namespace, self.completions)
        else:
            if found is not None:
                log.info("Job %s finished earlier (%s) without completing the dataset; replacing it to do the "
                         "missing shards", self.name, job_state(found)[1])
                self._remove_old()
            self.jobs.create(self.manifest)
            spec = self.manifest["spec"]
            log.info("Job %s created in namespace %s: %d pods, %d at a time (`kubectl -n %s get pods -l "
                     "job-name=%s`)", self.name, self.settings.namespace, spec["completions"], spec["parallelism"],
                     self.settings.namespace, self.name)
        self.state = "running"

    def _remove_old(self, seconds: float = 120.0) -> None:
        self.jobs.delete([self.name], self.selector)
        deadline = time.monotonic() + seconds
        while self.jobs.read(self.name) is not None:
            if time.monotonic() > deadline:
                raise RunError(f"the earlier Job {self.name} is still there {seconds:.0f} s after deleting it; "
                               f"delete it with `kubectl -n {self.settings.namespace} delete job {self.name}` and "
                               "run the same command again")
            time.sleep(self.settings.poll_seconds)

    def wait(self) -> dict[str, Any]:
        """Poll until the Job is done; the manifest, or RunError naming the failed indexes."""
        missing, progress, moved_at = 0, None, time.monotonic()
        with tqdm(total=self.plan.n_shards, unit="shard", desc="augment", disable=None) as bar:
            while True:
                job = self.jobs.read(self.name)
                done = self._done_shards()
                bar.update(len(done) - bar.n)
                now_progress = (len(done), getattr(getattr(job, "status", None), "succeeded", None))
                if now_progress != progress:
                    progress, moved_at = now_progress, time.monotonic()
                elif time.monotonic() - moved_at > STALL_SECONDS:
                    self._warn_stalled()
                    moved_at = time.monotonic()
                missing = 0 if job is not None else missing + 1
                if missing >= MISSING_POLLS:
                    self.state = "deleted"
                    raise RunError(f"Job {self.name} disappeared (deleted outside deepaug?); {len(done)} of "
                                   f"{self.plan.n_shards} shards are complete and kept: run the same command again "
                                   "to do the rest")
                state, reason = ("running", "") if job is None else job_state(job)
                self._log_progress(job, done)
                if state == "succeeded":
                    self.state = "complete"
                    return self._finish()
                if state == "failed":
                    self.state = "failed"
                    raise RunError(self._failure(job, reason, done))
                time.sleep(self.settings.poll_seconds)

    def _warn_stalled(self) -> None:
        ns = self.settings.namespace
        log.warning("Job %s: no shard completed in the last %.0f minutes. Pods may be Pending (image pull, no node "
                    "with the requested resources, a missing Secret or volume): see `kubectl -n %s get pods -l "
                    "job-name=%s` and `kubectl -n %s describe pods -l job-name=%s`. Waiting on; Ctrl-C deletes "
                    "the Job", self.name, STALL_SECONDS / 60, ns, self.name, ns, self.name)

    def _done_shards(self) -> set[int]:
        try:
            self._done = done_shards(self.storage) & set(range(self.plan.n_shards))
            return self._done
        except Exception as exc:  # progress only: a storage hiccup or expired credentials must not stop the run
            log.warning("cannot list the shard markers in %s (%s); trying again at the next poll",
                        self.storage.uri(), exc)
            return self._done

    def _log_progress(self, job: Any, done: set[int]) -> None:
        """A line when something changed: at once for new pod failures, else at most every LOG_SECONDS."""
        status = job.status if job is not None else None
        active, succeeded, failed = ((status.active or 0, status.succeeded or 0, status.failed or 0) if status
                                     else (0, 0, 0))
        line = (f"Job {self.name}: {len(done)} of {self.plan.n_shards} shards complete; pods: {active} running, "
                f"{succeeded} of {self.completions} succeeded, {failed} failed")
        now = time.monotonic()
        if failed > self._failed_seen:
            log.warning("%s (see `kubectl -n %s logs job/%s`)", line, self.settings.namespace, self.name)
        elif line == self._last_line or now - self._logged_at < LOG_SECONDS:
            return
        else:
            log.info("%s", line)
        self._failed_seen, self._last_line, self._logged_at = failed, line, now

    def _finish(self) -> dict[str, Any]:
        manifest = read_json_or_none(self.storage, MANIFEST_KEY)
        if manifest is None or manifest.get("dataset_id") != self.plan.dataset_id:
            manifest = finalize_run(self.plan)
        if manifest is None:
            lacking = sorted(set(range(self.plan.n_shards)) - self._done_shards())
            raise RunError(f"Job {self.name} completed but shard(s) {_ranges(lacking)} have no completion marker "
                           "(outputs removed while it ran?); run the same command again to redo them")
        log.info("Job %s complete", self.name)
        return manifest

    def _failure(self, job: Any, reason: str, done: set[int]) -> str:
        status, n, ns = job.status, self.plan.n_shards, self.settings.namespace
        failed = parse_indexes(status.failed_indexes) or (
            set(range(self.completions)) - parse_indexes(status.completed_indexes))
        lacking = sorted(set(range(n)) - done)
        words = [f"Job {self.name} (namespace {ns}) failed ({reason})"]
        if reason.startswith(USER_ERROR_REASON):
            words.append("a pod exited with code 2, a user error (bad input, policy or output, or an image whose "
                         "deepaug differs from this one): retrying cannot help, so the Job stopped at once")
        shares = [f"{i} (shards {_ranges(shares_of(Share(i, self.completions), self.todo))})" for i in sorted(failed)]
        words.append(f"index(es) not completed: {', '.join(shares[:10])}{' ...' if len(shares) > 10 else ''}")
        words.append(f"{n - len(lacking)} of {n} shards are complete and kept; missing: {_ranges(lacking)}. "
                     f"See the logs with `kubectl -n {ns} logs job/{self.name}` (one pod) or `kubectl -n {ns} logs "
                     f"-l job-name={self.name},batch.kubernetes.io/job-completion-index=<index>`; fix the cause and "
                     "run the same command again: it does only the missing shards")
        return "; ".join(words)

    def close(self) -> None:
        """Delete the Job (its pods go in the background) unless it failed or is gone; idempotent."""
        if self.state in ("running", "complete"):
            self.state = "deleted"
            self.jobs.delete([self.name], self.selector)
            log.info("deleted Job %s", self.name)


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5' (at most 12 runs shown)."""
    text = ranges_text(numbers).split(",") if numbers else []
    return (", ".join(text[:12]) + (" ..." if len(text) > 12 else "")) or "none"


# ---------------------------------------------------------------- the controller

@dataclass(frozen=True)
class PlannedJob:
    """An augment request made ready for the cluster: checked settings, Job shape and template, the run's
    plan, and the API client when the Job is to be submitted (`plan_augment_job`)."""

    policy: Any  # as the user gave it: a built-in name or s3:// URI reaches the pods as is (policy_argument)
    plan: RunPlan
    settings: "KubernetesSettings"
    parallelism: int
    completions: int | None  # None: as job_shape chooses
    template: dict[str, Any]
    api: Any = None

    def render(self, todo: list[int] | None = None, upload: bool = True) -> tuple[dict[str, Any], str | None]:
        """(the Job's manifest, the pods' --policy) for the shards `todo` (None: every shard). `upload`
        writes a policy the pods cannot name next to the output; False names its place only."""
        n_shards = self.plan.n_shards if todo is None else len(todo)
        parallelism, completions = job_shape(n_shards, self.parallelism, self.completions)
        policy_arg = policy_argument(self.policy, self.plan, upload=upload)
        return render_augment_job(self.settings, self.plan, policy_arg, parallelism, completions, self.template,
                                  todo), policy_arg


def plan_augment_job(policy: Any, src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                     settings: "KubernetesSettings | Mapping[str, Any] | None", parallelism: int | None = None,
                     completions: int | None = None, job_template: str | None = None, connect_api: bool = False,
                     api: Any = None, **request: Any) -> PlannedJob:
    """The first half of running on the cluster, and all of `deepaug k8s render augment`: check what can be
    checked without touching data (the settings, the Job's shape, the template, that the pods can reach
    input and output; with `connect_api`, that the kubeconfig loads), then plan the run (`request`:
    make_plan's options). Writes nothing."""
    settings = check_settings(settings)
    parallelism, completions = check_shape(parallelism, completions)
    template = load_augment_template(job_template)
    check_reachable(os.fspath(src), "input", settings, job_template is not None)
    check_reachable(os.fspath(dst).replace("{id}", "x"), "output", settings, job_template is not None)
    if connect_api and api is None:
        api = connect(settings)
    plan = make_plan(policy, src, dst, **request)
    return PlannedJob(policy, plan, settings, parallelism, completions, template, api)


def run_augment_job(job: PlannedJob) -> AugmentResult:
    """The second half: claim the output, create the Job for the shards not yet complete (none when a
    Job finished while no controller watched) and follow it to the manifest."""
    plan = job.plan
    api = job.api if job.api is not None else connect(job.settings)  # the kubeconfig loads before anything is written
    manifest = prepare_output(plan)
    if manifest is not None:
        log.info("dataset %s is already complete in %s; no Job needed", plan.dataset_id[:16], plan.output_uri)
        return AugmentResult(plan.dataset_id, plan.output_uri, True, True, plan.n_shards, 0, manifest)
    before = done_shards(open_storage(plan.output_uri, **plan.storage_options)) & set(range(plan.n_shards))
    if len(before) == plan.n_shards:  # a Job finished while no controller watched
        manifest = finalize_run(plan)
        return AugmentResult(plan.dataset_id, plan.output_uri, manifest is not None, False, plan.n_shards, 0,
                             manifest)
    todo = sorted(set(range(plan.n_shards)) - before) if before else None
    if todo is not None:
        log.info("%d of %d shard(s) already complete; the Job's pods share the other %d", len(before),
                 plan.n_shards, len(todo))
        if len(ranges_text(todo)) > MAX_SHARDS_TEXT:  # too scattered for an argument: pods skip complete ones
            todo = None
    manifest_doc, _ = job.render(todo)
    with AugmentJob(plan, job.settings, manifest_doc, api=api, todo=todo) as running:
        running.start()
        manifest = running.wait()
    return AugmentResult(plan.dataset_id, plan.output_uri, True, False, plan.n_shards,
                         plan.n_shards - len(before), manifest)


def augment_on_kubernetes(policy: Any, src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                          settings: "KubernetesSettings | Mapping[str, Any] | None",
                          parallelism: int | None = None, completions: int | None = None,
                          job_template: str | None = None, api: Any = None, **request: Any) -> AugmentResult:
    """Augment on the cluster (see the module docstring); an AugmentResult. `request`: make_plan's options.

    Everything that can be checked without touching data is checked first: the settings, the
    Job's shape, the template, that the pods can reach input and output, the kubeconfig.
    """
    return run_augment_job(plan_augment_job(policy, src, dst, settings=settings, parallelism=parallelism,
                                            completions=completions, job_template=job_template, connect_api=True,
                                            api=api, **request))
