"""An .npz input on S3 (a real moto server on loopback): a worker fetches only the zip's directory and
its shards' rows by ranged GETs, nothing goes to TMPDIR, and the outputs are those of the same .npz
read locally; a compressed .npz is downloaded into TMPDIR, which is checked for room first."""
from __future__ import annotations

import shlex
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import botocore.client
import numpy as np
import pytest

from _augment_data import in_namespace, namespace_mounts, tree
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)
from deepaug.api import augment
from deepaug.augmentation.inputs import InputReader, list_input
from deepaug.storage.backends import S3Storage

OPTIONS = {"variants": 1, "shard_size": 50}


def _npz(path, n=2000, compressed=False):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 3
    (np.savez_compressed if compressed else np.savez)(path, images=images, labels=labels)
    return images


@pytest.fixture
def fetched(monkeypatch):
    """Bytes of every GetObject answer in this process (what S3 sent), counted at botocore's call."""
    counts = {"bytes": 0}
    call = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        answer = call(self, operation, params)
        if operation == "GetObject":
            counts["bytes"] += int(answer.get("ContentLength", 0))
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    return counts


def test_a_worker_fetches_only_its_rows_of_an_s3_npz_and_nothing_goes_to_tmpdir(tmp_path, s3_bucket, fetched,
                                                                                 monkeypatch):
    images = _npz(tmp_path / "data.npz")
    size = (tmp_path / "data.npz").stat().st_size
    S3Storage(s3_bucket).write("in/data.npz", (tmp_path / "data.npz").read_bytes())
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    listing = list_input(f"s3://{s3_bucket}/in/data.npz")
    assert size <= fetched["bytes"] < 1.2 * size  # the listing hashes the object: streamed once, no more

    fetched["bytes"] = 0
    reader = InputReader(listing)
    with ThreadPoolExecutor(2) as pool:
        rows = dict(reader.read_shard(1000, 1100, pool))
    reader.close()
    assert all(np.array_equal(rows[i], images[i]) for i in range(1000, 1100))
    assert 100 * 28 * 28 <= fetched["bytes"] < size / 8  # its rows and the zip's directory, not the object
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
def test_an_s3_npz_gives_the_images_of_the_same_npz_read_locally(tmp_path, s3_bucket, compressed):
    _npz(tmp_path / "data.npz", n=120, compressed=compressed)
    S3Storage(s3_bucket).write("in/data.npz", (tmp_path / "data.npz").read_bytes())
    augment("reference", f"s3://{s3_bucket}/in/data.npz", tmp_path / "from-s3", **OPTIONS)
    augment("reference", tmp_path / "data.npz", tmp_path / "local", **OPTIONS)
    here, there = tree(tmp_path / "local"), tree(tmp_path / "from-s3")
    assert {k: v for k, v in here.items() if k.startswith("images/")} == \
        {k: v for k, v in there.items() if k.startswith("images/")}
    assert len([k for k in here if k.startswith("images/")]) == 240


def test_a_tmpdir_too_small_for_a_compressed_s3_npz_is_named_before_the_download(tmp_path, s3_bucket):
    if not namespace_mounts(tmp_path):
        pytest.skip("no user+mount namespace here (unshare -rm) to mount a small real TMPDIR in")
    rng = np.random.default_rng(1)
    np.savez_compressed(tmp_path / "c.npz", images=rng.integers(0, 256, (300, 64, 64), dtype=np.uint8),
                        labels=np.arange(300) % 2)  # random pixels: about 1.2 MB even compressed
    S3Storage(s3_bucket).write("in/c.npz", (tmp_path / "c.npz").read_bytes())
    small = tmp_path / "small"
    small.mkdir()
    command = shlex.join([sys.executable, "-m", "deepaug", "augment", "--policy", "reference", "--variants", "1",
                          "--input", f"s3://{s3_bucket}/in/c.npz", "--output", str(tmp_path / "out")])
    done = in_namespace(f"""
        mount -t tmpfs -o size=256k tmpfs {small}
        TMPDIR={small} {command} 2> {tmp_path}/first.err; echo $? > {tmp_path}/first.rc
        {command} 2> {tmp_path}/second.err; echo $? > {tmp_path}/second.rc""")
    assert done.returncode == 0, done.stderr
    first = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "1" and "Traceback" not in first, first
    assert f"downloading s3://{s3_bucket}/in/c.npz needs 1." in first and f"in {small} " in first, first
    assert "set TMPDIR to a folder with room, then run the same command again" in first
    assert (tmp_path / "second.rc").read_text().strip() == "0", (tmp_path / "second.err").read_text()
    assert "manifest.json" in tree(tmp_path / "out")
