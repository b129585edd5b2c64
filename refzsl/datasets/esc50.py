"""The ESC-50 dataset: metadata, audio paths, classes, categories and folds.

ESC-50 (Piczak 2015): 2000 five-second clips, 50 classes of 40 clips, in five
categories of ten classes (targets 0-9 animals, 10-19 natural soundscapes,
20-29 human non-speech, 30-39 domestic/interior, 40-49 urban/exterior), and
five official clip folds. Zero-shot protocols split classes, not these folds.
"""

import csv
from pathlib import Path

import numpy as np

from ..acoustic.extraction import extract_files
from ..config import ASSETS, asset_path, data_root
from ..exceptions import MissingAssetError

__all__ = ["CATEGORIES", "ESC50", "extract_esc50"]

# The five ESC-50 categories, in target order: target t belongs to CATEGORIES[t // 10].
CATEGORIES = ("Animal", "Natural", "Human", "Interior", "Exterior")

_N_CLIPS, _N_CLASSES, _CLIPS_PER_CLASS, _CLASSES_PER_CATEGORY = 2000, 50, 40, 10
_FOLDS = (1, 2, 3, 4, 5)
_REQUIRED_COLUMNS = ("filename", "fold", "target", "category")
# When a clip exists in several formats, prefer the lossless ones.
_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def _index_audio(folder):
    """Map file stem -> path for the audio files of ``folder`` (preferring _AUDIO_SUFFIXES order)."""
    found = {}
    if not folder.is_dir():
        return found
    rank = {suffix: i for i, suffix in enumerate(_AUDIO_SUFFIXES)}
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix not in rank:
            continue
        best = found.get(path.stem)
        if best is None or rank[suffix] < rank[best.suffix.lower()]:
            found[path.stem] = path
    return found


def _int_column(rows, column, meta_path):
    """One integer column of the csv rows as int64, naming the file and line of a bad value."""
    values = np.empty(len(rows), dtype=np.int64)
    for index, row in enumerate(rows):
        try:
            values[index] = int(row[column])
        except (TypeError, ValueError):
            # Line 1 is the header.
            raise ValueError(f"{str(meta_path)!r} line {index + 2}: {column}={row[column]!r} "
                             "is not an integer") from None
    return values


