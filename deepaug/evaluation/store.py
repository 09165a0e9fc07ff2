"""What an evaluation folder already holds, so that a killed `deepaug evaluate` resumes.

`evaluation.json` (written before the first training) records the settings every
training depends on (dataset, training subset, epochs, batch size, learning rate,
model) and, per method name, what it augments with. Running the same evaluation again
reuses every (method, seed) training in `runs.csv` and every grid point in `tuning.csv`
whose definition is unchanged, and trains only what is missing; a folder that holds an
evaluation with other settings is refused before any work (name another one).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from deepaug.errors import InputError
from deepaug.storage.atomic import atomic_write_text
from deepaug.storage.identity import differences

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SETTINGS_FILE = "evaluation.json"
TEXT_COLUMNS = ("method", "test_correct")  # runs.csv columns kept as text


def definition(augmenter: Any) -> Any:
    """A method's augmenter as plain data (None: no augmentation)."""
    if augmenter is None:
        return None
    to_dict = getattr(augmenter, "to_dict", None)
    return to_dict() if callable(to_dict) else type(augmenter).__name__


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """`rows` as CSV text, every row's columns in the order first seen (runs resumed from an older
    evaluation lack test_correct); empty for no rows."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for row in rows for k in row)),
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        return []


def _number(text: str) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


class EvaluationFolder:
    """The settings, finished trainings and tuning rows of one evaluation folder."""

    def __init__(self, folder: Path, settings: Mapping[str, Any]) -> None:
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(dict(settings), sort_keys=True, default=str))
        self.path = self.folder / SETTINGS_FILE
        self.stored = self._stored()

    def _stored(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            if (self.folder / "runs.csv").exists():
                raise InputError(f"{self.folder} holds runs.csv but no {SETTINGS_FILE} (an evaluation by an older "
                                 "deepaug, or another tool); pass another --name or --out")
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {self.path} ({exc}); pass another --name or --out") from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{self.path} is not a deepaug evaluation record; pass another --name or --out")
        return data

    def check(self) -> None:
        """Refuse (InputError) a folder holding an evaluation with other settings."""
        if self.stored is None:
            return
        diffs = differences(self.stored["settings"], self.settings)
        if diffs:
            raise InputError(f"{self.folder} holds an evaluation with other settings ({'; '.join(diffs)}); run "
                             "it with its own settings to resume it, or pass another --name or --out")

    def save(self, methods: Mapping[str, Any], tuning: Mapping[str, Any] | None) -> None:
        """Record the settings and the methods' definitions (merged with those stored)."""
        known = dict((self.stored or {}).get("methods", {}))
        known.update(json.loads(json.dumps(dict(methods), sort_keys=True, default=str)))
        data = {"format_version": FORMAT_VERSION, "settings": self.settings, "methods": known,
                "tuning": json.loads(json.dumps(tuning, default=str)) if tuning else
                (self.stored or {}).get("tuning")}
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        self.stored = data

    def runs(self, methods: Mapping[str, Any], seeds: Sequence[int]) -> list[dict[str, Any]]:
        """The finished trainings of `methods` (name -> definition) on `seeds` whose definition is unchanged."""
        stored = (self.stored or {}).get("methods", {})
        fresh = json.loads(json.dumps(dict(methods), sort_keys=True, default=str))
        keep = []
        for row in _read_csv(self.folder / "runs.csv"):
            name = row.get("method")
            if name in fresh and name in stored and stored[name] == fresh[name] and int(row["seed"]) in seeds:
                keep.append({k: _number(v) if k not in TEXT_COLUMNS else v for k, v in row.items()})
        if keep:
            log.info("resuming the evaluation in %s: %d training(s) already done", self.folder, len(keep))
        return keep

    def tuning_rows(self, tuning: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Grid rows of tuning.csv when the stored tuning settings equal `tuning`."""
        stored = (self.stored or {}).get("tuning")
        if stored != json.loads(json.dumps(dict(tuning), default=str)):
            return []
        rows = []
        for row in _read_csv(self.folder / "tuning.csv"):
            parsed = {k: _number(v) for k, v in row.items()}
            parsed["val_accuracy_per_seed"] = row.get("val_accuracy_per_seed", "")
            if isinstance(parsed.get("val_accuracy"), float) and math.isfinite(parsed["val_accuracy"]):
                rows.append(parsed)
        return rows
