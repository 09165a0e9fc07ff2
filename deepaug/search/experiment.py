"""The experiment folder: everything a search writes, and what lets it resume.

``<reports_dir>/experiments/<name>/`` holds

- ``config.json``: the resolved config, the data it ran on (fingerprint, shape, classes),
  the search space and the run seed (drawn once when the config has none);
- ``trials/trial_<number>.json``: one record per trial, the source of truth, rewritten
  atomically after each training while the trial runs;
- ``notebook.csv`` (or the config's ``notebook_path``): one row per epoch per training;
- ``top_policies.csv`` and ``best_policy.json`` (also copied to ``<policies_dir>/<name>.json``);
- ``report/`` once a report is made.

Every file is written atomically (temp file, then rename), so a kill at any moment
leaves each file complete or absent. Running again under the same name resumes; a
config or dataset that differs from the stored one is refused before any work.
"""
from __future__ import annotations

import json
import logging
import math
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from deepaug.errors import InputError
from deepaug.execution.owner import claim, release
from deepaug.execution.trials import TrialRecord, TrialState
from deepaug.policy.core import Policy
from deepaug.search import notebook
from deepaug.storage.atomic import atomic_write_text, remove_stale_temps
from deepaug.storage.identity import differences
from deepaug.storage.local import LocalStorage

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Config keys that say where things go or how trials run, not what the search is: they
# may change between a run and its resume.
RESUMABLE_KEYS = ("experiment_name", "reports_dir", "notebook_path", "policies_dir", "child_models_dir",
                  "executor", "workers", "kubernetes")
LOCK = ".lock"  # {"host", "pid", "started"} of the process running the search
_RECORD = re.compile(r"^trial_(\d+)\.json$")


def experiment_folder(reports_dir: str | Path, name: str) -> Path:
    return Path(reports_dir) / "experiments" / name


