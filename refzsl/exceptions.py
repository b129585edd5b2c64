"""Exceptions raised by refzsl.

Every exception derives from :class:`RefzslError` and from the builtin it
refines, so callers may catch either.
"""

__all__ = ["RefzslError", "MissingAssetError", "AudioError", "OutOfVocabularyError", "ModelMismatchError",
           "ModelFileError", "OutputError", "MissingDependencyError", "SharedPathError"]


class RefzslError(Exception):
    """Base class of refzsl's own exceptions."""


class MissingAssetError(RefzslError, FileNotFoundError):
    """A data or model file is not where the data root says it should be."""


class AudioError(RefzslError, ValueError):
    """An audio file cannot be read, is empty, too short, or holds NaN/Inf."""


class ModelMismatchError(RefzslError, ValueError):
    """A model file does not fit the acoustic model or word vectors in use, or is not a model file."""


class ModelFileError(ModelMismatchError):
    """A model file is damaged or is not a model file: the message names the file and what is wrong with it.

    Raised before any of the file is used: unreadable archive, missing or mistyped metadata, unknown
    parameters, arrays of the wrong shape or holding NaN/Inf.
    """


class OutputError(RefzslError, OSError):
    """An output path is refused before any work: it is an input, an existing file of another kind
    (overwritten only with ``--force`` / ``force=True``), or its folder cannot be written."""


class MissingDependencyError(RefzslError, ImportError):
    """An optional dependency (an extra such as ``refzsl[sentence]``) is not installed; the message says how."""


class SharedPathError(RefzslError, OSError):
    """A folder that every Dask worker must see (the cache, the output) is not shared with some of them.

    Attributes
    ----------
    folder : str
        The folder, as the client sees it.
    workers : list[str]
        Addresses of the workers that cannot see or write it.
    """

    def __init__(self, message, *, folder=None, workers=()):
        super().__init__(message)
        self.folder = None if folder is None else str(folder)
        self.workers = list(workers)

    def __str__(self):  # OSError would format (errno, strerror)
        return str(self.args[0])


class OutOfVocabularyError(RefzslError, KeyError):
    """Words of a label or description are missing from the word vectors.

    Attributes
    ----------
    missing : dict[str, list[str]]
        For each offending label (or description), its unknown words.
    suggestions : dict[str, list[str]]
        For each unknown word, the closest words the vocabulary does have.
    """

    def __init__(self, message, *, missing=None, suggestions=None):
        super().__init__(message)
        self.missing = dict(missing or {})
        self.suggestions = dict(suggestions or {})

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0])
