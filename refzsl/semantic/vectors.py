"""Pre-trained word vectors (Word2Vec, GloVe) as read-only :class:`WordVectors`, memoised.

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
    ``gensim.models.KeyedVectors.load_word2vec_format(path, binary=True).save("GoogleNews.kv")``.

gensim-data names (``word2vec-google-news-300``, ``glove-wiki-gigaword-50`` ...) are accepted wherever
a vector file is: they name the file ``python -m gensim.downloader --download NAME`` stored under
gensim's ``BASE_DIR`` (``$GENSIM_DATA_DIR``, default ``~/gensim-data``), which gensim downloaded and
checksummed. refzsl never downloads it (:func:`gensim_data_path`).

The word2vec and GloVe files are read by NumPy parsers that give gensim's exact
float32 values (several times faster for text); gensim is imported only to read
its own ``.kv`` format, so loading the other formats never pays its 1.5-4 s import.
"""

import os
import threading
from pathlib import Path

import numpy as np

from .. import config
from .._util.cache import content_key
from .._util.files import read_cached_npz, write_cache
from ..exceptions import MissingAssetError

__all__ = ["VECTOR_FORMATS", "GENSIM_DATA_VECTORS", "WordVectors", "detect_format", "load_word_vectors",
           "iter_word2vec_binary", "clear_vector_cache", "gensim_data_dir", "gensim_data_path", "resolve_vectors"]

VECTOR_FORMATS = ("auto", "word2vec_binary", "word2vec_text", "glove", "gensim")

# Asset names accepted in place of a path (see refzsl.config.ASSETS).
_VECTOR_ASSETS = ("word2vec", "glove")

#: The word-vector models of gensim-data, with the format of their ``NAME/NAME.gz`` file.
GENSIM_DATA_VECTORS = {
    "word2vec-google-news-300": "word2vec_binary",
    "word2vec-ruscorpora-300": "word2vec_binary",
    "glove-wiki-gigaword-50": "word2vec_text", "glove-wiki-gigaword-100": "word2vec_text",
    "glove-wiki-gigaword-200": "word2vec_text", "glove-wiki-gigaword-300": "word2vec_text",
    "glove-twitter-25": "word2vec_text", "glove-twitter-50": "word2vec_text",
    "glove-twitter-100": "word2vec_text", "glove-twitter-200": "word2vec_text",
    "fasttext-wiki-news-subwords-300": "word2vec_text",
    "conceptnet-numberbatch-17-06-300": "word2vec_text",
}


def gensim_data_dir():
    """gensim's download folder: ``$GENSIM_DATA_DIR``, default ``~/gensim-data`` (``gensim.downloader.BASE_DIR``).

    Computed as gensim does, without importing gensim (1.5-4 s).
    """
    return Path(os.environ.get("GENSIM_DATA_DIR", os.path.expanduser("~/gensim-data")))


def gensim_data_path(name):
    """The file of a gensim-data word-vector model, as gensim's downloader stored it.

    Parameters
    ----------
    name : str in GENSIM_DATA_VECTORS

    Returns
    -------
    Path
        ``gensim_data_dir() / name / (name + ".gz")``.

    Raises
    ------
    KeyError
        If ``name`` is not a gensim-data word-vector model.
    MissingAssetError
        If gensim has not downloaded it (the message gives the command that does).
    """
    if name not in GENSIM_DATA_VECTORS:
        raise KeyError(f"{name!r} is not a gensim-data word-vector model; known: {', '.join(GENSIM_DATA_VECTORS)}")
    path = gensim_data_dir() / name / f"{name}.gz"
    if not path.is_file():
        raise MissingAssetError(
            f"gensim-data model {name!r} is not downloaded: looked for {str(path)!r}. Download it once with "
            f"`python -m gensim.downloader --download {name}` (gensim fetches and checksums it; refzsl never "
            "downloads)")
    return path


