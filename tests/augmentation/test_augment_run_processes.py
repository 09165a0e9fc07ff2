"""Worker processes of a run (`deepaug.augmentation.processes`): scripts without a main guard, deaths, failures, Ctrl-C.

Faults are injected into the real worker processes by a `sitecustomize` module on their
PYTHONPATH (written by `fault_env`), which wraps `ShardWriter.add_image`: after the first
image of one shard it kills the process, raises, or stalls. Nothing in deepaug is mocked.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _augment_data import REPO, markers, tree, write_images
from _redis import redis_server, redis_url  # noqa: F401  (fixtures)
from deepaug.augmentation.processes import WorkerTraceback
from deepaug.api import augment
from deepaug.augmentation.workers import RunError

OPTIONS = {"variants": 2, "shard_size": 2, "io_threads": 2}

# A user's script, deliberately without `if __name__ == "__main__":`; argv: log file, src, dst[, queue URL].
UNGUARDED_SCRIPT = """
import logging, sys
from deepaug.api import augment

with open(sys.argv[1], "a") as log_file:
    log_file.write("body ran\\n")
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
queue = sys.argv[4] if len(sys.argv) > 4 else None
result = augment("reference", sys.argv[2], sys.argv[3], variants=2, shard_size=2, io_threads=2, workers=2,
                 queue=queue, lease_seconds=5)
print("RESULT", result.complete, result.shards_done_here)
"""

# Loaded by every Python process whose PYTHONPATH holds it; DEEPAUG_TEST_FAULT = "kind:shard[:flag file]".
FAULT_HOOK = """
import os, signal, time

