"""PolicyLayer on the JAX and torch Keras backends, each in a subprocess (the backend is fixed at import).

The child checks, under KERAS_BACKEND: in a tf.data pipeline the layer gives the bytes of
`augment_nhwc(policy, x, default_rng([seed, 1, k]))` (the search's step k) and leaves images alone
without training=True; called eagerly it returns the backend's tensors with the same values as in
tf.data; inside a model, fit runs it once per batch (not compiled: supports_jit is False) and predict
passes images through.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHILD = '''
# Run under KERAS_BACKEND=jax|torch: PolicyLayer in tf.data, eagerly, and inside a model fit.
import json
import sys

import keras
import numpy as np
import tensorflow as tf

from deepaug import Policy
from deepaug.policy.apply import augment_nhwc
from deepaug.adapters.keras import PolicyLayer

policy = Policy.from_list([[("rotate", 0.8, 0.5), ("invert", 0.3, 0.0)], [("cutout", 0.7, 0.5)]])
x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
report = {"backend": keras.backend.backend()}


def expected(batch, step, seed=7):
    return augment_nhwc(policy, batch, np.random.default_rng([seed, 1, step]))


layer = PolicyLayer(policy, seed=7)
ds = tf.data.Dataset.from_tensor_slices(x).batch(4).map(lambda b: layer(b, training=True))
outs = [b.numpy() for b in ds]
report["tf_data_bytes_equal"] = all(np.array_equal(o, expected(x[4 * k:4 * k + 4], k)) for k, o in enumerate(outs))
report["tf_data_unchanged_without_training"] = all(
    np.array_equal(b.numpy(), x[:4]) for b in tf.data.Dataset.from_tensors(x[:4]).map(lambda b: layer(b)))

floats = PolicyLayer(policy, seed=7, value_range=(0, 1))
out = floats(keras.ops.convert_to_tensor(x.astype("float32") / 255), training=True)
report["eager_type"] = type(out).__module__.split(".")[0]
report["eager_float_matches"] = bool(np.allclose(keras.ops.convert_to_numpy(out) * 255, expected(x, 0), atol=1e-3))
graph = tf.data.Dataset.from_tensors(x.astype("float32") / 255).map(
    lambda b: PolicyLayer(policy, seed=7, value_range=(0, 1))(b, training=True))
report["tf_data_float_equals_eager"] = np.array_equal(next(iter(graph)).numpy(), keras.ops.convert_to_numpy(out))

single = PolicyLayer(policy, seed=7)
unbatched = [i.numpy() for i in tf.data.Dataset.from_tensor_slices(x[:3]).map(lambda i: single(i, training=True))]
one = PolicyLayer(policy, seed=7)(keras.ops.convert_to_tensor(x[0]), training=True)
report["single_images"] = (all(np.array_equal(o, expected(x[k:k + 1], k)[0]) for k, o in enumerate(unbatched))
                           and np.array_equal(keras.ops.convert_to_numpy(one), expected(x[:1], 0)[0]))

model = keras.Sequential([keras.Input((16, 16, 3)), PolicyLayer(policy, seed=1, value_range=(0, 1)),
                          keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
history = model.fit(x.astype("float32") / 255, np.arange(8) % 2, batch_size=4, epochs=1, verbose=0)
report["fit_in_model_steps"] = model.layers[0].step
report["predict_unchanged"] = model.predict(x.astype("float32") / 255, verbose=0).shape == (8, 2)
print(json.dumps(report))
sys.exit(0)
'''


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_policy_layer_on_another_keras_backend(backend, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip(backend)
    (tmp_path / "child.py").write_text(CHILD)
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
           "KERAS_HOME": str(tmp_path / "keras"), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "child.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"backend": backend, "tf_data_bytes_equal": True, "tf_data_unchanged_without_training": True,
                      "eager_type": "jaxlib" if backend == "jax" else "torch", "eager_float_matches": True,
                      "tf_data_float_equals_eager": True, "single_images": True, "fit_in_model_steps": 2,
                      "predict_unchanged": True}
