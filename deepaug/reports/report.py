"""The experiment report: plots and a markdown summary derived from the trial records.

`make_report` reads an experiment folder (see `deepaug.search.experiment`) and writes
``<folder>/report/``: ``rewards.png``, ``ops.png``, ``samples.png`` (the search's sample
images beside copies augmented by the best policy; only when ``samples.npz`` exists),
``summary.md``, which links them, and ``report.html``, the same page on its own (figures
embedded, nothing fetched; deepaug.reports.html). For a deepaugment search ``rewards.png``
is the reward per trial (running best, baseline) and ``ops.png`` the ops the best policies
use; for a distribution search ``rewards.png`` is the gains per stage, each stage on its own
scale, and ``ops.png`` the policy it found (deepaug.reports.stage_figures). Figures are
drawn with matplotlib's Agg canvas directly, so pyplot and the global backend are never touched.

>>> from deepaug.reports.report import make_report, resolve_experiment
>>> make_report(resolve_experiment("my_search"))   # doctest: +SKIP
PosixPath('reports/experiments/my_search/report/summary.md')
"""
from __future__ import annotations

import io
import json
import logging
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from deepaug.errors import InputError
from deepaug.execution.trials import TrialRecord, TrialState
from deepaug.policy.core import Policy
from deepaug.reports.figures import ops_png, rewards_png, samples_png
from deepaug.reports.html import report_html
from deepaug.reports.stage_figures import distribution_png, stages_png
from deepaug.search import notebook
from deepaug.search.experiment import (
    BEST_POLICY,
    CONFIG,
    REPORT,
    SAMPLES,
    TOP_POLICIES,
    Experiment,
    experiment_folder,
    is_remote,
)
from deepaug.search.race import gain_text as gain
from deepaug.storage.backends import open_storage

if TYPE_CHECKING:  # pragma: no cover
    import pandas

log = logging.getLogger(__name__)

MAX_SAMPLES = 8   # sample images shown in samples.png


# ---------------------------------------------------------------- finding experiments

def resolve_experiment(name_or_path: str | Path, reports_dir: str | Path = "reports") -> str | Path:
    """An experiment folder from its path (or s3:// URI) or its name under ``<reports_dir>/experiments/``."""
    if Experiment(name_or_path).exists(CONFIG):
        return name_or_path if is_remote(name_or_path) else Path(name_or_path)
    named = experiment_folder(reports_dir, str(name_or_path))
    if "/" not in str(name_or_path) and Experiment(named).exists(CONFIG):
        return named
    root = experiment_folder(reports_dir, "")
    listing = ", ".join(_experiment_names(root)) or f"none (no experiment folders in {root})"
    raise InputError(f"no experiment {str(name_or_path)!r}: it is neither an experiment folder (with config.json) "
                     f"nor a name under {root}. Experiments there: {listing}. Give one of those names, "
                     "or the path of an experiment folder")


def _experiment_names(root: str | Path) -> list[str]:
    """The experiments (folders with a config.json) in `root`, by name."""
    if is_remote(root):
        return sorted({key.split("/")[0] for key in open_storage(root).list()
                       if key.count("/") == 1 and key.endswith(f"/{CONFIG}")})
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / CONFIG).is_file()) if root.is_dir() else []


# ---------------------------------------------------------------- what the report shows

