"""The augmentation run on local files: names, labels, manifest, determinism, shards, cache, errors."""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re

import numpy as np
import pytest

from _augment_data import add_bad_files, as_array, markers, tree, write_images
from deepaug.api import augment
from deepaug.augmentation.run import AugmentResult
from deepaug.cli.augment import add_parser
from deepaug.errors import InputError, PolicyError
from deepaug.augmentation.shards import Share, parse_share, share_shards, shard_bounds, shard_count

OPTIONS = {"variants": 2, "shard_size": 3, "io_threads": 2}


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    write_images(root)
    return root


def labels_rows(root):
    return list(csv.DictReader(io.StringIO((root / "labels.csv").read_text())))


def test_outputs_labels_and_manifest(src, tmp_path):
    bad = add_bad_files(src)
    result = augment("reference", src, tmp_path / "out", **OPTIONS)
    out = tmp_path / "out"
    assert isinstance(result, AugmentResult) and result.complete and not result.cached
    files = tree(out)
    images = sorted(k for k in files if k.startswith("images/"))
    stems = [f"{k.split('.')[0]}" for k in sorted(p.relative_to(src).as_posix() for p in src.rglob("img*"))]
    assert images == sorted(f"images/{s}{suffix}.png" for s in stems for suffix in ("", "_v1", "_v2"))
    rows = labels_rows(out)
    assert [r["output"] for r in rows] == sorted(images, key=lambda k: (k.split("/")[1], k))  # listing order
    for row in rows:
        assert hashlib.sha256(files[row["output"]]).hexdigest() == row["sha256"]
        assert row["class"] == row["source"].split("/")[0] and row["label"] == str(["cat", "dog"].index(row["class"]))
    manifest = json.loads(files["manifest.json"])
    assert manifest["totals"] == {"images": 12, "outputs": 36, "skipped": len(bad)}
    assert {s["source"] for s in manifest["skipped"]} == set(bad)
    for skip in manifest["skipped"]:
        assert bad[skip["source"]] in skip["reason"]
    assert manifest["labels"]["sha256"] == hashlib.sha256(files["labels.csv"]).hexdigest()
    assert len(manifest["shards"]) == manifest["output"]["shards"] == shard_count(14, 3)  # 12 good + 2 corrupt
    assert sum(s["images"] + s["skipped"] for s in manifest["shards"]) == 14
    assert manifest["recipe"]["variants"] == 2 and manifest["recipe"]["policy"]["format_version"] == 1
    assert markers(files) == set(range(5)) and not any(".tmp" in k for k in files)
    grey = as_array(files["images/dog/img01.png"])
    assert grey.ndim == 2 and as_array(files["images/dog/img01_v1.png"]).shape == grey.shape


def test_same_request_same_bytes_and_variants_do_not_depend_on_k(src, tmp_path):
    augment("reference", src, tmp_path / "a", **OPTIONS)
    augment("reference", src, tmp_path / "b", **OPTIONS)
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert first == second
    augment("reference", src, tmp_path / "c", **(OPTIONS | {"variants": 1, "shard_size": 5}))
    third = tree(tmp_path / "c")
    for key, data in third.items():
        if key.startswith("images/"):
            assert data == first[key]  # v1 and the original are the same with K=1 and K=2
    differs = augment("reference", src, tmp_path / "d", **(OPTIONS | {"seed": 1}))
    assert differs.dataset_id != augment("reference", src, tmp_path / "a", **OPTIONS).dataset_id
    reseeded = tree(tmp_path / "d")
    variants = [k for k in first if "_v" in k]
    assert sum(reseeded[k] != first[k] for k in variants) > len(variants) // 2
    assert all(reseeded[k] == first[k] for k in first if k.startswith("images/") and "_v" not in k)


def test_same_dataset_again_is_returned_without_recomputing(src, tmp_path, monkeypatch):
    first = augment("reference", src, tmp_path / "out", **OPTIONS)
    before = tree(tmp_path / "out")

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a shard of a complete dataset")

    monkeypatch.setattr("deepaug.augmentation.workers.Worker.process", fail)
    again = augment("reference", str(src) + "/", str(tmp_path / "out"), **OPTIONS)
    assert again.cached and again.complete and again.dataset_id == first.dataset_id
    assert again.manifest == first.manifest and tree(tmp_path / "out") == before
    monkeypatch.undo()
    cache = augment("reference", src, str(tmp_path / "cache" / "{id}"), **OPTIONS)
    assert cache.output.endswith(first.dataset_id[:16]) and not cache.cached
    with pytest.raises(InputError, match="another dataset.*variants"):
        augment("reference", src, tmp_path / "out", **(OPTIONS | {"variants": 3}))


