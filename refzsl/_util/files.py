"""File helpers shared by the modules: content hashes, atomic writes and output checks.

One home for what extraction, the embedders, the semantic caches and the shipped
data files all need: the sha256 of a file, a cheap fingerprint of a large file,
writing a file so that readers never see it half-written, the one way metadata
travels inside an ``.npz`` (UTF-8 JSON in a uint8 array), and checking an output
path before any work (:func:`check_output_file`, :func:`check_output_folder`), so
that nothing is lost and no run is thrown away at its end.
"""

import hashlib
import json
import os
import secrets
from pathlib import Path

import numpy as np

from ..exceptions import OutputError

__all__ = ["file_sha256", "file_fingerprint", "atomic_write", "json_array", "read_json_array", "writable_folder",
           "check_output_file", "check_output_folder", "is_npz_with", "read_cached_npz", "write_cache"]

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


def writable_folder(folder):
    """Create ``folder`` if needed and check that a file can be written in it; the reason if not, else None.

    Tried rather than asked (``os.access``): permission bits say nothing for root, read-only mounts or
    a path running through a file.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".refzsl-probe.{os.getpid()}.{secrets.token_hex(4)}"
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    return None


def is_npz_with(path, members):
    """Whether ``path`` is an ``.npz`` archive holding the arrays ``members`` (names without ``.npy``)."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return all(f"{member}.npy" in names for member in members)


def _same_file(path, other):
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def check_output_file(path, *, option, inputs=(), is_output=None, force=False):
    """Check an output file before any work: not an input, not another kind of file, folder writable.

    Parameters
    ----------
    path : str or Path
        The file the command will write (atomically, with :func:`atomic_write`).
    option : str
        How the user named it (``"-o/--output"``), for messages.
    inputs : iterable of str or Path
        Files the command reads; writing over one of them is refused.
    is_output : callable, optional
        ``is_output(path) -> bool``: whether an existing file is an earlier output of the same kind,
        which may be replaced. Other existing files are refused. Default: any existing file is refused.
    force : bool
        Replace an input or an existing file of another kind all the same.

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        Naming the option, the path and what is wrong, before anything is computed.
    """
    path = Path(path).expanduser()
    hint = "choose another path, or --force to replace it"
    if path.is_dir():
        raise OutputError(f"{option} {str(path)!r} is a folder; give a file path")
    if path.exists() and not force:
        if any(_same_file(path, source) for source in inputs):
            raise OutputError(f"{option} {str(path)!r} is an input of this command; writing there would "
                              f"destroy it ({hint})")
        if is_output is None or not is_output(path):
            raise OutputError(f"{option} {str(path)!r} exists and is not a file this command writes; "
                              f"refusing to overwrite it ({hint})")
    problem = writable_folder(path.parent)
    if problem is not None:
        raise OutputError(f"{option} {str(path)!r} cannot be written: its folder {str(path.parent)!r} is not "
                          f"writable ({problem}); nothing was run")
    return path


def check_output_folder(folder, *, option):
    """Check (and create) an output folder before any work; raises :class:`OutputError` if it cannot be written."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} {str(folder)!r} is a file, not a folder; nothing was run")
    problem = writable_folder(folder)
    if problem is not None:
        raise OutputError(f"{option} {str(folder)!r} cannot be written ({problem}); nothing was run")
    return folder


def read_cached_npz(path, *, names=None, check=None):
    """The arrays of a cache ``.npz``, or None when absent or damaged (then with a warning: it is rebuilt).

    Parameters
    ----------
    path : Path
    names : iterable of str, optional
        Arrays the cache must hold (a damaged zip directory can hide members); default: at least one.
    check : callable, optional
        ``check(arrays)`` raises (any exception) when the arrays are not what the cache should hold.
    """
    import warnings

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        missing = sorted(set(names or ()) - set(arrays))
        if missing or not arrays:
            raise ValueError(f"the archive lacks {missing or 'any array'}")
        if check is not None:
            check(arrays)
        for name, value in arrays.items():
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise ValueError(f"{name} holds NaN or Inf")
    except Exception as error:  # any damage (zip, zlib, EOF, shapes): rebuilt, never trusted, never fatal
        warnings.warn(f"cache file {str(path)!r} is damaged ({type(error).__name__}: "
                      f"{' '.join(str(error).split())[:120]}); rebuilt", stacklevel=3)
        return None
    return arrays


def write_cache(path, write):
    """:func:`atomic_write` for a cache file: a cache that cannot be written gives a warning, not an error.

    Returns
    -------
    bool
        Whether the file was written.
    """
    import warnings
    try:
        atomic_write(path, write)
    except OSError as error:
        warnings.warn(f"cannot write the cache file {str(path)!r} ({type(error).__name__}: "
                      f"{error.strerror or error}); not cached", stacklevel=3)
        return False
    return True
