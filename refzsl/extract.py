"""``python -m refzsl.extract``: acoustic embeddings of audio files or of ESC-50, cached by content.

The command line only; the extraction itself is :mod:`refzsl.acoustic.extraction`.
"""

import argparse
import sys
import time
import warnings

from ._util.aliases import module_getattr
from ._util.checks import positive_int
from ._util.files import check_output_file, is_npz_with
from .acoustic.extraction import extract_files, find_audio_files
from .audio.frontend import SHORT_POLICIES
from .audio.io import RESAMPLE_FILTERS
from .datasets.esc50 import extract_esc50
from .exceptions import OutputError, RefzslError

# The runner's names, which this module held before it became a command only: ``refzsl.extract.X``
# still finds them in :mod:`refzsl.acoustic.extraction`.
__getattr__ = module_getattr(__name__, f"{__package__}.acoustic.extraction")


def build_parser():
    """The ``python -m refzsl.extract`` argument parser."""
    from .acoustic.embedders import EMBEDDERS

    parser = argparse.ArgumentParser(
        prog="python -m refzsl.extract",
        description="Extract segment- and clip-level acoustic embeddings (YAMNet / VGGish) of audio files "
                    "or of ESC-50, with a content-keyed cache.")
    parser.add_argument("inputs", nargs="*", help="audio files or folders (searched recursively)")
    parser.add_argument("--esc50", action="store_true", help="extract all ESC-50 clips of the data root")
    parser.add_argument("-o", "--output", required=True, help="features file to write (.npz)")
    parser.add_argument("--embedder", default="yamnet", choices=sorted(EMBEDDERS), help="acoustic model")
    parser.add_argument("--data-root", default=None, help="data root (default: $REFZSL_DATA)")
    parser.add_argument("--model-path", default=None, help="model file instead of the data root's")
    parser.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default: $REFZSL_CACHE/segments)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--short-policy", default="pad", choices=SHORT_POLICIES,
                        help="clips shorter than 0.975 s: pad to one patch (default), drop, or error")
    parser.add_argument("--resample-filter", default="kaiser_best", choices=RESAMPLE_FILTERS,
                        help="resampy filter (default kaiser_best, the reference's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true",
                        help="write -o even over an input or an existing file that is not a features file")
    return parser


def run(*, inputs=(), esc50=False, output, embedder="yamnet", data_root=None, model_path=None, workers=1,
        cache=True, short_policy="pad", resample_filter="kaiser_best", progress=True, force=False):
    """Extract features of ``inputs`` (or ESC-50) and save them to ``output``.

    Parameters
    ----------
    inputs : sequence of str or Path
        Audio files or folders (see :func:`find_audio_files`); ignored when ``esc50``.
    esc50 : bool
        Extract all ESC-50 clips of the data root instead (:func:`extract_esc50`).
    output : str or Path
        Features file to write (:meth:`Features.save`).
    embedder, model_path, workers, cache, short_policy, resample_filter, progress
        As :func:`extract_files`.
    data_root : str or Path, optional
        Data root (default ``REFZSL_DATA``), :func:`extract_files`'s ``root``.
    force : bool
        Write ``output`` even over an input or an existing file that is not a features file.

    Returns
    -------
    Features

    Raises
    ------
    FileNotFoundError
        If an input does not exist or holds no audio file.
    OutputError
        If ``output`` is refused (an input, another kind of file, an unwritable folder), before any work.
    AudioError, MissingAssetError, ValueError
        As :func:`extract_files` and :func:`extract_esc50`.
    """
    options = dict(embedder=embedder, root=data_root, model_path=model_path, workers=workers, cache=cache,
                   short_policy=short_policy, resample_filter=resample_filter, progress=progress)
    paths, clip_ids = ([], []) if esc50 else find_audio_files(inputs)
    check_output_file(output, option="-o/--output", inputs=paths, force=force,
                      is_output=lambda path: is_npz_with(path, ("clip_ids", "manifest")))
    if esc50:
        features = extract_esc50(**options)
    else:
        features = extract_files(paths, clip_ids=clip_ids, **options)
    features.save(output)
    return features


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.esc50 == bool(args.inputs):
        parser.error("give audio files/folders or --esc50 (one of the two)")
    if args.no_cache and args.cache_dir:
        parser.error("--no-cache and --cache-dir exclude each other")
    cache = False if args.no_cache else (args.cache_dir or True)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # warnings (a damaged cache entry, no cache) as one line each
            warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)
            features = run(inputs=args.inputs, esc50=args.esc50, output=args.output, embedder=args.embedder,
                           data_root=args.data_root, model_path=args.model_path, workers=args.workers, cache=cache,
                           short_policy=args.short_policy, resample_filter=args.resample_filter,
                           progress=not args.quiet, force=args.force)
    except OutputError as error:
        parser.exit(7, f"error: {error}\n")
    except (RefzslError, FileNotFoundError) as error:
        parser.exit(1, f"error: {error}\n")
    dropped = len(features.manifest["dropped"])
    print(f"{len(features)} clips -> {args.output} ({features.clip_embeddings.shape[1]}-d, "
          f"{sum(len(s) for s in features.segment_embeddings)} segments, {dropped} dropped) "
          f"in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
