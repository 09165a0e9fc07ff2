"""timm RandAugment strings: read as distribution policies, written back, refused parts named."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from deepaug import Policy
from deepaug.errors import PolicyError
from deepaug.policy import as_policy
from deepaug.policy.baselines import RandAugment, TrivialAugment
from deepaug.policy.timm import TIMM_OPS


def test_rand_m9_n2_reads_as_timm_means_it_with_identity_standing_for_p(caplog):
    with caplog.at_level(logging.WARNING, logger="deepaug.policy.timm"):
        policy = Policy.load("rand-m9-n2")
    assert "read as 'rand-m9-n2-inc1'" in caplog.text  # timm's default (non-increasing) forms, said plainly
    d = policy.distribution
    assert (d.n, d.magnitude, d.spread) == (2, 0.9, 0.0)
    weights = {op.name: op.weight for op in d.ops}
    assert weights.pop("identity") == 0.5 and set(weights) == set(TIMM_OPS)  # p0.5: half the draws do nothing
    assert sum(weights.values()) == pytest.approx(0.5)
    assert as_policy("rand-m9-n2") == policy  # the CLI's --policy takes it too


def test_p1_without_noise_is_the_randaugment_baseline_byte_for_byte():
    policy = Policy.from_timm("rand-m7-n3-p1-inc1")
    images = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(policy.apply(images, seed=4),
                                  RandAugment(3, 0.7, TIMM_OPS).apply(images, seed=4))


@pytest.mark.parametrize("text", ["rand-m9-n2-inc1", "rand-m10-n1-mstd101-p1-inc1", "rand-m0-n4-p0.25-inc1",
                                  "rand-m5-n2-mstd101-inc1", "rand-m9-n2-mstd0.5-inc1"])
def test_writing_gives_back_the_canonical_string(text):
    assert Policy.from_timm(text).to_timm() == text


def test_parts_in_any_order_and_defaults_as_timm():
    assert Policy.from_timm("rand-inc1-n3-mstd0-m4").to_timm() == "rand-m4-n3-inc1"
    assert Policy.from_timm("rand-inc1").to_timm() == "rand-m10-n2-inc1"  # timm's defaults: m10, n2, p0.5


@pytest.mark.parametrize("text, words", [
    ("rand-m12-n2", "outside 0..10"),
    ("rand-m9-mmax20", "mmax20 is not supported"),
    ("rand-m9-tweights", "op set 'weights'"),
    ("rand-m9-x3", "unknown part 'x3'"),
    ("rand-m9-nx", "cannot read part 'nx'"),
    ("rand-p2", "must be a probability"),
])
def test_parts_deepaug_cannot_express_are_refused_naming_them(text, words):
    with pytest.raises(PolicyError, match=None) as info:
        Policy.from_timm(text)
    assert words in str(info.value) and text in str(info.value)


def test_policies_timm_cannot_express_are_refused_naming_why():
    with pytest.raises(PolicyError, match="timm's RandAugment ops"):
        TrivialAugment().policy.to_timm()  # identity in, invert out: not timm's op set
    with pytest.raises(PolicyError, match="no timm RandAugment string"):
        Policy.from_list([[("rotate", 0.5, 0.5)]]).to_timm()
    with pytest.raises(PolicyError, match="integer level"):
        RandAugment(2, 0.33, TIMM_OPS).policy.to_timm()
