"""Starting a worker process: `python -m deepaug.<module>` with a pipe each way (the parent's side,
`spawn`), and the worker's side of the pipes (`worker_pipes`, `tasks`).

Workers are plain subprocesses, not multiprocessing, so a user's script without an
`if __name__ == "__main__":` guard never runs again in them. They import the same deepaug
as the parent (its folder leads PYTHONPATH) and never a module of the current folder:
`python -m` would put the current folder first on sys.path, where a stray `tqdm.py` or
another deepaug checkout would shadow the real one.
"""
from __future__ import annotations

import ctypes
import os
import signal
import site
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Iterator, Mapping

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds deepaug/
PARENT_VARIABLE = "DEEPAUG_PARENT_PID"


def worker_command(module: str) -> list[str]:
    """The command line that runs `module` as __main__ without the current folder on sys.path."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", module]
    return [sys.executable, "-c", "import runpy, sys; del sys.path[0]; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"]


def worker_pythonpath(pythonpath: str | None, root: str = PACKAGE_ROOT) -> str | None:
    """The workers' PYTHONPATH: `root` (the folder that holds deepaug/) first, so that they import the
    parent's deepaug from a source checkout, unless it is a site folder, which the workers search
    anyway, in its usual place (first, it would put site-packages ahead of the standard library)."""
    site_dirs = {os.path.realpath(d) for d in [*site.getsitepackages(), site.getusersitepackages()]}
    if os.path.realpath(root) in site_dirs:
        return pythonpath
    return os.pathsep.join(p for p in (root, pythonpath) if p)


def spawn(module: str, env: Mapping[str, str],
          pipe_stderr: bool = False) -> tuple[subprocess.Popen, Connection, Connection]:
    """Start `module` with os.environ plus `env`; (process, tasks to it, messages from it). Its
    stderr is this process's, or with `pipe_stderr` a pipe (`process.stderr`) for the caller to read."""
    full = {**os.environ, **env, PARENT_VARIABLE: str(os.getpid())}
    pythonpath = worker_pythonpath(full.get("PYTHONPATH"))
    if pythonpath:
        full["PYTHONPATH"] = pythonpath
    process = subprocess.Popen(worker_command(module), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE if pipe_stderr else None, env=full)
    assert process.stdin is not None and process.stdout is not None
    tasks = Connection(os.dup(process.stdin.fileno()), readable=False)
    messages = Connection(os.dup(process.stdout.fileno()), writable=False)
    process.stdin.close()
    process.stdout.close()
    return process, tasks, messages


def die_with_parent() -> None:
    """In a worker: be killed when the parent process dies (Linux), even in the middle of a task, so a
    SIGKILLed parent leaves no worker behind; exit at once if it is already gone."""
    parent = os.environ.get(PARENT_VARIABLE)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent and parent.isdigit() and os.getppid() != int(parent):
        os._exit(0)  # the parent died before the death signal was armed


def tasks(rx: Connection) -> Iterator[Any]:
    """In a worker: the tasks the parent sends on `rx`, until it sends None or goes away (EOF)."""
    while True:
        try:
            task = rx.recv()
        except EOFError:  # the parent went away
            return
        if task is None:
            return
        yield task


def worker_pipes() -> tuple[Connection, Connection]:
    """In a worker, first thing: ignore Ctrl-C (the parent stops it), die with the parent, and
    take (tasks from the parent, messages to it) from stdin and stdout; print() goes to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    rx = Connection(os.dup(0), writable=False)
    tx = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # anything printed goes to stderr, never into the message pipe
    return rx, tx
