"""timm's augmentation strings ("rand-m9-mstd0.5-inc1", "original-mstd0") read as deepaug policies,
and RandAugment strings written from distribution policies.

The grammar and its meaning are timm's (huggingface/pytorch-image-models, timm/data/auto_augment.py:
`rand_augment_transform`, `auto_augment_transform`, `AugmentOp`); `deepaug.policy.timm_tables` has
timm's op sets and policies in deepaug's ops, `deepaug.ops.timm_forms` timm's level tables.

RandAugment, "rand" then dash-separated parts in any order: `m<int>` level on timm's 0..10 scale
(default 10), `n<int>` ops per image (2), `p<float>` probability that each drawn op is applied
(0.5), `mstd<float>` magnitude noise (0: none; up to 100: Gaussian of that standard deviation
(100 included); above 100, e.g. 101: uniform in [0, m]), `mmax<int>` the upper clip of the level
(default 10; 0 also means 10, as in timm), `inc<digit>` the increasing op forms (timm reads any
inc part as on, inc0 included), `t<name>` an op set (3a, 3aw, weights; another name: the default
set, as in timm), `w0` the weights of timm <= 0.6. A part without a digit is ignored, as timm does
(logged). It becomes a distribution policy:

- ops: timm's set mapped op by op (`TIMM_NAMES`); with p < 1, `identity` weighs 1 - p against p
  for the ops together: "each drawn op applied with probability p";
- magnitude: level / 10; Gaussian noise is `magnitude_std` mstd / 10 (timm draws gauss(m, mstd) per
  op applied and clips it to [0, 10]: the same on deepaug's 0..1 scale); uniform is spread 1 on
  1,000,000 levels (timm draws continuously);
- refused, naming why: a level clip that deepaug cannot express (m or mmax taking the level past
  10 with noise, mmax below m with noise), p outside [0, 1], n above 10, numbers that do not parse.
- approximate, with a logged warning: a weighted op set (tweights, t3aw, w0), which timm draws
  without replacement within an image and deepaug with replacement.

AutoAugment: "original", "originalr", "v0", "v0r" or "3a", optionally "-mstd0": timm's sub-policy
policy with each op at level / 10 (one sub-policy per image, each op with its probability, as
timm). deepaug's sub-policies have fixed magnitudes, so mstd above 0 is refused. AugMix ("augmix-...")
mixes several chains per image, which deepaug's policies cannot express: refused.

timm has no TrivialAugment string; its nearest is "rand-m10-n1-mstd101-p1-inc1" (one op, level
uniform in [0, 10]), which differs from TrivialAugment in its op set.

Geometric ops differ from timm in pixels: timm shears and translates about the top-left corner
with PIL (bilinear or bicubic, fill: the dataset mean), deepaug about the centre (bilinear, black).

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
from deepaug.policy.distribution import LEVELS, MAX_N, Distribution, WeightedOp
from deepaug.policy.limits import MAX_TIMM_CHARS, shown
from deepaug.policy.timm_tables import (AUTOAUGMENT, OP_SETS, RAND_INCREASING_OPS, RAND_OPS, TIMM_NAMES, W0_WEIGHTS,
                                        autoaugment_sub_policies)

logger = logging.getLogger(__name__)

TIMM_OPS = tuple(TIMM_NAMES[name] for name in RAND_INCREASING_OPS)  # inc1's ops, in timm's order
TIMM_OPS_DEFAULT = tuple(TIMM_NAMES[name] for name in RAND_OPS)  # without inc1
LEVEL_DENOM = 10  # timm's _LEVEL_DENOM: level 10 is the op's full range
DEFAULT_M, DEFAULT_N, DEFAULT_P = 10, 2, 0.5
UNIFORM_MSTD = 101  # timm: mstd above 100 means uniform in [0, m]
UNIFORM_LEVELS = 1_000_000  # timm's uniform level is continuous
GRAMMAR = ("rand[-m<0..10>][-n<ops>][-p<prob>][-mstd<std>|-mstd101][-mmax<int>][-inc1][-t<3a|3aw|weights>|-w0], "
           f"or an AutoAugment policy {'|'.join(AUTOAUGMENT)}[-mstd0]")
_PARTS = "m<int>, n<int>, p<float>, mstd<float>, mmax<int>, inc<0|1>, t<name>, w0"


def is_timm(text: object) -> bool:
    """True for text that names a timm augmentation: "rand[-...]", "augmix[-...]" or an AutoAugment policy."""
    if not isinstance(text, str):
        return False
    head = text.split("-", 1)[0]
    return head in ("rand", "augmix") or head in AUTOAUGMENT


def read_timm(text: str) -> Distribution | list[list[tuple[str, float, float]]]:
    """A RandAugment string's distribution, or an AutoAugment string's sub-policies (op, probability,
    magnitude); PolicyError naming the part deepaug cannot express."""
    if is_timm(text) and len(text) > MAX_TIMM_CHARS:
        raise PolicyError(f"timm string {shown(text)} is over the limit of {MAX_TIMM_CHARS} characters; a timm "
                          f"string is {GRAMMAR}, e.g. rand-m9-mstd0.5-inc1")
    if not is_timm(text):
        raise PolicyError(f"{shown(text)} is not a timm augmentation string; write it as {GRAMMAR}, e.g. "
                          "rand-m9-mstd0.5-inc1")
    head, *parts = text.split("-")
    if head == "augmix":
        raise PolicyError(f"timm string {text!r}: AugMix blends several augmented chains of each image, which a "
                          "deepaug policy cannot express; use a RandAugment string (rand-...) or, in PyTorch, "
                          "timm's own augment_and_mix_transform")
    if head != "rand":
        return _autoaugment(text, head, parts)
    return from_timm(text)


def _autoaugment(text: str, name: str, parts: Sequence[str]) -> list[list[tuple[str, float, float]]]:
    for key, value in _split(text, parts):
        if key != "mstd":
            raise PolicyError(f"timm string {text!r}: an AutoAugment string takes only mstd<float> (timm refuses "
                              f"{key + value!r} too)")
        if _float(value, key, text) > 0:
            raise PolicyError(f"timm string {text!r}: deepaug's sub-policies have fixed magnitudes, so "
                              f"AutoAugment's magnitude noise mstd{value} cannot be expressed; write {name} "
                              f"(or {name}-mstd0), or use RandAugment's mstd (rand-...-mstd0.5)")
    return autoaugment_sub_policies(name)


def _split(text: str, parts: Sequence[str]) -> list[tuple[str, str]]:
    """(key, value) of each part as timm splits it (before and from the first digit); parts without a
    digit are skipped, as timm skips them (logged)."""
    pairs = []
    for part in parts:
        if part.startswith("t") and text.startswith("rand"):
            pairs.append(("t", part[1:]))
            continue
        pieces = re.split(r"(\d.*)", part)
        if len(pieces) < 2:
            if part:
                logger.warning("timm string %r: part %r has no number; timm ignores it, and so does deepaug",
                               text, part)
            continue
        pairs.append((pieces[0], pieces[1]))
    return pairs


def _float(value: str, key: str, text: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise PolicyError(f"timm string {text!r}: part {key + value!r} needs a number after {key!r}") from None
    if not math.isfinite(number):
        raise PolicyError(f"timm string {text!r}: part {key + value!r} must be a finite number")
    return number


def _int(value: str, key: str, text: str) -> int:
    if not value.isdigit():
        raise PolicyError(f"timm string {text!r}: part {key + value!r} needs an integer after {key!r} (timm "
                          "reads it with int())")
    return int(value)


def _settings(text: str) -> dict:
    """The parts of a RandAugment string, with timm's defaults."""
    got: dict = {"m": DEFAULT_M, "n": DEFAULT_N, "p": DEFAULT_P, "mstd": 0.0, "mmax": None, "inc": False,
                 "t": None, "w": None}
    for key, value in _split(text, text.split("-")[1:]):
        if key == "t":
            got["t"] = got["t"] if got["t"] is not None else value  # timm keeps the first
        elif key in ("m", "n", "mmax", "w"):
            got[key] = _int(value, key, text)
        elif key in ("p", "mstd"):
            got[key] = _float(value, key, text)
        elif key == "inc":
            if value != "1":
                logger.warning("timm string %r: timm reads inc%s as inc1 (it tests the text, not the number); "
                               "deepaug does the same", text, value)
            got["inc"] = True
        else:
            raise PolicyError(f"timm string {text!r}: unknown part {key + value!r}; parts are {_PARTS} ({GRAMMAR})")
    return got