def op_counts(records: Sequence[TrialRecord], top_k: int = 5) -> dict[str, int]:
    """How often each op occurs in the top_k search policies (probability > 0, identity left out).

    Most frequent first, ties by name.
    """
    counts: Counter[str] = Counter()
    for record in notebook.ranked(records)[:top_k]:
        policy = record.policy_object()
        if policy is None:
            continue
        if policy.distribution is not None:  # the ops it may draw (identity left out)
            counts.update(op.name for op in policy.distribution.ops if op.name != "identity")
        counts.update(op.name for sub in policy for op in sub if op.probability > 0 and op.name != "identity")
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def best_policy(experiment: Experiment, records: Sequence[TrialRecord]) -> tuple[Policy | None, str]:
    """The best policy and where it came from: the race's answer (distribution search), else the
    best trial's record, else best_policy.json."""
    verdict = experiment.verdict()
    if verdict is not None:
        try:
            source = f"trial {verdict['winner']}, " + ("the race winner" if verdict.get("beat_controls")
                                                       else "a control: nothing beat it")
            return Policy.from_dict(verdict["policy"]), source
        except (KeyError, InputError) as exc:
            log.warning("ignoring verdict.json: %s", exc)
    ranked = notebook.ranked(records)
    if ranked and ranked[0].policy is not None:
        return ranked[0].policy_object(), f"trial {ranked[0].number}"
    text = experiment.read_text(BEST_POLICY)
    if text is not None:
        try:
            return Policy.from_dict(json.loads(text), experiment.uri(BEST_POLICY)), BEST_POLICY
        except (ValueError, InputError) as exc:
            log.warning("ignoring %s: %s", experiment.uri(BEST_POLICY), exc)
    return None, ""


def _race_images(verdict: dict) -> str:
    """", scored on N validation images of its own" for a race with race_holdout (verdict.json)."""
    total, race = verdict.get("validation_images"), verdict.get("race_validation_images")
    return f", scored on {race} validation images of its own" if total and race and race < total else ""


def _race_cut(verdict: dict) -> str:
    """" (after N, only the leader and the better control went on)" for a race cut short (verdict.json)."""
    cut = verdict.get("race_cut_after")
    return f" (after {cut}, only the leading finalist and the better control went on)" \
        if isinstance(cut, int) and cut < len(verdict.get("race_seeds") or []) else ""


def _controls_lines(verdict: dict) -> list[str]:
    """The controls: which free recipes were screened and raced, the best of them, their share of the
    training time and the interval the race could reach (verdict.json; absent in older ones)."""
    lines = []
    if verdict.get("controls"):
        lines.append(f"- Controls (free recipes, screened like candidates): {', '.join(verdict['controls'])}; raced: "
                     f"{', '.join(verdict.get('raced_controls') or [])}; the best free baseline on validation: "
                     f"{verdict.get('best_free_baseline', '-')}")
    if verdict.get("control_share") is not None:
        lines.append(f"- The controls took {duration(float(verdict.get('control_training_seconds') or 0))} of the "
                     f"training time ({100 * float(verdict['control_share']):.0f}%)")
    if verdict.get("race_reachable_half_width") is not None:
        lines.append(f"- The race could separate a gain of about +-{verdict['race_reachable_half_width']:.2f} points "
                     "at best (the validation images' luck alone, estimated before it ran)")
    return lines


def race_markdown(experiment: Experiment, verdict: dict) -> list[str]:
    """The race section: the verdict, then each finalist and control with its paired gains."""
    lines = ["", "## Race against the free baselines", "", f"**{verdict.get('message', '')}**", "",
             f"- Rungs (epochs): {verdict.get('rungs')}; race on {len(verdict.get('race_seeds') or [])} common "
             f"seeds{_race_cut(verdict)}{_race_images(verdict)}; search cost "
             f"{duration(float(verdict.get('training_seconds') or 0))} of training (summed over trials)",
             *_controls_lines(verdict)]
    table = results_frame(experiment)
    if table is None:
        return lines

    other, title = ("best_control", f"vs {verdict['best_free_baseline']}") if "gain_vs_best_control" in table \
        and verdict.get("best_free_baseline") else ("randaugment", "vs RandAugment")
    lines += ["", f"| trial | what | reward | vs TrivialAugment (points, 95% interval) | {title} | policy |",
              "|---:|---|---:|---:|---:|---|"]
    for _, row in table[table["stage"] == "race"].iterrows():
        what = row["name"] if row["kind"] == "control" else ("**winner**" if row["winner"] else "finalist")
        lines.append(f"| {row['trial']} | {what} | {row['reward']:.4f} | {gain(row, 'trivialaugment')} | "
                     f"{gain(row, other)} | {str(row['policy_text']).replace('|', '/')} |")
    return lines


