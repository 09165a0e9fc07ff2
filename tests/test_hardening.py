"""Issue 14's reproduced cases: secrets stay out of records and logs, odd inputs get clear errors."""
from __future__ import annotations

import logging

import pytest
from _augment_data import tree, write_images
from _moto import moto_server, s3_bucket, s3_env  # noqa: F401  (fixtures)
from _redis import redis_server, redis_url  # noqa: F401  (fixtures)

from deepaug.api import augment
from deepaug.augmentation.plan import make_plan
from deepaug.augmentation.request import AugmentRequest, AugmentSection
from deepaug.augmentation.work_queue import WorkQueue
from deepaug.cli import main
from deepaug.errors import InputError
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.run import record_options

OPTIONS = {"variants": 1, "shard_size": 2, "io_threads": 2}


def test_the_augment_record_never_holds_the_queue_password():
    request = AugmentSection.from_config({"queue": "redis://:hunter2@redis.example:6379/0", "variants": 2}).request
    recorded = record_options(request)
    assert "hunter2" not in repr(recorded) and recorded["queue"] == "redis://***@redis.example:6379/0"
    assert recorded["variants"] == 2


def test_verbose_raises_deepaug_s_loggers_only(capsys):
    root = logging.getLogger()
    before = root.level
    try:
        assert main(["-v", "ops"]) == 0
        assert logging.getLogger("deepaug.augmentation").getEffectiveLevel() == logging.DEBUG
        assert logging.getLogger("botocore").getEffectiveLevel() >= logging.INFO  # it logs credential headers
    finally:
        root.setLevel(before)
        logging.getLogger("deepaug").setLevel(logging.NOTSET)


@pytest.mark.parametrize("env", [{"PROXY": "http://user:pa55@proxy:3128"}, {"AWS_ENDPOINT_URL": "https://k:s@minio"}])
def test_kubernetes_env_refuses_values_with_a_password_without_showing_them(env):
    with pytest.raises(ValueError, match="looks like a user:password@") as caught:
        KubernetesSettings(image="i", env=env)
    assert "pa55" not in str(caught.value) and ":s@" not in str(caught.value)
    KubernetesSettings(image="i", env={"AWS_ENDPOINT_URL": "http://minio:9000"})  # no credential: fine


@pytest.mark.parametrize("name, bad", [("lease_seconds", float("inf")), ("lease_seconds", float("nan")),
                                       ("size", 10 ** 20), ("variants", 10 ** 9), ("io_threads", 10 ** 6),
                                       ("workers", 10 ** 6), ("shard", "0/2\x00"), ("queue", "redis://x\x00")])
def test_edge_values_are_clear_errors(name, bad):
    with pytest.raises(InputError, match=f"^{name} must be"):
        AugmentRequest(**{name: bad})


