"""Audio files -> segment- and clip-level acoustic embeddings, with a content-keyed cache.

Each clip is streamed through :func:`refzsl.audio.iter_audio`,
:func:`refzsl.frontend.iter_patches` and an embedder, block by block (memory stays flat
in a clip's duration)
(:func:`refzsl.embedders.get_embedder`): one embedding per patch ("segment"),
and the clip embedding is their mean (P1 §2.1, P2 §III-B). YAMNet's 521 AudioSet
scores per segment are kept too.

Every clip's result is cached under ``config.cache_dir() / "segments"``, keyed
by the sha256 of the audio file's bytes, the model file's sha256, the front-end
parameters, the short-clip policy, the resampling filter and
:data:`FEATURE_VERSION`. Entries are written atomically (temporary file +
``os.replace``), so an interrupted run resumes where it stopped and a warm rerun
only hashes and reads. Each entry carries the sha256 of its array: a damaged entry
(checksum, dtype, shape, NaN/Inf) is recomputed with a warning, never trusted. A
cache folder that cannot be written gives a warning and no caching, not an error.

Work is cut into batches of files of about ``batch_mb`` megabytes; each batch is one task
of :mod:`refzsl.acoustic.scheduling`, run in this process, on a local process pool or on a
Dask cluster, with bitwise identical results.

Command line::

    python -m refzsl.extract --esc50 -o esc50_yamnet.npz --workers 2
    python -m refzsl.extract my_sounds/ other.wav -o mine.npz --embedder yamnet
    python -m refzsl.extract corpus/ -o corpus_features/ --scheduler dask --dask-address tcp://host:8786
"""

import hashlib
import io
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from .. import __version__
from .._util.checks import check_positive_int
from .._util.cache import content_key
from .._util.files import atomic_write, file_sha256, json_array, read_json_array, writable_folder
from .._util.progress import ProgressBar
from ..audio.io import _check_resample_filter, iter_audio
from ..config import CACHE_ENV, cache_dir
from ..exceptions import AudioError
from ..audio.frontend import _check_short_policy, iter_patches
from .scheduling import DEFAULT_PARALLEL, Scheduler, WorkerLocal, check_scheduler, plan_batches

__all__ = [
    "FEATURE_VERSION",
    "AUDIO_EXTENSIONS",
    "ON_ERROR",
    "Features",
    "extract_files",
    "find_audio_files",
]

# Bump when a change to loading, the front end or extraction changes results: old cache
# entries then stop matching.
FEATURE_VERSION = 1

# Extensions collected from folders (formats libsndfile reads).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3")

#: What to do with a file that cannot be extracted: stop the run, or list it in ``manifest["failed"]``.
ON_ERROR = ("raise", "skip")


