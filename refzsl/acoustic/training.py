"""Training VGGish-architecture networks on the seen classes only: P2 from scratch, P4 triplets.

Both trainers take the log-mel frames of **all** clips, the clips' class targets and the training
classes, and keep only the clips of the training classes before anything else happens: nothing of
another class reaches the network, its initialisation, the random draws or the early stopping
(the leakage test of ``reference_tests`` poisons the other clips and checks the weights are
bit-identical).

- :func:`train_supervised` (P2 §V-B.2): each clip gives five 0.96 s patches (96 frames x 64 bands,
  hop 96 frames), labelled with the clip's class; the clips are split 80/20 per class into
  training and validation (patches of one clip never straddle the split); Adam at 1e-4 minimises
  the cross-entropy of a linear head on the 128-d embedding; training stops when the validation
  loss has not improved for ``patience`` epochs, and the network of the best validation epoch is
  kept.
- :func:`train_triplet` (P4 §2, SPEC §8): the same trunk trained with a triplet loss on the same
  clips **without their labels**. Each triplet (anchor, positive, negative) takes its anchor from a
  random 0.96 s window of a clip and its negative from a random window of another clip; the
  positive follows one of P4's label-free constraints, drawn uniformly:
  ``noise`` (the anchor plus random noise keeps its class), ``shift`` (the anchor's window shifted
  by 10-480 ms keeps its class), ``mixture`` (a mix of the anchor with another clip's window shares
  the anchor's class) and ``proximity`` (a non-overlapping window of the same 5 s clip, i.e. close
  in time, shares its class). Noise and mixing act on the mel magnitudes (``exp(log_mel) - 0.01``),
  as the sum of two sounds does to first order. The clips are split 80/20 at random (no labels) and
  training stops early on the loss of a fixed set of validation triplets.

Training is seeded and deterministic on CPU: PyTorch's seed, deterministic algorithms and a fixed
number of threads (default 1) are set for the duration of a call and restored afterwards; the
sample order, splits and augmentations are drawn from NumPy generators seeded in Python.

A trained network is a :class:`TrainedNetwork`: its weights as NumPy arrays and a manifest (kind,
classes seen, seed, sha256 of the data that reached it, settings, per-epoch history); it saves to
an ``.npz`` + ``.json`` pair and embeds clips (mean of the five patch embeddings, P2 §III-B).
"""

import hashlib
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._util.files import atomic_write
from .networks import (EMBEDDING_DIM, PATCH_BANDS, PATCH_FRAMES, build_vggish, count_parameters, import_torch,
                       layer_widths)

__all__ = ["PATCHES_PER_CLIP", "KINDS", "CONSTRAINTS", "DEFAULT_WIDTH", "DEFAULT_MAX_EPOCHS", "DEFAULT_PATIENCE",
           "TrainedNetwork", "clip_patches", "stratified_split", "data_sha256", "train_supervised",
           "make_triplets", "train_triplet", "training_settings", "train_network", "load_network"]

#: Patches per 5 s clip (P2: the 1 600 clips of 40 training classes give 8 000 segments).
PATCHES_PER_CLIP = 5
#: The two trainers, by the name the runner uses.
KINDS = ("scratch", "triplet")
#: P4's label-free constraints, in the order the trainer draws them.
CONSTRAINTS = ("noise", "shift", "mixture", "proximity")
#: Default channel multiplier of VGGish, chosen by measured training time: 12 ms per training patch
#: against 875 ms at full width (one CPU thread); the 20 networks of the random and category strategies
#: took 11 CPU-minutes (55 min of wall time on 2 cores shared by nine agents). See the README for what
#: it costs in fidelity.
DEFAULT_WIDTH = 0.0625
#: Default epoch budget and early-stopping patience (epochs without a better validation loss): the CPU
#: budget, not convergence (the shipped networks were still improving at epoch 3).
DEFAULT_MAX_EPOCHS = 3
DEFAULT_PATIENCE = 1

_FORMAT = "refzsl-acoustic-network"
_LOG_MEL_OFFSET = 0.01  # VGGish's log offset: mel magnitude = exp(log_mel) - 0.01
_MAX_SHIFT_FRAMES = 48  # time shift of the "shift" constraint: 1..48 frames (10-480 ms)
_NOISE_SNR_DB = (0.0, 20.0)  # "noise": noise level relative to the anchor's mean mel magnitude
_MIX_GAIN_DB = (-10.0, 0.0)  # "mixture": gain of the second sound