def test_items_that_are_not_shards_of_the_run_are_dropped_not_fatal(tmp_path, redis_url, caplog):  # noqa: F811
    src = tmp_path / "src"
    write_images(src, per_class=3)  # 6 images: 3 shards of 2
    plan = make_plan("reference", src, tmp_path / "out", **OPTIONS)
    queue = WorkQueue.connect(redis_url, f"deepaug:augment:{plan.dataset_id[:16]}")
    queue.seed(["abc", "999", *range(plan.n_shards), "-1"])  # what a stray writer left
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        result = augment("reference", src, tmp_path / "out", queue=redis_url, **OPTIONS)
    assert result.complete and result.manifest["totals"]["images"] == 6
    dropped = [r.getMessage() for r in caplog.records if "not a shard of this run" in r.getMessage()]
    assert len(dropped) == 3 and any("'999'" in m for m in dropped)
    assert queue.finished()


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (8-bit gray) with a tiny, truncated body: what a
    decompression bomb looks like to a reader of headers, without building gigabytes here."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def test_an_image_over_the_pixel_limit_is_skipped_with_its_reason_in_both_loaders(tmp_path, monkeypatch, caplog):
    from deepaug import datasets
    from deepaug.images import header_problem

    src = tmp_path / "src"
    write_images(src, per_class=2)
    (src / "cat" / "bomb.png").write_bytes(bomb_png(20000, 20000))
    assert "20000x20000 pixels, over the limit of 100000000" in header_problem(bomb_png(20000, 20000))
    assert "12000x9000 pixels, over the limit of 100000000" in header_problem(bomb_png(12000, 9000))
    result = augment("reference", src, tmp_path / "out", **OPTIONS)
    skipped = {s["source"]: s["reason"] for s in result.manifest["skipped"]}
    assert "over the limit" in skipped["cat/bomb.png"] and result.manifest["totals"]["images"] == 4
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        data = datasets.load(src)
    assert len(data) == 4 and any("bomb.png (20000x20000 pixels" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("DEEPAUG_MAX_IMAGE_PIXELS", "100")  # settable: now the 24x32 images are over it too
    assert "over the limit of 100" in header_problem((src / "dog" / sorted(p.name for p in (src / "dog").iterdir())[0]
                                                      ).read_bytes())


def test_a_jpeg_bomb_behind_a_stray_byte_is_skipped_with_its_reason_in_both_loaders(tmp_path, caplog):
    # issue 38: a 600-byte JPEG declaring 20000x20000 with a stray byte before its frame header hid its size
    # from the header check, and libjpeg decoded the declared size (2.46 GB)
    from test_images import jpeg_declaring

    from deepaug import datasets
    from deepaug.images import header_problem

    bomb = jpeg_declaring(20000, 20000)
    assert "20000x20000 pixels, over the limit" in header_problem(bomb)
    src = tmp_path / "src"
    write_images(src, per_class=2)
    (src / "cat" / "bomb.jpg").write_bytes(bomb)
    result = augment("reference", src, tmp_path / "out", **OPTIONS)
    skipped = {s["source"]: s["reason"] for s in result.manifest["skipped"]}
    assert "20000x20000 pixels, over the limit" in skipped["cat/bomb.jpg"]
    assert result.manifest["totals"]["images"] == 4
    with caplog.at_level(logging.WARNING, logger="deepaug"):
        data = datasets.load(src, image_size=16)
    assert len(data) == 4 and str(src / "cat" / "bomb.jpg") in data.skipped
    assert any("bomb.jpg (20000x20000 pixels, over the limit" in r.getMessage() for r in caplog.records)


def test_names_that_cannot_become_outputs_are_skipped_with_reasons_before_any_work(tmp_path):
    import os

    src = tmp_path / "src"
    write_images(src, per_class=2)
    long_name = "x" * 230 + ".png"
    (src / "cat" / long_name).write_bytes((src / "cat" / sorted(os.listdir(src / "cat"))[0]).read_bytes())
    with open(os.path.join(os.fsencode(src / "dog"), b"caf\xe9.png"), "wb") as handle:  # Latin-1 bytes: not UTF-8
        handle.write(b"not read")
    result = augment("reference", src, tmp_path / "out", **OPTIONS)
    reasons = {s["source"]: s["reason"] for s in result.manifest["skipped"]}
    assert "234 bytes, too long" in reasons[f"cat/{long_name}"]
    assert reasons["dog/caf\\xe9.png"] == "its name is not valid UTF-8; rename the file"
    assert result.manifest["totals"]["images"] == 4


def test_an_s3_key_with_an_empty_folder_name_does_not_shift_the_labels(tmp_path, s3_bucket):  # noqa: F811
    import boto3

    src = tmp_path / "src"
    write_images(src, per_class=2)
    client = boto3.client("s3")
    for path in sorted(src.rglob("*.*")):
        client.put_object(Bucket=s3_bucket, Key=f"in/{path.relative_to(src).as_posix()}", Body=path.read_bytes())
    client.put_object(Bucket=s3_bucket, Key="in/cat//odd.png", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="in//lead.png", Body=b"x")
    listing = make_plan("reference", f"s3://{s3_bucket}/in", tmp_path / "out", **OPTIONS).listing
    assert listing.classes == ("cat", "dog")
    reasons = {s.source: s.reason for s in listing.skipped}
    assert "empty folder name" in reasons["cat//odd.png"] and "empty folder name" in reasons["/lead.png"]


def test_an_experiment_name_too_long_for_the_file_system_is_refused_before_any_work(tmp_path):
    from _search import tiny_config, toy_data

    from deepaug.api import DeepAugment

    x, y = toy_data()
    with pytest.raises(InputError, match="experiment_name: .*at most 200 bytes"):
        DeepAugment(x, y, tiny_config(tmp_path, experiment_name="e" * 240))
    assert not (tmp_path / "reports").exists()


def test_a_symlinked_class_folder_is_in_both_the_search_and_the_augment_run(tmp_path):
    import os

    import numpy as np

    from deepaug import datasets

    elsewhere = tmp_path / "elsewhere"
    write_images(elsewhere, per_class=2, classes=("bird", "extra"))
    src = tmp_path / "src"
    write_images(src, per_class=2)
    os.symlink(elsewhere / "bird", src / "bird")
    os.symlink(elsewhere / "extra", src / "cat" / "more")  # a symlinked sub-folder inside a class
    os.symlink(src, src / "cat" / "loop")  # a link back up the tree must not loop
    searched = datasets.load(src)
    listing = make_plan("reference", src, tmp_path / "out", **OPTIONS).listing
    assert searched.class_names == listing.classes == ("bird", "cat", "dog")
    assert sorted(k for k in listing.keys if k.startswith("bird/")) == [f"bird/{p.name}" for p in
                                                                         sorted((elsewhere / "bird").iterdir())]
    assert "cat/more/img01.png" in listing.keys and len(searched) == len(listing) == 8
    assert np.bincount(searched.labels).tolist() == np.bincount(listing.labels).tolist() == [2, 4, 2]
    assert [s.source for s in listing.skipped] == ["cat/loop/"]


def test_two_class_folders_linked_to_one_target_are_one_class_with_the_other_skipped_and_said(tmp_path, caplog):
    import json
    import os

    from deepaug import datasets

    store = tmp_path / "store"
    write_images(store, per_class=2, classes=("cat",))
    src = tmp_path / "src"
    write_images(src, per_class=2, classes=("dog",))
    os.symlink(store / "cat", src / "kitten")  # made first: the directory's order must not decide
    os.symlink(store / "cat", src / "cat")
    with caplog.at_level(logging.WARNING):
        searched = datasets.load(src)
    said = caplog.text
    caplog.clear()
    result = augment("reference", src, tmp_path / "out", **OPTIONS)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert searched.class_names == tuple(manifest["input"]["classes"]) == ("cat", "dog")
    assert len(searched) == result.manifest["totals"]["images"] == 4
    [skip] = manifest["skipped"]
    assert skip["source"] == "kitten/"
    for words in ("'kitten'", "'cat'", str((store / "cat").resolve())):
        assert words in skip["reason"]
    assert skip["reason"] in said and skip["reason"] in caplog.text  # logged by both, in the same words


def test_an_npz_whose_header_claims_more_rows_than_it_holds_is_refused_before_any_output(tmp_path):
    import io
    import zipfile

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((10, 8, 8), np.uint8), labels=np.arange(10) % 2)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive, \
            zipfile.ZipFile(tmp_path / "short.npz", "w") as out:
        for name in archive.namelist():
            data = archive.read(name)
            out.writestr(name, data[:-200] if name == "images.npy" else data)  # 2 of its 10 rows cut off
    with pytest.raises(InputError, match="claims shape .*truncated"):
        augment("reference", tmp_path / "short.npz", tmp_path / "out", **OPTIONS)
    assert not (tmp_path / "out").exists()