@dataclass
class Features:
    """Acoustic embeddings of a set of clips.

    Attributes
    ----------
    clip_ids : list[str]
        One id per clip, in input order (clips dropped as too short are absent; see
        ``manifest["dropped"]``).
    clip_embeddings : np.ndarray [shape=(n, d), dtype=float32]
        Mean of each clip's segment embeddings.
    segment_embeddings : list[np.ndarray [shape=(n_i, d), dtype=float32]]
        One embedding per 0.96 s patch.
    segment_scores : list[np.ndarray [shape=(n_i, 521), dtype=float32]] or None
        YAMNet's AudioSet scores per patch; None for models without scores.
    manifest : dict
        Model name and sha256, front-end parameters, policies, clip ids, audio sha256s,
        segment counts, dropped clips, refzsl and feature versions.
    """

    clip_ids: list
    clip_embeddings: np.ndarray
    segment_embeddings: list
    segment_scores: list = None
    manifest: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.clip_ids)

    def __repr__(self):
        dim = self.clip_embeddings.shape[1] if self.clip_embeddings.ndim == 2 else "?"
        return (f"Features({len(self)} clips, d={dim}, embedder={self.manifest.get('embedder')!r}, "
                f"scores={'yes' if self.segment_scores is not None else 'no'})")

    def save(self, path):
        """Write the features to one ``.npz`` file (atomically).

        Segments are stored concatenated with their counts; the manifest as JSON.

        Parameters
        ----------
        path : str or Path
        """
        counts = np.array([len(segments) for segments in self.segment_embeddings], dtype=np.int64)
        dim = self.clip_embeddings.shape[1]
        arrays = {
            "clip_ids": np.array(self.clip_ids, dtype=str),
            "clip_embeddings": np.asarray(self.clip_embeddings, dtype=np.float32),
            "segment_counts": counts,
            "segment_embeddings": _concatenate(self.segment_embeddings, dim),
            "manifest": json_array(self.manifest),
        }
        if self.segment_scores is not None:
            arrays["segment_scores"] = _concatenate(self.segment_scores, self.segment_scores[0].shape[1]
                                                    if self.segment_scores else 0)
        atomic_write(Path(path), lambda stream: np.savez(stream, **arrays))

    @classmethod
    def load(cls, path):
        """Read features written by :meth:`save`.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Features

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a refzsl features file.
        """
        path = Path(path)
        with np.load(path, allow_pickle=False) as data:
            missing = {"clip_ids", "clip_embeddings", "segment_counts", "segment_embeddings",
                       "manifest"} - set(data.files)
            if missing:
                raise ValueError(f"{str(path)!r} is not a refzsl features file: lacks {sorted(missing)}")
            counts = data["segment_counts"]

            def per_clip(stacked):
                # np.split at no index still gives one part, but zero clips have zero parts.
                return np.split(stacked, np.cumsum(counts)[:-1]) if len(counts) else []

            return cls(clip_ids=[str(clip) for clip in data["clip_ids"]],
                       clip_embeddings=data["clip_embeddings"],
                       segment_embeddings=per_clip(data["segment_embeddings"]),
                       segment_scores=per_clip(data["segment_scores"]) if "segment_scores" in data.files else None,
                       manifest=read_json_array(data["manifest"]))


def _concatenate(arrays, dim):
    return np.concatenate(arrays).astype(np.float32, copy=False) if arrays else np.zeros((0, dim), np.float32)


def _embedder_identity(embedder):
    """What, besides the audio, determines an embedder's output (for cache keys and manifests)."""
    postprocessor = getattr(embedder, "postprocessor", None)
    return {
        "name": embedder.name,
        "model_sha256": embedder.sha256,
        "embedding_output": getattr(embedder, "embedding_output", None),
        "postprocessor_sha256": (file_sha256(postprocessor.pca_params_path)
                                 if postprocessor is not None else None),
    }


def _settings(embedder, short_policy, resample_filter):
    """Everything but the audio that a cache entry depends on."""
    return {
        "feature_version": FEATURE_VERSION,
        "embedder": _embedder_identity(embedder),
        "front_end": embedder.params.as_dict(),
        "short_policy": short_policy,
        "resample_filter": resample_filter,
    }


def _cache_key(audio_sha256, settings_digest):
    return content_key(f"{audio_sha256}:{settings_digest}", length=64)


# A cache entry is a float32 ``.npy`` ``[n_segments, dim (+ n_scores)]`` (a plain array file loads an order
# of magnitude faster than an ``.npz``) followed by this tag and the sha256 of the ``.npy`` bytes.
_ENTRY_SUFFIX = ".v2.npy"
_ENTRY_TAG = b"refzsl-sha256:"
_ENTRY_TRAILER = len(_ENTRY_TAG) + 32


class _HashingWriter:
    """A binary stream that passes writes on and hashes them (no second copy of a large entry in memory)."""

    def __init__(self, stream):
        self.stream = stream
        self.digest = hashlib.sha256()

    def write(self, data):
        self.digest.update(data)
        return self.stream.write(data)


def _write_entry(stream, entry):
    """Write a cache entry: ``.npy`` of ``entry``, then its checksum trailer."""
    writer = _HashingWriter(stream)
    np.save(writer, entry, allow_pickle=False)
    stream.write(_ENTRY_TAG + writer.digest.digest())