def test_a_file_replaced_keeping_its_size_and_time_is_another_dataset_and_its_new_pixels_are_used(tmp_path):
    import os

    import cv2

    from _images import natural_batch

    src, old, new = tmp_path / "src", *natural_batch(2, 16, 20, 3, seed=5)
    for name in ("cat", "dog"):
        (src / name).mkdir(parents=True)
        cv2.imwrite(str(src / name / "a.bmp"), natural_batch(1, 16, 20, 3, seed=len(name))[0])
    cv2.imwrite(str(src / "cat" / "b.bmp"), old)
    out = str(tmp_path / "cache" / "{id}")
    first = augment("reference", src, out, **OPTIONS)
    assert augment("reference", src, out, **OPTIONS).cached  # unchanged: reused
    path = src / "cat" / "b.bmp"
    status = path.stat()
    cv2.imwrite(str(path), new)  # other bytes, same size (a BMP's size is its shape's), time put back: cp -p
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    second = augment("reference", src, out, **OPTIONS)
    assert not second.cached and second.complete and second.dataset_id != first.dataset_id
    written = tree(tmp_path / "cache" / second.dataset_id[:16])["images/cat/b.png"]
    assert np.array_equal(as_array(written), new) and not np.array_equal(new, old)  # the new pixels
    assert augment("reference", src, out, **OPTIONS).cached


@pytest.mark.parametrize("n_shards", [0, 1, 5, 17])
def test_shares_cover_every_shard_exactly_once(n_shards):
    for count in (1, 2, 3, 7, 20):
        seen = [s for i in range(count) for s in share_shards(Share(i, count), n_shards)]
        assert seen == list(range(n_shards))
        sizes = [len(share_shards(Share(i, count), n_shards)) for i in range(count)]
        assert max(sizes) - min(sizes) <= 1
    bounds = [shard_bounds(s, 250, 100) for s in range(shard_count(250, 100))]
    assert bounds == [(0, 100), (100, 200), (200, 250)]


def test_parse_share(monkeypatch):
    assert parse_share("2/5") == Share(2, 5)
    assert parse_share("/4", {"JOB_COMPLETION_INDEX": "3"}) == Share(3, 4)
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    for bad, words in (("5/5", "0 <= I < N"), ("a/b", "write I/N"), ("/2", "JOB_COMPLETION_INDEX"), ("1/0", "N >= 1")):
        with pytest.raises(InputError, match=words):
            parse_share(bad)


@pytest.mark.parametrize("count", [2, 3])
def test_shard_workers_each_do_their_share_and_the_last_writes_the_manifest(src, tmp_path, monkeypatch, count):
    augment("reference", src, tmp_path / "whole", **OPTIONS)
    out = tmp_path / "sharded"
    for index in range(count):
        if index == 1:  # as a pod of an Indexed Job
            monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
            result = augment("reference", src, out, shard=f"/{count}", **OPTIONS)
        else:
            result = augment("reference", src, out, shard=f"{index}/{count}", **OPTIONS)
        last = index == count - 1
        assert result.complete == last and (out / "manifest.json").exists() == last
        assert result.shards_done_here == len(share_shards(Share(index, count), 4))
    assert tree(out) == tree(tmp_path / "whole")


def test_chain_names_every_subset_from_its_parent(src, tmp_path):
    result = augment(None, src, tmp_path / "out", chain="horizontal-flip,invert,rotate:0.3", shard_size=4)
    files = tree(tmp_path / "out")
    suffixes = ["", "_a", "_b", "_c", "_ab", "_ac", "_bc", "_abc"]
    assert sorted(k for k in files if k.startswith("images/cat/img02")) == sorted(
        f"images/cat/img02{s}.png" for s in suffixes)
    original = as_array(files["images/cat/img02.png"])
    flipped = as_array(files["images/cat/img02_a.png"])
    assert np.array_equal(flipped, original[:, ::-1])
    assert np.array_equal(as_array(files["images/cat/img02_ab.png"]), 255 - flipped)  # a, then b
    assert np.array_equal(as_array(files["images/cat/img02_b.png"]), 255 - original)
    chain = result.manifest["recipe"]["chain"]
    assert [(c["letter"], c["op"], c["magnitude"]) for c in chain] == [
        ("a", "horizontal-flip", 0.5), ("b", "invert", 0.5), ("c", "rotate", 0.3)]
    assert result.manifest["recipe"]["policy"] is None and result.manifest["totals"]["outputs"] == 12 * 8


