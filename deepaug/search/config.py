"""The search configuration: DeepAugment's keys plus deepaug's, validated before any work.

`SearchConfig.from_user(dict_or_None)` accepts exactly the keys below; unknown keys and
bad values fail with the list of valid keys. The caller's dict is never modified and
the defaults are never mutated (each config is a new frozen object).

>>> cfg = SearchConfig.from_user({"child_epochs": 10, "seed": 3})
>>> cfg.child_epochs, cfg.train_set_size
(10, 2000)
"""
from __future__ import annotations

import difflib
import logging
import os
from typing import Any, Literal, Mapping, Sequence

from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from deepaug import ops
from deepaug.config_values import ConfigModel, Seed
from deepaug.errors import InputError, problems
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.policy.core import as_policy
from deepaug.search.controls import FREE_RECIPES, RACED_CONTROLS, check_controls
from deepaug.search.distribution_space import PILOT_STARTS, DistributionSpace
from deepaug.search.space import SearchSpace
from deepaug.training.models import check_precision, parse_model_name
from deepaug.training.train import TrainingConfig

log = logging.getLogger(__name__)

# DeepAugment accepted a `logging` key holding the logging module; deepaug logs through
# the standard `logging` tree, so the key is accepted and ignored.
def did_you_mean(unknown: Sequence[str], valid: Sequence[str]) -> str:
    """" (did you mean 'child_epochs'?)" for the unknown keys that are near a valid one, else ""."""
    guesses = [(key, close[0]) for key in unknown
               if (close := difflib.get_close_matches(key, list(valid), n=1, cutoff=0.75))]
    if len(unknown) == 1 and guesses:
        return f" (did you mean {guesses[0][1]!r}?)"
    return f" (did you mean {', '.join(f'{right!r} for {wrong!r}' for wrong, right in guesses)}?)" if guesses else ""


CONFIG_SIZE_NAMES = ("train_set_size", "validation_size")  # split_train_val's sizes, as the config names them
_LOADING_KEYS = ("image_size", "square_crop", "data_dir")  # DeepAugment's arguments and run-file keys
_IGNORED_KEYS = ("logging",)
# A run file's keys that are not a search's, and where they go from Python (a run file's
# dict passed to DeepAugment would otherwise meet a bare "unknown config keys").
_RUN_FILE_KEYS = {"iterations": "pass it to optimize(iterations) (how many candidates to try)",
                  "dataset": "pass it as DeepAugment's first argument (what to search on)",
                  "augment": "call deepaug.augment(best_policy, src, dst, ...) after the search"}


# The race's seeds when the config leaves them out. After a rungs screen, 3: the fewest with a t interval
# of 2 degrees of freedom. The shared screen trains each candidate for a fifth of child_epochs instead of a
# third plus the rungs, and what it frees pays for 2 more race seeds (t at 4 degrees of freedom: 2.78
# against 4.30) within the rungs screen's whole run: at the defaults (20 candidates, 7 controls, 50
# epochs) 1,560 epochs of training against 1,709 (deepaug.search.plan; issue 37 section 2).
RUNGS_RACE_SEEDS, SHARED_RACE_SEEDS = 3, 5


