"""Controller: distinct proposals, seeding, tell/replay, and that BO learns."""
import numpy as np
import pytest

from deepaug.search.controller import Controller
from deepaug.errors import InputError
from deepaug.search.space import SearchSpace

SMALL = SearchSpace(n_sub_policies=1, ops_per_sub_policy=2, ops=("rotate", "invert", "cutout", "crop", "fog"))


def synthetic_reward(policy) -> float:
    """Peaks when both operations are cutout at magnitude 0.7 and probability 0.8."""
    score = 0.0
    for op in policy.sub_policies[0]:
        score += (op.name == "cutout") * (1 - abs(op.magnitude - 0.7)) * (1 - abs(op.probability - 0.8))
    return score / 2


@pytest.mark.parametrize("method", ["random", "bayesian_optimization"])
def test_ask_returns_distinct_new_policies(method):
    c = Controller(SMALL, method=method, initial_points=3, seed=0, acquisition_candidates=200)
    seen = set()
    for _ in range(4):
        batch = c.ask(3)
        assert len(batch) == 3 and len(set(batch)) == 3 and not seen & set(batch)
        seen |= set(batch)
        c.tell(batch, [synthetic_reward(p) for p in batch])
    assert c.n_told == 12


@pytest.mark.parametrize("method", ["random", "bayesian_optimization"])
def test_same_seed_same_run_other_seed_other_run(method):
    def run(seed):
        c = Controller(SMALL, method=method, initial_points=2, seed=seed, acquisition_candidates=200)
        out = []
        for _ in range(4):
            (p,) = c.ask()
            c.tell([p], [synthetic_reward(p)])
            out.append(p)
        return out
    assert run(1) == run(1)
    assert run(1) != run(2)


def test_without_a_seed_runs_differ_and_record_their_seed():
    a, b = Controller(SMALL, method="random"), Controller(SMALL, method="random")
    assert a.seed != b.seed and a.ask(2) != b.ask(2)


def test_bayesian_optimization_beats_random_search_on_a_smooth_objective():
    def best_after(method, seed, budget=24):
        c = Controller(SMALL, method=method, initial_points=8, seed=seed, acquisition_candidates=500)
        for _ in range(budget):
            (p,) = c.ask()
            c.tell([p], [synthetic_reward(p)])
        return c.best()[1]
    bo = np.mean([best_after("bayesian_optimization", s) for s in range(3)])
    rnd = np.mean([best_after("random", s) for s in range(3)])
    assert bo > rnd


def test_replayed_history_counts_and_best():
    c = Controller(SMALL, method="bayesian_optimization", initial_points=2, seed=0, acquisition_candidates=200)
    history = [SMALL.to_policy(p) for p in SMALL.sample(6, seed=3)]
    rewards = [synthetic_reward(p) for p in history]
    c.tell(history, rewards)  # resume: one batch, no pickles
    assert c.n_told == 6 and c.best() == (history[int(np.argmax(rewards))], max(rewards))
    assert not set(c.ask(2)) & set(history)


def test_baseline_is_told_like_any_trial():
    c = Controller(SMALL, method="bayesian_optimization", initial_points=2, seed=0)
    base = c.baseline()
    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(base.apply(x, seed=0), x)
    c.tell([base], [0.5])
    assert c.best() == (base, 0.5)


@pytest.mark.parametrize("reward", [float("nan"), -0.1, 1.2, float("inf")])
def test_bad_rewards_never_reach_the_optimizer(reward):
    c = Controller(SMALL, method="bayesian_optimization", initial_points=2, seed=0)
    (p,) = c.ask()
    with pytest.raises(InputError, match="reward"):
        c.tell([p], [reward])
    assert c.n_told == 0


def test_bad_arguments():
    with pytest.raises(InputError, match="method"):
        Controller(SMALL, method="grid")
    with pytest.raises(InputError, match="opt_initial_points"):
        Controller(SMALL, initial_points=0)
    c = Controller(SMALL, method="random", seed=0)
    with pytest.raises(InputError, match="2 policies and 1 rewards"):
        c.tell(c.ask(2), [0.5])


def test_a_failed_policy_is_never_proposed_again():
    controller = Controller(SearchSpace(), initial_points=1, seed=0)
    first = controller.ask(1)
    controller.tell(first, [0.5])
    failed = controller.ask(1)
    controller.forget(failed)
    assert all(controller.ask(1)[0] != failed[0] for _ in range(3))


def test_distribution_proposals_are_local_moves_of_the_best_points_with_one_in_four_uniform():
    from deepaug.search.controller import RANDOM_EVERY
    from deepaug.search.distribution_space import DistributionSpace

    space = DistributionSpace(channels=1)
    controller = Controller(space, initial_points=4, seed=0, xi=0.001)
    told = [space.trivialaugment(), space.randaugment(), *space.starting_policies()]
    controller.tell(told, [0.80 + 0.01 * k for k in range(len(told))])
    best = sorted(told, key=lambda p: -told.index(p))[:5]
    near = 0
    for k in range(1, 2 * RANDOM_EVERY + 1):
        policy = controller.ask(1)[0]
        assert policy not in told
        point = space.to_point(policy)
        distance = min(sum(a != b for a, b in zip(point, space.to_point(b))) for b in best)
        near += distance <= 2
        controller.tell([policy], [0.5])
    assert near >= 2 * (RANDOM_EVERY - 1)  # every proposal but the uniform ones moves one or two dimensions
