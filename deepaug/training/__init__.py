"""Training child models: the Keras models, one training on augmented data, its reward, and
training in rungs that resume from checkpoints.
"""
from __future__ import annotations


def __getattr__(name: str) -> object:
    # deepaug.training was one module before 0.1: its names now live in deepaug.training.train
    from deepaug import _moved

    return _moved.attribute(__name__, name, "deepaug.training.train")