def test_tfrecord_holds_the_same_images_and_labels(src, tmp_path):
    from deepaug.augmentation.tfrecord import read_records

    png = augment("reference", src, tmp_path / "png", **OPTIONS)
    result = augment("reference", src, tmp_path / "tf", format="tfrecord", **OPTIONS)
    files = tree(tmp_path / "tf")
    assert not any(k.startswith("images/") for k in files)
    assert sorted(k for k in files if k.startswith("records/")) == [f"records/shard-{s:06d}-0.tfrecord"
                                                                     for s in range(4)]
    example_class = _example_class()
    rows = labels_rows(tmp_path / "tf")
    png_rows = labels_rows(tmp_path / "png")
    records = {k: list(read_records(v)) for k, v in files.items() if k.startswith("records/")}
    assert [r["sha256"] for r in rows] == [r["sha256"] for r in png_rows]  # same encoded bytes inside
    for row, png_row in zip(rows, png_rows):
        example = example_class.FromString(records[row["output"]][int(row["record"])])
        feature = example.features.feature
        encoded = feature["image/encoded"].bytes_list.value[0]
        assert encoded == (tmp_path / "png" / png_row["output"]).read_bytes()
        assert feature["image/class/label"].int64_list.value[0] == int(row["label"])
        assert feature["image/class/text"].bytes_list.value[0].decode() == row["class"]
        assert feature["image/filename"].bytes_list.value[0].decode() == png_row["output"][len("images/"):]
        assert feature["image/height"].int64_list.value[0] == as_array(encoded).shape[0]
    assert result.manifest["shards"][0]["files"] == {
        "records/shard-000000-0.tfrecord": hashlib.sha256(files["records/shard-000000-0.tfrecord"]).hexdigest()}
    assert png.manifest["labels"]["sha256"] != result.manifest["labels"]["sha256"]


