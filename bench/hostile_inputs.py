"""What hostile inputs cost: image bombs and policy bombs (issue 38), each in a fresh process.

- *image bomb*: a 630-byte JPEG whose size marker, behind one stray byte, declares 20000 x 20000
  pixels, among 4 good PNGs in a class folder, loaded with `deepaug.datasets.load(folder,
  image_size=16)`: the images kept and the process's peak memory (ru_maxrss).
- *policy bombs*: `deepaug.policy.as_policy` on an 8 KB YAML alias bomb, a million sub-policies
  as JSON text, 10,000-deep JSON and YAML, and `rand-m` + 300 digits: the seconds until it
  returns or refuses, and what it did.

Only public calls that older commits also have, so the same script measures before and after:
point PYTHONPATH at the checkout to measure.

Run:  PYTHONPATH=. python bench/hostile_inputs.py
"""
from __future__ import annotations

import subprocess
import sys

IMAGE_BOMB = r'''
import logging, pathlib, resource, tempfile
import numpy as np
import cv2
from deepaug import datasets
logging.disable(logging.WARNING)
root = pathlib.Path(tempfile.mkdtemp())
for cls in ("cat", "dog"):
    (root / cls).mkdir()
    for i in range(2):
        cv2.imwrite(str(root / cls / f"{i}.png"), np.full((24, 32, 3), 40 * i, np.uint8))
small = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()
at = small.index(b"\xff\xc0")
frame = bytearray(small[at:])
frame[5:9] = (20000).to_bytes(2, "big") * 2
bomb = small[:at] + b"\x00" + bytes(frame)
(root / "cat" / "bomb.jpg").write_bytes(bomb)
data = datasets.load(root, image_size=16)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{len(bomb)}-byte bomb among 4 PNGs: {len(data)} images kept, peak memory {peak:.0f} MB")
'''

POLICY_BOMB = r'''
import json, sys, time
from deepaug.policy import as_policy
op = {"op": "identity", "probability": 1.0, "magnitude": 0.0}
w = 1000
aliases = ("format_version: 1\nsub_policies: [&s [&o {op: identity, probability: 1.0, magnitude: 0.0}"
           + ", *o" * (w - 1) + "]" + ", *s" * (w - 1) + "]\n")
million = '{"format_version": 1, "sub_policies": [' + ",".join([json.dumps([op])] * 1_000_001) + "]}"
cases = {
    f"YAML alias bomb ({len(aliases)} B)": aliases,
    f"1,000,001 sub-policies as JSON ({len(million) / 1e6:.0f} MB)": million,
    "10,000-deep JSON": '{"format_version": 1, "sub_policies": ' + "[" * 10000 + "]" * 10000 + "}",
    "10,000-deep YAML": "format_version: 1\nsub_policies: " + "[" * 10000 + "]" * 10000 + "\n",
    "rand-m + 300 digits": "rand-m" + "9" * 300,
}
name = sys.argv[1]
start = time.perf_counter()
try:
    as_policy(cases[name] if name in cases else [v for k, v in cases.items() if k.startswith(name)][0])
    outcome = "loaded"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:90]}"
print(f"{name}: {time.perf_counter() - start:.4f} s, {outcome}")
'''

POLICY_CASES = ("YAML alias bomb", "1,000,001 sub-policies", "10,000-deep JSON", "10,000-deep YAML",
                "rand-m + 300 digits")


def run(code: str, *args: str) -> str:
    """The last line `code` prints in a fresh interpreter (or the end of its error)."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    out = done.stdout.strip().splitlines()
    return out[-1] if out else "failed: " + done.stderr.strip()[-300:]


def main() -> int:
    print(run(IMAGE_BOMB))
    for case in POLICY_CASES:
        print(run(POLICY_BOMB, case))
    return 0


if __name__ == "__main__":
    sys.exit(main())
