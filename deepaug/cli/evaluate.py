"""`deepaug evaluate`: its options, and the table it prints."""
from __future__ import annotations

import argparse
from typing import Any

from deepaug.cli.options import positive_int
from deepaug.evaluation import evaluate
from deepaug.evaluation.methods import FREE_BASELINES
from deepaug.evaluation.tuned_randaugment import TUNE_MAGNITUDES, TUNE_N, grid_text
from deepaug.policy.baselines import RANDAUGMENT_MAGNITUDE, RANDAUGMENT_N
from deepaug.training.models import PRECISIONS


def run_command(args: argparse.Namespace) -> int:
    """`deepaug evaluate`: run `evaluate` from parsed arguments, print the table."""
    result = evaluate(args.policy, args.dataset, test=args.test, model=args.model, epochs=args.epochs, seeds=args.seeds,
                      train_size=args.train_size, batch_size=args.batch_size, learning_rate=args.learning_rate,
                      seed=args.seed, baselines=[b for b in args.baselines.split(",") if b],
                      randaugment_n=args.randaugment_n, randaugment_magnitude=args.randaugment_m,
                      ops=args.ops.split(",") if args.ops else None, data_dir=args.data_dir,
                      reports_dir=args.reports_dir, out_dir=args.out, name=args.name,
                      tune_randaugment=args.tune_randaugment, tune_seeds=args.tune_seeds,
                      tune_val_size=args.tune_val_size, image_size=args.image_size, precision=args.precision)
    print(result.markdown)
    print(f"written to {result.out_dir}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `deepaug evaluate` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "evaluate", help="compare policies with standard baselines on the test split (same model, same budget)",
        description="Train the same model on the same images with no augmentation, flip+crop, RandAugment, "
                    "TrivialAugment, TrivialAugment+flip+crop (with --tune-randaugment also the best "
                    "RandAugment of a grid tuned on validation images) and each --policy, several seeds "
                    "each; report last-epoch test accuracy (mean, std, 95% interval), training cost and, "
                    "when known, each policy's search cost (the tuned RandAugment's: its tuning cost).")
    p.add_argument("--policy", action="append", default=[],
                   help="policy file (.json/.yaml) or built-in name; repeat for several")
    p.add_argument("--dataset", default="fashion_mnist",
                   help="named dataset (its test split is used), .npz file or folder (20%% held out as test)")
    p.add_argument("--test", default=None, metavar="PATH",
                   help="your own test images (.npz file or folder of class folders, labelled as --dataset), "
                        "instead of the dataset's test split or held-out 20%%")
    p.add_argument("--data-dir", default=None, help="folder holding a named dataset's files")
    p.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                   help="resize training and test images to NxN (default: as they are; a named dataset smaller "
                        "than the model takes, such as digits' 8x8 for basiccnn, is enlarged to fit)")
    p.add_argument("--model", default="basiccnn", help="child model (default: basiccnn)")
    p.add_argument("--epochs", type=int, default=60, help="training epochs (default: 60)")
    p.add_argument("--seeds", type=int, default=3, help="trainings per method (default: 3)")
    p.add_argument("--train-size", type=int, default=None, help="stratified training subset (default: all)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="bfloat16 trains a named model in mixed bfloat16: faster on CPUs with AVX512_BF16/AMX and "
                        "on recent GPUs, slower elsewhere (default: float32)")
    p.add_argument("--seed", type=int, default=0, help="first training seed and the subset's seed (default: 0)")
    p.add_argument("--baselines", default=",".join(FREE_BASELINES), help="comma-separated (default: %(default)s)")
    p.add_argument("--randaugment-n", type=int, default=RANDAUGMENT_N, help="RandAugment ops per image (default: 2)")
    p.add_argument("--randaugment-m", type=float, default=RANDAUGMENT_MAGNITUDE,
                   help="RandAugment magnitude in [0, 1] (default: 0.3, i.e. 9 of 30)")
    p.add_argument("--ops", default=None, help="comma-separated ops for RandAugment/TrivialAugment (default: 13 "
                                               "standard ones, see deepaug.policy.baselines.DEFAULT_OPS)")
    p.add_argument("--reports-dir", default="reports", help="where experiments and evaluations live")
    p.add_argument("--out", default=None, help="output folder (default: REPORTS_DIR/evaluations/<name>)")
    p.add_argument("--name", default=None, help="evaluation name (default: dataset and policy names)")
    p.add_argument("--tune-randaugment", action="store_true",
                   help=f"also tune RandAugment over {grid_text(TUNE_N, TUNE_MAGNITUDES)} "
                        f"({len(TUNE_N) * len(TUNE_MAGNITUDES)} configs x --tune-seeds trainings of --epochs each) on validation images left out of "
                        "--train-size (required), and evaluate the best as a baseline; its tuning time is shown "
                        "as its search cost, the grid in tuning.csv")
    p.add_argument("--tune-seeds", type=int, default=1, help="trainings per grid point (default: 1)")
    p.add_argument("--tune-val-size", type=int, default=None,
                   help="validation images for tuning, drawn with --seed from the images outside --train-size "
                        "(default: the rest of the pool, at most 10,000, as the distribution search draws "
                        "them; pass a search's validation_size, seed and train_set_size to tune on what it "
                        "validated on)")
    p.set_defaults(func=run_command)
    return p