def from_timm(text: str) -> Distribution:
    """The distribution policy that a timm RandAugment string describes (see the module docstring)."""
    if not (isinstance(text, str) and (text == "rand" or text.startswith("rand-"))):
        if is_timm(text):
            raise PolicyError(f"timm string {shown(text)} is not a RandAugment string (rand-...): read it with "
                              "Policy.from_timm or Policy.load")
        return read_timm(text)  # type: ignore[return-value]  # raises, naming the grammar
    if len(text) > MAX_TIMM_CHARS:
        return read_timm(text)  # type: ignore[return-value]  # raises, naming the limit
    got = _settings(text)
    if not 0 <= got["n"] <= MAX_N:
        raise PolicyError(f"timm string {text!r}: n{got['n']} ops per image is more than deepaug's {MAX_N}")
    if not 0.0 <= got["p"] <= 1.0:
        raise PolicyError(f"timm string {text!r}: p{got['p']:g} must be a probability in [0, 1]")
    magnitude, spread, noise = _magnitude(text, got["m"], got["mstd"], got["mmax"])
    weights = _op_weights(text, got["t"], got["w"], got["inc"])
    return Distribution(applied_with_probability(weights, got["p"]), n=got["n"], magnitude=magnitude,
                        spread=spread, levels=UNIFORM_LEVELS if spread else LEVELS, magnitude_std=noise)