def _entry_bytes(entry):
    """The bytes of a cache entry (:func:`_write_entry` into memory)."""
    buffer = io.BytesIO()
    _write_entry(buffer, entry)
    return buffer.getvalue()


def _read_entry(path, dim, with_scores):
    """A cached clip as ``(segments, scores or None)``; None if absent; the problem (a str) if damaged.

    An entry is trusted only if its checksum matches and its array has the expected dtype,
    width and finite values.
    """
    try:
        with open(path, "rb") as handle:  # into a bytearray: the arrays viewing it stay writeable
            data = bytearray(os.fstat(handle.fileno()).st_size)
            data = memoryview(data)[:handle.readinto(data)]  # slices of a memoryview copy nothing
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    body, trailer = data[:-_ENTRY_TRAILER], bytes(data[-_ENTRY_TRAILER:])
    if len(data) <= _ENTRY_TRAILER or not trailer.startswith(_ENTRY_TAG):
        return "no checksum (truncated or not written by refzsl)"
    if hashlib.sha256(body).digest() != trailer[len(_ENTRY_TAG):]:
        return "checksum mismatch"
    try:
        header = io.BytesIO(bytes(body[:4096]))
        version = np.lib.format.read_magic(header)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran_order, dtype = read_header(header)
        count = int(np.prod(shape))
        if fortran_order or dtype.hasobject or header.tell() + count * dtype.itemsize != len(body):
            raise ValueError(f"header {shape} {dtype} does not match {len(body)} bytes")
        entry = np.frombuffer(body, dtype=dtype, count=count, offset=header.tell()).reshape(shape)
    except (OSError, ValueError, EOFError, TypeError) as error:
        return f"unreadable array ({error})"
    if entry.ndim != 2 or entry.dtype != np.float32 or (entry.shape[1] > dim) != with_scores \
            or entry.shape[1] < dim:
        wanted = f"[n, {dim} + scores]" if with_scores else f"[n, {dim}]"
        return f"array {entry.dtype} {list(entry.shape)} where float32 {wanted} was expected"
    if not np.isfinite(entry).all():
        return "NaN or Inf values"
    return entry[:, :dim], (entry[:, dim:] if with_scores else None)


class _ClipExtractor:
    """Audio file -> (segment embeddings, scores); writes the cache entry when given one."""

    def __init__(self, embedder, short_policy, resample_filter):
        self.embedder = embedder
        self.short_policy = short_policy
        self.resample_filter = resample_filter
        self.with_scores = "scores" in getattr(embedder, "output_names", ())

    def __call__(self, task):
        index, path, entry_path = task
        params = self.embedder.params
        pieces = iter_audio(path, sample_rate_hz=params.sample_rate_hz, resample_filter=self.resample_filter)
        # Whole batches of the embedder per block: a long file's results are those of one call.
        block = 8 * getattr(self.embedder, "batch_size", 64)
        segments, scores = [], []
        for patches in iter_patches(pieces, params=params, short_policy=self.short_policy, source=path,
                                    block_patches=block):
            if self.with_scores:
                # One pass gives both; for YAMNet embed() is run()["embedding"].
                outputs = self.embedder.run(patches)
                segments.append(np.asarray(outputs[self.embedder.embedding_output], dtype=np.float32))
                scores.append(np.asarray(outputs["scores"], dtype=np.float32))
            else:
                segments.append(np.asarray(self.embedder.embed(patches), dtype=np.float32))
        segments = np.concatenate(segments)
        scores = np.concatenate(scores) if self.with_scores else None
        if entry_path is not None:
            entry = segments if scores is None else np.hstack([segments, scores])
            try:
                atomic_write(Path(entry_path), lambda stream: _write_entry(stream, entry))
            except OSError as error:  # a full or read-only cache costs speed, never the result
                warnings.warn(f"cannot write the cache entry {entry_path!r} ({error.strerror or error}); "
                              "this clip is not cached", stacklevel=2)
        return index, segments, scores