_fault = os.environ.get("DEEPAUG_TEST_FAULT")
if _fault:
    from deepaug.augmentation import outputs

    _kind, _shard, _flag = (_fault.split(":", 2) + [""])[:3]
    _add_image = outputs.ShardWriter.add_image

    def _faulty_add_image(self, *args, **kwargs):
        _add_image(self, *args, **kwargs)
        if self.shard != int(_shard) or self.images != 1:
            return
        if _flag:  # once per test: the first process to get here
            try:
                fd = os.open(_flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
        if _kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif _kind == "raise":
            raise ValueError(f"injected fault in shard {_shard}")
        elif _kind == "stall":
            time.sleep(600)

    outputs.ShardWriter.add_image = _faulty_add_image
"""

# The CLI with Python's own Ctrl-C handler (a test runner may have started us with SIGINT ignored).
CLI_RUNNER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from deepaug.cli import main
sys.exit(main(["augment", *sys.argv[1:]]))
"""


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write_images(root)  # 12 images: 6 shards of 2
    return root


@pytest.fixture
def reference(src: Path, tmp_path: Path) -> dict[str, bytes]:
    """The output of a one-process run (no worker processes)."""
    augment("reference", src, tmp_path / "ref", **OPTIONS)
    return tree(tmp_path / "ref")


@pytest.fixture
def fault_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """fault_env("kill:2:<flag>") puts the fault hook on PYTHONPATH for processes started from now on."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAULT_HOOK)

    def set_fault(fault: str) -> dict[str, str]:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), str(REPO), os.environ.get("PYTHONPATH", "")]))
        monkeypatch.setenv("DEEPAUG_TEST_FAULT", fault)
        return dict(os.environ)

    return set_fault


def run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(UNGUARDED_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)


def test_pool_workers_do_not_rerun_a_script_without_main_guard(src, tmp_path, reference):
    ran = tmp_path / "ran.txt"
    done = run_script(tmp_path, str(ran), str(src), str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert ran.read_text() == "body ran\n"  # once: the workers did not import the script
    assert "RESULT True 6" in done.stdout
    assert tree(tmp_path / "out") == reference
    assert done.stderr.count("INFO deepaug.augmentation.workers: shard ") == 6  # the workers log at the script's level


def test_queue_workers_do_not_rerun_a_script_without_main_guard(src, tmp_path, reference, redis_url):
    ran = tmp_path / "ran.txt"
    done = run_script(tmp_path, str(ran), str(src), str(tmp_path / "out"), redis_url)
    assert done.returncode == 0, done.stderr
    assert ran.read_text() == "body ran\n"
    assert "RESULT True 6" in done.stdout
    assert tree(tmp_path / "out") == reference


def test_a_dead_pool_worker_stops_the_run_and_a_rerun_completes_it(src, tmp_path, reference, fault_env,
                                                                   monkeypatch):
    fault_env(f"kill:2:{tmp_path / 'killed'}")
    with pytest.raises(RunError, match=r"died \(killed by SIGKILL.*during shard 2.*run the same command again"):
        augment("reference", src, tmp_path / "out", workers=2, **OPTIONS)
    done_before = markers(tree(tmp_path / "out"))
    assert 2 not in done_before and done_before  # the other worker's shards are kept
    monkeypatch.delenv("DEEPAUG_TEST_FAULT")
    result = augment("reference", src, tmp_path / "out", workers=2, **OPTIONS)
    assert result.complete and result.shards_done_here == 6 - len(done_before)
    assert tree(tmp_path / "out") == reference


def test_a_worker_exception_is_raised_in_the_parent_with_its_traceback(src, tmp_path, fault_env):
    fault_env("raise:3")
    with pytest.raises(ValueError, match="injected fault in shard 3") as caught:
        augment("reference", src, tmp_path / "out", workers=2, **OPTIONS)
    cause = caught.value.__cause__
    assert isinstance(cause, WorkerTraceback)
    assert "_faulty_add_image" in str(cause) and "Traceback (most recent call last)" in str(cause)
    assert "manifest.json" not in tree(tmp_path / "out")


def test_a_dead_queue_worker_leaves_its_shard_to_the_other(src, tmp_path, reference, fault_env, redis_url):
    fault_env(f"kill:2:{tmp_path / 'killed'}")
    result = augment("reference", src, tmp_path / "out", workers=2, queue=redis_url, lease_seconds=1, **OPTIONS)
    assert (tmp_path / "killed").exists()  # one worker did die
    assert result.complete and result.shards_done_here == 6  # its shard 2 was done by the other
    assert tree(tmp_path / "out") == reference


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_ctrl_c_in_the_parent_kills_the_workers(src, tmp_path, fault_env):
    flag = tmp_path / "stalled"
    env = fault_env(f"stall:0:{flag}")
    parent = subprocess.Popen([sys.executable, "-c", CLI_RUNNER, "--policy", "reference", "--input", str(src),
                               "--output", str(tmp_path / "out"), "--variants", "2", "--shard-size", "2",
                               "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stalled = None
    try:
        deadline = time.monotonic() + 120
        while not (flag.exists() and flag.read_text()) and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.05)
        assert flag.exists(), parent.communicate(timeout=10)[1]
        stalled = int(flag.read_text())
        assert _alive(stalled)
        parent.send_signal(signal.SIGINT)
        _, stderr = parent.communicate(timeout=30)
        assert parent.returncode == 130 and "deepaug: interrupted" in stderr  # the CLI's Ctrl-C exit
        assert not _alive(stalled)  # killed, not left sleeping
    finally:
        if parent.poll() is None:
            parent.kill()
        if stalled is not None and _alive(stalled):
            os.kill(stalled, signal.SIGKILL)


def test_a_plan_that_cannot_reach_the_workers_is_a_clear_error(src, tmp_path):
    from deepaug.errors import InputError

    with pytest.raises(InputError, match="storage options must be plain values"):
        augment("reference", src, tmp_path / "out", workers=2, storage_options={"client": lambda: None}, **OPTIONS)


def test_a_sigkilled_parent_leaves_no_worker_behind(src, tmp_path, fault_env):
    flag = tmp_path / "stalled"
    env = fault_env(f"stall:0:{flag}")
    parent = subprocess.Popen([sys.executable, "-c", CLI_RUNNER, "--policy", "reference", "--input", str(src),
                               "--output", str(tmp_path / "out"), "--variants", "2", "--shard-size", "2",
                               "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stalled = None
    try:
        deadline = time.monotonic() + 120
        while not (flag.exists() and flag.read_text()) and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.05)
        stalled = int(flag.read_text())  # a worker busy in the middle of a shard
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(stalled) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(stalled)  # killed with its parent, not left sleeping as an orphan
    finally:
        if parent.poll() is None:
            parent.kill()
        if stalled is not None and _alive(stalled):
            os.kill(stalled, signal.SIGKILL)


def test_modules_in_the_current_folder_do_not_shadow_the_workers_imports(src, tmp_path, reference):
    here = tmp_path / "here"  # where the user stands; their script lives elsewhere
    (here / "deepaug").mkdir(parents=True)  # another (broken) deepaug checkout, and a stray tqdm.py
    (here / "deepaug" / "__init__.py").write_text("raise ImportError('the wrong deepaug')\n")
    (here / "tqdm.py").write_text("raise ImportError('the stray tqdm.py of the current folder')\n")
    script = tmp_path / "user_script.py"
    script.write_text(UNGUARDED_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO))  # (a relative entry such as '.' would reach `here` too)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "ran.log"), str(src), str(tmp_path / "out")],
                          cwd=here, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "RESULT True 6" in done.stdout, done.stderr
    assert tree(tmp_path / "out") == reference
