"""DeepAugment users' code, 1.x (2019, Keras) and 2.x (PyTorch), runs here, or says what to write.

- **A 1.x config.** A config dict with only DeepAugment 1.x's keys (`V1_KEYS`: `model`, `method`,
  `train_set_size`, `opt_samples`, ...) and no `search_space` is code written for 1.x: it reads
  1.x's table (`A_aug1_type`, ..., `expected_accuracy_increase(%)`, trial 0 = no augmentation),
  which the distribution search's race table does not have. So it searches 1.x's 5x2 space
  (`search_space: deepaugment`) and returns that table, with one warning saying so and how to
  get deepaug's default search, which also races the free recipes (`v1_search_space`).
- **Keys a search does not use.** `opt_samples` set for the distribution search is not silently
  dropped: a warning names `search_seeds`, its counterpart there (`unused_key_warnings`).
- **Gone names.** 1.x's and 2.x's methods and attributes that deepaug does not have raise a
  `ReplacedError` (an AttributeError too) naming what to write (`replaced`).
- **2.x's keywords.** `n_operations` (`v2_options`), `optimize(epochs=, samples=, batch_size=,
  learning_rate=, verbose=True)` (`optimize_keys`, `verbosity`), and `apply_policy(images, policy)`.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from deepaug.errors import InputError, PolicyError, ReplacedError
from deepaug.policy.core import Policy, as_policy
from deepaug.search.config import SearchConfig

log = logging.getLogger(__name__)

# DeepAugment 1.x's config keys (its DEFAULT_CONFIG, REFERENCE.md)
V1_KEYS = frozenset({"model", "method", "train_set_size", "opt_samples", "opt_last_n_epochs", "opt_initial_points",
                     "child_epochs", "child_first_train_epochs", "child_batch_size", "pre_aug_weights_path",
                     "notebook_path", "logging"})


def is_v1_config(config: Any) -> bool:
    """Whether `config` is a dict only a DeepAugment 1.x user would write: 1.x keys only, at least one."""
    return isinstance(config, Mapping) and bool(config) and set(config) <= V1_KEYS


def v1_search_space(config: Any, options: Mapping[str, Any], validation_given: bool) -> str | None:
    """"deepaugment" for a 1.x config (module docstring) passed alone (no 2.x keywords, no validation
    arrays), with its warning; None for anything else."""
    if not is_v1_config(config) or options or validation_given:
        return None
    log.warning("config has only DeepAugment 1.x keys (%s): searching 1.x's 5x2 space with its table "
                "(A_aug1_type..., expected_accuracy_increase(%%) over trial 0, no augmentation); add "
                "search_space='distribution' for deepaug's default search, which also races the free recipes "
                "(TrivialAugment, RandAugment, ...), or search_space='deepaugment' to silence this",
                ", ".join(sorted(config)))
    return "deepaugment"


def unused_key_warnings(config: Any) -> None:
    """Warn for keys the user set that the chosen search does not read (`config` is a SearchConfig)."""
    if config.search_space == "distribution" and "opt_samples" in config.model_fields_set:
        log.warning("opt_samples (%d) is not used by the distribution search: it trains each candidate on "
                    "search_seeds (%d) common seeds in the screen and the race's finalists on race_seeds (%d); set "
                    "search_seeds=%d for as many trainings per candidate, or search_space='deepaugment' for "
                    "DeepAugment 1.x's averaging", config.opt_samples, config.search_seeds, config.race_seeds,
                    config.opt_samples)


# ---------------------------------------------------------------- both generations' calls

# DeepAugment 2.x's keyword names -> deepaug's config keys
ALIASES = {"random_state": "seed", "train_size": "train_set_size", "val_size": "validation_size",
           "epochs": "child_epochs"}
_METHODS = {"bayesian": "bayesian_optimization"}


def call_config(config: Any, x_val: Any, y_val: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """One config dict from both generations' calls: `config` is a dict (1.x), or the validation
    images when it is an array (2.x: X_train, y_train, X_val, y_val); `options` are config keys
    or their 2.x names. A 1.x config alone searches 1.x's space (`v1_search_space`). The caller's
    dict is not modified; a key given twice is refused."""
    if config is not None and not isinstance(config, (Mapping, SearchConfig, str, bytes)):
        if x_val is not None:
            raise InputError("validation images were given twice (third argument and X_val=); pass them once")
        config, x_val = None, config
    data = config.model_dump(exclude_unset=True) if isinstance(config, SearchConfig) else dict(config or {})
    space = v1_search_space(config, options, x_val is not None or y_val is not None)
    if space is not None:
        data["search_space"] = space
    for key, value in v2_options(dict(options), options.get("search_space", data.get("search_space"))).items():
        name = ALIASES.get(key, key)
        if name == "method" and value in _METHODS:
            value = _METHODS[value]
        if name in data:
            raise InputError(f"{name!r} was given twice (in config and as {key}=); pass it once")
        data[name] = value
    if x_val is not None or y_val is not None:
        _add_validation(data, x_val, y_val)
    return data


def _add_validation(data: dict[str, Any], x_val: Any, y_val: Any) -> None:
    if x_val is None or y_val is None:
        raise InputError("pass both validation arrays, DeepAugment(X_train, y_train, X_val, y_val), or neither")
    if data.get("validation_images") is not None or data.get("validation_labels") is not None:
        raise InputError("validation data were given twice (X_val/y_val and config validation_images/"
                         "validation_labels); pass them once")
    if data.get("search_space") == "deepaugment":
        raise InputError("search_space 'deepaugment' validates on images drawn from the training data; drop "
                         "X_val/y_val, or use the distribution search (the default), which validates on them")
    data.update(validation_images=x_val, validation_labels=y_val)


# ---------------------------------------------------------------- names that are gone

_TRAIN_WITH = ("train with the best policy instead: .keras_layer() (a Keras layer), .tf_map_fn() (for "
               "tf.data's map), deepaug.PolicyTransform(.best_policy) (a PyTorch transform), or write augmented "
               "copies with deepaug.augment(.best_policy, src, dst)")
REPLACED = {  # DeepAugment 1.x's public attributes and 2.x's methods -> what to write in deepaug
    "image_generator_with_top_policies": f"DeepAugment 1.x's generator of augmented batches; {_TRAIN_WITH}",
    "iterated": "the trials finished so far are the rows of .top_policies (every record: .experiment.records())",
    "input_shape": "the images' shape is .data.image_shape",
    "num_classes": "the number of classes is .data.num_classes",
    "child_model": "a fresh child model trains per trial: the config's model (.config.model)",
    "controller": "the optimizer is internal to the search: its trials are .top_policies and .experiment.records()",
    "objective_func": "each trial's reward is in .top_policies (reward) and .notebook (mean_late_val_acc)",
    "best_score": "DeepAugment 2.x's best score is the first row of .top_policies (reward; in the distribution "
                  "search gain_vs_best_control) and .verdict",
    "history": "DeepAugment 2.x's history is .notebook (one row per epoch per training) or .experiment.records()",
}


def replaced(owner: str, name: str) -> AttributeError:
    """The error for `owner.name`: a ReplacedError naming what to write for a 1.x or 2.x name,
    else the plain AttributeError."""
    if name in REPLACED:
        return ReplacedError(f"{owner}.{name} is gone in deepaug: {REPLACED[name]}")
    return AttributeError(f"{owner!r} object has no attribute {name!r}")


# ---------------------------------------------------------------- 2.x's keywords

def v2_options(options: dict[str, Any], search_space: Any) -> dict[str, Any]:
    """`options` with DeepAugment 2.x's `n_operations` (transforms per policy) made a config key: in the
    deepaugment space it is `ops_per_sub_policy`; the distribution search searches how many ops an
    image gets (n 1..3) itself, so there it is dropped with a warning."""
    if "n_operations" not in options:
        return options
    options = dict(options)
    value = options.pop("n_operations")
    if search_space == "deepaugment":
        options["ops_per_sub_policy"] = value
    else:
        log.warning("n_operations=%r (DeepAugment 2.x: transforms per policy) is dropped: the distribution search "
                    "searches how many ops each image gets (n 1..3) with the rest of the policy; with "
                    "search_space='deepaugment' it is ops_per_sub_policy", value)
    return options


# DeepAugment 2.x's optimize() keywords -> config keys (samples: trainings per policy, averaged)
OPTIMIZE_KEYS = {"epochs": "child_epochs", "batch_size": "child_batch_size", "learning_rate": "learning_rate"}
_NO_EQUIVALENT = {"early_stopping": "the distribution search stops weak candidates early itself (successive halving: "
                                    "rungs, halving_rate)",
                  "patience": "the distribution search stops weak candidates early itself (rungs, halving_rate)"}


def optimize_keys(options: Mapping[str, Any], search_space: str) -> dict[str, Any]:
    """Config keys from `optimize(**options)`: config keys, or 2.x's names for them (`OPTIMIZE_KEYS`;
    `samples` is opt_samples in the deepaugment space, search_seeds in the distribution search)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in _NO_EQUIVALENT:
            raise InputError(f"optimize({key}=...) is DeepAugment 2.x's; deepaug has no such setting: "
                             f"{_NO_EQUIVALENT[key]}. Drop it")
        if key == "samples":
            name = "opt_samples" if search_space == "deepaugment" else "search_seeds"
        else:
            name = OPTIMIZE_KEYS.get(key, key)
        if name in out:
            raise InputError(f"{name!r} was given twice to optimize() (as {key}= and another name); pass it once")
        out[name] = value
    return out


