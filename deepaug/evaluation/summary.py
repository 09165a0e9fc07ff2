"""The table and the verdicts of an evaluation: per method the mean test accuracy with its 95%
interval, per policy and baseline the paired difference, as Markdown and a bar chart.

- Interval: mean +- t(0.975, S - 1) * std / sqrt(S), std with ddof 1 (none for one seed).
- A policy's paired difference from a baseline (the verdict lines) also counts the luck of
  the test images: every run keeps which of its test_images test images it got right
  (runs.csv's test_correct, packed bits), and the interval counts both from the seeds x
  images table of paired differences (`deepaug.search.race.Gain`, as the race decides;
  `deepaug.stats.crossed_half_width`).
"""
from __future__ import annotations

import io
import logging
import math
from typing import Any, Sequence

import numpy as np

from deepaug.errors import InputError
from deepaug.evaluation.methods import Method
from deepaug.search.controls import NAMES
from deepaug.search.race import Gain
from deepaug.stats import t_interval
from deepaug.training.reward import read_correct

logger = logging.getLogger(__name__)


def _fractions(runs: Sequence[dict[str, Any]], name: str) -> dict[int, float]:
    return {int(r["seed"]): float(r["test_accuracy"]) for r in runs if r["method"] == name}


def summarize(runs: Sequence[dict[str, Any]], methods: Sequence[Method]) -> list[dict[str, Any]]:
    """One row per method: test accuracy (%) mean, std, 95% interval (within 0 .. 100), training and
    search seconds."""
    rows = []
    for m in methods:
        acc = 100.0 * np.array(list(_fractions(runs, m.name).values()))
        secs = [r["train_seconds"] for r in runs if r["method"] == m.name]
        low, high = (float(v) for v in np.clip(t_interval(acc), 0.0, 100.0))  # an accuracy is a percentage
        rows.append({"method": m.name, "kind": m.kind, "seeds": len(acc),
                     "mean_accuracy": float(acc.mean()) if len(acc) else math.nan,
                     "std": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan, "ci95_low": low, "ci95_high": high,
                     "train_seconds_mean": float(np.mean(secs)) if secs else math.nan,
                     "train_seconds_total": float(np.sum(secs)), "search_seconds": m.search_seconds,
                     "source": m.source})
    return rows


def _test_images(runs: Sequence[dict[str, Any]], name: str) -> dict[int, np.ndarray]:
    """{seed: per test image, 1.0 if the model got it right} for the runs that kept it (runs of
    an older deepaug did not; a run whose bits do not read is left out with a warning)."""
    out = {}
    for r in runs:
        if r["method"] != name or not r.get("test_correct") or not isinstance(r.get("test_images"), int):
            continue
        try:
            out[int(r["seed"])] = read_correct(str(r["test_correct"]), r["test_images"]).astype(np.float64)
        except (InputError, ValueError) as exc:
            logger.warning("%s, seed %s: cannot read which test images it got right (%s); its verdicts count the "
                           "seeds' luck only", name, r["seed"], exc)
    return out


def verdicts(runs: Sequence[dict[str, Any]], methods: Sequence[Method]) -> list[str]:
    """Plain sentences: did each policy beat each baseline, by how much (paired by seed).

    The 95% interval covers the luck of the seeds and, when every run kept which test images
    it got right, the luck of the test images too (the race's `Gain`, over the seeds x images
    table of paired differences as a crossed design), so that a
    gain called a win is unlikely to be the luck of the seeds or of the test images. A policy whose
    runs are a baseline's (marked `same_as`: the same augmentation, not trained twice) is said to be
    that baseline itself. A searched policy is judged first against the best free baseline its
    search named on validation (`Method.best_free`), never one picked on these test scores."""
    lines = []
    twin = {r["method"]: r["same_as"] for r in runs if r.get("same_as")}  # runs shared, not trained (compare)
    baselines = [m for m in methods if m.kind != "policy"]
    for p in (m for m in methods if m.kind == "policy"):
        chosen = next((b for b in baselines if p.best_free and b.key == p.best_free), None)
        if p.best_free and chosen is None:
            lines.append(f"{p.name}: its search named {NAMES.get(p.best_free, p.best_free)} the best free baseline on "
                         f"validation, which is not among these baselines (add {p.best_free} to them)")
        elif chosen is not None:
            lines.append("against the best free baseline its search named on validation: "
                         + _verdict(runs, p, chosen, twin))
        lines += [_verdict(runs, p, b, twin) for b in baselines if b is not chosen]
    return [line for line in lines if line]


