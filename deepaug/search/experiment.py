"""The experiment folder: everything a search writes, and what lets it resume.

``<reports_dir>/experiments/<name>/`` holds (``reports_dir`` is a local folder or an S3
URI such as ``s3://bucket/deepaug``: the folder is a `Storage`, so an experiment can live
on S3 as well as on disk)

- ``config.json``: the resolved config, the data it ran on (fingerprint, shape, classes),
  the search space and the run seed (drawn once when the config has none);
- ``trials/<number>/record.json``: one record per trial, the source of truth, rewritten
  atomically after each training while the trial runs (the layout of
  deepaug.execution.records, shared with the Kubernetes executor; records of the older
  ``trials/trial_<number>.json`` layout are read and moved when the experiment runs again);
- ``notebook.csv`` (or the config's ``notebook_path``, a local file): one row per epoch
  per training;
- ``top_policies.csv`` and ``best_policy.json`` (also copied to ``<policies_dir>/<name>.json``);
- ``samples.npz`` (a few training images for the report), ``verdict.json`` (the
  distribution search's race), ``report/`` once a report is made;
- ``labels.json``: the class of each index the child models predict (``class_names``) and, when
  the data's labels were integers other than 0..K-1, the label each index stands for
  (``label_values``), so that predictions map back to your labels.

Every file is written atomically (temp file then rename on disk, one PUT on S3), so a
kill at any moment leaves each file complete or absent. Running again under the same
name resumes; a config or dataset that differs from the stored one is refused before any
work.
"""
from __future__ import annotations

import json
import logging
import math
import os
import secrets
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping

from deepaug.errors import InputError
from deepaug.execution import records as layout
from deepaug.execution.owner import claim, release
from deepaug.execution.trials import TrialRecord, TrialState
from deepaug.policy.core import Policy
from deepaug.search import notebook
from deepaug.storage.atomic import atomic_write_text, remove_stale_temps
from deepaug.storage.backends import join, open_storage
from deepaug.storage.identity import differences
from deepaug.storage.local import LocalStorage

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Config keys that say where things go or how trials run, not what the search is: they
# may change between a run and its resume.
RESUMABLE_KEYS = ("experiment_name", "reports_dir", "notebook_path", "policies_dir", "child_models_dir",
                  "executor", "workers", "kubernetes", "tensorboard", "trials_per_gpu")
# Config keys added after experiments were first stored, with the value those experiments ran
# with: a stored config without the key resumes as if it had it.
ADDED_KEYS = {"precision": "float32", "race_holdout": False, "race_cut_after": None,
              "controls": ["trivialaugment", "randaugment"], "raced_controls": 2, "starts": "pilot",
              "screen": "rungs", "tune_epochs": None, "shared_policy": "uniform"}
# Config keys whose default changed after experiments were stored with the old one (screen: rungs ->
# shared, race_seeds: 3 -> 5 after a shared screen): a stored experiment resumes with its stored value
# where the user leaves the key unset.
CHANGED_DEFAULTS = ("screen", "race_seeds")
LOCK = ".lock"  # {"host", "pid", "started"} of the process running the search
CONFIG, NOTEBOOK, TOP_POLICIES, BEST_POLICY, VERDICT, SAMPLES, LABELS = (
    "config.json", "notebook.csv", "top_policies.csv", "best_policy.json", "verdict.json", "samples.npz", "labels.json")
REPORT = "report"


def is_remote(location: str | os.PathLike[str]) -> bool:
    return "://" in os.fspath(location) and not os.fspath(location).lower().startswith("file:")


def experiment_folder(reports_dir: str | os.PathLike[str], name: str) -> str | Path:
    """``<reports_dir>/experiments/<name>``: a Path on disk, a URI string on S3."""
    if is_remote(reports_dir):
        return join(os.fspath(reports_dir), "experiments", name)
    return Path(reports_dir) / "experiments" / name


