"""Where refzsl finds its data: the data root, the files shipped with the package, and the cache folder.

The data root is a folder the user builds from official sources (README: "Getting data";
``refzsl data check`` says what is there), laid out as::

    esc50/audio/*.ogg|wav   esc50/meta/esc50.csv
    models/yamnet.tflite    models/yamnet_class_map.csv   models/vggish.tflite
    vggish/vggish_pca_params.npz
    vectors/GoogleNews-vectors-negative300[-subset].bin   vectors/glove.6B.50d-subset.txt
    audioset/ontology.json  audioset/class_labels_indices.csv

    sentence/all-MiniLM-L6-v2/

It is taken from an explicit argument (the ``--data-root`` flag) or else from
the ``REFZSL_DATA`` environment variable. The package ships, in the same layout
(:data:`SHIPPED_ASSETS`), the files the default commands need: YAMNet and its
class map, the Word2Vec subset and the sentence encoder's tokenizer. A data
root's file wins; a shipped file fills the gap (:func:`asset_path`), so that
``refzsl classify`` and ``python -m refzsl.extract`` work with no data root.
Derived, recomputable results go to the cache folder: ``REFZSL_CACHE`` or
``~/.cache/refzsl``.
"""

import os
from pathlib import Path

from .exceptions import MissingAssetError

__all__ = ["DATA_ROOT_ENV", "CACHE_ENV", "ASSETS", "PACKAGE_DATA", "SHIPPED_ASSETS", "data_root", "asset_path",
           "shipped_asset", "cache_dir"]

#: Files shipped inside the package (feature packs, model files).
PACKAGE_DATA = Path(__file__).parent / "data"
#: The shipped part of a data root (tools/build_package_data.py; MANIFEST.json lists every file).
SHIPPED_ASSETS = PACKAGE_DATA / "assets"

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
               "download vggish_model.ckpt (https://storage.googleapis.com/audioset/vggish_model.ckpt) and "
               "convert it with tools/export_vggish_tflite.py"),
    "vggish_pca": ("vggish/vggish_pca_params.npz",
                   "download https://storage.googleapis.com/audioset/vggish_pca_params.npz"),
    "word2vec": ("vectors/GoogleNews-vectors-negative300-subset.bin",
                 "run `python -m gensim.downloader --download word2vec-google-news-300` and pass the name "
                 "word2vec-google-news-300 wherever a vector file is accepted, or cut a subset of the full file "
                 "with tools/make_vector_subset.py"),
    "glove": ("vectors/glove.6B.50d-subset.txt",
              "run `python -m gensim.downloader --download glove-wiki-gigaword-50` and pass the name "
              "glove-wiki-gigaword-50 wherever a vector file is accepted, or download glove.6B.zip "
              "(https://nlp.stanford.edu/projects/glove/) and cut a subset with tools/make_vector_subset.py"),
    "audioset_ontology": ("audioset/ontology.json",
                          "download ontology.json from https://github.com/audioset/ontology"),
    "audioset_labels": ("audioset/class_labels_indices.csv",
                        "download class_labels_indices.csv from the AudioSet release "
                        "(http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csv/class_labels_indices.csv)"),
    "sentence_model": ("sentence/all-MiniLM-L6-v2",
                       "reinstall refzsl (it ships this folder), or put a sentence-transformers folder of "
                       "all-MiniLM-L6-v2 there"),
}

#: What a data root holds, for messages.
_LAYOUT = "esc50/, models/, vggish/, vectors/, audioset/"


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
            f"No data root: pass --data-root or set {DATA_ROOT_ENV} to a folder holding {_LAYOUT} "
            "(the README's 'Getting data' says how to build one; `refzsl data check` shows what is there)")
    path = Path(root).expanduser()
    if not path.is_dir():
        source = "--data-root" if override is not None else DATA_ROOT_ENV
        raise MissingAssetError(f"Data root {str(path)!r} (from {source}) is not a folder")
    return path


def shipped_asset(name):
    """The copy of a known asset shipped inside the package, or None if the package ships none."""
    path = SHIPPED_ASSETS / ASSETS[name][0]
    return path if path.exists() else None


def asset_path(name, *, root=None):
    """Return the path of a known asset: the data root's file, else the package's copy.

    Parameters
    ----------
    name : str
        A key of :data:`ASSETS`, e.g. ``"yamnet"`` or ``"word2vec"``.
    root : str or Path, optional
        Data root; defaults to ``REFZSL_DATA``. Without either, only shipped assets are found.

    Raises
    ------
    KeyError
        If ``name`` is not a known asset.
    MissingAssetError
        If neither the data root nor the package has the file; the message gives the path looked
        for and how to obtain it. A data root that is set but is not a folder is an error too.
    """
    if name not in ASSETS:
        raise KeyError(f"Unknown asset {name!r}; known: {', '.join(sorted(ASSETS))}")
    relative, how = ASSETS[name]
    configured = root is not None or bool(os.environ.get(DATA_ROOT_ENV))
    if configured:
        path = data_root(root) / relative
        if path.exists():
            return path
    shipped = shipped_asset(name)
    if shipped is not None:
        return shipped
    if not configured:
        raise MissingAssetError(
            f"Missing {name}: no data root is set (--data-root or {DATA_ROOT_ENV}) and refzsl does not ship "
            f"{relative}. To obtain it: {how}")
    raise MissingAssetError(f"Missing {name}: looked for {str(path)!r}. To obtain it: {how}")


def cache_dir(override=None):
    """Return (and create) the folder for derived, recomputable results.

    ``override``, else ``REFZSL_CACHE``, else ``~/.cache/refzsl``.
    """
    path = Path(override or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "refzsl").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
