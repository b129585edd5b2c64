"""``python -m refzsl.openset``: open-vocabulary zero-shot on ESC-50 from YAMNet's AudioSet knowledge.

The command line only; selection and evaluation are :mod:`refzsl.experiments.openset`.
"""

import argparse
import json
import sys

from ._util.aliases import module_getattr
from ._util.checks import non_negative_int, positive_int
from .exceptions import RefzslError
from .experiments.openset import evaluate_esc50, format_results, select_settings

# The runner's names, which this module held before it became a command only: ``refzsl.openset.X``
# still finds them in :mod:`refzsl.experiments.openset`.
__getattr__ = module_getattr(__name__, f"{__package__}.experiments.openset")


def build_parser():
    """The command-line parser of ``python -m refzsl.openset``."""
    parser = argparse.ArgumentParser(prog="python -m refzsl.openset", description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", action="store_true",
                        help="run the AudioSet-side selection (no ESC-50) and evaluate with its choice")
    parser.add_argument("--no-eval", action="store_true", help="with --select: selection only")
    parser.add_argument("--no-p2", action="store_true", help="skip P2's random-strategy folds")
    parser.add_argument("--draws", type=positive_int, default=8, help="selection: random draws of hidden classes")
    parser.add_argument("--recordings", nargs="+", metavar="FILE", default=None,
                        help="selection: real non-ESC-50 recordings to fit the pseudo-clips' strengths on "
                             "(default: the freedesktop sound theme and the espeak test fixtures)")
    parser.add_argument("--data-root", default=None, help="data root (default $REFZSL_DATA)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results to this JSON file")
    parser.add_argument("--progress", action="store_true", help="progress on stderr")
    return parser


def run(*, select=False, evaluate=True, p2=True, n_draws=8, recordings=None, data_root=None, seed=0,
        progress=False):
    """Selection and/or evaluation; returns a dict (see :func:`select_settings`, :func:`evaluate_esc50`).

    Without ``select`` the evaluation uses :data:`refzsl.models.conse.DEFAULTS` (the last selection's choice).
    """
    results = {}
    settings = None
    if select:
        results["selection"] = select_settings(root=data_root, n_draws=n_draws, recordings=recordings, seed=seed,
                                               progress=progress)
        settings = results["selection"]["best"]
    if evaluate:
        results.update(evaluate_esc50(root=data_root, settings=settings, p2=p2, seed=seed, progress=progress))
    return results


def main(argv=None):
    """Entry point: parse, run, print the tables; exit 1 on a refzsl error."""
    args = build_parser().parse_args(argv)
    try:
        results = run(select=args.select, evaluate=not args.no_eval, p2=not args.no_p2, n_draws=args.draws,
                      recordings=args.recordings, data_root=args.data_root, seed=args.seed, progress=args.progress)
    except (RefzslError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(format_results(results))
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
