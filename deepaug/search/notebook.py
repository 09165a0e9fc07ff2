"""The CSV experiment notebook and the top-policies table, both derived from trial records.

`notebook.csv` has one row per epoch per training, under DeepAugment 1.x's column names, so
analysis written for DeepAugment's notebook (``df.groupby("trial_no")["mean_late_val_acc"]``)
runs on it unchanged:

- ``acc``, ``loss``, ``val_acc``, ``val_loss``: the epoch's metrics (Keras 2 names; empty
  for an epoch that was not validated, in the distribution search's rungs);
- ``trial_no`` (0: the no-augmentation baseline of the deepaugment space), ``sample_no``
  (the training within the trial, from 1), ``epoch`` (from 1);
- ``mean_late_val_acc``: the training's reward, as DeepAugment defined it: the mean of the
  ``opt_last_n_epochs`` highest ``val_acc`` among the epochs whose ``acc - val_acc`` is at
  most ``overfit_threshold`` (0.10) (deepaug.training.reward: never NaN); in the
  distribution search, the mean ``val_acc`` of the last ``opt_last_n_epochs`` epochs of
  the training so far (deepaug.training.rungs.late_reward). Repeated on each epoch's row;
  the trial's reward is the mean over its samples, as DeepAugment's top-policies table had;
- the policy: ``A_aug1_type``, ``A_aug1_magnitude`` (DeepAugment's) and
  ``A_aug1_probability`` (deepaug's policies have one per op), then ``A_aug2_...``, one
  letter per sub-policy; a distribution policy has ``dist_*`` columns instead.

deepaug adds what DeepAugment's notebook lacked: ``kind`` (baseline, search, control),
``seed`` (of the training), ``epoch_seconds``, ``trial_reward`` (the trial's reward once it
is complete, as ranked) and ``policy`` (the policy's JSON). Columns are meant to be read by
name: the policy columns follow the fixed ones. Rows are appended as each training
finishes; the whole file is rebuilt from the records when a search starts, so it never
disagrees with them.

>>> policy_columns(Policy.from_list([[("rotate", 0.5, 0.3)]]))
{'A_aug1_type': 'rotate', 'A_aug1_probability': 0.5, 'A_aug1_magnitude': 0.3}
"""
from __future__ import annotations

import csv
import io
import json
import os
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from deepaug.execution.trials import BASELINE, TrialRecord, TrialState
from deepaug.policy.core import Policy
from deepaug.storage.atomic import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # pandas is heavy: the table only

# DeepAugment's notebook column <- the training history's key (tf.keras 2's names)
METRICS = {"acc": "accuracy", "loss": "loss", "val_acc": "val_accuracy", "val_loss": "val_loss"}
DEEPAUGMENT = tuple(METRICS) + ("trial_no", "sample_no", "mean_late_val_acc", "epoch")
LEAD = DEEPAUGMENT + ("kind", "seed", "epoch_seconds", "trial_reward")
TOP_N = 20


