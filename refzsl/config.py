"""Where refzsl finds its data: the data root and the cache folder.

The data root is a folder laid out like ``../shared/assets``::

    esc50/audio/*.ogg|wav   esc50/meta/esc50.csv
    models/yamnet.tflite    models/yamnet_class_map.csv   models/vggish.tflite
    vggish/vggish_pca_params.npz
    vectors/GoogleNews-vectors-negative300[-subset].bin   vectors/glove.6B.50d-subset.txt
    audioset/ontology.json  audioset/class_labels_indices.csv

It is taken from an explicit argument (the ``--data-root`` flag) or else from
the ``REFZSL_DATA`` environment variable. Derived, recomputable results go to
the cache folder: ``REFZSL_CACHE`` or ``~/.cache/refzsl``.
"""

import os
from pathlib import Path

from .exceptions import MissingAssetError

__all__ = ["DATA_ROOT_ENV", "CACHE_ENV", "ASSETS", "data_root", "asset_path", "cache_dir"]

#: Files shipped inside the package (feature packs, model files).
PACKAGE_DATA = Path(__file__).parent / "data"

DATA_ROOT_ENV = "REFZSL_DATA"
CACHE_ENV = "REFZSL_CACHE"

# Known assets: relative path under the data root, and how a user obtains the file.
ASSETS = {
    "esc50_meta": ("esc50/meta/esc50.csv",
                   "download ESC-50 from https://github.com/karolpiczak/ESC-50 and copy meta/esc50.csv"),
    "esc50_audio": ("esc50/audio",
                    "download ESC-50 from https://github.com/karolpiczak/ESC-50 and copy its audio/ folder"),
    "yamnet": ("models/yamnet.tflite",
               "export YAMNet to TFLite (https://tfhub.dev/google/yamnet) or run tools/build_yamnet_tflite.py"),
    "yamnet_class_map": ("models/yamnet_class_map.csv",
                         "copy yamnet_class_map.csv from tensorflow/models research/audioset/yamnet"),
    "vggish": ("models/vggish.tflite",
               "download vggish_model.ckpt (tensorflow/models research/audioset/vggish) and run "
               "tools/export_vggish_tflite.py"),
    "vggish_pca": ("vggish/vggish_pca_params.npz",
                   "download vggish_pca_params.npz (tensorflow/models research/audioset/vggish)"),
    "word2vec": ("vectors/GoogleNews-vectors-negative300-subset.bin",
                 "download GoogleNews-vectors-negative300.bin.gz (https://code.google.com/archive/p/word2vec/) "
                 "and cut a subset with tools/make_vector_subset.py, or point to the full file"),
    "glove": ("vectors/glove.6B.50d-subset.txt",
              "download glove.6B.zip (https://nlp.stanford.edu/projects/glove/) and cut a subset with "
              "tools/make_vector_subset.py, or point to the full file"),
    "audioset_ontology": ("audioset/ontology.json",
                          "download ontology.json from https://github.com/audioset/ontology"),
    "audioset_labels": ("audioset/class_labels_indices.csv",
                        "download class_labels_indices.csv from the AudioSet release"),
}


def data_root(override=None):
    """Return the data root folder.

    Parameters
    ----------
    override : str or Path, optional
        Explicit folder (the ``--data-root`` flag); wins over ``REFZSL_DATA``.

    Returns
    -------
    Path

    Raises
    ------
    MissingAssetError
        If neither ``override`` nor ``REFZSL_DATA`` is set, or the folder does not exist.
    """
    root = override if override is not None else os.environ.get(DATA_ROOT_ENV)
    if not root:
        raise MissingAssetError(
            f"No data root: pass --data-root or set {DATA_ROOT_ENV} to a folder laid out like "
            "../shared/assets (esc50/, models/, vggish/, vectors/, audioset/)")
    path = Path(root).expanduser()
    if not path.is_dir():
        source = "--data-root" if override is not None else DATA_ROOT_ENV
        raise MissingAssetError(f"Data root {str(path)!r} (from {source}) is not a folder")
    return path


def asset_path(name, *, root=None):
    """Return the path of a known asset under the data root, checking it exists.

    Parameters
    ----------
    name : str
        A key of :data:`ASSETS`, e.g. ``"yamnet"`` or ``"word2vec"``.
    root : str or Path, optional
        Data root; defaults to :func:`data_root`.

    Raises
    ------
    KeyError
        If ``name`` is not a known asset.
    MissingAssetError
        If the file is absent; the message gives the path looked for and how to obtain it.
    """
    if name not in ASSETS:
        raise KeyError(f"Unknown asset {name!r}; known: {', '.join(sorted(ASSETS))}")
    relative, how = ASSETS[name]
    path = data_root(root) / relative
    if not path.exists():
        raise MissingAssetError(f"Missing {name}: looked for {str(path)!r}. To obtain it: {how}")
    return path


def cache_dir(override=None):
    """Return (and create) the folder for derived, recomputable results.

    ``override``, else ``REFZSL_CACHE``, else ``~/.cache/refzsl``.
    """
    path = Path(override or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "refzsl").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