def _identity(config_record: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    return {"config": {k: v for k, v in config_record.items() if k not in RESUMABLE_KEYS}, "data": dict(data)}


class Experiment:
    """One search's folder (see the module docstring)."""

    def __init__(self, folder: str | Path, notebook_path: str | Path | None = None,
                 policies_dir: str | Path | None = None) -> None:
        self.folder = Path(folder)
        self.store = LocalStorage(self.folder)  # trial records go through the storage contract
        self.name = self.folder.name
        self.trials_dir = self.folder / "trials"
        self.config_path = self.folder / "config.json"
        self.notebook_path = Path(notebook_path) if notebook_path else self.folder / "notebook.csv"
        self.top_policies_path = self.folder / "top_policies.csv"
        self.best_policy_path = self.folder / "best_policy.json"
        self.report_dir = self.folder / "report"
        self.policies_dir = Path(policies_dir) if policies_dir else None

    # ------------------------------------------------------------ identity and resume

    def stored(self) -> dict[str, Any] | None:
        """config.json's content, None when the experiment has not started."""
        if not self.config_path.is_file():
            return None
        try:
            data = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {self.config_path} ({exc}); it is not a deepaug experiment, "
                             "choose another experiment_name") from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{self.config_path} is not a deepaug experiment config (format_version "
                             f"{FORMAT_VERSION}); choose another experiment_name")
        return data

    def check(self, config_record: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any] | None:
        """Refuse (InputError) when the folder holds a different search; return what is stored."""
        stored = self.stored()
        if stored is None:
            if self.trials_dir.is_dir() and any(self.trials_dir.iterdir()):
                raise InputError(f"{self.folder} has trial records but no config.json; it was not written by "
                                 "this deepaug, choose another experiment_name")
            return None
        wanted = _identity(config_record, data)
        diffs = differences(_identity(stored["config"], stored["data"]), wanted)
        if diffs:
            raise InputError(f"experiment {self.name!r} in {self.folder} was run with a different config or "
                             f"dataset, so it cannot be resumed with this one: {'; '.join(diffs)}. Use another "
                             "experiment_name for a new search, or the stored config to resume")
        return stored

    def start(self, config_record: Mapping[str, Any], data: Mapping[str, Any], space: Mapping[str, Any],
              seed: int | None) -> int:
        """Create or reopen the folder; return the run seed (stored, given, or drawn now)."""
        stored = self.check(config_record, data)
        if stored is not None:
            log.info("resuming experiment %r in %s", self.name, self.folder)
            return int(stored["run_seed"])
        run_seed = int(seed) if seed is not None else secrets.randbits(31)
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_path, json.dumps(
            {"format_version": FORMAT_VERSION, "config": dict(config_record), "data": dict(data),
             "search_space": dict(space), "run_seed": run_seed}, indent=2, sort_keys=True, default=str) + "\n")
        log.info("new experiment %r in %s (run seed %d)", self.name, self.folder, run_seed)
        return run_seed

    # ------------------------------------------------------------ one owner at a time

    @contextmanager
    def owned(self) -> Iterator[None]:
        """Hold the experiment's lock (`.lock` in its folder) while a search runs in it.

        A second run of the same experiment is refused, naming the owner (host, pid, start);
        a lock left by a process of this host that is gone (killed) is taken over.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        me = claim(self.store, LOCK, f"experiment {self.name!r} in {self.folder}",
                   f"If that process is gone, remove {self.folder / LOCK}", stale_seconds=math.inf)  # no heartbeat
        # Ours now: what interrupted writes of this experiment left (temp files) can go
        remove_stale_temps(self.folder)
        if self.policies_dir is not None:
            remove_stale_temps(self.policies_dir, recursive=False, stem=f"{self.name}.json.")
        try:
            yield
        finally:
            release(self.store, LOCK, me)

    # ------------------------------------------------------------ records

    def record_path(self, number: int) -> Path:
        return self.trials_dir / f"trial_{number:04d}.json"

    def records(self) -> list[TrialRecord]:
        """Every stored trial record, by number (temp files of interrupted writes are ignored)."""
        out = []
        for key in self.store.list("trials/"):
            if not _RECORD.match(key.rpartition("/")[2]):
                continue
            try:
                data = json.loads(self.store.read(key).decode("utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read trial record {self.store.uri(key)} ({exc}); move it out of the folder "
                                 "to run that trial again") from None
            out.append(TrialRecord.from_dict(data, self.store.uri(key)))
        out.sort(key=lambda r: r.number)
        return out

    def save(self, record: TrialRecord) -> None:
        key = f"trials/{self.record_path(record.number).name}"
        self.store.write(key, (json.dumps(record.to_dict(), sort_keys=True) + "\n").encode("utf-8"))

    # ------------------------------------------------------------ derived files

    def rebuild_notebook(self, records: list[TrialRecord], like: Policy | None = None) -> None:
        notebook.rebuild(self.notebook_path, records, like)

    def append_notebook(self, record: TrialRecord, like: Policy | None = None) -> None:
        notebook.append(self.notebook_path, record, len(record.histories) - 1, like)

    def write_results(self, records: list[TrialRecord]) -> "Any":
        """top_policies.csv, best_policy.json and its copy in policies_dir; returns the table."""
        table = notebook.top_policies(records)
        atomic_write_text(self.top_policies_path, table.to_csv(index=False))
        if len(table):
            best = Policy.from_dict(json.loads(table["policy"].iloc[0]))
            text = best.to_json()
            atomic_write_text(self.best_policy_path, text if text.endswith("\n") else text + "\n")
            if self.policies_dir is not None:
                atomic_write_text(self.policies_dir / f"{self.name}.json", text if text.endswith("\n") else text + "\n")
        return table

    def summary(self, records: list[TrialRecord]) -> dict[str, Any]:
        done = [r for r in records if r.state is TrialState.COMPLETE]
        return {"trials": len(records), "complete": len(done),
                "failed": sum(r.state is TrialState.FAILED for r in records),
                "running": sum(r.state is TrialState.RUNNING for r in records),
                "baseline_reward": notebook.baseline_reward(records)}
