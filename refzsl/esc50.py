"""``python -m refzsl.esc50``: the ESC-50 tables of P1 and P2, side by side with the papers.

The command line only: parsing, cross-checking flags, printing and writing. The protocols and the
runner live in :mod:`refzsl.experiments.esc50`.
"""

import argparse
import os
import sys
from pathlib import Path

from ._util.aliases import module_getattr
from ._util.checks import non_negative_float, non_negative_int, positive_float, positive_int
from ._util.files import check_output_folder
from .config import DATA_ROOT_ENV
from .exceptions import OutputError, RefzslError
from .experiments.esc50 import (ACOUSTIC_MODELS, FEATURE_SOURCES, OUTPUT_FORMATS, _stem, format_table,
                                plot_confusion, run_esc50, write_results)
from .models._ranksgd import UPDATE_RULES
from .models.bilinear import NORMALIZATIONS

# The runner's names, which this module held before it became a command only: ``refzsl.esc50.X``
# still finds them in :mod:`refzsl.experiments.esc50`.
__getattr__ = module_getattr(__name__, f"{__package__}.experiments.esc50")


# -- command line ---------------------------------------------------------------------------------------


def _recipes():
    from .semantic.recipes import RECIPES
    return tuple(RECIPES)


def build_parser():
    """The argument parser of ``python -m refzsl.esc50``."""
    parser = argparse.ArgumentParser(
        prog="python -m refzsl.esc50",
        description="Rerun the ESC-50 zero-shot tables of Xie & Virtanen (P1: WASPAA 2019, P2: TASLP 2021) and "
                    "print them next to the papers' numbers.")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--strategy", choices=("random", "category"),
                       help="P2 class folds: Table II's random folds (default) or one category per fold")
    which.add_argument("--setting", type=int, choices=(1, 2, 3, 4),
                       help="P1 setting (3 = P2's category strategy, with P1's numbers)")
    parser.add_argument("--embedding", default="WLE", choices=_recipes(), help="semantic recipe (default WLE)")
    parser.add_argument("--acoustic", default="yamnet", choices=ACOUSTIC_MODELS,
                        help="acoustic model (default yamnet; vggish needs models/vggish.tflite in the data root; "
                             "scratch/triplet: per-fold networks that never heard the test classes, from the "
                             "shipped network pack or, with a data root, trained on the audio)")
    parser.add_argument("--features", default="auto", choices=FEATURE_SOURCES,
                        help="pack: the shipped feature pack; audio: extract from --data-root (cached); "
                             "auto (default): audio if a data root is set, else pack")
    parser.add_argument("--data-root", type=Path, help=f"data root (default ${DATA_ROOT_ENV})")
    parser.add_argument("--pack", type=Path, dest="pack_path", help="feature pack .npz (default: the shipped one)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of P1 folds, inner folds and sample order")
    parser.add_argument("--select", action=argparse.BooleanOptionalAction, default=True,
                        help="select λ, learning rate and epochs on inner class folds of the training classes "
                             "(default); --no-select uses --learning-rate/--epochs/--reg-lambda")
    parser.add_argument("--learning-rate", type=positive_float, help="η (with --no-select)")
    parser.add_argument("--epochs", type=positive_int, dest="n_epochs", help="epochs (with --no-select)")
    parser.add_argument("--reg-lambda", type=non_negative_float, help="λ (with --no-select; default 0)")
    parser.add_argument("--normalize", default="both", choices=NORMALIZATIONS,
                        help="unit-norm inputs of BilinearZSL (default both)")
    parser.add_argument("--update", default="algorithm1", choices=tuple(UPDATE_RULES),
                        help="Training Algorithm 1 as printed (default) or β_K/K on every violator")
    parser.add_argument("--out", type=Path, help="folder for the JSON/CSV/Markdown results")
    parser.add_argument("--format", nargs="+", default=list(OUTPUT_FORMATS), choices=OUTPUT_FORMATS,
                        dest="formats", help="formats written to --out (default all)")
    parser.add_argument("--plot", action="store_true", help="also write the confusion matrix PNG to --out")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def parse_args(argv=None):
    """Parse and cross-check the arguments (dependent flags are errors at the parser)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    fixed = {"--learning-rate": args.learning_rate, "--epochs": args.n_epochs, "--reg-lambda": args.reg_lambda}
    given = [flag for flag, value in fixed.items() if value is not None]
    if args.select and given:
        parser.error(f"{', '.join(given)} fix hyper-parameters: add --no-select (selection is the default)")
    if not args.select and (args.learning_rate is None or args.n_epochs is None):
        parser.error("--no-select needs --learning-rate and --epochs")
    if args.plot and args.out is None:
        parser.error("--plot writes into --out: give --out DIR")
    if args.features == "audio" and args.data_root is None and not os.environ.get(DATA_ROOT_ENV):
        parser.error(f"--features audio needs --data-root or {DATA_ROOT_ENV}")
    if args.features == "pack" and args.acoustic == "vggish":
        parser.error("the feature pack holds YAMNet embeddings: --acoustic vggish needs --features audio")
    args.protocol = f"setting{args.setting}" if args.setting else (args.strategy or "random")
    return args


def main(argv=None):
    """Entry point: parse, run, print, write. Returns the exit code (0 ok, 1 error, 7 --out cannot be written)."""
    args = parse_args(argv)
    try:
        if args.out is not None:  # checked first: an unwritable --out must not throw a whole run away
            check_output_folder(args.out, option="--out")
    except OutputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 7
    try:
        results = run_esc50(
            protocol=args.protocol, embedding=args.embedding, acoustic=args.acoustic, features=args.features,
            data_root=args.data_root, pack_path=args.pack_path, seed=args.seed, select=args.select,
            learning_rate=args.learning_rate, n_epochs=args.n_epochs, reg_lambda=args.reg_lambda or 0.0,
            normalize=args.normalize, update=args.update, progress=not args.quiet)
        print(format_table(results))
        if args.out is not None:
            for path in write_results(results, args.out, formats=args.formats):
                print(f"wrote {path}", file=sys.stderr)
            if args.plot:
                path = plot_confusion(results, args.out / f"{_stem(results)}_confusion.png")
                print(f"wrote {path}", file=sys.stderr)
    except (RefzslError, ValueError, FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
