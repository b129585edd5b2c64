"""Google's released AudioSet features: TFRecord shards of VGGish frames, read without TensorFlow.

AudioSet's "embedding features" release (``features.tar.gz``, 2.4 GB: ``bal_train/``, ``eval/`` and
``unbal_train/`` folders of ``*.tfrecord`` shards) stores one ``tf.train.SequenceExample`` per 10 s
clip (:mod:`refzsl.datasets.tfrecord` reads the format):

==========================  ===============================================================
context ``video_id``        bytes, the YouTube id
context ``start_time_seconds``, ``end_time_seconds``  float, the clip's segment of the video
context ``labels``          int64 list, indices of ``class_labels_indices.csv`` (0..526)
feature list ``audio_embedding``  one 128-byte feature per second: VGGish's embedding after
                            PCA and 8-bit quantisation (SPEC §1, post-processing)
==========================  ===============================================================

Dequantisation (:func:`dequantize`) inverts VGGish's quantiser ``q = uint8((clip(e, -2, 2) + 2) * 255 / 4)``
at the bin edges::

    e = q * 4 / 255 - 2          (q = 0 -> -2.0, q = 255 -> +2.0; float32)

The quantiser truncates, so ``e <= true value < e + 4/255``; the PCA itself is not undone (the release
has no raw embeddings), so dequantised frames live in VGGish's PCA space, as every user of the release has
them. ``dequantize=False`` keeps the uint8 frames.

:func:`read_shard` is a pure function of one shard's path and options that returns arrays
(:class:`Shard`), so it can be mapped over shards by any executor. It checks every record's CRCs, then
parses all records in one compiled pass (:mod:`._audioset_scan`, Numba); a shard with a record that pass
does not read (corrupt, or valid but unusual, e.g. a key given twice) is decoded by the pure-Python
decoder of :mod:`.tfrecord`, which reads it or names the culprit. :func:`iter_shards` streams a folder
shard by shard; :func:`write_shard` writes clips in the same format (used by the simulation and tests).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tfrecord import (ON_ERROR, CorruptRecordError, WireFormatError, decode_feature_list,
                       decode_sequence_example, encode_sequence_example, iter_records, write_records)

__all__ = ["EMBEDDING_BYTES", "FEATURE_LIST", "SHARD_SUFFIX", "N_LABELS", "Shard", "dequantize", "quantize",
           "read_shard", "list_shards", "iter_shards", "read_folder", "encode_clip", "write_shard", "clip_means"]

#: Bytes (= dimensions) of one quantised VGGish frame.
EMBEDDING_BYTES = 128
#: Name of the feature list holding the frames.
FEATURE_LIST = "audio_embedding"
#: File suffix of the release's shards.
SHARD_SUFFIX = ".tfrecord"
#: Number of AudioSet labels (``class_labels_indices.csv``).
N_LABELS = 527
# VGGish post-processing (vggish_params.QUANTIZE_MIN_VAL / QUANTIZE_MAX_VAL).
_QUANTIZE_MIN, _QUANTIZE_MAX = -2.0, 2.0
_FRAME_PREFIX = b"\x0a\x86\x01\x0a\x83\x01\x0a\x80\x01"
_FRAME_PREFIX_ARRAY = np.frombuffer(_FRAME_PREFIX, dtype=np.uint8)
_STEP = np.float32((_QUANTIZE_MAX - _QUANTIZE_MIN) / 255.0)


def dequantize(frames):
    """Quantised VGGish frames (uint8) to float32 in [-2, 2]: ``q * 4/255 - 2``.

    Examples
    --------
    >>> dequantize(np.array([0, 255], dtype=np.uint8)).tolist()
    [-2.0, 2.0]
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise TypeError(f"dequantize expects uint8 frames, got {frames.dtype}")
    return frames.astype(np.float32) * _STEP + np.float32(_QUANTIZE_MIN)


_dequantize_frames = dequantize  # read_shard's ``dequantize`` flag shadows the function's name


def quantize(embeddings):
    """VGGish's 8-bit quantisation of (PCA-projected) embeddings: clip to [-2, 2], scale by 255/4, truncate."""
    clipped = np.clip(np.asarray(embeddings, dtype=np.float64), _QUANTIZE_MIN, _QUANTIZE_MAX)
    return ((clipped - _QUANTIZE_MIN) * (255.0 / (_QUANTIZE_MAX - _QUANTIZE_MIN))).astype(np.uint8)


