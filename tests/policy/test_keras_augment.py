"""PolicyLayer and policy_map_fn: the search's augmentation inside user Keras / tf.data code.

The reference for "same semantics as the search" is `augment_nhwc(policy, x,
default_rng([seed, 1, step]))`, what `deepaug.training.train.train_dataset` does at step `step`.
"""
from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from _images import natural_batch
from deepaug import Policy
from deepaug.policy.apply import augment_nhwc
from deepaug.errors import InputError

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from deepaug.adapters.keras import PolicyLayer, policy_map_fn  # noqa: E402
from deepaug.adapters.tf_augmenter import StepCounter  # noqa: E402

POLICY = Policy.from_list([[("rotate", 0.8, 0.5), ("invert", 0.3, 0.0)],
                           [("cutout", 0.7, 0.5), ("horizontal-flip", 0.6, 0.0)],
                           [("contrast", 0.9, 0.6)]])
CUTOUT = Policy.from_list([[("cutout", 1.0, 0.5)]])
SEED = 7


def search_batch(x: np.ndarray, step: int = 0, seed: int = SEED, policy: Policy = POLICY) -> np.ndarray:
    """What the search's training pipeline makes of uint8 batch `x` at step `step`."""
    return augment_nhwc(policy, x, np.random.default_rng([seed, 1, step]))


@pytest.fixture(scope="module", params=["gray28", "rgb32"])
def images(request) -> np.ndarray:
    if request.param == "gray28":
        return natural_batch(8, 28, 28, 1, seed=1)
    return natural_batch(8, 32, 32, 3, seed=2)


# ---------------------------------------------------------------- same semantics as the search

def test_first_training_call_equals_the_search_augmenter_byte_for_byte(images):
    layer = PolicyLayer(POLICY, seed=SEED)
    out = layer(images, training=True)
    expected = search_batch(images)
    assert out.dtype == tf.uint8 and tuple(out.shape) == images.shape
    assert not np.array_equal(expected, images)  # the policy did change something
    np.testing.assert_array_equal(out.numpy(), expected)
    assert layer.step == 1


def test_later_calls_follow_the_search_steps(images):
    layer = PolicyLayer(POLICY, seed=SEED)
    outs = [layer(images, training=True).numpy() for _ in range(3)]
    for step, out in enumerate(outs):
        np.testing.assert_array_equal(out, search_batch(images, step))
    assert not np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype, value_range", [("float32", (0, 1)), ("float64", (0, 1)),
                                                ("float32", (0, 255)), ("int32", (0, 255)),
                                                ("float32", (-1, 1))])
def test_other_dtypes_and_ranges_give_the_uint8_result_in_their_range(images, dtype, value_range):
    low, high = value_range
    x = (images.astype(np.float64) / 255.0 * (high - low) + low).astype(dtype)
    out = PolicyLayer(POLICY, seed=SEED, value_range=value_range)(x, training=True)
    assert out.dtype == tf.as_dtype(dtype) and tuple(out.shape) == x.shape
    expected = search_batch(images) / 255.0 * (high - low) + low
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=(high - low) / 255.0)
    # and it is the same augmentation, not just something close: back to uint8 it is exact
    back = np.rint((out.numpy().astype(np.float64) - low) * 255.0 / (high - low)).astype(np.uint8)
    np.testing.assert_array_equal(back, search_batch(images))


def test_float_pixels_the_policy_left_alone_keep_their_exact_values():
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)  # not 8-bit levels
    out = PolicyLayer(CUTOUT, seed=SEED, value_range=(0, 1))(x, training=True).numpy()
    changed = out != x
    assert changed.any() and not changed.all()  # cutout covers part of each image
    quantized = np.rint(x * 255).astype(np.uint8)
    cut = search_batch(quantized, policy=CUTOUT) != quantized
    np.testing.assert_array_equal(changed, cut)


