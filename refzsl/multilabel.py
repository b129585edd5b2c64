"""``python -m refzsl.multilabel``: P3's multi-label zero-shot comparison with temporal attention.

The command line only; the runner is :mod:`refzsl.experiments.multilabel`.
"""

import argparse
import json
import sys
from pathlib import Path

from ._util.aliases import module_getattr
from ._util.checks import non_negative_float, positive_float, positive_int
from .experiments.multilabel import DEFAULTS, SYSTEMS, _load_inputs, format_mean_table, format_table, run

# The runner's names, which this module held before it became a command only: ``refzsl.multilabel.X``
# still finds them in :mod:`refzsl.experiments.multilabel`.
__getattr__ = module_getattr(__name__, f"{__package__}.experiments.multilabel")


def _fold(text):
    if text == "all":
        return text
    if text not in ("0", "1", "2", "3", "4"):
        raise argparse.ArgumentTypeError(f"expected a fold 0-4 or 'all', got {text!r}")
    return int(text)


def build_parser():
    """The command-line parser of ``python -m refzsl.multilabel``."""
    from .models import _attention_sgd
    from .models.attention import _SIMILARITIES
    from .datasets.pack import PACK_RECIPES

    d = DEFAULTS
    parser = argparse.ArgumentParser(prog="python -m refzsl.multilabel", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", dest="root", help="data root (default: $REFZSL_DATA)")
    parser.add_argument("--test-fold", type=_fold, default=d["test_fold"],
                        help="P2 random class fold (Table II, 0-4) whose classes are tested, or 'all' for each "
                             "in turn and their mean")
    parser.add_argument("--recipe", choices=PACK_RECIPES, default=d["recipe"],
                        help="semantic embedding of the class labels (P2's ESC-50 recipes)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--seed", type=int, default=d["seed"], help="seeds the clips, the splits and the models")
    generator = parser.add_argument_group("generated clips")
    generator.add_argument("--n-train", type=positive_int, default=d["n_train"])
    generator.add_argument("--n-validation", type=positive_int, default=d["n_validation"])
    generator.add_argument("--n-test", type=positive_int, default=d["n_test"])
    generator.add_argument("--n-segments", type=positive_int, default=d["n_segments"],
                           help="segments per clip (YAMNet: 0.48 s each; 18 = two 5 s clips)")
    generator.add_argument("--n-sources", type=positive_int, nargs="+", default=list(d["n_sources"]),
                           help="allowed numbers of ESC-50 clips per generated clip")
    generator.add_argument("--min-source-segments", type=positive_int, default=d["min_source_segments"])
    model = parser.add_argument_group("model")
    model.add_argument("--n-components", type=positive_int, default=d["n_components"],
                       help="dimension of the common space")
    model.add_argument("--similarity", choices=_SIMILARITIES, default=d["similarity"],
                       help="segment-class compatibility in the common space")
    model.add_argument("--temperature", type=positive_float, default=d["temperature"],
                       help="softmax temperature of the attention over time")
    model.add_argument("--loss", choices=tuple(_attention_sgd.LOSSES), default=d["loss"])
    model.add_argument("--margin", type=positive_float, default=d["margin"])
    model.add_argument("--learning-rate", type=positive_float, default=d["learning_rate"])
    model.add_argument("--n-epochs", type=positive_int, default=d["n_epochs"])
    model.add_argument("--batch-size", type=positive_int, default=d["batch_size"])
    model.add_argument("--reg-lambda", type=non_negative_float, default=d["reg_lambda"])
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--progress", action="store_true", help="report progress on stderr")
    return parser


def main(argv=None):
    """Entry point of ``python -m refzsl.multilabel``; returns the exit code."""
    from .exceptions import MissingAssetError

    args = build_parser().parse_args(argv)
    options = {key: getattr(args, key) for key in DEFAULTS}
    options["n_sources"] = tuple(args.n_sources)
    folds = range(5) if args.test_fold == "all" else [args.test_fold]
    runs = []
    try:
        _, features, class_vectors = _load_inputs(args.root, args.recipe, args.progress)
        for fold in folds:
            options["test_fold"] = fold
            runs.append(run(root=args.root, features=features, class_vectors=class_vectors,
                            systems=tuple(args.systems), progress=args.progress, **options))
            print(format_table(runs[-1]), end="\n\n", flush=True)
    except (MissingAssetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if len(runs) > 1:
        print(format_mean_table(runs))
    if args.json is not None:
        args.json.write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