def resolve_vectors(path_or_name, *, root=None):
    """The file a word-vector argument names: a path, an asset name (``word2vec``/``glove``) or a gensim-data name.

    Raises
    ------
    MissingAssetError
        If the file does not exist; the message names what was looked for and how to get it.
    """
    return _resolve(path_or_name, root)


# The one in-process memo of word vectors (compact-cache reads included): clear_vector_cache() empties it.
_CACHE = {}
_CACHE_LOCK = threading.Lock()

# Vector files up to this size may go through the compact cache (see load_word_vectors).
_COMPACT_MAX_BYTES = 256 * 2 ** 20


class WordVectors:
    """Read-only word vectors: the part of gensim's ``KeyedVectors`` interface refzsl uses.

    Parameters
    ----------
    words : list of str
        Vocabulary, in file (frequency) order, without repeats.
    vectors : float32 array [n_words, dim]
        Row ``i`` is the vector of ``words[i]`` (may be a read-only memory map).

    Attributes
    ----------
    index_to_key : list of str
    key_to_index : dict str -> int
    vectors : float32 [n_words, dim]
    vector_size : int
    """

    def __init__(self, words, vectors):
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words for {len(vectors)} vectors")
        self.index_to_key = list(words)
        self.key_to_index = {word: index for index, word in enumerate(self.index_to_key)}
        self.vectors = vectors
        self.vector_size = int(vectors.shape[1])

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, word):
        return word in self.key_to_index

    def __getitem__(self, words):
        """Vector of one word (float32 [dim]) or of a list of words ([n, dim]); KeyError if unknown."""
        if isinstance(words, str):
            return self.vectors[self.key_to_index[words]]
        return self.vectors[[self.key_to_index[word] for word in words]]

    def __repr__(self):
        return f"WordVectors({len(self)} words, dim={self.vector_size})"


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
    ``.bin``/``.bin.gz`` and gensim-data's binary ``NAME.gz`` → word2vec binary; ``.kv``/``.model`` → gensim; other
    files are text: a first line of exactly two integers is a word2vec header,
    anything else is GloVe (no header).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".bin", ".bin.gz")):
        return "word2vec_binary"
    if name.endswith(".gz") and GENSIM_DATA_VECTORS.get(name[:-3]) == "word2vec_binary":
        return "word2vec_binary"  # gensim-data's NAME.gz files carry no format in their name
    if name.endswith((".kv", ".model")):
        return "gensim"
    with _open(path, "rt") as handle:
        first = handle.readline().split()
    if len(first) == 2 and all(field.isdigit() for field in first):
        return "word2vec_text"
    return "glove"


def _resolve(path_or_asset_name, root):
    if str(path_or_asset_name) in _VECTOR_ASSETS:
        return config.asset_path(str(path_or_asset_name), root=root)
    path = Path(path_or_asset_name).expanduser()
    if str(path_or_asset_name) in GENSIM_DATA_VECTORS and not path.exists():
        return gensim_data_path(str(path_or_asset_name))
    if not path.is_file():
        raise MissingAssetError(
            f"Word-vector file not found: {str(path)!r} (pass an existing file, one of the asset "
            f"names {', '.join(_VECTOR_ASSETS)}, or a gensim-data name such as word2vec-google-news-300)")
    return path


