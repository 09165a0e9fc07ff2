"""Faults: a worker SIGKILLed mid-shard then a re-run, on S3 (moto on loopback) and on local disk.

The killed worker is a real `python -m deepaug augment` process that kills itself with
SIGKILL right after the first image of a shard (tests/_augment_data.py), so the kill lands
mid-shard with writes in flight at a known place; nothing in deepaug is mocked.
"""
from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from _augment_data import add_bad_files, as_array, markers, run_killed, stored, tree, upload, write_images
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)
from deepaug.api import augment
from deepaug.augmentation.outputs import check_names, name_limit
from deepaug.errors import InputError
from deepaug.storage.backends import S3Storage

ARGS = ["--policy", "reference", "--variants", "2", "--shard-size", "2", "--io-threads", "4"]
OPTIONS = {"variants": 2, "shard_size": 2, "io_threads": 4}


def test_killed_mid_shard_on_s3_then_rerun_matches_an_uninterrupted_run(tmp_path, s3_bucket):
    write_images(tmp_path / "src")
    add_bad_files(tmp_path / "src")
    upload(tmp_path / "src", S3Storage(s3_bucket, "raw"))
    src, dst, ref = f"s3://{s3_bucket}/raw/", f"s3://{s3_bucket}/augmented", f"s3://{s3_bucket}/reference"
    augment("reference", src, ref, **OPTIONS)

    killed = run_killed(ARGS + ["--input", src, "--output", dst], kill_shard=4)  # shard 3: the two bad files
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    partial = stored(S3Storage(s3_bucket, "augmented"))
    assert markers(partial) == {0, 1, 2, 3} and "manifest.json" not in partial
    images = [data for key, data in partial.items() if key.startswith("images/")]
    assert images and all(as_array(data) is not None for data in images)  # no half-written image is visible

    result = augment("reference", src, dst, **OPTIONS)
    assert result.complete and result.shards_done_here == result.shards - 4
    finished, reference = stored(S3Storage(s3_bucket, "augmented")), stored(S3Storage(s3_bucket, "reference"))
    assert finished == reference  # same keys (no duplicates, nothing missing), same bytes, same manifest
    manifest = json.loads(finished["manifest.json"])
    assert manifest["totals"]["images"] == 12 and manifest["totals"]["skipped"] == 5


def test_killed_mid_shard_on_local_disk_leaves_no_partial_files_after_rerun(tmp_path):
    write_images(tmp_path / "src")
    augment("reference", tmp_path / "src", tmp_path / "ref", **OPTIONS)
    killed = run_killed(ARGS + ["--input", str(tmp_path / "src"), "--output", str(tmp_path / "out")], kill_shard=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert markers(tree(tmp_path / "out")) == {0, 1}
    result = augment("reference", tmp_path / "src", tmp_path / "out", **OPTIONS)
    assert result.complete and result.shards_done_here == 4
    assert tree(tmp_path / "out") == tree(tmp_path / "ref")  # hidden temp files included: none left


def test_s3_listing_reads_every_page_including_the_last_partial_one(tmp_path, s3_bucket):
    write_images(tmp_path / "src", per_class=5)  # 10 images + 1 non-image: 11 keys, pages of 4
    (tmp_path / "src" / "cat" / "labels.txt").write_text("x")
    upload(tmp_path / "src", S3Storage(s3_bucket, "raw"))
    result = augment("reference", f"s3://{s3_bucket}/raw", tmp_path / "out", variants=1, shard_size=3,
                     storage_options={"page_size": 4})
    assert result.manifest["input"]["files_listed"] == 11
    assert result.manifest["totals"] == {"images": 10, "outputs": 20, "skipped": 1}
    sources = {line.split(",")[4] for line in (tmp_path / "out" / "labels.csv").read_text().splitlines()[1:]}
    assert sources == {p.relative_to(tmp_path / "src").as_posix() for p in (tmp_path / "src").rglob("img*")}


def test_s3_input_errors_are_clear(tmp_path, s3_bucket):
    with pytest.raises(InputError, match="is empty"):
        augment("reference", f"s3://{s3_bucket}/nothing-here/", tmp_path / "o")
    with pytest.raises(InputError, match="does not exist"):
        augment("reference", "s3://no-such-bucket-deepaug/raw/", tmp_path / "o")
    with pytest.raises(InputError, match="overlaps the input"):
        augment("reference", f"s3://{s3_bucket}/raw/", f"s3://{s3_bucket}/raw/augmented/")
    S3Storage(s3_bucket, "raw").write("cat/a.png", b"x")
    with pytest.raises(InputError, match="overlaps the input"):
        augment("reference", f"s3://{s3_bucket}/raw/cat", f"s3://{s3_bucket}/raw")


# ---------------------------------------------------------------- issue 38: names too long for a path component

@pytest.mark.parametrize("name", ["c" * 300, "\u00e9" * 255, "\u65e5" * 86])  # 300, 510 and 258 bytes in UTF-8
def test_an_npz_class_name_too_long_for_a_folder_is_refused_before_any_output(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "long.npz", images=images, labels=np.array(["ok", name, "ok", name]))
    size = len(name.encode("utf-8"))
    with pytest.raises(InputError, match=f"class name '{name[:40]}'... is {size} bytes in UTF-8, longer than a "
                                         "folder name may be \\(255 bytes\\); shorten the class names"):
        augment("reference", tmp_path / "long.npz", tmp_path / "out", **OPTIONS)
    assert not (tmp_path / "out").exists()  # nothing written, not even _run.json


def test_an_npz_class_name_of_255_bytes_is_a_folder(tmp_path):
    longest = "\u00e9" * 127 + "a"  # 255 bytes in UTF-8: the limit itself
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "edge.npz", images=images, labels=np.array(["ok", longest, "ok", longest]))
    result = augment("reference", tmp_path / "edge.npz", tmp_path / "out", **OPTIONS)
    assert result.complete and {f"images/{longest}/000001_v2.png", "images/ok/000002.png"} <= tree(tmp_path / "out").keys()


def test_every_output_name_is_checked_against_the_limit_with_what_deepaug_adds(tmp_path):
    assert name_limit(str(tmp_path / "not" / "yet")) == 255 and name_limit("s3://bucket/out") == 255
    suffixes = ["v1", "v10"]
    check_names(["cat/" + "x" * 227], ["cat/a.png"], suffixes)  # 227 + "_v10.png" + temp name (20): 255 bytes
    with pytest.raises(InputError, match="longest variant suffix \\('v10'\\), .* is 256 bytes"):
        check_names(["cat/" + "x" * 228], ["cat/a.png"], suffixes)
    with pytest.raises(InputError, match="output folder name 'dddddd.*'... is 256 bytes"):  # an S3 class folder
        check_names(["ok/1", "d" * 256 + "/1"], ["ok/1.png", "d" * 256 + "/1.png"], suffixes)
    with pytest.raises(InputError, match="is 240 bytes in UTF-8, longer than a name may be here \\(200 bytes\\)"):
        check_names(["ok/" + "s" * 240 + "/1"], ["x"], [], limit=200)  # a sub-folder, a lower limit
