"""Small real inputs for the augmentation-run tests, and ways to compare whole outputs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from _images import natural_batch
from deepaug.storage.backends import Storage

REPO = Path(__file__).resolve().parents[1]

# Runs `python -m deepaug augment ARGS` but SIGKILLs itself right after the first image of
# shard KILL_SHARD was handed to the writer: mid-shard, with writes possibly in flight.
KILLING_RUNNER = """
import os, signal, sys
from deepaug.augmentation import outputs

kill_shard = int(os.environ["KILL_SHARD"])
add_image = outputs.ShardWriter.add_image

def add_and_maybe_die(self, *args, **kwargs):
    add_image(self, *args, **kwargs)
    if self.shard == kill_shard and self.images == 1:
        os.kill(os.getpid(), signal.SIGKILL)

outputs.ShardWriter.add_image = add_and_maybe_die
from deepaug.cli import main
sys.exit(main(["augment", *sys.argv[1:]]))
"""


def write_images(root: Path, per_class: int = 6, classes: tuple[str, ...] = ("cat", "dog"),
                 shape: tuple[int, int] = (24, 32), seed: int = 0) -> list[str]:
    """PNG and JPEG files (colour, one grey) in class folders; returns their keys, sorted."""
    keys = []
    images = natural_batch(per_class * len(classes), *shape, 3, seed=seed)
    for i, image in enumerate(images):
        cls = classes[i % len(classes)]
        ext = "jpg" if i % 3 == 0 else "png"
        key = f"{cls}/img{i:02d}.{ext}"
        (root / cls).mkdir(parents=True, exist_ok=True)
        picture = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if i == 1 else image
        assert cv2.imwrite(str(root / key), picture)
        keys.append(key)
    return sorted(keys)


def add_bad_files(root: Path) -> dict[str, str]:
    """A truncated PNG, a corrupt JPEG, a non-image and a hidden file; source key -> words of its reason."""
    good = next(root.glob("*/*.png")).read_bytes()
    (root / "cat" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "dog" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "cat" / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "README.md").write_text("top-level file")
    return {"cat/truncated.png": "truncated", "dog/corrupt.jpg": "decoded", "dog/notes.txt": "not an image",
            "cat/.DS_Store": "hidden", "README.md": "class folder"}


def upload(root: Path, storage: Storage) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        storage.write(path.relative_to(root).as_posix(), path.read_bytes())


def tree(root: Path) -> dict[str, bytes]:
    """Every file under a local folder (hidden ones too) -> its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def stored(storage: Storage) -> dict[str, bytes]:
    return {key: storage.read(key) for key in storage.list()}


def run_killed(args: list[str], kill_shard: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m deepaug augment ARGS` in a subprocess that SIGKILLs itself mid-shard `kill_shard`."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO), environment.get("PYTHONPATH", "")])
    environment["KILL_SHARD"] = str(kill_shard)
    return subprocess.run([sys.executable, "-c", KILLING_RUNNER, *args], env=environment, capture_output=True,
                          text=True, timeout=120)


def markers(files: dict[str, bytes] | list[str]) -> set[int]:
    return {int(k[len("_shards/shard-"):-len(".json")]) for k in files
            if k.startswith("_shards/") and k.endswith(".json")}


def as_array(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def namespace_mounts(tmp: Path) -> bool:
    """Whether this machine lets an unprivileged user mount a tmpfs in a namespace of its own."""
    (tmp / "probe").mkdir()
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {tmp / 'probe'}"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def in_namespace(script: str) -> subprocess.CompletedProcess:
    """Run a shell script as root of a new user and mount namespace (its mounts vanish with it), with
    this repository importable."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(["unshare", "-rm", "sh", "-uc", script], env=env, capture_output=True, text=True,
                          timeout=300)