def _verdict(runs: Sequence[dict[str, Any]], p: Method, b: Method, twin: dict[str, str]) -> str:
    """The sentence of policy `p` against baseline `b` ("" when they share no seed)."""
    if twin.get(p.name, p.name) == twin.get(b.name, b.name):
        return f"{p.name} is {b.name} itself: the same augmentation, so the same models (trained once per seed)"
    gain = Gain.of(_fractions(runs, p.name), _fractions(runs, b.name), _test_images(runs, p.name),
                   _test_images(runs, b.name))
    if gain is None:
        return ""
    if math.isnan(gain.low):
        outcome, span = ("ahead of" if gain.mean > 0 else "behind"), "one seed, no interval"
    else:
        outcome = "beat" if gain.low > 0 else "lost to" if gain.high < 0 else "did not separate from"
        over = f"seeds and the {gain.images} test images" if gain.images else "seeds"
        span = f"95% interval of the paired difference over {over} {gain.low:+.2f} to {gain.high:+.2f}"
    return f"{p.name} {outcome} {b.name}: {gain.mean:+.2f} points ({span}; {gain.seeds} seeds)"


def _fmt(value: Any, spec: str, missing: str = "-") -> str:
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def to_markdown(rows: Sequence[dict[str, Any]], lines: Sequence[str], about: str) -> str:
    """`about`, the table of `summarize` rows, then the verdicts. Search cost: a searched policy's search
    seconds or a tuned baseline's tuning seconds; "unknown" for another policy, "-" for a fixed baseline."""
    out = [about, "", "| method | test accuracy % (mean +- std) | 95% interval | seeds | training s / run "
                      "| search cost |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["search_seconds"] is not None:  # a searched policy's search or a tuned baseline's tuning
            search = _fmt(r["search_seconds"], ".0f") + " s"
        else:
            search = "unknown" if r["kind"] == "policy" else "-"
        interval = f"{_fmt(r['ci95_low'], '.2f')} .. {_fmt(r['ci95_high'], '.2f')}"
        out.append(f"| {r['method']} | {_fmt(r['mean_accuracy'], '.2f')} +- {_fmt(r['std'], '.2f')} | {interval} | "
                   f"{r['seeds']} | {_fmt(r['train_seconds_mean'], '.0f')} | {search} |")
    return "\n".join(out + [""] + [f"- {line}" for line in lines]) + "\n"


def bar_chart(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    """Horizontal bars of mean test accuracy with 95% intervals; policies in blue, baselines gray."""
    # matplotlib is heavy and only the chart needs it: imported on first use
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.2 + 0.5 * len(rows)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    means = np.array([r["mean_accuracy"] for r in rows])
    low = np.nan_to_num(means - np.array([r["ci95_low"] for r in rows]))
    high = np.nan_to_num(np.array([r["ci95_high"] for r in rows]) - means)
    y = np.arange(len(rows))[::-1]
    ax.barh(y, means, xerr=[low, high], capsize=4,
            color=["tab:blue" if r["kind"] == "policy" else "0.6" for r in rows])
    ax.set_yticks(y, [r["method"] for r in rows])
    finite = np.concatenate([means - low, means + high])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        span = max(float(finite.max() - finite.min()), 0.5)
        ax.set_xlim(max(0.0, finite.min() - 0.3 * span), min(100.0, finite.max() + 0.3 * span))
    for yi, m in zip(y, means):
        ax.annotate(f"{m:.2f}", (m, yi), xytext=(4, 6), textcoords="offset points", fontsize=8)
    ax.set_xlabel("test accuracy % (mean, 95% interval; the axis does not start at 0)")
    ax.set_title(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