def test_temp_files_a_killed_search_left_are_removed_by_the_next_run_of_the_experiment(tmp_path):
    from deepaug.search.experiment import Experiment

    exp = Experiment(tmp_path / "exp", policies_dir=tmp_path / "policies")
    (tmp_path / "exp" / "trials" / "0001").mkdir(parents=True)
    (tmp_path / "policies").mkdir()
    left = [tmp_path / "exp" / "trials" / "0001" / ".record.json.123-abcdef.tmp", tmp_path / "exp" / ".notebook.csv.1-2.tmp",
            tmp_path / "policies" / ".exp.json.5-6.tmp"]
    other = tmp_path / "policies" / ".other.json.5-6.tmp"  # another experiment's write, maybe in progress
    for path in [*left, other]:
        path.write_bytes(b"half")
    with exp.owned():
        assert not any(path.exists() for path in left)
    assert other.exists()


def test_saved_weights_get_the_permissions_of_a_plain_open(tmp_path):
    import os

    import keras

    from deepaug.training.models import save_weights

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    save_weights(model, tmp_path / "w.weights.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "w.weights.npz").stat().st_mode & 0o777 == 0o666 & ~mask  # mkstemp made them 0600


def test_an_input_changed_under_the_same_name_is_another_dataset(tmp_path):
    import os

    src = tmp_path / "src"
    write_images(src, per_class=2)
    first = augment("reference", src, tmp_path / "cache" / "{id}", **OPTIONS)
    image = src / "cat" / sorted(os.listdir(src / "cat"))[0]
    image.write_bytes((src / "dog" / sorted(os.listdir(src / "dog"))[0]).read_bytes())  # new content, same name
    second = augment("reference", src, tmp_path / "cache" / "{id}", **OPTIONS)
    assert second.dataset_id != first.dataset_id and not second.cached  # it was returned as "already built"
    with pytest.raises(InputError, match="another dataset|different|differ"):
        augment("reference", src, first.output, **OPTIONS)  # the old output is not mixed with the new input


def test_claiming_an_output_is_atomic_against_a_concurrent_claim_of_another_dataset(tmp_path, monkeypatch):
    import json

    from deepaug.augmentation import workers

    src = tmp_path / "src"
    write_images(src, per_class=2)
    out = tmp_path / "out"
    other = make_plan("reference", src, out, **{**OPTIONS, "variants": 3})
    real = workers.find_output
    calls = []

    def racing(plan, **kwargs):  # another run claims the output between our look and our claim
        calls.append(1)
        if len(calls) == 1:
            out.mkdir(exist_ok=True)
            (out / "_run.json").write_text(json.dumps(other.identity))
            return None
        return real(plan, **kwargs)

    monkeypatch.setattr(workers, "find_output", racing)
    with pytest.raises(InputError, match="already holds another dataset"):
        augment("reference", src, out, **OPTIONS)
    assert json.loads((out / "_run.json").read_text())["dataset_id"] == other.dataset_id  # not overwritten
    assert not (out / "images").exists()


def test_a_run_of_the_same_dataset_starting_beside_ours_is_joined_not_refused(tmp_path, monkeypatch):
    """Two workers of one run starting together (queue workers, --shard on two machines): the other one
    claims the output and writes its first shard between our look at _run.json and our listing."""
    import json

    from deepaug.augmentation import workers

    src = tmp_path / "src"
    write_images(src, per_class=2)
    out = tmp_path / "out"
    augment("reference", src, tmp_path / "alone", **OPTIONS)
    ours = make_plan("reference", src, out, **OPTIONS)
    real, looked = workers.read_json_or_none, []

    def racing(storage, key):
        found = real(storage, key)
        if key == "_run.json" and not looked:  # the other worker claims and writes right after our look
            looked.append(key)
            out.mkdir(exist_ok=True)
            (out / "_run.json").write_text(json.dumps(ours.identity, indent=2, ensure_ascii=False) + "\n")
            (out / "partial-shard-file").write_text("")
        return found

    monkeypatch.setattr(workers, "read_json_or_none", racing)
    assert workers.find_output(ours)[0] == "_run.json"  # before: "is not empty and is not a deepaug dataset"
    (out / "partial-shard-file").unlink()
    assert augment("reference", src, out, **OPTIONS).complete and tree(out) == tree(tmp_path / "alone")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not empty and is not a deepaug dataset"):  # still refused
        workers.find_output(make_plan("reference", src, foreign, **OPTIONS))


# ---------------------------------------------------------------- issue 38: the redaction's bypasses

@pytest.mark.parametrize("value", ["redis://redis:6379/0?password=Hunter2", "redis://default:Hunter@Secret2@redis/0",
                                   "https://minio:9000/b?X-Amz-Signature=Hunter2", "redis://:Hunter/Secret2@redis/0"])
def test_kubernetes_env_refuses_every_form_of_a_password_in_a_url(value):
    with pytest.raises(ValueError, match="QUEUE_URL .its value looks like a .*password.* look like credentials") as caught:
        KubernetesSettings(image="i", env={"QUEUE_URL": value})  # it would be written into the Job's manifest
    assert "Hunter" not in str(caught.value) and "Secret2" not in str(caught.value)