@dataclass
class Shard:
    """The clips of one or more shards, as flat arrays (ragged lists as offsets into one array).

    Attributes
    ----------
    video_ids : np.ndarray [shape=(n,), dtype=str]
    start_seconds, end_seconds : np.ndarray [shape=(n,), dtype=float32]
    label_offsets : np.ndarray [shape=(n + 1,), dtype=int64]
        Clip ``i``'s labels are ``labels[label_offsets[i]:label_offsets[i + 1]]``.
    labels : np.ndarray [shape=(n_labels_total,), dtype=int64]
    frame_offsets : np.ndarray [shape=(n + 1,), dtype=int64]
        Clip ``i``'s frames are ``frames[frame_offsets[i]:frame_offsets[i + 1]]`` (one per second).
    frames : np.ndarray [shape=(n_frames_total, 128), dtype=float32 or uint8]
    record_offsets : np.ndarray [shape=(n,), dtype=int64]
        Byte offset of each clip's record in its shard.
    paths : list[str]
        The shards read.
    skipped : list[(str, int, str)]
        ``(path, offset, reason)`` of each record skipped under ``on_error="skip"``.
    """

    video_ids: np.ndarray
    start_seconds: np.ndarray
    end_seconds: np.ndarray
    label_offsets: np.ndarray
    labels: np.ndarray
    frame_offsets: np.ndarray
    frames: np.ndarray
    record_offsets: np.ndarray
    paths: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def __len__(self):
        return len(self.video_ids)

    @property
    def n_labels(self):
        """Labels per clip, int64 [n]."""
        return np.diff(self.label_offsets)

    @property
    def n_frames(self):
        """Frames (seconds) per clip, int64 [n]."""
        return np.diff(self.frame_offsets)

    def clip_labels(self, index):
        """The labels of clip ``index`` (int64 array)."""
        return self.labels[self.label_offsets[index]:self.label_offsets[index + 1]]

    def clip_frames(self, index):
        """The frames of clip ``index`` ([n_frames, 128])."""
        return self.frames[self.frame_offsets[index]:self.frame_offsets[index + 1]]

    def select(self, indices):
        """A new :class:`Shard` holding only the clips ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        label_offsets, labels = _gather_ragged(self.label_offsets, self.labels, indices)
        frame_offsets, frames = _gather_ragged(self.frame_offsets, self.frames, indices)
        return Shard(self.video_ids[indices], self.start_seconds[indices], self.end_seconds[indices],
                     label_offsets, labels, frame_offsets, frames, self.record_offsets[indices],
                     list(self.paths), list(self.skipped))

    @classmethod
    def concatenate(cls, shards, *, dequantized=True):
        """One :class:`Shard` of several (in order); an empty list gives an empty Shard."""
        shards = list(shards)
        if not shards:
            dtype = np.float32 if dequantized else np.uint8
            return cls(np.array([], dtype=str), np.zeros(0, np.float32), np.zeros(0, np.float32),
                       np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64),
                       np.zeros((0, EMBEDDING_BYTES), dtype), np.zeros(0, np.int64))

        def offsets(name):
            parts, base = [np.zeros(1, np.int64)], 0
            for shard in shards:
                values = getattr(shard, name)
                parts.append(values[1:] + base)
                base += values[-1]
            return np.concatenate(parts)

        return cls(np.concatenate([s.video_ids for s in shards]),
                   np.concatenate([s.start_seconds for s in shards]),
                   np.concatenate([s.end_seconds for s in shards]),
                   offsets("label_offsets"), np.concatenate([s.labels for s in shards]),
                   offsets("frame_offsets"), np.concatenate([s.frames for s in shards]),
                   np.concatenate([s.record_offsets for s in shards]),
                   [p for s in shards for p in s.paths], [k for s in shards for k in s.skipped])


def _gather_ragged(offsets, values, indices):
    lengths = offsets[indices + 1] - offsets[indices]
    new_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    if len(indices):
        starts = np.repeat(offsets[indices] - new_offsets[:-1], lengths)
        positions = np.arange(new_offsets[-1], dtype=np.int64) + starts
    else:
        positions = np.zeros(0, dtype=np.int64)
    return new_offsets, values[positions]


class _ClipError(ValueError):
    """A record decoded but is not an AudioSet clip (missing or malformed fields)."""


def _single(context, name, kind):
    feature = context.get(name)
    if feature is None:
        raise _ClipError(f"context feature {name!r} is missing")
    if feature[0] != kind or len(feature[1]) != 1:
        raise _ClipError(f"context feature {name!r} must hold one {kind} value, got {feature[0]} "
                         f"{feature[1][:3]!r}")
    return feature[1][0]


def _decode_clip(payload):
    """(video_id, start, end, labels list, frame bytes) of one record, or raise _ClipError/WireFormatError."""
    context, feature_lists = decode_sequence_example(payload, raw_feature_lists=(FEATURE_LIST,))
    video_id = _single(context, "video_id", "bytes").decode("utf-8", errors="replace")
    start = _single(context, "start_time_seconds", "float")
    end = _single(context, "end_time_seconds", "float")
    kind, labels = context.get("labels", (None, None))
    if kind not in ("int64", None) or labels is None:
        raise _ClipError(f"context feature 'labels' must be an int64 list, got {kind}"
                         if labels is not None else "context feature 'labels' is missing")
    bad = [label for label in labels if not 0 <= label < N_LABELS]
    if bad:
        raise _ClipError(f"labels {bad[:5]} are outside 0..{N_LABELS - 1}")
    return video_id, start, end, labels, _frame_bytes(feature_lists.get(FEATURE_LIST, b""))


def _frame_bytes(body):
    """The frames of a serialised ``audio_embedding`` FeatureList, concatenated (n * 128 bytes).

    Fast path: as TensorFlow writes it, every frame is the 9-byte prefix ``_FRAME_PREFIX`` (field keys and
    lengths 134, 131, 128) and 128 bytes; when the body is exactly such chunks, that parse is the only one
    possible, so the frames are cut out with NumPy. Any other encoding goes through the generic decoder.
    """
    chunk = len(_FRAME_PREFIX) + EMBEDDING_BYTES
    if len(body) % chunk == 0:
        rows = np.frombuffer(body, dtype=np.uint8).reshape(-1, chunk)
        if (rows[:, :len(_FRAME_PREFIX)] == _FRAME_PREFIX_ARRAY).all():
            return rows[:, len(_FRAME_PREFIX):].tobytes()
    frames = []
    for position, (frame_kind, values) in enumerate(decode_feature_list(body)):
        if frame_kind != "bytes" or len(values) != 1 or len(values[0]) != EMBEDDING_BYTES:
            raise _ClipError(f"{FEATURE_LIST}[{position}] must be one {EMBEDDING_BYTES}-byte string, got "
                             f"{frame_kind} with {[len(v) for v in values] if frame_kind == 'bytes' else values}")
        frames.append(values[0])
    return b"".join(frames)


def read_shard(path, *, dequantize=True, on_error="raise"):
    """Read one AudioSet feature shard.

    A pure function of its arguments (no global state), returning arrays: it can be mapped over
    shards by a process pool or a Dask cluster.

    Parameters
    ----------
    path : str or Path
        A ``.tfrecord`` shard.
    dequantize : bool
        Frames as float32 in [-2, 2] (``q * 4/255 - 2``, see the module docstring) or, if False, the
        released uint8.
    on_error : str in ON_ERROR
        ``"raise"``: a corrupt record (CRC mismatch, truncation, malformed message or fields) raises
        :class:`~refzsl.datasets.tfrecord.CorruptRecordError` naming the shard and the byte offset.
        ``"skip"``: it is skipped and listed in ``Shard.skipped``.

    Returns
    -------
    Shard

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptRecordError
        See ``on_error``.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    path = str(path)
    with open(path, "rb") as stream:
        data = stream.read()
    tail = []
    record_offsets = np.array([offset for offset, _ in iter_records(data, path=path, on_error=on_error,
                                                                    skipped=tail)], dtype=np.int64)
    shard = _scan_compiled(data, record_offsets, path)
    if shard is None:  # some record is corrupt or unusual: the generic decoder reads or names it
        tail = []
        shard = _decode_generic(data, path, on_error, tail)
    shard.skipped.extend((path, offset, reason) for offset, reason in tail)
    shard.skipped.sort(key=lambda item: item[1])
    if dequantize:
        shard.frames = _dequantize_frames(shard.frames)
    return shard


