"""The image ops: one registry of pure, batched uint8 functions.

>>> from deepaug import ops
>>> "rotate" in ops.names()
True
>>> out = ops.get("rotate")(images, magnitude=0.5, rng=0)   # doctest: +SKIP
"""
from deepaug.ops import color, filters, geometric, noise, timm_forms  # noqa: F401  (register the ops)
from deepaug.ops.registry import OpSpec, check_magnitude, get, names, register, searched_names, table_markdown

__all__ = ["OpSpec", "check_magnitude", "get", "names", "register", "searched_names", "table_markdown"]
