"""SearchSpace: encoding policies as optimizer points and back."""
import numpy as np
import pytest

from deepaug import ops
from deepaug.errors import InputError, PolicyError
from deepaug.search.space import SearchSpace


@pytest.mark.parametrize("search_probabilities", [True, False])
def test_points_and_policies_round_trip(search_probabilities):
    space = SearchSpace(n_sub_policies=3, ops_per_sub_policy=2, search_probabilities=search_probabilities,
                        fixed_probability=0.4)
    for point in space.sample(20, seed=0):
        policy = space.to_policy(point)
        assert len(policy) == 3 and all(len(s) == 2 for s in policy)
        assert space.to_point(policy) == point
        if not search_probabilities:
            assert {op.probability for s in policy for op in s} == {0.4}
    assert len(space.skopt_dimensions()) == len(space.dimension_names()) == 6 * space.values_per_slot


def test_default_space_is_five_by_two_over_every_op():
    space = SearchSpace()
    assert space.n_sub_policies == 5 and space.ops_per_sub_policy == 2
    assert space.ops == tuple(ops.searched_names())  # the timm forms are named, never drawn by default
    assert "shear-y" not in space.ops and "timm-posterize" not in space.ops
    assert space.dimension_names()[:3] == ["A1_op", "A1_magnitude", "A1_probability"]


def test_numpy_scalars_from_the_optimizer_decode():
    space = SearchSpace(n_sub_policies=1, ops_per_sub_policy=1, ops=("rotate",))
    policy = space.to_policy([np.str_("rotate"), np.float64(1.0000000002), np.float64(0.3)])
    op = policy.sub_policies[0].operations[0]
    assert (op.name, op.magnitude, op.probability) == ("rotate", 1.0, 0.3)
    assert type(op.magnitude) is float


@pytest.mark.parametrize("kwargs", [dict(search_probabilities=True), dict(search_probabilities=False),
                                    dict(search_probabilities=False, ops=("invert", "rotate"))])
def test_baseline_point_changes_no_image(kwargs):
    space = SearchSpace(**kwargs)
    policy = space.to_policy(space.baseline_point())
    x = np.random.default_rng(0).integers(0, 256, (16, 12, 12, 3), dtype=np.uint8)
    np.testing.assert_array_equal(policy.apply(x, seed=0), x)


def test_no_baseline_when_no_neutral_point_exists():
    space = SearchSpace(ops=("invert", "horizontal-flip"), search_probabilities=False)
    assert space.baseline_point() is None


def test_sampling_is_seeded():
    space = SearchSpace()
    assert space.sample(3, seed=5) == space.sample(3, seed=5)
    assert space.sample(3, seed=5) != space.sample(3, seed=6)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_sub_policies=0), InputError, "n_sub_policies"),
    (dict(ops_per_sub_policy=1.5), InputError, "ops_per_sub_policy"),
    (dict(ops=()), InputError, "at least one op"),
    (dict(ops=("rotate", "spin")), PolicyError, "unknown op 'spin'"),
    (dict(ops=("rotate", "rotate")), InputError, "twice"),
    (dict(fixed_probability=2.0), InputError, "fixed_probability"),
])
def test_bad_spaces_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        SearchSpace(**kwargs)


def test_policies_of_another_shape_or_op_set_are_refused():
    small = SearchSpace(n_sub_policies=1, ops_per_sub_policy=1, ops=("rotate",))
    big = SearchSpace()
    with pytest.raises(InputError, match="shape"):
        small.to_point(big.to_policy(big.sample(1, seed=0)[0]))
    other = SearchSpace(n_sub_policies=1, ops_per_sub_policy=1, ops=("invert",))
    with pytest.raises(InputError, match="not in this search space"):
        small.to_point(other.to_policy(other.sample(1, seed=0)[0]))
