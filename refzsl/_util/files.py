"""File helpers shared by the modules: content hashes and atomic writes.

One home for what extraction, the embedders, the semantic caches and the shipped
data files all need: the sha256 of a file, a cheap fingerprint of a large file,
writing a file so that readers never see it half-written, and the one way metadata
travels inside an ``.npz`` (UTF-8 JSON in a uint8 array).
"""

import hashlib
import json
import os
import secrets
from pathlib import Path

import numpy as np

__all__ = ["file_sha256", "file_fingerprint", "atomic_write", "json_array", "read_json_array"]

_BLOCK_BYTES = 1 << 20
_FINGERPRINT_BYTES = 1 << 20


def file_sha256(path):
    """sha256 (hex) of a file's whole content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path):
    """Size + sha256 of the first and last MiB: a content key that stays cheap on a 3.6 GB file.

    For cache keys of large inputs (word vectors, model weights) only; identities that
    must be exact (an acoustic model recorded in a model file) use :func:`file_sha256`.
    """
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_FINGERPRINT_BYTES))
        if size > 2 * _FINGERPRINT_BYTES:
            handle.seek(size - _FINGERPRINT_BYTES)
            digest.update(handle.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()


def atomic_write(path, write):
    """Call ``write(stream)`` on a temporary file next to ``path``, then rename it into place.

    ``os.replace`` within one folder is atomic, so readers (and a resumed run) see either
    no file or a whole one, never the half-written file an interruption would leave.

    Parameters
    ----------
    path : str or Path
        Destination; its folder is created if needed.
    write : callable
        ``write(stream)`` writes the content to a binary stream.

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # open(..., "xb") rather than tempfile.mkstemp: the file gets the umask's permissions (mkstemp's are
    # 0600, which would hide shared caches and written models from other users).
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def json_array(value):
    """``value`` as UTF-8 JSON bytes in a uint8 array: how metadata is stored inside an ``.npz``.

    A NumPy unicode string would take 4 bytes a character, and a pickled object would need
    ``allow_pickle=True`` to read; bytes need neither.

    Parameters
    ----------
    value : JSON-serialisable

    Returns
    -------
    np.ndarray [shape=(n_bytes,), dtype=uint8]
    """
    return np.frombuffer(json.dumps(value, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def read_json_array(array):
    """The value stored by :func:`json_array`; also reads the NumPy unicode strings of older files.

    Parameters
    ----------
    array : np.ndarray
        uint8 bytes, or a 0-d unicode string (model files of format 1, feature files before 0.1).

    Returns
    -------
    object

    Raises
    ------
    json.JSONDecodeError
        If the content is not JSON.
    """
    text = array.tobytes().decode("utf-8") if array.dtype == np.uint8 else str(array)
    return json.loads(text)
