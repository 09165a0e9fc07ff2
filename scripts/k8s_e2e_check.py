"""The Python half of scripts/k8s-e2e.sh: make its S3 bucket and input, then check what the run left.

    python scripts/k8s_e2e_check.py prepare s3://bucket/prefix 400 [--create-bucket]
        writes the first 400 images of digits' training split as an .npz to
        s3://bucket/prefix/input/digits-train.npz (first making the bucket, for the script's MinIO)
        and prints that URI
    python scripts/k8s_e2e_check.py check REPORTS/experiments/NAME 400
        checks the experiment of `deepaug run`: best_policy.json is a policy, augment.json says
        complete, and the augmented output holds images x (variants + 1) image files, as its
        manifest says; prints one line, or exits 1 saying what is wrong

Credentials come from the environment (boto3's chain, AWS_ENDPOINT_URL); none is printed.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from deepaug.datasets import load
from deepaug.policy.core import Policy
from deepaug.storage.backends import join, open_storage, parse_s3_uri, read_json_or_none

INPUT_KEY = "input/digits-train.npz"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tfrecord")


class CheckFailed(Exception):
    """What the end-to-end run got wrong."""


def prepare(storage_uri: str, count: int, create_bucket: bool = False) -> str:
    """Write digits' first `count` training images as an .npz under `storage_uri`; its URI."""
    if create_bucket:
        import boto3  # the s3 extra; only the script's own MinIO needs a bucket made

        bucket, _ = parse_s3_uri(storage_uri)
        client = boto3.client("s3")
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=bucket)
    data = load("digits")
    images = data.images[:count]
    buffer = io.BytesIO()
    np.savez(buffer, images=images[..., 0] if images.shape[-1] == 1 else images, labels=data.labels[:count])
    open_storage(storage_uri).write(INPUT_KEY, buffer.getvalue())
    return join(storage_uri, INPUT_KEY)


def check(experiment: Path, count: int) -> str:
    """CheckFailed unless the run's experiment folder and its augmented output are complete; a summary."""
    best = experiment / "best_policy.json"
    if not best.is_file():
        raise CheckFailed(f"{best} is missing: the search ended without a best policy (see its trial records)")
    Policy.from_dict(json.loads(best.read_text()))
    record_path = experiment / "augment.json"
    if not record_path.is_file():
        raise CheckFailed(f"{record_path} is missing: the augmentation after the search did not start")
    record = json.loads(record_path.read_text())
    if not record.get("complete"):
        raise CheckFailed(f"{record_path} says the augmentation is not complete: {record.get('error', 'no error')}")
    storage = open_storage(record["output"])
    manifest = read_json_or_none(storage, "manifest.json")
    if manifest is None:
        raise CheckFailed(f"{storage.uri('manifest.json')} is missing although augment.json says complete")
    variants = int(manifest["recipe"].get("variants") or record["options"].get("variants", 0))
    totals = manifest["totals"]
    files = sum(1 for key in storage.list("images/") if key.lower().endswith(IMAGE_SUFFIXES))
    wanted = count * (variants + 1)
    if (totals["images"], totals["outputs"], files) != (count, wanted, wanted):
        raise CheckFailed(f"{storage.uri()}: {count} input images x {variants + 1} should give {wanted} outputs; "
                          f"the manifest counts {totals['images']} images and {totals['outputs']} outputs, and "
                          f"{files} image files are stored")
    return (f"best policy {best}; dataset {manifest['dataset_id'][:16]} in {storage.uri()}: {count} images, "
            f"{files} outputs ({variants} variants each, and the original)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8s_e2e_check.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("prepare")
    make.add_argument("storage")
    make.add_argument("count", type=int)
    make.add_argument("--create-bucket", action="store_true")
    verify = sub.add_parser("check")
    verify.add_argument("experiment", type=Path)
    verify.add_argument("count", type=int)
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            print(prepare(args.storage, args.count, args.create_bucket))
        else:
            print(check(args.experiment, args.count))
    except CheckFailed as exc:
        print(f"k8s-e2e: check failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
