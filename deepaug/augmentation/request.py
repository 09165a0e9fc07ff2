"""What an augmentation run is asked to do: each option once, with its default, its check and its help.

`OPTIONS` is the one definition. From it come `deepaug augment`'s flags (`add_arguments`),
the keys of a config file's `augment:` section (`AugmentSection`: the options plus input and
output), the keyword arguments of `deepaug.augment()` (`AugmentRequest(**options)`) and the
arguments of the Kubernetes pods (`AugmentRequest.arguments`). The dataset options are part
of the dataset's id; the others say how the work is done.

>>> AugmentRequest(variants=2, size=64).dataset_options()["size"]
64
>>> AugmentRequest(jpeg_quality=101)
Traceback (most recent call last):
...
deepaug.errors.InputError: jpeg_quality must be an integer in 1..100, got 101
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from deepaug.augmentation.outputs import FORMATS, PNG_COMPRESSION
from deepaug.augmentation.shards import Share
from deepaug.augmentation.variants import CROPS
from deepaug.errors import InputError

DATASET, RUN, LOCAL, KUBERNETES = "dataset", "run", "local", "kubernetes"
EXECUTORS = ("local", "kubernetes")
AUTO = "auto"  # workers: one per core, at most 8
MAX_VARIANTS = 10_000  # outputs per image
MAX_SIDE = 32_767  # OpenCV's limit on an image side
MAX_THREADS = 1_024
MAX_WORKERS = 1_024
MAX_LEASE_SECONDS = 7 * 86_400.0  # the queue keeps its keys this long
MAX_SHARD_SIZE = 1_000_000
MAX_INDEXES = 100_000  # the Kubernetes API's limit on completions and parallelism of an Indexed Job


@dataclass(frozen=True)
class Option:
    """One option: its name (the flag is --name-with-dashes), kind, default, help and check."""

    name: str
    kind: type  # int, float or str
    default: Any
    help: str
    group: str  # DATASET, RUN, LOCAL or KUBERNETES
    choices: tuple[str, ...] = ()
    low: float | None = None  # int: value >= low; float: value > low
    high: float | None = None
    words: tuple[str, ...] = ()  # strings an int option also takes ("auto")
    also: tuple[type, ...] = ()  # other types a str option takes from Python (a list of ops, a Share)
    problem: str = ""  # what a good value is, when the bounds do not say it well

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def wants(self) -> str:
        if self.problem:
            return self.problem
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.kind is float:
            return f"a positive number of at most {self.high:g}" if self.high is not None else "a positive number"
        if self.kind is int and self.high is not None:
            return f"an integer in {self.low:g}..{self.high:g}"
        if self.kind is int:
            return {0: "a non-negative integer", 1: "a positive integer"}.get(self.low, f"an integer >= {self.low}")
        if self.kind is str and self.name in ("shard", "shards", "queue", "job_template", "chain"):
            return "text without NUL characters"
        return "text"

    def check(self, value: Any, where: str = "") -> Any:
        """`value` if it is good (None: the default), else InputError naming the option and what it takes."""
        if value is None:
            return self.default
        if value in self.words or (self.choices and value in self.choices):
            return value
        good = False
        if self.kind is int and not self.choices:
            good = (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                    and (self.low is None or value >= self.low) and (self.high is None or value <= self.high))
            value = int(value) if good else value
        elif self.kind is float:
            good = (isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
                    and (self.low is None or value > self.low) and (self.high is None or value <= self.high))
            value = float(value) if good else value
        elif self.kind is str and not self.choices:
            good = isinstance(value, (str, *self.also)) and "\x00" not in str(value)
        if not good:
            raise InputError(f"{where}{self.name} must be {self.wants()}, got {value!r}")
        return value

    def parse(self, text: str) -> Any:
        """A command-line value: the option's kind from text (its check comes later)."""
        if text in self.words or self.kind is str:
            return text
        try:
            return self.kind(text)
        except ValueError:
            raise InputError(f"{self.flag} must be {self.wants()}, got {text!r}") from None