def results_frame(experiment: Experiment) -> "pandas.DataFrame | None":
    """A distribution search's top_policies.csv (it has a `stage` column), else None."""
    try:
        import pandas as pd  # pandas is heavy: the results table only

        text = experiment.read_text(TOP_POLICIES)
        if text is None:
            return None
        table = pd.read_csv(io.StringIO(text))
    except (OSError, ValueError):
        return None
    return table if "stage" in table else None


def load_samples(experiment: Experiment | str | Path) -> tuple[np.ndarray | None, str]:
    """The sample images (N, H, W, C uint8) of the experiment's ``samples.npz``, or None and why not."""
    if not isinstance(experiment, Experiment):
        experiment = Experiment(experiment)
    data = experiment.read_bytes(SAMPLES)
    if data is None:
        return None, f"no {SAMPLES} in the experiment folder"
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            images = np.asarray(arrays["images"])
    except (OSError, ValueError, KeyError) as exc:
        log.warning("cannot read sample images from %s: %s", experiment.uri(SAMPLES), exc)
        return None, f"{SAMPLES} could not be read ({exc})"
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3) or not len(images):
        return None, f"{SAMPLES} holds {images.dtype} images of shape {images.shape}, not (N, H, W, 1|3) uint8"
    return images[:MAX_SAMPLES], ""


# ---------------------------------------------------------------- summary

