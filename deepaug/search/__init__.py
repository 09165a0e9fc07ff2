"""The search: its config, the policy spaces, the controller (Bayesian optimization), the
experiment folder and notebook, the DeepAugment-style loop and the distribution study with its race.
"""
from __future__ import annotations


def __getattr__(name: str) -> object:
    # deepaug.search was one module before 0.1: its names now live in deepaug.search.loop
    from deepaug import _moved

    return _moved.attribute(__name__, name, "deepaug.search.loop")
