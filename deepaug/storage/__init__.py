"""Where bytes live: local folders and S3 behind one `Storage` protocol, atomic local writes,
and the identity documents that tell two stored runs apart.
"""
from __future__ import annotations


def __getattr__(name: str) -> object:
    # deepaug.storage was one module before 0.1: its names now live in deepaug.storage.backends
    from deepaug import _moved

    return _moved.attribute(__name__, name, "deepaug.storage.backends")
