"""A dead owner's lock, raced for by several processes at once: exactly one takes it over."""
from __future__ import annotations

import json
import multiprocessing
import socket
import subprocess
import sys
import time

import pytest

from deepaug.errors import InputError
from deepaug.execution.owner import claim
from deepaug.storage.local import LocalStorage

RACERS = 8
ROUNDS = 40
BUDGET_SECONDS = 20.0  # as many rounds as fit, up to ROUNDS


def _dead_owner() -> bytes:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid runs nothing now: the lock's owner is gone
    return json.dumps({"host": socket.gethostname(), "pid": child.pid, "started": "then",
                       "heartbeat": 0.0, "token": "dead"}).encode("utf-8")


def _racer(root: str, start, done, results) -> None:
    storage = LocalStorage(root)
    while True:
        start.wait()
        try:
            me = claim(storage, ".lock", "experiment 'race'", "", stale_seconds=float("inf"))
            results.put(("won", me["token"]))
        except InputError as exc:
            results.put(("refused", str(exc)))
        except BaseException as exc:  # noqa: BLE001 - reported to the test, never swallowed
            results.put(("error", repr(exc)))
        done.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_exactly_one_of_many_processes_takes_over_a_dead_owners_lock(tmp_path):
    context = multiprocessing.get_context("fork")
    start, done = context.Barrier(RACERS + 1), context.Barrier(RACERS + 1)
    results = context.Queue()
    workers = [context.Process(target=_racer, args=(str(tmp_path), start, done, results), daemon=True)
               for _ in range(RACERS)]
    for worker in workers:
        worker.start()
    winners, began = [], time.monotonic()
    try:
        while len(winners) < ROUNDS and time.monotonic() - began < BUDGET_SECONDS:
            (tmp_path / ".lock").write_bytes(_dead_owner())
            start.wait(timeout=30)
            outcomes = [results.get(timeout=30) for _ in range(RACERS)]
            done.wait(timeout=30)
            assert not [o for o in outcomes if o[0] == "error"], outcomes
            won = [token for kind, token in outcomes if kind == "won"]
            winners.append(len(won))
            if len(won) == 1:  # the lock holds the one winner's claim; no marker is left
                assert json.loads((tmp_path / ".lock").read_text())["token"] == won[0]
                assert not list(tmp_path.glob(".lock.takeover-*"))
    finally:
        for worker in workers:
            worker.kill()
    doubles = sum(1 for n in winners if n != 1)
    assert len(winners) >= 8 and doubles == 0, f"{doubles} of {len(winners)} rounds without exactly one winner: {winners}"


def test_a_marker_left_by_a_dead_claimant_does_not_wedge_the_lock(tmp_path):
    import hashlib

    storage = LocalStorage(tmp_path)
    stale = _dead_owner()
    storage.write(".lock", stale)
    # a claimant died mid-takeover: its marker names a process that is gone
    storage.write(f".lock.takeover-{hashlib.sha256(stale).hexdigest()[:16]}", _dead_owner())
    me = claim(storage, ".lock", "experiment 'race'", "", stale_seconds=float("inf"))
    assert json.loads(storage.read(".lock"))["token"] == me["token"]
    assert sorted(storage.list()) == [".lock"]
