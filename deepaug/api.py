"""The Python API: `DeepAugment` (the search, as DeepAugment users know it) and `augment` (a dataset).

>>> deepaug = DeepAugment("fashion_mnist", config={"child_epochs": 5, "seed": 0})   # doctest: +SKIP
>>> top = deepaug.optimize(20)                                             # doctest: +SKIP
>>> deepaug.best_policy.apply(images, seed=0)                              # doctest: +SKIP

Everything is checked at construction (config keys and values, the data, the model
against the image shape, an existing experiment under the same name), before any
training. `optimize(n)` screens n candidates (the distribution search) or brings the
experiment to n finished search trials (`search_space: deepaugment`), and logs what that
costs in child trainings (deepaug.search.plan); a resumed experiment runs what is missing.
DeepAugment 1.x's and 2.x's call forms and names are read by deepaug.compat.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from deepaug import datasets
from deepaug.augmentation.request import OPTIONS, AugmentRequest
from deepaug.augmentation.run import AugmentResult, augment_locally
from deepaug.compat import best_text, call_config, optimize_keys, replaced, unused_key_warnings, verbosity
from deepaug.errors import InputError, SearchError
from deepaug.kubernetes.augment import augment_on_kubernetes
from deepaug.kubernetes.settings import KubernetesSettings
from deepaug.policy.core import Policy
from deepaug.reports.report import make_report
from deepaug.search.callbacks import ProgressBar, TensorBoardLogger, logging_prints_progress
from deepaug.search.config import SearchConfig
from deepaug.search.engine import SearchEngine, check_iterations
from deepaug.search.experiment import Experiment, default_experiment_name
from deepaug.search.loop import Search
from deepaug.search.plan import DEFAULT_ITERATIONS, describe
from deepaug.search.study import DistributionSearch
from deepaug.search.validation import MIN_VALIDATION_PER_CLASS
from deepaug.training.models import fit_to_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas

log = logging.getLogger(__name__)

# call_config (deepaug.compat) is here too: both generations' calls as one config dict
__all__ = ["DeepAugment", "augment", "call_config", "default_experiment_name", "optimize"]


def resize_validation(config: SearchConfig, image_size: Any, square_crop: bool) -> SearchConfig:
    """`config` with its validation set (arrays, or a dataset name or path) cropped and resized as
    the training images were, so that both have the same size; `config` when it has none. Labels
    stay as given (arrays) or with their class names (a loaded dataset), for user_validation to
    match to the training classes."""
    images, labels = config.validation_images, config.validation_labels
    if isinstance(images, str) and labels is None:
        val = datasets.load(images, split="train", image_size=image_size, square_crop=square_crop)
        return config.model_copy(update={"validation_images": val})
    if images is not None and labels is not None and not isinstance(images, str):
        val = datasets.resize(datasets.from_arrays(images, labels, "validation_images"), image_size, square_crop)
        return config.model_copy(update={"validation_images": val.images})  # the same images, in order
    return config  # none, or a pair user_validation refuses with its reason


def fit_train_size(config: SearchConfig, data: datasets.Dataset) -> SearchConfig:
    """`config` with a smaller train_set_size when it was left at its default (2000) and `data` is too small
    to keep validation images beside it (digits: 1437): 80% for training, the rest (at least
    MIN_VALIDATION_PER_CLASS per class, or validation_size) for validation; logged. A train_set_size
    the user gave, or their own validation set, is kept as it is."""
    if "train_set_size" in config.model_fields_set or config.validation_images is not None:
        return config
    held = config.validation_size or max(MIN_VALIDATION_PER_CLASS * data.num_classes, round(0.2 * len(data)))
    size = len(data) - held
    if size >= config.train_set_size or size < 2 * data.num_classes:
        return config  # it fits, or nothing does: the search's own check says what to do
    log.info("train_set_size %d (its default) would leave %s %d validation images of %d; training on %d and "
             "validating on %d instead (set train_set_size to choose)", config.train_set_size, data.name,
             max(0, len(data) - config.train_set_size), len(data), size, held)
    return config.model_copy(update={"train_set_size": size})


def training_data(images: Any, labels: Any, config: SearchConfig, data_dir: str | os.PathLike[str] | None,
                  image_size: int | tuple[int, int] | None, square_crop: bool) -> datasets.Dataset:
    """The search's images from what `DeepAugment` was given (see its docstring): a name or path (a
    named dataset's training split; a file's or folder's own training split, or all but its held-out
    test images), a form of deepaug.datasets.external (tf.data, HuggingFace, a list of PIL images),
    or an image array with its labels."""
    if isinstance(images, (str, os.PathLike)):
        if labels is not None:
            raise InputError("labels were given with a dataset name or path; pass labels only with an "
                             "image array")
        data = datasets.load(images, data_dir=data_dir, split="train", image_size=image_size,
                             square_crop=square_crop)
        if datasets.named_key(images) is not None:
            return fit_to_model(data, config.model) if image_size is None else data
        if datasets.has_test_split(images):  # an .npz with x_test/y_test, a DatasetDict: evaluate scores on those
            log.info("%s holds a test split of its own: the search uses all %d of its training images, deepaug "
                     "evaluate scores on its test images", images, len(data))
            return data
        whole = len(data)  # one split: its test images are held out, as evaluate does
        data, test = datasets.hold_out_test(data)
        log.info("held out %d of the %d images of %s as its test split (seed %d): deepaug evaluate scores "
                 "on them, so the search does not see them", len(test), whole, images, datasets.TEST_SEED)
        return data
    if datasets.is_external(images):  # tf.data, HuggingFace, a list of PIL images: read once
        return datasets.from_external(images, labels, "images", "train", image_size, square_crop)
    if labels is None:
        raise InputError("labels are missing: pass DeepAugment(images, labels, config) with one integer "
                         "label per image, a tf.data.Dataset of (image, label) pairs, a HuggingFace dataset, "
                         "or a dataset name such as 'fashion_mnist'")
    return datasets.resize(datasets.from_arrays(images, labels, "images"), image_size, square_crop)


class DeepAugment:
    """Find the augmentation policy that helps a child model most on your images.

    `images` is a named dataset ("fashion_mnist", "mnist", "cifar10", "digits"), a .npz
    file with `images` and `labels`, a folder of class sub-folders, or an image array
    (N, H, W[, C]) with `labels` beside it. Named datasets use their training split only
    (the test split is never touched); one whose images are smaller than the named model
    takes (digits' 8x8 for basiccnn) is enlarged to fit, with a log line. `image_size` /
    `square_crop` resize the images, whatever their source, and your validation images with
    them (see `deepaug.datasets.load`).

    Both generations of DeepAugment's call work: `DeepAugment(images, labels, config)` (1.x)
    and `DeepAugment(X_train, y_train, X_val, y_val, **options)` (2.x): the validation
    arrays become the search's validation set (`validation_images` / `validation_labels`),
    and `options` are config keys (`child_epochs=5`) or 2.x's names for them (`random_state`
    -> seed, `train_size` -> train_set_size, `val_size` -> validation_size, `method="bayesian"`,
    `n_operations`). A config with only 1.x's keys searches 1.x's space and returns its table,
    with a warning; 1.x and 2.x names deepaug does not have raise an error saying what to write
    (deepaug.compat).
    """

    def __init__(self, images: Any, labels: Any = None, config: Any = None, y_val: Any = None, *,
                 X_val: Any = None, data_dir: str | os.PathLike[str] | None = None,  # noqa: N803 (2.x's name)
                 image_size: int | tuple[int, int] | None = None, square_crop: bool = False,
                 **options: Any) -> None:
        self.config = SearchConfig.from_user(call_config(config, X_val, y_val, options))
        self.data = training_data(images, labels, self.config, data_dir, image_size, square_crop)
        if image_size is not None or square_crop:
            self.config = resize_validation(self.config, image_size, square_crop)
        self.config = fit_train_size(self.config, self.data)
        unused_key_warnings(self.config)
        self._start(self.config, self.config.experiment_name or default_experiment_name(self.config.reports_dir))
        log.info("DeepAugment: %s, %d classes, model %s, %s search, experiment %s", self.data, self.data.num_classes,
                 self._search.training.model_name if isinstance(self.config.model, str) else "custom keras model",
                 self.config.search_space, self.experiment_dir)

    def _start(self, config: SearchConfig, name: str) -> None:
        """The search engine of `config` on experiment `name` (which refuses a config other than its records')."""
        engine = DistributionSearch if config.search_space == "distribution" else Search
        self._search: SearchEngine = engine(self.data, config, name)
        self.config = self._search.config  # with the values a stored experiment ran with (keys added since)
        self._records: list = self._search.experiment.records()

    def _reconfigure(self, keys: Mapping[str, Any]) -> None:
        """The search with these config keys changed (2.x's `optimize(epochs=10)`), validated as at
        construction; an experiment that already has trials refuses a different config, saying so."""
        if all(k in SearchConfig.model_fields and getattr(self.config, k) == v for k, v in keys.items()):
            return
        config = SearchConfig.from_user({**self.config.model_dump(exclude_unset=True), **keys})
        unused_key_warnings(config)
        self._start(config, self.experiment_name)

    def __getattr__(self, name: str) -> Any:
        # only for names the object does not have: DeepAugment 1.x's and 2.x's say what to write instead
        raise replaced(type(self).__name__, name)

    @property
    def experiment_dir(self) -> str | Path:
        """The experiment folder: a Path on disk, an s3:// URI string when reports_dir is on S3."""
        return self._search.experiment.folder

    @property
    def experiment(self) -> Experiment:
        """The experiment folder's object (deepaug.search.experiment): its files, records and storage."""
        return self._search.experiment

    @property
    def experiment_name(self) -> str:
        return self._search.experiment.name

    def _callbacks(self, callbacks: Iterable[Any] | None, verbose: int | None) -> list[Any]:
        verbose = verbosity(verbose)
        if verbose is not None and (isinstance(verbose, bool) or verbose not in (0, 1, 2)):
            raise InputError(f"verbose must be 0 (silent), 1 or 2 (a progress bar), True / False or None (automatic), "
                             f"got {verbose!r}")
        if callbacks is not None and (isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable)):
            raise InputError(f"callbacks must be a list of callback objects or functions, got "
                             f"{type(callbacks).__name__}")
        out: list[Any] = []
        if verbose or (verbose is None and not logging_prints_progress()):
            out.append(ProgressBar())
        if self.config.tensorboard and not any(isinstance(c, TensorBoardLogger) for c in callbacks or ()):
            try:
                out.append(TensorBoardLogger())
            except InputError as exc:
                log.warning("no TensorBoard logs: %s", exc)
        return out + list(callbacks or ())

    def optimize(self, iterations: int | None = None, callbacks: Iterable[Any] | None = None,
                 verbose: int | bool | None = None, **config_keys: Any) -> "pandas.DataFrame":
        """Search, and return the top policies. What `iterations` counts:

        - distribution space (the default): `iterations` candidates are screened beside the
          controls (7 free recipes) after one shared training, then the best race the strongest
          controls on `race_seeds` seeds: `optimize(3)` trains up to 36 children (the defaults), not 3;
        - deepaugment space: until `iterations` search trials have finished (plus trial 0, no
          augmentation), each `opt_samples` trainings; a resumed experiment runs what is missing.

        The log says, before any training, how many child trainings the call costs
        (deepaug.search.plan). Default `iterations`: 20 in the distribution space, as the
        command line's; 300 in the deepaugment space, DeepAugment 1.x's. For a smoke run (7 short
        trainings) construct with `config=deepaug.search.SMOKE` and call `optimize(1)`.

        Distribution space: the finalists and the raced controls (the free recipes best on the
        screen) with each one's paired gain over TrivialAugment, RandAugment and the best free
        baseline and its 95% interval, the winner first, then the other candidates and controls.
        Deepaugment space: DeepAugment's table (trial, reward, reward_std,
        expected_accuracy_increase(%) over no augmentation, one column per policy value). A
        report is written at the end.

        `config_keys`: config keys to change before the search starts (refused once the
        experiment has trials of another config), or DeepAugment 2.x's names: `epochs`
        (child_epochs), `batch_size`, `learning_rate`, `samples` (search_seeds; opt_samples in
        the deepaugment space).

        Progress: `verbose=1` (or True) shows a progress bar (a widget in Jupyter), one update per
        trial; `verbose=0` (or False) shows nothing; the default shows it unless logging already
        prints the search's lines (the CLI, or your own logging setup at INFO). `callbacks`
        (objects with on_trial_end etc., see deepaug.search.callbacks: Callback, TensorBoardLogger,
        MLflowLogger; or plain functions, called at each trial's end with its TrialEvent) hear of
        every training, trial and stage of this run; one that raises stops the search with its
        finished work saved. TensorBoard runs are written to the experiment folder's tensorboard/
        unless the config says `tensorboard: false`.
        """
        if config_keys:
            self._reconfigure(optimize_keys(config_keys, self.config.search_space))
        iterations = DEFAULT_ITERATIONS[self.config.search_space] if iterations is None else iterations
        check_iterations(iterations)
        callbacks = self._callbacks(callbacks, verbose)
        log.info("%s", describe(self.config, iterations))
        self._records = self._search.run(iterations, callbacks=callbacks)
        table = self._search.write_results(self._records)
        try:
            path = make_report(self.experiment_dir)
            log.info("report: %s", path)
        except Exception as exc:  # the search is saved; a report failure must not hide it
            log.warning("could not write the report (%s: %s); run `deepaug report %s` to retry",
                        type(exc).__name__, exc, self.experiment_dir)
        return table

    def show_best(self, n: int = 5) -> str:
        """DeepAugment 2.x's `show_best(n)`: the policy to use and the top `n` rows of the table, as text.
        Logged at INFO; the REPL and Jupyter show the returned text, `print(...)` it in a script."""
        policy = self._require_best()
        text = best_text(policy, self.top_policies, n, getattr(self.verdict, "message", None))
        log.info("%s", text)
        return text

    @property
    def verdict(self) -> Any:
        """The distribution search's race verdict (None before optimize, or for the deepaugment space)."""
        return self._search.verdict

    @property
    def best_policy(self) -> Policy | None:
        """The policy to use: the race winner, or the best control when nothing beat it
        (distribution space); the best finished search trial (deepaugment space)."""
        return self._search.best_policy(self._records)

    @property
    def top_policies(self) -> "pandas.DataFrame":
        """The table `optimize` returns, for the trials so far."""
        return self._search.results_table(self._records)

    @property
    def notebook(self) -> "pandas.DataFrame":
        """The CSV notebook (one row per epoch per training) as a DataFrame."""
        import pandas as pd  # pandas is heavy: the notebook table only

        text = self._search.experiment.read_notebook()
        if text is None:
            raise InputError(f"no notebook yet at {self._search.experiment.notebook_path}: run optimize() first")
        return pd.read_csv(io.StringIO(text))

    def _require_best(self) -> Policy:
        policy = self.best_policy
        if policy is None:
            raise InputError("no finished search trial yet: run optimize() first")
        return policy

    def keras_layer(self, seed: int | None = None, value_range: tuple[float, float] = (0, 255)) -> Any:
        """The best policy as a Keras layer (augments in training, identity at inference)."""
        from deepaug.adapters.keras import PolicyLayer  # keras loads here, on first use

        return PolicyLayer(self._require_best(), seed=seed, value_range=value_range)

    def tf_map_fn(self, seed: int | None = None, value_range: tuple[float, float] = (0, 255)) -> Any:
        """The best policy as a function for `tf.data.Dataset.map`."""
        from deepaug.adapters.keras import policy_map_fn  # keras loads here, on first use

        return policy_map_fn(self._require_best(), seed=seed, value_range=value_range)

    def report(self) -> str | Path:
        """Write (again) the experiment's report; returns the summary's path."""

        return make_report(self.experiment_dir)