def load_word_vectors(path_or_asset_name, *, root=None, fmt="auto", limit=None, compact_cache=False):
    """Load pre-trained word vectors (memoised).

    Parameters
    ----------
    path_or_asset_name : str or Path
        A file; the asset name ``"word2vec"`` / ``"glove"`` resolved under the
        data root (``vectors/GoogleNews-vectors-negative300-subset.bin``,
        ``vectors/glove.6B.50d-subset.txt``; the package ships the first); or a
        gensim-data name (:data:`GENSIM_DATA_VECTORS`, resolved by :func:`gensim_data_path`).
    root : str or Path, optional
        Data root for asset names (default ``$REFZSL_DATA``).
    fmt : {"auto", "word2vec_binary", "word2vec_text", "glove", "gensim"}
        File format; ``"auto"`` uses :func:`detect_format`.
    limit : int > 0, optional
        Read only the first ``limit`` words (the most frequent ones in the
        released files). Use it to load the full GoogleNews file in less memory.
    compact_cache : bool
        Read files up to 256 MiB through a compact ``.npz`` (vocabulary + float32 matrix) under
        ``config.cache_dir()/vectors``, written on the first read: the shared GloVe text takes ~1 s
        to parse, most of a 2 s classification budget. Larger files are read directly (gensim's
        memory-mapped ``.kv`` is the fast format there). The values are exactly the file's.

    Returns
    -------
    WordVectors
        Shared between calls with the same resolved path, format and limit; do
        not modify it.

    Raises
    ------
    MissingAssetError
        If the file (or the asset) does not exist; the message names the path.
    ValueError
        If ``fmt`` is unknown, ``limit`` is not a positive integer, a text file
        has a malformed line, or a binary file is truncated or not word2vec (the
        message names the file, and the line where known).
    """
    if fmt not in VECTOR_FORMATS:
        raise ValueError(f"Unknown word-vector format fmt={fmt!r}; expected one of {VECTOR_FORMATS}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None, got limit={limit!r}")
    path = _resolve(path_or_asset_name, root).resolve()
    if fmt == "auto":
        fmt = detect_format(path)
    stat = path.stat()
    compact = compact_cache and limit is None and stat.st_size <= _COMPACT_MAX_BYTES
    # The file's size and mtime are part of the key so that a rewritten file is re-read.
    key = (str(path), fmt, limit, stat.st_size, stat.st_mtime_ns, compact)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _read_compact(path, fmt, stat) if compact else _read(path, fmt, limit)
        return _CACHE[key]


def _read_compact(path, fmt, stat):
    """The vectors of ``path`` through their compact ``.npz`` cache: read it if whole, else (re)build it.

    A damaged cache file (empty, truncated, mismatched or non-finite arrays) is rebuilt with a warning,
    and a cache folder that cannot be written gives a warning and the vectors read directly: the
    cache costs speed, never a run.
    """
    import warnings

    try:
        cached = config.cache_dir() / "vectors" / (
            f"{path.stem}-{content_key([str(path), fmt, stat.st_size, stat.st_mtime_ns])}.npz")
    except OSError as error:
        warnings.warn(f"the cache folder cannot be created ({type(error).__name__}: {error}); word vectors "
                      "are read without their cache", stacklevel=4)
        return _read(path, fmt, None)
    arrays = read_cached_npz(cached, check=_check_compact_arrays)
    if arrays is not None:
        return WordVectors(arrays["words"].tolist(), arrays["vectors"])
    loaded = _read(path, fmt, None)
    if not write_cache(cached, lambda stream: np.savez(stream, words=np.array(loaded.index_to_key),
                                                       vectors=np.asarray(loaded.vectors, dtype=np.float32))):
        return loaded
    with np.load(cached, allow_pickle=False) as archive:  # the cache's float32 values, as every later run
        return WordVectors(archive["words"].tolist(), archive["vectors"])


def _check_compact_arrays(arrays):
    words, vectors = arrays["words"], arrays["vectors"]
    if words.ndim != 1 or vectors.ndim != 2 or len(words) != len(vectors) or vectors.dtype != np.float32:
        raise ValueError(f"arrays words {words.dtype} {list(words.shape)}, vectors {vectors.dtype} "
                         f"{list(vectors.shape)}")


def _read(path, fmt, limit):
    if fmt == "gensim":
        from gensim.models import KeyedVectors

        keyed_vectors = KeyedVectors.load(str(path), mmap="r")
        return WordVectors(keyed_vectors.index_to_key[:limit], keyed_vectors.vectors[:limit])
    if fmt == "word2vec_binary":
        return WordVectors(*_read_word2vec_binary(path, limit=limit))
    return WordVectors(*_read_text(path, header=fmt == "word2vec_text", limit=limit))


