"""`deepaug augment` to and from storage served through fsspec, on fsspec's own memory:// filesystem
(in-process, real fsspec): the outputs are those of a local run, a second run resumes from them,
and no storage option (where credentials go) reaches a written object or a log line."""
from __future__ import annotations

import logging
import uuid

import pytest

from _augment_data import stored, tree, write_images
from deepaug.api import augment
from deepaug.cli import main
from deepaug.policy.core import as_policy
from deepaug.storage import FsspecStorage, open_storage

ARGS = ["--policy", "reference", "--variants", "2", "--shard-size", "3", "--workers", "1"]


@pytest.fixture
def memory_root():
    root = f"memory://deepaug-augment-tests/{uuid.uuid4().hex}"
    yield root
    store = open_storage(root)
    for path in store.fs.find(store.base):
        store.fs.rm_file(path)


@pytest.fixture
def local_run(tmp_path):
    write_images(tmp_path / "src")
    assert main(["augment", *ARGS, "--input", str(tmp_path / "src"), "--output", str(tmp_path / "out")]) == 0
    return tmp_path / "src", tree(tmp_path / "out")


def test_local_input_to_memory_output_matches_a_local_run_and_resumes(local_run, memory_root, capsys):
    src, expected = local_run
    assert main(["augment", *ARGS, "--input", str(src), "--output", f"{memory_root}/out"]) == 0
    store = open_storage(f"{memory_root}/out")
    assert isinstance(store, FsspecStorage)
    assert stored(store) == expected  # the same images, labels.csv, markers and manifest, and no temp key
    capsys.readouterr()
    assert main(["augment", *ARGS, "--input", str(src), "--output", f"{memory_root}/out"]) == 0
    assert "already built" in capsys.readouterr().out  # the finished dataset is found, nothing is redone
    shard_one = next(key for key in expected if key.startswith("_shards/") and key.endswith("1.json"))
    for key in ("manifest.json", "labels.csv", shard_one):  # as a run killed before shard 1's marker leaves it
        store.delete(key)
    result = augment("reference", src, f"{memory_root}/out", variants=2, shard_size=3, workers=1)
    assert result.complete and not result.cached and result.shards_done_here == 1  # only the one not marked
    assert stored(store) == expected


def test_memory_input_to_memory_output_keeps_storage_options_out_of_files_and_logs(local_run, memory_root,
                                                                                   caplog):
    src, expected = local_run
    source = open_storage(f"{memory_root}/src/images")
    for key, data in tree(src).items():
        source.write(key, data)
    policy = f"{memory_root}/src/policies/reference.json"  # the policy file is in the store too
    open_storage(f"{memory_root}/src").write("policies/reference.json", as_policy("reference").to_json().encode())
    secret = "sv=2026&sig=do-not-write-me"
    with caplog.at_level(logging.DEBUG):
        result = augment(policy, f"{memory_root}/src/images", f"{memory_root}/out", variants=2, shard_size=3,
                         workers=1, storage_options={"sas_token": secret})
    assert result.complete
    written = stored(open_storage(f"{memory_root}/out"))
    images = {key: data for key, data in expected.items() if key.startswith("images/")}
    assert {key: written[key] for key in images} == images  # the same bytes as from the local folder
    assert not any(secret.encode() in data for data in written.values())
    assert secret not in caplog.text and "sas_token" not in caplog.text
    assert secret not in repr(open_storage(f"{memory_root}/out", sas_token=secret))
