"""deepaug: find the image-augmentation policy that helps your classifier most, then use it.

Start with `deepaug run --config quickstart` (a small search on Fashion-MNIST, then the
whole training split augmented with the best policy found), or `deepaug optimize` to
search only; each subcommand's --help explains its options.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from deepaug import ops
from deepaug._version import __version__
from deepaug.api import DeepAugment
from deepaug.cli.augment import add_parser as add_augment_parser
from deepaug.cli.augment import add_render_parser, images_note, render_run_augment, yaml_parts
from deepaug.cli.evaluate import add_parser as add_evaluate_parser
from deepaug.cli.options import add_set_argument, sets
from deepaug.errors import InputError, RetryableError, RunError, SearchError
from deepaug.extras import explain as explain_missing
from deepaug.kubernetes.executor import trial_spec_key
from deepaug.kubernetes.manifests import render_job, render_rbac, require
from deepaug.kubernetes.trial_worker import run_trial_spec
from deepaug.policy.core import Policy, as_policy
from deepaug.reports.demo import run_demo
from deepaug.reports.report import duration, make_report, resolve_experiment
from deepaug.run import load_config_file, run_pipeline
from deepaug.search.race import gain_text as gain
from deepaug.storage.backends import open_storage

log = logging.getLogger("deepaug")


def _cmd_demo(args: argparse.Namespace) -> int:

    out = run_demo(args.dataset, args.policy, out=args.out, n_images=args.images,
                   variants=args.variants, seed=args.seed, data_dir=args.data_dir)
    print(out)
    return 0


def _cmd_ops(args: argparse.Namespace) -> int:

    print(ops.table_markdown() if args.table else "\n".join(ops.names()))
    return 0


def _cmd_policy(args: argparse.Namespace) -> int:

    policy = as_policy(args.policy)
    print(policy.to_json() if args.json else policy)
    return 0


def _cmd_optimize(args: argparse.Namespace) -> int:
    if args.config is None and args.dataset is None:
        raise InputError("deepaug optimize needs --dataset NAME_OR_PATH (a named dataset such as digits or "
                         "fashion_mnist, an .npz file or a folder of class sub-folders) or --config FILE")
    run, config = load_config_file(args.config, sets(args.sets), dataset=args.dataset,
                                   experiment_name=args.experiment_name, reports_dir=args.reports_dir,
                                   iterations=args.iterations)
    if run.augment is not None:
        log.info("the config's augment: section is for `deepaug run` (search, then augment); optimize only searches")

    # the SearchConfig itself: a config file's keys are never read as a DeepAugment 1.x dict (deepaug.compat)
    search = DeepAugment(run.dataset, config=config, data_dir=run.data_dir,
                         image_size=run.image_size, square_crop=run.square_crop)
    try:
        table = search.optimize(run.iterations)
    except KeyboardInterrupt:
        print(f"deepaug: interrupted; finished trials are saved in {search.experiment_dir}. Run the same "
              "command again to resume.", file=sys.stderr)
        return 130
    print(_top_text(table, search))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:

    try:
        outcome = run_pipeline(args.config, sets(args.sets), experiment_name=args.experiment_name,
                               reports_dir=args.reports_dir, iterations=args.iterations)
    except RunError as exc:
        print(f"deepaug: augment stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deepaug: interrupted; finished trials and complete shards are saved. Run the same command again to "
              "resume.", file=sys.stderr)
        return 130
    print(_top_text(outcome.table, outcome.search))
    print(outcome.augment.summary())
    print(f"augment record: {outcome.record_path}")
    return 0


def _top_text(table: "Any", search: "Any", n: int = 5) -> str:
    lines = [f"top policies of experiment {search.experiment_name!r} ({search.experiment_dir}):"]
    if "gain_vs_trivialaugment" in getattr(table, "columns", ()):
        return "\n".join(lines + _race_lines(table, search))
    for _, row in table.head(n).iterrows():
        increase = row["expected_accuracy_increase(%)"]
        delta = "" if increase is None or increase != increase else f", {increase:+.2f} points over no augmentation"
        lines.append(f"trial {row['trial']}: reward {row['reward']:.4f} +- {row['reward_std']:.4f}{delta}")
        lines += ["  " + line for line in str(Policy.from_dict(json.loads(row["policy"]))).splitlines()]
    if not len(table):
        lines.append("(no finished search trial)")
    lines.append(f"best policy: {search.experiment.where('best_policy.json')}")
    lines.append(f"report: {search.experiment.where('report/summary.md')}")
    return "\n".join(lines)


def _race_lines(table: "Any", search: "Any") -> list[str]:
    """The distribution search's finalists and controls, each with its paired gains, then the verdict."""

    lines = []
    verdict = getattr(search, "verdict", None)
    best = f"vs {verdict.best_free_baseline} (the best free baseline)" if verdict is not None \
        and "gain_vs_best_control" in table else None
    for _, row in table[table["stage"] == "race"].iterrows():
        label = row["name"] if row["kind"] == "control" else f"trial {row['trial']}"
        mark = "  <- the answer" if row["winner"] else ""
        other = f"{best} {gain(row, 'best_control')}" if best else f"vs RandAugment {gain(row, 'randaugment')}"
        lines.append(f"{label}: reward {row['reward']:.4f} on {row['seeds']} seeds; vs TrivialAugment "
                     f"{gain(row, 'trivialaugment')}, {other} points{mark}")
        if row["kind"] != "control":
            lines.append(f"  {row['policy_text']}")
    if verdict is not None:
        lines.append(f"verdict: {verdict.message}")
    seconds = float(table["seconds"].sum()) if len(table) else 0.0
    controls = float(table.loc[table["kind"] == "control", "seconds"].sum()) if len(table) else 0.0
    share = f"; the controls took {duration(controls)} ({100 * controls / seconds:.0f}%)" if seconds else ""
    lines.append(f"search cost: {len(table)} trials, {duration(seconds)} of training (summed over trials){share}")
    lines.append(f"best policy: {search.experiment.where('best_policy.json')}")
    lines.append(f"report: {search.experiment.where('report/summary.md')}")
    return lines