def _open(path, mode):
    """Open a plain or gzip-compressed (``.gz``) file; text modes decode UTF-8, replacing bad bytes."""
    text = {"encoding": "utf8", "errors": "replace"} if "t" in mode else {}
    if str(path).lower().endswith(".gz"):
        import gzip
        return gzip.open(path, mode, **text)
    return open(path, mode, **text)


_BINARY_BLOCK_BYTES = 1 << 24


def iter_word2vec_binary(path):
    """Yield ``(word, float32 [dim] vector)`` of a word2vec binary file (``.bin`` or ``.bin.gz``), in file order.

    The format: a ``"<count> <dim>"`` header line, then per word its UTF-8 bytes, a space,
    and ``dim`` little-endian float32 (optionally followed by a newline). The file is read
    16 MiB at a time, so memory never holds the whole file (3.6 GB for GoogleNews); each
    vector is a read-only view of the current block. Repeated words are yielded again.

    Raises
    ------
    ValueError
        If the header is not word2vec's or the file ends before its header's count; the
        message names the file.
    """
    with _open(path, "rb") as handle:
        yield from _word2vec_binary_records(handle, path)[2]


def _word2vec_binary_records(handle, path):
    """``(count, dim, records)``: the header of an open word2vec binary file and a generator of its records."""
    header = handle.readline()
    try:
        count, dim = (int(field) for field in header.split())
    except ValueError:
        raise ValueError(f"{str(path)!r}: not a word2vec binary file (header {header[:40]!r})") from None

    def records():
        vector_bytes = 4 * dim
        buffer, position = b"", 0
        for index in range(count):
            while True:
                while buffer[position:position + 1] in (b"\n", b" "):
                    position += 1  # the newline some writers put after each vector
                end = buffer.find(b" ", position)
                if end >= 0 and end + 1 + vector_bytes <= len(buffer):
                    break
                block = handle.read(_BINARY_BLOCK_BYTES)
                if not block:
                    raise ValueError(f"{str(path)!r}: truncated after {index} of {count} words")
                buffer, position = buffer[position:] + block, 0
            yield buffer[position:end].decode("utf-8"), np.frombuffer(buffer, dtype="<f4", count=dim, offset=end + 1)
            position = end + 1 + vector_bytes

    return count, dim, records()


def _read_word2vec_binary(path, *, limit=None):
    """Words and float32 [n, d] matrix of a word2vec binary file (:func:`iter_word2vec_binary`).

    The matrix is allocated from the header's count, so memory holds it and one block. A
    repeated word keeps its first vector, as in gensim; ``limit`` counts distinct words.
    """
    with _open(path, "rb") as handle:
        count, dim, records = _word2vec_binary_records(handle, path)
        matrix = np.empty((count if limit is None else min(count, limit), dim), dtype=np.float32)
        words, seen = [], set()
        for word, vector in records:
            if word in seen:
                continue
            seen.add(word)
            matrix[len(words)] = vector
            words.append(word)
            if len(words) == len(matrix):
                break
    return words, matrix[:len(words)]


_TEXT_CHUNK_LINES = 100_000


def _read_text(path, *, header, limit):
    """Words and float32 [n, d] matrix of a word2vec-text or GloVe file.

    Same result as gensim's text reader (which parses each number in Python),
    several times faster: numbers are parsed by NumPy a chunk of lines at a time.
    The word is everything before the last ``d`` fields, so the few tokens with
    spaces in glove.840B load too; a repeated word keeps its first vector, as in gensim.
    """
    words, chunks, seen = [], [], set()
    dim = None
    with _open(path, "rt") as handle:
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
    """Forget every memoised :class:`WordVectors` (frees their memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
