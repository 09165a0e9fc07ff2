"""Who does the shards of a run: one `Worker` per process, a local pool of them, or queue workers.

A `Worker` owns its storages and an I/O thread pool: input reads run ahead of the
augmentation and output writes run behind it (both bounded), while pixels are processed
on one core, so `workers` processes scale across cores. Before any work, `prepare_output`
claims the output location for this dataset (or finds it already complete); after the
work, `finalize_run` writes the manifest when every shard is complete.

With `workers` > 1 the shards are done by `python -m deepaug.augmentation.process_main` processes (not
multiprocessing, which would re-run a user's unguarded script in each): `run_pool` hands
them one shard at a time, so a fast worker takes more; `run_queue_workers` lets each lease
shards from Redis. This process shows the progress bar and raises their failures.
"""
from __future__ import annotations

import json
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from tqdm import tqdm

from deepaug.augmentation.inputs import InputReader, Skip
from deepaug.augmentation.manifest import done_shards, finalize, read_marker
from deepaug.augmentation.outputs import MANIFEST_KEY, RUN_KEY, ShardWriter
from deepaug.augmentation.plan import RunPlan, software
from deepaug.augmentation.processes import ShardWorker, WorkerTraceback, start_shard_workers
from deepaug.augmentation.shards import shard_bounds
from deepaug.augmentation.work_queue import WorkQueue
from deepaug.errors import InputError, RunError
from deepaug.processes import POLL_SECONDS, exit_reason, receive_any, stopping
from deepaug.storage.backends import open_storage, read_json_or_none
from deepaug.storage.identity import differences

log = logging.getLogger(__name__)


def _without_policy(identity: dict[str, Any]) -> dict[str, Any]:
    recipe = identity.get("recipe")
    return {**identity, "recipe": {k: v for k, v in recipe.items() if k != "policy"}} if isinstance(recipe, dict) \
        else identity


def find_output(plan: RunPlan, *, ignore_policy: bool = False, label: str = "") -> tuple[str, dict[str, Any]] | None:
    """(key, document) of this dataset's manifest or run document at the output; None when it is empty.

    InputError when the output holds another dataset (with `ignore_policy`: one that differs in more
    than the policy, for a check made before the policy is known) or files that are not a deepaug
    dataset. `label` goes before the output's URI in those messages.
    """
    storage = open_storage(plan.output_uri, **plan.storage_options)
    for _ in range(2):
        found = _dataset_document(storage, plan, ignore_policy, label)
        if found is not None:
            return found
        if next(iter(storage.list()), None) is None:
            return None
        # Not empty: a run of this dataset starting beside us (another pod, machine or queue worker) may
        # have created its RUN_KEY after we looked and written since; a run creates RUN_KEY before any
        # other file, so a second look, after the listing, finds it if that is what the files are.
    raise InputError(f"{label}{plan.output_uri} is not empty and is not a deepaug dataset (no {RUN_KEY}); "
                     "choose an empty or new output location (or put '{id}' in it)")


def _dataset_document(storage: Any, plan: RunPlan, ignore_policy: bool,
                      label: str) -> tuple[str, dict[str, Any]] | None:
    """find_output's look at the manifest, then the run document; InputError for another dataset's."""
    for key in (MANIFEST_KEY, RUN_KEY):
        found = read_json_or_none(storage, key)
        if found is None:
            continue
        there = {k: found[k] for k in plan.identity if k in found}  # a manifest has more: results
        if ignore_policy:
            there, here = _without_policy(there), _without_policy(plan.identity)
        elif found.get("dataset_id") == plan.dataset_id:
            return key, found
        else:
            here = plan.identity
        changes = differences(there, here, ("there", "here"), skip=("dataset_id",))
        if changes or not ignore_policy:
            raise InputError(f"{label}{plan.output_uri} already holds another dataset "
                             f"({str(found.get('dataset_id'))[:16]}, differing in "
                             f"{'; '.join(changes[:6]) or 'a different identity'}); use another output (or put "
                             "'{id}' in it) or remove it")
        return key, found
    return None


