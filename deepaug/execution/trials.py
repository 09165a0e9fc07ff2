"""Trials: a frozen `TrialSpec` goes in, a frozen `TrialRecord` comes out.

A spec says which policy to score with which seed; `run_spec` is the one entry point
that runs it, whether in-process, in a local worker or in a pod. A record is the
experiment's source of truth for one trial: its state, the policy, the reward and every
training's per-epoch history. Records are plain JSON (no pickles), so a search resumes
by reading them back and replaying them into the controller.

>>> spec = TrialSpec(number=3, policy=None, seed=7)
>>> TrialRecord.running(spec, model="basiccnn").state
<TrialState.RUNNING: 'running'>
"""
from __future__ import annotations

import enum
import logging
import math
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from deepaug.errors import InputError, RetryableError
from deepaug.policy.core import Policy
from deepaug.training.rungs import run_rung
from deepaug.training.train import prepare_warm_start, run_trial

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.datasets import Dataset
    from deepaug.training.train import TrainingConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
BASELINE, SEARCH, CONTROL = "baseline", "search", "control"  # CONTROL: a free baseline in the study
SHARED = "shared"  # the shared stage of a screen under augmentation-wise weight sharing
KINDS = (BASELINE, SEARCH, CONTROL, SHARED)


class TrialState(str, enum.Enum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


def trial_seed(run_seed: int, number: int) -> int:
    """Trial `number`'s seed: its own stream of the run's SeedSequence, one 32-bit word."""
    return int(np.random.SeedSequence([int(run_seed), int(number)]).generate_state(1)[0])


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class TrialSpec:
    """What to run: trial `number` scores `policy` (None: no augmentation) with `seed`.

    With `seeds` (the distribution search), the trainings use exactly those seeds (shared by
    every candidate) and are brought to `epochs` epochs, continuing from their checkpoints
    (deepaug.training.rungs); without, `opt_samples` trainings of `child_epochs` with seeds drawn from `seed`.
    A SHARED trial is the shared stage of a screen under augmentation-wise weight sharing; a trial
    with `shared` (that stage's number) continues it on each seed instead of starting afresh.
    """

    number: int
    policy: Policy | None
    seed: int
    kind: str = SEARCH
    epochs: int | None = None
    seeds: tuple[int, ...] = ()
    shared: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"trial kind must be one of {list(KINDS)}, got {self.kind!r}")
        if self.policy is not None and not isinstance(self.policy, Policy):
            raise InputError(f"trial policy must be a Policy or None, got {type(self.policy).__name__}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.seeds and (self.epochs is None or int(self.epochs) < 1):
            raise InputError(f"a trial with explicit seeds needs epochs >= 1, got {self.epochs!r}")
        if (self.kind == SHARED or self.shared is not None) and not self.seeds:
            raise InputError(f"trial {self.number}: augmentation-wise weight sharing needs explicit seeds")

    def to_dict(self) -> dict[str, Any]:
        data = {"number": self.number, "kind": self.kind, "seed": self.seed,
                "policy": None if self.policy is None else self.policy.to_dict()}
        if self.seeds:
            data.update(epochs=int(self.epochs), seeds=list(self.seeds))
        if self.shared is not None:
            data["shared"] = int(self.shared)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrialSpec":
        policy = data.get("policy")
        epochs, shared = data.get("epochs"), data.get("shared")
        return cls(int(data["number"]), None if policy is None else Policy.from_dict(policy, "trial policy"),
                   int(data["seed"]), str(data.get("kind", SEARCH)), None if epochs is None else int(epochs),
                   tuple(int(s) for s in data.get("seeds", ())), None if shared is None else int(shared))


@dataclass(frozen=True)
class TrialRecord:
    """One trial as stored in `trials/<number>.json`; histories may be partial while RUNNING."""

    number: int
    kind: str
    state: TrialState
    policy: dict[str, Any] | None
    seed: int
    model: str
    reward: float | None = None
    reward_std: float | None = None
    sample_rewards: tuple[float, ...] = ()
    histories: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    started_at: str = ""
    finished_at: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def running(cls, spec: TrialSpec, model: str) -> "TrialRecord":
        extra = {"epochs": spec.epochs, "seeds": list(spec.seeds)} if spec.seeds else {}
        if spec.shared is not None:
            extra["shared"] = spec.shared
        return cls(spec.number, spec.kind, TrialState.RUNNING,
                   None if spec.policy is None else spec.policy.to_dict(), spec.seed, model, started_at=now(),
                   extra=extra)

    @property
    def spec(self) -> TrialSpec:
        """The spec this record was last run with (a rung's epochs and seeds are in `extra`)."""
        data = {"number": self.number, "kind": self.kind, "seed": self.seed, "policy": self.policy}
        if self.extra.get("seeds"):
            data.update(epochs=self.extra.get("epochs"), seeds=self.extra["seeds"], shared=self.extra.get("shared"))
        return TrialSpec.from_dict(data)

    @property
    def finished(self) -> bool:
        return self.state is not TrialState.RUNNING

    def policy_object(self) -> Policy | None:
        return None if self.policy is None else Policy.from_dict(self.policy, f"trial {self.number} policy")

    def with_training(self, history: Mapping[str, Any]) -> "TrialRecord":
        return replace(self, histories=self.histories + (dict(history),))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "number": self.number, "kind": self.kind, "state": self.state.value,
            "policy": self.policy, "seed": self.seed, "model": self.model, "reward": self.reward,
            "reward_std": self.reward_std, "sample_rewards": list(self.sample_rewards),
            "histories": [_plain(h) for h in self.histories], "error": self.error,
            "started_at": self.started_at, "finished_at": self.finished_at, "seconds": self.seconds,
            "extra": _plain(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "trial record") -> "TrialRecord":
        if not isinstance(data, Mapping) or data.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{source}: not a deepaug trial record (format_version {FORMAT_VERSION}); "
                             "it was written by another tool or version, move it out of the experiment folder")
        try:
            record = cls(int(data["number"]), str(data["kind"]), TrialState(data["state"]), data["policy"],
                         int(data["seed"]), str(data["model"]), data.get("reward"), data.get("reward_std"),
                         tuple(float(r) for r in data.get("sample_rewards", ())),
                         tuple(dict(h) for h in data.get("histories", ())), data.get("error"),
                         str(data.get("started_at", "")), data.get("finished_at"),
                         float(data.get("seconds", 0.0)), dict(data.get("extra", {})))
            record.spec  # validates kind and policy
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: malformed trial record ({exc})") from None
        if record.state is TrialState.COMPLETE and not _is_reward(record.reward):
            raise InputError(f"{source}: complete trial without a reward in [0, 1] (got {record.reward!r})")
        return record