def _letters(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def policy_columns(policy: Policy | None, like: Policy | None = None) -> dict[str, Any]:
    """Readable columns of a policy; None (no augmentation) gives the columns of `like`, empty."""
    shape = policy if policy is not None else like
    if shape is None:
        return {}
    if shape.distribution is not None:
        d = policy.distribution if policy is not None else None
        out = {f"dist_{key}": "" if d is None else getattr(d, key)
               for key in ("n", "magnitude", "spread", "flip", "crop", "erasing", "cutmix")}
        out["dist_ops"] = "" if d is None else " ".join(f"{op.name}:{op.weight:g}" for op in d.ops)
        return out
    out: dict[str, Any] = {}
    for s, sub in enumerate(shape.sub_policies):
        for o, op in enumerate(sub.operations):
            key = f"{_letters(s)}_aug{o + 1}"
            real = policy is not None
            out[f"{key}_type"] = op.name if real else ""
            out[f"{key}_probability"] = op.probability if real else ""
            out[f"{key}_magnitude"] = op.magnitude if real else ""
    return out


def policy_json(policy: dict[str, Any] | None) -> str:
    return "" if policy is None else json.dumps(policy, sort_keys=True, separators=(",", ":"))


def _value(values: Sequence[Any], epoch: int) -> Any:
    value = values[epoch] if epoch < len(values) else None
    return "" if value is None else value


def training_rows(record: TrialRecord, sample: int, like: Policy | None = None) -> list[dict[str, Any]]:
    """The notebook rows of training `sample` (0-based) of `record`, one per epoch (see the module)."""
    history = record.histories[sample]
    policy = record.policy_object()
    columns = policy_columns(policy, like)
    n_epochs = len(history.get("val_accuracy", ()))
    reward = history.get("reward")
    rows = []
    for epoch in range(n_epochs):
        row: dict[str, Any] = {column: _value(history.get(key, ()), epoch) for column, key in METRICS.items()}
        row.update(trial_no=record.number, sample_no=int(history.get("sample", sample)) + 1,
                   mean_late_val_acc="" if reward is None else reward, epoch=epoch + 1, kind=record.kind,
                   seed=history.get("seed", ""), epoch_seconds=_value(history.get("epoch_seconds", ()), epoch),
                   trial_reward=record.reward if record.state is TrialState.COMPLETE else "")
        row.update(columns)
        row["policy"] = policy_json(record.policy)
        rows.append(row)
    return rows


def _fieldnames(rows: Sequence[dict[str, Any]]) -> list[str]:
    names = list(LEAD)
    for row in rows:
        names += [k for k in row if k not in names and k != "policy"]
    return names + ["policy"]


def _csv(rows: Sequence[dict[str, Any]], fieldnames: Sequence[str], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render(records: Iterable[TrialRecord], like: Policy | None = None) -> str:
    """The whole notebook of `records` as CSV text, header included."""
    rows = [row for record in sorted(records, key=lambda r: r.number)
            for sample in range(len(record.histories)) for row in training_rows(record, sample, like)]
    fieldnames = _fieldnames(rows) if rows else list(LEAD) + list(policy_columns(like)) + ["policy"]
    return _csv(rows, fieldnames, header=True)


def rebuild(path: Path, records: Iterable[TrialRecord], like: Policy | None = None) -> None:
    """Write the whole notebook from the records (atomically), header included."""
    atomic_write_text(path, render(records, like))


def append(path: Path, record: TrialRecord, sample: int, like: Policy | None = None) -> None:
    """Append one training's rows in a single write (the file is rebuilt at every start)."""
    rows = training_rows(record, sample, like)
    if not path.exists():
        rebuild(path, [], like)
    with open(path, encoding="utf-8", newline="") as f:
        fieldnames = next(csv.reader(f), None) or _fieldnames(rows)
    data = _csv(rows, fieldnames, header=False).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def baseline_reward(records: Iterable[TrialRecord]) -> float | None:
    for record in records:
        if record.kind == BASELINE and record.state is TrialState.COMPLETE:
            return float(record.reward)
    return None


def ranked(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Completed search trials, best first (ties: the earlier trial first)."""
    done = [r for r in records if r.kind != BASELINE and r.state is TrialState.COMPLETE]
    return sorted(done, key=lambda r: (-float(r.reward), r.number))


def best_policy(records: Iterable[TrialRecord]) -> Policy | None:
    """The deepaugment search's best policy: that of its best completed search trial (None before one)."""
    best = ranked(records)
    return best[0].policy_object() if best else None


def top_policies(records: Sequence[TrialRecord], n: int = TOP_N) -> "pd.DataFrame":
    """The n best completed search trials, best first (ties: earlier trial first).

    Columns: trial, reward, reward_std, expected_accuracy_increase(%) (reward minus the
    no-augmentation baseline's, times 100, to 4 decimals: the rewards are float32 accuracies,
    so further digits are noise; empty without a baseline), the readable policy columns, the
    policy JSON, and trial_no and mean_late_val_acc: trial and reward again under DeepAugment
    1.x's names, so its users' code reads the table unchanged.
    """
    import pandas as pd  # pandas is heavy: the table only

    base = baseline_reward(records)
    rows = []
    for record in ranked(records)[:n]:
        rows.append({"trial": record.number, "reward": record.reward, "reward_std": record.reward_std,
                     "expected_accuracy_increase(%)": None if base is None else round(100 * (record.reward - base), 4),
                     **policy_columns(record.policy_object()), "policy": policy_json(record.policy),
                     "trial_no": record.number, "mean_late_val_acc": record.reward})
    columns = ["trial", "reward", "reward_std", "expected_accuracy_increase(%)"]
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns + ["policy", "trial_no", "mean_late_val_acc"])
    return frame.reset_index(drop=True)