def prepare_output(plan: RunPlan) -> dict[str, Any] | None:
    """The manifest if this dataset is already complete at the output; else claim the output for it.

    InputError when the output holds another dataset or files that are not a deepaug dataset.
    """
    found = find_output(plan)
    if found is not None:
        return found[1] if found[0] == MANIFEST_KEY else None
    storage = open_storage(plan.output_uri, **plan.storage_options)
    document = (json.dumps(plan.identity, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if not storage.create(RUN_KEY, document):  # before any image: a root with images says what they are
        # another run claimed it since we looked: fine if it is this dataset (they share the shards)
        found = find_output(plan)
        if found is not None and found[0] == MANIFEST_KEY:
            return found[1]
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
        options = {"max_pool_connections": max(10, plan.io_threads), **plan.storage_options}  # S3: a connection each
        self.storage = open_storage(plan.output_uri, **options)
        self.reader = InputReader(plan.listing, options)
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
                             max_in_flight=4 * plan.io_threads,
                             png_compression=plan.png_compression)
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

def _log_level() -> int:
    return logging.getLogger("deepaug").getEffectiveLevel()


def _worker_error(worker: ShardWorker, message: tuple[Any, ...]) -> BaseException:
    """The exception a worker reported, to raise here, with the worker's traceback text as its cause."""
    _, shard, error, text = message
    where = f"worker process {worker.pid}" + (f" (shard {shard})" if shard is not None else "")
    if error is None:
        summary = text.strip().splitlines()[-1] if text.strip() else "no details"
        error = RunError(f"{where} failed: {summary}; every complete shard is kept: fix the cause and run the "
                         "same command again")
    error.__cause__ = WorkerTraceback(text)
    log.debug("%s failed:\n%s", where, text)
    return error


def _died(worker: ShardWorker, code: int) -> RunError:
    during = f" during shard {worker.shard}" if worker.shard is not None else ""
    return RunError(f"worker process {worker.pid} died ({exit_reason(code)}){during}; every complete shard is "
                    "kept: run the same command again to do the rest")


def run_pool(plan: RunPlan, shards: list[int], workers: int) -> int:
    """Do `shards` with `workers` worker processes, one shard per task; the number done.

    RunError when a worker dies (its shard is redone by the next run); a worker's exception is
    raised here. Either way the other workers finish their shard first. Ctrl-C kills the workers.
    """
    complete = done_shards(open_storage(plan.output_uri, **plan.storage_options))
    todo = deque(s for s in shards if s not in complete)
    if not todo:
        return 0
    pool = start_shard_workers(min(workers, len(todo)), ("pool", plan, _log_level()))
    with stopping(pool), tqdm(total=len(todo), unit="shard", disable=None, desc="augment") as bar:
        done, failure = _dispatch(pool, todo, bar)
    if failure is not None:
        raise failure
    return done


def _give(worker: ShardWorker, todo: deque[int]) -> None:
    worker.shard = todo.popleft()
    if not worker.send(worker.shard):
        log.debug("worker process %d is gone before taking shard %d", worker.pid, worker.shard)


def _dispatch(pool: list[ShardWorker], todo: deque[int], bar: tqdm) -> tuple[int, BaseException | None]:
    """Hand out shards until all are done or one failed (then let the busy ones finish); (done, failure)."""
    done, failure = 0, None
    for worker in pool:
        _give(worker, todo)
    busy = list(pool)
    while busy:
        for worker, message in receive_any(busy, POLL_SECONDS):
            if message is None or message[0] == "error":
                busy.remove(worker)
                error = _died(worker, worker.wait()) if message is None else _worker_error(worker, message)
                failure = failure or error
                continue
            done += message[2]
            bar.update()
            worker.shard = None
            if todo and failure is None:
                _give(worker, todo)
            else:
                busy.remove(worker)
    return done, failure


# ---------------------------------------------------------------- Redis queue

def queue_loop(plan: RunPlan, url: str, lease_seconds: float, on_done: Callable[[int], None] | None = None) -> int:
    """Lease shards from the queue until none is left; the number done here (`on_done(shard)` after each)."""
    # items other than this run's shard numbers are dropped (and logged) by the queue itself
    queue = WorkQueue.connect(url, f"deepaug:augment:{plan.dataset_id[:16]}", lease_seconds, items=plan.n_shards)
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
            shard = int(item)  # lease() returns valid shard numbers only
            with queue.keep_alive(item):
                did = worker.do_shard(shard) is not None
            queue.complete(item)
            done += did
            if did and on_done is not None:
                on_done(shard)
    return done


def run_queue_workers(plan: RunPlan, url: str, workers: int, lease_seconds: float) -> int:
    """`workers` queue workers (this process alone when 1); the number of shards they did.

    A worker that dies or fails leaves its lease to expire, and the others take its shard; a
    failure is logged with its traceback. RunError (or the failure) only when none of them
    finished. Ctrl-C kills the workers.
    """
    if workers == 1:
        return queue_loop(plan, url, lease_seconds)
    pool = start_shard_workers(workers, ("queue", plan, _log_level(), url, lease_seconds))
    with stopping(pool), tqdm(unit="shard", disable=None, desc="augment") as bar:
        done, failures, finished = _watch_queue_workers(pool, bar)
    if failures:
        log.warning("%d of %d queue worker(s) failed; their leased shards went back to the queue", len(failures),
                    workers)
        if not finished:
            raise failures[0]
    return done


def _watch_queue_workers(pool: list[ShardWorker], bar: tqdm) -> tuple[int, list[BaseException], int]:
    """Count the shards the workers report until every one exits; (done, failures, workers that finished)."""
    done, failures, finished, running = 0, [], 0, list(pool)
    while running:
        for worker, message in receive_any(running, POLL_SECONDS):
            if message is not None and message[0] == "done":
                done += 1
                bar.update()
            elif message is not None:  # "error": the exit follows
                failures.append(_worker_error(worker, message))
                worker.failed = True
                log.error("queue worker process %d failed: %s", worker.pid, failures[-1], exc_info=failures[-1])
            else:
                running.remove(worker)
                code = worker.wait()
                finished += code == 0
                if code != 0 and not worker.failed:
                    failures.append(_died(worker, code))
                    log.warning("queue worker process %d %s; its lease expires and another worker takes its shard",
                                worker.pid, exit_reason(code))
    return done, failures, finished
