"""TensorFlow's C++ log lines in worker processes: kept off the parent's terminal unless asked for.

TF_CPP_MIN_LOG_LEVEL filters TensorFlow's own logging, but the lines written before absl's
logging starts reach stderr whatever it says: "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR" and the oneDNN notice, from every
worker at its start and again at its first training, in the middle of the progress bar. So
the parent reads a trial worker's stderr (`relay`) and drops the C++ lines below the level in
effect (`keep_line`); everything else (tracebacks, Python warnings, a fatal C++ line) passes.

The level is the user's TF_CPP_MIN_LOG_LEVEL when set, 0 (everything) when deepaug logs at
DEBUG (`deepaug -v`), else 2 (TensorFlow's documented value that hides INFO and WARNING):

>>> keep = keep_line(2)
>>> keep("I0000 00:00:1796559537.345317   25648 port.cc:153] oneDNN custom operations are on.")
False
>>> keep("Traceback (most recent call last):")
True
"""
from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import IO, Callable, Mapping

VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LEVEL = 2  # TensorFlow's documented meaning: 0 all, 1 no INFO, 2 no INFO/WARNING, 3 no ERROR either
SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}  # absl's prefix letters; a FATAL line always passes
NATIVE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] ")  # absl: Lmmdd time thread file:line]
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def worker_log_level(environ: Mapping[str, str] | None = None, logger: str = "deepaug") -> int:
    """The TF_CPP_MIN_LOG_LEVEL for workers: the user's, else 0 when `logger` logs DEBUG, else 2."""
    environ = os.environ if environ is None else environ
    value = environ.get(VARIABLE, "").strip()
    if value.isdigit():
        return min(int(value), 3)
    return 0 if logging.getLogger(logger).isEnabledFor(logging.DEBUG) else DEFAULT_LEVEL


def keep_line(level: int) -> Callable[[str], bool]:
    """Whether a worker's stderr line is shown at TF_CPP_MIN_LOG_LEVEL `level`."""
    def keep(line: str) -> bool:
        if level <= 0:
            return True
        if line.startswith(ABSL_NOTICE):
            return False
        match = NATIVE_LINE.match(line)
        return match is None or SEVERITY[match.group(1)] >= level
    return keep


def relay(stream: IO[bytes], keep: Callable[[str], bool]) -> threading.Thread:
    """Copy `stream` (a worker's stderr) line by line to this process's stderr, the lines `keep`
    accepts; a daemon thread that ends when the worker closes it (exits)."""
    def copy() -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace")
                if keep(line):
                    try:
                        sys.stderr.write(line)
                        sys.stderr.flush()
                    except (OSError, ValueError):  # this process's stderr is closed: drop the line
                        pass

    thread = threading.Thread(target=copy, name="deepaug-worker-stderr", daemon=True)
    thread.start()
    return thread
