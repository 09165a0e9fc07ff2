"""The search's events and the callback base: `TrialEvent` (a trial that finished a stage),
`Callback` (every event a no-op), `Callbacks` (sends each event to every callback) and
`CallbackError`. What each event means: `deepaug.search.callbacks`, which also re-exports these.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from deepaug.errors import InputError, SearchError
from deepaug.execution.trials import TrialRecord, TrialState
from deepaug.search.function_callback import FunctionCallback

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.search.experiment import Experiment

log = logging.getLogger(__name__)

EVENTS = ("on_search_begin", "on_training_end", "on_trial_end", "on_stage_progress", "on_rung_end", "on_search_end")


class CallbackError(SearchError):
    """A user callback raised; the search stopped (its finished work is saved)."""


@dataclass(frozen=True)
class TrialEvent:
    """A trial that finished a stage, with what a progress display or a tracker shows."""

    record: TrialRecord
    stage: str = "search"       # "search" (deepaugment space), "screen", "rung <k>", "race", "race, leaders"
    done: int = 0               # trials finished in this stage (this one included)
    total: int = 0              # trials the stage runs
    epochs: int | None = None   # the stage's training length (None: the config's child_epochs)
    reward: float | None = None  # the trial's score at this stage (None when it failed)
    gain: float | None = None   # points over TrivialAugment, paired (distribution search)
    best: tuple[float, int] | None = None  # (score, trial) of the best search trial so far
    best_label: str = "reward"  # what `best` measures: "reward" or "points vs TrivialAugment"
    controls: Mapping[str, float] = field(default_factory=dict)  # e.g. {"baseline": 0.81} or control rewards
    eta_seconds: float | None = None  # of the stage

    @property
    def failed(self) -> bool:
        return self.record.state is TrialState.FAILED


class Callback:
    """A callback that does nothing: override the events you want (see the module docstring)."""

    def on_search_begin(self, experiment: "Experiment") -> None: ...
    def on_training_end(self, record: TrialRecord) -> None: ...
    def on_trial_end(self, event: TrialEvent) -> None: ...
    def on_stage_progress(self, stage: str, epochs: int, done: int, total: int) -> None: ...
    def on_rung_end(self, stage: str, epochs: int, records: Sequence[TrialRecord]) -> None: ...
    def on_search_end(self, records: Sequence[TrialRecord]) -> None: ...


class Callbacks:
    """Sends each event to every callback, in order; the first that raises stops the search."""

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = [c if not callable(c) or any(callable(getattr(c, name, None)) for name in EVENTS)
                          else FunctionCallback(c) for c in callbacks]  # a plain function: called at trial ends
        for callback in self.callbacks:
            if not any(callable(getattr(callback, name, None)) for name in EVENTS):
                raise InputError(f"callback {callback!r} has none of the methods {', '.join(EVENTS)}; pass "
                                 "deepaug.search.callbacks.Callback subclasses (or objects with those methods), "
                                 "or functions, called at each trial's end with its TrialEvent")

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def send(self, name: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, name, None)
            if method is None:
                continue
            try:
                method(*args)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                who = getattr(callback, "callback_name", f"{type(callback).__name__}.{name}")
                raise CallbackError(f"callback {who} raised {type(exc).__name__}: {exc}; "
                                    "the search stopped (finished trainings are saved); fix the callback and "
                                    "run again to resume") from exc

    def close(self) -> None:
        """Release what callbacks hold (a progress bar), also after an error; errors here are logged."""
        for callback in self.callbacks:
            close = getattr(callback, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # closing must not hide the search's own outcome
                    log.warning("closing callback %s failed: %s", type(callback).__name__, exc)
