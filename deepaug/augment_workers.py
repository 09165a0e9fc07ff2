"""Who does the shards of a run: one `Worker` per process, a local pool of them, or queue workers.

A `Worker` owns its storages and an I/O thread pool: input reads run ahead of the
augmentation and output writes run behind it (both bounded), while pixels are processed
on one core, so `workers` processes scale across cores. Before any work, `prepare_output`
claims the output location for this dataset (or finds it already complete); after the
work, `finalize_run` writes the manifest when every shard is complete.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm import tqdm

from deepaug.augment_plan import RunPlan, software
from deepaug.identity import differences
from deepaug.errors import InputError
from deepaug.inputs import InputReader, Skip
from deepaug.manifest import done_shards, finalize, read_marker
from deepaug.outputs import MANIFEST_KEY, RUN_KEY, ShardWriter
from deepaug.shards import shard_bounds
from deepaug.storage import Storage, open_storage, read_json, write_json
from deepaug.work_queue import WorkQueue

log = logging.getLogger(__name__)


class RunError(RuntimeError):
    """A run stopped before its shards were done (a worker died); complete shards are kept."""


def _read_or_none(storage: Storage, key: str) -> Any:
    try:
        return read_json(storage, key)
    except FileNotFoundError:
        return None


def prepare_output(plan: RunPlan) -> dict[str, Any] | None:
    """The manifest if this dataset is already complete at the output; else claim the output for it.

    InputError when the output holds another dataset or files that are not a deepaug dataset.
    """
    storage = open_storage(plan.output_uri, **plan.storage_options)
    for key in (MANIFEST_KEY, RUN_KEY):
        found = _read_or_none(storage, key)
        if found is None:
            continue
        if found.get("dataset_id") != plan.dataset_id:
            there = {k: found[k] for k in plan.identity if k in found}  # a manifest has more: results
            changes = "; ".join(differences(there, plan.identity, ("there", "here"), skip=("dataset_id",))[:6]) or "a different identity"
            raise InputError(f"{plan.output_uri} already holds another dataset ({str(found.get('dataset_id'))[:16]}, "
                             f"differing in {changes}); use another output (or put '{{id}}' in it) or remove it")
        return found if key == MANIFEST_KEY else None
    if next(iter(storage.list()), None) is not None and _read_or_none(storage, RUN_KEY) is None:
        raise InputError(f"{plan.output_uri} is not empty and is not a deepaug dataset (no {RUN_KEY}); "
                         "choose an empty or new output location")
    write_json(storage, RUN_KEY, plan.identity)  # before any image: a root with images says what they are
    return None


def finalize_run(plan: RunPlan) -> dict[str, Any] | None:
    """labels.csv and manifest.json once every shard is complete (idempotent); None until then."""
    storage = open_storage(plan.output_uri, **plan.storage_options)
    with ThreadPoolExecutor(plan.io_threads) as pool:
        return finalize(storage, plan.identity, plan.n_shards, plan.listing.skipped, pool, software())


class Worker:
    """Does shards of `plan` in this process; a context manager that shuts its threads down."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.storage = open_storage(plan.output_uri, **plan.storage_options)
        self.reader = InputReader(plan.listing, plan.storage_options)
        self.pool = ThreadPoolExecutor(plan.io_threads, thread_name_prefix="deepaug-io")

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.reader.close()

    def do_shard(self, shard: int) -> dict[str, Any] | None:
        """Process one shard unless its marker says it is complete; its marker, or None when skipped."""
        if read_marker(self.storage, shard, self.plan.dataset_id) is not None:
            return None
        return self.process(shard)

    def process(self, shard: int) -> dict[str, Any]:
        plan, listing, started = self.plan, self.plan.listing, time.perf_counter()
        start, stop = shard_bounds(shard, len(listing), plan.shard_size)
        writer = ShardWriter(self.storage, shard, plan.dataset_id, plan.format, plan.jpeg_quality, self.pool,
                             max_in_flight=4 * plan.io_threads)
        for index, image in self.reader.read_shard(start, stop, self.pool, window=2 * plan.io_threads):
            key = listing.keys[index]
            if isinstance(image, Skip):
                log.warning("skipping %s: %s", key, image.reason)
                writer.skip(image)
                continue
            original = plan.recipe.prepare(key, image)
            writer.add_image(key, int(listing.labels[index]), listing.class_of(index), plan.stem(index),
                             list(plan.recipe.render(key, original)))
        marker = writer.close()
        log.info("shard %d (of %d): %d images -> %d outputs, %d skipped, %.1f s", shard, plan.n_shards,
                 marker["images"], marker["outputs"], len(marker["skipped"]), time.perf_counter() - started)
        return marker

    def run(self, shards: list[int], progress: bool = False) -> int:
        """Do every listed shard not yet complete; the number done here."""
        complete = done_shards(self.storage)
        todo = [s for s in shards if s not in complete]
        if len(todo) < len(shards):
            log.info("%d of %d shard(s) already complete; doing the other %d", len(shards) - len(todo),
                     len(shards), len(todo))
        for shard in tqdm(todo, unit="shard", disable=not progress or None, desc="augment"):
            self.process(shard)
        return len(todo)


