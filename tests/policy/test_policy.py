"""The policy model, its file format and AutoAugment semantics of Policy.apply."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _images import natural_batch
from deepaug import Operation, Policy, PolicyError, SubPolicy
from deepaug.policy import as_policy, builtin
from deepaug.errors import ImageError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = {"format_version": 1, "sub_policies": [
    [{"op": "rotate", "probability": 0.7, "magnitude": 0.4}, {"op": "invert", "probability": 0.2, "magnitude": 0.0}],
    [{"op": "equalize", "probability": 0.5, "magnitude": 0.0}, {"op": "cutout", "probability": 0.9, "magnitude": 0.3}],
]}


def five_by_two() -> Policy:
    return Policy.from_list([
        [("rotate", 0.7, 0.4), ("invert", 0.2, 0.0)],
        [("shear", 0.5, 0.6), ("additive-gaussian-noise", 0.8, 0.3)],
        [("crop", 0.6, 0.5), ("color", 0.9, 0.8)],
        [("fog", 0.4, 0.7), ("equalize", 0.5, 0.0)],
        [("translate-x", 0.9, 0.3), ("cutout", 0.6, 0.5)],
    ])


def test_file_format_is_exactly_the_interchange_shape():
    policy = Policy.from_dict(EXAMPLE)
    assert policy.to_dict() == EXAMPLE
    assert json.loads(policy.to_json()) == EXAMPLE
    assert isinstance(policy.sub_policies[0], SubPolicy)
    assert policy.sub_policies[0].operations[0] == Operation("rotate", 0.7, 0.4)


def test_policies_are_frozen_and_hashable():
    policy = five_by_two()
    with pytest.raises(AttributeError):
        policy.sub_policies = ()
    with pytest.raises(AttributeError):
        policy.sub_policies[0].operations[0].magnitude = 0.1
    assert hash(policy) == hash(five_by_two()) and policy == five_by_two()


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_round_trip_through_files_gives_the_same_bytes(tmp_path, suffix):
    policy = five_by_two()
    path = tmp_path / f"p{suffix}"
    if suffix == ".json":
        policy.to_json(path)
    else:
        policy.to_yaml(path)
    loaded = Policy.load(path)
    assert loaded == policy
    x = natural_batch(16, 32, 32, 3)
    np.testing.assert_array_equal(loaded.apply(x, seed=4), policy.apply(x, seed=4))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left behind


@pytest.mark.parametrize("bad, message", [
    ({"op": "rotat", "probability": 0.5, "magnitude": 0.5}, "did you mean rotate"),
    ({"op": "rotate", "probability": 1.5, "magnitude": 0.5}, "probability .* in \\[0, 1\\]"),
    ({"op": "rotate", "probability": 0.5, "magnitude": -0.1}, "magnitude .* in \\[0, 1\\]"),
    ({"op": "rotate", "probability": True, "magnitude": 0.5}, "probability"),
    ({"op": "rotate", "probability": "0.5", "magnitude": 0.5}, "probability"),
    ({"op": "rotate", "probability": 0.5}, "missing \\['magnitude'\\]"),
    ({"op": "rotate", "probability": 0.5, "magnitude": 0.5, "magnitute": 1}, "unexpected \\['magnitute'\\]"),
])
def test_bad_operations_are_refused_with_the_reason(bad, message):
    with pytest.raises(PolicyError, match=message):
        Policy.from_dict({"format_version": 1, "sub_policies": [[bad]]})


@pytest.mark.parametrize("text, message", [
    ('{"format_version": 1, "sub_policies": [[{"op": "rotate", "probability": NaN, "magnitude": 0.5}]]}', "NaN"),
    ('{"format_version": 3, "sub_policies": [[{"op": "rotate", "probability": 0.5, "magnitude": 0.5}]]}',
     "format_version 3.*reads format_version 1 and 2"),
    ('{"sub_policies": [[{"op": "rotate", "probability": 0.5, "magnitude": 0.5}]]}', "format_version None"),
    ('{"format_version": 1, "sub_policies": []}', "non-empty list"),
    ('{"format_version": 1, "sub_policies": [[]]}', "sub_policies\\[0\\] must be a non-empty"),
    ('{"format_version": 1, "sub_policies": [[]], "extra": 1}', "unexpected keys \\['extra'\\]"),
    ('[1, 2]', "must be an object"),
    ('{"format_version": 1, ', "not valid JSON"),
])
def test_bad_policy_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as info:
        Policy.from_json(path)
    assert str(path) in str(info.value)


def test_a_policy_reads_back_from_the_text_to_json_and_to_yaml_return(tmp_path):
    for name in builtin.names():
        policy = builtin.get(name)
        assert Policy.from_json(policy.to_json()) == policy == Policy.from_yaml(policy.to_yaml())
        assert Policy.load(policy.to_json()) == policy
    compact = json.dumps(builtin.get("reference").to_dict())  # one line, no file of that name
    assert Policy.from_json(compact) == builtin.get("reference")
    with pytest.raises(PolicyError, match="the policy text is not valid JSON"):
        Policy.from_json('{"format_version": 1, ')
    with pytest.raises(PolicyError, match="the policy text has unexpected keys \\['extra'\\]"):
        Policy.from_yaml("format_version: 1\nsub_policies: [[{op: rotate, probability: 0.5, magnitude: 0.5}]]\n"
                         "extra: 1\n")


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="nope.json' is neither an existing file nor a built-in policy"):
        Policy.load(tmp_path / "nope.json")


def test_empty_policy_and_sub_policy_are_refused():
    with pytest.raises(PolicyError, match="noop"):
        Policy(())
    with pytest.raises(PolicyError, match="at least one operation"):
        SubPolicy(())


@pytest.mark.parametrize("shape", [(10, 28, 28), (10, 28, 28, 1), (10, 32, 32, 3), (2, 300, 200, 3)])
def test_apply_keeps_shape_and_is_deterministic_by_seed(shape):
    x = natural_batch(*shape[:3], shape[3] if len(shape) == 4 else None)
    before = x.copy()
    policy = five_by_two()
    a, b, c = policy.apply(x, seed=1), policy.apply(x, seed=1), policy.apply(x, seed=2)
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(x, before)


def test_one_sub_policy_is_drawn_per_image():
    x = np.full((400, 4, 4, 1), 10, np.uint8)
    out = Policy.from_list([[("invert", 1.0, 0.0)], [("identity", 1.0, 0.0)]]).apply(x, seed=0)
    inverted = (out[:, 0, 0, 0] == 245).mean()
    assert ((out[:, 0, 0, 0] == 245) | (out[:, 0, 0, 0] == 10)).all()
    assert 0.4 < inverted < 0.6


def test_operations_apply_in_order_with_their_probability():
    x = np.full((2000, 4, 4, 1), 100, np.uint8)
    out = Policy.from_list([[("brighten", 0.3, 1.0), ("invert", 1.0, 0.0)]]).apply(x, seed=0)[:, 0, 0, 0]
    # brighten (+-64) happens 30% of the time, then every image is inverted.
    assert set(np.unique(out)) <= {155, 155 - 64, 155 + 64}
    assert abs((out != 155).mean() - 0.3) < 0.04


def test_probability_zero_and_noop_leave_images_unchanged():
    x = natural_batch(8, 16, 16, 3)
    np.testing.assert_array_equal(Policy.from_list([[("rotate", 0.0, 1.0)]]).apply(x, seed=0), x)
    np.testing.assert_array_equal(Policy.noop().apply(x, seed=0), x)


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 8, 8, 3), np.float32), "dtype uint8, got float32"),
    (np.zeros((2, 8, 8, 3), np.int64), "dtype uint8, got int64"),
    (np.zeros((8, 8), np.uint8), "shape \\(N, H, W\\) or \\(N, H, W, C\\)"),
    (np.zeros((1, 2, 8, 8, 3), np.uint8), "shape \\(N, H, W\\)"),
    (np.zeros((0, 8, 8, 3), np.uint8), "empty batch"),
    (np.zeros((2, 8, 8, 2), np.uint8), "1 or 3 channels"),
    ([[[0]]], "numpy array"),
])
def test_apply_refuses_bad_batches(images, message):
    with pytest.raises(ImageError, match=message):
        five_by_two().apply(images, seed=0)


def test_builtin_policies_and_the_policies_folder_agree():
    assert {"noop", "reference"} <= set(builtin.names())
    for name in builtin.names():
        assert Policy.from_json(REPO / "policies" / f"{name}.json") == builtin.get(name)
    assert builtin.get("noop") == Policy.noop()
    assert len(builtin.get("reference")) == 5
    assert all(len(s) == 2 for s in builtin.get("reference"))


def test_resolve_names_paths_and_refuses_others(tmp_path):
    assert as_policy("reference") == builtin.get("reference")
    five_by_two().to_json(tmp_path / "mine.json")
    assert as_policy(tmp_path / "mine.json") == five_by_two()
    with pytest.raises(PolicyError, match="neither an existing file nor a built-in.*noop"):
        as_policy("nope")
    with pytest.raises(PolicyError, match=r"got NoneType \(a search's best_policy is None until optimize"):
        as_policy(None)  # e.g. evaluate([da.best_policy]) before the search ran
    with pytest.raises(PolicyError, match="must be a Policy, a policy dict, a policy file path.*got list"):
        as_policy([["rotate", 0.5, 0.5]])


def test_one_image_is_a_batch_of_one_everywhere():
    from deepaug.ops import get as get_op
    from deepaug.policy.baselines import TrivialAugment

    rgb, gray = natural_batch(1, 40, 40, 3, seed=3)[0], natural_batch(1, 40, 40, 1, seed=4)[0]
    policy = builtin.get("reference")
    for image in (rgb, gray):  # (H, W, 3) was taken for 40 grayscale images 3 pixels wide, its channels mixed
        out = policy.apply(image, seed=5)
        assert out.shape == image.shape
        np.testing.assert_array_equal(out, policy.apply(image[None], seed=5)[0])
        np.testing.assert_array_equal(get_op("rotate")(image, 0.9, rng=1), get_op("rotate")(image[None], 0.9, rng=1)[0])
        trivial = TrivialAugment()
        np.testing.assert_array_equal(trivial.apply(image, seed=2), trivial.apply(image[None], seed=2)[0])
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 255
    assert Policy.from_list([[("rotate", 1.0, 0.9)]]).apply(red, seed=0)[..., 1:].max() == 0  # no red leaks into green
    assert policy.apply(gray[..., 0][None], seed=5).shape == (1, 40, 40)  # a grayscale batch (N, H, W) stays one


def test_built_in_names_and_the_free_baselines_load_by_name_everywhere(tmp_path, monkeypatch):
    from deepaug.policy.baselines import RandAugment, TrivialAugment

    assert Policy.load("reference") == builtin.get("reference") == as_policy("reference")
    assert Policy.load("trivialaugment") == TrivialAugment().policy == as_policy("trivialaugment")
    assert Policy.load("randaugment") == RandAugment().policy
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reference").write_text(builtin.get("noop").to_json())  # a file of that name comes first
    assert Policy.load("reference") == builtin.get("noop")
    with pytest.raises(PolicyError, match="neither an existing file nor a built-in.*trivialaugment"):
        as_policy("trivialaugmnet")
    with pytest.raises(PolicyError, match="PolicyTransform applies any deepaug policy"):
        Policy.load("trivialaugment").to_timm()