def _scan_compiled(data, record_offsets, path):
    """The shard's clips by the compiled scan (:mod:`._audioset_scan`), or None if a record needs the
    generic decoder. ``record_offsets`` are the CRC-checked records' header offsets."""
    from . import _audioset_scan

    buffer = np.frombuffer(data, dtype=np.uint8)
    n = len(record_offsets)
    lengths = buffer[(record_offsets[:, None] + np.arange(8)).ravel()].view("<u8").astype(np.int64) if n else \
        np.zeros(0, np.int64)
    starts = record_offsets + 12
    ends = starts + lengths
    keys = np.frombuffer(b"".join(_audioset_scan.KEYS), dtype=np.uint8)
    key_offsets = np.concatenate([[0], np.cumsum([len(key) for key in _audioset_scan.KEYS])]).astype(np.int64)
    status = np.zeros(n, np.int8)
    id_span = np.zeros((n, 2), np.int64)
    time_pos = np.zeros((n, 2), np.int64)
    label_counts, frame_counts = np.zeros(n, np.int64), np.zeros(n, np.int64)
    # Worst-case room (a label per byte, a frame per 131 bytes), left uninitialised: the scan writes
    # every entry it reports, and untouched pages cost nothing.
    labels = np.empty(len(data), np.int64)
    frame_pos = np.empty(len(data) // (EMBEDDING_BYTES + 3) + 1, np.int64)
    n_labels, n_frames = _audioset_scan.jitted()(buffer, starts, ends, keys, key_offsets, status, id_span,
                                                  time_pos, label_counts, labels, frame_counts, frame_pos)
    if status.any():
        return None
    try:
        video_ids = [data[first:first + length].decode("utf-8", errors="replace") for first, length in id_span]
    except UnicodeDecodeError:
        return None
    times = buffer[(time_pos.reshape(-1, 1) + np.arange(4)).ravel()].view("<f4").reshape(n, 2) if n else \
        np.zeros((0, 2), np.float32)
    label_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(label_counts, out=label_offsets[1:])
    frame_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(frame_counts, out=frame_offsets[1:])
    frames = buffer[frame_pos[:n_frames, None] + np.arange(EMBEDDING_BYTES)]
    return Shard(np.array(video_ids, dtype=str), times[:, 0].copy(), times[:, 1].copy(), label_offsets,
                 labels[:n_labels].copy(), frame_offsets, frames, record_offsets, [path], [])


def _decode_generic(data, path, on_error, tail):
    """The shard's clips by the pure-Python decoder (uint8 frames); raises or skips as ``on_error`` says."""
    video_ids, starts, ends, label_lists, frame_chunks, offsets, skipped = [], [], [], [], [], [], []
    for offset, payload in iter_records(data, path=path, on_error=on_error, skipped=tail):
        try:
            video_id, start, end, labels, frames = _decode_clip(payload)
        except (WireFormatError, _ClipError, UnicodeDecodeError) as error:
            if on_error == "raise":
                raise CorruptRecordError(f"not an AudioSet clip: {error}", path=path, offset=offset) from None
            skipped.append((path, offset, f"not an AudioSet clip: {error}"))
            continue
        video_ids.append(video_id)
        starts.append(start)
        ends.append(end)
        label_lists.append(labels)
        frame_chunks.append(frames)
        offsets.append(offset)
    label_offsets = np.zeros(len(video_ids) + 1, dtype=np.int64)
    np.cumsum([len(labels) for labels in label_lists], out=label_offsets[1:])
    frame_offsets = np.zeros(len(video_ids) + 1, dtype=np.int64)
    np.cumsum([len(chunk) // EMBEDDING_BYTES for chunk in frame_chunks], out=frame_offsets[1:])
    frames = np.frombuffer(b"".join(frame_chunks), dtype=np.uint8).reshape(-1, EMBEDDING_BYTES).copy()
    labels = np.fromiter((label for labels in label_lists for label in labels), dtype=np.int64,
                         count=int(label_offsets[-1]))
    return Shard(np.array(video_ids, dtype=str), np.array(starts, dtype=np.float32),
                 np.array(ends, dtype=np.float32), label_offsets, labels, frame_offsets, frames,
                 np.array(offsets, dtype=np.int64), [path], skipped)


def list_shards(folder, *, suffix=SHARD_SUFFIX):
    """The shards under ``folder`` (recursively; sorted by path), or ``[folder]`` if it is a file.

    Raises
    ------
    FileNotFoundError
        If ``folder`` does not exist or holds no ``*{suffix}`` file.
    """
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise FileNotFoundError(f"AudioSet features folder {str(folder)!r} does not exist")
    shards = sorted(Path(root) / name for root, _, names in os.walk(folder) for name in names
                    if name.endswith(suffix))
    if not shards:
        raise FileNotFoundError(f"{str(folder)!r} holds no *{suffix} shard (expected Google's AudioSet feature "
                                "release: bal_train/, eval/, unbal_train/ folders of .tfrecord files)")
    return shards


def iter_shards(folder, *, dequantize=True, on_error="raise", suffix=SHARD_SUFFIX, scheduler="process",
                workers=None, address=None):
    """Stream the shards of a folder, one :class:`Shard` at a time, in path order.

    Parameters
    ----------
    folder : str or Path
        A folder (searched recursively) or one shard.
    dequantize, on_error
        As in :func:`read_shard`.
    suffix : str
        File suffix of the shards.
    scheduler, workers, address
        Where :func:`read_shard` runs (:func:`refzsl.acoustic.scheduling.map_unordered`): in this
        process (default), on a local pool or on Dask. Shards come back in path order whatever the
        order workers finish in; only those that finished early wait in memory.

    Yields
    ------
    Shard
    """
    paths = list_shards(folder, suffix=suffix)
    if scheduler == "process":
        for path in paths:
            yield read_shard(path, dequantize=dequantize, on_error=on_error)
        return
    from functools import partial

    from ..acoustic.scheduling import map_unordered
    read = partial(read_shard, dequantize=dequantize, on_error=on_error)
    waiting, next_index = {}, 0
    for index, shard in map_unordered(read, paths, scheduler=scheduler, workers=workers, address=address):
        waiting[index] = shard
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1


def read_folder(folder, *, dequantize=True, on_error="raise", suffix=SHARD_SUFFIX):
    """Every clip of a folder's shards as one :class:`Shard` (for corpora that fit in memory)."""
    return Shard.concatenate(iter_shards(folder, dequantize=dequantize, on_error=on_error, suffix=suffix),
                             dequantized=dequantize)


def clip_means(shard):
    """The mean frame of each clip, float32 [n, 128] (zero rows for clips without frames)."""
    frames = shard.frames.astype(np.float32) if shard.frames.dtype == np.uint8 else shard.frames
    counts = shard.n_frames
    sums = np.zeros((len(shard), EMBEDDING_BYTES), np.float32)
    # Only clips with frames: their starts are increasing and each one's end is the next one's start.
    nonempty = counts > 0
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(frames, shard.frame_offsets[:-1][nonempty], axis=0)
    return sums / np.maximum(counts, 1)[:, None].astype(np.float32)


def encode_clip(video_id, start_seconds, end_seconds, labels, frames):
    """The serialised SequenceExample of one clip (``frames``: uint8 [n, 128])."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 2 or frames.shape[1] != EMBEDDING_BYTES:
        raise ValueError(f"frames of clip {video_id!r} must be uint8 [n, {EMBEDDING_BYTES}], got "
                         f"{frames.dtype} {list(frames.shape)}")
    context = {"video_id": ("bytes", [str(video_id).encode("utf-8")]),
               "start_time_seconds": ("float", [float(start_seconds)]),
               "end_time_seconds": ("float", [float(end_seconds)]),
               "labels": ("int64", [int(label) for label in labels])}
    # FeatureList{feature: Feature{bytes_list: BytesList{value: 128 bytes}}} per frame is a fixed
    # 9-byte prefix (three field keys and lengths 134, 131, 128) and the frame: built in one array.
    framed = np.empty((len(frames), len(_FRAME_PREFIX) + EMBEDDING_BYTES), dtype=np.uint8)
    framed[:, :len(_FRAME_PREFIX)] = np.frombuffer(_FRAME_PREFIX, dtype=np.uint8)
    framed[:, len(_FRAME_PREFIX):] = frames
    return encode_sequence_example(context, {FEATURE_LIST: framed.tobytes()})


def write_shard(path, clips):
    """Write clips as an AudioSet feature shard (TFRecord of SequenceExamples, as Google's release).

    Parameters
    ----------
    path : str or Path
    clips : iterable of (video_id, start_seconds, end_seconds, labels, frames)
        ``frames`` uint8 [n_seconds, 128].

    Returns
    -------
    int
        The number of clips written.
    """
    return write_records(path, (encode_clip(*clip) for clip in clips))
