"""`deepaug augment` and `deepaug k8s render augment`: their options, and the Kubernetes settings they read.

`load_settings` reads the `kubernetes:` section of a config file (a search's config works:
its other keys are ignored) with `--image` (the augment pods' image: kubernetes.augment_image)
/ `--namespace` on top; `kubernetes_options`
turns parsed options into `augment()`'s keyword arguments; `add_render_parser` registers
`deepaug k8s render augment`, which prints the Job a request would submit.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Mapping

from deepaug.api import augment
from deepaug.augmentation.request import DATASET, KUBERNETES, LOCAL, RUN, AugmentRequest, add_arguments
from deepaug.cli.options import key_value, sets
from deepaug.errors import InputError, RetryableError, RunError
from deepaug.kubernetes.augment import plan_augment_job
from deepaug.kubernetes.augment_job import POLICY_KEY, check_settings
from deepaug.kubernetes.manifests import render_rbac, to_yaml
from deepaug.policy.core import as_policy
from deepaug.run import read_config_file, set_keys

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.augmentation.request import AugmentSection
    from deepaug.kubernetes.settings import KubernetesSettings

RUN_STAND_IN = "reference"  # the policy `deepaug k8s render` puts in `deepaug run`'s augment Job (as run.py checks it)


def add_request_arguments(parser: Any) -> None:
    """What to augment and the options that define the dataset (shared with `deepaug k8s render augment`)."""
    parser.add_argument("--policy", default=None,
                        help="policy file (.json/.yaml, local or s3://) or built-in name; not with --chain")
    parser.add_argument("--input", required=True,
                        help="folder of class sub-folders (local or s3://bucket/prefix/) or an .npz of images/labels")
    parser.add_argument("--output", required=True,
                        help="local folder or s3://bucket/prefix/ ('{id}' in it becomes the dataset id)")
    add_arguments(parser, DATASET)


def _add_arguments(parser: Any) -> None:
    add_request_arguments(parser)
    add_arguments(parser, RUN)
    add_arguments(parser.add_argument_group("local workers (executor local)"), LOCAL)
    add_kubernetes_arguments(parser.add_argument_group("Kubernetes (executor kubernetes; see k8s/README.md)"))


def _cmd_augment(args: Any) -> int:
    import cv2  # deferred: slow to import, and only this command of the CLI needs it

    cv2.setNumThreads(1)  # one core per worker process: scale with --workers
    try:
        result = augment(args.policy, args.input, args.output, AugmentRequest.from_args(args),
                         **kubernetes_options(args))
    except (RunError, RetryableError) as exc:
        print(f"deepaug: augment stopped: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def add_parser(subparsers: Any) -> Any:
    """Register `deepaug augment` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "augment", help="augment a whole dataset with a policy (sharded, resumable; local or S3)",
        description="Write each image's original and K augmented variants (or every subset of a chain of ops), "
                    "with labels.csv and manifest.json, to a local folder or S3. Deterministic: the same request "
                    "gives the same bytes; running it again resumes, and returns a finished dataset at once.")
    _add_arguments(parser)
    parser.set_defaults(func=_cmd_augment)
    return parser


def load_settings(config: str | None = None, sets: Mapping[str, Any] | None = None,
                  **overrides: Any) -> "KubernetesSettings":
    """The `kubernetes:` section of a YAML/JSON config file (other keys are ignored, so a search's config
    serves too), with the `overrides` that are not None on top, then `sets` (`--set kubernetes.KEY=VALUE`);
    checked, naming the file."""

    data: dict[str, Any] = {}
    source = "the command line"
    other = [key for key in sets or () if not key.startswith("kubernetes.")]
    if other:
        raise InputError(f"--set {other[0]}: this command reads only the kubernetes: section of a config; set "
                         "its keys as kubernetes.KEY=VALUE (e.g. kubernetes.namespace=ml)")
    if config is not None:
        document, source = read_config_file(config)
        section = document.get("kubernetes")
        if not isinstance(section, dict) and not sets:
            raise InputError(f"{source} has no `kubernetes:` mapping; write the settings under it (image, "
                             "namespace, service_account, ...; see k8s/README.md)")
        data = dict(section or {})
    data.update({key: value for key, value in overrides.items() if value is not None})
    if sets:
        data = {"kubernetes": data}
        set_keys(data, sets)
        data = data["kubernetes"]
        source += f" with --set {', '.join(sets)}"
    try:
        return check_settings(data)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def add_kubernetes_arguments(parser: Any) -> None:
    """The options of the augment Job (on `deepaug augment` and `deepaug k8s render augment`)."""
    parser.add_argument("--config", default=None,
                        help="YAML/JSON file whose `kubernetes:` section gives the settings (a search's config "
                             "works; other keys are ignored)")
    parser.add_argument("--set", dest="kubernetes_sets", metavar="kubernetes.KEY=VALUE", action="append",
                        type=key_value, default=[],
                        help="override a key of the kubernetes: section (repeatable), e.g. "
                             "--set kubernetes.namespace=ml")
    parser.add_argument("--image", default=None,
                        help="the augment pods' image, e.g. the light deepaug-augment image (overrides "
                             "kubernetes.augment_image, and kubernetes.image for these pods)")
    parser.add_argument("--namespace", default=None, help="namespace of the Job (overrides kubernetes.namespace)")
    add_arguments(parser, KUBERNETES)


