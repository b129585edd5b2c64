"""ESC-50 with acoustic networks that never heard the test classes (P2 §V-B.2, P4).

For each class fold of a protocol, a VGGish-architecture network is trained on the fold's
**training classes only** (:mod:`refzsl.acoustic.training`): supervised from scratch as in P2
(``"scratch"``) or label-free with P4's triplets (``"triplet"``). Every ESC-50 clip is then
embedded with that fold's network, and Algorithm 1 runs on those embeddings.

This module holds the ESC-50 side of it:

- :func:`esc50_log_mels`: the log-mel frames of the 2000 clips (the project's own front end,
  VGGish parameters), each clip cut or zero-padded to 5 s as in ESC-50's current release;
  cached by content (audio hashes + front end).
- :func:`fold_network`: train (or reuse from the cache) the network of one fold; the cache key
  is the sha256 of the training data that reaches the network, the training classes and every
  training setting.
- :func:`fold_clip_embeddings`: every clip embedded by a fold's network (cached by its weights).
- :class:`NetworkFeatures`: what the runner needs, with clip embeddings per fold.
- the network pack (:func:`save_network_pack`, :func:`load_network_pack`): per-fold clip embeddings
  (float16) of the random and category folds, shipped in ``refzsl/data`` so that
  ``python -m refzsl.esc50 --acoustic scratch`` runs without the audio or PyTorch; built by
  ``tools/build_esc50_network_pack.py``.

ESC-50 is CC BY-NC 3.0 (Piczak 2015), and so is data derived from it (the pack).
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from .. import __version__
from .._util.files import atomic_write, file_sha256
from ..audio.frontend import _log_mel
from ..audio.io import load_audio
from ..audio.params import VGGISH
from ..acoustic.training import KINDS as NETWORK_KINDS
from ..acoustic.training import load_network, train_network, training_settings
from ..config import PACKAGE_DATA, cache_dir

__all__ = ["NETWORK_KINDS", "CLIP_SECONDS", "LOG_MELS_VERSION", "NETWORK_VERSION", "NETWORK_PACK_PATH",
           "REDUCED_CHECK", "esc50_log_mels", "esc50_base", "fold_network", "fold_clip_embeddings",
           "NetworkFeatures", "save_network_pack", "load_network_pack", "network_features", "reduced_check"]

#: ESC-50 clips are 5 s (the current release pads or cuts the few originals that are not).
CLIP_SECONDS = 5.0
# Bump when loading or the front end change the log-mels: old cache entries stop matching.
LOG_MELS_VERSION = 1
# Bump when training changes its results for the same settings: cached networks stop matching.
NETWORK_VERSION = 1


def _clip_log_mels(path, n_samples):
    waveform = load_audio(path, sample_rate_hz=VGGISH.sample_rate_hz)[:n_samples]
    waveform = np.pad(waveform, (0, n_samples - waveform.shape[0]))
    return _log_mel(waveform.astype(np.float64), VGGISH).astype(np.float32)


def esc50_log_mels(*, root=None, classes=None, cache=True, progress=False):
    """Log-mel frames of the 2000 ESC-50 clips, in ``meta/esc50.csv`` order.

    Each clip is loaded by :func:`refzsl.audio.load_audio` (mono, 16 kHz), cut or zero-padded to
    :data:`CLIP_SECONDS` and turned into VGGish log-mel frames (``log(mel + 0.01)``): 498 frames x
    64 bands, i.e. five 0.96 s patches plus 18 frames that time shifts may reach.

    Parameters
    ----------
    root : str or Path, optional
        Data root (default ``REFZSL_DATA``).
    classes : sequence of int, optional
        Only the clips of these classes (csv order kept); default all.
    cache : bool
        Read/write ``cache_dir() / "esc50_log_mels"``, keyed by the audio files' sha256, the
        front-end parameters and :data:`LOG_MELS_VERSION`.
    progress : bool
        One line per 200 clips on stderr.

    Returns
    -------
    log_mels : np.ndarray [shape=(n_clips, 498, 64), dtype=float32]
    targets : np.ndarray [shape=(n_clips,), dtype=int64]
    manifest : dict
        ``audio_sha256`` (of the per-clip hashes), ``meta_sha256``, ``front_end``, ``clip_seconds``
        (and ``classes`` for a subset).

    Raises
    ------
    MissingAssetError
        If ESC-50's metadata or audio is missing.
    """
    import sys

    from .esc50 import ESC50

    dataset = ESC50(root).verify()
    targets = np.asarray(dataset.targets, dtype=np.int64)
    chosen = np.arange(len(dataset)) if classes is None else np.flatnonzero(np.isin(targets, list(classes)))
    if chosen.size == 0:
        raise ValueError(f"No ESC-50 clip has a class in {list(classes)}")
    ids = [dataset.clip_ids[i] for i in chosen]
    paths = [dataset.paths[i] for i in chosen]
    clip_hashes = [file_sha256(path) for path in paths]
    audio_sha256 = hashlib.sha256("".join(f"{c}:{h}\n" for c, h in zip(ids, clip_hashes)).encode())
    manifest = {"audio_sha256": audio_sha256.hexdigest(), "meta_sha256": file_sha256(dataset.meta_path),
                "front_end": VGGISH.as_dict(), "clip_seconds": CLIP_SECONDS, "version": LOG_MELS_VERSION}
    if classes is not None:
        manifest["classes"] = sorted(int(c) for c in classes)
    key = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    path = cache_dir() / "esc50_log_mels" / f"{key}.npy"
    targets = targets[chosen]
    if cache and path.is_file():
        return np.load(path), targets, manifest
    n_samples = int(round(CLIP_SECONDS * VGGISH.sample_rate_hz))
    clips = []
    for number, clip_path in enumerate(paths, start=1):
        clips.append(_clip_log_mels(clip_path, n_samples))
        if progress and number % 200 == 0:
            print(f"[esc50 log-mels] {number}/{len(paths)}", file=sys.stderr, flush=True)
    log_mels = np.stack(clips)
    if cache:
        atomic_write(path, lambda stream: np.save(stream, log_mels))
    return log_mels, targets, manifest


# -- one fold's network ------------------------------------------------------------------------------

def _network_key(kind, train_classes, data_manifest, settings):
    """Cache key of a fold's network: the data that can reach it, the training classes and every setting."""
    identity = {"kind": kind, "train_classes": sorted(int(c) for c in train_classes), "data": data_manifest,
                "settings": settings, "network_version": NETWORK_VERSION}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def fold_network(kind, log_mels, targets, train_classes, *, data_manifest, cache=True, progress=False,
                 **settings):
    """The network of one fold: trained on ``train_classes`` only, or read back from the cache.

    Parameters
    ----------
    kind : {"scratch", "triplet"}
    log_mels, targets
        From :func:`esc50_log_mels` (all clips; the trainer keeps the training classes' only).
    train_classes : sequence of int
    data_manifest : dict
        What identifies ``log_mels`` (the manifest :func:`esc50_log_mels` returns): part of the
        cache key, with the kind, the classes and ``settings``.
    cache : bool
        Read/write ``cache_dir() / "esc50_networks" / <key>.npz`` (+ ``.json``).
    progress : bool
    **settings
        Passed to :func:`refzsl.acoustic.training.train_network` (``width``, ``max_epochs``, ``seed`` ...).

    Returns
    -------
    TrainedNetwork
    """
    settings = training_settings(kind, **settings)  # the key holds every effective setting, defaults too
    key = _network_key(kind, train_classes, data_manifest, settings)
    path = cache_dir() / "esc50_networks" / f"{key}.npz"
    if cache and path.is_file() and path.with_suffix(".json").is_file():
        return load_network(path)
    network = train_network(kind, log_mels, targets, train_classes, progress=progress, **settings)
    network.manifest["data"] = data_manifest
    if cache:
        network.save(path)
    return network



