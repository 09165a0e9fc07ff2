"""The full augmentation run: a policy (or a chain of ops) over a whole dataset, sharded.

Each input image yields its original (optionally square-cropped and resized) and its
augmented variants, named after it and seeded from (image key, policy, variant), so the
same request always produces the same bytes. Input: a folder of class sub-folders (local
or s3://) or an .npz; output: a local folder or an S3 prefix (see `deepaug.outputs`).

Scale-out: the sorted listing is cut into shards of `shard_size` images (`deepaug.shards`).
Locally, `workers` processes share the shards; a worker given `shard="I/N"` does only its
share (as a pod of an Indexed Job does); with `queue="redis://..."` workers lease shards
from Redis (`deepaug.work_queue`); with `executor="kubernetes"` the pods of one Indexed
Job share them (`deepaug.k8s_augment`). A shard writes its completion marker after its outputs,
so a re-run skips complete shards and redoes the rest with identical bytes, and whoever
completes the last shard writes labels.csv and then manifest.json. A request whose
dataset (same input listing, recipe, options, deepaug version) is already complete
returns the existing one without recomputing it.

>>> from deepaug.augment_run import augment
>>> result = augment("best.json", "data/train", "s3://bucket/augmented/{id}", variants=4,
...                  size=224, workers=2)                                              # doctest: +SKIP
>>> result.complete, result.manifest["totals"]                                       # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from deepaug.augment_plan import RunPlan, make_plan
from deepaug.augment_workers import RunError, Worker, finalize_run, prepare_output, run_pool, run_queue_workers
from deepaug.errors import InputError
from deepaug.outputs import PNG_COMPRESSION
from deepaug.policy import Policy
from deepaug.shards import INDEX_VARIABLE, Share, parse_share, range_pairs, shares_of

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.config import KubernetesSettings

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


def augment(policy: str | os.PathLike[str] | Policy | None, src: str | os.PathLike[str],
            dst: str | os.PathLike[str], *, variants: int | None = None, chain: str | Sequence[str] | None = None,
            format: str = "png", size: int | None = None, crop: str = "center", seed: int = 0,
            workers: int = 1, shard: str | Share | None = None, queue: str | None = None,
            shard_size: int = 100, jpeg_quality: int = 95, png_compression: int = PNG_COMPRESSION,
            io_threads: int = 8, lease_seconds: float = 60.0,
            storage_options: dict[str, Any] | None = None, executor: str = "local",
            kubernetes: "KubernetesSettings | Mapping[str, Any] | None" = None, parallelism: int | None = None,
            completions: int | None = None, job_template: str | None = None,
            shards: str | Sequence[int] | None = None) -> AugmentResult:
    """Augment every image under `src` into `dst` (see the module docstring); same request, same bytes.

    `policy`: a Policy, a policy file (local or s3://) or a built-in name; None with `chain`.
    `dst` may contain '{id}', replaced by the dataset id (a content-addressed cache location).
    `executor="kubernetes"`: one Indexed Job of `completions` pods, `parallelism` at a time, with
    the `kubernetes` settings (a dict like the config's `kubernetes:` section); see deepaug.k8s_augment.
    `shards`: only these shards (a list, or ranges such as '3-5,17'), shared out by `shard` and the
    local workers; what a resumed Kubernetes Job gets, so its pods split the missing shards evenly.
    """
    request = dict(variants=variants, chain=chain, format=format, size=size, crop=crop, seed=seed,
                   shard_size=shard_size, jpeg_quality=jpeg_quality, png_compression=png_compression,
                   io_threads=io_threads, storage_options=storage_options)
    if executor == "kubernetes":
        _check_kubernetes_request(workers, shard, queue, shards)
        from deepaug.k8s_augment import augment_on_kubernetes

        return augment_on_kubernetes(policy, src, dst, settings=kubernetes, parallelism=parallelism,
                                     completions=completions, job_template=job_template, **request)
    if executor != "local":
        raise InputError(f"executor must be 'local' or 'kubernetes', got {executor!r}")
    given = [name for name, value in (("kubernetes", kubernetes), ("parallelism", parallelism),
                                      ("completions", completions), ("job_template", job_template))
             if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} apply to executor 'kubernetes' only; pass executor='kubernetes' "
                         "(--executor kubernetes) or leave them out")
    if shard is not None and queue is not None:
        raise InputError("give either a shard (a fixed share of the work) or a queue (shared leases), not both")
    if shards is not None and queue is not None:
        raise InputError("--shards applies to --shard and local workers, not to a queue (which holds every shard)")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    pairs = _shard_pairs(shards)
    share = parse_share(shard) if isinstance(shard, str) else shard
    if share is not None and workers != 1:
        raise InputError("a worker given a shard runs alone; start one process per shard instead of workers > 1")
    if share is None and queue is None and os.environ.get(INDEX_VARIABLE):
        log.warning("%s is set but no shard was given, so this worker does every shard; in an Indexed Job pass "
                    "--shard /N (N = the Job's completions)", INDEX_VARIABLE)
    plan = make_plan(policy, src, dst, **request)
    only = _only(pairs, plan.n_shards)  # before the output is claimed
    manifest = prepare_output(plan)
    if manifest is not None:
        log.info("dataset %s is already complete in %s; nothing to do", plan.dataset_id[:16], plan.output_uri)
        return AugmentResult(plan.dataset_id, plan.output_uri, True, True, plan.n_shards, 0, manifest)
    started = time.perf_counter()
    if queue is not None:
        done = run_queue_workers(plan, queue, workers, lease_seconds)
    else:
        wanted = shares_of(share, only)
        done = run_pool(plan, wanted, workers) if workers > 1 else _run_here(plan, wanted)
    manifest = finalize_run(plan)
    log.info("did %d shard(s) in %.1f s", done, time.perf_counter() - started)
    return AugmentResult(plan.dataset_id, plan.output_uri, manifest is not None, False, plan.n_shards, done, manifest)


def _check_kubernetes_request(workers: int, shard: str | Share | None, queue: str | None,
                              shards: str | Sequence[int] | None) -> None:
    """InputError for local scale-out options given with executor kubernetes (the Job's pods do that)."""
    given = [name for name, value in (("workers", workers != 1), ("shard", shard is not None),
                                      ("queue", queue is not None), ("shards", shards is not None)) if value]
    if given:
        raise InputError(f"{', '.join(given)} do not apply to executor 'kubernetes': the Job's pods share the "
                         "shards; set parallelism (pods at a time) and completions (pods in all) instead")


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


# ---------------------------------------------------------------- command line

def add_request_arguments(parser: Any) -> None:
    """The options that define the dataset (shared with `deepaug k8s render augment`)."""
    parser.add_argument("--policy", default=None,
                        help="policy file (.json/.yaml, local or s3://) or built-in name; not with --chain")
    parser.add_argument("--input", required=True,
                        help="folder of class sub-folders (local or s3://bucket/prefix/) or an .npz of images/labels")
    parser.add_argument("--output", required=True,
                        help="local folder or s3://bucket/prefix/ ('{id}' in it becomes the dataset id)")
    parser.add_argument("--variants", type=int, default=None, help="augmented copies per image (default: 4)")
    parser.add_argument("--chain", default=None,
                        help="chained mode: ops a,b,c (op or op:magnitude); writes every subset img_a, img_ab, ...")
    parser.add_argument("--format", choices=("png", "jpeg", "tfrecord"), default="png", help="(default: png)")
    parser.add_argument("--size", type=int, default=None, help="square-crop and resize every image to SxS")
    parser.add_argument("--crop", choices=("center", "random", "none"), default="center",
                        help="square crop before --size: centre, seeded random (kaleidoscope) or none (stretch)")
    parser.add_argument("--seed", type=int, default=0, help="run seed, part of every image's seed (default: 0)")
    parser.add_argument("--shard-size", type=int, default=100, help="images per shard (default: 100)")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="(default: 95)")
    parser.add_argument("--png-compression", type=int, default=PNG_COMPRESSION,
                        help=f"zlib level of PNG outputs and of the PNGs in TFRecords, 0-9: 1 encodes about 20%% "
                             f"faster for 3-5%% larger files (default: {PNG_COMPRESSION})")
    parser.add_argument("--io-threads", type=int, default=8, help="concurrent reads/writes per worker (default: 8)")


def request_options(args: Any) -> dict[str, Any]:
    """make_plan's keyword arguments from parsed `add_request_arguments` options."""
    return dict(variants=args.variants, chain=args.chain, format=args.format, size=args.size, crop=args.crop,
                seed=args.seed, shard_size=args.shard_size, jpeg_quality=args.jpeg_quality,
                png_compression=args.png_compression, io_threads=args.io_threads)


def _add_arguments(parser: Any) -> None:
    from deepaug.k8s_augment_cli import add_kubernetes_arguments

    add_request_arguments(parser)
    local = parser.add_argument_group("local workers (executor local)")
    local.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1)")
    local.add_argument("--shard", default=None,
                       help="do only share I/N of the shards (worker I of N, from 0); /N takes I from "
                            "$JOB_COMPLETION_INDEX")
    local.add_argument("--shards", default=None,
                       help="only these shards, e.g. 3-5,17 (what a resumed Kubernetes Job passes its pods); "
                            "--shard I/N then shares them out")
    local.add_argument("--queue", default=None, help="take shards from a Redis work queue: redis://host:port/db")
    local.add_argument("--lease-seconds", type=float, default=60.0, help="queue lease duration (default: 60)")
    parser.add_argument("--executor", choices=("local", "kubernetes"), default="local",
                        help="local: processes here; kubernetes: one Indexed Job on a cluster (default: local)")
    add_kubernetes_arguments(parser.add_argument_group("Kubernetes (executor kubernetes; see k8s/README.md)"))


def _cmd_augment(args: Any) -> int:
    import sys

    import cv2

    from deepaug.errors import SearchError
    from deepaug.k8s_augment_cli import kubernetes_options

    cv2.setNumThreads(1)  # one core per worker process: scale with --workers
    try:
        result = augment(args.policy, args.input, args.output, workers=args.workers, shard=args.shard,
                         shards=args.shards, queue=args.queue, lease_seconds=args.lease_seconds, executor=args.executor,
                         **request_options(args), **kubernetes_options(args))
    except (RunError, SearchError) as exc:
        print(f"deepaug: augment stopped: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def add_parser(subparsers: Any) -> Any:
    """Register `deepaug augment` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "augment", help="augment a whole dataset with a policy (sharded, resumable; local or S3)",
        description="Write each image's original and K augmented variants (or every subset of a chain of ops), "
                    "with labels.csv and manifest.json, to a local folder or S3. Deterministic: the same request "
                    "gives the same bytes; running it again resumes, and returns a finished dataset at once.")
    _add_arguments(parser)
    parser.set_defaults(func=_cmd_augment)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m deepaug.augment_run ...`: the augment command on its own."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m deepaug.augment_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _cmd_augment(args)
    except InputError as exc:
        print(f"deepaug: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
