"""``python -m refzsl.audioset``: P2's AudioSet protocol (Table IX) on Google's released AudioSet features.

The command line only; the runner is :mod:`refzsl.experiments.audioset`.
"""

import argparse
import json
import sys
from pathlib import Path

from ._util.checks import non_negative_int, positive_int
from .acoustic.scheduling import Scheduler, add_scheduler_arguments, scheduler_from_arguments
from .experiments.audioset import MAX_CLIPS_PER_CLASS, SETTINGS, format_table, run_audioset


def build_parser():
    """The command-line parser of ``python -m refzsl.audioset``."""
    from .semantic.recipes import RECIPES

    parser = argparse.ArgumentParser(prog="python -m refzsl.audioset", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--features", type=Path, required=True,
                        help="folder of AudioSet feature shards (*.tfrecord, searched recursively): Google's "
                             "release (bal_train/, eval/, unbal_train/) or one of its folders")
    parser.add_argument("--setting", type=int, choices=SETTINGS, default=1,
                        help="which column of Table IX to compare with (P2: VGGish trained on Fold0+1 or Fold2+3)")
    parser.add_argument("--embedding", nargs="+", default=["all"], choices=list(RECIPES) + ["all"],
                        metavar="RECIPE", help=f"semantic embeddings, or 'all' (the 15 of Table IX): "
                                                f"{', '.join(RECIPES)}")
    parser.add_argument("--acoustic-features", type=Path,
                        help="your own clip embeddings instead of the released ones: .npz with video_ids, "
                             "start_seconds, embeddings")
    parser.add_argument("--data-root", help="data root with audioset/ontology.json, audioset/"
                                            "class_labels_indices.csv and the word vectors (default: $REFZSL_DATA)")
    parser.add_argument("--word2vec", type=Path, help="Word2Vec vectors (e.g. the full GoogleNews file)")
    parser.add_argument("--glove", type=Path, help="GloVe vectors (e.g. glove.840B.300d.txt)")
    parser.add_argument("--sentence-model", help="sentence-transformers model folder for BSE")
    parser.add_argument("--max-per-class", type=positive_int, default=MAX_CLIPS_PER_CLASS,
                        help="under-sample classes to at most this many clips")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seeds the under-sampling, the class folds and the models")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                        help="corrupt records: stop with an error naming shard and offset, or skip and count them")
    parser.add_argument("--json", type=Path, help="also write every number as JSON to this file")
    parser.add_argument("--progress", action="store_true", help="report progress on stderr")
    add_scheduler_arguments(parser)  # where the shards are read: this process (default), a pool or Dask
    return parser


def main(argv=None):
    """Entry point of ``python -m refzsl.audioset``; returns the exit code."""
    from .datasets.tfrecord import CorruptRecordError
    from .exceptions import MissingAssetError, OutOfVocabularyError
    from .semantic.recipes import RECIPES

    parser = build_parser()
    args = parser.parse_args(argv)
    scheduler = scheduler_from_arguments(parser, args)
    recipes = list(RECIPES) if "all" in args.embedding else list(dict.fromkeys(args.embedding))
    vectors = {name: path for name, path in (("word2vec", args.word2vec), ("glove", args.glove)) if path}
    try:
        report = run_audioset(features=args.features, setting=args.setting, recipes=recipes,
                              acoustic_features=args.acoustic_features, data_root=args.data_root,
                              vectors=vectors or None, sentence_model=args.sentence_model, seed=args.seed,
                              max_per_class=args.max_per_class, on_error=args.on_error, progress=args.progress,
                              read_options={"scheduler": scheduler})
    except CorruptRecordError as error:
        print(f"error: {error} (rerun with --on-error skip to skip corrupt records)", file=sys.stderr)
        return 4
    except (MissingAssetError, FileNotFoundError, OutOfVocabularyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if isinstance(scheduler, Scheduler):
            scheduler.close()
    print(format_table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