class ESC50:
    """ESC-50 metadata and audio paths, in the order of ``meta/esc50.csv``.

    Audio files are matched to the csv's ``filename`` by stem whatever their
    extension (the shared copy is Ogg Vorbis, the current release WAV).

    Parameters
    ----------
    root : str or Path, optional
        Data root holding ``esc50/meta/esc50.csv`` and ``esc50/audio/``
        (default: ``REFZSL_DATA``).

    Attributes
    ----------
    meta_path : Path
        The metadata csv read.
    audio_dir : Path
        Folder the audio files are matched in.
    clip_ids : list[str]
        File stems, e.g. ``"1-100032-A-0"``.
    paths : list[Path]
        Audio file of each clip (the csv's ``.wav`` name under ``esc50/audio`` when no file matched;
        see :attr:`missing` and :meth:`verify`).
    targets : np.ndarray [shape=(n,), dtype=int64]
        Class index 0..49.
    folds : np.ndarray [shape=(n,), dtype=int64]
        Official clip fold 1..5.
    esc10 : np.ndarray [shape=(n,), dtype=bool]
        Whether the clip belongs to the ESC-10 subset.
    class_names : tuple[str]
        50 names indexed by target, underscores replaced by spaces ("chirping birds").
    category_of_target : np.ndarray [shape=(50,), dtype=int64]
        Index into :data:`CATEGORIES` of each target (``target // 10``).
    missing : list[str]
        Clip ids with no audio file.

    Raises
    ------
    MissingAssetError
        If the metadata csv is absent.
    ValueError
        If the csv lacks a column, holds a non-integer target or fold, gives one target two
        class names, or leaves a target below the largest without clips.
    """

    categories = CATEGORIES

    def __init__(self, root=None):
        self.meta_path = asset_path("esc50_meta", root=root)
        self.audio_dir = data_root(root) / ASSETS["esc50_audio"][0]
        with open(self.meta_path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            absent = [column for column in _REQUIRED_COLUMNS if column not in (reader.fieldnames or ())]
            if absent:
                raise ValueError(f"{str(self.meta_path)!r} lacks column(s) {absent}; "
                                 f"found {reader.fieldnames}")
            rows = list(reader)
        audio = _index_audio(self.audio_dir)
        stems = [Path(row["filename"]).stem for row in rows]
        self.clip_ids = stems
        self.paths = [audio.get(stem, self.audio_dir / row["filename"]) for stem, row in zip(stems, rows)]
        self.missing = [stem for stem in stems if stem not in audio]
        self.targets = _int_column(rows, "target", self.meta_path)
        self.folds = _int_column(rows, "fold", self.meta_path)
        self.esc10 = np.array([row.get("esc10", "False") == "True" for row in rows], dtype=bool)
        names = {}
        for row, target in zip(rows, self.targets):
            name = row["category"].replace("_", " ")
            if names.setdefault(int(target), name) != name:
                raise ValueError(f"{str(self.meta_path)!r}: target {target} is named both "
                                 f"{names[int(target)]!r} and {name!r}")
        n_classes = max(names) + 1 if names else 0
        unnamed = sorted(set(range(n_classes)) - set(names))
        if unnamed:
            raise ValueError(f"{str(self.meta_path)!r}: targets {unnamed} have no clip")
        self.class_names = tuple(names[target] for target in range(n_classes))
        self.category_of_target = np.arange(n_classes, dtype=np.int64) // _CLASSES_PER_CATEGORY

    def __len__(self):
        return len(self.clip_ids)

    def __repr__(self):
        return f"ESC50({len(self)} clips, {len(self.class_names)} classes, audio={str(self.audio_dir)!r})"

    def verify(self):
        """Check the dataset is complete: 2000 clips, 50 classes x 40, folds 1..5, all audio present.

        Returns
        -------
        ESC50
            ``self``, so that ``ESC50().verify()`` chains.

        Raises
        ------
        MissingAssetError
            If audio files are missing; the message counts and lists them.
        ValueError
            If the metadata does not describe the full ESC-50.
        """
        problems = []
        if len(self) != _N_CLIPS:
            problems.append(f"{len(self)} clips instead of {_N_CLIPS}")
        counts = np.bincount(self.targets, minlength=_N_CLASSES)
        if len(counts) != _N_CLASSES or (counts != _CLIPS_PER_CLASS).any():
            bad = {int(t): int(c) for t, c in enumerate(counts) if c != _CLIPS_PER_CLASS}
            problems.append(f"classes without {_CLIPS_PER_CLASS} clips (target: count) {bad}")
        if not set(np.unique(self.folds)) <= set(_FOLDS):
            problems.append(f"folds {sorted(set(np.unique(self.folds).tolist()) - set(_FOLDS))} outside 1..5")
        if len(set(self.clip_ids)) != len(self.clip_ids):
            problems.append("duplicate clip ids")
        if problems:
            raise ValueError(f"{str(self.meta_path)!r} is not the full ESC-50: " + "; ".join(problems))
        if self.missing:
            shown = ", ".join(self.missing[:10]) + (" ..." if len(self.missing) > 10 else "")
            raise MissingAssetError(
                f"{len(self.missing)} of {len(self)} ESC-50 clips have no audio file in "
                f"{str(self.audio_dir)!r} (matched by stem, any of {_AUDIO_SUFFIXES}): {shown}. "
                f"To obtain them: {ASSETS['esc50_audio'][1]}")
        return self


def extract_esc50(*, root=None, embedder="yamnet", **kwargs):
    """Embeddings of all 2000 ESC-50 clips, in ``meta/esc50.csv`` order.

    Parameters
    ----------
    root : str or Path, optional
        Data root (default ``REFZSL_DATA``).
    embedder : str or embedder
        As :func:`extract_files`.
    **kwargs
        Passed to :func:`extract_files` (``workers``, ``cache``, ``progress`` ...).

    Returns
    -------
    Features
        ``manifest["dataset"] == "ESC-50"``.

    Raises
    ------
    MissingAssetError
        If the metadata or any clip's audio is missing (listed).
    ValueError
        If the metadata does not describe the full ESC-50 (:meth:`ESC50.verify`), or as
        :func:`extract_files`.
    """
    from ..datasets.esc50 import ESC50

    dataset = ESC50(root).verify()
    features = extract_files(dataset.paths, clip_ids=dataset.clip_ids, embedder=embedder, root=root, **kwargs)
    features.manifest["dataset"] = "ESC-50"
    return features