def test_out_of_range_floats_are_clipped_like_the_search():
    x = np.full((2, 8, 8, 1), 1.5, np.float32)
    x[:, :4] = -0.25
    policy = Policy.from_list([[("invert", 1.0, 0.0)]])
    out = PolicyLayer(policy, seed=SEED, value_range=(0, 1))(x, training=True).numpy()
    np.testing.assert_array_equal(out[:, :4], 1.0)
    np.testing.assert_array_equal(out[:, 4:], 0.0)


# ---------------------------------------------------------------- training vs inference

def test_inference_returns_the_input_unchanged(images):
    layer = PolicyLayer(POLICY, seed=SEED)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    np.testing.assert_array_equal(np.asarray(layer(images)), images)
    model = keras.Sequential([keras.Input(images.shape[1:], dtype="uint8"), layer])
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)
    assert layer.step == 0  # no generator was used


def test_training_call_augments_and_fit_runs_the_layer_once_per_batch():
    x = natural_batch(16, 16, 16, 3, seed=3)
    y = (np.arange(16) % 2).astype(np.int64)
    layer = PolicyLayer(POLICY, seed=SEED, value_range=(0, 1))
    model = keras.Sequential([keras.Input((16, 16, 3)), layer, keras.layers.Flatten(), keras.layers.Dense(2)])
    xf = (x / 255.0).astype(np.float32)
    trained = model.layers[0](xf, training=True).numpy()
    assert not np.allclose(trained, xf)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert not model.jit_compile  # numpy code inside: the model must not be XLA-compiled
    model.fit(xf, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert layer.step == 1 + 2  # one eager call above, then two training batches


# ---------------------------------------------------------------- seeds

def test_same_seed_same_images_other_seed_other_images(images):
    a = PolicyLayer(POLICY, seed=1)(images, training=True).numpy()
    b = PolicyLayer(POLICY, seed=1)(images, training=True).numpy()
    c = PolicyLayer(POLICY, seed=2)(images, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_no_seed_draws_one_and_records_it(images):
    first, second = PolicyLayer(POLICY), PolicyLayer(POLICY)
    assert isinstance(first.seed, int) and first.seed >= 0
    assert first.seed != second.seed
    assert first.get_config()["seed"] == first.seed
    np.testing.assert_array_equal(first(images, training=True).numpy(), search_batch(images, seed=first.seed))


def test_the_step_counter_hands_out_each_step_once_across_threads():
    counter = StepCounter()
    taken: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [counter.take() for _ in range(500)]
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(4000))
    assert counter.next_step == 4000


# ---------------------------------------------------------------- config and saving

def test_policy_may_be_a_policy_a_dict_a_file_or_a_built_in_name(tmp_path):
    path = tmp_path / "found.json"
    POLICY.to_json(path)
    for given in (POLICY, POLICY.to_dict(), path, str(path)):
        assert PolicyLayer(given, seed=0).policy == POLICY
    from deepaug.policy import builtin

    assert PolicyLayer("reference", seed=0).policy == builtin.get("reference")
    assert policy_map_fn(path, seed=0).policy == POLICY


def test_get_config_and_from_config_round_trip(images):
    layer = PolicyLayer(POLICY, seed=SEED, value_range=(0, 1), name="augment")
    config = layer.get_config()
    assert config["policy"] == POLICY.to_dict()
    assert config["seed"] == SEED and config["value_range"] == [0.0, 1.0]
    rebuilt = PolicyLayer.from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.policy == POLICY and rebuilt.name == "augment"
    xf = images.astype(np.float32) / 255.0
    np.testing.assert_array_equal(rebuilt(xf, training=True).numpy(), layer(xf, training=True).numpy())


def test_a_model_with_the_layer_saves_to_keras_format_and_loads_back(tmp_path, images):
    inputs = keras.Input(images.shape[1:], dtype="uint8")
    model = keras.Model(inputs, PolicyLayer(POLICY, seed=SEED, name="augment")(inputs))
    path = tmp_path / "model.keras"
    keras.saving.save_model(model, path)
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("augment")
    assert isinstance(layer, PolicyLayer)
    assert (layer.policy, layer.seed, layer.value_range) == (POLICY, SEED, (0.0, 255.0))
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), images)
    np.testing.assert_array_equal(loaded(images, training=True).numpy(), search_batch(images))


