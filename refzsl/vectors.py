"""Pre-trained word vectors (Word2Vec, GloVe) as gensim ``KeyedVectors``, memoised.

Four on-disk formats are read, the ones users download or make:

``word2vec_binary``
    Mikolov's C binary format (``GoogleNews-vectors-negative300.bin[.gz]``, 3 M
    words × 300, 3.6 GB in RAM).  Pass ``limit=N`` to read only the first N
    words: the file is sorted by frequency, so ``limit=500_000`` keeps the common
    vocabulary in ~0.6 GB.  Better still, cut a subset for your labels once with
    ``tools/make_vector_subset.py``.
``word2vec_text``
    The same as text, with a ``<count> <dim>`` header line.
``glove``
    GloVe text, no header (``glove.6B.50d.txt``, ``glove.42B.300d.txt``).
``gensim``
    gensim's own ``KeyedVectors.save`` output (``.kv``); memory-mapped read-only
    (``mmap="r"``), so a 3.6 GB file costs no RAM until vectors are touched —
    the fastest way to reuse the full GoogleNews vectors: convert once with
    ``load_word_vectors("GoogleNews-vectors-negative300.bin.gz").save("GoogleNews.kv")``.

The binary format is read by gensim; the text formats by a NumPy parser that
gives gensim's exact float32 values about four times faster. gensim is imported
inside the loader only, so ``import refzsl.semantic`` stays light.
"""

import threading
from pathlib import Path

import numpy as np

from . import config
from .exceptions import MissingAssetError

__all__ = ["VECTOR_FORMATS", "detect_format", "load_word_vectors", "clear_vector_cache"]

VECTOR_FORMATS = ("auto", "word2vec_binary", "word2vec_text", "glove", "gensim")

# Asset names accepted in place of a path (see refzsl.config.ASSETS).
_VECTOR_ASSETS = ("word2vec", "glove")

_CACHE = {}
_CACHE_LOCK = threading.Lock()


