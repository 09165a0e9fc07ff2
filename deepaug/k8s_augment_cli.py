"""The command line of the augment Job: its options on `deepaug augment` and `deepaug k8s render augment`.

`load_settings` reads the `kubernetes:` section of a config file (a search's config works:
its other keys are ignored) with `--image` / `--namespace` on top; `kubernetes_options`
turns parsed options into `augment()`'s keyword arguments; `add_render_parser` registers
`deepaug k8s render augment`, which prints the Job a request would submit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deepaug.errors import InputError
from deepaug.k8s_augment import (DEFAULT_PARALLELISM, POLICY_KEY, SHARES_PER_POD, check_reachable, check_settings, check_shape,
                                 job_shape, load_augment_template, policy_argument, render_augment_job)

if TYPE_CHECKING:  # pragma: no cover
    from deepaug.config import KubernetesSettings


def load_settings(config: str | None = None, **overrides: Any) -> "KubernetesSettings":
    """The `kubernetes:` section of a YAML/JSON config file (other keys are ignored, so a search's config
    serves too), with the `overrides` that are not None on top; checked, naming the file."""
    from deepaug.config import read_config_file

    data: dict[str, Any] = {}
    source = "the command line"
    if config is not None:
        document, source = read_config_file(config)
        section = document.get("kubernetes")
        if not isinstance(section, dict):
            raise InputError(f"{source} has no `kubernetes:` mapping; write the settings under it (image, "
                             "namespace, service_account, ...; see k8s/README.md)")
        data = dict(section)
    data.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return check_settings(data)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def add_kubernetes_arguments(parser: Any) -> None:
    """The options of the augment Job (on `deepaug augment` and `deepaug k8s render augment`)."""
    parser.add_argument("--config", default=None,
                        help="YAML/JSON file whose `kubernetes:` section gives the settings (a search's config "
                             "works; other keys are ignored)")
    parser.add_argument("--image", default=None, help="worker image (overrides kubernetes.image)")
    parser.add_argument("--namespace", default=None, help="namespace of the Job (overrides kubernetes.namespace)")
    parser.add_argument("--parallelism", type=int, default=None,
                        help=f"pods at a time (default: {DEFAULT_PARALLELISM})")
    parser.add_argument("--completions", type=int, default=None,
                        help=f"pods in all, each doing 1/N of the shards (default: min(shards, {SHARES_PER_POD} x "
                             "parallelism); at most the number of shards)")
    parser.add_argument("--job-template", default=None,
                        help="an edited copy of k8s/augment-job.yaml (default: the packaged one)")


_KUBERNETES_FLAGS = ("config", "image", "namespace", "parallelism", "completions", "job_template")


def kubernetes_options(args: Any) -> dict[str, Any]:
    """augment()'s Kubernetes keyword arguments from parsed options; InputError for them without the executor."""
    if args.executor != "kubernetes":
        given = [f"--{name.replace('_', '-')}" for name in _KUBERNETES_FLAGS if getattr(args, name) is not None]
        if given:
            raise InputError(f"{', '.join(given)} apply to --executor kubernetes only; add it or leave them out")
        return {}
    return dict(kubernetes=load_settings(args.config, image=args.image, namespace=args.namespace),
                parallelism=args.parallelism, completions=args.completions, job_template=args.job_template)


def _cmd_render(args: Any) -> int:
    """Print the augment Job (then the RBAC unless --job-only) without creating or writing anything."""
    from deepaug.augment_plan import make_plan
    from deepaug.augment_run import request_options
    from deepaug.k8s_manifests import render_rbac, to_yaml

    config = args.config or getattr(args, "search_config", None)  # `k8s render --config F augment ...` too
    job_only = args.job_only or getattr(args, "search_job_only", False)
    settings = load_settings(config, image=args.image, namespace=args.namespace)
    parallelism, completions = check_shape(args.parallelism, args.completions)
    template = load_augment_template(args.job_template)
    check_reachable(args.input, "input", settings, args.job_template is not None)
    check_reachable(args.output.replace("{id}", "x"), "output", settings, args.job_template is not None)
    plan = make_plan(args.policy, args.input, args.output, **request_options(args))
    parallelism, completions = job_shape(plan.n_shards, parallelism, completions)
    policy_arg = policy_argument(args.policy, plan, upload=False)
    job = render_augment_job(settings, plan, policy_arg, parallelism, completions, template)
    if policy_arg is not None and policy_arg.endswith(POLICY_KEY):
        print(f"# `deepaug augment --executor kubernetes` uploads the policy to {policy_arg} before it creates "
              "this Job;\n# to apply it by hand, copy the policy's JSON there first.")
    print(to_yaml([job, *([] if job_only else render_rbac(settings))]), end="")
    return 0


def add_render_parser(render_subparsers: Any) -> Any:
    """Register `augment` on the subparsers of `deepaug k8s render`."""
    from deepaug.augment_run import add_request_arguments

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