@dataclass(frozen=True)
class _BatchJob:
    """What every batch task needs besides its files; the extractor is built once per worker."""

    extractor: WorkerLocal  # of a _ClipExtractor
    settings_digest: str
    cache_folder: str  # absolute, or None for no cache
    on_error: str


@dataclass
class _BatchResult:
    """What a batch task sends back: clips ``(index, audio_sha256, segments, scores)``, failed files
    ``(index, message)``, the warnings raised (message, category) and, for sharded output, the shard."""

    clips: list
    failures: list
    warnings: list
    shard: dict = None


def _extract_batch(batch, job):
    """One task: hash, look up or extract and cache each ``(index, path, clip_id)`` of ``batch``.

    A file that cannot be read is a failure, not an exception, so one bad file never loses
    its batch; with ``on_error="raise"`` the batch stops there. Warnings are returned to be
    raised again by the caller, since a worker's own stderr is out of sight.
    """
    extractor = job.extractor.get()
    folder = None if job.cache_folder is None else Path(job.cache_folder) / extractor.embedder.name
    clips, failures = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for index, path, _ in batch:
            try:
                digest = _audio_sha256(path)
                entry = None
                if folder is not None:
                    key = _cache_key(digest, job.settings_digest)
                    entry = folder / key[:2] / f"{key}{_ENTRY_SUFFIX}"
                    cached = _read_entry(entry, extractor.embedder.embedding_dim, extractor.with_scores)
                    if isinstance(cached, str):  # damaged: never trusted, never fatal
                        warnings.warn(f"cache entry {str(entry)!r} of {path!r} is damaged ({cached}); "
                                      "recomputed", stacklevel=2)
                    elif cached is not None:
                        clips.append((index, digest, *cached))
                        continue
                _, segments, scores = extractor((index, path, None if entry is None else str(entry)))
                clips.append((index, digest, segments, scores))
            except AudioError as error:
                failures.append((index, str(error)))
                if job.on_error == "raise":
                    break
    return _BatchResult(clips, failures, [(str(warning.message), warning.category) for warning in caught])


def _audio_sha256(path):
    try:
        return file_sha256(path)
    except OSError as error:
        raise AudioError(f"Cannot read audio file {str(path)!r}: {error.strerror or error}") from error


def _resolve_cache(cache):
    """The cache folder, or None for no cache: a folder that cannot be written gives a warning, not an error."""
    if cache is False or cache is None:
        return None
    if cache is True:
        try:
            folder = cache_dir() / "segments"
        except OSError as error:  # REFZSL_CACHE is a file, or runs through one
            warnings.warn(f"the cache folder cannot be created ({type(error).__name__}: {error.strerror or error}; "
                          f"{CACHE_ENV}={os.environ.get(CACHE_ENV)!r}); features are not cached", stacklevel=3)
            return None
    elif isinstance(cache, (str, os.PathLike)):
        folder = Path(cache).expanduser()
    else:
        raise TypeError(f"cache must be a bool or a folder path, got {type(cache).__name__} {cache!r}")
    problem = writable_folder(folder)
    if problem is not None:
        warnings.warn(f"the cache folder {str(folder)!r} cannot be written ({problem}); features are not cached",
                      stacklevel=3)
        return None
    return folder


