"""The plan of an augmentation run: what every worker agrees on before any pixel is touched.

A `RunPlan` holds the input listing, the recipe (policy or chain, variants, size, crop,
seed), the output options and the dataset identity: a document (input listing hash,
recipe, options, deepaug version) whose SHA-256 is the dataset id. Identical requests get
identical ids, which is how a finished dataset is found again instead of being rebuilt
(the img.ly idea), and how a worker notices an output location that holds another dataset.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from deepaug._version import __version__
from deepaug.augmentation.inputs import Listing, list_input
from deepaug.augmentation.outputs import check_names, name_limit, output_stem
from deepaug.augmentation.request import AugmentRequest
from deepaug.augmentation.shards import shard_count
from deepaug.augmentation.variants import Chain, Recipe, canonical_json
from deepaug.errors import InputError
from deepaug.policy import builtin
from deepaug.policy.apply import warn_per_image_only
from deepaug.policy.core import Policy, as_policy
from deepaug.storage.backends import is_remote, open_storage

log = logging.getLogger(__name__)

DEFAULT_VARIANTS = 4
IDENTITY_FORMAT = "deepaug-augmented-dataset"


@dataclass(frozen=True, eq=False)
class RunPlan:
    """Everything a worker needs; picklable, so spawned worker processes get it once."""

    input_uri: str
    output_uri: str
    listing: Listing
    recipe: Recipe
    format: str
    shard_size: int
    jpeg_quality: int
    io_threads: int
    storage_options: dict[str, Any]
    identity: dict[str, Any]

    @property
    def dataset_id(self) -> str:
        return self.identity["dataset_id"]

    @property
    def png_compression(self) -> int:
        return self.identity["output"]["png_compression"]

    @property
    def n_shards(self) -> int:
        return shard_count(len(self.listing), self.shard_size)

    def stem(self, index: int) -> str:
        return output_stem(self.listing.keys[index], self.listing.kind, self.listing.class_of(index))


def _inside(inner: str, outer: str) -> bool:
    return inner == outer or outer == "" or inner.startswith(outer.rstrip("/") + "/")


def _normalize(uri: str) -> str:
    """Local paths made absolute (so a request means the same from any working directory)."""
    if is_remote(uri):
        return uri
    return open_storage(uri).uri()


def _remote_parts(uri: str) -> tuple[str, str, str]:
    parts = urlsplit(uri)
    return parts.scheme.lower().replace("gcs", "gs"), parts.netloc, parts.path.strip("/")


def check_overlap(src: str, dst: str) -> None:
    """InputError when the output lies inside the input folder, or the input inside the output."""
    if src.lower().endswith(".npz"):
        return
    if is_remote(src) and is_remote(dst):  # s3://, gs://, az://, memory://: bucket, then prefix
        (s1, b1, p1), (s2, b2, p2) = _remote_parts(src), _remote_parts(dst)
        overlap = (s1, b1) == (s2, b2) and (_inside(p2, p1) or _inside(p1, p2))
    elif "://" in src or "://" in dst:
        return
    else:
        a, b = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
        overlap = a == b or a in b.parents or b in a.parents
    if overlap:
        raise InputError(f"the output {dst} overlaps the input {src}: outputs would be read back as inputs; "
                         "write the augmented dataset somewhere outside the input")


def software() -> dict[str, str]:
    """Versions that shape the bytes (encoders, resize); recorded in the manifest."""
    return {"deepaug": __version__, "numpy": np.__version__, "opencv": cv2.__version__}


def make_plan(policy: str | os.PathLike[str] | Policy | None, src: str | os.PathLike[str],
              dst: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None, announce: bool = True,
              **dataset_options: Any) -> RunPlan:
    """Validate a request, list its input and compute its dataset identity; InputError on bad input.

    `dataset_options`: the dataset options of `deepaug.augmentation.request.OPTIONS` (variants,
    chain, format, size, crop, seed, shard_size, jpeg_quality, png_compression, io_threads).
    `announce=False` logs the dataset line at debug level (a plan made only to check a request)."""
    options = dict(storage_options or {})
    request = AugmentRequest(**dataset_options)
    others = sorted(set(request.given()) - set(request.dataset_options()))
    if others:
        raise InputError(f"make_plan takes the dataset options only, not {', '.join(others)}")
    variants, chain, size, crop, seed = request.variants, request.chain, request.size, request.crop, request.seed
    format, shard_size, jpeg_quality = request.format, request.shard_size, request.jpeg_quality
    png_compression, io_threads = request.png_compression, request.io_threads
    if chain is not None:
        if policy is not None:
            raise InputError("give either --policy (its variants) or --chain (every subset of some ops), not both")
        recipe = Recipe(chain=Chain.parse(chain), variants=variants or 0, seed=seed, size=size, crop=crop)
    else:
        if policy is None:
            raise InputError("no policy given: pass a policy file (e.g. best_policy.json from a search), a "
                             f"built-in name ({', '.join(builtin.names())}) or --chain")
        resolved = as_policy(policy, storage_options=options)  # with the run's S3 options
        # an augmented dataset keeps one label per image: the per-image steps, recorded as such
        warn_per_image_only(resolved, "deepaug augment")
        recipe = Recipe(policy=resolved.without_mixing(), variants=DEFAULT_VARIANTS if variants is None
                        else variants, seed=seed, size=size, crop=crop)
    src_uri, dst_text = _normalize(os.fspath(src)), _normalize(os.fspath(dst))
    check_overlap(src_uri, dst_text.replace("{id}", "x"))
    listing = list_input(src_uri, options)
    stems = [output_stem(k, listing.kind, listing.class_of(i)) for i, k in enumerate(listing.keys)]
    check_names(stems, listing.keys, recipe.suffixes(), limit=name_limit(dst_text.replace("{id}", "x")))
    del stems
    identity: dict[str, Any] = {
        "format": IDENTITY_FORMAT, "format_version": 1, "deepaug_version": __version__,
        "input": listing.describe(), "recipe": recipe.to_dict(),
        "output": {"format": format, "shard_size": shard_size, "shards": shard_count(len(listing), shard_size),
                   "png_compression": png_compression, "jpeg_quality": jpeg_quality if format == "jpeg" else None}}
    dataset_id = hashlib.sha256(canonical_json(identity).encode("utf-8")).hexdigest()
    identity = {"dataset_id": dataset_id, **identity}
    dst_uri = dst_text.replace("{id}", dataset_id[:16])
    log.log(logging.INFO if announce else logging.DEBUG, "dataset %s: %d images in %d shards -> %s",
            dataset_id[:16], len(listing), identity["output"]["shards"], dst_uri)
    return RunPlan(src_uri, dst_uri, listing, recipe, format, shard_size, jpeg_quality, io_threads, options,
                   identity)
