"""The report's figures, drawn with matplotlib's Agg canvas directly (pyplot and the global
backend are never touched): the deepaugment search's rewards and ops, the sample grid.

The distribution search's figures (gains per stage, the policy it found) are in
`deepaug.reports.stage_figures`.
"""
from __future__ import annotations

import io
import math
from typing import Any, Sequence

import cv2
import numpy as np

from deepaug.execution.trials import BASELINE, TrialRecord, TrialState
from deepaug.policy.core import Policy
from deepaug.reports.demo import make_grid
from deepaug.search import notebook

VARIANTS = 3      # augmented copies of each sample


def figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib is heavy: loaded for the figures only
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png")
    finally:
        fig.clear()
    return buffer.getvalue()


def rewards_png(records: Sequence[TrialRecord], name: str) -> bytes:
    """Reward per trial with its std, failed trials as x at the bottom, running best, baseline."""
    fig = figure(9.5, 4.5)
    ax = fig.add_subplot()
    done = sorted((r for r in records if r.kind != BASELINE and r.state is TrialState.COMPLETE),
                  key=lambda r: r.number)
    if done:
        x = [r.number for r in done]
        y = [float(r.reward) for r in done]
        err = [float(r.reward_std) if r.reward_std is not None and math.isfinite(r.reward_std) else 0.0
               for r in done]
        ax.errorbar(x, y, yerr=err, fmt="o", color="tab:blue", ecolor="tab:gray", capsize=3, label="trial reward")
        ax.step(x, np.maximum.accumulate(y), where="post", color="tab:green", label="best so far")
    base = notebook.baseline_reward(records)
    if base is not None:
        ax.axhline(base, color="tab:red", linestyle="--", label=f"no augmentation ({base:.4f})")
    for state, marker, color, label in ((TrialState.FAILED, "x", "tab:red", "failed trial"),
                                        (TrialState.RUNNING, "^", "tab:gray", "running trial")):
        numbers = [r.number for r in records if r.state is state]
        if numbers:  # at the bottom of the axes, whatever the reward range
            ax.scatter(numbers, [0.03] * len(numbers), marker=marker, color=color, label=label,
                       transform=ax.get_xaxis_transform())
    if records:  # the markers above do not widen the x range by themselves
        ax.set_xlim(min(r.number for r in records) - 0.5, max(r.number for r in records) + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if not done and base is None:
        ax.text(0.5, 0.5, "no completed trials yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"Rewards of experiment {name}")
    ax.set_xlabel("trial number")
    ax.set_ylabel("reward (validation accuracy)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # outside the axes, so it hides no marker
        fig.legend(loc="outside right upper")
    return png(fig)


def ops_png(counts: dict[str, int], top_k: int, name: str) -> bytes:
    """A horizontal bar chart of op counts, most frequent at the top."""
    fig = figure(7, max(2.5, 0.35 * len(counts) + 1.2))
    ax = fig.add_subplot()
    if counts:
        names = list(counts)[::-1]
        bars = ax.barh(names, [counts[n] for n in names], color="tab:blue")
        ax.bar_label(bars, padding=2)
        ax.margins(x=0.08)
        ax.xaxis.get_major_locator().set_params(integer=True)
    else:
        ax.text(0.5, 0.5, "no completed search trials yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(f"Ops in the top {top_k} policies of {name}")
    ax.set_xlabel("occurrences (ops with probability > 0, identity left out)")
    return png(fig)


def samples_png(images: np.ndarray, policy: Policy, seed: int = 0, variants: int = VARIANTS) -> bytes:
    """Each image beside `variants` copies augmented by `policy` (same seed, same picture)."""
    rng = np.random.default_rng(seed)
    grid = make_grid(images, [policy.apply(images, seed=rng) for _ in range(variants)])
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode the sample grid as PNG")
    return encoded.tobytes()