OPTIONS: tuple[Option, ...] = (
    Option("variants", int, None, "augmented copies per image (default: 4; 0 with --chain)", DATASET, low=0,
           high=MAX_VARIANTS),
    Option("chain", str, None, "chained mode: ops a,b,c (op or op:magnitude); writes every subset img_a, img_ab, "
           "... instead of a policy's variants", DATASET, also=(list, tuple),
           problem="ops as text (a,b:0.5,c) or a list of them"),
    Option("format", str, "png", "output format (default: png)", DATASET, choices=FORMATS),
    Option("size", int, None, "square-crop and resize every image to SxS", DATASET, low=1, high=MAX_SIDE),
    Option("crop", str, "center", "square crop before --size: centre, seeded random (kaleidoscope) or none "
           "(stretch) (default: center)", DATASET, choices=CROPS),
    Option("seed", int, 0, "run seed, part of every image's seed (default: 0)", DATASET, low=0),
    Option("shard_size", int, 100, "images per shard (default: 100)", DATASET, low=1,
           high=MAX_SHARD_SIZE, problem=f"a positive number of images, at most {MAX_SHARD_SIZE}"),
    Option("jpeg_quality", int, 95, "JPEG quality (default: 95)", DATASET, low=1, high=100),
    Option("png_compression", int, PNG_COMPRESSION, f"zlib level of PNG outputs and of the PNGs in TFRecords, 0-9: "
           f"1 encodes about 20%% faster for 3-5%% larger files (default: {PNG_COMPRESSION})", DATASET, low=0,
           high=9, problem="an integer in 0..9 (zlib level: 1 is fastest, 9 smallest)"),
    Option("io_threads", int, 8, "concurrent reads/writes per worker (default: 8)", DATASET, low=1, high=MAX_THREADS),
    Option("executor", str, "local", "local: processes here; kubernetes: one Indexed Job on a cluster "
           "(default: local)", RUN, choices=EXECUTORS),
    Option("workers", int, 1, "local worker processes, or 'auto' for one per core, at most 8 (default: 1)", LOCAL,
           low=1, high=MAX_WORKERS, words=(AUTO,), problem=f"an integer in 1..{MAX_WORKERS} or 'auto'"),
    Option("shard", str, None, "do only share I/N of the shards (worker I of N, from 0); /N takes I from "
           "$JOB_COMPLETION_INDEX", LOCAL, also=(Share,),
           problem="a share such as 0/4 (or /4)"),
    Option("shards", str, None, "only these shards, e.g. 3-5,17 (what a resumed Kubernetes Job passes its "
           "pods); --shard I/N then shares them out", LOCAL, also=(list, tuple),
           problem="ranges text such as '0-3,7' or a non-empty list of shard numbers"),
    Option("queue", str, None, "take shards from a Redis work queue: redis://host:port/db", LOCAL),
    Option("lease_seconds", float, 60.0, "queue lease duration in seconds (default: 60)", LOCAL, low=0,
           high=MAX_LEASE_SECONDS),
    Option("parallelism", int, None, "pods at a time (default: 4)", KUBERNETES, low=1, high=MAX_INDEXES,
           problem=f"a whole number from 1 to {MAX_INDEXES}"),
    Option("completions", int, None, "pods in all, each doing 1/N of the shards (default: min(shards, 4 x "
           "parallelism); at most the number of shards)", KUBERNETES, low=1, high=MAX_INDEXES,
           problem=f"a whole number from 1 to {MAX_INDEXES}"),
    Option("job_template", str, None, "an edited copy of k8s/augment-job.yaml (default: the packaged one)",
           KUBERNETES),
)
BY_NAME = {option.name: option for option in OPTIONS}


