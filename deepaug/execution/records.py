"""Where trial records live in an experiment's storage: one layout for every executor.

An experiment is a folder of a `Storage` (a local folder or an S3 prefix). Trial `n` has

- ``trials/<nnnn>/record.json``: its `TrialRecord`, rewritten whole (atomically) after
  each training, by the local search process or by the pod that runs the trial;
- ``trials/<nnnn>/spec.json``: the spec a pod reads (Kubernetes executor only).

The experiment folder and the Kubernetes executor read and write these same keys, so a
search whose ``reports_dir`` is the executor's shared storage has one copy of each record.
Experiments written before this layout kept ``trials/trial_<nnnn>.json``; those are read
too (`read_records`) and moved to the new keys when the experiment is next run
(`migrate_legacy`).

>>> record_key(7), spec_key(7)
('trials/0007/record.json', 'trials/0007/spec.json')
"""
from __future__ import annotations

import json
import logging
import re

from deepaug.errors import InputError
from deepaug.execution.trials import TrialRecord
from deepaug.storage.base import Storage

log = logging.getLogger(__name__)

PREFIX = "trials/"
_RECORD = re.compile(r"^trials/(\d{4,})/record\.json$")
_LEGACY = re.compile(r"^trials/trial_(\d+)\.json$")


def trial_folder(number: int) -> str:
    return f"trials/{int(number):04d}"


def record_key(number: int) -> str:
    return f"{trial_folder(number)}/record.json"


def spec_key(number: int) -> str:
    return f"{trial_folder(number)}/spec.json"


def record_number(key: str) -> int | None:
    """The trial number of a record key (either layout), None for any other key."""
    match = _RECORD.match(key) or _LEGACY.match(key)
    return int(match.group(1)) if match else None


def encode(record: TrialRecord) -> bytes:
    return (json.dumps(record.to_dict(), sort_keys=True) + "\n").encode("utf-8")


def save_record(storage: Storage, record: TrialRecord) -> None:
    storage.write(record_key(record.number), encode(record))


def read_record(storage: Storage, key: str) -> TrialRecord:
    """The record at `key`; InputError naming it when it is not a readable record."""
    try:
        data = json.loads(storage.read(key).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read trial record {storage.uri(key)} ({exc}); move it out of the folder "
                         "to run that trial again") from None
    return TrialRecord.from_dict(data, storage.uri(key))


def _keys(storage: Storage) -> tuple[dict[int, str], dict[int, str]]:
    """(number -> key) of the records in the current layout and in the legacy one."""
    current: dict[int, str] = {}
    legacy: dict[int, str] = {}
    for key in storage.list(PREFIX):
        if (match := _RECORD.match(key)) is not None:
            current[int(match.group(1))] = key
        elif (match := _LEGACY.match(key)) is not None:
            legacy[int(match.group(1))] = key
    return current, legacy


def read_records(storage: Storage) -> list[TrialRecord]:
    """Every trial record in `storage`, by number; a current-layout record wins over a legacy one.

    Temp files of interrupted writes and other files are ignored."""
    current, legacy = _keys(storage)
    keys = {**legacy, **current}
    return [read_record(storage, keys[number]) for number in sorted(keys)]


def migrate_legacy(storage: Storage) -> int:
    """Move legacy ``trials/trial_<n>.json`` records to ``trials/<n>/record.json``; how many moved.

    Each record is written at its new key before the old one is deleted, so a kill in
    between leaves both (the new one wins when read)."""
    current, legacy = _keys(storage)
    for number, key in sorted(legacy.items()):
        if number not in current:
            storage.write(record_key(number), storage.read(key))
        storage.delete(key)
    if legacy:
        log.info("moved %d trial record(s) of %s to the trials/<number>/record.json layout", len(legacy),
                 storage.uri())
    return len(legacy)