def duration(seconds: float) -> str:
    """A readable length of time: "42.0 s", "7m 05s", "1h 02m 20s"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _increase(reward: float, base: float | None) -> str:
    return "n/a (no baseline)" if base is None else f"{100.0 * (reward - base):+.2f} pp"


def _std(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f" ± {value:.4f}"


def summary_markdown(experiment: Experiment, records: Sequence[TrialRecord], top_k: int = 5,
                     best: tuple[Policy | None, str] = (None, ""), images: dict[str, str] | None = None,
                     notes: Sequence[str] = ()) -> str:
    """The summary's markdown.

    `best` is the best policy and its source (see `best_policy`); `images` maps a title to
    a file name relative to the report folder; `notes` are lines listed under the figures.
    """
    policy, source = best
    images = images or {}
    info = experiment.summary(list(records))
    base = info["baseline_reward"]
    ranked = notebook.ranked(records)
    lines = [f"# Experiment {experiment.name}", "",
             f"- Trials: {info['trials']} ({info['complete']} complete, {info['failed']} failed, "
             f"{info['running']} running)",
             f"- Baseline reward (no augmentation): {'not measured' if base is None else f'{base:.4f}'}"]
    verdict = experiment.verdict()
    if verdict is not None:  # a distribution search: its answer is the race's, below
        lines.pop()
    elif ranked:
        top = ranked[0]
        lines += [f"- Best reward: {top.reward:.4f}{_std(top.reward_std)} (trial {top.number})",
                  f"- Expected accuracy increase over the baseline: {_increase(top.reward, base)}"]
    else:
        lines.append("- No completed search trials yet: there is no best policy to report.")
    finished = [r.seconds for r in records if r.finished]
    mean = f", mean {duration(sum(finished) / len(finished))} per finished trial" if finished else ""
    lines.append(f"- Trial time: total {duration(sum(r.seconds for r in records))}{mean}")
    if policy is not None:
        lines += ["", f"## Best policy ({source})", "", "```", str(policy), "```"]
    if verdict is not None:
        lines += race_markdown(experiment, verdict)
    elif ranked:
        lines += ["", f"## Top policies ({min(top_k, len(ranked))} of {len(ranked)} completed search trials)", "",
                  "| trial | reward | increase | policy |", "|---:|---|---:|---|"]
        for r in ranked[:top_k]:
            pol = r.policy_object()
            text = "none" if pol is None else "; ".join(str(sub) for sub in pol)
            lines.append(f"| {r.number} | {r.reward:.4f}{_std(r.reward_std)} | {_increase(r.reward, base)} "
                         f"| {text.replace('|', '/')} |")
    if images or notes:
        lines += ["", "## Figures"]
        for title, file in images.items():
            lines += ["", f"![{title}]({file})"]
        lines += [""] + [f"- {note}" for note in notes] if notes else []
    failed = [r for r in records if r.state is TrialState.FAILED]
    if failed:
        lines += ["", "## Failed trials", ""]
        for r in failed:
            first = (r.error or "").strip().splitlines()
            lines.append(f"- trial {r.number}: {first[0] if first else '(no error recorded)'}")
    return "\n".join(lines).rstrip() + "\n"


def _figures(experiment: Experiment, records: Sequence[TrialRecord], top_k: int,
             best: tuple[Policy | None, str]) -> dict[str, tuple[str, bytes]]:
    """{title: (file, PNG)} of rewards.png and ops.png (the module docstring says which figures)."""
    table, verdict = results_frame(experiment), experiment.verdict()
    policy, source = best
    if table is None and verdict is None:  # a deepaugment search
        return {"Reward per trial": ("rewards.png", rewards_png(records, experiment.name)),
                f"Ops in the top {top_k} policies": ("ops.png", ops_png(op_counts(records, top_k), top_k,
                                                                        experiment.name))}
    import pandas as pd  # pandas is heavy: the results table only

    figures = {"Gains per stage, each on its own scale (screen and rungs: over TrivialAugment; race: over the "
               "best free baseline, 95% interval)": ("rewards.png", stages_png(
                   pd.DataFrame() if table is None else table, verdict, experiment.name))}
    if policy is not None and policy.distribution is not None:
        figures[f"The policy ({source}): op weights, n, magnitude range, base steps and mixing"] = (
            "ops.png", distribution_png(policy.distribution, experiment.name, source))
    else:
        figures[f"Ops in the top {top_k} policies"] = ("ops.png", ops_png(op_counts(records, top_k), top_k,
                                                                          experiment.name))
    return figures


def make_report(folder: str | Path, top_k: int = 5, seed: int = 0) -> str | Path:
    """Write ``<folder>/report/`` (see the module docstring); return where summary.md is (a Path on
    disk, an s3:// URI for an experiment on S3)."""
    if top_k < 1:
        raise InputError(f"top_k must be at least 1, got {top_k}")
    experiment = Experiment(folder)
    if experiment.stored() is None:
        raise InputError(f"{experiment.folder} is not a deepaug experiment folder (it has no config.json); "
                         "give the folder a search wrote, reports/experiments/<experiment_name>")
    records = experiment.records()
    notes: list[str] = []
    best = policy, source = best_policy(experiment, records)
    figures = _figures(experiment, records, top_k, best)
    samples, why = load_samples(experiment)
    if policy is None:
        notes.append("No sample images: there is no best policy yet.")
    elif samples is None:
        notes.append(f"No sample images: {why}.")
    else:
        figures[f"Sample images augmented by the best policy ({source}, seed {seed})"] = (
            "samples.png", samples_png(samples, policy, seed))
    for file, data in figures.values():
        experiment.write_bytes(f"{REPORT}/{file}", data)
    images = {title: file for title, (file, _) in figures.items()}
    summary = summary_markdown(experiment, records, top_k, best, images, notes)
    experiment.write_text(f"{REPORT}/summary.md", summary)
    experiment.write_text(f"{REPORT}/report.html", report_html(
        f"deepaug experiment {experiment.name}", summary, dict(figures.values())))
    log.info("wrote the report of experiment %r to %s", experiment.name, experiment.report_dir)
    return experiment.where(f"{REPORT}/summary.md")
