"""``python -m refzsl.soundscapes``: P3 on scaper soundscapes of short events, and zero-shot sound event detection.

The command line only; the runner is :mod:`refzsl.experiments.soundscapes`.
"""

import argparse
import json
import sys
from pathlib import Path

from ._util.checks import non_negative_float, positive_float, positive_int
from .experiments.soundscapes import DEFAULTS, SYSTEMS, format_summary, format_table, run


def _folds(text):
    if text == "all":
        return [0, 1, 2, 3, 4]
    folds = []
    for part in text.split(","):
        if part not in ("0", "1", "2", "3", "4"):
            raise argparse.ArgumentTypeError(f"expected folds 0-4 separated by commas, or 'all', got {text!r}")
        folds.append(int(part))
    return folds


def _seeds(text):
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integer seeds separated by commas, got {text!r}") from None


def build_parser():
    """The command-line parser of ``python -m refzsl.soundscapes``."""
    from .datasets.pack import PACK_RECIPES
    from .models import _attention_sgd
    from .models.attention import _SIMILARITIES

    d = DEFAULTS
    parser = argparse.ArgumentParser(prog="python -m refzsl.soundscapes", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", dest="root", help="data root (default: $REFZSL_DATA)")
    parser.add_argument("--folder", type=Path,
                        help="where sources and mixed soundscapes are kept (default: $REFZSL_CACHE/soundscapes)")
    parser.add_argument("--test-folds", type=_folds, default=[d["test_fold"]],
                        help="P2 random class folds (Table II) tested, e.g. 0,1 or 'all'")
    parser.add_argument("--seeds", type=_seeds, default=[d["seed"]],
                        help="seeds (soundscapes, class splits, models), e.g. 0,1; every fold runs with every seed")
    parser.add_argument("--recipe", choices=PACK_RECIPES, default=d["recipe"],
                        help="semantic embedding of the class labels")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    generator = parser.add_argument_group("soundscapes")
    generator.add_argument("--n-train", type=positive_int, default=d["n_train"])
    generator.add_argument("--n-validation", type=positive_int, default=d["n_validation"])
    generator.add_argument("--n-test", type=positive_int, default=d["n_test"])
    generator.add_argument("--n-supervised", type=positive_int, default=d["n_supervised"],
                           help="training soundscapes of the supervised bound")
    generator.add_argument("--no-overlap", dest="allow_overlap", action="store_false",
                           help="forbid overlapping foreground events")
    model = parser.add_argument_group("model (defaults: the sequence benchmark's)")
    model.add_argument("--n-components", type=positive_int, default=d["n_components"])
    model.add_argument("--similarity", choices=_SIMILARITIES, default=d["similarity"])
    model.add_argument("--temperature", type=positive_float, default=d["temperature"])
    model.add_argument("--loss", choices=tuple(_attention_sgd.LOSSES), default=d["loss"])
    model.add_argument("--margin", type=positive_float, default=d["margin"])
    model.add_argument("--learning-rate", type=positive_float, default=d["learning_rate"])
    model.add_argument("--n-epochs", type=positive_int, default=d["n_epochs"])
    model.add_argument("--batch-size", type=positive_int, default=d["batch_size"])
    model.add_argument("--reg-lambda", type=non_negative_float, default=d["reg_lambda"])
    parser.add_argument("--workers", type=positive_int, default=1, help="extraction processes")
    parser.add_argument("--plot", type=Path,
                        help="write a figure of one test soundscape of the first run (log-mel spectrogram, "
                             "reference events, activity curves) to this image file")
    parser.add_argument("--plot-index", type=int, default=0, help="which test soundscape --plot draws")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--progress", action="store_true", help="report progress on stderr")
    return parser


def _plot(result, path, index):
    """Draw test soundscape ``index`` of a run kept with ``keep_curves=True``."""
    from .audio.io import load_audio
    from .experiments.soundscapes import plot_soundscape

    test, names = result["test"], result["class_names"]
    if not 0 <= index < len(test):
        raise ValueError(f"--plot-index {index} is outside the {len(test)} test soundscapes")
    spec = test.specs[index]
    reference = [(event.onset_seconds, event.offset_seconds, names[event.target]) for event in spec.events]
    curves = {system: system_curves[index] for system, system_curves in result["curves"].items()}
    thresholds = {system: result["systems"][system]["sed"]["threshold"] for system in curves}
    setup = result["setup"]
    title = (f"test soundscape {index} (fold {setup['test_fold']}, seed {setup['seed']}): "
             + ", ".join(f"{names[event.target]} {event.ebr_db:+g} dB" for event in spec.events)
             + f" over {names[spec.background_target]}")
    rate = test.recipe.sample_rate_hz
    return plot_soundscape(path, waveform=load_audio(test.audio_paths[index], sample_rate_hz=rate),
                           sample_rate_hz=rate, reference=reference, curves=curves, thresholds=thresholds,
                           class_names=setup["test_classes"], starts=result["segment_starts"],
                           ends=result["segment_ends"], title=title)


def main(argv=None):
    """Entry point of ``python -m refzsl.soundscapes``; returns the exit code."""
    from .exceptions import MissingAssetError

    args = build_parser().parse_args(argv)
    options = {key: getattr(args, key) for key in DEFAULTS if key not in ("test_fold", "seed")}
    runs = []
    try:
        for seed in args.seeds:
            for fold in args.test_folds:
                result = run(root=args.root, folder=args.folder, systems=tuple(args.systems), progress=args.progress,
                             keep_curves=args.plot is not None and not runs, workers=args.workers,
                             test_fold=fold, seed=seed, **options)
                if "test" in result:
                    print(f"plot: {_plot(result, args.plot, args.plot_index)}", file=sys.stderr)
                    for key in ("test", "curves", "class_names", "segment_starts", "segment_ends"):
                        del result[key]
                runs.append(result)
                print(format_table(result), end="\n\n", flush=True)
    except (MissingAssetError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if len(runs) > 1:
        print(format_summary(runs))
    if args.json is not None:
        args.json.write_text(json.dumps(runs, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