def detect_format(path):
    """Guess the format of a word-vector file from its name and first line.

    Parameters
    ----------
    path : str or Path
        An existing file.

    Returns
    -------
    str
        One of ``"word2vec_binary"``, ``"word2vec_text"``, ``"glove"``, ``"gensim"``.

    Notes
    -----
    ``.bin``/``.bin.gz`` → word2vec binary; ``.kv``/``.model`` → gensim; other
    files are text: a first line of exactly two integers is a word2vec header,
    anything else is GloVe (no header).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".bin", ".bin.gz")):
        return "word2vec_binary"
    if name.endswith((".kv", ".model")):
        return "gensim"
    opener = open
    if name.endswith(".gz"):
        import gzip
        opener = gzip.open
    with opener(path, "rt", encoding="utf8", errors="replace") as handle:
        first = handle.readline().split()
    if len(first) == 2 and all(field.isdigit() for field in first):
        return "word2vec_text"
    return "glove"


def _resolve(path_or_asset_name, root):
    if str(path_or_asset_name) in _VECTOR_ASSETS:
        return config.asset_path(str(path_or_asset_name), root=root)
    path = Path(path_or_asset_name).expanduser()
    if not path.is_file():
        raise MissingAssetError(
            f"Word-vector file not found: {str(path)!r} (pass an existing file or one of the asset "
            f"names {', '.join(_VECTOR_ASSETS)})")
    return path


def load_word_vectors(path_or_asset_name, *, root=None, fmt="auto", limit=None):
    """Load pre-trained word vectors as a gensim ``KeyedVectors`` (memoised).

    Parameters
    ----------
    path_or_asset_name : str or Path
        A file, or the asset name ``"word2vec"`` / ``"glove"`` resolved under the
        data root (``vectors/GoogleNews-vectors-negative300-subset.bin``,
        ``vectors/glove.6B.50d-subset.txt``).
    root : str or Path, optional
        Data root for asset names (default ``$REFZSL_DATA``).
    fmt : {"auto", "word2vec_binary", "word2vec_text", "glove", "gensim"}
        File format; ``"auto"`` uses :func:`detect_format`.
    limit : int > 0, optional
        Read only the first ``limit`` words (the most frequent ones in the
        released files). Use it to load the full GoogleNews file in less memory.

    Returns
    -------
    gensim.models.KeyedVectors
        Shared between calls with the same resolved path, format and limit; do
        not modify it.

    Raises
    ------
    MissingAssetError
        If the file (or the asset) does not exist; the message names the path.
    ValueError
        If ``fmt`` is unknown, ``limit`` is not a positive integer, or a text
        file has a malformed line (the message names the file, and the line
        where known).
    """
    if fmt not in VECTOR_FORMATS:
        raise ValueError(f"Unknown word-vector format fmt={fmt!r}; expected one of {VECTOR_FORMATS}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None, got limit={limit!r}")
    path = _resolve(path_or_asset_name, root).resolve()
    if fmt == "auto":
        fmt = detect_format(path)
    stat = path.stat()
    # The file's size and mtime are part of the key so that a rewritten file is re-read.
    key = (str(path), fmt, limit, stat.st_size, stat.st_mtime_ns)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _read(path, fmt, limit)
        return _CACHE[key]


def _read(path, fmt, limit):
    from gensim.models import KeyedVectors

    if fmt == "gensim":
        vectors = KeyedVectors.load(str(path), mmap="r")
        if limit is not None and limit < len(vectors):
            head = KeyedVectors(vectors.vector_size, dtype=vectors.vectors.dtype)
            head.add_vectors(vectors.index_to_key[:limit], vectors.vectors[:limit])
            vectors = head
        return vectors
    if fmt == "word2vec_binary":
        return KeyedVectors.load_word2vec_format(str(path), binary=True, limit=limit)
    words, matrix = _read_text(path, header=fmt == "word2vec_text", limit=limit)
    vectors = KeyedVectors(matrix.shape[1])
    vectors.add_vectors(words, matrix)
    return vectors


_TEXT_CHUNK_LINES = 100_000


def _read_text(path, *, header, limit):
    """Words and float32 [n, d] matrix of a word2vec-text or GloVe file.

    Same result as gensim's text reader (which parses each number in Python),
    several times faster: numbers are parsed by NumPy a chunk of lines at a time.
    The word is everything before the last ``d`` fields, so the few tokens with
    spaces in glove.840B load too; a repeated word keeps its first vector, as in gensim.
    """
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    words, chunks, seen = [], [], set()
    dim = None
    with opener(path, "rt", encoding="utf8", errors="replace") as handle:
        if header:
            dim = int(handle.readline().split()[1])
        pending_words, pending_numbers = [], []

        def flush():
            # On a non-number NumPy 2 stops early with a DeprecationWarning (a ValueError in later
            # versions, caught here); either way the size check below names the file.
            try:
                numbers = np.fromstring(" ".join(pending_numbers), sep=" ", dtype=np.float32)
            except ValueError:
                numbers = np.empty(0, dtype=np.float32)
            if numbers.size != len(pending_numbers) * dim:
                raise ValueError(f"{path}: non-numeric vector values among the {len(pending_words)} words "
                                 f"from {pending_words[0]!r}")
            chunks.append(numbers.reshape(len(pending_numbers), dim))
            words.extend(pending_words)
            pending_words.clear()
            pending_numbers.clear()

        for line_number, line in enumerate(handle, start=2 if header else 1):
            fields = line.rstrip().split(" ")
            if len(fields) < 2:
                continue
            if dim is None:
                dim = len(fields) - 1
            if len(fields) <= dim:
                raise ValueError(f"{path}, line {line_number}: {len(fields)} fields, expected a word and "
                                 f"{dim} numbers")
            word = " ".join(fields[:-dim])
            if word in seen:
                continue
            seen.add(word)
            pending_words.append(word)
            pending_numbers.append(" ".join(fields[-dim:]))
            if len(pending_words) == _TEXT_CHUNK_LINES:
                flush()
            if limit is not None and len(seen) >= limit:
                break
        if pending_words:
            flush()
    if not words:
        raise ValueError(f"{path}: no word vectors found")
    return words, np.concatenate(chunks)


def clear_vector_cache():
    """Forget every memoised ``KeyedVectors`` (frees their memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
