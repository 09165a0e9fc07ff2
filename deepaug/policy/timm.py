"""timm's RandAugment strings ("rand-m9-n2-mstd0.5") read as, and written from, distribution policies.

timm's grammar (timm.data.auto_augment.rand_augment_transform): "rand", then dash-separated
parts in any order: `m<int>` magnitude on timm's 0..10 scale (default 10), `n<int>` ops per
image (default 2), `p<float>` probability that each drawn op is applied (default 0.5),
`mstd<float>` magnitude noise (0: none; above 100: uniform in [0, m]), `mmax<int>` the
magnitude's upper bound (default 10), `inc<0|1>` the increasing-severity op forms, `t<name>`
a named op set. deepaug reads them as a distribution policy:

- ops: timm's RandAugment ops that deepaug has (`TIMM_OPS`; timm's SolarizeAdd and ShearY have
  no deepaug op and are left out), uniform weights; with p < 1, `identity` takes weight 1 - p
  against p for the ops together, which is exactly "each drawn op applied with probability p";
- magnitude: m / 10 (deepaug's ranges equal timm's at level 10: rotate 30 degrees, shear 0.3,
  translate 0.45 of the side, enhance factors 1 +- 0.9);
- mstd0: spread 0; mstd above 100: spread 1 (uniform in [0, m] on deepaug's 31 levels, where timm
  draws continuously); Gaussian noise (0 < mstd <= 100): spread 0 and `magnitude_std` mstd / 10
  (timm's AugmentOp draws gauss(m, mstd) per op applied and clips it to [0, 10]; deepaug draws
  normal(m / 10, mstd / 10) per image and op and clips it to [0, 1]: the same on deepaug's scale).
  mmax other than 10, m above 10 and `t<name>` op sets are refused with a PolicyError: deepaug
  cannot express them;
- deepaug's ops are timm's increasing forms (inc1: severity grows with magnitude). A string
  without inc1 uses timm's other forms (Posterize/Solarize weaker as m grows, Color/Contrast/
  Brightness/Sharpness at a fixed factor); it is read as inc1, with a logged warning.

TrivialAugment has no timm string; its nearest is "rand-m10-n1-mstd101-p1-inc1" (one op,
magnitude uniform in [0, 10]), which differs in the op set (identity, no invert).
`to_timm(distribution)` writes "rand-m<M>-n<N>[-mstd<S>|-mstd101][-p<P>]-inc1" for a distribution of
that form and raises a PolicyError naming what does not fit otherwise.

>>> d = from_timm("rand-m9-n2-mstd0-inc1")
>>> d.n, d.magnitude, d.spread
(2, 0.9, 0.0)
>>> to_timm(d)
'rand-m9-n2-inc1'
"""
from __future__ import annotations

import logging
import math
import re
from typing import Sequence

from deepaug.errors import PolicyError
from deepaug.policy.distribution import LEVELS, Distribution, WeightedOp
from deepaug.policy.limits import MAX_TIMM_CHARS, shown

logger = logging.getLogger(__name__)

# timm's RandAugment op -> deepaug op (timm's SolarizeAdd and ShearY have none).
TIMM_NAMES = {"AutoContrast": "auto-contrast", "Equalize": "equalize", "Invert": "invert", "Rotate": "rotate",
              "Posterize": "posterize", "Solarize": "solarize", "Color": "color", "Contrast": "contrast",
              "Brightness": "brightness", "Sharpness": "sharpness", "ShearX": "shear",
              "TranslateXRel": "translate-x", "TranslateYRel": "translate-y"}
TIMM_OPS = tuple(TIMM_NAMES.values())
LEVEL_DENOM = 10  # timm's magnitude scale: level 10 is the op's full range
DEFAULT_M, DEFAULT_N, DEFAULT_P = 10, 2, 0.5
UNIFORM_MSTD = 101  # timm: mstd above 100 means uniform in [0, m]
GRAMMAR = "rand-m<0..10>-n<ops per image>[-p<prob>][-mstd<0..100>|-mstd101][-inc1]"
_PART = re.compile(r"^([a-z]+)(\d.*)$")


def is_timm(text: object) -> bool:
    """True for text that is a timm RandAugment string ("rand" or "rand-...")."""
    return isinstance(text, str) and (text == "rand" or text.startswith("rand-"))