def _example_class():
    """tf.train.Example built from its .proto definition with protobuf alone (no TensorFlow import)."""
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="example_test.proto", package="tfx", syntax="proto3")

    def message(name, *fields):
        msg = proto.message_type.add(name=name)
        for number, (field_name, kind, label, type_name) in enumerate(fields, 1):
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
        return msg

    message("BytesList", ("value", F.TYPE_BYTES, F.LABEL_REPEATED, ""))
    message("FloatList", ("value", F.TYPE_FLOAT, F.LABEL_REPEATED, ""))
    message("Int64List", ("value", F.TYPE_INT64, F.LABEL_REPEATED, ""))
    feature = message("Feature", ("bytes_list", F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tfx.BytesList"),
                      ("float_list", F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tfx.FloatList"),
                      ("int64_list", F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tfx.Int64List"))
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0
    features = message("Features", ("feature", F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tfx.Features.FeatureEntry"))
    entry = features.nested_type.add(name="FeatureEntry")
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=".tfx.Feature")
    entry.options.map_entry = True
    message("Example", ("features", F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tfx.Features"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tfx.Example"))


def test_npz_input_size_and_crop(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 20, 28), dtype=np.uint8)
    np.savez(tmp_path / "data.npz", images=images, labels=np.array([3, 1, 3, 1, 3, 1, 3]))
    result = augment("reference", tmp_path / "data.npz", tmp_path / "out", variants=1, size=16, shard_size=3)
    files = tree(tmp_path / "out")
    assert result.manifest["input"]["kind"] == "npz" and result.manifest["totals"]["images"] == 7
    assert "images/3/000000.png" in files and "images/1/000001_v1.png" in files
    original = as_array(files["images/3/000000.png"])
    assert original.shape == (16, 16)
    expected = augment("reference", tmp_path / "data.npz", tmp_path / "again", variants=1, size=16, shard_size=3)
    assert expected.manifest == result.manifest
    rand = augment("reference", tmp_path / "data.npz", tmp_path / "rand", variants=0, size=16, crop="random")
    assert rand.manifest["recipe"]["crop"] == "random"


def test_an_npz_labelled_by_class_names_writes_a_folder_per_name(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (5, 10, 10), dtype=np.uint8)
    names = np.array(["sneaker", "ankle boot", "sneaker", "bag", "ankle boot"])
    np.savez(tmp_path / "named.npz", images=images, labels=names)
    result = augment("reference", tmp_path / "named.npz", tmp_path / "out", variants=1, shard_size=2)
    files = tree(tmp_path / "out")
    assert result.manifest["input"]["classes"] == ["ankle boot", "bag", "sneaker"]
    assert {"images/sneaker/000000.png", "images/ankle boot/000004_v1.png", "images/bag/000003.png"} <= files.keys()
    rows = list(csv.DictReader(io.StringIO(files["labels.csv"].decode())))
    assert [(r["label"], r["class"]) for r in rows if not r["variant"]][:2] == [("2", "sneaker"), ("0", "ankle boot")]
    for bad in ("../up", ".hidden", "a/b", "tab\there", ".."):
        np.savez(tmp_path / "bad.npz", images=images, labels=np.array([bad, "ok", bad, "ok", "ok"]))
        with pytest.raises(InputError, match=f"class name {re.escape(repr(bad))} cannot name an output folder"):
            augment("reference", tmp_path / "bad.npz", tmp_path / "never", variants=1)
        assert not (tmp_path / "never").exists(), bad


def test_npz_input_in_every_form_the_search_reads(tmp_path):
    # Keras-style arrays (x / 255 floats, to_categorical labels) augment as their uint8 originals do
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 12, 12, 3), dtype=np.uint8)
    labels = np.array([0, 2, 1, 2, 0, 1])
    np.savez(tmp_path / "uint8.npz", images=images, labels=labels)
    reference = augment("reference", tmp_path / "uint8.npz", tmp_path / "ref", variants=1, shard_size=4)
    forms = {"floats": (images / 255.0, np.eye(3)[labels]), "float255": (images.astype(np.float32), labels * 1.0),
             "int16": (images.astype(np.int16), labels[:, None])}
    for name, (x, y) in forms.items():
        np.savez(tmp_path / f"{name}.npz", images=x, labels=y)
        result = augment("reference", tmp_path / f"{name}.npz", tmp_path / name, variants=1, shard_size=4)
        assert tree(tmp_path / name).keys() == tree(tmp_path / "ref").keys(), name
        for key, data in tree(tmp_path / "ref").items():
            if key.startswith("images/"):
                assert tree(tmp_path / name)[key] == data, (name, key)
        assert result.manifest["totals"] == reference.manifest["totals"]
    bad = {"half levels": (images / 255.0 + 0.5 / 255.0 * (images < 255), labels,
                           r"in \[0, 1\] that are not whole 8-bit levels.*np\.rint\(x \* 255\)"),
           "half levels of 255": (images + 0.5 * (images < 255), labels,
                                  r"in \[0, 255\] that are not whole 8-bit levels.*np\.rint\(x\)\.astype"),
           "negative": (images.astype(np.int16) - 1, labels, r"outside 0\.\.255 \(min -1"),
           "nan": (np.where(images > 250, np.nan, images / 255.0), labels, "NaN"),
           "soft labels": (images, np.full((6, 3), 1 / 3), "not one-hot")}
    for name, (x, y, message) in bad.items():
        np.savez(tmp_path / "bad.npz", images=x, labels=y)
        with pytest.raises(InputError, match=message):
            augment("reference", tmp_path / "bad.npz", tmp_path / "never", variants=1)
        assert not (tmp_path / "never").exists(), name


def test_bad_requests_are_clear_errors(src, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is empty"):
        augment("reference", tmp_path / "empty", tmp_path / "o1")
    with pytest.raises(InputError, match="does not exist"):
        augment("reference", tmp_path / "nowhere", tmp_path / "o2")
    with pytest.raises(InputError, match="overlaps the input"):
        augment("reference", src, src / "augmented")
    with pytest.raises(InputError, match="overlaps the input"):
        augment("reference", src, src)
    (tmp_path / "bad.json").write_text('{"format_version": 1, "sub_policies": [[{"op": "nope"}]]}')
    with pytest.raises(PolicyError):
        augment(tmp_path / "bad.json", src, tmp_path / "o3")
    with pytest.raises(PolicyError, match="neither an existing file"):
        augment(tmp_path / "missing.json", src, tmp_path / "o3")
    with pytest.raises(InputError, match="not both"):
        augment("reference", src, tmp_path / "o4", chain="invert")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.pdf").write_bytes(b"%PDF")
    with pytest.raises(InputError, match="not a deepaug dataset"):
        augment("reference", src, tmp_path / "busy")
    (src / "cat" / "img00.png").write_bytes((src / "dog" / "img01.png").read_bytes())  # img00.jpg exists too
    with pytest.raises(InputError, match="overwrite each other"):
        augment("reference", src, tmp_path / "o5")
    (tmp_path / "o6").mkdir()
    assert not any((tmp_path / "o6").iterdir())  # nothing written for refused requests


def test_workers_share_the_shards_with_the_same_bytes(src, tmp_path):
    augment("reference", src, tmp_path / "one", **OPTIONS)
    result = augment("reference", src, tmp_path / "two", workers=2, **OPTIONS)
    assert result.complete and result.shards_done_here == 4
    assert tree(tmp_path / "two") == tree(tmp_path / "one")


def test_cli_augment(src, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="deepaug")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["augment", "--policy", "reference", "--input", str(src), "--output",
                              str(tmp_path / "out"), "--variants", "1", "--size", "20", "--format", "jpeg"])
    assert args.func(args) == 0
    assert "complete: 12 images -> 24 outputs" in capsys.readouterr().out
    assert as_array((tmp_path / "out" / "images" / "cat" / "img02_v1.jpg").read_bytes()).shape == (20, 20, 3)


def test_crc32c_and_record_framing():
    from deepaug.augmentation.tfrecord import _bytewise, crc32c, crc32c_numpy, frame, read_records

    rng = np.random.default_rng(0)
    for n in (0, 1, 255, 256, 1000, 4097, 70001):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c(data) == crc32c_numpy(data) == _bytewise(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    assert crc32c(b"123456789") == crc32c_numpy(b"123456789") == 0xE3069283  # the CRC-32C check value
    records = [b"", b"one", bytes(5000)]
    data = b"".join(frame(r) for r in records)
    assert list(read_records(data)) == records
    damaged = bytearray(data)
    damaged[30] ^= 1
    with pytest.raises(ValueError, match="CRC"):
        list(read_records(bytes(damaged)))
    with pytest.raises(ValueError, match="truncated"):
        list(read_records(data[:-3]))


def test_chain_and_recipe_errors():
    from deepaug.augmentation.variants import Chain

    with pytest.raises(InputError, match="bad chain op 'nope'"):
        Chain.parse("rotate,nope")
    with pytest.raises(InputError, match="op:magnitude"):
        Chain.parse("rotate:lots")
    with pytest.raises(InputError, match="1 to 10 ops"):
        Chain.parse(",".join(["invert"] * 11))
    assert Chain.parse(["invert", "rotate:0.2"]).subsets() == ["a", "b", "ab"]


@pytest.mark.parametrize("syncfs", [True, False])
def test_local_output_files_are_whole_durable_and_plain(tmp_path, monkeypatch, syncfs):
    import os
    from concurrent.futures import ThreadPoolExecutor

    from deepaug.storage import atomic
    from deepaug.storage.backends import LocalStorage

    if not syncfs:
        monkeypatch.setattr(atomic, "_syncfs", lambda: None)  # the fsync-per-file path of other systems
    files = LocalStorage(tmp_path).batch_writer()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: files.write(f"images/c/{i}.png", bytes([i]) * 100), range(20)))
        files.sync(pool)
    written = sorted((tmp_path / "images" / "c").iterdir())
    assert [p.name for p in written] == sorted(f"{i}.png" for i in range(20))  # no temp file left
    assert all(p.read_bytes() == bytes([int(p.stem)]) * 100 for p in written)
    mask = os.umask(0)
    os.umask(mask)
    assert {p.stat().st_mode & 0o777 for p in written} == {0o666 & ~mask}  # as a plain open() would
    assert files.paths == []
    with pytest.raises(InputError, match="bad key"):
        files.write("../outside.png", b"x")


def test_a_shard_syncs_its_files_and_folders_before_its_marker_and_a_failed_write_leaves_no_marker(
        tmp_path, monkeypatch):
    from deepaug.augmentation import outputs
    from deepaug.storage import atomic
    from deepaug.storage.backends import LocalStorage

    events: list[str] = []
    monkeypatch.setattr(atomic, "_syncfs", lambda: lambda fd: events.append("syncfs") or -1)  # syncfs fails
    monkeypatch.setattr(atomic, "fsync_path", lambda path: events.append(f"fsync {path.relative_to(tmp_path)}"))
    storage = LocalStorage(tmp_path)
    write = storage.write
    monkeypatch.setattr(storage, "write", lambda key, data: events.append(f"write {key}") or write(key, data))
    image = np.zeros((4, 4, 3), np.uint8)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        writer = outputs.ShardWriter(storage, 0, "d" * 64, "png", 95, pool)
        writer.add_image("c/a.png", 0, "c", "c/a", [("", image), ("1", image)])
        writer.close()
    fsynced = sorted(e for e in events if e.startswith("fsync"))
    assert fsynced == ["fsync images/c", "fsync images/c/a.png", "fsync images/c/a_1.png"]
    last_sync = max(i for i, e in enumerate(events) if e.startswith(("syncfs", "fsync")))
    assert events.index("syncfs") < last_sync < events.index(f"write {outputs.labels_part_key(0)}") \
        < events.index(f"write {outputs.marker_key(0)}")

    def failing(path):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic, "fsync_path", failing)  # the disk lost a write: no marker may vouch for it
    with ThreadPoolExecutor(2) as pool:
        writer = outputs.ShardWriter(storage, 1, "d" * 64, "png", 95, pool)
        writer.add_image("c/b.png", 0, "c", "c/b", [("", image)])
        with pytest.raises(OSError, match="Input/output"):
            writer.close()
    assert not (tmp_path / outputs.marker_key(1)).exists()


