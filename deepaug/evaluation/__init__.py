"""`deepaug evaluate`: a policy against the free baselines on a held-out test split, paired seeds
and intervals, tuned RandAugment, resumable.

>>> from deepaug.evaluation import evaluate
>>> evaluate(["policies/my_search.json"], "fashion_mnist", epochs=60, seeds=3, train_size=4000)  # doctest: +SKIP

Modules: `evaluate` (the function and its trainings), `methods` (what is compared), `split`
(the training and test images), `summary` (the table, intervals and verdicts), `store` (the
folder a killed evaluation resumes from), `tuned_randaugment` (the tuned baseline).
"""
# deepaug.evaluation.evaluate is imported first: after it, the package's `evaluate` is the function
from deepaug.evaluation.evaluate import Evaluation, compare, evaluate
from deepaug.evaluation.methods import FREE_BASELINES, Method, baseline_methods, find_search, policy_method
from deepaug.evaluation.split import describe_data, load_split, split_pool
from deepaug.evaluation.store import EvaluationFolder
from deepaug.evaluation.summary import bar_chart, summarize, to_markdown, verdicts
from deepaug.evaluation.tuned_randaugment import TUNE_MAGNITUDES, TUNE_N, Tuning, grid, tune

__all__ = ["FREE_BASELINES", "TUNE_MAGNITUDES", "TUNE_N", "Evaluation", "EvaluationFolder", "Method", "Tuning", "bar_chart",
           "baseline_methods", "compare", "describe_data", "evaluate", "find_search", "grid", "load_split",
           "policy_method", "split_pool", "summarize", "to_markdown", "tune", "verdicts"]