# ---------------------------------------------------------------- tf.data

def test_map_fn_on_batched_image_label_datasets(images):
    labels = np.arange(len(images), dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).map(policy_map_fn(POLICY, seed=SEED))
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 2
    for step, (x, y) in enumerate(batches):
        np.testing.assert_array_equal(x, search_batch(images[4 * step:4 * step + 4], step))
        np.testing.assert_array_equal(y, labels[4 * step:4 * step + 4])
    assert ds.element_spec[0].shape.as_list() == [None, *images.shape[1:]]


def test_map_fn_on_single_images_and_extra_tuple_entries(images):
    labels, weights = np.arange(len(images), dtype=np.int64), np.linspace(0, 1, len(images))
    x = images.astype(np.float32) / 255.0
    fn = policy_map_fn(POLICY, seed=SEED, value_range=(0, 1))
    ds = tf.data.Dataset.from_tensor_slices((x, labels, weights)).map(fn)
    assert ds.element_spec[0].shape.as_list() == list(images.shape[1:])
    for i, (image, label, weight) in enumerate(ds.as_numpy_iterator()):
        expected = search_batch(images[i:i + 1], i)[0] / 255.0
        np.testing.assert_allclose(image, expected, rtol=0, atol=1 / 255)
        assert image.dtype == np.float32 and (label, weight) == (labels[i], weights[i])


def test_layer_on_single_images_in_an_unbatched_pipeline_and_eagerly(images):
    # the README's ds.map(lambda x, y: (layer(x, training=True), y)) on an unbatched dataset
    labels = np.arange(len(images), dtype=np.int64)
    layer = PolicyLayer(POLICY, seed=SEED, value_range=(0, 1))
    ds = tf.data.Dataset.from_tensor_slices((images.astype(np.float32) / 255.0, labels))
    ds = ds.map(lambda x, y: (layer(x, training=True), y))
    assert ds.element_spec[0].shape.as_list() == list(images.shape[1:])
    for i, (image, label) in enumerate(ds.as_numpy_iterator()):
        np.testing.assert_allclose(image, search_batch(images[i:i + 1], i)[0] / 255.0, rtol=0, atol=1 / 255)
        assert label == labels[i]
    eager = PolicyLayer(POLICY, seed=SEED)
    np.testing.assert_array_equal(eager(images[0], training=True).numpy(), search_batch(images[:1], 0)[0])
    np.testing.assert_array_equal(eager(images[1], training=False), images[1])
    with pytest.raises(InputError, match=r"got shape \(None, 16, 3\).*images\[None\]"):
        eager(keras.Input((16, 3), dtype="uint8"))  # a model's input of rank 3 is a batch, not one image


def test_map_fn_on_a_dataset_of_images_only(images):
    ds = tf.data.Dataset.from_tensor_slices(images).batch(8).map(policy_map_fn(POLICY, seed=SEED))
    np.testing.assert_array_equal(next(iter(ds)).numpy(), search_batch(images))


# ---------------------------------------------------------------- no-op policy

def test_noop_policy_returns_the_input_unchanged():
    x = np.random.default_rng(1).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)  # off the 8-bit grid
    never = Policy.from_list([[("rotate", 0.0, 0.5)]])
    for policy in (Policy.noop(), never):
        layer = PolicyLayer(policy, seed=SEED, value_range=(0, 1))
        np.testing.assert_array_equal(layer(x, training=True).numpy(), x)
        fn = policy_map_fn(policy, seed=SEED, value_range=(0, 1))
        np.testing.assert_array_equal(fn(x).numpy(), x)
        np.testing.assert_array_equal(fn(x[0]).numpy(), x[0])


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("shape, hint", [((4, 28, 28), r"images\[\.\.\., None\]"),
                                         ((4, 16, 16, 4), r"images\[\.\.\., :3\]"),
                                         ((2, 4, 8, 8, 3), r"\(N, H, W, C\)")])
