"""Benchmarks (run from the repository root with PYTHONPATH=.); results go to docs/benchmarks.md."""
from __future__ import annotations

import logging
import os
from pathlib import Path


def emit(text: str, markdown: str | os.PathLike[str] | None) -> None:
    """Print a benchmark's result tables and, with --markdown FILE, write them there too."""
    text = text if text.endswith("\n") else text + "\n"
    print(text, end="")
    if markdown:
        Path(markdown).write_text(text, encoding="utf-8")
        logging.getLogger("bench").info("tables written to %s", markdown)
