"""``python -m refzsl.multilabel``: P3's multi-label zero-shot comparison with temporal attention.

The command line only; the runner is :mod:`refzsl.experiments.multilabel`.
"""

import argparse
import json
import sys
from pathlib import Path

from ._util.aliases import module_getattr
from ._util.checks import non_negative_float, non_negative_int, positive_float, positive_int
from .experiments.audioset_multilabel import DEFAULTS as AUDIOSET_DEFAULTS
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
    parser.add_argument("--dataset", choices=("esc50", "audioset"), default="esc50",
                        help="ESC-50 mixtures, or real AudioSet clips from --features (1 s frames as segments)")
    parser.add_argument("--features", type=Path,
                        help="with --dataset audioset: folder of AudioSet feature shards (*.tfrecord)")
    parser.add_argument("--max-clips", type=positive_int, default=AUDIOSET_DEFAULTS["max_clips"],
                        help="with --dataset audioset: clips read (shards in random order)")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                        help="with --dataset audioset: corrupt records stop the run, or are skipped")
    parser.add_argument("--test-fold", type=_fold, default=d["test_fold"],
                        help="P2 random class fold (Table II, 0-4) whose classes are tested, or 'all' for each "
                             "in turn and their mean")
    parser.add_argument("--recipe", choices=PACK_RECIPES, default=d["recipe"],
                        help="semantic embedding of the class labels (P2's ESC-50 recipes)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--seed", type=non_negative_int, default=d["seed"], help="seeds the clips, the splits and the models")
    generator = parser.add_argument_group("generated clips")
    for name in ("n_train", "n_validation", "n_test"):
        generator.add_argument("--" + name.replace("_", "-"), type=positive_int,
                               help=f"default {d[name]} (esc50), {AUDIOSET_DEFAULTS[name]} (audioset)")
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

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dataset == "audioset":
        if args.features is None:
            parser.error("--dataset audioset needs --features DIR")
        return _main_audioset(args)
    options = {key: getattr(args, key) for key in DEFAULTS}
    options.update({key: DEFAULTS[key] for key in ("n_train", "n_validation", "n_test") if options[key] is None})
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


def _main_audioset(args):
    """``--dataset audioset``: P3 on AudioSet feature shards (:mod:`refzsl.experiments.audioset_multilabel`)."""
    from .datasets.tfrecord import CorruptRecordError
    from .exceptions import MissingAssetError
    from .experiments import audioset_multilabel

    # --n-segments describes the ESC-50 mixtures; AudioSet clips keep their 10 one-second frames.
    options = {key: getattr(args, key) for key in AUDIOSET_DEFAULTS if hasattr(args, key) and key != "n_segments"}
    options.update({key: AUDIOSET_DEFAULTS[key] for key, value in options.items() if value is None})
    try:
        results = audioset_multilabel.run(features=args.features, root=args.root, systems=tuple(args.systems),
                                          on_error=args.on_error, progress=args.progress, **options)
    except CorruptRecordError as error:
        print(f"error: {error} (rerun with --on-error skip to skip corrupt records)", file=sys.stderr)
        return 4
    except (MissingAssetError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(audioset_multilabel.format_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