# -- data ----------------------------------------------------------------------------------------

def _check_log_mels(log_mels, clip_targets):
    if not isinstance(log_mels, np.ndarray) or log_mels.ndim != 3 or log_mels.shape[2] != PATCH_BANDS:
        shape = getattr(log_mels, "shape", None)
        raise ValueError(f"log_mels must be an array [n_clips, n_frames, {PATCH_BANDS}], got shape {shape}")
    needed = PATCHES_PER_CLIP * PATCH_FRAMES
    if log_mels.shape[1] < needed:
        raise ValueError(f"log_mels has {log_mels.shape[1]} frames per clip; {PATCHES_PER_CLIP} patches need "
                         f"{needed} (5 s clips give 498)")
    clip_targets = np.asarray(clip_targets)
    if clip_targets.shape != (log_mels.shape[0],) or not np.issubdtype(clip_targets.dtype, np.integer):
        raise ValueError(f"clip_targets must be {log_mels.shape[0]} integers (one per clip), got "
                         f"{clip_targets.dtype} {clip_targets.shape}")
    return clip_targets


def _training_clips(log_mels, clip_targets, train_classes):
    """The clips of the training classes, copied: nothing else goes further."""
    clip_targets = _check_log_mels(log_mels, clip_targets)
    train_classes = np.unique(np.asarray(train_classes, dtype=np.int64))
    absent = sorted(set(train_classes.tolist()) - set(clip_targets.tolist()))
    if absent:
        raise ValueError(f"Training classes {absent} have no clip")
    if train_classes.size < 2:
        raise ValueError(f"Training needs at least 2 classes, got {train_classes.tolist()}")
    keep = np.flatnonzero(np.isin(clip_targets, train_classes))
    frames = np.ascontiguousarray(log_mels[keep], dtype=np.float32)
    if not np.isfinite(frames).all():
        raise ValueError("log_mels of the training clips hold NaN or Inf")
    labels = np.searchsorted(train_classes, clip_targets[keep])
    return frames, labels, train_classes


def clip_patches(log_mels):
    """The first :data:`PATCHES_PER_CLIP` non-overlapping 0.96 s patches of each clip.

    Parameters
    ----------
    log_mels : np.ndarray [shape=(n_clips, n_frames >= 480, 64)]

    Returns
    -------
    np.ndarray [shape=(n_clips, 5, 96, 64), dtype=float32]
        Patch ``k`` is frames ``96 k .. 96 k + 95``, as :func:`refzsl.audio.frontend.waveform_to_patches`.
    """
    _check_log_mels(log_mels, np.zeros(len(log_mels), dtype=np.int64))
    needed = PATCHES_PER_CLIP * PATCH_FRAMES
    return np.ascontiguousarray(log_mels[:, :needed], dtype=np.float32).reshape(
        len(log_mels), PATCHES_PER_CLIP, PATCH_FRAMES, PATCH_BANDS)


