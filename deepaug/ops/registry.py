"""The one op registry: name -> pure batched function plus its magnitude table.

Every op is a pure function `fn(images, params, rng) -> images` over a uint8 batch
shaped (n, H, W, C) with C in {1, 3}, a float64 vector `params` of one real parameter
per image (degrees, factors, fractions), and an explicit numpy Generator. It returns a
new uint8 batch of the same shape and never touches its input or global random state.

The registry alone maps a magnitude in [0, 1] to the real parameter:
`param = low + magnitude * (high - low)`, then a random sign per image for signed ops.
An op that uses its magnitude is the identity at magnitude 0, except the ops that reproduce one of
timm's level tables (`zero_is_identity=False`: timm's Posterize keeps 0 bits at level 0, its
Color is factor 0.1 there). Ops registered with `searched=False` (the timm forms, `shear-y`,
`solarize-add`) are left out of the search spaces' default op sets (`searched_names()`), so a
search's defaults stay what they were; a policy or a config may name them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from deepaug.errors import PolicyError
from deepaug.images import as_nhwc

# Batches are cut into chunks of about this many bytes of pixels (see OpSpec.run).
CHUNK_BYTES = 1 << 18

OpFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class OpSpec:
    """One registered op: its function and how a magnitude becomes its parameter."""

    name: str
    fn: OpFn
    parameter: str
    low: float = 0.0
    high: float = 0.0
    signed: bool = False
    uses_magnitude: bool = True
    description: str = ""
    searched: bool = True
    zero_is_identity: bool = True

    def params(self, magnitude: float | np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Real parameters for n images at `magnitude` (a scalar or one per image)."""
        m = np.broadcast_to(np.asarray(magnitude, dtype=np.float64), (n,))
        values = self.low + m * (self.high - self.low)
        if self.signed:
            values = values * np.where(rng.random(n) < 0.5, -1.0, 1.0)
        return np.ascontiguousarray(values, dtype=np.float64)

    def __call__(self, images: np.ndarray, magnitude: float | np.ndarray = 0.5,
                 rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Apply this op to every image of a uint8 batch (N, H, W) or (N, H, W, C)."""
        x, restore = as_nhwc(images)
        check_magnitude(magnitude, self.name)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return restore(self.run(x, magnitude, rng))

    def run(self, x: np.ndarray, magnitude: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply to an already validated (n, H, W, C) batch; no checks, for hot loops.

        Large batches go through the op in chunks that fit in cache, which is several
        times faster for the numpy ops than one pass over the whole batch.
        """
        n = x.shape[0]
        if n == 0:
            return x.copy()
        params = self.params(magnitude, n, rng)
        step = max(1, CHUNK_BYTES // max(1, x[0].nbytes))
        if n <= step:
            return self.fn(x, params, rng)
        out = np.empty_like(x)
        for start in range(0, n, step):
            out[start:start + step] = self.fn(x[start:start + step], params[start:start + step], rng)
        return out


_REGISTRY: dict[str, OpSpec] = {}


def register(name: str, parameter: str = "none", low: float = 0.0, high: float = 0.0,
             signed: bool = False, uses_magnitude: bool = True, searched: bool = True,
             zero_is_identity: bool = True) -> Callable[[OpFn], OpFn]:
    """Decorator that registers a pure batched op function under `name`."""

    def wrap(fn: OpFn) -> OpFn:
        if name in _REGISTRY:
            raise RuntimeError(f"op {name!r} is registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = OpSpec(name, fn, parameter, float(low), float(high), signed,
                                 uses_magnitude, doc[0] if doc else "", searched, zero_is_identity)
        return fn

    return wrap


def names() -> list[str]:
    """Names of all registered ops, in registration order."""
    return list(_REGISTRY)


def searched_names() -> list[str]:
    """Names of the ops a search space draws from by default (every op but `searched=False` ones)."""
    return [name for name, spec in _REGISTRY.items() if spec.searched]


def get(name: str) -> OpSpec:
    """The op registered as `name`; PolicyError naming close matches if there is none."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), _REGISTRY, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise PolicyError(
            f"unknown op {name!r}; {hint}valid ops are: {', '.join(_REGISTRY)}"
        ) from None


def check_magnitude(magnitude: float | np.ndarray, what: str) -> None:
    """Raise PolicyError unless every magnitude is a finite number in [0, 1]."""
    m = np.asarray(magnitude, dtype=np.float64)
    if not np.all(np.isfinite(m)) or np.any(m < 0) or np.any(m > 1):
        raise PolicyError(f"magnitude for {what} must be in [0, 1], got {magnitude!r}")


def table_markdown() -> str:
    """The magnitude table of every op, as the markdown in docs/ops.md."""
    rows = [
        "| op | parameter | magnitude 0 -> 1 | random sign | what it does |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in _REGISTRY.values():
        if spec.uses_magnitude:
            span = f"{spec.low:g} -> {spec.high:g}"
        else:
            span = "magnitude ignored"
        sign = "yes" if spec.signed else "no"
        rows.append(f"| `{spec.name}` | {spec.parameter} | {span} | {sign} | {spec.description} |")
    return "\n".join(rows) + "\n"
