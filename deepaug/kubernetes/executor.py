"""The Kubernetes executor: one batch/v1 Job per trial; specs and records go through shared storage.

The search's context is uploaded once (deepaug.kubernetes.trial_worker.upload_context); each trial gets a
spec document and a record under `experiments/<experiment>/trials/<number>/` of
`kubernetes.storage` (the layout of deepaug.execution.records, the experiment folder's own: a
search whose `reports_dir` is that storage keeps one copy of each record, written by the
pods; see `records_uri`), then a Job (deepaug.kubernetes.manifests) whose pod runs `deepaug trial
run --spec <uri>`. `wait` polls the Jobs' status with one list call and reads each
trial's record: a new finished training is passed to `on_update` (one call per
training, as the other executors do), a finished record ends the trial. A Job that fails
without a finished record is created again (`max_retries` times; the new pod resumes from
the last finished training), then the trial is recorded as FAILED and the search goes on;
a user error (exit code 2, stopped by the Job's podFailurePolicy) is not retried.

API calls go through deepaug.kubernetes.client (retries with backoff, clear errors). `cancel` and
`close` delete the Jobs this executor started (succeeded Jobs as soon as their record is
read, failed ones at the end, so `kubectl logs` works meanwhile). Records are whole or
absent: the controller and the pods write them atomically, and `on_update` (the
experiment folder) hears of a trial only once its Job exists.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

from deepaug.errors import InputError, SearchError
from deepaug.execution.owner import STALE_SECONDS, claim, owner_text, release
from deepaug.execution.records import encode, record_key, spec_key
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState, now, starting_record
from deepaug.kubernetes.client import MISSING_POLLS, USER_ERROR_REASON, JobsApi, job_state
from deepaug.kubernetes.manifests import APP_LABEL, EXPERIMENT_LABEL, label_value, load_template, render_job, require
from deepaug.kubernetes.trial_worker import checkpoints_prefix, spec_document, stored_record, upload_context
from deepaug.storage.backends import open_storage, read_json_or_none, write_json

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.kubernetes.settings import KubernetesSettings

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60.0  # how often a controller refreshes its claim on the experiment (owner.json)
DEFAULT_JOBS = 4  # trial Jobs at once when the config does not say (`workers`)


def experiment_prefix(experiment: str) -> str:
    """The experiment's folder in the shared storage (its trials' specs and records, owner.json)."""
    return f"experiments/{experiment}"


def trial_record_key(experiment: str, number: int) -> str:
    """Where trial `number`'s record lives in the shared storage."""
    return f"{experiment_prefix(experiment)}/{record_key(number)}"


def trial_spec_key(experiment: str, number: int) -> str:
    """Where trial `number`'s spec (what its pod reads) lives in the shared storage."""
    return f"{experiment_prefix(experiment)}/{spec_key(number)}"


@dataclass
class _Trial:
    spec: TrialSpec
    job: str
    attempt: int  # 0 for the first Job
    latest: TrialRecord  # the newest RUNNING record seen
    reported: int  # trainings passed to on_update so far
    missing: int = 0  # consecutive polls without the Job in the listing