def test_layer_refuses_bad_shapes_with_a_helpful_message(shape, hint):
    layer = PolicyLayer(POLICY, seed=SEED)
    with pytest.raises(InputError, match=re.escape(f"got shape {tuple(shape)}")) as info:
        layer(np.zeros(shape, np.uint8), training=True)
    info.match(hint)
    with pytest.raises(InputError, match=r"C in \{1, 3\}"):
        PolicyLayer(POLICY, seed=SEED)(keras.Input(shape[1:], dtype="uint8"))


@pytest.mark.parametrize("shape, hint", [((28, 28), r"images\[\.\.\., None\]"),
                                         ((4, 28, 28), r"batch of grayscale images"),
                                         ((2, 4, 8, 8, 3), r"single image \(H, W, C\)")])
def test_map_fn_refuses_bad_shapes_with_a_helpful_message(shape, hint):
    fn = policy_map_fn(POLICY, seed=SEED)
    with pytest.raises(InputError, match=re.escape(f"got shape {tuple(shape)}")) as info:
        fn(np.zeros(shape, np.uint8))
    info.match(hint)


def test_map_fn_refuses_dict_elements():
    ds = tf.data.Dataset.from_tensor_slices({"image": np.zeros((2, 8, 8, 3), np.uint8)})
    with pytest.raises(InputError, match="dict elements"):
        ds.map(policy_map_fn(POLICY, seed=SEED))


@pytest.mark.parametrize("kwargs, message", [(dict(seed=-1), "seed must be a non-negative integer"),
                                             (dict(seed=1.5), "seed must be a non-negative integer"),
                                             (dict(value_range=(1, 0)), "low < high"),
                                             (dict(value_range=(0,)), "two numbers"),
                                             (dict(policy=3), "a policy must be a Policy, a policy dict"),
                                             (dict(policy="no-such-policy"), "neither an existing file")])
def test_bad_arguments_raise_input_error(kwargs, message):
    args = {"policy": POLICY, **kwargs}
    with pytest.raises(InputError, match=message):
        PolicyLayer(**args)
    with pytest.raises(InputError, match=message):
        policy_map_fn(**args)


def test_non_numeric_images_are_refused():
    with pytest.raises(InputError, match="dtype bool"):
        PolicyLayer(POLICY, seed=SEED)(np.zeros((2, 8, 8, 3), bool), training=True)


def test_training_flag_may_be_a_boolean_tensor(images):
    layer = PolicyLayer(POLICY, seed=SEED)
    np.testing.assert_array_equal(layer(images, training=tf.constant(False)).numpy(), images)
    np.testing.assert_array_equal(layer(images, training=tf.constant(True)).numpy(), search_batch(images))


def test_float_images_in_0_1_under_the_default_range_are_warned_of_once(caplog):
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype(np.float32)  # [0, 1], as most pipelines feed
    with caplog.at_level("WARNING", logger="deepaug.adapters.tf_augmenter"):
        fn = policy_map_fn(POLICY, seed=SEED)
        for _ in tf.data.Dataset.from_tensors(x).repeat(3).map(fn):
            pass
        from deepaug.policy.distribution import Distribution

        cutmix = Policy.from_distribution(Distribution(n=0, cutmix=0.5))
        images, weights = policy_map_fn(cutmix, seed=SEED, num_classes=2)(x, np.arange(4) % 2)  # the labelled path
        assert weights.shape == (4, 2)
        PolicyLayer(POLICY, seed=SEED)(keras.ops.convert_to_tensor(x), training=True)
        PolicyLayer(POLICY, seed=SEED, value_range=(0, 1))(x, training=True)  # said: nothing to warn of
        policy_map_fn(POLICY, seed=SEED)(x * 255)  # 0..255 floats: right as they are
    warned = [r.getMessage() for r in caplog.records if "all lie in [0, 1]" in r.getMessage()]
    assert len(warned) == 3 and warned[0].startswith("policy_map_fn got float images"), warned  # once per function
    assert "pass value_range=(0, 1)" in warned[0] and warned[2].startswith("PolicyLayer")
