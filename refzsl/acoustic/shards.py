"""Sharded features: one ``.npz`` per batch plus ``manifest.json``, written by the workers, read lazily.

For corpora too large for one process (AudioSet: about 2 M clips), extraction writes each
batch's features where the batch ran, as a shard in the :class:`Features` file format, and
sends back only a summary. ``manifest.json`` lists the shards in input order with the
extraction settings, the dropped and the failed files. :class:`ShardedFeatures` reads the
manifest, and shards only when asked, one at a time::

    python -m refzsl.extract corpus/ -o corpus_features/ --scheduler dask --workers 8

    features = ShardedFeatures("corpus_features")
    for shard in features.iter_shards():   # one Features per shard
        ...
"""

import json
import re
from functools import partial
from pathlib import Path

import numpy as np

from .. import __version__
from .._util.files import atomic_write, read_json_array
from ..exceptions import OutputError
from .extraction import Features, _assemble, _extract_batch, _plan_extraction, _run_batches

__all__ = ["MANIFEST_NAME", "ShardedFeatures", "extract_sharded", "load_features"]

#: Name of the manifest in a sharded features folder.
MANIFEST_NAME = "manifest.json"

_FORMAT = "refzsl-sharded-features"
_FORMAT_VERSION = 1
_SHARD_NAME = re.compile(r"shard-\d{9}\.npz")
# Per-clip lists of a Features manifest, concatenated across shards when merged.
_PER_CLIP = ("clip_ids", "audio_sha256", "sources", "segment_counts")


def extract_sharded(paths, folder, *, clip_ids=None, embedder="yamnet", root=None, model_path=None, cache=True,
                    workers=1, scheduler=None, batch_mb=4.0, on_error="skip", short_policy="pad",
                    resample_filter="kaiser_best", progress=False):
    """Extract features of audio files into a folder of shards, one per batch.

    Each task writes its own shard, so features never travel to, or gather in, this
    process. A rerun into the same folder rewrites it; with the cache, only clips missing
    from the cache are computed again.

    Parameters
    ----------
    paths : sequence of str or Path
        Audio files.
    folder : str or Path
        Output folder: new, empty, or an earlier sharded output (replaced). On a Dask
        cluster it must be a folder every worker sees (checked at start).
    clip_ids, embedder, root, model_path, cache, workers, scheduler, batch_mb, short_policy, resample_filter, progress
        As :func:`~refzsl.acoustic.extraction.extract_files`.
    on_error : str in ON_ERROR
        Default ``"skip"``: a file that cannot be read is listed in the manifest's ``failed``.

    Returns
    -------
    ShardedFeatures

    Raises
    ------
    OutputError
        If ``folder`` is a file, or a folder holding files other than a sharded output (before any work).
    AudioError, ValueError, TypeError, SharedPathError
        As :func:`~refzsl.acoustic.extraction.extract_files`.
    """
    folder = _prepare_folder(folder)
    plan = _plan_extraction(paths, clip_ids=clip_ids, embedder=embedder, root=root, model_path=model_path,
                            cache=cache, workers=workers, scheduler=scheduler, batch_mb=batch_mb, on_error=on_error,
                            short_policy=short_policy, resample_filter=resample_filter)
    task = partial(_extract_shard, folder=str(folder), settings=plan.settings)
    shards = [None] * len(plan.batches)
    for index, result in _run_batches(plan, task, progress=progress, shared_folders=[(str(folder), "output")]):
        shards[index] = result.shard
    manifest = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "refzsl_version": __version__,
        **plan.settings,
        "model_sha256": plan.settings["embedder"]["model_sha256"],
        "n_clips": sum(shard["n_clips"] for shard in shards),
        "shards": [{key: shard[key] for key in ("file", "n_clips", "n_segments")} for shard in shards],
        "dropped": [item for shard in shards for item in shard["dropped"]],
        "failed": [item for shard in shards for item in shard["failed"]],
    }
    written = {shard["file"] for shard in shards}
    for stale in folder.iterdir():  # shards of an earlier run with other batches
        if _SHARD_NAME.fullmatch(stale.name) and stale.name not in written:
            stale.unlink()
    atomic_write(folder / MANIFEST_NAME,
                 lambda stream: stream.write(json.dumps(manifest, sort_keys=True, indent=1).encode()))
    return ShardedFeatures(folder)


def _prepare_folder(folder):
    folder = Path(folder).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"Output {str(folder)!r} is a file; sharded output needs a folder")
    folder.mkdir(parents=True, exist_ok=True)
    foreign = sorted(item.name for item in folder.iterdir()
                     if not (item.name == MANIFEST_NAME or _SHARD_NAME.fullmatch(item.name)
                             or item.name.startswith(".")))
    if foreign:
        raise OutputError(f"Output folder {str(folder)!r} holds files that are not sharded features "
                              f"({', '.join(foreign[:5])}); give a new or empty folder")
    return folder


