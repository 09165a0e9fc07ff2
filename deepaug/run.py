"""`deepaug run`: search for a policy, then augment the whole dataset with the winner.

One config file holds both halves: the search's keys (as for `deepaug optimize`) and an
`augment:` section (`deepaug augment`'s options; see `deepaug.augmentation.request.AugmentSection`).
Every part of the augment section is checked before the first trial (options, the
input's listing, the output against the input, Kubernetes settings), so a typo does not
surface hours later. After the search, the best policy (the experiment's
`best_policy.json`) drives `deepaug.api.augment`, and `augment.json` in the
experiment folder records what was built from it: policy, input, output, dataset id,
totals. Running the same command again resumes the search if it is short of trials and
the augmentation run if it is short of shards; a complete dataset is found, not rebuilt.

>>> from deepaug.run import run_pipeline
>>> outcome = run_pipeline("run.yaml")                      # doctest: +SKIP
>>> outcome.augment.manifest["totals"]                      # doctest: +SKIP
"""
from __future__ import annotations

import difflib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import yaml
from pydantic import ConfigDict, Field, ValidationError

from deepaug import resources
from deepaug.api import DeepAugment, augment
from deepaug.augmentation.plan import make_plan
from deepaug.augmentation.request import AugmentRequest, AugmentSection
from deepaug.augmentation.workers import find_output
from deepaug.config_values import ConfigModel
from deepaug.datasets import NAMED, named_key
from deepaug.errors import InputError, SearchError, problems
from deepaug.kubernetes.augment import plan_augment_job
from deepaug.policy import Policy
from deepaug.policy.limits import CONFIG, check_json_depth, check_size, load_yaml
from deepaug.search.config import SearchConfig
from deepaug.search.experiment import Experiment
from deepaug.search.plan import DEFAULT_ITERATIONS
from deepaug.storage.backends import join
from deepaug.storage.base import redact

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from deepaug.api import DeepAugment
    from deepaug.augmentation.plan import RunPlan
    from deepaug.augmentation.run import AugmentResult
    from deepaug.kubernetes.settings import KubernetesSettings

log = logging.getLogger(__name__)

RECORD = "augment.json"  # in the experiment folder
_CHECK_POLICY = "reference"  # stands in for the winner while the augment section is checked


@dataclass(frozen=True)
class RunOutcome:
    """What `run_pipeline` did: the search (its top table) and the augmentation run."""

    search: "DeepAugment"
    table: "pandas.DataFrame"
    augment: "AugmentResult"
    record_path: str | Path  # augment.json in the experiment folder (a URI when that is on S3)


def augment_input(run: RunFile, section: AugmentSection, search: "DeepAugment") -> str:
    """The augment input: the section's, else the search's dataset (a named one exported to .npz)."""
    if section.input is not None:
        return section.input

    name = named_key(run.dataset)
    if name is None:
        return run.dataset  # a folder or an .npz: augment the originals
    if section.request.executor == "kubernetes":
        raise InputError(f"augment.input is needed with executor kubernetes: the pods cannot read {run.dataset!r} "
                         "from this machine. Upload its images (a folder of class sub-folders or an .npz) to s3:// "
                         "or the shared volume and name it in augment.input")
    experiment, key = search.experiment, f"augment/{name}-train.npz"
    if not experiment.exists(key):  # written whole or not at all (the experiment folder may be on S3)
        buffer, images = io.BytesIO(), search.data.images
        np.savez(buffer, images=images[..., 0] if images.shape[-1] == 1 else images, labels=search.data.labels)
        experiment.write_bytes(key, buffer.getvalue())
        log.info("wrote the training split of %s (%d images) to %s as the augment input", run.dataset,
                 len(search.data), experiment.uri(key))
    return str(experiment.where(key))


def augment_settings(section: AugmentSection, config: SearchConfig) -> "KubernetesSettings | None":
    """The Kubernetes settings the augment section's executor needs (None for executor local)."""
    if section.request.executor != "kubernetes":
        return None
    if config.kubernetes is None:
        raise InputError("augment: executor kubernetes needs the config's `kubernetes:` section (at least "
                         "image); see k8s/README.md")
    return config.kubernetes


def check_output(plan: "RunPlan", dst: str) -> None:
    """InputError now, rather than after the search, when the output cannot take this run's dataset:
    it holds files that are not a deepaug dataset, or a dataset of another input or other options."""

    if "{id}" in dst:
        return  # a location of its own per dataset
    if find_output(plan, ignore_policy=True, label="augment.output ") is not None:
        log.warning("augment.output %s already holds a dataset of this input and options: it is reused if the "
                    "search's winner is its policy, else the run stops after the search; put '{id}' in the output "
                    "to keep one dataset per policy", plan.output_uri)


