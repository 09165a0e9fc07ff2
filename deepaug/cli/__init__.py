"""The `deepaug` command line; argument parsing lives here and nowhere else.
"""
from __future__ import annotations

from deepaug import _moved
from deepaug.cli.app import main

__all__ = ["main"]


def __getattr__(name: str) -> object:
    # deepaug.cli was one module before 0.1: its names now live in deepaug.cli.app
    return _moved.attribute(__name__, name, "deepaug.cli.app")