def fold_clip_embeddings(network, log_mels, *, data_manifest, cache=True):
    """Clip embeddings of every clip by a fold's network (mean of five patch embeddings), cached.

    The cache entry (``cache_dir() / "esc50_networks" / <weights sha256>-<data key>.npy``) is keyed by
    the network's weights and the log-mels' manifest.

    Returns
    -------
    np.ndarray [shape=(n_clips, 128), dtype=float32]
    """
    data_key = hashlib.sha256(json.dumps(data_manifest, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "esc50_networks" / f"{network.weights_sha256}-{data_key}.npy"
    if cache and path.is_file():
        return np.load(path)
    embeddings = network.embed_clips(log_mels)
    if cache:
        atomic_write(path, lambda stream: np.save(stream, embeddings))
    return embeddings

# -- per-fold clip embeddings ---------------------------------------------------------------------------

def _fold_key(train_classes):
    return ",".join(str(int(c)) for c in sorted(train_classes))


class NetworkFeatures:
    """ESC-50 features whose clip embeddings depend on the fold: one network per set of training classes.

    It stands where a :class:`~refzsl.datasets.pack.FeaturePack` stands for the runner (clip ids,
    targets, class names, categories, class vectors, manifest), except that the clip embeddings
    are asked for per fold with :meth:`embeddings_for`.

    Parameters
    ----------
    kind : {"scratch", "triplet"}
    base : FeaturePack
        Clip order, targets, class names, categories and class vectors (its clip embeddings are
        not used).
    fold_embeddings : dict[tuple[int], np.ndarray [shape=(n_clips, d)]]
        Clip embeddings of each fold's network, keyed by the sorted training classes.
    manifest : dict
        Provenance of the networks (per fold: history, data and weights sha256).
    """

    clip_embeddings = None  # per fold: see embeddings_for

    def __init__(self, kind, base, fold_embeddings, manifest):
        self.kind = kind
        self.clip_ids, self.targets, self.folds = base.clip_ids, base.targets, base.folds
        self.class_names, self.category_of_target = base.class_names, base.category_of_target
        self.class_vectors = base.class_vectors
        self.fold_embeddings = {tuple(sorted(int(c) for c in classes)): np.asarray(embeddings)
                                for classes, embeddings in fold_embeddings.items()}
        self.manifest = {**{key: base.manifest[key] for key in ("dataset", "semantic") if key in base.manifest},
                         "acoustic": manifest}

    def embeddings_for(self, train_classes):
        """Clip embeddings (float32) of the network trained on exactly ``train_classes``.

        Raises
        ------
        ValueError
            If no network was trained on these classes (e.g. a protocol the pack does not cover).
        """
        key = tuple(sorted(int(c) for c in train_classes))
        if key not in self.fold_embeddings:
            raise ValueError(f"No {self.kind} network was trained on the training classes {list(key)}: the shipped "
                             "network pack covers the random and category strategies (and P1 Settings 3 and 4); pass "
                             "--data-root (or set REFZSL_DATA) to train one from the audio (needs refzsl[train])")
        return self.fold_embeddings[key].astype(np.float32)

    def embeddings_sha256(self):
        """One sha256 over every fold's embeddings (in fold-key order)."""
        digest = hashlib.sha256()
        for key in sorted(self.fold_embeddings):
            digest.update(_fold_key(key).encode())
            digest.update(np.ascontiguousarray(self.fold_embeddings[key]).tobytes())
        return digest.hexdigest()


NETWORK_PACK_PATH = PACKAGE_DATA / "esc50_network_pack.npz"
_PACK_FORMAT = "refzsl-esc50-network-pack"
_PACK_FORMAT_VERSION = 1


def _array_sha256(array):
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _pack_licence():
    from .pack import LICENCE
    return LICENCE.split(" YAMNet")[0] + " The networks were trained by refzsl on ESC-50's audio."


def save_network_pack(path, *, kinds_embeddings, clip_ids, manifest, extra_arrays=None):
    """Write a network pack: float16 per-fold clip embeddings of each kind, and a manifest.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` (compressed); the manifest is written beside it as ``.json``.
    kinds_embeddings : dict[str, dict[tuple[int], np.ndarray [shape=(n_clips, d)]]]
        ``{"scratch": {train_classes: embeddings}, "triplet": {...}}``.
    clip_ids : sequence of str
        Clip order of the rows (checked against the feature pack on loading).
    manifest : dict
        Provenance (networks, settings, data hashes); the format, licence, clip-id hash and
        per-array sha256 are added.
    extra_arrays : dict[str, np.ndarray], optional
        Stored as they are under ``check:<name>`` (the reduced check's embeddings).

    Returns
    -------
    Path
        The manifest.
    """
    path = Path(path)
    arrays, folds = {}, {}
    for kind, folds_of_kind in kinds_embeddings.items():
        for classes, embeddings in sorted(folds_of_kind.items()):
            key = _fold_key(classes)
            arrays[f"{kind}:{key}"] = np.asarray(embeddings, dtype=np.float16)
            folds.setdefault(kind, []).append(key)
    for name, array in (extra_arrays or {}).items():
        arrays[f"check:{name}"] = np.asarray(array)
    clip_ids = np.asarray(clip_ids, dtype=str)
    full = {**manifest, "format": _PACK_FORMAT, "format_version": _PACK_FORMAT_VERSION,
            "refzsl_version": __version__, "licence": _pack_licence(),
            "clip_ids_sha256": _array_sha256(clip_ids), "folds": folds,
            "arrays": {name: {"shape": list(array.shape), "dtype": array.dtype.str, "sha256": _array_sha256(array)}
                       for name, array in arrays.items()}}
    atomic_write(path, lambda stream: np.savez_compressed(stream, **arrays))
    full["file_bytes"] = path.stat().st_size
    return atomic_write(path.with_suffix(".json"), lambda stream: stream.write(
        (json.dumps(full, indent=1, sort_keys=True) + "\n").encode("utf-8")))


def load_network_pack(path=None, *, verify=True):
    """Read a network pack: ``({kind: {train_classes: float16 embeddings}}, manifest, check_arrays)``.

    Raises
    ------
    FileNotFoundError
        If the pack or its manifest is missing.
    ValueError
        If it is not a network pack, or an array differs from its manifest's sha256.
    """
    path = Path(path) if path is not None else NETWORK_PACK_PATH
    manifest_path = path.with_suffix(".json")
    for needed in (path, manifest_path):
        if not needed.is_file():
            raise FileNotFoundError(f"Network pack file {str(needed)!r} not found; build it with "
                                    "tools/build_esc50_network_pack.py --data-root DIR")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != _PACK_FORMAT:
        raise ValueError(f"{str(manifest_path)!r} is not a {_PACK_FORMAT} manifest "
                         f"(format={manifest.get('format')!r})")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if verify:
        listed = manifest.get("arrays", {})
        if set(listed) != set(arrays):
            raise ValueError(f"Network pack {str(path)!r} holds arrays {sorted(arrays)}, its manifest lists "
                             f"{sorted(listed)}")
        for key, array in arrays.items():
            if _array_sha256(array) != listed[key]["sha256"]:
                raise ValueError(f"Network pack array {key!r} in {str(path)!r} does not match the sha256 of its "
                                 "manifest (corrupted or edited file); rebuild with tools/build_esc50_network_pack.py")
    embeddings, checks = {}, {}
    for name, array in arrays.items():
        kind, key = name.split(":", 1)
        if kind == "check":
            checks[key] = array
        else:
            embeddings.setdefault(kind, {})[tuple(int(c) for c in key.split(","))] = array
    return embeddings, manifest, checks


def network_features(kind, *, base, splits=None, source="pack", root=None, pack_path=None, cache=True,
                     progress=False, **settings):
    """Per-fold clip embeddings of ``kind`` for the runner, from the shipped pack or trained from the audio.

    Parameters
    ----------
    kind : {"scratch", "triplet"}
    base : FeaturePack
        Clip order, targets, names and class vectors.
    splits : sequence of Split, optional
        With ``source="audio"``: the folds whose networks to train (or reuse from the cache).
    source : {"pack", "audio"}
    root, pack_path, cache, progress
        Data root, network pack file, network cache, progress lines.
    **settings
        Training settings (``width``, ``max_epochs``, ``seed`` ...; with ``source="audio"``).

    Returns
    -------
    NetworkFeatures
    """
    if source == "pack":
        embeddings, manifest, _ = load_network_pack(pack_path)
        if manifest["clip_ids_sha256"] != _array_sha256(np.asarray(base.clip_ids, dtype=str)):
            raise ValueError("The network pack's clips are not the feature pack's clips (order or ids differ)")
        if kind not in embeddings:
            raise ValueError(f"The network pack holds {sorted(embeddings)} embeddings, not {kind!r}")
        networks = {key: value for key, value in manifest["networks"].items() if key.startswith(kind + ":")}
        return NetworkFeatures(kind, base, embeddings[kind], {
            "embedder": kind, "source": "network pack", "settings": manifest["settings"].get(kind),
            "networks": networks, "log_mels": manifest.get("log_mels")})
    log_mels, targets, data_manifest = esc50_log_mels(root=root, cache=cache, progress=progress)
    if not np.array_equal(targets, base.targets):
        raise ValueError("The audio's clip targets differ from the features' targets")
    fold_embeddings, networks = {}, {}
    for split in splits:
        classes = tuple(sorted(split.train_classes))
        if classes in fold_embeddings:
            continue
        network = fold_network(kind, log_mels, targets, classes, data_manifest=data_manifest, cache=cache,
                               progress=progress, **settings)
        fold_embeddings[classes] = fold_clip_embeddings(network, log_mels, data_manifest=data_manifest, cache=cache)
        networks[f"{kind}:{_fold_key(classes)}"] = _network_summary(network)
    return NetworkFeatures(kind, base, fold_embeddings, {
        "embedder": kind, "source": "trained from the audio", "settings": training_settings(kind, **settings),
        "networks": networks, "log_mels": data_manifest})


def _network_summary(network):
    """What a pack or a result records of a network: everything but the weights, plus their sha256."""
    return {**{key: value for key, value in network.manifest.items() if key != "data"},
            "weights_sha256": network.weights_sha256}


def esc50_base(*, root=None, recipes=("WLE",)):
    """ESC-50's clips, targets, names and class vectors from a data root, without clip embeddings.

    What :class:`NetworkFeatures` takes from a feature pack when the networks are trained from the
    audio: no acoustic model runs (``clip_embeddings`` has zero columns).

    Returns
    -------
    FeaturePack
    """
    from .esc50 import ESC50
    from .pack import FeaturePack, esc50_class_vectors

    dataset = ESC50(root).verify()
    class_vectors, semantic = esc50_class_vectors(dataset.class_names, recipes, root=root)
    return FeaturePack(
        clip_ids=np.asarray(dataset.clip_ids), targets=np.asarray(dataset.targets, dtype=np.int64),
        folds=np.asarray(dataset.folds, dtype=np.int64), class_names=np.asarray(dataset.class_names),
        category_of_target=dataset.category_of_target,
        clip_embeddings=np.zeros((len(dataset), 0), dtype=np.float32), class_vectors=class_vectors,
        manifest={"dataset": {"name": "ESC-50", "n_clips": len(dataset), "meta_sha256": file_sha256(dataset.meta_path)},
                  "semantic": semantic})


#: The reduced setting the tests rebuild from the audio and compare with the pack: three classes
#: of three categories (dog, rain, crying baby), a network trained on the first two for one epoch,
#: all 120 clips embedded.
REDUCED_CHECK = {"classes": (0, 10, 20), "train_classes": (0, 10), "settings": {"max_epochs": 1, "patience": 1,
                                                                                "seed": 0}}


def reduced_check(*, root=None, kinds=NETWORK_KINDS, cache=True):
    """Rebuild :data:`REDUCED_CHECK` from the audio: log-mels, training, embeddings.

    Returns
    -------
    dict
        ``"arrays"``: ``{kind: float32 embeddings [120, 128]}``; ``"manifest"``: the setting, the
        log-mel manifest, and per kind the data and weights sha256.
    """
    log_mels, targets, data_manifest = esc50_log_mels(root=root, classes=REDUCED_CHECK["classes"], cache=cache)
    arrays, networks = {}, {}
    for kind in kinds:
        network = fold_network(kind, log_mels, targets, REDUCED_CHECK["train_classes"], data_manifest=data_manifest,
                               cache=False, **REDUCED_CHECK["settings"])
        arrays[kind] = network.embed_clips(log_mels)
        networks[kind] = {"data_sha256": network.manifest["data_sha256"], "weights_sha256": network.weights_sha256,
                          "width": network.manifest["width"]}
    manifest = {"classes": list(REDUCED_CHECK["classes"]), "train_classes": list(REDUCED_CHECK["train_classes"]),
                "settings": REDUCED_CHECK["settings"], "log_mels": data_manifest, "networks": networks}
    return {"arrays": arrays, "manifest": manifest}