def test_shards_limits_the_work_to_a_list_that_shard_then_shares_out(tmp_path):
    from deepaug.errors import InputError

    write_images(tmp_path / "src")  # 12 images, shard size 2: 6 shards
    done = [augment("reference", tmp_path / "src", tmp_path / "out", shard_size=2, shard=f"{i}/2",
                    shards="1,3-4").shards_done_here for i in range(2)]
    assert done == [1, 2]  # shards [1] and [3, 4]
    assert sorted(p.name for p in (tmp_path / "out" / "_shards").glob("*.json")) == [
        "shard-000001.json", "shard-000003.json", "shard-000004.json"]
    rest = augment("reference", tmp_path / "src", tmp_path / "out", shard_size=2, shards=[0, 2, 5])
    assert rest.complete and rest.shards_done_here == 3
    with pytest.raises(InputError, match="does not fit this dataset, which has shards 0-5"):
        augment("reference", tmp_path / "src", tmp_path / "other", shard_size=2, shards="4-999999999999")
    for bad, words in (("3-1", "bad --shards"), ("3-", "bad --shards"), ("\u00b2", "bad --shards"),
                       (",", "empty"), ([1.5], "list of shard numbers"), (3, "list of shard numbers")):
        with pytest.raises(InputError, match=words):
            augment("reference", tmp_path / "src", tmp_path / "other", shard_size=2, shards=bad)
    assert not (tmp_path / "other").exists()  # refused before the output was claimed