def check_augment(src: str, dst: str, request: AugmentRequest, settings: "KubernetesSettings | None") -> None:
    """Everything about the augmentation run that can be checked before the search has a winner."""

    options = dict(announce=False, **request.dataset_options())
    if settings is None:
        plan = make_plan(_CHECK_POLICY, src, dst, **options)
    else:  # the Job's checks too, as the run will make them, and the kubeconfig loads (no API call yet)
        plan = plan_augment_job(_CHECK_POLICY, src, dst, settings=settings, parallelism=request.parallelism,
                                completions=request.completions, job_template=request.job_template,
                                connect_api=True, **options).plan
    check_output(plan, dst)
    log.info("augment section checked: %d input images from %s, output %s", len(plan.listing), src, dst)


def record_options(request: AugmentRequest) -> dict[str, Any]:
    """The request's options as augment.json records them: no credential (a queue URL's password) in them."""
    return {name: redact(value) if isinstance(value, str) else value for name, value in request.given().items()}


def write_record(experiment: "Experiment", document: dict[str, Any]) -> str | Path:
    experiment.write_text(RECORD, json.dumps(document, indent=2, sort_keys=True))
    return experiment.where(RECORD)


def unchanged_note(policy: Policy) -> str | None:
    """What `deepaug run` says when its answer leaves every image unchanged (no augmentation won)."""
    if policy.changes_images:
        return None
    return ("the answer is no augmentation (nothing the search tried beat training on the images as they are), so "
            "the augmented dataset holds unchanged copies of the originals: train on the originals instead, or "
            "search with more iterations and your final training's size (train_set_size, child_epochs)")


def run_pipeline(path: str | os.PathLike[str], sets: Mapping[str, Any] | None = None, **overrides: Any) -> RunOutcome:
    """Search as the config says (`sets`, `overrides`: see `load_config_file`), then augment the dataset with the
    best policy; see the module docstring."""
    run, config = load_config_file(path, sets, **overrides)
    if run.augment is None:
        raise InputError(f"{path} has no `augment:` section, so there is nothing to do after the search: add one "
                         "(e.g. `augment: {output: augmented/, variants: 4}`), or run `deepaug optimize` to "
                         "search only")

    # the SearchConfig itself: a config file's keys are never read as a DeepAugment 1.x dict (deepaug.compat)
    search = DeepAugment(run.dataset, config=config, data_dir=run.data_dir,
                         image_size=run.image_size, square_crop=run.square_crop)
    section = run.augment
    settings = augment_settings(section, config)
    src = augment_input(run, section, search)
    if (run.image_size is not None or run.square_crop) and section.input is None and named_key(run.dataset) is None \
            and section.request.size is None:
        log.info("augment.size is not set, so the augmented images keep the sizes of %s (the search resized them "
                 "with image_size / square_crop); set augment.size (and augment.crop) to resize them too",
                 run.dataset)
    dst = section.output or join(str(search.experiment_dir), "augmented", "{id}")
    check_augment(src, dst, section.request, settings)

    table = search.optimize(run.iterations)
    policy = search.best_policy
    if policy is None:
        raise SearchError(f"the search finished without a successful trial, so there is no policy to augment with; "
                          f"see the trial records in {search.experiment.where('trials')}")
    if search.verdict is not None:  # the distribution search: its answer, a winner or a control
        log.info("augmenting with the search's answer: %s", search.verdict.message)
    elif len(table) and not table["expected_accuracy_increase(%)"].iloc[0] > 0:
        log.warning("augmenting with the best policy found, although it did not beat no augmentation in the search")
    if note := unchanged_note(policy):
        log.warning("%s", note)
    record = {"policy": policy.to_dict(), "policy_trial": int(table["trial"].iloc[0]), "input": src,
              "output": dst, "options": record_options(section.request), "complete": False,
              "changes_images": policy.changes_images}
    write_record(search.experiment, record)  # says what is being built while it is built


    try:
        result = augment(policy, src, dst, section.request, kubernetes=settings)
    except Exception as exc:
        write_record(search.experiment, {**record, "error": redact(f"{type(exc).__name__}: {exc}")})
        raise
    record.update(dataset_id=result.dataset_id, output=result.output, complete=result.complete,
                  cached=result.cached, totals=(result.manifest or {}).get("totals"))
    return RunOutcome(search, table, result, write_record(search.experiment, record))


# ---------------------------------------------------------------- config files

RUN_KEYS = {"dataset": "named dataset, .npz file (images, labels) or folder of class sub-folders",
            "data_dir": "folder holding a named dataset's files (mnist, fashion_mnist)",
            "image_size": "resize every image to this size (int or [h, w]); for files and folders",
            "square_crop": "centre-crop each image to a square before resizing",
            "iterations": "search trials to run (default 20); --iterations overrides",
            "augment": "for `deepaug run`: the augmentation run after the search (input, output, variants, ...)"}