def extract_files(paths, *, clip_ids=None, embedder="yamnet", root=None, model_path=None, cache=True, workers=1,
                  scheduler=None, batch_mb=4.0, on_error="raise", short_policy="pad", resample_filter="kaiser_best",
                  progress=False):
    """Segment- and clip-level embeddings of audio files.

    Parameters
    ----------
    paths : sequence of str or Path
        Audio files (any format libsndfile reads).
    clip_ids : sequence of str, optional
        Unique id of each file; default: the file stems.
    embedder : str or embedder
        A name of :data:`refzsl.embedders.EMBEDDERS` (``"yamnet"``, ``"vggish"``) or a built
        embedder (an object with ``name``, ``params``, ``sha256``, ``embedding_dim``,
        ``embed(patches)``; ``run(patches)``, ``output_names`` and ``embedding_output`` when
        it gives scores).
        With a scheduler other than ``"process"`` it must be picklable.
    root : str or Path, optional
        Data root the named model is taken from (default ``REFZSL_DATA``).
    model_path : str or Path, optional
        Model file instead of the data root's (named embedders only).
    cache : bool or str or Path
        True: the per-clip cache under ``config.cache_dir() / "segments"``; a folder:
        cache there; False: no cache. On a Dask cluster it must be a folder every worker
        sees (checked at start).
    workers : int >= 1
        Processes of the pool or of the local Dask cluster; each loads the model once and runs
        one thread.
    scheduler : str in refzsl.acoustic.scheduling.SCHEDULERS or Scheduler, optional
        Where the batches run: ``"process"`` (here), ``"pool"`` (local processes), ``"dask"``
        (a local cluster of ``workers`` processes), or a :class:`~refzsl.acoustic.scheduling.Scheduler`
        (for example a Dask cluster's address). Default: ``"process"`` for one worker,
        ``"pool"`` for more.
    batch_mb : float > 0
        Megabytes of audio files per task (:func:`~refzsl.acoustic.scheduling.plan_batches`).
    on_error : str in ON_ERROR
        A file that cannot be read: ``"raise"`` its :class:`AudioError`, or ``"skip"`` it with a
        warning and list it in ``manifest["failed"]``.
    short_policy : str in refzsl.frontend.SHORT_POLICIES
        Clips shorter than one patch (0.975 s): ``"pad"`` (zero-pad, warn), ``"drop"`` (leave
        the clip out, listed in ``manifest["dropped"]``) or ``"error"``.
    resample_filter : str in refzsl.audio.RESAMPLE_FILTERS
        resampy filter (``kaiser_best``, the reference's).
    progress : bool
        Show progress on stderr (Dask's own progress bar under ``"dask"``).

    Returns
    -------
    Features

    Raises
    ------
    AudioError
        If a file is missing; under ``on_error="raise"``, if a file is unreadable, empty, holds
        NaN/Inf, or is short under ``short_policy="error"``. The message names the file.
        Clips finished before it stay cached.
    ValueError
        For duplicate or mismatched clip ids, or an unknown policy, filter, scheduler or embedder.
    TypeError
        If ``paths`` is a single path, or ``workers``/``cache`` have the wrong type.
    SharedPathError
        If some Dask workers cannot see the cache folder.

    Notes
    -----
    Worker processes are spawned (not forked, since the parent holds interpreter and BLAS
    threads), so a script calling this with ``workers > 1`` needs the usual
    ``if __name__ == "__main__":`` guard. Results depend neither on the scheduler nor on
    ``workers``: they are bitwise identical to the single-process ones (checked on ESC-50).
    """
    plan = _plan_extraction(paths, clip_ids=clip_ids, embedder=embedder, root=root, model_path=model_path,
                            cache=cache, workers=workers, scheduler=scheduler, batch_mb=batch_mb, on_error=on_error,
                            short_policy=short_policy, resample_filter=resample_filter)
    count = len(plan.paths)
    segments, scores, audio_sha256, failed = [None] * count, [None] * count, [None] * count, {}
    for _, result in _run_batches(plan, _extract_batch, progress=progress):
        for index, digest, clip_segments, clip_scores in result.clips:
            audio_sha256[index], segments[index], scores[index] = digest, clip_segments, clip_scores
        failed.update(result.failures)
    return _assemble(plan.paths, plan.clip_ids, plan.settings, plan.embedder.embedding_dim, range(count),
                     segments, scores, audio_sha256, failed)


@dataclass
class _ExtractionPlan:
    """Checked inputs of an extraction: files, the embedder, the batches and where they run."""

    paths: list
    clip_ids: list
    embedder: object
    settings: dict
    job: _BatchJob
    batches: list
    scheduler: object
    workers: int