def _cmd_report(args: argparse.Namespace) -> int:

    print(make_report(resolve_experiment(args.experiment, args.reports_dir), top_k=args.top))
    return 0


def _cmd_trial_run(args: argparse.Namespace) -> int:

    return run_trial_spec(args.spec)


def _cmd_k8s_render(args: argparse.Namespace) -> int:
    if args.search_config is None:
        raise InputError("deepaug k8s render needs --config (a search's config with a `kubernetes:` section), or "
                         "`augment` and the options of `deepaug augment` for an augmentation run's Job")

    run, config = load_config_file(args.search_config, sets(args.sets), experiment_name=args.experiment_name)
    settings = require(config.kubernetes)
    name = config.experiment_name or "deepaug"
    spec_uri = open_storage(settings.storage).uri(trial_spec_key(name, args.trial))
    parts = [("", [render_job(settings, name, args.trial, spec_uri)]),
             render_run_augment(run.augment, settings)] if not args.search_rbac_only else []
    if not args.search_job_only:
        parts.append(("", render_rbac(settings)))
    print(images_note(settings) + yaml_parts(parts), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `deepaug` parser: the user's verbs first, then the helpers, the pods' entry points last."""
    parser = argparse.ArgumentParser(prog="deepaug", description=__doc__)
    parser.add_argument("--version", action="version", version=f"deepaug {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_search_parsers(sub)
    add_evaluate_parser(sub)
    add_augment_parser(sub)
    _add_helper_parsers(sub)
    _add_k8s_parser(sub)
    _add_trial_parser(sub)
    return parser


def _add_search_parsers(sub: Any) -> None:
    """`deepaug run` and `deepaug optimize`."""
    run = sub.add_parser(
        "run", help="search for the best policy, then augment the whole dataset with it",
        description="Run the search described by a config file (as `deepaug optimize`), then the augmentation run "
                    "of its `augment:` section (the options of `deepaug augment`: input, output, variants, format, "
                    "size, executor, ...) with the best policy found. The augment section is checked before the "
                    "first trial. Running the same command again resumes whichever half is unfinished.")
    run.add_argument("--config", required=True, help="config file (.yaml/.yml/.json) with an `augment:` section")
    run.add_argument("--iterations", type=int, default=None, help="as for `deepaug optimize`")
    run.add_argument("--experiment-name", default=None, help="as for `deepaug optimize`")
    run.add_argument("--reports-dir", default=None, help="as for `deepaug optimize`")
    add_set_argument(run)
    run.set_defaults(func=_cmd_run)

    opt = sub.add_parser(
        "optimize", help="search for the best augmentation policy (resumes by experiment name)",
        description="Run a policy search on --dataset, or as a YAML/JSON config describes it: `dataset` plus any "
                    "DeepAugment config key (model, method, train_set_size, child_epochs, opt_samples, ...) and "
                    "deepaug's (seed, experiment_name, reports_dir, ops, ...); --set overrides any of them. "
                    "Running the same command again resumes the experiment. Ctrl-C keeps every finished trial. "
                    "Example: deepaug optimize --dataset digits --iterations 10 --set child_epochs=5")
    opt.add_argument("--dataset", default=None,
                     help="named dataset (digits, fashion_mnist, mnist, cifar10), .npz file or folder of class "
                          "sub-folders (overrides the config's; with it no config file is needed)")
    opt.add_argument("--config", default=None,
                     help="config file (.yaml/.yml/.json) or a built-in config name: quickstart")
    opt.add_argument("--iterations", type=int, default=None,
                     help="search trials the experiment should have when done (overrides the config's)")
    opt.add_argument("--experiment-name", default=None,
                     help="experiment folder name (default: the config's experiment_name, else the config file's "
                          "or the dataset's name)")
    opt.add_argument("--reports-dir", default=None, help="where experiments/<name>/ goes (default: reports)")
    add_set_argument(opt)
    opt.set_defaults(func=_cmd_optimize)


def _add_helper_parsers(sub: Any) -> None:
    """`deepaug report`, `demo`, `ops` and `policy`."""
    rep = sub.add_parser("report", help="write the report of an experiment (PNGs and a markdown summary)")
    rep.add_argument("experiment", help="experiment name (under REPORTS_DIR/experiments) or its folder")
    rep.add_argument("--reports-dir", default="reports", help="where experiments live (default: reports)")
    rep.add_argument("--top", type=int, default=5, help="policies in the summary's table (default: 5)")
    rep.set_defaults(func=_cmd_report)

    demo = sub.add_parser("demo", help="augment a few images of a real dataset and write a PNG grid")
    demo.add_argument("--dataset", default="fashion_mnist",
                      help="named dataset, .npz file or folder of class sub-folders (default: fashion_mnist)")
    demo.add_argument("--policy", default="reference", help="policy file or built-in name (default: reference)")
    demo.add_argument("--out", default="reports/demo/grid.png", help="PNG to write (default: %(default)s)")
    demo.add_argument("--images", type=int, default=8, help="rows of the grid (default: 8)")
    demo.add_argument("--variants", type=int, default=4, help="augmented copies per image (default: 4)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
    demo.set_defaults(func=_cmd_demo)

    ops_parser = sub.add_parser("ops", help="list the image ops")
    ops_parser.add_argument("--table", action="store_true", help="print the magnitude table as markdown")
    ops_parser.set_defaults(func=_cmd_ops)

    policy = sub.add_parser("policy", help="validate a policy file and print it")
    policy.add_argument("policy", help="policy file (.json/.yaml) or built-in name")
    policy.add_argument("--json", action="store_true", help="print the normalized JSON")
    policy.set_defaults(func=_cmd_policy)


def _add_k8s_parser(sub: Any) -> None:
    """`deepaug k8s render [augment]`."""
    k8s = sub.add_parser("k8s", help="print the Kubernetes manifests a run would submit")
    k8s_sub = k8s.add_subparsers(dest="k8s_command", required=True)
    render = k8s_sub.add_parser(
        "render", help="print the manifests a run would submit (a trial's Job, then the RBAC)",
        description="Print, as YAML, the Job that trial TRIAL of this config's search would submit with executor "
                    "kubernetes (and, when its augment: section says executor kubernetes, the augment Job that "
                    "`deepaug run` submits after the search), followed by the ServiceAccounts, Role and "
                    "RoleBinding it needs (kubectl apply -f - takes them); comments first name each Job's image. "
                    "`deepaug k8s render augment ...` prints the Indexed Job of an augmentation run instead.")
    render.add_argument("--config", dest="search_config",
                        help="the search's config file (with a `kubernetes:` section)")
    render.add_argument("--trial", type=int, default=1, help="trial number to render (default: 1)")
    render.add_argument("--experiment-name", default=None, help="as for `deepaug optimize`")
    add_set_argument(render)
    only = render.add_mutually_exclusive_group()
    only.add_argument("--job-only", dest="search_job_only", action="store_true",
                      help="print the Job(s) only, not the RBAC")
    only.add_argument("--rbac-only", dest="search_rbac_only", action="store_true",
                      help="print the RBAC only (to kubectl apply it)")
    render.set_defaults(func=_cmd_k8s_render)
    add_render_parser(render.add_subparsers(dest="render_what", metavar="augment"))


def _add_trial_parser(sub: Any) -> None:
    """`deepaug trial run`: what a Kubernetes trial pod runs."""
    trial = sub.add_parser("trial", help="(internal) run one trial from a spec: what a Kubernetes pod runs")
    trial_sub = trial.add_subparsers(dest="trial_command", required=True)
    trial_run = trial_sub.add_parser(
        "run", help="run the trial of a spec document and write its records back to storage",
        description="Read a trial spec (s3:// URI or path) and its shared context, train the trial and write its "
                    "RUNNING and finished records next to the spec. Exit code 0: complete; 3: the trial failed (its "
                    "record says why); 2: bad, missing or older-format spec; 1: anything else (worth a retry).")
    trial_run.add_argument("--spec", required=True, help="URI of the trial's spec.json")
    trial_run.set_defaults(func=_cmd_trial_run)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # -v: deepaug's own debug lines only; a library's (botocore logs request headers, credentials included) stay off
    logging.getLogger("deepaug").setLevel(logging.DEBUG if args.verbose else logging.NOTSET)
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, so that a reader gone away is a BrokenPipeError below, not at exit
        return code
    except InputError as exc:
        print(f"deepaug: error: {exc}", file=sys.stderr)
        return 2
    except SearchError as exc:
        print(f"deepaug: search stopped: {exc}", file=sys.stderr)
        return 1
    except RunError as exc:
        print(f"deepaug: augmentation run stopped: {exc}", file=sys.stderr)
        return 1
    except RetryableError as exc:
        print(f"deepaug: {args.command} stopped: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # an optional extra not installed (the light install): name it
        message = explain_missing(exc, f"deepaug {args.command}")
        if message is None:
            raise
        print(f"deepaug: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepaug: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`deepaug policy p.json --json | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush does not fail
        return 141  # what a shell reports for SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
