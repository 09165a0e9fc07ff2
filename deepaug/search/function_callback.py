"""A plain function as a search callback (Optuna's habit: `callbacks=[fn]`).

`FunctionCallback(fn)` calls `fn(event)` at each trial's end with the `TrialEvent`, as an
object's `on_trial_end` is called (`event.record` is the trial's record, `event.reward` its
score at that stage); deepaug.search.callbacks.Callbacks wraps every callable that has none of
the event methods in one.

>>> seen = []
>>> FunctionCallback(seen.append).on_trial_end("event"); seen
['event']
"""
from __future__ import annotations

from typing import Any, Callable


class FunctionCallback:
    """Calls `function(event)` at each trial's end (module docstring); `callback_name` names it in errors."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function
        self.callback_name = getattr(function, "__qualname__", None) or repr(function)

    def on_trial_end(self, event: Any) -> None:
        self.function(event)

    def __repr__(self) -> str:
        return f"FunctionCallback({self.callback_name})"