BUILTIN_CONFIGS = ("quickstart",)


class RunFile(ConfigModel):
    """What a config file says beyond the search config: the data, the length of the run, the augment run."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    dataset: str
    data_dir: str | None = None
    image_size: int | tuple[int, int] | None = None
    square_crop: bool = False
    iterations: int = Field(DEFAULT_ITERATIONS["distribution"], ge=1)  # Python's optimize() default too
    augment: AugmentSection | None = None


def read_config_file(path: str) -> tuple[dict[str, Any], str]:
    if not os.path.exists(path) and path in BUILTIN_CONFIGS:
        text = resources.text(f"{path}.yaml")
        source = f"built-in config {path!r}"
    else:
        text = resources.read_user_file(path, "config file", "pass a YAML or JSON file, or one of the built-in "
                                      f"configs: {', '.join(BUILTIN_CONFIGS)}", max_chars=CONFIG.max_bytes)
        source = f"config file {path!r}"
    check_size(len(text.encode("utf-8")), source, CONFIG)
    try:  # the policy reader's caps, a config's limits: no YAML alias, bounded size and depth
        if path.lower().endswith(".json"):
            check_json_depth(text, source, CONFIG)
            data = json.loads(text)
        else:
            data = load_yaml(text, source, CONFIG)
    except InputError:  # a cap refused it: said already
        raise
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"{source} does not parse ({exc}); fix the syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{source} must hold a mapping of config keys, got {type(data).__name__}")
    return data, source


def set_keys(data: dict[str, Any], sets: Mapping[str, Any]) -> None:
    """Set each dotted key of `sets` in `data` (``kubernetes.namespace`` goes into the `kubernetes`
    section, made if missing); InputError when a part of the path holds a value, not a section."""
    for dotted, value in sets.items():
        *sections, leaf = dotted.split(".")
        node = data
        for i, part in enumerate(sections):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(sections[:i + 1])
                raise InputError(f"--set {dotted}={value!r}: {where} is {child!r}, not a section of keys; set "
                                 f"{where} itself (--set {where}=...)")
            node = child
        node[leaf] = value


def load_config_file(path: str | "os.PathLike[str]" | None, sets: Mapping[str, Any] | None = None,
                     **overrides: Any) -> tuple[RunFile, SearchConfig]:
    """A YAML/JSON config file (or a built-in config name, or None: no file) -> (RunFile, SearchConfig).

    Keys not in either are refused with the list of valid keys; `overrides` that are not
    None replace the file's values, then `sets` (dotted keys, `--set key=value` on the command
    line) set theirs. A config without `experiment_name` is named after the file (without a
    file: after the dataset), so running the same command again resumes the same experiment.
    """
    data, source = read_config_file(str(path)) if path is not None else ({}, "the command line")
    data.update({k: v for k, v in overrides.items() if v is not None})
    if sets:
        set_keys(data, sets)
        source += f" with --set {', '.join(sets)}"
    run = {k: data.pop(k) for k in list(data) if k in RUN_KEYS}
    if "dataset" not in run:
        typo = difflib.get_close_matches("dataset", [str(k) for k in data], n=1, cutoff=0.75)
        typo_note = f" ({typo[0]!r} is not a key)" if typo else ""
        raise InputError(f"{source} has no `dataset`{typo_note}: name one ({', '.join(_named())}), an .npz file "
                         "with `images` and `labels`, or a folder with one sub-folder of images per class")
    if "augment" in run and run["augment"] is None:  # a bare `augment:` (YAML null): the defaults, as `augment: {}`
        run["augment"] = {}
    try:
        if run.get("augment") is not None:
            run["augment"] = AugmentSection.from_config(run["augment"])
        run_file = RunFile(**run)
    except ValidationError as exc:
        raise InputError(f"{source}: {problems(exc)}") from None
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    beside = Path(path).parent / run_file.dataset if path is not None else None
    if (beside is not None and named_key(run_file.dataset) is None and not Path(run_file.dataset).is_absolute()
            and "://" not in run_file.dataset and not Path(run_file.dataset).exists() and beside.exists()):
        raise InputError(f"{source}: dataset {run_file.dataset!r} does not exist in the current folder ({Path.cwd()}), "
                         f"which relative paths are read from; the config file's folder has it: run from there, or "
                         f"write dataset: {beside.resolve()}")
    data.setdefault("experiment_name", Path(str(path if path is not None else run_file.dataset)).stem)
    if "model" in data and not isinstance(data["model"], str):
        raise InputError(f"{source}: model must be a model name in a config file, got {data['model']!r}")
    try:
        config = SearchConfig.from_user(data, also=RUN_KEYS)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    return run_file, config


def _named() -> list[str]:

    return list(NAMED)