# ---------------------------------------------------------------- local pool

_POOL_WORKER: Worker | None = None


def _quiet_worker() -> None:
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    cv2.setNumThreads(1)


def _init_pool_worker(plan: RunPlan, log_level: int) -> None:
    global _POOL_WORKER
    _quiet_worker()
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _POOL_WORKER = Worker(plan)


def _pool_task(shard: int) -> bool:
    assert _POOL_WORKER is not None
    return _POOL_WORKER.do_shard(shard) is not None


def run_pool(plan: RunPlan, shards: list[int], workers: int) -> int:
    """Do `shards` with `workers` spawned processes, one shard per task; the number done."""
    complete = done_shards(open_storage(plan.output_uri, **plan.storage_options))
    todo = [s for s in shards if s not in complete]
    done = 0
    executor = ProcessPoolExecutor(min(workers, max(1, len(todo))), mp_context=mp.get_context("spawn"),
                                   initializer=_init_pool_worker,
                                   initargs=(plan, logging.getLogger("deepaug").getEffectiveLevel()))
    try:
        futures = [executor.submit(_pool_task, shard) for shard in todo]
        for future in tqdm(as_completed(futures), total=len(futures), unit="shard", disable=None, desc="augment"):
            done += future.result()
            log.debug("%d of %d shard(s) done", done, len(futures))
    except BrokenProcessPool:
        raise RunError("a worker process died (killed or out of memory); every complete shard is kept: run the "
                       "same command again to do the rest") from None
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    return done


# ---------------------------------------------------------------- Redis queue

def queue_loop(plan: RunPlan, url: str, lease_seconds: float, counter: Any = None) -> int:
    """Lease shards from the queue until none is left; the number done here."""
    queue = WorkQueue.connect(url, f"deepaug:augment:{plan.dataset_id[:16]}", lease_seconds)
    queue.seed(range(plan.n_shards))
    done = 0
    with Worker(plan) as worker:
        while True:
            item = queue.lease()
            if item is None:
                if not queue.finished():
                    time.sleep(min(1.0, lease_seconds / 4))  # others hold leases; theirs may yet expire
                    continue
                missing = sorted(set(range(plan.n_shards)) - done_shards(worker.storage))
                if not missing:
                    break
                log.warning("the queue is empty but %d shard(s) have no marker (outputs removed?); queueing them "
                            "again", len(missing))
                queue.requeue(missing)
                continue
            with queue.keep_alive(item):
                did = worker.do_shard(int(item)) is not None
            queue.complete(item)
            done += did
            if did and counter is not None:
                with counter.get_lock():
                    counter.value += 1
    return done


def _queue_process(plan: RunPlan, url: str, lease_seconds: float, counter: Any, log_level: int) -> None:
    _quiet_worker()
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    queue_loop(plan, url, lease_seconds, counter)


def run_queue_workers(plan: RunPlan, url: str, workers: int, lease_seconds: float) -> int:
    """`workers` queue workers (this process alone when 1); a dead one's shards go to the others."""
    if workers == 1:
        return queue_loop(plan, url, lease_seconds)
    ctx = mp.get_context("spawn")
    counter = ctx.Value("i", 0)
    level = logging.getLogger("deepaug").getEffectiveLevel()
    processes = [ctx.Process(target=_queue_process, args=(plan, url, lease_seconds, counter, level), daemon=True)
                 for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except BaseException:
        for process in processes:
            process.terminate()
        raise
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        log.warning("%d of %d queue worker(s) exited with codes %s; their leased shards went back to the queue",
                    len(failed), workers, failed)
    return int(counter.value)
