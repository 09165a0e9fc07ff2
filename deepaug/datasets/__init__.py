"""Datasets: named datasets (Fashion-MNIST, MNIST, CIFAR-10, digits), folders and arrays, checked
and split into training and validation data.
"""
from __future__ import annotations


def __getattr__(name: str) -> object:
    # deepaug.datasets was one module before 0.1: its names now live in deepaug.datasets.core
    from deepaug import _moved

    return _moved.attribute(__name__, name, "deepaug.datasets.core")
