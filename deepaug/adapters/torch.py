"""Train with a found policy in PyTorch: `PolicyTransform`, a transform for Datasets and Compose.

>>> import numpy as np
>>> from deepaug.adapters import PolicyTransform
>>> transform = PolicyTransform("reference", seed=0)
>>> transform(np.zeros((32, 32, 3), np.uint8)).shape
(32, 32, 3)

`PolicyTransform(policy)` applies a deepaug policy (either kind) to a PIL image (mode L or
RGB), a uint8 numpy image (H, W), (H, W, C) or batch (N, H, W, C), or a uint8 torch tensor
(C, H, W) or batch (N, C, H, W) (a torchvision `tv_tensors.Image` stays one), C in {1, 3},
and returns the same type, shape and device. It is a plain callable, so it sits in
`torchvision.transforms.v2.Compose([...])` (give it the uint8 image, before `ToDtype`) or
in a `Dataset.__getitem__`. The pixel work is `deepaug.policy.apply.augment_nhwc`, the code
`Policy.apply` runs.

Randomness (what "the same seed" means): every call takes the next number k of a counter
(0, 1, 2, ... in each process) and draws from ``numpy.random.default_rng(call_seed(seed, k,
worker_seed))``:

- in the main process, ``call_seed(seed, k) == [seed, 0, k]``, so call k on images `x` gives
  the bytes of ``policy.apply(x, seed=numpy.random.default_rng([seed, 0, k]))``;
- in a DataLoader worker, ``call_seed(seed, k, worker_seed) == [seed, 1, worker_seed, k]``
  with `worker_seed` = ``torch.utils.data.get_worker_info().seed``, torch's seed for that
  worker (the loader's base seed, drawn anew each epoch from torch's generator, plus the
  worker id); the counter restarts when it changes. So no two workers repeat each other's
  draws, each epoch draws anew (also with persistent workers, whose counter goes on), and
  ``torch.manual_seed(s)`` (or ``DataLoader(generator=...)``) with the same `seed` makes a
  run reproducible, as for torch's own random transforms;
- ``seed=None`` takes ``torch.initial_seed()`` when the transform is made (torch's seed:
  fixed by ``torch.manual_seed``), so a transform follows torch's seeding unless given one.

Which sample gets which k in a worker follows the order in which that worker fetches them,
which the DataLoader fixes (sampler, batch size, worker count): the same loader settings
and seeds give the same bytes.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from deepaug.errors import ImageError, InputError
from deepaug.extras import require
from deepaug.images import CHANNELS
from deepaug.policy.apply import augment_nhwc, check_seed, warn_per_image_only
from deepaug.policy.core import Policy, PolicyLike, as_policy

torch = require("torch", "deepaug.adapters.torch")  # the torch extra: pip install 'deepaug[torch]'

logger = logging.getLogger(__name__)

__all__ = ["PolicyTransform", "call_seed"]

MAIN, WORKER = 0, 1  # the stream word of call_seed


def call_seed(seed: int, call: int, worker_seed: int | None = None) -> list[int]:
    """The entropy of call `call` of a PolicyTransform with `seed`: [seed, 0, call] in the main
    process, [seed, 1, worker_seed, call] in a DataLoader worker whose torch seed is `worker_seed`."""
    if worker_seed is None:
        return [int(seed), MAIN, int(call)]
    return [int(seed), WORKER, int(worker_seed), int(call)]


class PolicyTransform:
    """Applies a deepaug policy to one image (PIL, numpy HWC, torch CHW) or a batch (NHWC / NCHW).

    Args:
        policy: a `Policy`, or anything `deepaug.policy.as_policy` reads: a policy dict, a policy
            file path, a built-in policy name, a timm string such as "rand-m9-mstd0.5-inc1".
        seed: the base of every call's generator (see the module docstring); None uses
            ``torch.initial_seed()``.
    """

    def __init__(self, policy: PolicyLike, seed: int | None = None) -> None:
        self.policy: Policy = as_policy(policy, "PolicyTransform")
        warn_per_image_only(self.policy, "PolicyTransform")
        if seed is None:
            seed = torch.initial_seed()
        self.seed = check_seed(seed, "PolicyTransform")
        self._lock = threading.Lock()
        self._stream: int | None = None
        self._calls = 0

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader workers started with spawn
        state = dict(self.__dict__)
        del state["_lock"]  # the one thing that does not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _next_seed(self) -> list[int]:
        info = torch.utils.data.get_worker_info()
        stream = None if info is None else int(info.seed)
        with self._lock:
            if stream != self._stream:  # a new worker (or a copy of the transform in one): count from 0
                self._stream, self._calls = stream, 0
            call, self._calls = self._calls, self._calls + 1
        return call_seed(self.seed, call, stream)

    def __call__(self, image: Any) -> Any:
        if _is_pil(image):
            return self._pil(image)
        if isinstance(image, torch.Tensor):
            return self._tensor(image)
        if isinstance(image, np.ndarray):
            return self._array(image)
        raise InputError(f"PolicyTransform takes a PIL image, a uint8 numpy array (H, W, C) or a uint8 torch "
                         f"tensor (C, H, W) / (N, C, H, W), got {type(image).__name__}")

    def _augment(self, x: np.ndarray) -> np.ndarray:
        """A validated (N, H, W, C) uint8 batch, augmented with this call's generator."""
        return augment_nhwc(self.policy, x, np.random.default_rng(self._next_seed()))

    def _array(self, image: np.ndarray) -> np.ndarray:
        if image.dtype != np.uint8:
            raise ImageError(f"PolicyTransform: numpy images must be uint8, got {image.dtype}; convert with "
                             "deepaug.images.to_uint8(image) (exact for integers in 0..255, floats in [0, 1])")
        if image.ndim == 2:
            return self._augment(image[None, :, :, None])[0, :, :, 0]
        if image.ndim in (3, 4) and image.shape[-1] in CHANNELS:
            batch = image[None] if image.ndim == 3 else image
            out = self._augment(np.ascontiguousarray(batch))
            return out[0] if image.ndim == 3 else out
        raise ImageError(f"PolicyTransform: a numpy image must be (H, W), (H, W, C) or a batch (N, H, W, C) "
                         f"with C in {{1, 3}}, got shape {image.shape}; for a (C, H, W) array pass "
                         "torch.from_numpy(image) or image.transpose(1, 2, 0)")

    def _tensor(self, image: Any) -> Any:
        if image.dtype != torch.uint8:
            raise ImageError(f"PolicyTransform: tensors must be uint8, got {image.dtype}; put PolicyTransform "
                             "before torchvision's ToDtype(torch.float32, scale=True), or convert with "
                             "(image * 255).round().to(torch.uint8) for floats in [0, 1]")
        if image.ndim not in (3, 4) or image.shape[-3] not in CHANNELS:
            raise ImageError(f"PolicyTransform: a tensor must be (C, H, W) or a batch (N, C, H, W) with C in "
                             f"{{1, 3}}, got shape {tuple(image.shape)}; for an (H, W) image use image[None]")
        batch = image[None] if image.ndim == 3 else image
        x = np.ascontiguousarray(batch.detach().cpu().numpy().transpose(0, 2, 3, 1))
        out = torch.from_numpy(np.ascontiguousarray(self._augment(x).transpose(0, 3, 1, 2)))
        out = out[0] if image.ndim == 3 else out
        out = out.to(image.device)
        return out if type(image) is torch.Tensor else out.as_subclass(type(image))  # tv_tensors.Image stays one

    def _pil(self, image: Any) -> Any:
        from PIL import Image  # pillow is a core dependency; imported here as only PIL inputs need it

        if image.mode not in ("L", "RGB"):
            if image.mode in ("I", "I;16", "F"):  # convert('L') would clip these, not scale them
                fix = "scale them to 8 bits first (0..255, mode 'L')"
            else:
                fix = f"convert with image.convert({'L' if image.mode in ('LA', '1') else 'RGB'!r})"
            raise ImageError(f"PolicyTransform: PIL images must be mode 'L' or 'RGB', got mode {image.mode!r}; {fix}")
        x = np.asarray(image, dtype=np.uint8)
        x = x[None, :, :, None] if x.ndim == 2 else x[None]
        out = self._augment(np.ascontiguousarray(x))[0]
        return Image.fromarray(out[:, :, 0] if image.mode == "L" else out)  # uint8 HW -> L, HWC -> RGB

    def __repr__(self) -> str:
        return f"PolicyTransform(policy={self.policy.kind}, seed={self.seed})"


def _is_pil(image: Any) -> bool:
    return type(image).__module__.startswith("PIL.") and hasattr(image, "mode") and hasattr(image, "size")
