"""Memory, bytes downloaded and TMPDIR used when an .npz input is read from S3 (issues 14 and 38).

Starts a moto S3 server on loopback, uploads an .npz of uint8 images (np.savez), then in a fresh
process per phase measures what `deepaug augment` does: "list" (the main process lists the input:
its hash covers every byte) and "shard" (a worker reads one shard's 1,000 rows, given the listing
as a worker is). Each reports the process's peak RSS, the bytes S3 sent (the GetObject answers'
Content-Length, counted at botocore's call) and the most bytes this process held in TMPDIR files.
Run it from the tree to measure, with PYTHONPATH=. (its phases import deepaug from the current folder).

    cd TREE && PYTHONPATH=. python /path/to/bench/npz_s3_memory.py --images 100000
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
import os, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor

def hwm():  # peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited through exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

import botocore.client
import numpy as np
from deepaug.augmentation import inputs

sent, held, call = [0], [0], botocore.client.BaseClient._make_api_call

def counting(self, operation, params):
    answer = call(self, operation, params)
    sent[0] += int(answer.get("ContentLength", 0)) if operation == "GetObject" else 0
    return answer

botocore.client.BaseClient._make_api_call = counting
tmp = os.path.realpath(tempfile.gettempdir())

def watch_tmpdir():  # the bytes of this process's open files in TMPDIR (deleted ones too), every 5 ms
    while True:
        total = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith(tmp + "/"):
                    total += os.fstat(int(fd)).st_size
            except OSError:
                pass
        held[0] = max(held[0], total)
        time.sleep(0.005)

threading.Thread(target=watch_tmpdir, daemon=True).start()
phase, uri = sys.argv[1], sys.argv[2]
base = hwm()
if phase == "list":
    what = f"listed {len(inputs.list_input(uri).keys)} images"
else:
    listing = inputs.Listing(uri, "npz", (), np.zeros(0, np.int64), (), (), "", 0)
    reader = inputs.InputReader(listing)
    with ThreadPoolExecutor(2) as pool:
        rows = [image for _, image in reader.read_shard(0, 1000, pool)]
    reader.close()
    what = f"read {len(rows)} rows"
time.sleep(0.02)
peak = hwm()
print(f"{phase:5s}: peak RSS {peak:.0f} MiB ({peak - base:+.0f} MiB after imports), S3 sent "
      f"{sent[0] / 2**20:.2f} MiB, TMPDIR held {held[0] / 2**20:.1f} MiB; {what}")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000, help="28x28 uint8 images in the .npz")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
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
        print(f".npz of {args.images} images: {size / 2**20:.1f} MiB")
        for phase in ("list", "shard"):
            out = subprocess.run([sys.executable, "-c", CASE, phase, "s3://bench/in/data.npz"], env=env,
                                 capture_output=True, text=True)
            print(out.stdout.strip() or out.stderr[-2000:])
    finally:
        server.stop()


if __name__ == "__main__":
    main()
