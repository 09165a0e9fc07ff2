"""The `deepaug` command line."""
from __future__ import annotations

import argparse
import logging
import sys

from deepaug import __version__
from deepaug.errors import InputError

log = logging.getLogger("deepaug")


def _cmd_demo(args: argparse.Namespace) -> int:
    from deepaug.demo import run_demo

    out = run_demo(args.dataset, args.policy, out=args.out, n_images=args.images,
                   variants=args.variants, seed=args.seed, data_dir=args.data_dir)
    print(out)
    return 0


def _cmd_ops(args: argparse.Namespace) -> int:
    from deepaug import ops

    print(ops.table_markdown() if args.table else "\n".join(ops.names()))
    return 0


def _cmd_policy(args: argparse.Namespace) -> int:
    from deepaug import builtin

    policy = builtin.resolve(args.policy)
    print(policy.to_json() if args.json else policy)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepaug", description=__doc__)
    parser.add_argument("--version", action="version", version=f"deepaug {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

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

    ops = sub.add_parser("ops", help="list the image ops")
    ops.add_argument("--table", action="store_true", help="print the magnitude table as markdown")
    ops.set_defaults(func=_cmd_ops)

    policy = sub.add_parser("policy", help="validate a policy file and print it")
    policy.add_argument("policy", help="policy file (.json/.yaml) or built-in name")
    policy.add_argument("--json", action="store_true", help="print the normalized JSON")
    policy.set_defaults(func=_cmd_policy)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except InputError as exc:
        print(f"deepaug: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepaug: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