def _magnitude(text: str, m: int, mstd: float, mmax: int | None) -> tuple[float, float, float]:
    """(magnitude, spread, magnitude_std) of timm's level m, noise mstd and clip [0, mmax or 10]."""
    upper = mmax or LEVEL_DENOM  # timm: `self.magnitude_max or _LEVEL_DENOM`, so mmax0 is 10 too
    beyond = (f"deepaug's ops stop at timm's level {LEVEL_DENOM} (rotate 30 degrees, shear 0.3, ...), so levels "
              f"past it cannot be expressed; use m<=10 without mmax")
    if mstd <= 0:  # a fixed level, clipped to [0, upper] as timm clips it
        level = min(m, upper)
        if level > LEVEL_DENOM:
            raise PolicyError(f"timm string {text!r}: level {level} (m{m}, clipped to {upper}): {beyond}")
        return level / LEVEL_DENOM, 0.0, 0.0
    if mstd > 100:  # uniform in [0, m], clipped to upper
        if m > min(upper, LEVEL_DENOM):
            raise PolicyError(f"timm string {text!r}: a level uniform in [0, {m}] clipped to {upper}: {beyond}, and "
                              "a clipped uniform draw is not one of deepaug's magnitude ranges")
        return m / LEVEL_DENOM, 1.0, 0.0
    if m > LEVEL_DENOM or upper != LEVEL_DENOM:
        raise PolicyError(f"timm string {text!r}: Gaussian level noise around m{m} clipped to [0, {upper}]: "
                          f"deepaug clips its noise to timm's [0, {LEVEL_DENOM}]; {beyond}")
    return m / LEVEL_DENOM, 0.0, mstd / LEVEL_DENOM


def _op_weights(text: str, op_set: str | None, w: int | None, increasing: bool) -> dict[str, float]:
    """deepaug op -> weight for timm's op set (uniform: all 1)."""
    if op_set is not None and w is not None:
        raise PolicyError(f"timm string {text!r}: t{op_set} and w{w} both choose the op set; timm <= 0.6 took w, "
                          "timm >= 0.8 takes t: keep one")
    names: Sequence[str] | dict = RAND_INCREASING_OPS if increasing else RAND_OPS
    if w is not None:
        if w != 0:
            raise PolicyError(f"timm string {text!r}: w{w}: timm had one weight set, w0")
        names = {name: weight for name, weight in zip(names, W0_WEIGHTS) if weight}
    elif op_set is not None and op_set in OP_SETS:
        names = OP_SETS[op_set]
    elif op_set is not None:
        logger.warning("timm string %r: timm has no op set %r (it has %s) and uses its default set instead; so "
                       "does deepaug", text, op_set, ", ".join(OP_SETS))
    if isinstance(names, dict):
        logger.warning("timm string %r: timm draws a weighted op set without replacement (no op twice in one "
                       "image); deepaug draws each of the n ops independently, so an op can come twice", text)
        return {TIMM_NAMES[name]: float(weight) for name, weight in names.items()}
    return {TIMM_NAMES[name]: 1.0 for name in names}


def applied_with_probability(names: Sequence[str] | dict[str, float], p: float) -> tuple[WeightedOp, ...]:
    """Weights over `names` (uniform for a sequence, else the dict's, scaled) that together weigh `p`, and
    `identity` weighing 1 - p: timm's "each drawn op applied with probability p" as op weights."""
    weights = dict(names) if isinstance(names, dict) else {name: 1.0 for name in names}
    weights.pop("identity", None)
    total = sum(weights.values())
    ops = [WeightedOp(name, p * weight / total) for name, weight in weights.items()] if p > 0 and weights else []
    if p < 1 or not ops:
        ops.insert(0, WeightedOp("identity", 1.0 - p if ops else 1.0))
    return tuple(ops)


def to_timm(d: Distribution) -> str:
    """The timm RandAugment string of distribution `d`; PolicyError naming what timm cannot express."""
    problems = []
    drawn = {op.name: op for op in d.ops}
    ops = set(drawn) - {"identity"}
    increasing = ops == set(TIMM_OPS)
    if d.n and not increasing and ops != set(TIMM_OPS_DEFAULT):
        problems.append(f"its ops must be timm's RandAugment ops, {list(TIMM_OPS)} (inc1) or {list(TIMM_OPS_DEFAULT)} "
                        f"(plus identity for p < 1), got {list(drawn)} (a policy read from a timm string before "
                        "deepaug had shear-y, solarize-add and timm's posterize: read the string again)")
    if len({drawn[name].weight for name in ops}) > 1:
        problems.append("timm's default sets draw their ops with equal weights")
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
    return "-".join(parts + (["inc1"] if increasing else []))