class AugmentRequest:
    """A checked, immutable set of options (`OPTIONS`); unknown names and bad values are InputErrors.

    Options of one executor given with the other are refused, as are combinations that
    cannot run (a shard and a queue, a shard with several workers).
    """

    __slots__ = ("_values",)

    def __init__(self, where: str = "", **options: Any) -> None:
        unknown = sorted(set(options) - set(BY_NAME))
        if unknown:
            raise InputError(f"{where}{', '.join(unknown)}: no such augment option; the options are "
                             f"{', '.join(BY_NAME)}")
        values = {name: option.check(options.get(name), where) for name, option in BY_NAME.items()}
        object.__setattr__(self, "_values", values)
        self._check_together(where, {name for name, value in options.items() if value is not None})

    def _check_together(self, where: str, given: set[str]) -> None:
        local = [n for n in (o.name for o in OPTIONS if o.group == LOCAL) if n in given and n != "lease_seconds"
                 and not (n == "workers" and self.workers == 1)]
        remote = [o.name for o in OPTIONS if o.group == KUBERNETES and o.name in given]
        if self.executor == "kubernetes" and local:
            raise InputError(f"{where}{', '.join(local)} do not apply to executor 'kubernetes': the Job's pods share "
                             "the shards; set parallelism (pods at a time) and completions (pods in all) instead")
        if self.executor == "local" and remote:
            raise InputError(f"{where}{', '.join(remote)} apply to executor 'kubernetes' only; pass "
                             "executor='kubernetes' (--executor kubernetes) or leave them out")
        if self.shard is not None and self.queue is not None:
            raise InputError("give either a shard (a fixed share of the work) or a queue (shared leases), not both")
        if self.shards is not None and self.queue is not None:
            raise InputError("--shards applies to --shard and local workers, not to a queue (which holds every "
                             "shard)")
        if self.shard is not None and self.workers != 1:
            raise InputError("a worker given a shard runs alone; start one process per shard instead of "
                             "workers > 1")

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "_values")[name]
        except KeyError:
            raise AttributeError(f"AugmentRequest has no option {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("an AugmentRequest cannot change; make another with replace(...)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AugmentRequest) and self._values == other._values

    def __repr__(self) -> str:
        changed = ", ".join(f"{n}={v!r}" for n, v in self._values.items() if v != BY_NAME[n].default)
        return f"AugmentRequest({changed})"

    def replace(self, **options: Any) -> "AugmentRequest":
        return AugmentRequest(**{**self.given(), **options})

    def given(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        return {n: v for n, v in self._values.items() if v != BY_NAME[n].default}

    def options(self, group: str) -> dict[str, Any]:
        return {o.name: self._values[o.name] for o in OPTIONS if o.group == group}

    def dataset_options(self) -> dict[str, Any]:
        """What the dataset is: `make_plan`'s keyword arguments."""
        return self.options(DATASET)

    def arguments(self, group: str = DATASET) -> list[str]:
        """The options of `group` as command-line arguments (`--name value`, those with a value)."""
        out: list[str] = []
        for option in OPTIONS:
            value = self._values[option.name]
            if option.group == group and value is not None:
                text = ",".join(value) if isinstance(value, (list, tuple)) else str(value)
                out += [option.flag, text]
        return out

    @classmethod
    def from_args(cls, args: Any, groups: Sequence[str] = (DATASET, RUN, LOCAL, KUBERNETES)) -> "AugmentRequest":
        """A request from options parsed by a parser that `add_arguments` filled (absent flags: defaults)."""
        return cls(**{o.name: getattr(args, o.name, None) for o in OPTIONS if o.group in groups})


def add_arguments(parser: Any, group: str) -> None:
    """The flags of one group of options on an argparse parser or argument group (default None:
    the request fills its defaults, so a flag not given and a flag given its default are the same)."""
    for option in OPTIONS:
        if option.group == group:
            metavar = "{" + ",".join(option.choices) + "}" if option.choices else option.name.upper()
            parser.add_argument(option.flag, dest=option.name, type=option.parse, default=None, help=option.help,
                                metavar=metavar)  # choices checked by the request, in the same words everywhere


@dataclass(frozen=True)
class AugmentSection:
    """A config file's `augment:` section: input (default: the search's dataset), output (default:
    `augmented/{id}` in the experiment folder) and the options of `deepaug augment`."""

    input: str | None
    output: str | None
    request: AugmentRequest

    def __getattr__(self, name: str) -> Any:  # the options read as section.format, section.workers, ...
        if name in BY_NAME:
            return getattr(self.request, name)
        raise AttributeError(f"AugmentSection has no {name!r}")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> "AugmentSection":
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise InputError(f"augment must be a mapping of options, got {type(section).__name__}")
        options = dict(section)
        places = {key: options.pop(key, None) for key in ("input", "output")}
        for key, value in places.items():
            if value is not None and not isinstance(value, str):
                raise InputError(f"augment.{key} must be a path or URI, got {value!r}")
        unknown = sorted(set(options) - set(BY_NAME))
        if unknown:
            raise InputError(f"augment.{', augment.'.join(unknown)}: extra key(s), not augment options; the augment "
                             "section takes input, "
                             f"output, {', '.join(BY_NAME)}")
        return cls(places["input"], places["output"], AugmentRequest(where="augment.", **options))