def _is_reward(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0


def _plain(value: Any) -> Any:
    """numpy scalars and tuples to JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a search shares: the data split, the training config, warm start."""

    train: "Dataset"
    val: "Dataset"
    config: "TrainingConfig"
    initial_weights: str | None = None
    checkpoint_dir: str | None = None  # where rung trainings keep their checkpoints (None: none kept)


def warm_started(train: "Dataset", val: "Dataset", config: "TrainingConfig", seed: int,
                 weights: str | None = None) -> TrialContext:
    """The context of trials that start from warm-start weights: the file `weights` when given, else
    weights trained on `train` without augmentation for `child_first_train_epochs` with `seed`
    (cached in `child_models_dir`; no warm start when that is 0)."""
    initial = Path(weights) if weights else prepare_warm_start(train, config, seed)
    return TrialContext(train, val, config, None if initial is None else str(initial))


def starting_record(spec: TrialSpec, model: str, resume_from: TrialRecord | None = None) -> TrialRecord:
    """The RUNNING record `spec` starts from: `resume_from`'s trainings kept; for a rung (a
    spec with seeds) its target epochs and seeds, even when `resume_from` finished an earlier
    rung or another of the trial's seeds (it is not this spec's end)."""
    record = resume_from if resume_from is not None else TrialRecord.running(spec, model)
    if spec.seeds:
        extra = {k: v for k, v in record.extra.items() if k not in ("traceback", "shared")}  # of a run before
        extra.update({"epochs": spec.epochs, "seeds": list(spec.seeds)}, **(
            {} if spec.shared is None else {"shared": spec.shared}))
        record = replace(record, state=TrialState.RUNNING, finished_at=None, error=None, extra=extra)
    return record


def run_spec(spec: TrialSpec, context: TrialContext, on_update: Callable[[TrialRecord], None] | None = None,
             resume_from: TrialRecord | None = None) -> TrialRecord:
    """Run one trial and return its finished record (COMPLETE, or FAILED with the error).

    `on_update` gets the RUNNING record at the start and after each training (so the
    caller can store it), then the finished one. `resume_from` is this spec's RUNNING
    record from an interrupted run: its finished trainings are kept, not redone.
    KeyboardInterrupt propagates (the trial stays RUNNING and resumes later).
    """

    config = context.config
    record = starting_record(spec, config.model_name, resume_from)
    done = record.histories
    if on_update is not None:
        on_update(record)
    start = time.perf_counter() - record.seconds

    def trained(sample: int, seed: int, history: dict[str, Any]) -> None:
        nonlocal record
        history = {**history, "sample": sample, "seed": seed}
        if spec.seeds:  # replace this seed's shorter history
            kept = tuple(h for h in record.histories if h.get("seed") != seed)
            record = replace(record, histories=kept + (history,), seconds=time.perf_counter() - start)
        else:
            record = replace(record.with_training(history), seconds=time.perf_counter() - start)
        if on_update is not None:
            on_update(record)

    try:
        if spec.seeds:

            result = run_rung(context.train, context.val, spec.policy, config, spec.seeds, int(spec.epochs),
                              spec.number, context.checkpoint_dir, on_training=trained, done=done,
                              shared_stage=spec.kind == SHARED, shared_from=spec.shared)
        else:
            result = run_trial(context.train, context.val, spec.policy, config, spec.seed,
                               initial_weights=context.initial_weights, on_training=trained, done=done)
    except (KeyboardInterrupt, SystemExit, RetryableError):  # not the trial's fault: it runs again later
        raise
    except Exception as exc:  # a failed trial is recorded and the search goes on
        log.warning("trial %d failed: %s: %s", spec.number, type(exc).__name__, exc)
        record = replace(record, state=TrialState.FAILED, finished_at=now(), seconds=time.perf_counter() - start,
                         error=f"{type(exc).__name__}: {exc}",
                         extra={**record.extra, "traceback": traceback.format_exc(limit=8)})
    else:
        if spec.seeds:  # keep every seed's history (earlier stages may hold more seeds than this one)
            record = replace(record, histories=_merge_histories(record.histories, result.histories))
        record = replace(record, state=TrialState.COMPLETE, reward=float(result.reward),
                         reward_std=float(result.reward_std), sample_rewards=tuple(result.sample_rewards),
                         finished_at=now(), seconds=time.perf_counter() - start,
                         extra={**record.extra, **result.extra, "warm_start": result.warm_start})
    if on_update is not None:
        on_update(record)
    return record


def _merge_histories(old: tuple[dict[str, Any], ...], new: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """One history per seed: the new ones replace the old ones of the same seed; order of first seen."""
    merged = {h.get("seed"): h for h in old}
    merged.update({h.get("seed"): h for h in new})
    return tuple(merged.values())
