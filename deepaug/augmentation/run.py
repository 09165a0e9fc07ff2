"""The full augmentation run: a policy (or a chain of ops) over a whole dataset, sharded.

Each input image yields its original (optionally square-cropped and resized) and its
augmented variants, named after it and seeded from (image key, policy, variant), so the
same request always produces the same bytes. Input: a folder of class sub-folders (local
or s3://) or an .npz; output: a local folder or an S3 prefix (see `deepaug.augmentation.outputs`).

Scale-out: the sorted listing is cut into shards of `shard_size` images (`deepaug.augmentation.shards`).
Locally, `workers` processes share the shards; a worker given `shard="I/N"` does only its
share (as a pod of an Indexed Job does); with `queue="redis://..."` workers lease shards
from Redis (`deepaug.augmentation.work_queue`); with `executor="kubernetes"` the pods of one Indexed
Job share them (`deepaug.kubernetes.augment`). A shard writes its completion marker after its outputs,
so a re-run skips complete shards and redoes the rest with identical bytes, and whoever
completes the last shard writes labels.csv and then manifest.json. A request whose
dataset (same input listing, recipe, options, deepaug version) is already complete
returns the existing one without recomputing it.

>>> from deepaug import augment
>>> result = augment("best.json", "data/train", "s3://bucket/augmented/{id}", variants=4,
...                  size=224, workers=2)                                              # doctest: +SKIP
>>> result.complete, result.manifest["totals"]                                       # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

from deepaug.augmentation.plan import RunPlan, make_plan
from deepaug.augmentation.request import AUTO, AugmentRequest
from deepaug.augmentation.shards import INDEX_VARIABLE, parse_share, range_pairs, shares_of
from deepaug.augmentation.workers import Worker, finalize_run, prepare_output, run_pool, run_queue_workers
from deepaug.errors import InputError
from deepaug.policy.core import Policy
from deepaug.processes import default_workers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentResult:
    """What a call did: the dataset's id and location, and its manifest once complete."""

    dataset_id: str
    output: str
    complete: bool
    cached: bool
    shards: int
    shards_done_here: int
    manifest: dict[str, Any] | None

    def summary(self) -> str:
        if self.manifest is not None:
            totals = self.manifest["totals"]
            how = "already built" if self.cached else "complete"
            return (f"dataset {self.dataset_id[:16]} {how}: {totals['images']} images -> {totals['outputs']} "
                    f"outputs, {totals['skipped']} skipped (listed in the manifest), in {self.output}")
        return (f"dataset {self.dataset_id[:16]}: this worker did {self.shards_done_here} of {self.shards} shards; "
                f"manifest.json appears in {self.output} once every shard is complete")


def augment_locally(policy: str | os.PathLike[str] | Policy | None, src: str | os.PathLike[str],
                    dst: str | os.PathLike[str], request: AugmentRequest,
                    storage_options: dict[str, Any] | None = None) -> AugmentResult:
    """`deepaug.api.augment` with executor "local": `request.workers` processes here, or this process's
    `request.shard`, or leases from the Redis `request.queue` (the request's checks are done)."""
    workers = default_workers() if request.workers == AUTO else request.workers
    shard, shards, queue = request.shard, request.shards, request.queue
    pairs = _shard_pairs(shards)
    share = parse_share(shard) if isinstance(shard, str) else shard
    if share is None and queue is None and os.environ.get(INDEX_VARIABLE):
        log.warning("%s is set but no shard was given, so this worker does every shard; in an Indexed Job pass "
                    "--shard /N (N = the Job's completions)", INDEX_VARIABLE)
    plan = make_plan(policy, src, dst, storage_options=storage_options, **request.dataset_options())
    only = _only(pairs, plan.n_shards)  # before the output is claimed
    manifest = prepare_output(plan)
    if manifest is not None:
        log.info("dataset %s is already complete in %s; nothing to do", plan.dataset_id[:16], plan.output_uri)
        return AugmentResult(plan.dataset_id, plan.output_uri, True, True, plan.n_shards, 0, manifest)
    started = time.perf_counter()
    if queue is not None:
        done = run_queue_workers(plan, queue, workers, request.lease_seconds)
    else:
        wanted = shares_of(share, only)
        done = run_pool(plan, wanted, workers) if workers > 1 else _run_here(plan, wanted)
    manifest = finalize_run(plan)
    log.info("did %d shard(s) in %.1f s", done, time.perf_counter() - started)
    return AugmentResult(plan.dataset_id, plan.output_uri, manifest is not None, False, plan.n_shards, done, manifest)


def _shard_pairs(shards: Any) -> list[tuple[int, int]] | None:
    """`shards` as (first, last) runs, checked before any work (None: every shard)."""
    if shards is None:
        return None
    if isinstance(shards, str):
        pairs = range_pairs(shards)
        if not pairs:
            raise InputError("--shards is empty: name shards such as 0-3,7, or leave it out to do every shard")
        return pairs
    if isinstance(shards, bytes) or not isinstance(shards, Sequence) or not shards or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shards):
        raise InputError(f"shards must be ranges text such as '0-3,7' or a non-empty list of shard numbers, "
                         f"got {shards!r}")
    return [(s, s) for s in shards]


def _only(pairs: list[tuple[int, int]] | None, n_shards: int) -> list[int]:
    """The shards asked for (all when None), checked against the dataset's before they are expanded."""
    if pairs is None:
        return list(range(n_shards))
    if max(last for _, last in pairs) >= n_shards:
        text = ",".join(f"{first}-{last}" if last > first else str(first) for first, last in pairs)
        raise InputError(f"--shards {text} does not fit this dataset, which has shards 0-{n_shards - 1}; leave "
                         "it out to do every shard")
    return sorted({k for first, last in pairs for k in range(first, last + 1)})


def _run_here(plan: RunPlan, shards: list[int]) -> int:
    with Worker(plan) as worker:
        return worker.run(shards, progress=True)
