"""The bilinear compatibility model F(x, y) = θ(x)ᵀ W φ(y) (SPEC §3).

:class:`BilinearZSL` learns W on the seen classes with Training Algorithm 1 and
ranks *any* candidate classes by their embeddings afterwards, which is what
makes it zero-shot: the unseen classes enter only through φ(y) at test time.
"""

__all__ = ["BilinearZSL", "NORMALIZATIONS", "NotFittedError"]

import time

import numpy as np

from ..models import _ranksgd
from .._util.progress import StepLog
from .base import HyperParameters, NotFittedError
from ..evaluation.metrics import top1_accuracy

#: Input normalisations: which side is scaled to unit L2 norm, row by row.
NORMALIZATIONS = ("both", "acoustic", "semantic", "none")

# Row norms below this go through the rescaled path of _unit_rows (their squares underflow).
_TINY_NORM = 1e-150
# Largest-magnitude range of an input that fit() uses unnormalised (scores grow with its square
# times the other side's: outside it, the hinge updates overflow float64 or vanish).
_SCALE_LIMITS = (1e-30, 1e30)


class BilinearZSL(HyperParameters):
    """Bilinear compatibility model trained with Training Algorithm 1.

    Parameters
    ----------
    learning_rate : float > 0
        SGD step η.
    n_epochs : int >= 1
        Number of passes m over the training samples.
    reg_lambda : float >= 0
        λ of the penalty λ‖W‖²_F (P2 eq. 9), applied as its SGD step: each
        sample multiplies W by (1 − 2ηλ) before its hinge update. Requires
        2ηλ < 1. P2 selects λ in {0, 0.01, 1, 10} on validation data.
    update : {"algorithm1", "rank_normalised"}
        ``"algorithm1"``: the violator at sorted position r gets weight
        β_⌊(C−1)/r⌋ (P1, Training Algorithm 1). ``"rank_normalised"``: every
        violator gets β_K / K, K = number of violators (P2 eq. 7; the authors'
        later code).
    kernel : {"dual", "numba", "python"}
        Implementation of the same iterates (see :mod:`refzsl._ranksgd`):
        ``"dual"`` (fastest, O(d_a·C + C²) per sample), ``"numba"`` (one
        summed rank-1 update per sample), ``"python"`` (the literal oracle;
        slow, for checking). The first fit with a Numba kernel compiles it
        (cached on disk afterwards).
    normalize : {"both", "acoustic", "semantic", "none"}
        Which inputs are scaled to unit L2 norm, row by row, before training
        and, identically, before scoring. The papers do not say; ``"none"`` is
        the algorithm as printed. Default ``"both"``: (i) averaged word vectors
        shrink with the number of words in a label, so unnormalised φ biases
        test-time rankings against long labels, which has nothing to do with
        the audio; (ii) unit θ makes the step size independent of the
        embedder's output scale (YAMNet and VGGish differ by orders of
        magnitude), so one η grid serves all embedders; (iii) unit inputs
        bound every score by ‖W‖₂, so training is much harder to diverge.
    random_state : int, np.random.Generator or None
        Seed of the sample order: one permutation per epoch is drawn from
        ``np.random.default_rng(random_state)``, and every kernel visits the
        samples in that order.
    verbose : bool
        Print one line per epoch (violations per sample, time) to stderr.

    Attributes
    ----------
    W_ : np.ndarray [shape=(d_a, d_s), dtype=float64]
        Learned compatibility matrix (on the normalised inputs).
    n_iter_ : int
        Number of epochs run.
    n_classes_ : int
        Number of training classes C.
    n_features_in_ : int
        d_a, the acoustic embedding size seen in ``fit``.
    n_semantic_features_ : int
        d_s, the class embedding size seen in ``fit``.
    normalize_ : str
        The normalisation the model was fitted with, applied by
        :meth:`decision_function`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Phi = rng.normal(size=(4, 3))              # 4 seen classes, d_s = 3
    >>> y = np.repeat(np.arange(4), 10)
    >>> X = Phi[y] @ rng.normal(size=(3, 5)) + 0.1 * rng.normal(size=(40, 5))
    >>> model = BilinearZSL(learning_rate=0.1, n_epochs=20, random_state=0).fit(X, y, Phi)
    >>> model.W_.shape
    (5, 3)
    >>> model.decision_function(X[:2], rng.normal(size=(7, 3))).shape   # 7 new classes
    (2, 7)
    """

    _fitted_attributes = ("W_", "n_iter_", "n_classes_", "n_features_in_", "n_semantic_features_", "normalize_")

    def __init__(
        self,
        *,
        learning_rate=0.01,
        n_epochs=20,
        reg_lambda=0.0,
        update="algorithm1",
        kernel="dual",
        normalize="both",
        random_state=None,
        verbose=False,
    ):
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.reg_lambda = reg_lambda
        self.update = update
        self.kernel = kernel
        self.normalize = normalize
        self.random_state = random_state
        self.verbose = verbose

    # -- training -------------------------------------------------------------
    def fit(self, X, y, class_embeddings):
        """Learn W from W = 0 on the seen classes.

        Parameters
        ----------
        X : array-like [shape=(n, d_a)]
            Acoustic embeddings θ(x), finite, no all-zero row. Normalised rows may have any finite
            scale (``fit(X * 1e200, ...)`` learns the same W as ``fit(X, ...)``); an unnormalised
            side (``normalize`` other than ``"both"``) must hold magnitudes within 1e-30 .. 1e30.
        y : array-like of int [shape=(n,)]
            Labels: row indices into ``class_embeddings`` (0 … C−1).
        class_embeddings : array-like [shape=(C, d_s)], C >= 2
            Class embeddings φ(y) of the seen classes, finite, no all-zero row.

        Returns
        -------
        self : BilinearZSL

        Raises
        ------
        ValueError
            Bad hyper-parameters, shapes, labels out of range, NaN/Inf,
            fewer than 2 classes, all-zero rows, or an unnormalised input of meaningless scale.
        TypeError
            Non-integer labels.
        FloatingPointError
            W became non-finite during training (decrease the learning rate).
        """
        self._check_params()
        X = _as_matrix(X, "X")
        Phi = _as_matrix(class_embeddings, "class_embeddings")
        y = _as_labels(y, n_samples=X.shape[0])
        if Phi.shape[0] < 2:
            raise ValueError(
                f"class_embeddings must have at least 2 classes (rows) to rank, got shape {Phi.shape}"
            )
        if y.min() < 0 or y.max() >= Phi.shape[0]:
            bad = y[(y < 0) | (y >= Phi.shape[0])]
            raise ValueError(
                f"y must index rows of class_embeddings (0..{Phi.shape[0] - 1}), got values "
                f"{np.unique(bad)[:10].tolist()}"
            )
        _check_nonzero_rows(X, "X")
        _check_nonzero_rows(Phi, "class_embeddings")
        if self.normalize in ("none", "semantic"):
            _check_scale(X, "X", self.normalize)
        if self.normalize in ("none", "acoustic"):
            _check_scale(Phi, "class_embeddings", self.normalize)
        for name in [name for name in vars(self) if name.endswith("_")]:
            delattr(self, name)  # a refit forgets the previous fit
        X, Phi = self._normalized(X, Phi, self.normalize)

        rng = np.random.default_rng(self.random_state)
        orders = (rng.permutation(X.shape[0]) for _ in range(self.n_epochs))
        started = time.perf_counter()
        say = StepLog("BilinearZSL", enabled=self.verbose)

        def report(epoch, n_violations):
            say(f"epoch {epoch}/{self.n_epochs}: {n_violations / X.shape[0]:.2f} violating classes per sample, "
                f"{time.perf_counter() - started:.2f} s")

        W = _ranksgd.train(
            X,
            y,
            Phi,
            orders,
            kernel=self.kernel,
            learning_rate=float(self.learning_rate),
            reg_lambda=float(self.reg_lambda),
            update=self.update,
            on_epoch=report,
        )
        self.W_ = W
        self.n_iter_ = int(self.n_epochs)
        self.n_classes_ = Phi.shape[0]
        self.n_features_in_ = X.shape[1]
        self.n_semantic_features_ = Phi.shape[1]
        self.normalize_ = self.normalize
        return self

    # -- scoring --------------------------------------------------------------
    def decision_function(self, X, class_embeddings):
        """Compatibility scores F(x, y) = θ(x)ᵀ W φ(y) against candidate classes.

        Parameters
        ----------
        X : array-like [shape=(n, d_a)]
            Acoustic embeddings.
        class_embeddings : array-like [shape=(C', d_s)], C' >= 1
            Embeddings of any candidate classes (seen or unseen).

        Returns
        -------
        scores : np.ndarray [shape=(n, C'), dtype=float64]
        """
        if not hasattr(self, "W_"):
            raise NotFittedError("This BilinearZSL is not fitted yet; call fit(X, y, class_embeddings) first")
        X = _as_matrix(X, "X")
        Phi = _as_matrix(class_embeddings, "class_embeddings")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features (shape {X.shape}); the model was fitted with "
                f"{self.n_features_in_} (W_ shape {self.W_.shape})"
            )
        if Phi.shape[1] != self.n_semantic_features_:
            raise ValueError(
                f"class_embeddings have {Phi.shape[1]} dimensions (shape {Phi.shape}); the model "
                f"was fitted with {self.n_semantic_features_} (W_ shape {self.W_.shape})"
            )
        if self.normalize_ in ("both", "acoustic"):
            _check_nonzero_rows(X, "X")
        if self.normalize_ in ("both", "semantic"):
            _check_nonzero_rows(Phi, "class_embeddings")
        X, Phi = self._normalized(X, Phi, self.normalize_)
        return (X @ self.W_) @ Phi.T

    def predict(self, X, class_embeddings):
        """Index (row of ``class_embeddings``) of the best-scoring class per sample.

        Ties go to the lowest index (``np.argmax``).

        Returns
        -------
        y_pred : np.ndarray [shape=(n,), dtype=int64]
        """
        return np.argmax(self.decision_function(X, class_embeddings), axis=1)

    def score(self, X, y, class_embeddings):
        """Top-1 accuracy of :meth:`predict` against labels ``y`` (row indices)."""
        return top1_accuracy(y, self.decision_function(X, class_embeddings))

    # -- helpers ----------------------------------------------------------------
    def _check_params(self):
        learning_rate, reg_lambda = self.learning_rate, self.reg_lambda
        if not (isinstance(learning_rate, (int, float, np.number)) and np.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
        if not (isinstance(self.n_epochs, (int, np.integer)) and not isinstance(self.n_epochs, bool) and self.n_epochs >= 1):
            raise ValueError(f"n_epochs must be an integer >= 1, got {self.n_epochs!r}")
        if not (isinstance(reg_lambda, (int, float, np.number)) and np.isfinite(reg_lambda) and reg_lambda >= 0):
            raise ValueError(f"reg_lambda must be a finite number >= 0, got {reg_lambda!r}")
        if 2 * learning_rate * reg_lambda >= 1:
            raise ValueError(
                f"2 * learning_rate * reg_lambda must be < 1 (the decay factor 1 - 2ηλ must stay "
                f"positive), got learning_rate={learning_rate!r}, reg_lambda={reg_lambda!r}"
            )
        for name, allowed in (
            ("update", tuple(_ranksgd.UPDATE_RULES)),
            ("kernel", _ranksgd.KERNELS),
            ("normalize", NORMALIZATIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @staticmethod
    def _normalized(X, Phi, normalize):
        if normalize in ("both", "acoustic"):
            X = _unit_rows(X)
        if normalize in ("both", "semantic"):
            Phi = _unit_rows(Phi)
        return X, Phi


def _unit_rows(array):
    """Rows scaled to unit L2 norm, for rows of any finite scale.

    The norm of a row of 1e200s overflows (and of 1e-200s underflows to 0), which would make the
    row 0 or NaN; such rows are first divided by their largest magnitude, which leaves the unit
    row the same. Other rows take the direct path, so their values do not change by a rounding.
    """
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(array, axis=1, keepdims=True)
    extreme = (~np.isfinite(norms) | (norms < _TINY_NORM)).ravel()
    if extreme.any():
        rows = array[extreme] / np.max(np.abs(array[extreme]), axis=1, keepdims=True)
        norms[extreme] = np.linalg.norm(rows, axis=1, keepdims=True) * np.max(np.abs(array[extreme]), axis=1,
                                                                              keepdims=True)
        unit = array / np.where(extreme[:, None], 1.0, norms)
        unit[extreme] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        return unit
    return array / norms


def _check_scale(array, name, normalize):
    """Refuse an unnormalised input whose scale makes the rank SGD overflow or stall."""
    magnitude = float(np.max(np.abs(array)))
    low, high = _SCALE_LIMITS
    if not low <= magnitude <= high:
        raise ValueError(
            f"{name} holds values up to {magnitude:.3g} in magnitude; with normalize={normalize!r} it is used "
            f"as given and training would overflow or stall (scores scale with its square). Rescale {name} "
            f"to values within [{low:g}, {high:g}], or normalise it (normalize='both')")


def _as_matrix(values, name):
    """Float64 C-contiguous 2-D array with at least one row, finite."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n, d], got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
        raise ValueError(f"{name} (shape {array.shape}) holds NaN or Inf in rows {rows[:10].tolist()}")
    return array


def _as_labels(values, *, n_samples):
    labels = np.asarray(values)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class indices, got dtype {labels.dtype}")
    if labels.shape != (n_samples,):
        raise ValueError(f"y must have shape ({n_samples},) to match X, got shape {labels.shape}")
    return labels.astype(np.int64)


def _check_nonzero_rows(array, name):
    zero = np.flatnonzero(~array.any(axis=1))
    if zero.size:
        raise ValueError(
            f"{name} (shape {array.shape}) has all-zero rows {zero[:10].tolist()}: they cannot "
            "be normalised or ranked"
        )