def optimize(X_train: Any, y_train: Any = None, X_val: Any = None, y_val: Any = None,  # noqa: N803 (2.x's names)
             iterations: int | None = None, epochs: int | None = None, verbose: Any = None,
             callbacks: Any = None, **options: Any) -> Policy:
    """DeepAugment 2.x's one-call search: the best policy for `X_train`, `y_train`.

    `X_val`, `y_val`: your validation set (default: images of your training data left out of
    `train_set_size`, never a test split); `iterations`: as for `DeepAugment.optimize` (default
    20 candidates in the distribution search; 2.x's default was 50);
    `epochs`: `child_epochs`; `verbose`, `callbacks`: as for `DeepAugment.optimize` (its defaults when
    None); `options`: config keys or their 2.x names, as for `DeepAugment`.
    `X_train` may also be a dataset name or path (then no `y_train`). Returns the policy to use
    (`DeepAugment.best_policy`); the experiment folder holds the rest (notebook, report).

    >>> import deepaug
    >>> policy = deepaug.optimize(X, y, iterations=20, child_epochs=10)      # doctest: +SKIP
    """
    if epochs is not None:
        options["epochs"] = epochs
    search = DeepAugment(X_train, y_train, options.pop("config", None), y_val, X_val=X_val, **options)
    run = {name: value for name, value in (("verbose", verbose), ("callbacks", callbacks)) if value is not None}
    if iterations is not None:
        run["iterations"] = iterations
    search.optimize(**run)
    policy = search.best_policy
    if policy is None:
        raise SearchError(f"the search finished without a successful trial; see {search.experiment_dir}")
    log.info("best policy of %s:\n%s", search.experiment_dir, policy)
    return policy