class SearchConfig(ConfigModel):
    """Everything a search needs to know; DeepAugment's defaults where it had them."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True,
                              protected_namespaces=())

    # DeepAugment's keys
    model: Any = "basiccnn"
    method: Literal["bayesian_optimization", "random"] = "bayesian_optimization"
    train_set_size: int = Field(2000, ge=2)
    opt_samples: int = Field(3, ge=1)
    opt_last_n_epochs: int = Field(3, ge=1)
    opt_initial_points: int = Field(10, ge=1)
    child_epochs: int = Field(50, ge=1)
    child_first_train_epochs: int = Field(0, ge=0)
    child_batch_size: int = Field(64, ge=1)
    pre_aug_weights_path: str | None = None
    notebook_path: str | None = None
    # deepaug's keys
    seed: Seed | None = None  # 0..2**32 - 1 (deepaug.config_values.MAX_SEED)
    overfit_threshold: float = Field(0.10, gt=0, le=1)
    learning_rate: float = Field(1e-3, gt=0)
    n_sub_policies: int = Field(5, ge=1)
    ops_per_sub_policy: int = Field(2, ge=1)
    ops: tuple[str, ...] | None = None
    search_probabilities: bool = True
    fixed_probability: float = Field(0.5, ge=0, le=1)
    experiment_name: str | None = None
    reports_dir: str = "reports"
    policies_dir: str = "policies"
    child_models_dir: str = "child_models"
    executor: Literal["inline", "local", "kubernetes"] = "local"
    workers: int | None = Field(None, ge=1)  # None: one local worker per core (at most 8); kubernetes: 4 Jobs
    kubernetes: KubernetesSettings | None = None  # for executor: kubernetes (k8s/README.md)
    tensorboard: bool = True  # TensorBoard runs (HParams) in <experiment>/tensorboard/
    trials_per_gpu: int = Field(1, ge=1)  # local workers per GPU when workers is not set (GPU hosts only)
    precision: Literal["float32", "bfloat16"] = "float32"  # bfloat16: named models in mixed bfloat16 (faster
    # where the hardware has it: CPUs with AVX512_BF16/AMX, recent GPUs)
    validation_size: int | None = Field(None, ge=1)
    # the distribution search (search_space: distribution); see deepaug/study.py
    search_space: Literal["distribution", "deepaugment"] = "distribution"
    search_seeds: int = Field(1, ge=1)  # common seeds every candidate is screened on
    screen: Literal["rungs", "shared"] | None = None  # how candidates are screened: "shared", augmentation-wise
    # weight sharing (Tian et al. 2020): one shared training under shared_policy, each candidate tuned from it
    # for the last tune_epochs (study.py); "rungs", successive halving from short trainings. None: "shared" in
    # the distribution space when child_epochs >= 2 (it ranked policies best in docs/benchmarks.md's protocol
    # 3, by the rule written before it ran), else "rungs"
    tune_epochs: int | None = Field(None, ge=1)  # screen: shared; None: child_epochs / 5 (issue 37's protocol 3)
    shared_policy: Literal["trivialaugment", "uniform"] = "trivialaugment"  # screen: shared's shared stage:
    # TrivialAugment over the space's ops (protocol 3's secondary B), or every op of the space drawn
    # uniformly (its primary, AWS's own choice)
    rungs: int = Field(2, ge=1)  # successive-halving rungs; the last one trains child_epochs
    halving_rate: int = Field(3, ge=2)  # 1 in halving_rate candidates goes on to the next rung
    finalists: int = Field(3, ge=1)  # candidates that race the controls at full training
    race_seeds: int | None = Field(None, ge=2)  # paired seeds of the final race, fresh ones (>= 2 for an
    # interval); None: 3 after a rungs screen, SHARED_RACE_SEEDS after a shared one
    race_cut_after: int | None = Field(None, ge=2)  # after this many race seeds only the leading finalist and
    # the better control go on to the others (None: all of them race on every race seed)
    race_holdout: bool = True  # the race scores on validation images of its own (a stratified half the
    # screen and rungs never ranked on); False: every stage scores on all of them
    validation_images: Any = None  # your own validation set (an array, or a dataset name/path)
    validation_labels: Any = None
    controls: tuple[str, ...] = FREE_RECIPES  # the free recipes screened beside the candidates (TrivialAugment
    # first: the reference of the screen's and rungs' gains); deepaug.search.controls
    raced_controls: int = Field(RACED_CONTROLS, ge=1)  # the controls with the best screen rewards race the finalists
    starts: Any = None  # candidates tried before the optimizer's: None, the published recipes
    # (DistributionSpace.starting_policies); a list of policies (yours); "pilot", deepaug's starts before them

    @field_validator("model")
    @classmethod
    def _model(cls, value: Any) -> Any:
        if isinstance(value, str):

            parse_model_name(value)
            return value
        if type(value).__module__.startswith(("keras", "tf_keras", "tensorflow")) or hasattr(value, "fit"):
            return value
        raise ValueError(f"must be a model name or a keras Model, got {type(value).__name__}")

    @field_validator("precision")
    @classmethod
    def _precision(cls, value: str, info: ValidationInfo) -> str:
        try:
            return check_precision(value, info.data.get("model", "basiccnn"))
        except InputError as exc:
            raise ValueError(str(exc).removeprefix("precision ")) from None

    @field_validator("ops")
    @classmethod
    def _ops(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:

            for name in value:
                ops.get(name)
        return value

    @field_validator("pre_aug_weights_path")
    @classmethod
    def _weights(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(value):
            raise ValueError("no such weights file; give the path of a .weights.npz file that "
                             "deepaug saved (child_models/), or leave it out")
        return value

    @field_validator("experiment_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value or value in (".", "..") or value.startswith(".")):
            raise ValueError("must be a plain folder name (no '/', not starting with '.')")
        if value is not None and ("\x00" in value or len(value.encode("utf-8", "surrogateescape")) > 200):
            raise ValueError("must be at most 200 bytes without NUL: the folder, its files and policies/<name>.json "
                             "must fit the file system's 255-byte names")
        return value

    @field_validator("controls", mode="before")
    @classmethod
    def _controls(cls, value: Any) -> tuple[str, ...]:
        try:
            return check_controls(list(value) if isinstance(value, (list, tuple)) else value)
        except InputError as exc:
            raise ValueError(str(exc).removeprefix("controls").lstrip(": ")) from None

    @field_validator("starts", mode="before")
    @classmethod
    def _starts(cls, value: Any) -> Any:
        if value is None or value == PILOT_STARTS:
            return value
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"must be a non-empty list of policies (files, dicts, built-in names), null for the "
                             f"published recipes, or {PILOT_STARTS!r}; got {value!r}")
        out = []
        for i, policy in enumerate(value):
            try:
                out.append(as_policy(policy, f"starts[{i}]"))
            except InputError as exc:
                raise ValueError(str(exc)) from None
        return tuple(out)

    @model_validator(mode="after")
    def _resolve_and_check(self) -> "SearchConfig":
        self._resolve_defaults()
        if self.search_space == "deepaugment" and isinstance(self.starts, tuple):
            raise ValueError("starts are the distribution search's (search_space: distribution); search_space: "
                             "deepaugment starts from random points: drop starts, or search the distribution space")
        if self.screen == "shared":
            self._check_shared()
        if self.raced_controls > len(self.controls):
            raise ValueError(f"raced_controls ({self.raced_controls}) must be at most the number of controls "
                             f"({len(self.controls)}: {list(self.controls)})")
        if self.race_cut_after is not None and self.race_cut_after >= self.race_seeds:
            raise ValueError(f"race_cut_after ({self.race_cut_after}) must be below race_seeds ({self.race_seeds}): "
                             "it is the number of race seeds after which only the leading finalist and the better "
                             "control go on; leave it unset to race everyone on every seed")
        return self

    def _resolve_defaults(self) -> None:
        """screen and race_seeds left unset take the values their comments name. They are written into
        the frozen config without joining `model_fields_set`: what the user set stays told apart from a
        default (an experiment stored under older defaults resumes as it ran: Experiment.resumed_keys)."""
        if self.screen is None:
            shares = self.search_space == "distribution" and self.child_epochs >= 2
            object.__setattr__(self, "screen", "shared" if shares else "rungs")
            self.model_fields_set.discard("screen")  # `screen: null` asks for the default too
        if self.race_seeds is None:
            object.__setattr__(self, "race_seeds", SHARED_RACE_SEEDS if self.screen == "shared" else RUNGS_RACE_SEEDS)
            self.model_fields_set.discard("race_seeds")

    def _check_shared(self) -> None:
        if self.search_space != "distribution":
            raise ValueError("screen: shared screens the distribution search (search_space: distribution); "
                             "drop screen, or search the distribution space")
        if self.child_epochs < 2 or self.shared_tune_epochs >= self.child_epochs:
            raise ValueError(f"screen: shared tunes each candidate for tune_epochs ({self.shared_tune_epochs}) of "
                             f"child_epochs ({self.child_epochs}) after a shared stage: tune_epochs must be below "
                             "child_epochs, and child_epochs at least 2")

    @property
    def shared_tune_epochs(self) -> int:
        """screen: shared's epochs per candidate: tune_epochs, or child_epochs / 5 (at least 1)."""
        return self.tune_epochs if self.tune_epochs is not None else max(1, round(self.child_epochs / 5))

    @classmethod
    def keys(cls) -> list[str]:
        return list(cls.model_fields)

    def __getitem__(self, key: str) -> Any:
        """`config["child_epochs"]`, as DeepAugment 1.x's config dict was read (the config is frozen)."""
        if key not in type(self).model_fields:
            raise KeyError(f"{key!r} is not a config key; valid keys are: {', '.join(self.keys())}")
        return getattr(self, key)

    @classmethod
    def from_user(cls, config: Mapping[str, Any] | "SearchConfig" | None = None, *, also: Sequence[str] = (),
                  **overrides: Any) -> "SearchConfig":
        """Validate a user's dict (never modified) into a new config, or raise InputError. `also`: keys
        that are valid beside these where the dict came from (a run file's), offered to a typo too."""
        if isinstance(config, SearchConfig):  # what its user set: its defaults are resolved again
            data = config.model_dump(exclude_unset=True)
        elif config is None:
            data = {}
        elif isinstance(config, Mapping):
            data = dict(config)
        else:
            raise InputError(f"config must be a dict, got {type(config).__name__}")
        data.update(overrides)
        for key in _IGNORED_KEYS:
            if key in data:
                data.pop(key)
                log.info("config key %r is ignored: deepaug logs through Python's logging module", key)
        unknown = sorted(set(data) - set(cls.model_fields))
        loading = [k for k in unknown if k in _LOADING_KEYS]
        if loading:
            raise InputError(f"{', '.join(loading)} say(s) how to load the images, not how to search: pass them to "
                             f"DeepAugment(images, labels, config, {loading[0]}=...) (a run config file takes them "
                             "beside its search keys)")
        misplaced = [k for k in unknown if k in _RUN_FILE_KEYS and k not in also]
        if misplaced:
            raise InputError("; ".join(f"config key {k!r} belongs in a run file (`deepaug run --config`), not a "
                                       f"search config; from Python, {_RUN_FILE_KEYS[k]}" for k in misplaced))
        if unknown:
            valid = cls.keys() + [k for k in also if k not in cls.model_fields]
            raise InputError(f"unknown config keys {unknown}{did_you_mean(unknown, valid)}; valid keys are: "
                             f"{', '.join(valid)}")
        try:
            return cls(**data)
        except ValidationError as exc:
            raise InputError(f"bad config: {problems(exc)}") from None

    def make_search_space(self, channels: int = 3) -> "SearchSpace | DistributionSpace":
        """The search space this config asks for (colour-only ops left out of a distribution
        space when `channels` is 1)."""
        if self.search_space == "distribution":

            return DistributionSpace(self.ops, channels)

        return SearchSpace(self.n_sub_policies, self.ops_per_sub_policy, self.ops,
                           self.search_probabilities, self.fixed_probability)

    def training_config(self) -> "TrainingConfig":

        return TrainingConfig(model=self.model, child_epochs=self.child_epochs,
                              child_batch_size=self.child_batch_size,
                              child_first_train_epochs=self.child_first_train_epochs,
                              opt_samples=self.opt_samples, opt_last_n_epochs=self.opt_last_n_epochs,
                              overfit_threshold=self.overfit_threshold, learning_rate=self.learning_rate,
                              child_models_dir=self.child_models_dir, precision=self.precision)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for the experiment folder (a keras model is named, not stored)."""
        data = self.model_dump()
        if not isinstance(self.model, str):
            data["model"] = f"keras:{getattr(self.model, 'name', type(self.model).__name__)}"
        data["ops"] = list(self.ops) if self.ops is not None else None
        data["controls"] = list(self.controls)
        if isinstance(self.starts, tuple):  # policies are recorded as their dicts
            data["starts"] = [p.to_dict() for p in self.starts]
        for key in ("validation_images", "validation_labels"):  # arrays are recorded by fingerprint
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                data[key] = "array" if key == "validation_labels" else "array (see data.validation)"
        return data