def _extract_shard(batch, job, *, folder, settings):
    """One task: :func:`_extract_batch`, then write the batch as a shard and send back only its summary."""
    result = _extract_batch(batch, job)
    if result.failures and job.on_error == "raise":
        return result  # the run stops; no shard
    indices = [index for index, _, _ in batch]
    paths = {index: path for index, path, _ in batch}
    clip_ids = {index: clip_id for index, _, clip_id in batch}
    segments = {index: clip_segments for index, _, clip_segments, _ in result.clips}
    scores = {index: clip_scores for index, _, _, clip_scores in result.clips}
    audio_sha256 = {index: digest for index, digest, _, _ in result.clips}
    dim = job.extractor.get().embedder.embedding_dim
    features = _assemble(paths, clip_ids, settings, dim, indices, segments, scores, audio_sha256,
                         dict(result.failures))
    name = f"shard-{indices[0]:09d}.npz"
    features.save(Path(folder) / name)
    result.clips = []  # the arrays stay here, in the shard
    result.shard = {"file": name, "n_clips": len(features),
                    "n_segments": int(sum(features.manifest["segment_counts"])),
                    "dropped": features.manifest["dropped"], "failed": features.manifest["failed"]}
    return result


class ShardedFeatures:
    """Features in a folder of shards (:func:`extract_sharded`), read lazily.

    Opening reads ``manifest.json`` only. :meth:`iter_shards` and :meth:`load_shard` read
    one shard at a time; :attr:`manifest`, :attr:`clip_ids` and :attr:`clip_embeddings`
    read every shard's small parts, never its segments; :meth:`to_features` merges
    everything into one :class:`Features` (for corpora that fit in memory).

    Parameters
    ----------
    folder : str or Path

    Raises
    ------
    FileNotFoundError
        If ``folder`` has no ``manifest.json``.
    ValueError
        If the manifest is not a refzsl sharded-features manifest, or lists a missing shard.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        path = self.folder / MANIFEST_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{str(self.folder)!r} is not a sharded features folder: no {MANIFEST_NAME}")
        try:
            self.index = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{str(path)!r} is not a sharded features manifest: {error}") from None
        if not isinstance(self.index, dict) or self.index.get("format") != _FORMAT:
            raise ValueError(f"{str(path)!r} is not a sharded features manifest (format != {_FORMAT!r})")
        missing = [shard["file"] for shard in self.shards if not (self.folder / shard["file"]).is_file()]
        if missing:
            raise ValueError(f"{str(self.folder)!r} lacks {len(missing)} shard(s) its manifest lists: {missing[:5]}")
        self._manifest = None

    def __len__(self):
        return int(self.index["n_clips"])

    def __repr__(self):
        return (f"ShardedFeatures({str(self.folder)!r}: {len(self)} clips in {len(self.shards)} shards, "
                f"embedder={self.index['embedder']['name']!r})")

    @property
    def shards(self):
        """The manifest's shard list: ``{"file", "n_clips", "n_segments"}`` each, in input order."""
        return self.index["shards"]

    def load_shard(self, number):
        """Shard ``number`` (0-based, in input order) as :class:`Features`."""
        return Features.load(self.folder / self.shards[number]["file"])

    def iter_shards(self):
        """Each shard as :class:`Features`, in input order, one at a time in memory."""
        for number in range(len(self.shards)):
            yield self.load_shard(number)

    def _read(self, key):
        for shard in self.shards:
            with np.load(self.folder / shard["file"], allow_pickle=False) as data:
                yield data[key]

    @property
    def manifest(self):
        """The manifest :func:`extract_files` gives for the same files (shard manifests merged)."""
        if self._manifest is None:
            merged = {key: value for key, value in self.index.items()
                      if key not in ("format", "format_version", "n_clips", "shards")}
            for key in _PER_CLIP:
                merged[key] = []
            for text in self._read("manifest"):
                shard_manifest = read_json_array(text)
                for key in _PER_CLIP:
                    merged[key] += shard_manifest[key]
            self._manifest = merged
        return self._manifest

    @property
    def clip_ids(self):
        """Every clip id, in input order."""
        return self.manifest["clip_ids"]

    @property
    def clip_embeddings(self):
        """All clip embeddings ``[n, d]`` float32 (segments are not read)."""
        parts = list(self._read("clip_embeddings"))
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def to_features(self):
        """Everything merged into one :class:`Features`: equal to :func:`extract_files`' result."""
        shards = list(self.iter_shards())
        with_scores = all(shard.segment_scores is not None for shard in shards if len(shard)) and len(self) > 0
        return Features(clip_ids=list(self.clip_ids), clip_embeddings=self.clip_embeddings,
                        segment_embeddings=[segments for shard in shards for segments in shard.segment_embeddings],
                        segment_scores=([scores for shard in shards if len(shard) for scores in shard.segment_scores]
                                        if with_scores else None),
                        manifest=self.manifest)


def load_features(path):
    """Features saved as one file (:class:`Features`) or as a folder of shards (:class:`ShardedFeatures`)."""
    path = Path(path)
    return ShardedFeatures(path) if path.is_dir() else Features.load(path)