_SETTINGS_FLAGS = {"config": "--config", "image": "--image", "namespace": "--namespace", "kubernetes_sets": "--set"}


def kubernetes_options(args: Any) -> dict[str, Any]:
    """augment()'s Kubernetes settings from parsed options; InputError for them without the executor (the
    Job's own options, such as --parallelism, are the request's and checked there)."""
    if args.executor != "kubernetes":
        given = [flag for name, flag in _SETTINGS_FLAGS.items() if getattr(args, name) not in (None, [])]
        if given:
            raise InputError(f"{', '.join(given)} apply to --executor kubernetes only; add it or leave them out")
        return {}
    return dict(kubernetes=load_settings(args.config, sets(args.kubernetes_sets), augment_image=args.image,
                                         namespace=args.namespace))


def _cmd_render(args: Any) -> int:
    """Print the augment Job (then the RBAC unless --job-only) without creating or writing anything."""

    config = args.config or getattr(args, "search_config", None)  # `k8s render --config F augment ...` too
    job_only = args.job_only or getattr(args, "search_job_only", False)
    given = sets([*getattr(args, "sets", []), *args.kubernetes_sets])  # `k8s render --set K=V augment` too
    settings = load_settings(config, given, augment_image=args.image, namespace=args.namespace)
    planned = plan_augment_job(args.policy, args.input, args.output, settings=settings, parallelism=args.parallelism,
                               completions=args.completions, job_template=args.job_template,
                               **AugmentRequest.from_args(args, (DATASET,)).dataset_options())
    job, policy_arg = planned.render(upload=False)
    if policy_arg is not None and policy_arg.endswith(POLICY_KEY):
        print(f"# `deepaug augment --executor kubernetes` uploads the policy to {policy_arg} before it creates "
              "this Job;\n# to apply it by hand, copy the policy's JSON there first.")
    print(to_yaml([job, *([] if job_only else render_rbac(planned.settings))]), end="")
    return 0


def images_note(settings: "KubernetesSettings") -> str:
    """YAML comment lines naming the image each kind of Job runs (for `deepaug k8s render`)."""
    augment_image = (f"kubernetes.augment_image: {settings.augment_image}" if settings.augment_image
                     else f"kubernetes.image: {settings.image} (no kubernetes.augment_image is set)")
    return f"# trial Jobs run kubernetes.image: {settings.image}\n# augment Jobs run {augment_image}\n"


def yaml_parts(parts: list[tuple[str, list[Any]]]) -> str:
    """Manifests as one multi-document YAML text, each part's comment just before its documents."""
    text, started = "", False
    for comment, docs in parts:
        if docs and started:
            text += "---\n"
        text += comment + (to_yaml(docs) if docs else "")
        started = started or bool(docs)
    return text


def render_run_augment(section: "AugmentSection | None", settings: "KubernetesSettings") -> tuple[str, list[Any]]:
    """(comment, [the Job]) of the augment Job `deepaug run` submits after the search when the config's
    `augment:` section says executor kubernetes, the reference policy standing in for the winner; ("", [])
    without one. Lists the input, as `deepaug run` does before its first trial; writes nothing."""
    if section is None or section.request.executor != "kubernetes":
        return "", []
    if section.input is None or section.output is None:
        return ("# the augment Job is not shown: executor kubernetes needs augment.input and augment.output "
                "(s3:// or on the shared volume) for its pods to reach\n"), []
    request = section.request
    planned = plan_augment_job(as_policy(RUN_STAND_IN), section.input, section.output, settings=settings,
                               parallelism=request.parallelism, completions=request.completions,
                               job_template=request.job_template, announce=False, **request.dataset_options())
    job, _ = planned.render(upload=False)
    return (f"# the augment Job after the search, with the {RUN_STAND_IN!r} policy standing in for the winner: "
            "its name,\n# dataset id and output's {id} come from the winning policy\n"), [job]


def add_render_parser(render_subparsers: Any) -> Any:
    """Register `augment` on the subparsers of `deepaug k8s render`."""
    parser = render_subparsers.add_parser(
        "augment", help="print the Indexed Job that `deepaug augment --executor kubernetes` would submit",
        description="Print, as YAML, the Indexed Job that augments this dataset on the cluster (the same options "
                    "as `deepaug augment --executor kubernetes`), then the ServiceAccounts, Role and RoleBinding it "
                    "needs. Lists the input to size the Job; creates and writes nothing.")
    add_request_arguments(parser)
    add_kubernetes_arguments(parser)
    parser.add_argument("--job-only", action="store_true", help="print the Job only, not the RBAC")
    parser.set_defaults(func=_cmd_render)
    return parser