def verbosity(verbose: Any) -> Any:
    """2.x's verbose=True / False as deepaug's 1 / 0; anything else as it is (checked by the caller)."""
    return int(verbose) if isinstance(verbose, bool) else verbose


class Shown(str):
    """Text the REPL and Jupyter show as text, not as a quoted string with its newlines escaped."""

    def __repr__(self) -> str:
        return str(self)


_SHOWN = ("trial", "name", "stage", "reward", "expected_accuracy_increase(%)", "gain_vs_best_control",
          "gain_vs_best_control_ci95_low", "gain_vs_best_control_ci95_high", "screen_gain_vs_trivialaugment")


def best_text(policy: Policy, table: Any, n: Any, verdict: str | None) -> Shown:
    """`show_best(n)`'s text: the policy, the verdict (distribution search) and the table's top `n` rows."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"show_best(n): n must be a whole number >= 1 (the rows to show), got {n!r}")
    columns = [c for c in _SHOWN if c in getattr(table, "columns", ())]
    top = table.head(n)[columns] if columns else table.head(n)
    lines = [f"best policy:\n{policy}", *([verdict] if verdict else []),
             f"top {len(top)} of {len(table)}:\n{top.to_string(index=False)}"]
    return Shown("\n".join(lines))


def apply_policy(images: Any, policy: Any, seed: int | None = None) -> Any:
    """Augment `images` with `policy` (DeepAugment 2.x's `apply_policy(images, policy)`).

    `images`: a uint8 numpy batch (N, H, W[, C]) or image (H, W, C) (`Policy.apply`), or a PIL image
    or a uint8 torch tensor (C, H, W) / (N, C, H, W) (`deepaug.PolicyTransform`). `policy`: a deepaug
    policy (`DeepAugment.best_policy`, a file, a built-in name, a timm string). A 2.x policy (a list
    of (transform, magnitude) pairs) is not one: 2.x's transforms and ranges are not deepaug's ops.
    `seed`: same seed, same output (default 0).
    """
    policy = _policy_of(policy)
    seed = 0 if seed is None else seed
    if type(images).__module__.split(".")[0] in ("torch", "PIL"):
        from deepaug.adapters.torch import PolicyTransform  # torch is optional: loaded for its images only

        return PolicyTransform(policy, seed=seed)(images)
    return policy.apply(images, seed=seed)


def _policy_of(policy: Any) -> Policy:
    if isinstance(policy, (list, tuple)) and policy and all(isinstance(p, (list, tuple)) for p in policy):
        raise PolicyError("apply_policy: this is a DeepAugment 2.x policy (a list of (transform, magnitude) pairs); "
                          "its transforms and ranges are not deepaug's ops. Pass a deepaug policy: your "
                          "DeepAugment's .best_policy, deepaug.optimize(...)'s result, Policy.load(path) or a "
                          "built-in name such as 'trivialaugment'")
    if hasattr(policy, "columns") and hasattr(policy, "iloc"):
        raise PolicyError("apply_policy: got the table DeepAugment.optimize() returns; pass its .best_policy "
                          "(the policy to use), or use deepaug.optimize(X, y), which returns the policy")
    return as_policy(policy, "apply_policy")
