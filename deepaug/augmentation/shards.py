"""Shards: how the sorted input listing is cut into units of work, and which ones a worker does.

A shard is a fixed block of `shard_size` consecutive images of the sorted listing: shard
`s` holds images `s * shard_size` up to the next shard's first. It is the unit of output
(one labels part, one completion marker, TFRecord files of its own), of resumption and
of queue leases, so the output does not depend on how many workers made it.

A worker's share (`--shard I/N`) is the I-th of N contiguous, near-equal runs of shards:
every shard belongs to exactly one share for any N, and shares of the same N never
overlap. In a pod of a Kubernetes Indexed Job, `--shard /N` takes I from the
`JOB_COMPLETION_INDEX` environment variable.

>>> share = parse_share("1/3")
>>> list(share_shards(share, 10)), shard_bounds(2, 250, 100)
([3, 4, 5], (200, 250))
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from deepaug.errors import InputError

INDEX_VARIABLE = "JOB_COMPLETION_INDEX"
_SHARE = re.compile(r"^\s*(\d*)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Share:
    """Worker `index` of `count` (0 <= index < count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"bad shard {self.index}/{self.count}: use I/N with N >= 1 and 0 <= I < N "
                             "(worker I of N, counting from 0)")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_share(spec: str, environ: Mapping[str, str] | None = None) -> Share:
    """'I/N' -> Share(I, N); '/N' takes I from JOB_COMPLETION_INDEX (set in Indexed Job pods)."""
    match = _SHARE.match(str(spec))
    if not match:
        raise InputError(f"bad --shard {spec!r}: write I/N (worker I of N, from 0), e.g. 0/4, or /N in a "
                         f"Kubernetes Indexed Job pod to take I from ${INDEX_VARIABLE}")
    index_text, count = match.group(1), int(match.group(2))
    if not index_text:
        env = os.environ if environ is None else environ
        index_text = env.get(INDEX_VARIABLE, "")
        if not index_text.strip().isdigit():
            raise InputError(f"--shard {spec!r} takes the worker index from ${INDEX_VARIABLE}, which is "
                             f"{'not set' if not index_text else f'{index_text!r}, not a number'}; pass I/N "
                             "explicitly or run in a Kubernetes Indexed Job")
    return Share(int(index_text), count)


def check_shard_size(shard_size: int) -> int:
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise InputError(f"shard_size must be a positive number of images, got {shard_size!r}")
    return shard_size


def shard_count(n_items: int, shard_size: int) -> int:
    """Number of shards of a listing of `n_items` images (the last one may be short)."""
    return -(-n_items // check_shard_size(shard_size))


def shard_bounds(shard: int, n_items: int, shard_size: int) -> tuple[int, int]:
    """(start, stop) indices into the listing of shard `shard`."""
    total = shard_count(n_items, shard_size)
    if not 0 <= shard < total:
        raise IndexError(f"shard {shard} does not exist; the listing has {total} shard(s)")
    start = shard * shard_size
    return start, min(n_items, start + shard_size)


def share_shards(share: Share, n_shards: int) -> range:
    """The shards worker `share` does: a contiguous run, sizes differing by at most one shard."""
    return range(share.index * n_shards // share.count, (share.index + 1) * n_shards // share.count)


def ranges_text(numbers: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (the format of --shards, and of an Indexed Job's completedIndexes)."""
    runs: list[list[int]] = []
    for k in sorted(set(numbers)):
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


_RANGE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")


def range_pairs(text: str, what: str = "--shards") -> list[tuple[int, int]]:
    """'0-2,5' -> [(0, 2), (5, 5)], checked but not expanded; InputError naming `what` when malformed."""
    pairs = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        match = _RANGE.match(part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise InputError(f"bad {what} {text!r}: write shard numbers and ranges such as 0-3,7,10-12")
        pairs.append((int(match.group(1)), int(match.group(2) or match.group(1))))
    return pairs


def parse_ranges(text: str, what: str = "--shards") -> list[int]:
    """'0-2,5' -> [0, 1, 2, 5] (sorted, no repeats); InputError naming `what` when malformed."""
    return sorted({k for first, last in range_pairs(text, what) for k in range(first, last + 1)})


def shares_of(share: Share | None, shards: Sequence[int]) -> list[int]:
    """The part of `shards` (a sorted list) that worker `share` does; all of them without a share."""
    if share is None:
        return list(shards)
    return [shards[k] for k in share_shards(share, len(shards))]


def shard_name(shard: int) -> str:
    """The shard's name in output keys: 'shard-000012'."""
    return f"shard-{shard:06d}"
