"""Running trials: the trial spec and record, executors (inline, a local pool of worker
processes on `deepaug.processes`).
"""
from __future__ import annotations

from deepaug.execution.executors import Executor, InlineExecutor
from deepaug.execution.local_pool import LocalExecutor
from deepaug.execution.trials import TrialContext, TrialRecord, TrialSpec, TrialState, run_spec

__all__ = ["Executor", "InlineExecutor", "LocalExecutor", "TrialContext", "TrialRecord", "TrialSpec", "TrialState",
           "run_spec"]