def stratified_split(labels, *, validation_fraction=0.2, seed=0):
    """Split clips into training and validation, the same fraction of every class.

    Parameters
    ----------
    labels : np.ndarray [shape=(n,)], int
    validation_fraction : float in (0, 1)
    seed : int

    Returns
    -------
    train, validation : np.ndarray of clip indices (sorted)
        Each class gives ``round(validation_fraction * count)`` clips (at least one) to validation
        and keeps at least one for training.

    Raises
    ------
    ValueError
        If a class has fewer than 2 clips or the fraction is outside (0, 1).
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    validation = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size < 2:
            raise ValueError(f"Class {int(label)} has {members.size} clip; a train/validation split needs 2")
        n_validation = min(members.size - 1, max(1, int(round(validation_fraction * members.size))))
        validation.append(rng.permutation(members)[:n_validation])
    validation = np.sort(np.concatenate(validation))
    return np.setdiff1d(np.arange(labels.size), validation), validation


def data_sha256(frames, labels=None):
    """sha256 of the training data as it reaches the network (frames, and labels if supervised)."""
    digest = hashlib.sha256(f"{frames.dtype.str}{frames.shape}".encode())
    digest.update(np.ascontiguousarray(frames).tobytes())
    if labels is not None:
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


# -- the trained network -----------------------------------------------------------------------------

@dataclass
class TrainedNetwork:
    """A trained VGGish-architecture network: weights and how they were made.

    Attributes
    ----------
    weights : dict[str, np.ndarray]
        PyTorch ``state_dict`` as float32 arrays (embedding trunk; ``classifier.*`` for supervised).
    manifest : dict
        ``kind``, ``width``, ``train_classes``, ``seed``, ``data_sha256``, ``settings``, ``history``
        (one entry per epoch), ``best_epoch``, ``epochs_run``, ``seconds``, ``n_parameters``.
    """

    weights: dict
    manifest: dict = field(default_factory=dict)

    @property
    def weights_sha256(self):
        """sha256 over every weight array (names, shapes and bytes, in name order)."""
        digest = hashlib.sha256()
        for name in sorted(self.weights):
            array = np.ascontiguousarray(self.weights[name])
            digest.update(f"{name}{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    def network(self):
        """The PyTorch module with these weights, in evaluation mode."""
        torch = import_torch()
        manifest = self.manifest
        network = build_vggish(width=manifest["width"], n_classes=manifest.get("n_classes"),
                               embedding_dim=manifest.get("embedding_dim", EMBEDDING_DIM))
        network.load_state_dict({name: torch.from_numpy(np.array(array)) for name, array in self.weights.items()})
        return network.eval()

    def embed_patches(self, patches, *, batch_size=256, threads=1):
        """128-d embedding of each patch.

        Parameters
        ----------
        patches : np.ndarray [shape=(n, 96, 64)]
        batch_size : int >= 1
        threads : int >= 1
            PyTorch threads for the call.

        Returns
        -------
        np.ndarray [shape=(n, embedding_dim), dtype=float32]
        """
        torch = import_torch()
        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim != 3 or patches.shape[1:] != (PATCH_FRAMES, PATCH_BANDS):
            raise ValueError(f"patches must be [n, {PATCH_FRAMES}, {PATCH_BANDS}], got shape {patches.shape}")
        network = self.network()
        out = np.empty((len(patches), network.embedding_dim), dtype=np.float32)
        with _deterministic_torch(seed=0, threads=threads), torch.no_grad():
            for start in range(0, len(patches), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(patches[start:start + batch_size]))
                out[start:start + batch_size] = network.embed(batch).numpy()
        return out

    def embed_clips(self, log_mels, **kwargs):
        """Clip embeddings: the mean of the embeddings of each clip's five patches (P2 §III-B).

        Parameters
        ----------
        log_mels : np.ndarray [shape=(n_clips, n_frames >= 480, 64)]
        **kwargs
            Passed to :meth:`embed_patches`.

        Returns
        -------
        np.ndarray [shape=(n_clips, embedding_dim), dtype=float32]
        """
        patches = clip_patches(log_mels)
        flat = self.embed_patches(patches.reshape(-1, PATCH_FRAMES, PATCH_BANDS), **kwargs)
        return flat.reshape(len(log_mels), PATCHES_PER_CLIP, -1).mean(axis=1, dtype=np.float64).astype(np.float32)

    def save(self, path):
        """Write ``path`` (.npz of the weights) and the manifest beside it (.json); returns the manifest path."""
        path = Path(path)
        manifest = {**self.manifest, "format": _FORMAT, "weights_sha256": self.weights_sha256}
        atomic_write(path, lambda stream: np.savez(stream, **self.weights))
        return atomic_write(path.with_suffix(".json"), lambda stream: stream.write(
            (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8")))


def load_network(path):
    """Read a network written by :meth:`TrainedNetwork.save`, checking its weights' sha256.

    Raises
    ------
    FileNotFoundError
        If the weights or the manifest are missing.
    ValueError
        If the manifest is not a network manifest or the weights do not match it.
    """
    path = Path(path)
    manifest = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    if manifest.get("format") != _FORMAT:
        raise ValueError(f"{str(path.with_suffix('.json'))!r} is not a {_FORMAT} manifest")
    with np.load(path, allow_pickle=False) as data:
        network = TrainedNetwork({name: data[name] for name in data.files}, manifest)
    if network.weights_sha256 != manifest.get("weights_sha256"):
        raise ValueError(f"The weights in {str(path)!r} do not match the sha256 of their manifest")
    return network


# -- training ---------------------------------------------------------------------------------------

@contextmanager
def _deterministic_torch(*, seed, threads):
    """Seed PyTorch, force deterministic algorithms and a thread count; restore them afterwards."""
    torch = import_torch()
    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield torch
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])


def _check_settings(*, width, max_epochs, patience, learning_rate, batch_size, threads):
    for name, value in (("max_epochs", max_epochs), ("patience", patience), ("batch_size", batch_size),
                        ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    layer_widths(width)


class _Log:
    def __init__(self, enabled, name):
        self.enabled, self.name, self.started = enabled, name, time.perf_counter()

    def __call__(self, message):
        if self.enabled:
            print(f"[{self.name} {time.perf_counter() - self.started:6.1f} s] {message}", file=sys.stderr, flush=True)


def _fit(network, torch, *, run_epoch, evaluate, max_epochs, patience, learning_rate, log):
    """The epoch loop shared by both trainers: Adam, early stopping on the validation loss."""
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    best = (np.inf, 0, None)
    history = []
    for epoch in range(1, max_epochs + 1):
        started = time.perf_counter()
        network.train()
        train = run_epoch(optimizer, epoch)
        network.eval()
        with torch.no_grad():
            validation = evaluate()
        if not np.isfinite(train["loss"]) or not np.isfinite(validation["loss"]):
            raise FloatingPointError(f"Training diverged at epoch {epoch} (loss {train['loss']}, validation "
                                     f"{validation['loss']}); try a smaller learning_rate")
        entry = {"epoch": epoch, **{f"train_{k}": v for k, v in train.items()},
                 **{f"validation_{k}": v for k, v in validation.items()}, "seconds": time.perf_counter() - started}
        history.append(entry)
        log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
        if validation["loss"] < best[0]:
            best = (validation["loss"], epoch, {k: v.detach().clone() for k, v in network.state_dict().items()})
        elif epoch - best[1] >= patience:
            break
    network.load_state_dict(best[2])
    return history, best[1]


def _settings_manifest(kind, *, width, train_classes, seed, frames, labels, settings, history, best_epoch,
                       started, network):
    return {
        "kind": kind, "width": float(width), "embedding_dim": network.embedding_dim,
        "n_classes": network.n_classes, "train_classes": train_classes.tolist(), "seed": int(seed),
        "n_clips": int(len(frames)), "data_sha256": data_sha256(frames, labels),
        "settings": settings, "history": history, "best_epoch": best_epoch, "epochs_run": len(history),
        "seconds": time.perf_counter() - started, "n_parameters": count_parameters(network),
        "refzsl_version": __version__, "torch_version": import_torch().__version__,
    }


def _weights(network):
    return {name: value.detach().numpy().astype(np.float32, copy=True) for name, value in network.state_dict().items()}


def train_supervised(log_mels, clip_targets, train_classes, *, width=DEFAULT_WIDTH, max_epochs=DEFAULT_MAX_EPOCHS,
                     patience=DEFAULT_PATIENCE, learning_rate=1e-4, batch_size=64, validation_fraction=0.2,
                     seed=0, threads=1, progress=False):
    """Train VGGish from scratch on the training classes (P2 §V-B.2).

    Parameters
    ----------
    log_mels : np.ndarray [shape=(n_clips, n_frames >= 480, 64)]
        Log-mel frames of every clip (all classes; only the training classes' clips are used).
    clip_targets : np.ndarray [shape=(n_clips,)], int
    train_classes : sequence of int
        The classes seen in training (at least 2).
    width : float in (0, 1]
        Channel multiplier (1 = Google's VGGish; default :data:`DEFAULT_WIDTH`).
    max_epochs, patience : int >= 1
        Epoch budget; stop after ``patience`` epochs without a lower validation loss.
    learning_rate : float > 0
        Adam's step size (P2: 1e-4).
    batch_size : int >= 1
    validation_fraction : float in (0, 1)
        Share of each class's clips held out for early stopping (P2: 0.2).
    seed : int
        Seeds the initialisation, the split and the sample order.
    threads : int >= 1
        PyTorch threads (results are reproducible for a given count).
    progress : bool
        One line per epoch on stderr.

    Returns
    -------
    TrainedNetwork
        The network of the epoch with the lowest validation loss; ``manifest["history"]`` holds
        the training/validation loss and patch accuracy of every epoch.

    Raises
    ------
    ValueError
        Malformed inputs or settings, fewer than 2 training classes, a class without clips.
    MissingDependencyError
        Without PyTorch.
    """
    _check_settings(width=width, max_epochs=max_epochs, patience=patience, learning_rate=learning_rate,
                    batch_size=batch_size, threads=threads)
    started = time.perf_counter()
    frames, labels, train_classes = _training_clips(log_mels, clip_targets, train_classes)
    train_clips, validation_clips = stratified_split(labels, validation_fraction=validation_fraction, seed=seed)
    patches = clip_patches(frames).reshape(-1, PATCH_FRAMES, PATCH_BANDS)
    patch_labels = np.repeat(labels, PATCHES_PER_CLIP)
    clip_of_patch = np.repeat(np.arange(len(frames)), PATCHES_PER_CLIP)
    train_patches = np.flatnonzero(np.isin(clip_of_patch, train_clips))
    validation_patches = np.flatnonzero(np.isin(clip_of_patch, validation_clips))
    rng = np.random.default_rng(seed)
    log = _Log(progress, f"scratch {len(train_classes)} classes")
    with _deterministic_torch(seed=seed, threads=threads) as torch:
        network = build_vggish(width=width, n_classes=len(train_classes))
        loss_function = torch.nn.CrossEntropyLoss()

        def batches(indices):
            for start in range(0, len(indices), batch_size):
                chosen = indices[start:start + batch_size]
                yield torch.from_numpy(patches[chosen]), torch.from_numpy(patch_labels[chosen])

        def run_epoch(optimizer, epoch):
            total, correct = 0.0, 0
            for x, y in batches(rng.permutation(train_patches)):
                optimizer.zero_grad()
                logits = network(x)
                loss = loss_function(logits, y)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(y)
                correct += int((logits.argmax(dim=1) == y).sum())
            return {"loss": total / len(train_patches), "accuracy": correct / len(train_patches)}

        def evaluate():
            total, correct = 0.0, 0
            for x, y in batches(validation_patches):
                logits = network(x)
                total += float(loss_function(logits, y)) * len(y)
                correct += int((logits.argmax(dim=1) == y).sum())
            return {"loss": total / len(validation_patches), "accuracy": correct / len(validation_patches)}

        history, best_epoch = _fit(network, torch, run_epoch=run_epoch, evaluate=evaluate, max_epochs=max_epochs,
                                   patience=patience, learning_rate=learning_rate, log=log)
    settings = {"optimizer": "Adam", "learning_rate": learning_rate, "batch_size": batch_size,
                "max_epochs": max_epochs, "patience": patience, "validation_fraction": validation_fraction,
                "patches_per_clip": PATCHES_PER_CLIP, "n_train_patches": int(len(train_patches)),
                "n_validation_patches": int(len(validation_patches)), "threads": threads,
                "loss": "cross-entropy of a linear head on the embedding"}
    manifest = _settings_manifest("scratch", width=width, train_classes=train_classes, seed=seed, frames=frames,
                                  labels=labels, settings=settings, history=history, best_epoch=best_epoch,
                                  started=started, network=network)
    return TrainedNetwork(_weights(network), manifest)


# -- P4 triplets ----------------------------------------------------------------------------------------

def _window(frames, clips, offsets):
    """Patches ``frames[clip, offset:offset + 96]`` for each (clip, offset)."""
    index = offsets[:, None] + np.arange(PATCH_FRAMES)[None, :]
    return frames[clips[:, None], index]


def _magnitude(log_mel):
    return np.maximum(np.exp(log_mel) - _LOG_MEL_OFFSET, 0.0)


def make_triplets(frames, clips, rng):
    """One triplet per anchor clip, each with a constraint drawn uniformly from :data:`CONSTRAINTS`.

    Parameters
    ----------
    frames : np.ndarray [shape=(n_clips, n_frames, 64), dtype=float32]
    clips : np.ndarray of int
        Anchor clips (indices into ``frames``); negatives and mixture partners are drawn from them
        too, always another clip than the anchor.
    rng : np.random.Generator

    Returns
    -------
    anchors, positives, negatives : np.ndarray [shape=(len(clips), 96, 64), dtype=float32]
    constraints : np.ndarray [shape=(len(clips),)], int
        Index into :data:`CONSTRAINTS` of each triplet.
    """
    n, n_frames = len(clips), frames.shape[1]
    last = n_frames - PATCH_FRAMES
    if n < 2:
        raise ValueError("Triplets need at least 2 clips")
    if last < 2 * PATCH_FRAMES:
        raise ValueError(f"Triplets need clips of at least {3 * PATCH_FRAMES} frames, got {n_frames}")
    pool = np.sort(clips)
    position = np.searchsorted(pool, clips)  # another clip than the anchor: step 1..n-1 places in the pool
    constraints = rng.integers(len(CONSTRAINTS), size=n)
    offsets = rng.integers(last + 1, size=n)
    others = pool[(position + rng.integers(1, n, size=n)) % n]
    negatives_at = rng.integers(last + 1, size=n)
    partners = pool[(position + rng.integers(1, n, size=n)) % n]
    partners_at = rng.integers(last + 1, size=n)
    shifts = rng.integers(1, _MAX_SHIFT_FRAMES + 1, size=n) * rng.choice((-1, 1), size=n)
    near_draw = rng.random(size=n)
    snr_db = rng.uniform(*_NOISE_SNR_DB, size=n)
    gain_db = rng.uniform(*_MIX_GAIN_DB, size=n)
    noise = np.abs(rng.standard_normal((n, PATCH_FRAMES, frames.shape[2])))

    anchors = _window(frames, clips, offsets)
    negatives = _window(frames, others, negatives_at)
    # The shift reflects at the clip's ends so that it stays a shift of 1..48 frames.
    shifted = offsets + shifts
    shifted = np.where((shifted < 0) | (shifted > last), offsets - shifts, shifted)
    # Proximity: a window of the same clip that does not overlap the anchor's, uniform over those.
    n_left = np.maximum(0, offsets - PATCH_FRAMES + 1)
    n_right = np.maximum(0, last - offsets - PATCH_FRAMES + 1)
    pick = np.floor(near_draw * (n_left + n_right)).astype(np.int64)
    near = np.where(pick < n_left, pick, offsets + PATCH_FRAMES + (pick - n_left))
    positive_at = np.select([constraints == CONSTRAINTS.index("shift"), constraints == CONSTRAINTS.index("proximity")],
                            [shifted, near], offsets)
    positives = _window(frames, clips, positive_at)
    is_noise = constraints == CONSTRAINTS.index("noise")
    if is_noise.any():
        magnitude = _magnitude(anchors[is_noise])
        level = magnitude.mean(axis=(1, 2)) * 10.0 ** (-snr_db[is_noise] / 20.0)
        positives[is_noise] = np.log(magnitude + level[:, None, None] * noise[is_noise] + _LOG_MEL_OFFSET)
    is_mix = constraints == CONSTRAINTS.index("mixture")
    if is_mix.any():
        partner = _magnitude(_window(frames, partners[is_mix], partners_at[is_mix]))
        mixed = _magnitude(anchors[is_mix]) + 10.0 ** (gain_db[is_mix] / 20.0)[:, None, None] * partner
        positives[is_mix] = np.log(mixed + _LOG_MEL_OFFSET)
    cast = (lambda array: np.ascontiguousarray(array, dtype=np.float32))
    return cast(anchors), cast(positives), cast(negatives), constraints


def train_triplet(log_mels, clip_targets, train_classes, *, width=DEFAULT_WIDTH, max_epochs=DEFAULT_MAX_EPOCHS,
                  patience=DEFAULT_PATIENCE, learning_rate=1e-4, batch_size=64, validation_fraction=0.2,
                  margin=0.1, seed=0, threads=1, progress=False):
    """Train the VGGish trunk with P4's triplet loss on the training classes' clips, without labels.

    ``clip_targets`` and ``train_classes`` only choose which clips may be used (the seen
    classes); the labels themselves never reach the loss, the split or the triplets.

    Parameters
    ----------
    log_mels, clip_targets, train_classes, width, max_epochs, patience, learning_rate, batch_size, seed, threads,
    progress
        As :func:`train_supervised`.
    validation_fraction : float in (0, 1)
        Share of the clips (drawn without labels) whose fixed triplets decide early stopping.
    margin : float > 0
        δ of the loss ``max(0, |a - p|² - |a - n|² + δ)`` on unit-length embeddings (P4: 0.1).

    Returns
    -------
    TrainedNetwork
        ``manifest["history"]`` holds the triplet loss and the fraction of triplets ranked
        correctly (``accuracy``: |a - p| < |a - n|) per epoch.
    """
    _check_settings(width=width, max_epochs=max_epochs, patience=patience, learning_rate=learning_rate,
                    batch_size=batch_size, threads=threads)
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    started = time.perf_counter()
    frames, _, train_classes = _training_clips(log_mels, clip_targets, train_classes)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frames))
    n_validation = max(2, int(round(validation_fraction * len(frames))))
    validation_clips, train_clips = np.sort(order[:n_validation]), np.sort(order[n_validation:])
    validation_set = make_triplets(frames, validation_clips, rng)[:3]
    log = _Log(progress, f"triplet {len(train_classes)} classes")
    with _deterministic_torch(seed=seed, threads=threads) as torch:
        network = build_vggish(width=width)

        def loss_of(anchor, positive, negative):
            embedded = torch.nn.functional.normalize(network.embed(torch.cat((anchor, positive, negative))), dim=1)
            a, p, n = embedded.split(len(anchor))
            d_positive, d_negative = ((a - p) ** 2).sum(dim=1), ((a - n) ** 2).sum(dim=1)
            return torch.relu(d_positive - d_negative + margin), d_positive < d_negative

        def batches(triplets):
            for start in range(0, len(triplets[0]), batch_size):
                yield tuple(torch.from_numpy(part[start:start + batch_size]) for part in triplets)

        def run_epoch(optimizer, epoch):
            anchors, positives, negatives, _ = make_triplets(frames, rng.permutation(train_clips), rng)
            total, correct = 0.0, 0
            for anchor, positive, negative in batches((anchors, positives, negatives)):
                optimizer.zero_grad()
                losses, right = loss_of(anchor, positive, negative)
                loss = losses.mean()
                loss.backward()
                optimizer.step()
                total += float(losses.detach().sum())
                correct += int(right.sum())
            return {"loss": total / len(anchors), "accuracy": correct / len(anchors)}

        def evaluate():
            total, correct = 0.0, 0
            for anchor, positive, negative in batches(validation_set):
                losses, right = loss_of(anchor, positive, negative)
                total += float(losses.detach().sum())
                correct += int(right.sum())
            return {"loss": total / len(validation_set[0]), "accuracy": correct / len(validation_set[0])}

        history, best_epoch = _fit(network, torch, run_epoch=run_epoch, evaluate=evaluate, max_epochs=max_epochs,
                                   patience=patience, learning_rate=learning_rate, log=log)
    settings = {"optimizer": "Adam", "learning_rate": learning_rate, "batch_size": batch_size,
                "max_epochs": max_epochs, "patience": patience, "validation_fraction": validation_fraction,
                "margin": margin, "constraints": list(CONSTRAINTS), "triplets_per_epoch": int(len(train_clips)),
                "n_validation_triplets": int(len(validation_clips)), "max_shift_frames": _MAX_SHIFT_FRAMES,
                "noise_snr_db": list(_NOISE_SNR_DB), "mix_gain_db": list(_MIX_GAIN_DB), "threads": threads,
                "loss": "triplet hinge on squared distances of unit-length embeddings"}
    manifest = _settings_manifest("triplet", width=width, train_classes=train_classes, seed=seed, frames=frames,
                                  labels=None, settings=settings, history=history, best_epoch=best_epoch,
                                  started=started, network=network)
    return TrainedNetwork(_weights(network), manifest)


def training_settings(kind, **settings):
    """Every setting a trainer of ``kind`` will use: its defaults updated with ``settings``.

    Raises
    ------
    ValueError
        Unknown kind, or a setting the trainer does not take.
    """
    import inspect

    trainers = {"scratch": train_supervised, "triplet": train_triplet}
    if kind not in trainers:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    defaults = {name: parameter.default for name, parameter in inspect.signature(trainers[kind]).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "progress"}
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise ValueError(f"Unknown {kind} training settings {unknown}; known: {sorted(defaults)}")
    return {**defaults, **settings}


def train_network(kind, log_mels, clip_targets, train_classes, **kwargs):
    """:func:`train_supervised` (``kind="scratch"``) or :func:`train_triplet` (``"triplet"``)."""
    trainers = {"scratch": train_supervised, "triplet": train_triplet}
    if kind not in trainers:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return trainers[kind](log_mels, clip_targets, train_classes, **kwargs)