# ---------------------------------------------------------------- augmenting a dataset

def augment(policy: str | os.PathLike[str] | Policy | None, src: Any,
            dst: str | os.PathLike[str], request: AugmentRequest | None = None, *,
            storage_options: dict[str, Any] | None = None,
            kubernetes: "KubernetesSettings | Mapping[str, Any] | None" = None, **options: Any) -> AugmentResult:
    """Augment every image under `src` into `dst` (see deepaug.augmentation.run); same request, same bytes.

    `src`: a folder of class sub-folders (local or s3://), an .npz file, or a dataset as you hold
    it (a tf.data.Dataset of (image, label) pairs, a HuggingFace dataset or its save_to_disk folder,
    a TFDS data directory: their "train" split; (images, labels) for a list of PIL images or an array; see
    deepaug.datasets.external), which is first written once as a folder of PNG files named after
    its content (`deepaug.datasets.stage_folder`), so that a second call resumes the same dataset.

    `policy`: a Policy, a policy file (local or s3://) or a built-in name; None with `chain`.
    `dst` may contain '{id}', replaced by the dataset id (a content-addressed cache location).
    `executor="kubernetes"` runs one Indexed Job of `completions` pods, `parallelism` at a time,
    with the `kubernetes` settings (a dict like the config's `kubernetes:` section). The options
    (keyword arguments, or an `AugmentRequest`) are those of `deepaug augment`:

    {options}
    """
    if request is None:
        request = AugmentRequest(**options)
    elif options:
        request = request.replace(**options)
    if datasets.needs_staging(src):  # tf.data, HuggingFace, TFDS, a list of PIL images: a folder of PNGs first
        if request.executor == "kubernetes":
            raise InputError("src is a dataset in memory or in a HuggingFace/TFDS folder on this machine, which "
                             "Kubernetes pods cannot read; stage it with deepaug.datasets.stage_folder(src), copy "
                             "that folder to S3 and pass the s3:// URI")
        src = datasets.stage_folder(src)
    if request.executor == "kubernetes":
        return augment_on_kubernetes(policy, src, dst, settings=kubernetes, parallelism=request.parallelism,
                                     completions=request.completions, job_template=request.job_template,
                                     storage_options=storage_options, **request.dataset_options())
    if kubernetes is not None:
        raise InputError("kubernetes apply to executor 'kubernetes' only; pass executor='kubernetes' "
                         "(--executor kubernetes) or leave them out")
    return augment_locally(policy, src, dst, request, storage_options)


augment.__doc__ = augment.__doc__.replace("{options}", "\n    ".join(
    f"- `{o.name}`: {o.help.replace('%%', '%')}" for o in OPTIONS))