class KubernetesExecutor:
    """Runs trials as Kubernetes Jobs, `capacity` at a time (see the module docstring)."""

    def __init__(self, context: TrialContext, on_update: Callable[[TrialRecord], None] | None = None,
                 settings: "KubernetesSettings | None" = None, experiment: str = "deepaug",
                 workers: int | None = None, *, api: Any = None, backoff_seconds: float = 0.5,
                 max_backoff_seconds: float = 30.0) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise InputError(f"workers must be a positive integer, got {workers!r}")
        self.settings = require(settings)
        self.context, self.on_update, self.experiment = context, on_update, experiment
        self.capacity = workers or DEFAULT_JOBS
        self.storage = open_storage(self.settings.storage)
        self.jobs = JobsApi(self.settings, api, backoff_seconds, max_backoff_seconds)
        self._selector = f"{APP_LABEL}=deepaug,{EXPERIMENT_LABEL}={label_value(experiment)}"
        self._template = load_template(self.settings.job_template)  # a bad template fails before any Job
        self._pending: deque[tuple[TrialSpec, TrialRecord | None]] = deque()
        self._active: dict[int, _Trial] = {}
        self._done: list[TrialRecord] = []
        self._kept_jobs: list[str] = []  # failed Jobs, deleted at close (their pods' logs help until then)
        self._context_uri: str | None = None
        self.records_uri = self.storage.uri(experiment_prefix(experiment))  # the experiment folder pods write in
        self._owner_key = f"{experiment_prefix(experiment)}/owner.json"
        self._owner = claim(self.storage, self._owner_key, f"experiment {experiment!r} in {self.storage.uri()}",
                            f"A controller that died on another machine is taken over {STALE_SECONDS / 60:.0f} min "
                            f"after its last sign of life (or remove {self.storage.uri(self._owner_key)})", reopen=True)
        self._beat = time.monotonic()

    # ------------------------------------------------------------ one controller per experiment

    def _heartbeat(self) -> None:
        if time.monotonic() - self._beat < HEARTBEAT_SECONDS:
            return
        self._beat = time.monotonic()
        owner = read_json_or_none(self.storage, self._owner_key)
        if owner is not None and owner.get("token") == self._owner["token"]:
            self._owner = {**self._owner, "heartbeat": time.time()}
            write_json(self.storage, self._owner_key, self._owner)
        else:  # another controller took it over (this one showed no sign of life for too long): stop
            raise SearchError(f"experiment {self.experiment!r} is now run by "
                              f"{owner_text(owner) if owner else 'no one'}; this controller stops (its finished "
                              "trials are saved) so that two do not run the same trials")

    # ------------------------------------------------------------ trials

    def _emit(self, record: TrialRecord) -> None:
        if self.on_update is not None:
            self.on_update(record)

    def _finish(self, trial: _Trial, record: TrialRecord, decided: bool = False) -> None:
        """Report `record` as the trial's end; `decided`: the controller failed it (no pod wrote it), so
        it is stored here too, in case the experiment folder is this storage and leaves records to it."""
        if decided:
            self.storage.write(trial_record_key(self.experiment, trial.spec.number), encode(record))
        for k in range(trial.reported + 1, len(record.histories) + 1):  # trainings not reported yet
            self._emit(replace(trial.latest, histories=record.histories[:k]))
        self._emit(record)
        self._done.append(record)
        self._active.pop(trial.spec.number, None)

    def _launch(self, spec: TrialSpec, resume_from: TrialRecord | None, previous: _Trial | None = None) -> None:
        record_at, spec_at = trial_record_key(self.experiment, spec.number), trial_spec_key(self.experiment, spec.number)
        attempt = 0 if previous is None else previous.attempt + 1
        try:
            if self._context_uri is None:
                self._context_uri = upload_context(self.storage, self.context)
        except InputError as exc:  # e.g. unreadable warm-start weights: the trial fails, as it would locally
            record = resume_from or TrialRecord.running(spec, self.context.config.model_name)
            self._emit(record)
            self._finish(_Trial(spec, "", 0, record, len(record.histories)),
                         replace(record, state=TrialState.FAILED, finished_at=now(), error=f"InputError: {exc}"),
                         decided=True)
            return
        if previous is not None:
            record = previous.latest
        else:
            # the stored record is this spec's when a controller launched it before (a resume):
            # its pod may have got further than the experiment folder knows, or finished
            stored = stored_record(self.storage, record_at, spec, warn=False) if resume_from is not None else None
            if stored is not None and len(stored.histories) < len(resume_from.histories):
                stored = None  # the experiment folder knows more
            if stored is not None and stored.state is not TrialState.FAILED:
                record = stored
            else:  # a new spec (a later rung, a race seed) or a failed run of this one starts RUNNING
                record = starting_record(spec, self.context.config.model_name, stored or resume_from)
                if stored is not None:  # new Job names: the failed Jobs may still be there
                    record = replace(record, extra={**record.extra, "job_salt": stored.finished_at or now()})
                self.storage.write(record_at, encode(record))
        spec_uri = self.storage.uri(spec_at)
        trial = _Trial(spec, "", attempt, record, len(record.histories) if previous is None else previous.reported)
        if record.finished:  # finished while no controller was watching
            self._finish(trial, record)
            return
        write_json(self.storage, spec_at, spec_document(spec, self._context_uri, self.storage.uri(record_at)))
        digest = hashlib.sha256((json.dumps(spec.to_dict(), sort_keys=True) +
                                 str(record.extra.get("job_salt", ""))).encode()).hexdigest()
        job = render_job(self.settings, self.experiment, spec.number, spec_uri, attempt, self._template, digest)
        self.jobs.create(job)
        trial.job = job["metadata"]["name"]
        self._active[spec.number] = trial
        log.info("trial %d: Job %s created (attempt %d of %d)", spec.number, trial.job, attempt + 1,
                 self.settings.max_retries + 1)
        self._emit(record)

    def _fill(self) -> None:
        while self._pending and len(self._active) < self.capacity:
            self._launch(*self._pending.popleft())

    def _poll(self) -> None:
        jobs = self.jobs.list(self._selector)
        for trial in list(self._active.values()):
            job = jobs.get(trial.job)
            trial.missing = 0 if job is not None else trial.missing + 1
            state, reason = ("running", "") if job is None else job_state(job)
            record = stored_record(self.storage, trial_record_key(self.experiment, trial.spec.number), trial.spec)  # read after the status: a done Job's is final
            if record is not None and record.finished:
                self._finish(trial, record)
                if record.state is TrialState.COMPLETE:
                    self.jobs.delete([trial.job], self._selector)
                else:
                    self._kept_jobs.append(trial.job)
                continue
            if record is not None and len(record.histories) > trial.reported:
                for k in range(trial.reported + 1, len(record.histories)):
                    self._emit(replace(record, histories=record.histories[:k]))
                self._emit(record)
                trial.latest, trial.reported = record, len(record.histories)
            if trial.missing >= MISSING_POLLS:
                self._job_failed(trial, "gone", "the Job disappeared (deleted outside deepaug?)")
            elif state != "running":
                self._job_failed(trial, state, reason)

    def _job_failed(self, trial: _Trial, state: str, reason: str) -> None:
        where = f"Job {trial.job} (namespace {self.settings.namespace})"
        if state == "succeeded":
            problem = f"{where} succeeded without a finished record"
        else:
            problem = f"{where} {'failed' if state == 'failed' else 'is gone'} ({reason})"
        if state != "gone":
            self._kept_jobs.append(trial.job)
        if reason.startswith(USER_ERROR_REASON):
            error = (f"{problem}: a user error (exit code 2), not retried; see `kubectl logs -n "
                     f"{self.settings.namespace} job/{trial.job}`")
        elif trial.attempt < self.settings.max_retries:
            log.warning("trial %d: %s; creating a new Job, resuming after %d finished training(s)",
                        trial.spec.number, problem, len(trial.latest.histories))
            self._active.pop(trial.spec.number)
            self._launch(trial.spec, None, previous=trial)
            return
        else:
            error = f"{problem}; gave up after {trial.attempt + 1} Job(s) (kubernetes.max_retries)"
        log.warning("trial %d failed: %s", trial.spec.number, error)
        self._finish(trial, replace(trial.latest, state=TrialState.FAILED, finished_at=now(), error=error),
                     decided=True)

    # ------------------------------------------------------------ executor interface

    def submit(self, spec: TrialSpec, resume_from: TrialRecord | None = None) -> None:
        self._pending.append((spec, resume_from))
        self._fill()

    def wait(self) -> list[TrialRecord]:
        if not (self._pending or self._active or self._done):
            raise InputError("wait() with no submitted trial")
        while True:
            self._fill()
            if not self._done:
                self._poll()
                self._heartbeat()
            if self._done:
                done, self._done = self._done, []
                return done
            time.sleep(self.settings.poll_seconds)

    def cancel(self) -> None:
        """Delete the Jobs in flight; their trials stay RUNNING in the records and resume later."""
        self._pending.clear()
        names = [trial.job for trial in self._active.values() if trial.job]
        self._active.clear()
        self._done.clear()
        if names:
            self.jobs.delete(names, self._selector)

    def discard_checkpoints(self, numbers: Iterable[int]) -> tuple[int, int]:
        """Delete the trials' checkpoints that their pods kept beside the records."""
        files = size = 0
        for number in numbers:
            prefix = checkpoints_prefix(trial_record_key(self.experiment, number))
            for key, stamp in list(self.storage.list_info(prefix)):
                self.storage.delete(key)
                length = stamp.partition(":")[0]
                files, size = files + 1, size + (int(length) if length.isdigit() else 0)
        return files, size

    def close(self) -> None:
        self.cancel()
        names, self._kept_jobs = self._kept_jobs, []
        if names:
            self.jobs.delete(names, self._selector)
        release(self.storage, self._owner_key, self._owner)
