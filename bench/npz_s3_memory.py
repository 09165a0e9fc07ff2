"""Memory of reading an .npz input from S3 (issue 14): streamed to a temp file vs held whole.

Starts a moto S3 server on loopback, uploads an .npz of uint8 images, then in a fresh process
per case lists it and reads one shard's rows as `deepaug augment` does, and reports the
process's peak RSS. "whole" is the old behaviour (the object read into memory); "streamed" is
`S3Storage.open_read` (downloaded into a local temp file).

    PYTHONPATH=. .venv/bin/python bench/npz_s3_memory.py --images 200000
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys

import numpy as np

CASE = r"""
import io, os, sys

def hwm():  # peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited through exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

from deepaug.augmentation import inputs
from deepaug.storage.s3 import S3Storage
if sys.argv[1] == "whole":
    S3Storage.open_read = lambda self, key: io.BytesIO(self.read(key))
base = hwm()
listing = inputs.list_input(sys.argv[2])
handle, where = inputs._open_npz(sys.argv[2], {})
import zipfile
member = inputs._npz_arrays(zipfile.ZipFile(handle), where)[0]
rows = member.rows(0, 1000)
peak = hwm()
print(f"{sys.argv[1]}: peak RSS {peak:.0f} MiB ({peak - base:.0f} MiB above the {base:.0f} MiB after imports), "
      f"listed {len(listing.keys)} images, read rows {rows.shape}")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200_000, help="28x28 uint8 images in the .npz")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="x",
               AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    os.environ.update(env)
    try:
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket="bench")
        buffer = io.BytesIO()
        rng = np.random.default_rng(0)
        np.savez(buffer, images=rng.integers(0, 256, (args.images, 28, 28), dtype=np.uint8),
                 labels=rng.integers(0, 10, args.images))
        size = buffer.tell()
        buffer.seek(0)
        client.upload_fileobj(buffer, "bench", "in/data.npz")
        print(f".npz of {args.images} images: {size / 2**20:.0f} MiB")
        for case in ("whole", "streamed"):
            out = subprocess.run([sys.executable, "-c", CASE, case, "s3://bench/in/data.npz"], env=env,
                                 capture_output=True, text=True)
            print(out.stdout.strip() or out.stderr[-2000:])
    finally:
        server.stop()


if __name__ == "__main__":
    main()
