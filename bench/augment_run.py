"""Throughput and memory of the full augmentation run (`deepaug augment`) on real images.

Datasets (built once under --workdir):

* ``fashion``: Fashion-MNIST train images (the Debian package's IDX files), upscaled
  from 28x28 to ``--fashion-size`` pixels (bilinear), as PNGs in one folder per class;
  written as PNG files, and as TFRecord shards;
* ``photos``: full-size photos: distinct crops (300..427 x 400..640 pixels, random
  positions, seed 0) of scikit-learn's two bundled sample photos, JPEG in, JPEG out.

For each case, each store (local disk; tmpfs, i.e. the same without the file system's
per-file cost; S3 served by a moto server on loopback) and 1 and 2 workers (interleaved,
``--repeats`` / ``--s3-repeats`` times, the fastest kept), one fresh process runs
`augment()` (built-in `reference` policy, ``--variants`` variants) and reports input
images per second (listing, every shard and the manifest, worker start-up included; not
interpreter start-up), the CPU time of the workers per image, the S3 requests per image
and the S3 server's CPU time per request, and the workers' peak RSS (VmHWM). Input and output are on the same store. The moto server is
a separate process on the same 2 cores, so it competes with the workers for CPU as no
real S3 endpoint would; its CPU time and request count are reported (so its CPU per
request, and the requests per image, can be seen).
Memory: one worker on ``--memory N`` and 10N fashion images, local disk.
``--baseline DIR`` also measures every case with the deepaug package found in DIR (e.g.
``git archive HEAD~1 | tar -x -C DIR``), interleaved with the current one, so a change is
judged against its baseline under the same machine load.

Run:  PYTHONPATH=. python bench/augment_run.py [--fashion 4000] [--photos 1000] [--repeats 2]
                                               [--variants 4] [--memory 1000] [--markdown FILE] [--quick]
                                               [--baseline DIR]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import emit

log = logging.getLogger("bench.augment_run")
REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def make_fashion(folder: Path, n: int, size: int) -> Path:
    import cv2

    from deepaug import datasets

    if folder.is_dir() and sum(1 for _ in folder.rglob("*.png")) == n:
        return folder
    data = datasets.load("fashion_mnist")
    for i in range(n):
        image = cv2.resize(data.images[i, ..., 0], (size, size), interpolation=cv2.INTER_LINEAR)
        path = folder / f"class{int(data.labels[i])}" / f"{i:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
    return folder


def make_photos(folder: Path, n: int) -> Path:
    import cv2
    from sklearn.datasets import load_sample_images

    if folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == n:
        return folder
    sample = load_sample_images()
    rng = np.random.default_rng(0)
    for i in range(n):
        which = i % len(sample.images)
        photo = sample.images[which]
        h, w = int(rng.integers(300, photo.shape[0] + 1)), int(rng.integers(400, photo.shape[1] + 1))
        top, left = int(rng.integers(photo.shape[0] - h + 1)), int(rng.integers(photo.shape[1] - w + 1))
        path = folder / Path(sample.filenames[which]).stem / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(photo[top:top + h, left:left + w], cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
    return folder


# ---------------------------------------------------------------- the measured process

def _status(pid: int | str, field: str) -> float:
    """A /proc/<pid>/status field in MiB (VmHWM: this process image's peak RSS; not inherited over exec)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int | str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class ChildWatch(threading.Thread):
    """Samples the peak RSS and CPU time of this process's child processes (the pool workers)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.cpu, self.stop = 0.0, {}, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            for task in Path("/proc/self/task").iterdir():
                for pid in (task / "children").read_text().split():
                    try:
                        self.peak = max(self.peak, _status(pid, "VmHWM"))
                        self.cpu[pid] = cpu_seconds(pid)
                    except (OSError, ValueError):
                        pass


def child(args: argparse.Namespace) -> None:
    """One measured run in this fresh process; prints a JSON line."""
    import cv2

    from deepaug.api import augment

    cv2.setNumThreads(1)
    watch = ChildWatch()
    watch.start()
    cpu0, started = cpu_seconds("self"), time.perf_counter()
    result = augment("reference", args.input, args.output, variants=args.variants, workers=args.workers,
                     format=args.format, shard_size=args.shard_size)
    seconds = time.perf_counter() - started
    watch.stop.set()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # exact CPU of the reaped pool workers
    workers_cpu = max(usage.ru_utime + usage.ru_stime, sum(watch.cpu.values()))
    manifest = result.manifest or {}
    print(json.dumps({"seconds": seconds, "images": manifest.get("totals", {}).get("images"),
                      "outputs": manifest.get("totals", {}).get("outputs"),
                      "cpu": cpu_seconds("self") - cpu0 + workers_cpu,
                      "rss_mib": watch.peak if args.workers > 1 else _status("self", "VmHWM"),
                      "labels_sha256": manifest.get("labels", {}).get("sha256")}))


# ---------------------------------------------------------------- S3 server and the driver

class RequestCounter(logging.Handler):
    """Counts the requests the moto server answers (werkzeug logs one line per request)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def moto_main(port: int) -> None:
    """The S3 server process: answers each line on stdin with the number of requests served so far."""
    from moto.server import ThreadedMotoServer

    counter = RequestCounter()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.addHandler(counter)
    werkzeug.propagate = False
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    print("ready", flush=True)
    for _ in sys.stdin:
        print(counter.count, flush=True)


class S3Server:
    """A moto server on loopback in its own process: its pid, CPU time and request count."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, __file__, "--moto", str(port)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"
        self.endpoint = f"http://127.0.0.1:{port}"
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                          AWS_ENDPOINT_URL=self.endpoint, AWS_EC2_METADATA_DISABLED="true")

    def requests(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def upload(folder: Path, uri: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from deepaug.storage.backends import open_storage

    store = open_storage(uri)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: store.write(p.relative_to(folder).as_posix(), p.read_bytes()), files))


def remove(uri: str) -> None:
    """Delete a measured output (moto keeps every object in memory)."""
    if not uri.startswith("s3://"):
        shutil.rmtree(uri, ignore_errors=True)
        return
    from deepaug.storage.backends import S3Storage, parse_s3_uri

    store = S3Storage(*parse_s3_uri(uri))
    keys = [store.uri(k).split("/", 3)[3] for k in store.list()]
    for start in range(0, len(keys), 1000):
        store.client.delete_objects(Bucket=store.bucket,
                                    Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})


def measure(src: str, dst: str, workers: int, fmt: str, args: argparse.Namespace, server: S3Server,
            code: Path = REPO) -> dict[str, Any]:
    """One fresh process running augment() with the deepaug package under `code`."""
    command = [sys.executable, __file__, "--child", "--input", src, "--output", dst, "--workers", str(workers),
               "--variants", str(args.variants), "--format", fmt, "--shard-size", str(args.shard_size)]
    server0, requests0, load = server.cpu(), server.requests(), os.getloadavg()[0]
    done = subprocess.run(command, env=dict(os.environ, PYTHONPATH=str(code)), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(images_per_s=result["images"] / result["seconds"], server_cpu=server.cpu() - server0,
                  requests=server.requests() - requests0, load=load)
    log.info("[%s] %s -> %s (%s), %d worker(s): %d images in %.1f s = %.1f images/s, worker CPU %.1f s, S3 server "
             "CPU %.1f s for %d requests, peak RSS %.0f MiB, load %.1f", code, src, dst, fmt, workers,
             result["images"], result["seconds"], result["images_per_s"], result["cpu"], result["server_cpu"],
             result["requests"], result["rss_mib"], load)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fashion", type=int, default=4000, help="Fashion-MNIST images (default: 4000)")
    parser.add_argument("--fashion-size", type=int, default=112, help="upscaled side (default: 112)")
    parser.add_argument("--photos", type=int, default=1000, help="photo crops (default: 1000)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per local case; the fastest is kept (default: 2)")
    parser.add_argument("--s3-repeats", type=int, default=1, help="runs per S3 case (default: 1)")
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--shard-size", type=int, default=100)
    parser.add_argument("--memory", type=int, default=1000, help="memory check on N and 10N images (default: 1000)")
    parser.add_argument("--tmpfs", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="also measure input and output on this tmpfs folder (default: /dev/shm; '' to skip)")
    parser.add_argument("--workdir", default=None, help="where inputs and outputs go (default: a temp folder)")
    parser.add_argument("--markdown", default=None, help="also write the results tables here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--baseline", default=None,
                        help="also measure the deepaug package in this folder (a checkout of the code before a change)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--moto", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--format", default="png", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.moto is not None:
        return moto_main(args.moto)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.quick:
        args.fashion, args.photos, args.memory, args.repeats, args.s3_repeats = 200, 12, 100, 1, 1
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-augment-run-"))
    run_id = time.strftime("%Y%m%d-%H%M%S")
    fashion = make_fashion(work / f"fashion-{args.fashion}-{args.fashion_size}", args.fashion, args.fashion_size)
    photos = make_photos(work / f"photos-{args.photos}", args.photos)
    cases = [("fashion", fashion, "png"), ("fashion", fashion, "tfrecord"), ("photos", photos, "jpeg")]
    memory_inputs = [(n, make_fashion(work / f"fashion-{n}-{args.fashion_size}", n, args.fashion_size))
                     for n in (args.memory, 10 * args.memory)]
    codes = [("current", REPO)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
    server = S3Server()
    shm = Path(tempfile.mkdtemp(prefix="bench-augment-run-", dir=args.tmpfs)) if args.tmpfs else None
    try:
        import boto3

        boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket="bench")
        for name, folder in (("fashion", fashion), ("photos", photos)):
            upload(folder, f"s3://bench/{name}/input")
            if shm is not None:
                shutil.copytree(folder, shm / name)
        rows = [row for name, folder, fmt in cases for row in run_case(name, folder, fmt, shm, work / "out" / run_id,
                                                                       run_id, codes, args, server)]
        memory = []
        for n, folder in memory_inputs:
            dst = str(work / "out" / run_id / f"memory-{n}")
            memory.append((n, measure(str(folder), dst, 1, "png", args, server)))
            remove(dst)
    finally:
        server.stop()
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)
    text = report(rows, memory, args)
    emit(text, args.markdown)


Row = tuple[str, str, str, str, int, dict[str, Any]]  # dataset, output format, store, code, workers, result


def run_case(name: str, folder: Path, fmt: str, shm: Path | None, out: Path, run_id: str,
             codes: list[tuple[str, Path]], args: argparse.Namespace, server: S3Server) -> list[Row]:
    """Every store x code x worker count of one case, interleaved; the fastest run of each kept."""
    rows: list[Row] = []
    for store in ("local", "tmpfs", "s3") if shm is not None else ("local", "s3"):
        src = {"local": str(folder), "tmpfs": str(shm / name) if shm else "", "s3": f"s3://bench/{name}/input"}[store]
        best: dict[tuple[str, int], dict[str, Any]] = {}
        for repeat in range(args.s3_repeats if store == "s3" else args.repeats):
            for label, code in codes:
                for workers in (1, 2):
                    tail = f"{name}-{fmt}-{label}-{workers}-{repeat}"
                    dst = {"local": str(out / tail), "tmpfs": str(shm / "out" / tail) if shm else "",
                           "s3": f"s3://bench/{name}/out-{run_id}-{tail}"}[store]
                    result = measure(src, dst, workers, fmt, args, server, code)
                    remove(dst)
                    if (label, workers) not in best or result["images_per_s"] > best[label, workers]["images_per_s"]:
                        best[label, workers] = result
        rows += [(name, fmt, store, label, workers, best[label, workers]) for label, _ in codes for workers in (1, 2)]
    return rows


def report(rows: list[Row], memory: list[tuple[int, dict[str, Any]]], args: argparse.Namespace) -> str:
    by = {(name, fmt, store, code, workers): r for name, fmt, store, code, workers, r in rows}
    lines = ["| dataset | output | store | code | workers | images | outputs | seconds | images/s | x 1 worker "
             "| x local disk | x baseline | worker CPU ms/image | S3 requests/image | S3 server CPU ms/request "
             "| peak RSS per worker (MiB) | load |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: |"]
    for name, fmt, store, code, workers, r in rows:
        scale = r["images_per_s"] / by[(name, fmt, store, code, 1)]["images_per_s"]
        versus = r["images_per_s"] / by[(name, fmt, "local", code, workers)]["images_per_s"]
        base = by.get((name, fmt, store, "baseline", workers))
        gain = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base is not None else "-"
        s3 = store == "s3" and r["requests"] > 0
        requests = f"{r['requests'] / r['images']:.2f}" if s3 else "-"
        server = f"{1000 * r['server_cpu'] / r['requests']:.2f}" if s3 else "-"
        lines.append(f"| {name} | {fmt} | {store} | {code} | {workers} | {r['images']} | {r['outputs']} "
                     f"| {r['seconds']:.1f} | {r['images_per_s']:.1f} | {scale:.2f}x | {versus:.2f}x | {gain} "
                     f"| {1000 * r['cpu'] / r['images']:.1f} | {requests} | {server} | {r['rss_mib']:.0f} "
                     f"| {r['load']:.1f} |")
    same = {}
    for name, fmt, _, _, _, r in rows:
        same.setdefault((name, fmt), set()).add(r["labels_sha256"])
    lines += ["", "Same labels.csv checksum (every output's SHA-256) across stores, code and worker counts: "
              + ", ".join(f"{n} {f} {'yes' if len(s) == 1 else 'NO'}" for (n, f), s in sorted(same.items())) + ".",
              "", "| memory check (fashion, png, local, 1 worker) | images | seconds | images/s | peak RSS (MiB) |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for n, r in memory:
        lines.append(f"| {n} images | {r['images']} | {r['seconds']:.1f} | {r['images_per_s']:.1f} | "
                     f"{r['rss_mib']:.0f} |")
    growth = memory[1][1]["rss_mib"] / memory[0][1]["rss_mib"]
    lines += ["", f"Peak RSS at 10x the images: {growth:.2f}x. Variants per image: {args.variants}; policy: built-in "
              f"`reference`; shard size {args.shard_size}; fashion {args.fashion_size}x{args.fashion_size} grey; "
              "load = 1-minute load average when the run started (2 cores)."]
    return "\n".join(lines)

if __name__ == "__main__":
    main()