def _plan_extraction(paths, *, clip_ids, embedder, root, model_path, cache, workers, scheduler, batch_mb,
                     on_error, short_policy, resample_filter):
    """Check the arguments of :func:`extract_files` and cut the files into batches."""
    from .embedders import get_embedder  # the TFLite runtime loads only when extracting

    if isinstance(paths, (str, os.PathLike)):
        raise TypeError(f"paths must be a sequence of audio files, got the single path {str(paths)!r}")
    paths = [Path(path) for path in paths]
    clip_ids = [path.stem for path in paths] if clip_ids is None else [str(clip) for clip in clip_ids]
    if len(clip_ids) != len(paths):
        raise ValueError(f"Got {len(clip_ids)} clip ids for {len(paths)} paths")
    duplicates = sorted(clip for clip, count in Counter(clip_ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"Duplicate clip ids (pass unique clip_ids=): {duplicates[:10]}")
    _check_short_policy(short_policy)
    _check_resample_filter(resample_filter)
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if isinstance(batch_mb, bool) or not isinstance(batch_mb, (int, float)) or not 0 < batch_mb < float("inf"):
        raise ValueError(f"batch_mb must be a finite number > 0, got {batch_mb!r}")
    workers = check_positive_int(workers, "workers")
    if scheduler is None:
        scheduler = "process" if workers == 1 else DEFAULT_PARALLEL
    scheduler = check_scheduler(scheduler)
    parallel = workers > 1 or (scheduler.kind if isinstance(scheduler, Scheduler) else scheduler) != "process"
    cache_folder = _resolve_cache(cache)
    if isinstance(embedder, str):
        embedder = get_embedder(embedder, root=root, model_path=model_path, num_threads=1 if parallel else None)
    elif model_path is not None:
        raise ValueError("model_path applies to named embedders only; the given embedder is already built")

    sizes, missing = [], []
    for path in paths:
        if path.is_file():
            sizes.append(path.stat().st_size)
        else:
            missing.append(str(path))
    if missing:
        raise AudioError(f"{len(missing)} audio file(s) not found: {missing[:10]}")
    settings = _settings(embedder, short_policy, resample_filter)
    job = _BatchJob(extractor=WorkerLocal(_ClipExtractor(embedder, short_policy, resample_filter)),
                    settings_digest=content_key(settings, length=64),
                    cache_folder=None if cache_folder is None else str(cache_folder.absolute()), on_error=on_error)
    batches = [[(index, str(paths[index]), clip_ids[index]) for index in batch]
               for batch in plan_batches(sizes, int(batch_mb * 2 ** 20))]
    return _ExtractionPlan(paths=paths, clip_ids=clip_ids, embedder=embedder, settings=settings, job=job,
                           batches=batches, scheduler=scheduler, workers=workers)


def _run_batches(plan, task, *, progress, shared_folders=()):
    """Run ``task(batch, job=plan.job)`` over the plan's batches; yield ``(batch index, _BatchResult)``.

    Opens the scheduler (unless given one), checks that Dask workers see the cache and
    ``shared_folders``, raises the workers' warnings here, warns about skipped files and,
    under ``on_error="raise"``, raises the first failure.
    """
    scheduler = plan.scheduler
    owned = not isinstance(scheduler, Scheduler)
    if owned:
        scheduler = Scheduler(scheduler, workers=plan.workers)
    name = plan.embedder.name
    # Under Dask, Dask's own bar shows the progress.
    bar = ProgressBar(len(plan.paths), description=f"extract {name}", unit="clips",
                      enabled=progress and scheduler.kind != "dask")
    try:
        for folder, purpose in [(plan.job.cache_folder, "cache"), *shared_folders]:
            if folder is not None:
                scheduler.check_shared_folder(folder, purpose=purpose)
        for index, result in scheduler.map_unordered(partial(task, job=plan.job), plan.batches, progress=progress):
            for message, category in result.warnings:
                warnings.warn(message, category, stacklevel=3)
            for clip, message in result.failures:
                if plan.job.on_error == "raise":
                    raise AudioError(message)
                warnings.warn(f"skipped {plan.clip_ids[clip]!r}: {message}", stacklevel=3)
            bar.update(len(plan.batches[index]))
            yield index, result
    finally:
        bar.close()
        if owned:
            scheduler.close()


def _assemble(paths, clip_ids, settings, dim, indices, segments, scores, audio_sha256, failed):
    """Features of the clips ``indices`` (in order) of ``paths`` and ``clip_ids``.

    ``segments``, ``scores`` and ``audio_sha256`` are indexed by clip (lists or dicts);
    ``failed`` maps a clip index to its error message.
    """
    done = [index for index in indices if index not in failed]
    kept = [index for index in done if len(segments[index]) > 0]
    dropped = [{"clip_id": clip_ids[index], "path": str(paths[index]), "audio_sha256": audio_sha256[index],
                "reason": "shorter than one patch (short_policy='drop')"}
               for index in done if len(segments[index]) == 0]
    with_scores = all(scores[index] is not None for index in kept) and bool(kept)
    manifest = {
        "refzsl_version": __version__,
        **settings,
        "model_sha256": settings["embedder"]["model_sha256"],
        "clip_ids": [clip_ids[index] for index in kept],
        "audio_sha256": [audio_sha256[index] for index in kept],
        "sources": [str(paths[index]) for index in kept],
        "segment_counts": [int(len(segments[index])) for index in kept],
        "dropped": dropped,
        "failed": [{"clip_id": clip_ids[index], "path": str(paths[index]), "error": failed[index]}
                   for index in indices if index in failed],
    }
    clip_embeddings = (np.stack([segments[index].mean(axis=0, dtype=np.float64) for index in kept])
                       .astype(np.float32) if kept else np.zeros((0, dim), np.float32))
    return Features(clip_ids=manifest["clip_ids"], clip_embeddings=clip_embeddings,
                    segment_embeddings=[segments[index] for index in kept],
                    segment_scores=[scores[index] for index in kept] if with_scores else None,
                    manifest=manifest)


def find_audio_files(inputs):
    """Audio files named by ``inputs`` (files, or folders searched recursively), with clip ids.

    A file's id is its stem; a file found in a folder gets its path relative to that
    folder, without extension (``"dogs/bark_01"``). Files that would share an id
    (``a/x.wav``, ``b/x.wav``) get their paths without extension (``"a/x"``, ``"b/x"``).

    Parameters
    ----------
    inputs : sequence of str or Path

    Returns
    -------
    paths : list[Path]
    clip_ids : list[str]

    Raises
    ------
    FileNotFoundError
        If an input does not exist, or a folder holds no audio file.
    """
    paths, clip_ids = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(path for path in item.rglob("*")
                           if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                raise FileNotFoundError(f"No audio file ({', '.join(AUDIO_EXTENSIONS)}) under {str(item)!r}")
            paths += found
            clip_ids += [path.relative_to(item).with_suffix("").as_posix() for path in found]
        elif item.is_file():
            paths.append(item)
            clip_ids.append(item.stem)
        else:
            raise FileNotFoundError(f"No such audio file or folder: {str(item)!r}")
    return paths, _distinct_ids(paths, clip_ids)


def _distinct_ids(paths, clip_ids):
    """Ids made unique where files share one (``a/x.wav``, ``b/x.wav``): their path without extension, as given,
    or the whole path if that still collides (``x.wav``, ``x.flac``)."""
    resolved = [path.resolve() for path in paths]
    for longer in (lambda path: path.with_suffix("").as_posix(), lambda path: path.as_posix()):
        # A file listed twice keeps its one id (extract_files refuses the duplicate); only different
        # files sharing an id get longer ones.
        counts = Counter(clip for clip, _ in set(zip(clip_ids, resolved)))
        if all(count == 1 for count in counts.values()):
            break
        clip_ids = [longer(path) if counts[clip] > 1 else clip for path, clip in zip(paths, clip_ids)]
    return clip_ids