def _identity(config_record: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    config = {**ADDED_KEYS, **config_record}
    return {"config": {k: v for k, v in config.items() if k not in RESUMABLE_KEYS}, "data": dict(data)}


def _lines(text: str) -> str:
    """`text` ending with a newline, as every text file of the folder does."""
    return text if text.endswith("\n") else text + "\n"


class Experiment:
    """One search's folder (see the module docstring), on disk or on S3."""

    def __init__(self, folder: str | os.PathLike[str], notebook_path: str | os.PathLike[str] | None = None,
                 policies_dir: str | os.PathLike[str] | None = None, **s3_options: Any) -> None:
        self.store = open_storage(folder, **s3_options)
        self.local: Path | None = self.store.root if isinstance(self.store, LocalStorage) else None
        self.folder: str | Path = self.local if self.local is not None else self.store.uri()
        self.name = os.fspath(folder).rstrip("/").rpartition("/")[2] if self.local is None else self.local.name
        self.notebook_file = Path(notebook_path) if notebook_path else (
            self.local / NOTEBOOK if self.local is not None else None)
        self.policies_dir = Path(policies_dir) if policies_dir else None
        self._latest: dict[int, TrialRecord] = {}  # the records saved by this process, for a remote notebook
        self._records_written_by_executor = False

    def uri(self, key: str = "") -> str:
        """Where `key` of the experiment is (a local path or an s3:// URI)."""
        return self.store.uri(key)

    # ------------------------------------------------------------ files

    def read_bytes(self, key: str) -> bytes | None:
        """The file `key` of the experiment, None when it is absent."""
        try:
            return self.store.read(key)
        except FileNotFoundError:
            return None

    def read_text(self, key: str) -> str | None:
        data = self.read_bytes(key)
        return None if data is None else data.decode("utf-8")

    def write_bytes(self, key: str, data: bytes) -> None:
        self.store.write(key, data)

    def write_text(self, key: str, text: str) -> None:
        self.store.write(key, _lines(text).encode("utf-8"))

    def exists(self, key: str) -> bool:
        return self.store.exists(key)

    def where(self, key: str) -> str | Path:
        """`key`'s location: a Path on disk, an s3:// URI string on S3."""
        return self.local / key if self.local is not None else self.uri(key)

    @property
    def config_path(self) -> str | Path:
        return self.where(CONFIG)

    @property
    def trials_dir(self) -> str | Path:
        return self.where("trials")

    @property
    def top_policies_path(self) -> str | Path:
        return self.where(TOP_POLICIES)

    @property
    def best_policy_path(self) -> str | Path:
        return self.where(BEST_POLICY)

    @property
    def report_dir(self) -> str | Path:
        return self.where(REPORT)

    @property
    def notebook_path(self) -> str | Path:
        """The notebook's location: a local Path, or its URI when it lives in a remote experiment."""
        return self.notebook_file if self.notebook_file is not None else self.uri(NOTEBOOK)

    # ------------------------------------------------------------ identity and resume

    def stored(self) -> dict[str, Any] | None:
        """config.json's content, None when the experiment has not started."""
        try:
            text = self.read_text(CONFIG)
            data = None if text is None else json.loads(text)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {self.uri(CONFIG)} ({exc}); it is not a deepaug experiment, "
                             "choose another experiment_name") from None
        if text is None:
            return None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{self.uri(CONFIG)} is not a deepaug experiment config (format_version "
                             f"{FORMAT_VERSION}); choose another experiment_name")
        return data

    def check(self, config_record: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any] | None:
        """Refuse (InputError) when the folder holds a different search; return what is stored."""
        stored = self.stored()
        if stored is None:
            if next(iter(self.store.list(layout.PREFIX)), None) is not None:
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

    def as_it_ran(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """{key: the value this experiment ran with} for each config key added after it was stored
        (ADDED_KEYS), or whose default changed since (CHANGED_DEFAULTS), that `given` (the keys the user
        set) leaves out: the caller resumes it as it ran, not with today's default. Empty for a new
        experiment."""
        stored = self.stored()
        if stored is None:
            return {}
        ran = {k: v for k, v in ADDED_KEYS.items() if k not in stored["config"]}
        ran.update({k: stored["config"][k] for k in CHANGED_DEFAULTS if k in stored["config"]})
        return {k: v for k, v in ran.items() if k not in given}

    def start(self, config_record: Mapping[str, Any], data: Mapping[str, Any], space: Mapping[str, Any],
              seed: int | None) -> int:
        """Create or reopen the folder; return the run seed (stored, given, or drawn now)."""
        stored = self.check(config_record, data)
        if stored is not None:
            log.info("resuming experiment %r in %s", self.name, self.folder)
            layout.migrate_legacy(self.store)
            return int(stored["run_seed"])
        run_seed = int(seed) if seed is not None else secrets.randbits(31)
        self.write_text(CONFIG, json.dumps(
            {"format_version": FORMAT_VERSION, "config": dict(config_record), "data": dict(data),
             "search_space": dict(space), "run_seed": run_seed}, indent=2, sort_keys=True, default=str))
        log.info("new experiment %r in %s (run seed %d)", self.name, self.folder, run_seed)
        return run_seed

    # ------------------------------------------------------------ one owner at a time

    @contextmanager
    def owned(self) -> Iterator[None]:
        """Hold the experiment's lock (`.lock` in its folder) while a search runs in it.

        A second run of the same experiment is refused, naming the owner (host, pid, start);
        a lock left by a process of this host that is gone (killed) is taken over.
        """
        if self.local is not None:
            self.local.mkdir(parents=True, exist_ok=True)
        me = claim(self.store, LOCK, f"experiment {self.name!r} in {self.folder}",
                   f"If that process is gone, remove {self.uri(LOCK)}", stale_seconds=math.inf)  # no heartbeat
        # Ours now: what interrupted writes of this experiment left (temp files) can go
        self.store.remove_temp_files(("", "trials/", f"{REPORT}/"))
        if self.notebook_file is not None:
            remove_stale_temps(self.notebook_file.parent, recursive=False, stem=f"{self.notebook_file.name}.")
        if self.policies_dir is not None:
            remove_stale_temps(self.policies_dir, recursive=False, stem=f"{self.name}.json.")
        try:
            yield
        finally:
            release(self.store, LOCK, me)

    # ------------------------------------------------------------ records

    def record_uri(self, number: int) -> str:
        return self.uri(layout.record_key(number))

    def verdict(self) -> dict[str, Any] | None:
        """verdict.json of a distribution search, or None (a deepaugment search, no race yet, or
        unreadable: said in a warning)."""
        try:
            text = self.read_text(VERDICT)
            data = None if text is None else json.loads(text)
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s: %s", self.uri(VERDICT), exc)
            return None
        return data if isinstance(data, dict) else None

    def records(self) -> list[TrialRecord]:
        """Every stored trial record, by number (temp files of interrupted writes are ignored)."""
        return layout.read_records(self.store)

    def attach(self, executor: Any) -> None:
        """Leave the writing of records to `executor` when it writes them into this very folder (a
        Kubernetes executor whose storage is this experiment's): two writers of one record could
        put an older copy over a newer one."""
        self._records_written_by_executor = getattr(executor, "records_uri", None) == self.uri()
        if self._records_written_by_executor:
            log.info("trial records of experiment %r are written by the trials' pods into %s", self.name,
                     self.uri("trials"))

    def save(self, record: TrialRecord) -> None:
        if not self._records_written_by_executor:
            layout.save_record(self.store, record)
        self._latest[record.number] = record

    # ------------------------------------------------------------ derived files

    def rebuild_notebook(self, records: list[TrialRecord], like: Policy | None = None) -> None:
        self._latest.update({r.number: r for r in records})
        text = notebook.render(records, like)
        if self.notebook_file is not None:
            atomic_write_text(self.notebook_file, text)
        else:
            self.write_text(NOTEBOOK, text)

    def read_notebook(self) -> str | None:
        """The notebook's text (wherever it is: notebook_path, or the folder), None before the first training."""
        if self.notebook_file is None:
            return self.read_text(NOTEBOOK)
        return self.notebook_file.read_text(encoding="utf-8") if self.notebook_file.is_file() else None

    def append_notebook(self, record: TrialRecord, like: Policy | None = None) -> None:
        """Add the rows of `record`'s newest training (a local file is appended to; a remote
        one, which cannot be, is written again whole)."""
        if self.notebook_file is not None:
            notebook.append(self.notebook_file, record, len(record.histories) - 1, like)
        else:
            self.rebuild_notebook(list(self._latest.values()), like)

    def write_labels(self, class_names: tuple[str, ...]) -> None:
        """labels.json (see the module docstring), once: the classes of a search's data never change."""
        if self.exists(LABELS):
            return
        numbered = all(name.lstrip("-").isdigit() for name in class_names)
        self.write_text(LABELS, json.dumps({
            "format_version": FORMAT_VERSION, "class_names": list(class_names),
            "label_values": [int(name) for name in class_names] if numbered else None,
            "about": "index i of a child model's output is class class_names[i]; for integer labels, label_values[i] "
                     "is the label it stands for in the data"}, indent=2))

    def write_policy(self, policy: Policy) -> None:
        """best_policy.json, and its copy in policies_dir."""
        text = policy.to_json()
        self.write_text(BEST_POLICY, text)
        if self.policies_dir is not None:
            atomic_write_text(self.policies_dir / f"{self.name}.json", _lines(text))

    def write_top(self, table: "Any", policy: Policy | None) -> "Any":
        """top_policies.csv (`table`), best_policy.json (`policy`, when there is one) and its copy in
        policies_dir; returns the table."""
        self.write_text(TOP_POLICIES, table.to_csv(index=False))
        if policy is not None:
            self.write_policy(policy)
        return table

    def write_results(self, records: list[TrialRecord]) -> "Any":
        """The deepaugment search's results (what `Search.write_results` writes): its top policies
        and the best of them."""
        return self.write_top(notebook.top_policies(records), notebook.best_policy(records))

    def summary(self, records: list[TrialRecord]) -> dict[str, Any]:
        done = [r for r in records if r.state is TrialState.COMPLETE]
        return {"trials": len(records), "complete": len(done),
                "failed": sum(r.state is TrialState.FAILED for r in records),
                "running": sum(r.state is TrialState.RUNNING for r in records),
                "baseline_reward": notebook.baseline_reward(records)}


def default_experiment_name(reports_dir: str | Path) -> str:
    """A timestamp, as DeepAugment named its runs (suffixed if that folder exists)."""
    base = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    name, k = base, 1
    while _taken(experiment_folder(reports_dir, name)):
        k += 1
        name = f"{base}_{k}"
    return name


def _taken(folder: str | Path) -> bool:
    if isinstance(folder, Path):
        return folder.exists()
    return next(iter(Experiment(folder).store.list()), None) is not None
