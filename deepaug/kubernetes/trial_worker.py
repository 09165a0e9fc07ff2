"""The trial worker of a pod: `deepaug trial run --spec <uri>`, and the files it reads.

A search's shared context (training and validation arrays as .npz, the training config
as JSON, the warm-start weights) is uploaded once under `contexts/<digest>/` of the
shared storage; the digest is of the content, so a resumed search reuses it. Each trial
then gets a spec document (the TrialSpec plus the URIs of its context and of its record).
The worker reads both, runs `run_spec` and writes the RUNNING record after each training
and the finished record, each atomically, to the record URI. A record already there for
the same spec is resumed (a retried pod keeps the finished trainings), or, if finished,
left alone. A rung's trainings (the distribution search) keep their checkpoints beside
the record (`checkpoints/seed_<seed>.npz`, each sent before the record that names its
training), so that the trial's next rung, in another pod, continues them.

Exit codes: 0 trial complete; 3 trial failed (its record says why); 2 user error (bad,
missing or older-format spec or context: retrying cannot help, podFailurePolicy stops
the Job); 1 anything else (crash, storage down): the Job retries the pod.

>>> EXIT_COMPLETE, EXIT_USER_ERROR, EXIT_TRIAL_FAILED
(0, 2, 3)
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import posixpath
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from deepaug._version import __version__
from deepaug.datasets import Dataset
from deepaug.errors import InputError
from deepaug.execution.records import encode, read_record, trial_folder
from deepaug.execution.trials import SHARED, TrialContext, TrialRecord, TrialSpec, TrialState, now, run_spec
from deepaug.storage.atomic import atomic_write_bytes
from deepaug.storage.backends import Storage, join, locate, open_storage, read_json, write_json
from deepaug.training.rungs import checkpoint_path, shared_history_path
from deepaug.training.train import TrainingConfig

log = logging.getLogger(__name__)

SPEC_FORMAT_VERSION = 1
SPEC_KIND = "deepaug-trial-spec"
CONTEXT_FORMAT_VERSION = 1
EXIT_COMPLETE, EXIT_USER_ERROR, EXIT_TRIAL_FAILED = 0, 2, 3
_WEIGHTS = "initial.weights.npz"


# ---------------------------------------------------------------- the shared context (controller side)

def _training_json(context: TrialContext) -> dict[str, Any]:
    config = context.config
    if not isinstance(config.model, str):
        raise InputError("executor kubernetes needs the child model as a name (basiccnn, wrn_28_10, ...): a keras "
                         "Model object cannot be sent to pods")
    fields = dataclasses.asdict(config)
    fields.pop("child_models_dir")  # the pod uses its own scratch folder
    return fields


def _dataset_npz(data: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, images=data.images, labels=data.labels, class_names=np.array(data.class_names, dtype=str),
             name=np.array(data.name, dtype=str))
    return buffer.getvalue()


def upload_context(storage: Storage, context: TrialContext) -> str:
    """Store `context` under contexts/<digest>/ (once; context.json, written last, marks it
    complete) and return that folder's URI."""
    training = _training_json(context)
    weights = None
    if context.initial_weights is not None:
        try:
            weights = Path(context.initial_weights).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the warm-start weights {context.initial_weights} ({exc.strerror})") from None
    digest = hashlib.sha256(json.dumps(training, sort_keys=True).encode())
    for data in (context.train, context.val):
        for array in (data.images, data.labels):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
        digest.update(json.dumps([data.class_names, data.name]).encode())
    digest.update(weights or b"")
    folder = f"contexts/{digest.hexdigest()[:24]}"
    if not storage.exists(f"{folder}/context.json"):
        storage.write(f"{folder}/train.npz", _dataset_npz(context.train))
        storage.write(f"{folder}/val.npz", _dataset_npz(context.val))
        if weights is not None:
            storage.write(f"{folder}/{_WEIGHTS}", weights)
        write_json(storage, f"{folder}/context.json",
                   {"format_version": CONTEXT_FORMAT_VERSION, "deepaug_version": __version__, "training": training,
                    "initial_weights": None if weights is None else _WEIGHTS})
        log.info("uploaded the trial context (%d + %d images) to %s", len(context.train), len(context.val),
                 storage.uri(folder))
    return storage.uri(folder)


def spec_document(spec: TrialSpec, context_uri: str, record_uri: str) -> dict[str, Any]:
    """What the controller stores for a pod: the spec and where its context and record live."""
    return {"format_version": SPEC_FORMAT_VERSION, "kind": SPEC_KIND, "deepaug_version": __version__,
            "spec": spec.to_dict(), "context": context_uri, "record": record_uri}


