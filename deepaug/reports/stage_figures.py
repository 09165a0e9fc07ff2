"""The distribution search's figures: each stage on its own scale as gains over its control, and
what the policy it found is.

Rewards of a 7-epoch screen and a 20-epoch race are not comparable (shorter trainings score
lower), so `stages_png` never puts them on one axis: the screen and each rung show the paired
gain over TrivialAugment on the search seeds (`screen_gain_vs_trivialaugment`,
`rung_gain_vs_trivialaugment` of top_policies.csv, each trial at the furthest rung it reached),
and the race shows the gain over the best free baseline with its 95% interval
(`gain_vs_best_control`), the numbers the verdict is made of. `distribution_png` draws a
distribution policy: its op weights, the magnitude range and n, the base steps (flip, crop,
erasing) and the mixing (CutMix, MixUp).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from deepaug.policy.distribution import Distribution
from deepaug.reports.figures import figure, png

if TYPE_CHECKING:  # pragma: no cover
    import pandas

CONTROL_COLOR, CANDIDATE_COLOR, WINNER_COLOR = "tab:orange", "tab:blue", "tab:green"


def _number(value: Any) -> float | None:
    """A finite float from a table cell, else None (pandas gives NaN for empty cells)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _gains_panel(ax: Any, rows: Sequence[tuple[str, float, bool]], title: str) -> None:
    """Gains (points) best first, controls in their own colour, TrivialAugment at 0."""
    rows = sorted(rows, key=lambda row: -row[1])
    labelled = 0
    for rank, (label, gain, control) in enumerate(rows):
        ax.scatter([rank], [gain], color=CONTROL_COLOR if control else CANDIDATE_COLOR, zorder=3)
        if control:  # above and below in turn, so neighbouring controls' names do not overlap
            ax.annotate(label, (rank, gain), textcoords="offset points", xytext=(4, 4 if labelled % 2 == 0 else -12),
                        fontsize=8)
            labelled += 1
    ax.axhline(0.0, color="tab:red", linestyle="--", linewidth=1)
    if not rows:
        ax.text(0.5, 0.5, "no trial reached this stage", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("trials, best first")
    ax.set_ylabel("gain over TrivialAugment (points)")
    ax.set_xticks([])
    ax.grid(alpha=0.3)


def _stage_rows(table: "pandas.DataFrame", column: str, where: "pandas.Series") -> list[tuple[str, float, bool]]:
    """(label, gain, is a control) of the rows `where` with a gain in `column`."""
    rows = []
    for _, row in table[where].iterrows():
        gain = _number(row.get(column))
        if gain is not None:
            control = row.get("kind") == "control"
            rows.append((str(row.get("name")) if control else f"trial {row['trial']}", gain, control))
    return rows


def _race_panel(ax: Any, table: "pandas.DataFrame", baseline: str, answer: bool) -> None:
    """The race: each finalist's and control's gain over the best free baseline, 95% interval."""
    race = table[table["stage"] == "race"] if "stage" in table else table.iloc[0:0]
    rows = [(row, gain) for _, row in race.iterrows() if (gain := _number(row.get("gain_vs_best_control"))) is not None]
    for y, (row, gain) in enumerate(rows):
        low, high = _number(row.get("gain_vs_best_control_ci95_low")), _number(row.get("gain_vs_best_control_ci95_high"))
        color = WINNER_COLOR if bool(row.get("winner")) else (
            CONTROL_COLOR if row.get("kind") == "control" else CANDIDATE_COLOR)
        err = [[gain - low], [high - gain]] if low is not None and high is not None else None
        ax.errorbar([gain], [y], xerr=err, fmt="o", color=color, capsize=4)
    ax.set_yticks(range(len(rows)), [(str(r["name"]) if r.get("kind") == "control" else f"trial {r['trial']}")
                                     + (" (winner)" if bool(r.get("winner")) else "") for r, _ in rows])
    ax.axvline(0.0, color="tab:red", linestyle="--", linewidth=1, label=f"{baseline} (0)" + (", the answer: nothing beat it" if answer else ""))
    ax.margins(y=0.25)
    if not rows:
        ax.text(0.5, 0.5, "no race yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"race: gain over {baseline}, 95% interval", fontsize=10)
    ax.set_xlabel("gain (points); a winner's interval is above 0")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def stages_png(table: "pandas.DataFrame", verdict: dict | None, name: str) -> bytes:
    """One panel per stage, each on its own scale (module docstring)."""
    rungs = [int(r) for r in (verdict or {}).get("rungs") or []]
    if not rungs and "rung_epochs" in table:
        rungs = sorted({int(e) for e in table["rung_epochs"].dropna()})
    later = sorted({int(e) for e in table["rung_epochs"].dropna()} - set(rungs[:1])) if "rung_epochs" in table else []
    fig = figure(4.0 * (2 + len(later)), 4.5)
    axes = fig.subplots(1, 2 + len(later), squeeze=False)[0]
    screen = table["kind"] != "shared" if "kind" in table else table.index == table.index
    first = f"{rungs[0]} epochs" if rungs else "first rung"
    _gains_panel(axes[0], _stage_rows(table, "screen_gain_vs_trivialaugment", screen), f"screen ({first})")
    for ax, epochs in zip(axes[1:], later):
        _gains_panel(ax, _stage_rows(table, "rung_gain_vs_trivialaugment", table["rung_epochs"] == epochs),
                     f"rung ({epochs} epochs): trials whose furthest rung it is")
    _race_panel(axes[-1], table, str((verdict or {}).get("best_free_baseline") or "the best free baseline"),
                verdict is not None and verdict.get("beat_controls") is False)
    fig.suptitle(f"Gains per stage of experiment {name} (each stage on its own scale)")
    return png(fig)


def _steps(distribution: Distribution) -> dict[str, float]:
    """The per-image probabilities (crop: the padding's share of the side) of the base steps and the mixing."""
    return {"flip": distribution.flip, "crop (pad)": distribution.crop, "erasing": distribution.erasing,
            "cutmix": distribution.cutmix, "mixup": distribution.mixup}


def distribution_png(distribution: Distribution, name: str, source: str = "") -> bytes:
    """The op weights (shares of the draws), n and the magnitude range, the base steps and the mixing."""
    fig = figure(11, max(3.0, 0.3 * len(distribution.ops) + 1.6))
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    total = sum(op.weight for op in distribution.ops) or 1.0
    ops = sorted(distribution.ops, key=lambda op: (op.weight, op.name))
    if ops and distribution.n:
        bars = left.barh([op.name + (f" (x{op.scale:g})" if op.scale != 1 else "") for op in ops],
                         [op.weight / total for op in ops], color=CANDIDATE_COLOR)
        left.bar_label(bars, fmt="%.2f", padding=2)
        left.margins(x=0.15)
    else:
        left.text(0.5, 0.5, "no ops drawn (n = 0)", ha="center", va="center", transform=left.transAxes)
        left.set_yticks([])
    low = distribution.magnitude * (1 - distribution.spread)
    noise = f" + N(0, {distribution.magnitude_std:g})" if distribution.magnitude_std else ""
    left.set_title(f"n = {distribution.n} op(s) per image, magnitude {low:.2f}..{distribution.magnitude:.2f}{noise}",
                   fontsize=10)
    left.set_xlabel("share of the draws (op weight)")
    steps = _steps(distribution)
    bars = right.barh(list(steps)[::-1], list(steps.values())[::-1],
                      color=[CONTROL_COLOR] * 2 + [CANDIDATE_COLOR] * 3)
    right.bar_label(bars, fmt="%.2f", padding=2)
    right.set_xlim(0, max(1.0, *steps.values()) * 1.15)
    right.set_title("base steps (flip, crop, erasing) and mixing", fontsize=10)
    right.set_xlabel("probability per image (crop: pad / side)")
    fig.suptitle(f"The policy of experiment {name}" + (f" ({source})" if source else ""))
    return png(fig)
