"""The controller: proposes policies and learns from their rewards.

`ask(n)` returns n distinct policies not proposed before; `tell(policies, rewards)` feeds
rewards back (the optimizer minimizes 1 - reward). "bayesian_optimization" is
scikit-optimize's Optimizer with a random-forest surrogate and Expected Improvement after
`initial_points` random proposals; "random" samples the space uniformly. Nothing here
does I/O or knows how a trial runs; resuming is replaying every finished trial to `tell`.

Where the space offers `neighbours` (the distribution space), the Bayesian proposals are
a model-based local search, as in SMAC: Expected Improvement picks among local moves
around the 5 best points told so far, and 1 proposal in RANDOM_EVERY is a uniform
sample. With a few dozen trials in 12 dimensions, EI over uniform samples alone lands in
the corners, where the forest is most uncertain and augmentation is strongest. `xi` is EI's
exploration margin on the 1 - reward scale (skopt's default 0.01 is a whole accuracy
point, more than the differences a distribution search chases).

>>> c = Controller(SearchSpace(), method="random", seed=1)
>>> p = c.ask(2)            # doctest: +SKIP
>>> c.tell(p, [0.61, 0.58])  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import math
import secrets
from typing import Sequence

import numpy as np

from deepaug.errors import InputError
from deepaug.policy.core import Policy
from deepaug.search.space import Point, SearchSpace

log = logging.getLogger(__name__)

METHODS = ("bayesian_optimization", "random")
RANDOM_EVERY = 4  # in a local search, 1 proposal in 4 is a uniform sample


class Controller:
    """Bayesian (RF + EI) or random proposals of policies over a SearchSpace."""

    def __init__(self, space: SearchSpace, method: str = "bayesian_optimization", initial_points: int = 10,
                 seed: int | None = None, acquisition_candidates: int = 2000, xi: float = 0.01) -> None:
        if method not in METHODS:
            raise InputError(f"method must be one of {list(METHODS)}, got {method!r}")
        if isinstance(initial_points, bool) or not isinstance(initial_points, int) or initial_points < 1:
            raise InputError(f"opt_initial_points must be a positive integer, got {initial_points!r}")
        self.space = space
        self.method = method
        # A run without a seed still records the one it drew, so it can be reproduced.
        self.seed = int(seed) if seed is not None else secrets.randbits(31)
        self._rng = np.random.default_rng(self.seed)
        self._pending: dict[Policy, Point] = {}
        self._told: dict[Policy, float] = {}
        self._failed: set[Policy] = set()
        self._optimizer = None
        self._xi = float(xi)
        self._candidates = int(acquisition_candidates)
        self._local_asks = 0
        if method == "bayesian_optimization":
            from skopt import Optimizer  # heavy (scikit-learn); the search extra

            self._optimizer = Optimizer(
                space.skopt_dimensions(), base_estimator="RF", acq_func="EI",
                n_initial_points=initial_points, acq_optimizer="sampling", acq_func_kwargs={"xi": float(xi)},
                acq_optimizer_kwargs={"n_points": acquisition_candidates},
                random_state=self.seed,
                model_queue_size=1,  # skopt keeps every fitted forest otherwise (117 MiB at 300 trials)
            )

    @property
    def n_told(self) -> int:
        return len(self._told)

    def ask(self, n: int = 1) -> list[Policy]:
        """n distinct policies, none proposed or told before."""
        if n < 1:
            raise InputError(f"ask needs n >= 1, got {n}")
        if self._optimizer is None:
            points = self.space.sample(n, self._rng)
        elif hasattr(self.space, "neighbours") and self._optimizer.models:
            points = self._local_ask(n)
        elif n == 1:
            points = [self._optimizer.ask()]
        else:
            points = self._optimizer.ask(n_points=n, strategy="cl_min")
        out: list[Policy] = []
        for point in points:
            policy = self.space.to_policy(point)
            while policy in self._pending or policy in self._told or policy in self._failed or policy in out:
                # skopt can repeat a point it has seen; a random one is more useful.
                point = self.space.sample(1, self._rng)[0]
                policy = self.space.to_policy(point)
            self._pending[policy] = self.space.to_point(policy)
            out.append(policy)
        return out

    def _local_ask(self, n: int) -> list[Point]:
        """Model-based local search: the candidates of highest Expected Improvement among local
        moves around the 5 best points told; every RANDOM_EVERY-th proposal is a uniform sample
        instead, so the search still explores. Nothing proposed or told before comes back."""
        from skopt.acquisition import gaussian_ei  # heavy (scikit-learn); the search extra

        best = sorted(self._told, key=self._told.__getitem__, reverse=True)[:5]
        seen = set(self._pending) | set(self._told) | self._failed
        unique: dict[Policy, Point] = {}
        for policy in best:
            for point in self.space.neighbours(self.space.to_point(policy), self._candidates // 5, self._rng):
                moved = self.space.to_policy(point)
                if moved not in seen:
                    unique.setdefault(moved, self.space.to_point(moved))
        points = list(unique.values())
        order: list[int] = []
        if points:
            ei = gaussian_ei(self._optimizer.space.transform(points), self._optimizer.models[-1],
                             float(np.min(self._optimizer.yi)), xi=self._xi)
            order = list(np.argsort(-ei, kind="stable"))
        out: list[Point] = []
        for _ in range(n):
            self._local_asks += 1
            if self._local_asks % RANDOM_EVERY == 0 or not order:
                out.append(self.space.sample(1, self._rng)[0])
            else:
                out.append(points[order.pop(0)])
        return out

    def tell(self, policies: Sequence[Policy], rewards: Sequence[float]) -> None:
        """Feed finished trials back; all in one optimizer update (this is also resume)."""
        if len(policies) != len(rewards):
            raise InputError(f"tell got {len(policies)} policies and {len(rewards)} rewards")
        points, ys = [], []
        for policy, reward in zip(policies, rewards):
            reward = float(reward)
            if not math.isfinite(reward) or not 0.0 <= reward <= 1.0:
                raise InputError(f"a reward must be a finite number in [0, 1], got {reward!r} for\n{policy}")
            point = self._pending.pop(policy, None) or self.space.to_point(policy)
            if policy in self._told:
                log.debug("policy told twice; keeping the first reward")
                continue
            self._told[policy] = reward
            points.append(point)
            ys.append(1.0 - reward)
        if self._optimizer is not None and points:
            self._optimizer.tell(points, ys)

    def reserve(self, policies: Sequence[Policy]) -> None:
        """Mark policies as proposed (trials resumed from records), so ask() never repeats them."""
        for policy in policies:
            if policy not in self._told:
                self._pending.setdefault(policy, self.space.to_point(policy))

    def forget(self, policies: Sequence[Policy]) -> None:
        """Drop proposals that will never get a reward (failed trials); they are never proposed again
        (skopt would re-propose the same point until its next tell)."""
        for policy in policies:
            self._pending.pop(policy, None)
            self._failed.add(policy)

    def baseline(self) -> Policy | None:
        """The space's no-augmentation policy, to run first and tell; None if it has none."""
        point = self.space.baseline_point()
        return None if point is None else self.space.to_policy(point)

    def best(self) -> tuple[Policy, float] | None:
        """The told policy with the highest reward."""
        if not self._told:
            return None
        policy = max(self._told, key=self._told.__getitem__)
        return policy, self._told[policy]