def test_png_compression_trades_size_for_speed_with_the_same_pixels_and_its_own_dataset_id(tmp_path):
    import cv2

    from deepaug.errors import InputError

    write_images(tmp_path / "src")
    default = augment("reference", tmp_path / "src", tmp_path / "l3", variants=1)
    fast = augment("reference", tmp_path / "src", tmp_path / "l1", variants=1, png_compression=1)
    assert fast.dataset_id != default.dataset_id and fast.manifest["output"]["png_compression"] == 1
    pngs = sorted(p.relative_to(tmp_path / "l3") for p in (tmp_path / "l3").rglob("*.png"))
    assert pngs == sorted(p.relative_to(tmp_path / "l1") for p in (tmp_path / "l1").rglob("*.png"))
    size = {level: sum((tmp_path / level / p).stat().st_size for p in pngs) for level in ("l1", "l3")}
    assert size["l1"] > size["l3"]  # level 1 compresses less...
    for p in pngs:  # ...and the pixels are the same (PNG is lossless)
        assert np.array_equal(cv2.imread(str(tmp_path / "l1" / p), cv2.IMREAD_UNCHANGED),
                              cv2.imread(str(tmp_path / "l3" / p), cv2.IMREAD_UNCHANGED))
    with pytest.raises(InputError, match="png_compression must be an integer in 0..9"):
        augment("reference", tmp_path / "src", tmp_path / "bad", png_compression=10)