# ---------------------------------------------------------------- the pod side

def _read(uri: str, what: str) -> Any:
    storage, key = locate(uri)
    try:
        return read_json(storage, key)
    except FileNotFoundError:
        raise InputError(f"{what} {uri} does not exist; the controller writes it before creating the Job (was the "
                         "storage cleaned, or does the pod see another bucket or volume?)") from None


def read_spec(uri: str) -> tuple[TrialSpec, str, str]:
    """(spec, context URI, record URI) of the spec document at `uri`; InputError if it is not one this reads."""
    doc = _read(uri, "trial spec")
    version = doc.get("format_version") if isinstance(doc, Mapping) else None
    if not isinstance(doc, Mapping) or doc.get("kind", SPEC_KIND) != SPEC_KIND or version != SPEC_FORMAT_VERSION:
        written = doc.get("deepaug_version", "an older deepaug") if isinstance(doc, Mapping) else "another tool"
        raise InputError(f"trial spec {uri} has format_version {version!r} (written by {written}); this worker, "
                         f"deepaug {__version__}, reads format_version {SPEC_FORMAT_VERSION}. Build the worker image "
                         "from the same deepaug version as the controller (k8s/Dockerfile) and run again")
    try:
        return TrialSpec.from_dict(doc["spec"]), str(doc["context"]), str(doc["record"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"trial spec {uri} is malformed ({type(exc).__name__}: {exc})") from None


def _dataset(storage: Storage, key: str) -> Any:

    with np.load(io.BytesIO(storage.read(key)), allow_pickle=False) as arrays:
        return Dataset(arrays["images"], arrays["labels"], tuple(str(c) for c in arrays["class_names"]),
                       str(arrays["name"]))


def read_context(uri: str, scratch: str | Path) -> TrialContext:
    """The TrialContext stored at `uri`; warm-start weights and child models go to `scratch`."""

    storage = open_storage(uri)
    doc = _read(join(uri, "context.json"), "trial context")
    if not isinstance(doc, Mapping) or doc.get("format_version") != CONTEXT_FORMAT_VERSION:
        raise InputError(f"trial context {uri} is not format_version {CONTEXT_FORMAT_VERSION}; build the worker image "
                         "from the same deepaug version as the controller")
    try:
        config = TrainingConfig(**doc["training"], child_models_dir=str(Path(scratch) / "child_models"))
        train, val = _dataset(storage, "train.npz"), _dataset(storage, "val.npz")
    except (KeyError, TypeError) as exc:
        raise InputError(f"trial context {uri} is malformed ({type(exc).__name__}: {exc})") from None
    weights = None
    if doc.get("initial_weights"):
        Path(scratch).mkdir(parents=True, exist_ok=True)
        weights = Path(scratch) / _WEIGHTS
        weights.write_bytes(storage.read(doc["initial_weights"]))
    return TrialContext(train, val, config, None if weights is None else str(weights))


def stored_record(storage: Storage, key: str, spec: TrialSpec, warn: bool = True) -> TrialRecord | None:
    """The record at `key` if it is one of `spec` (same number, seed, kind and policy, and for a
    rung the same epochs and seeds), else None (`warn`: say so in the log)."""
    try:
        record = read_record(storage, key)
    except FileNotFoundError:
        return None
    except InputError as exc:
        log.warning("ignoring the record at %s: %s", storage.uri(key), exc)
        return None
    if record.spec != spec:
        if not warn:
            return None
        theirs, ours = record.spec, spec
        log.warning("the record at %s is of another trial or rung (seed %d, epochs %s, seeds %s; this one: seed %d, "
                    "epochs %s, seeds %s); starting afresh", storage.uri(key), theirs.seed, theirs.epochs,
                    list(theirs.seeds), ours.seed, ours.epochs, list(ours.seeds))
        return None
    return record


def checkpoints_prefix(record_key: str) -> str:
    """Where the checkpoints of the trial whose record is at `record_key` are kept: beside it."""
    return posixpath.join(posixpath.dirname(record_key), "checkpoints") + "/"


class SharedCheckpoints:
    """A rung's checkpoints in the pod's scratch `folder`, kept in the shared storage beside
    the trial's record: `fetch` brings the spec's seeds' ones down, `send` puts back those
    that changed since. Under augmentation-wise weight sharing the shared stage's checkpoints
    travel with their histories (`shared_history_path`), and a trial that continues it (a spec
    with `shared`) fetches that stage's files from beside its record."""

    def __init__(self, storage: Storage, record_key: str, spec: TrialSpec, folder: Path,
                 record_uri: str | None = None) -> None:
        self.storage, self.spec, self.folder = storage, spec, Path(folder)
        self._base = checkpoints_prefix(record_key)
        self._shared: tuple[Storage, str] | None = None
        if spec.shared is not None and record_uri is not None:  # the shared stage's record: a sibling trial folder
            sibling = posixpath.join(posixpath.dirname(posixpath.dirname(record_uri)),
                                     posixpath.basename(trial_folder(spec.shared)), "record.json")
            shared_storage, shared_key = locate(sibling)
            self._shared = shared_storage, checkpoints_prefix(shared_key)
        self._sent: dict[Path, int] = {}

    def _files(self, number: int, seed: int) -> list[tuple[Path, Storage, str]]:
        """(local path, storage, key) of trial `number`'s checkpoint on `seed` (this trial's or the shared
        stage's), with the shared stage's history beside it."""
        local = checkpoint_path(self.folder, number, seed)
        storage, base = (self.storage, self._base) if number == self.spec.number or self._shared is None \
            else self._shared
        found = [(local, storage, posixpath.join(base, local.name))]
        if number != self.spec.number or self.spec.kind == SHARED:
            history = shared_history_path(local)
            found.append((history, storage, posixpath.join(base, history.name)))
        return found

    def fetch(self, record: TrialRecord | None) -> None:
        """The checkpoints of the seeds `record` has a shorter training of (those it continues), and the
        shared stage's files a spec with `shared` continues; a missing one means training that seed
        again from scratch (a shared stage's: the trial fails and is retried once it is there)."""
        shorter = {int(h["seed"]) for h in (record.histories if record is not None else ())
                   if "seed" in h and len(h.get("accuracy", ())) < int(self.spec.epochs or 0)}
        wanted = [f for seed in self.spec.seeds if int(seed) in shorter for f in self._files(self.spec.number, seed)]
        if self.spec.shared is not None:
            wanted += [f for seed in self.spec.seeds for f in self._files(self.spec.shared, seed)]
        for local, storage, key in wanted:
            try:
                data = storage.read(key)
            except FileNotFoundError:
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(local, data)
            self._sent[local] = local.stat().st_mtime_ns

    def send(self) -> None:
        for seed in self.spec.seeds:
            for local, storage, key in self._files(self.spec.number, seed):
                if local.is_file() and self._sent.get(local) != (stamp := local.stat().st_mtime_ns):
                    storage.write(key, local.read_bytes())
                    self._sent[local] = stamp


def run_trial_spec(spec_uri: str) -> int:
    """`deepaug trial run --spec <uri>`: run the trial, store its records; returns the exit code."""
    spec, context_uri, record_uri = read_spec(spec_uri)
    storage, key = locate(record_uri)
    previous = stored_record(storage, key, spec)
    if previous is not None and previous.finished:
        log.info("trial %d is already %s (%s); nothing to do", spec.number, previous.state.value, record_uri)
        return EXIT_COMPLETE if previous.state is TrialState.COMPLETE else EXIT_TRIAL_FAILED

    with tempfile.TemporaryDirectory(prefix="deepaug-trial-") as scratch:
        checkpoints = SharedCheckpoints(storage, key, spec, Path(scratch) / "checkpoints", record_uri) \
            if spec.seeds else None

        def save(record: TrialRecord) -> None:
            if checkpoints is not None:  # a training's checkpoint is stored before the record that names it
                checkpoints.send()
            storage.write(key, encode(record))

        try:
            context = read_context(context_uri, scratch)
        except InputError as exc:  # the trial cannot run: say why in its record, then stop without retries
            base = previous or TrialRecord.running(spec, "unknown")
            save(replace(base, state=TrialState.FAILED, finished_at=now(), error=f"InputError: {exc}"))
            raise
        if checkpoints is not None:
            checkpoints.fetch(previous)
            context = replace(context, checkpoint_dir=str(checkpoints.folder))
        if previous is not None:
            log.info("trial %d resumes after %d finished training(s)", spec.number, len(previous.histories))
        record = run_spec(spec, context, save, previous)
    log.info("trial %d %s: reward %s, record %s", spec.number, record.state.value, record.reward, record_uri)
    return EXIT_COMPLETE if record.state is TrialState.COMPLETE else EXIT_TRIAL_FAILED
