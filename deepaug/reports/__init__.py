"""Reports: the markdown/PNG report of an experiment and the demo grid of augmented images.

>>> from deepaug.reports import make_report
>>> make_report("reports/experiments/my_run")                 # doctest: +SKIP
"""
from __future__ import annotations

from deepaug.reports.demo import make_grid, run_demo
from deepaug.reports.report import make_report, resolve_experiment, summary_markdown

__all__ = ["make_grid", "make_report", "resolve_experiment", "run_demo", "summary_markdown"]
