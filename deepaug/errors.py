"""Exceptions deepaug raises for problems in what the user gave it.

`InputError` marks a user error (bad image batch, bad policy file, bad config): it is
never worth retrying, and its message names the input, what was wrong and what to do.
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: a clear message, no retry."""


class PolicyError(InputError):
    """A policy, sub-policy or operation that is malformed or cannot load."""


class ImageError(InputError):
    """An image batch of the wrong dtype, rank, shape or channel count."""


class SearchError(RuntimeError):
    """A search that cannot go on (e.g. trials keep failing); its records stay resumable."""
