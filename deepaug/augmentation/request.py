"""What an augmentation run is asked to do: a config file's `augment:` section."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AugmentSection(BaseModel):
    """A config file's `augment:` section: what `deepaug run` does with the winning policy.

    The keys are `deepaug augment`'s options. `input` defaults to the search's dataset (a
    named dataset's whole training split, a folder or an .npz); `output` to the folder
    `augmented` in the experiment folder; `workers` to one per core (at most 8).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str | None = None
    output: str | None = None
    variants: int = Field(4, ge=0)
    format: Literal["png", "jpeg", "tfrecord"] = "png"
    size: int | None = Field(None, ge=1)
    crop: Literal["center", "random", "none"] = "center"
    seed: int = Field(0, ge=0)
    executor: Literal["local", "kubernetes"] = "local"
    workers: int | None = Field(None, ge=1)
    queue: str | None = None
    shard_size: int = Field(100, ge=1)
    jpeg_quality: int = Field(95, ge=1, le=100)
    png_compression: int = Field(3, ge=0, le=9)
    io_threads: int = Field(8, ge=1)
    parallelism: int | None = Field(None, ge=1)  # kubernetes: pods at once
    completions: int | None = Field(None, ge=1)  # kubernetes: pods in all
