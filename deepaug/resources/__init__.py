"""Data that ships with deepaug (built-in policies, the quickstart config, Kubernetes templates).

This package holds data files only; `text()` and `read_user_file()` are their readers.
"""
from __future__ import annotations

import os
from importlib import resources

from deepaug.errors import InputError


def text(name: str) -> str:
    """The text of a file that ships with deepaug (a config, a manifest template)."""
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


def read_user_file(path: str | os.PathLike[str], what: str, hint: str, max_chars: int = -1) -> str:
    """The text of a user's file; InputError 'cannot read <what> <path> (<reason>); <hint>' if it cannot be read.
    With `max_chars`, at most that many characters and one more are read (the caller refuses the more)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(max_chars + 1 if max_chars >= 0 else -1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {str(path)!r} ({exc.strerror}); {hint}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read {what} {str(path)!r}: it is not UTF-8 text ({exc.reason}); {hint}") from None
