"""The end of a run: labels.csv and manifest.json, once every shard has its completion marker.

Whoever finds every shard complete (the last worker, or any re-run) writes them: first
``labels.csv``, every shard's label rows in shard order under one header, streamed
through a local temp file so memory does not grow with the dataset; then, last of all,
``manifest.json``: the dataset identity, software versions, totals, per-shard counts and
checksums, the labels file's SHA-256 and every skipped input with its reason. Both are
pure functions of the shards, so finalizers racing each other write the same bytes.
"""
from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from concurrent.futures import Executor
from typing import Any, Sequence

from deepaug.augmentation.inputs import Skip, windowed_map
from deepaug.augmentation.outputs import LABEL_COLUMNS, LABELS_KEY, MANIFEST_KEY, SHARDS_PREFIX, marker_key
from deepaug.errors import InputError
from deepaug.storage.backends import Storage, read_json, write_json
from deepaug.storage.disk import local_writes

log = logging.getLogger(__name__)

STALE_ROOT_SECONDS = 600.0  # a root-level temp file this old is no finalizer's write in progress

_MARKER = re.compile(r"_shards/shard-(\d+)\.json")


def done_shards(storage: Storage) -> set[int]:
    """Shards with a completion marker (one listing of ``_shards/``)."""
    return {int(m.group(1)) for m in map(_MARKER.fullmatch, storage.list(SHARDS_PREFIX)) if m}


def read_marker(storage: Storage, shard: int, dataset_id: str) -> dict[str, Any] | None:
    """The shard's marker if it is complete for this dataset; InputError if it belongs to another one."""
    try:
        marker = read_json(storage, marker_key(shard))
    except FileNotFoundError:
        return None
    if marker.get("dataset_id") != dataset_id:
        raise InputError(f"{storage.uri(marker_key(shard))} belongs to dataset {marker.get('dataset_id')}, not "
                         f"{dataset_id}; use another output location or remove this one")
    return marker


def _write_labels(storage: Storage, markers: Sequence[dict[str, Any]], pool: Executor) -> str:
    """Concatenate the shards' label parts into labels.csv (streamed); its SHA-256."""
    digest = hashlib.sha256()
    temp = tempfile.gettempdir()
    with local_writes(temp, "set TMPDIR to a folder with room", f"labels.csv's temp file in {temp} (TMPDIR)"), \
            tempfile.TemporaryFile() as spool:
        header = (",".join(LABEL_COLUMNS) + "\n").encode()
        spool.write(header)
        digest.update(header)
        for marker, part in zip(markers, windowed_map(pool, lambda m: storage.read(m["labels"]), markers, 16)):
            if hashlib.sha256(part).hexdigest() != marker["checksum"]:
                raise InputError(f"{storage.uri(marker['labels'])} does not match its marker's checksum; remove "
                                 f"{storage.uri(marker_key(marker['shard']))} and run again to redo that shard")
            spool.write(part)
            digest.update(part)
        spool.seek(0)
        storage.write_stream(LABELS_KEY, spool)  # type: ignore[arg-type]
    return digest.hexdigest()


def finalize(storage: Storage, identity: dict[str, Any], n_shards: int, listing_skips: Sequence[Skip],
             pool: Executor, software: dict[str, str]) -> dict[str, Any] | None:
    """Write labels.csv and then manifest.json when every shard is complete; None while some are not."""
    have = done_shards(storage) & set(range(n_shards))
    if len(have) < n_shards:
        log.info("%d of %d shards complete in %s; the manifest is written when all are", len(have), n_shards,
                 storage.uri())
        return None
    dataset_id = identity["dataset_id"]
    markers = list(windowed_map(pool, lambda s: read_marker(storage, s, dataset_id), range(n_shards), 16))
    if any(m is None for m in markers):
        return None
    shards, skipped = [], [s.to_dict() for s in listing_skips]
    for m in markers:
        shards.append({k: m[k] for k in ("shard", "images", "outputs", "checksum", "files")}
                      | {"skipped": len(m["skipped"])})
        skipped += m["skipped"]
        m.pop("skipped")
    skipped.sort(key=lambda s: s["source"])
    labels_sha256 = _write_labels(storage, markers, pool)
    manifest = dict(identity) | {
        "software": software,
        "totals": {"images": sum(s["images"] for s in shards), "outputs": sum(s["outputs"] for s in shards),
                   "skipped": len(skipped)},
        "labels": {"key": LABELS_KEY, "sha256": labels_sha256, "columns": list(LABEL_COLUMNS)},
        "shards": shards, "skipped": skipped}
    write_json(storage, MANIFEST_KEY, manifest)  # last: its presence means the dataset is complete
    # temp files that workers killed mid-write left (every shard is complete: nothing writes there now)
    storage.remove_temp_files(("images", "records", SHARDS_PREFIX.rstrip("/")))
    # the root's own (labels.csv, manifest.json, _run.json): another finalizer may be writing them now
    storage.remove_temp_files(("",), older_than=STALE_ROOT_SECONDS)
    if skipped:
        log.warning("%d input file(s) were skipped; each is listed with its reason in %s", len(skipped),
                    storage.uri(MANIFEST_KEY))
    log.info("dataset %s complete: %d images -> %d outputs in %s", dataset_id[:16], manifest["totals"]["images"],
             manifest["totals"]["outputs"], storage.uri())
    return manifest


