"""``python -m refzsl.extract``: acoustic embeddings of audio files or of ESC-50, cached by content.

The command line only; the extraction itself is :mod:`refzsl.acoustic.extraction`.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

from ._util.aliases import module_getattr
from ._util.checks import positive_float
from ._util.files import check_output_file, check_output_folder, is_npz_with
from .acoustic.extraction import ON_ERROR, extract_files, find_audio_files
from .acoustic.scheduling import Scheduler, add_scheduler_arguments, make_scheduler, scheduler_from_arguments
from .acoustic.shards import ShardedFeatures, extract_sharded
from .audio.frontend import SHORT_POLICIES
from .audio.io import RESAMPLE_FILTERS
from .datasets.esc50 import ESC50, extract_esc50
from .exceptions import OutputError, RefzslError

# The runner's names, which this module held before it became a command only: ``refzsl.extract.X``
# still finds them in :mod:`refzsl.acoustic.extraction`.
__getattr__ = module_getattr(__name__, f"{__package__}.acoustic.extraction")

# Exit code when files could not be used and were skipped: ``refzsl classify``'s code for an audio file.
_EXIT_AUDIO = 4


def build_parser():
    """The ``python -m refzsl.extract`` argument parser."""
    from .acoustic.embedders import EMBEDDERS

    parser = argparse.ArgumentParser(
        prog="python -m refzsl.extract",
        description="Extract segment- and clip-level acoustic embeddings (YAMNet / VGGish) of audio files "
                    "or of ESC-50, with a content-keyed cache.")
    parser.add_argument("inputs", nargs="*", help="audio files or folders (searched recursively)")
    parser.add_argument("--esc50", action="store_true", help="extract all ESC-50 clips of the data root")
    parser.add_argument("-o", "--output", required=True,
                        help="features file to write (NAME.npz), or a folder of shards (one .npz per batch "
                             "plus manifest.json) for any other name")
    parser.add_argument("--embedder", default="yamnet", choices=sorted(EMBEDDERS), help="acoustic model")
    parser.add_argument("--data-root", default=None, help="data root (default: $REFZSL_DATA)")
    parser.add_argument("--model-path", default=None, help="model file instead of the data root's")
    add_scheduler_arguments(parser)
    parser.add_argument("--batch-mb", type=positive_float, default=4.0,
                        help="megabytes of audio files per task (default 4)")
    parser.add_argument("--on-error", choices=ON_ERROR, default="skip",
                        help="an unreadable file is skipped, listed in the manifest and gives exit code 4 "
                             "(skip, default), or stops the run (raise)")
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


def run(*, inputs=(), esc50=False, output, embedder="yamnet", data_root=None, model_path=None, workers=None,
        scheduler=None, dask_address=None, batch_mb=4.0, on_error="skip", cache=True, short_policy="pad",
        resample_filter="kaiser_best", progress=True, force=False):
    """Extract features of ``inputs`` (or ESC-50) and save them to ``output``.

    Parameters
    ----------
    inputs : sequence of str or Path
        Audio files or folders (see :func:`find_audio_files`); ignored when ``esc50``.
    esc50 : bool
        Extract all ESC-50 clips of the data root instead (:func:`extract_esc50`).
    output : str or Path
        ``NAME.npz``: one features file (:meth:`Features.save`); any other name: a folder of
        shards written by the workers (:func:`extract_sharded`).
    workers : int >= 1, optional
        Processes of the pool or the local Dask cluster (default 1).
    scheduler : str in SCHEDULERS or Scheduler, optional
        Default: ``"process"`` for one worker, the pool for more; ``"dask"`` with a
        ``dask_address`` or a local cluster (:func:`make_scheduler`).
    dask_address : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    embedder, model_path, batch_mb, on_error, cache, short_policy, resample_filter, progress
        As :func:`extract_files`.
    data_root : str or Path, optional
        Data root (default ``REFZSL_DATA``), :func:`extract_files`'s ``root``.
    force : bool
        Write ``output`` even over an input or an existing file that is not a features file.

    Returns
    -------
    Features or ShardedFeatures

    Raises
    ------
    FileNotFoundError
        If an input does not exist or holds no audio file.
    OutputError
        If ``output`` is refused (an input, another kind of file, an unwritable folder), before any work.
    AudioError, MissingAssetError, ValueError, SharedPathError
        As :func:`extract_files` and :func:`extract_esc50`.
    """
    if esc50:
        dataset = ESC50(data_root).verify()
        paths, clip_ids = dataset.paths, dataset.clip_ids
    else:
        paths, clip_ids = find_audio_files(inputs)
    sharded = Path(output).suffix.lower() != ".npz"
    if sharded:
        if Path(output).expanduser().is_file():  # name the likelier mistake first: an input given as -o
            check_output_file(output, option="-o/--output", inputs=paths, force=force, is_output=lambda path: True)
        check_output_folder(output, option="-o/--output")
    else:
        check_output_file(output, option="-o/--output", inputs=paths, force=force,
                          is_output=lambda path: is_npz_with(path, ("clip_ids", "manifest")))
    given, scheduler = scheduler, make_scheduler(scheduler, workers=workers, address=dask_address)
    options = dict(embedder=embedder, root=data_root, model_path=model_path, workers=workers or 1,
                   scheduler=scheduler, batch_mb=batch_mb, on_error=on_error, cache=cache,
                   short_policy=short_policy, resample_filter=resample_filter, progress=progress)
    try:
        if sharded:
            return extract_sharded(paths, output, clip_ids=clip_ids, **options)
        features = extract_esc50(**options) if esc50 else extract_files(paths, clip_ids=clip_ids, **options)
        features.save(output)
        return features
    finally:
        if scheduler is not given and isinstance(scheduler, Scheduler):
            scheduler.close()


def main(argv=None):
    """Command-line entry point; returns the exit code (4 if files failed and were skipped)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.esc50 == bool(args.inputs):
        parser.error("give audio files/folders or --esc50 (one of the two)")
    if args.no_cache and args.cache_dir:
        parser.error("--no-cache and --cache-dir exclude each other")
    scheduler = scheduler_from_arguments(parser, args)
    cache = False if args.no_cache else (args.cache_dir or True)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # warnings (a damaged cache entry, a skipped file) as one line each
            warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)
            features = run(inputs=args.inputs, esc50=args.esc50, output=args.output, embedder=args.embedder,
                           data_root=args.data_root, model_path=args.model_path, workers=args.workers,
                           scheduler=scheduler, batch_mb=args.batch_mb, on_error=args.on_error, cache=cache,
                           short_policy=args.short_policy, resample_filter=args.resample_filter,
                           progress=not args.quiet, force=args.force)
    except OutputError as error:
        parser.exit(7, f"error: {error}\n")
    except (RefzslError, FileNotFoundError) as error:
        parser.exit(1, f"error: {error}\n")
    finally:
        if isinstance(scheduler, Scheduler):
            scheduler.close()
    if isinstance(features, ShardedFeatures):  # its manifest.json only: the shards stay unread
        manifest, segments = features.index, sum(shard["n_segments"] for shard in features.shards)
    else:
        manifest, segments = features.manifest, sum(features.manifest["segment_counts"])
    dropped, failed = len(manifest["dropped"]), len(manifest["failed"])
    print(f"{len(features)} clips -> {args.output} ({manifest['embedder']['name']}, {segments} segments, "
          f"{dropped} dropped, {failed} failed) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if failed:
        print(f"error: {failed} file(s) could not be read and were skipped; the manifest lists them under "
              f"'failed'", file=sys.stderr)
        return _EXIT_AUDIO
    return 0


if __name__ == "__main__":
    sys.exit(main())
