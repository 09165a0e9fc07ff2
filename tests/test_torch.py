"""deepaug.adapters.torch.PolicyTransform on real torch (CPU): bytes as Policy.apply, DataLoader workers' randomness."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from deepaug import Policy  # noqa: E402
from deepaug.errors import ImageError, InputError  # noqa: E402
from deepaug.policy.baselines import TrivialAugment  # noqa: E402
from deepaug.adapters.torch import PolicyTransform, call_seed  # noqa: E402

SUB_POLICIES = Policy.from_list([[("rotate", 0.8, 0.6), ("solarize", 0.5, 0.5)],
                                 [("cutout", 0.9, 0.5), ("color", 0.7, 0.8)]])
# Many distinct outcomes per image, so two draws almost never give the same bytes.
BUSY = Policy.from_distribution({"ops": [{"op": "rotate"}, {"op": "translate-x"}, {"op": "translate-y"}],
                                 "n": 2, "magnitude": 1.0, "spread": 1.0, "erasing": 1.0})


def images(n: int = 3, size: int = 16, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


@pytest.mark.parametrize("policy", [SUB_POLICIES, TrivialAugment().policy], ids=["sub_policies", "distribution"])
def test_every_input_type_gets_the_bytes_of_policy_apply_with_the_documented_seed(policy):
    x = images()
    transform = PolicyTransform(policy, seed=5)
    for k in range(3):  # call k of the main process: default_rng([seed, 0, k])
        expected = policy.apply(x[:1], seed=np.random.default_rng(call_seed(5, k)))[0]
        if k == 0:
            out = transform(x[0])  # numpy HWC
            assert isinstance(out, np.ndarray)
        elif k == 1:
            out = transform(torch.from_numpy(x[0]).permute(2, 0, 1)).permute(1, 2, 0).numpy()  # torch CHW
        else:
            out = np.asarray(transform(Image.fromarray(x[0])))  # PIL RGB
        np.testing.assert_array_equal(out, expected)
    assert call_seed(5, 3) == [5, 0, 3]


def test_batches_gray_images_and_devices_keep_their_shape_and_type():
    x = images(4, channels=1)
    batch = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # NCHW
    out = PolicyTransform(BUSY, seed=1)(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8 and out.device == batch.device
    np.testing.assert_array_equal(out.permute(0, 2, 3, 1).numpy(),
                                  BUSY.apply(x, seed=np.random.default_rng(call_seed(1, 0))))
    gray = PolicyTransform(BUSY, seed=1)(Image.fromarray(x[0, :, :, 0]))
    assert gray.mode == "L" and gray.size == (16, 16)
    assert PolicyTransform(BUSY, seed=1)(x[0, :, :, 0]).shape == (16, 16)


class Repeated(Dataset):
    """The same image n times, transformed: what differs between samples is the draw alone."""

    def __init__(self, transform: PolicyTransform, n: int = 8) -> None:
        self.image = torch.from_numpy(images(1)[0]).permute(2, 0, 1).contiguous()
        self.transform, self.n = transform, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.image)


def two_epochs(torch_seed: int, persistent: bool = False) -> list[list[bytes]]:
    torch.manual_seed(torch_seed)
    loader = DataLoader(Repeated(PolicyTransform(BUSY, seed=3)), batch_size=2, num_workers=2,
                        persistent_workers=persistent)
    return [[bytes(image.numpy()) for batch in loader for image in batch] for _ in range(2)]


@pytest.mark.parametrize("persistent", [False, True], ids=["fresh_workers", "persistent_workers"])
def test_dataloader_workers_draw_distinct_samples_anew_each_epoch_and_reproducibly(persistent):
    first = two_epochs(11, persistent)
    samples = [s for epoch in first for s in epoch]
    assert len(samples) == 16 and len(set(samples)) == 16  # no worker or epoch repeats another's draws
    assert two_epochs(11, persistent) == first  # the same torch seed: the same bytes
    assert two_epochs(12, persistent)[0] != first[0]  # another torch seed: other draws


def test_it_pickles_for_spawned_workers_and_keeps_its_count():
    transform = PolicyTransform(SUB_POLICIES, seed=2)
    transform(images(1)[0])
    copy = pickle.loads(pickle.dumps(transform))
    assert copy.policy == transform.policy and copy.seed == 2
    np.testing.assert_array_equal(copy(images(1)[0]), transform(images(1)[0]))  # both at call 1


def test_the_top_level_name_is_the_transform():
    import deepaug

    assert deepaug.PolicyTransform is PolicyTransform


def test_seed_none_follows_torch_seed():
    torch.manual_seed(21)
    assert PolicyTransform(SUB_POLICIES).seed == 21


@pytest.mark.parametrize("bad, words", [
    (torch.zeros(3, 8, 8), "uint8"),
    (torch.zeros(8, 8, dtype=torch.uint8), "(C, H, W)"),
    (np.zeros((8, 8, 3), np.float32), "uint8"),
    (np.zeros((3, 8, 8), np.uint8), "(H, W, C)"),
    (Image.new("RGBA", (8, 8)), "convert('RGB')"),
    (Image.new("LA", (8, 8)), "convert('L')"),
    (Image.new("I;16", (8, 8)), "scale them to 8 bits"),
    ([[0]], "PIL image"),
])
def test_bad_images_are_refused_naming_the_problem(bad, words):
    with pytest.raises(InputError, match=None) as info:
        PolicyTransform(SUB_POLICIES, seed=0)(bad)
    assert words in str(info.value)
    assert isinstance(info.value, (ImageError, InputError))


def test_bad_seed_and_policy_are_refused():
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        PolicyTransform(SUB_POLICIES, seed=-1)
    with pytest.raises(InputError, match="neither an existing file nor a built-in policy"):
        PolicyTransform("no-such-policy")


def test_it_sits_in_a_torchvision_v2_compose():
    try:
        from torchvision import tv_tensors
        from torchvision.transforms import v2
    except Exception as exc:  # noqa: BLE001 - a torchvision built for another torch fails with RuntimeError
        pytest.skip(f"torchvision does not import with this torch: {exc}")
    x = images(1)[0]
    pipeline = v2.Compose([v2.PILToTensor(), PolicyTransform(SUB_POLICIES, seed=5), v2.ToDtype(torch.float32,
                                                                                                 scale=True)])
    out = pipeline(Image.fromarray(x))
    expected = SUB_POLICIES.apply(x[None], seed=np.random.default_rng(call_seed(5, 0)))[0]
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy() * 255, expected, atol=1e-3)
    image = PolicyTransform(SUB_POLICIES, seed=5)(tv_tensors.Image(torch.from_numpy(x).permute(2, 0, 1)))
    assert isinstance(image, tv_tensors.Image)


@pytest.mark.parametrize("mix, named", [({"cutmix": 0.5}, "CutMix p=0.5"), ({"mixup": 0.3}, "MixUp p=0.3")])
def test_a_mixing_policy_applies_its_per_image_steps_and_says_so(caplog, mix, named):
    from deepaug.policy.distribution import Distribution

    policy = Policy.from_distribution(Distribution.uniform(("rotate", "equalize"), **mix))
    with caplog.at_level("WARNING", logger="deepaug.policy.apply"):
        transform = PolicyTransform(policy, seed=3)
    assert "PolicyTransform applies the policy's per-image steps only" in caplog.text and named in caplog.text
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(transform(image), PolicyTransform(policy.without_mixing(), seed=3)(image))