def from_timm(text: str) -> Distribution:
    """The distribution policy that a timm RandAugment string describes (see the module docstring)."""
    if is_timm(text) and len(text) > MAX_TIMM_CHARS:
        raise PolicyError(f"timm string {shown(text)} is over the limit of {MAX_TIMM_CHARS} characters; a timm "
                          f"RandAugment string is {GRAMMAR}, e.g. rand-m9-n2")
    if not is_timm(text):
        raise PolicyError(f"{shown(text)} is not a timm RandAugment string; write it as {GRAMMAR}, e.g. rand-m9-n2")
    m, n, p, (spread, noise), increasing = DEFAULT_M, DEFAULT_N, DEFAULT_P, (0.0, 0.0), False
    for part in text.split("-")[1:]:
        match = _PART.match(part)
        if part.startswith("t"):
            raise PolicyError(f"timm string {text!r}: the op set {part[1:]!r} (part {part!r}) is not supported; "
                              f"deepaug reads timm's default RandAugment ops only (leave the t part out)")
        if not match:
            raise PolicyError(f"timm string {text!r}: cannot read part {part!r}; parts are m<int>, n<int>, "
                              f"p<float>, mstd<float>, mmax<int>, inc<0|1> ({GRAMMAR})")
        key, value = match.groups()
        try:
            if key == "m":
                m = int(value)
            elif key == "n":
                n = int(value)
            elif key == "p":
                p = float(value)
            elif key == "inc":
                increasing = bool(int(value))
            elif key == "mstd":
                spread, noise = _spread(float(value), text)
            elif key == "mmax":
                if int(value) != LEVEL_DENOM:
                    raise PolicyError(f"timm string {text!r}: mmax{value} is not supported; deepaug's magnitudes "
                                      f"stop at timm's level {LEVEL_DENOM} (leave mmax out)")
            else:
                raise PolicyError(f"timm string {text!r}: unknown part {part!r}; parts are m<int>, n<int>, "
                                  f"p<float>, mstd<float>, mmax<int>, inc<0|1> ({GRAMMAR})")
        except PolicyError:
            raise
        except ValueError:  # int("x"), float("")
            raise PolicyError(f"timm string {text!r}: part {part!r} needs a number after {key!r}") from None
    if not 0 <= m <= LEVEL_DENOM:
        raise PolicyError(f"timm string {text!r}: m{m} is outside 0..{LEVEL_DENOM}, the magnitudes deepaug's ops "
                          f"reach (timm clips to {LEVEL_DENOM} as well unless mmax is set)")
    if not (0.0 <= p <= 1.0 and math.isfinite(p)):
        raise PolicyError(f"timm string {text!r}: p{p:g} must be a probability in [0, 1]")
    if not increasing:
        logger.warning("timm string %r: without inc1, timm's Posterize/Solarize weaken as m grows and Color/"
                       "Contrast/Brightness/Sharpness use a fixed factor; deepaug's ops are the increasing forms "
                       "(inc1), so it is read as %r", text, text + "-inc1")
    return Distribution(applied_with_probability(TIMM_OPS, p), n=n, magnitude=m / LEVEL_DENOM, spread=spread, levels=LEVELS,
                        magnitude_std=noise)


def applied_with_probability(names: Sequence[str], p: float) -> tuple[WeightedOp, ...]:
    """Uniform weights over `names` that together weigh `p`, and `identity` weighing 1 - p: timm's
    "each drawn op applied with probability p" as a distribution's op weights."""
    names = [name for name in names if name != "identity"]
    ops = [WeightedOp(name, p / len(names)) for name in names] if p > 0 and names else []
    if p < 1 or not ops:
        ops.insert(0, WeightedOp("identity", 1.0 - p if ops else 1.0))
    return tuple(ops)


def _spread(mstd: float, text: str) -> tuple[float, float]:
    """(spread, magnitude_std) of timm's mstd: 0 fixed, above 100 uniform in [0, m], else Gaussian."""
    if mstd > 100:
        return 1.0, 0.0
    if not mstd >= 0:  # negative or nan
        raise PolicyError(f"timm string {text!r}: mstd{mstd:g} must be 0 (fixed), up to 100 (Gaussian noise on "
                          f"timm's 0..10 scale) or {UNIFORM_MSTD} (uniform in [0, m])")
    return 0.0, mstd / LEVEL_DENOM


def to_timm(d: Distribution) -> str:
    """The timm RandAugment string of distribution `d`; PolicyError naming what timm cannot express."""
    problems = []
    drawn = {op.name: op for op in d.ops}
    others = sorted(set(drawn) - set(TIMM_OPS) - {"identity"})
    if others or (d.n and set(TIMM_OPS) - set(drawn)):
        problems.append(f"its ops must be timm's RandAugment ops {list(TIMM_OPS)} (plus identity for p < 1), "
                        f"got {list(drawn)}")
    weights = {drawn[name].weight for name in TIMM_OPS if name in drawn}
    if len(weights) > 1:
        problems.append("timm draws its ops with equal weights")
    if any(op.scale != 1.0 for op in d.ops):
        problems.append("timm has no per-op magnitude scale")
    level = d.magnitude * LEVEL_DENOM
    if abs(level - round(level)) > 1e-9:
        problems.append(f"timm's magnitude is an integer level 0..10; magnitude {d.magnitude:g} is level {level:g}")
    if d.spread not in (0.0, 1.0):
        problems.append(f"timm draws a fixed magnitude or one uniform in [0, m]: spread 0 or 1, got {d.spread:g}")
    if d.spread and d.magnitude_std:
        problems.append("timm draws the magnitude uniformly or with Gaussian noise, not both (spread 1 and "
                        f"magnitude_std {d.magnitude_std:g})")
    if d.flip or d.crop or d.erasing or d.mixes_labels:
        problems.append("timm's RandAugment string has no flip, crop, erasing, CutMix or MixUp (timm sets those "
                        "elsewhere: --reprob, --cutmix, --mixup)")
    if problems:
        raise PolicyError("this distribution has no timm RandAugment string: " + "; ".join(problems)
                          + ". In PyTorch, deepaug.PolicyTransform applies any deepaug policy instead")
    total = sum(op.weight for op in d.ops)
    p = sum(op.weight for op in d.ops if op.name != "identity") / total if total else 0.0
    parts = [f"rand-m{round(level)}", f"n{d.n}"]
    if d.spread:
        parts.append(f"mstd{UNIFORM_MSTD}")
    elif d.magnitude_std:
        parts.append(f"mstd{round(d.magnitude_std * LEVEL_DENOM, 6):g}")
    if abs(p - DEFAULT_P) > 1e-9:
        parts.append(f"p{round(p, 6):g}")
    return "-".join(parts + ["inc1"])
