"""The search: its config, the policy spaces, the controller (Bayesian optimization), the
experiment folder and notebook, and its two engines, the DeepAugment-style loop (`Search`) and
the distribution search with its race (`DistributionSearch`), which follow one protocol
(`SearchEngine`, deepaug.search.engine).

>>> from deepaug.search import DistributionSearch, SearchConfig   # doctest: +SKIP
>>> search = DistributionSearch(data, SearchConfig(child_epochs=5), "my-search")   # doctest: +SKIP
>>> records = search.run(20)                                                   # doctest: +SKIP
>>> search.best_policy(records)                                                # doctest: +SKIP
"""
from __future__ import annotations

from deepaug import _moved
from deepaug.search.callbacks import Callback, CallbackError, MLflowLogger, ProgressBar, TensorBoardLogger, TrialEvent
from deepaug.search.config import SearchConfig
from deepaug.search.controller import Controller
from deepaug.search.distribution_space import DistributionSpace
from deepaug.search.engine import Engine, SearchEngine
from deepaug.search.experiment import Experiment
from deepaug.search.loop import Search
from deepaug.search.notebook import best_policy, top_policies
from deepaug.search.plan import SMOKE, Plan, plan
from deepaug.search.race import Gain, Verdict
from deepaug.search.space import SearchSpace
from deepaug.search.study import DistributionSearch

__all__ = ["Callback", "CallbackError", "Controller", "DistributionSearch", "DistributionSpace", "Engine", "Experiment",
           "Gain", "MLflowLogger", "Plan", "ProgressBar", "SMOKE", "Search", "SearchConfig", "SearchEngine",
           "SearchSpace", "TensorBoardLogger", "TrialEvent", "Verdict", "best_policy", "plan", "top_policies"]


def __getattr__(name: str) -> object:
    # deepaug.search was one module before 0.1: its names now live in deepaug.search.loop
    return _moved.attribute(__name__, name, "deepaug.search.loop")
