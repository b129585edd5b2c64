"""Multi-label zero-shot classification with temporal attention (P3, SPEC §7).

A clip is a sequence of T segment embeddings θ_1 … θ_T (YAMNet: one 1024-d
embedding every 0.48 s). Segments and classes are projected into a common
k-dimensional space, and every segment is scored against every class::

    h_t = Uᵀ θ̃_t,  e_y = Vᵀ φ̃(y)            θ̃ = standardised θ, φ̃ = φ / ‖φ‖
    s_t(y) = ĥ_t · ê_y                      cosine (similarity="cosine"; "dot": h_t · e_y)
    a_t(y) = softmax_t(s_t(y) / τ)          attention: a softmax over time, per class
    S(y)   = Σ_t a_t(y) s_t(y)              clip score

With ``pooling="uniform"`` the same model averages over time (a_t = 1/T): the
uniform-aggregation baseline. U (d_a × k) and V (d_s × k) are trained by
mini-batch SGD on a rank-aware multi-label hinge that ranks every positive
class above the negatives, weighted by the rank penalties β of Training
Algorithm 1 (:mod:`refzsl._attention_sgd` gives the loss and the kernel).

Choices the papers leave open, and why (each is a parameter; the values were
chosen on validation clips of held-out training classes, see
:mod:`refzsl.multilabel`):

- A common space of ``n_components`` dimensions rather than a full bilinear W:
  SPEC §7 speaks of projections into a common space, and a rank-k factor
  U Vᵀ costs O(T·d_a·k) per clip instead of O(T·d_a·d_s), which is what makes
  ~4000 clips × 20 epochs fit in well under a minute.
- Cosine compatibility by default. With plain dot products the scores have no
  fixed scale: training inflates them, so any temperature ends up as max
  pooling, which fitted the training classes almost perfectly and ranked
  unseen validation classes worse (validation mAP 0.45-0.52 against 0.55-0.57
  for uniform pooling, in the tuning runs recorded in :mod:`refzsl.multilabel`).
  Bounded scores s ∈ [-1, 1] make τ and the margin mean the same thing
  throughout training.
- The attention weights come from the compatibility scores themselves (no
  separate attention branch): SPEC §7's wording, and no extra parameters.
  As τ → ∞ attention becomes uniform, as τ → 0 max pooling.
- Acoustic inputs are standardised per dimension with the training segments'
  mean and standard deviation (YAMNet embeddings are non-negative with widely
  differing scales); class embeddings are scaled to unit length, so recipes of
  different norms (WLE vs. WLE+GLE) share one learning rate.
- U and V start from N(0, 1/d_a) and N(0, 1/k) entries (a factorised model
  cannot start at zero: that is a saddle point); the seed is ``random_state``.
"""

__all__ = ["TemporalAttentionZSL"]


import numpy as np

from ..models import _attention_sgd
from .._util.checks import check_positive_int
from .base import HyperParameters
from ._ranksgd import rank_penalties
from .._util.progress import StepLog
from .._util.threads import single_threaded_blas

_KERNELS = ("numba", "python")
_SIMILARITIES = ("cosine", "dot")
# Clips scored per block in decision_function: bounds the memory of the projected segments.
_SCORE_BLOCK = 512


def _check_segments(X, name="X"):
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (n_clips, n_segments, n_features), "
                        f"got {type(X).__name__}")
    if X.ndim != 3 or min(X.shape) < 1:
        raise ValueError(f"{name} must have shape (n_clips, n_segments, n_features) with every size >= 1, "
                         f"got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"{name} must hold floating-point values, got dtype {X.dtype}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return X


def _check_class_embeddings(class_embeddings):
    Phi = np.asarray(class_embeddings)
    if Phi.ndim != 2 or min(Phi.shape) < 1:
        raise ValueError(f"class_embeddings must have shape (n_classes, n_dims), got shape {Phi.shape}")
    if not np.issubdtype(Phi.dtype, np.number):
        raise TypeError(f"class_embeddings must be numeric, got dtype {Phi.dtype}")
    if not np.isfinite(Phi).all():
        raise ValueError("class_embeddings hold NaN or infinite values")
    norms = np.linalg.norm(Phi, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"class_embeddings rows {np.flatnonzero(norms == 0).tolist()} are all zero")
    return Phi / norms[:, None]


def _check_targets(Y, n_clips, n_classes):
    Y = np.asarray(Y)
    if Y.shape != (n_clips, n_classes):
        raise ValueError(f"Y must be a binary matrix of shape (n_clips, n_classes) = ({n_clips}, {n_classes}), "
                         f"got shape {Y.shape}")
    if Y.dtype != bool and not np.isin(Y, (0, 1)).all():
        raise ValueError("Y must hold only 0/1 (or bool) values")
    return Y.astype(np.uint8)


def _moments(rows, block=4096):
    """Mean and standard deviation of every column, accumulated in float64 over row blocks."""
    total = np.zeros(rows.shape[1])
    for start in range(0, rows.shape[0], block):
        total += rows[start:start + block].sum(axis=0, dtype=np.float64)
    mean = total / rows.shape[0]
    squares = np.zeros(rows.shape[1])
    for start in range(0, rows.shape[0], block):
        squares += np.square(rows[start:start + block] - mean).sum(axis=0)
    return mean, np.sqrt(squares / rows.shape[0])


def _loss_and_gradients(X, targets, Phi, U, V, *, mean, inv_scale, cosine, kernel, pooling_code, inv_temperature,
                        loss_code, margin, beta):
    """Summed loss of a batch and its gradients with respect to U and V.

    The standardisation θ̃ = (θ − mean) · inv_scale is folded into the projection,
    θ̃ᵀU = θᵀ(inv_scale·U) − (mean·inv_scale)ᵀU, so the batch is never copied to standardise it.

    Parameters
    ----------
    X : np.ndarray [shape=(B, T, d_a)]
        Raw segment embeddings θ_t.
    targets : np.ndarray [shape=(B, C), dtype=uint8]
    Phi : np.ndarray [shape=(C, d_s)]
        Unit-length class embeddings.
    U, V : np.ndarray [shape=(d_a, k)], [shape=(d_s, k)]
    mean, inv_scale : np.ndarray [shape=(d_a,)]
        Standardisation of the segment embeddings.
    cosine : bool
        Score with unit-length projections (cosine similarity) instead of plain dot products.
    kernel : callable
        :func:`refzsl._attention_sgd.pool_and_gradient` or its jitted twin.

    Returns
    -------
    loss : float
    n_violations : int
    grad_U, grad_V : np.ndarray, shaped as U and V, in their dtype

    Raises
    ------
    FloatingPointError
        If a segment score is not finite (the hinge would silently ignore it).
    """
    n_clips, n_segments, n_features = X.shape
    flat = X.reshape(-1, n_features)
    scaled_U = inv_scale[:, None] * U
    H = flat @ scaled_U - (mean @ scaled_U)  # [B·T, k] projected standardised segments
    E = Phi @ V  # [C, k] projected classes
    if cosine:
        H_norm, E_norm = _row_norms(H), _row_norms(E)
        H, E = H / H_norm, E / E_norm
    S = (H @ E.T).reshape(n_clips, n_segments, -1)
    if not np.isfinite(S).all():
        raise FloatingPointError("segment scores are not finite")
    clip_scores = np.empty((n_clips, E.shape[0]), dtype=S.dtype)
    attention = np.empty_like(S)
    G = np.empty_like(S)
    loss, n_violations = kernel(S, targets, pooling_code, inv_temperature, loss_code, margin, beta,
                                clip_scores, attention, G)
    G = G.reshape(-1, E.shape[0])
    grad_H, grad_E = G @ E, G.T @ H
    if cosine:  # through x / ‖x‖: (g − x̂ (x̂·g)) / ‖x‖
        grad_H = (grad_H - H * np.sum(grad_H * H, axis=1, keepdims=True)) / H_norm
        grad_E = (grad_E - E * np.sum(grad_E * E, axis=1, keepdims=True)) / E_norm
    grad_U = inv_scale[:, None] * (flat.T @ grad_H - np.outer(mean, grad_H.sum(axis=0)))
    grad_V = Phi.T @ grad_E
    return loss, n_violations, grad_U.astype(U.dtype, copy=False), grad_V.astype(V.dtype, copy=False)


def _row_norms(M):
    """Euclidean norm of every row, as a column; a zero row keeps norm 1 (it stays zero)."""
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    return np.where(norms > 0, norms, 1.0).astype(M.dtype, copy=False)


class TemporalAttentionZSL(HyperParameters):
    """Zero-shot multi-label classifier of segment sequences with temporal attention.

    Parameters
    ----------
    n_components : int >= 1
        Dimension k of the common space.
    similarity : {"cosine", "dot"}
        s_t(y) between unit-length projections (in [-1, 1]) or their plain dot product.
    pooling : {"attention", "uniform"}
        Softmax-over-time attention, or the mean over segments (the uniform-aggregation baseline).
    temperature : float > 0
        τ of the attention softmax (ignored for uniform pooling).
    loss : {"rank_normalised", "algorithm1"}
        Rank weights of the multi-label hinge (see :mod:`refzsl._attention_sgd`).
    margin : float > 0
        Hinge margin Δ between a positive and a negative clip score.
    learning_rate : float > 0
        SGD step η applied to the batch-mean gradient.
    n_epochs : int >= 1
    batch_size : int >= 1
        Clips per SGD step (1 = per-clip SGD).
    reg_lambda : float >= 0
        Penalty λ(‖U‖²_F + ‖V‖²_F).
    kernel : {"numba", "python"}
        The jitted kernel or its plain-Python twin (identical results; the twin is slow).
    random_state : int, numpy.random.Generator or None
        Seeds the initial U, V and the sample order of every epoch.
    verbose : bool
        Print the loss of every epoch to stderr.

    Attributes
    ----------
    U_ : np.ndarray [shape=(n_features, n_components), dtype=float32]
        Acoustic projection.
    V_ : np.ndarray [shape=(n_dims, n_components), dtype=float32]
        Semantic projection.
    mean_, scale_ : np.ndarray [shape=(n_features,), dtype=float32]
        Standardisation of the segment embeddings (training segments).
    n_features_in_ : int
    n_classes_ : int
        Number of training classes.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss per clip of every epoch (measured during the epoch).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 6, 8)).astype(np.float32)
    >>> Y = rng.integers(0, 2, size=(40, 5))
    >>> Phi = rng.normal(size=(5, 3))
    >>> model = TemporalAttentionZSL(n_components=4, n_epochs=2, random_state=0).fit(X, Y, Phi)
    >>> model.decision_function(X, Phi).shape
    (40, 5)
    """

    _fitted_attributes = ("mean_", "scale_", "U_", "V_", "n_features_in_", "n_classes_", "loss_curve_", "n_iter_")

    def __init__(self, *, n_components=32, similarity="cosine", pooling="attention", temperature=2.0,
                 loss="rank_normalised", margin=0.2, learning_rate=0.05, n_epochs=20, batch_size=16, reg_lambda=0.0,
                 kernel="numba", random_state=None, verbose=False):
        self.n_components = n_components
        self.similarity = similarity
        self.pooling = pooling
        self.temperature = temperature
        self.loss = loss
        self.margin = margin
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.reg_lambda = reg_lambda
        self.kernel = kernel
        self.random_state = random_state
        self.verbose = verbose

    def _check_hyper_parameters(self):
        for name in ("n_components", "n_epochs", "batch_size"):
            check_positive_int(getattr(self, name), name)
        for name in ("temperature", "margin", "learning_rate"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not np.isfinite(self.reg_lambda) or self.reg_lambda < 0:
            raise ValueError(f"reg_lambda must be a finite number >= 0, got {self.reg_lambda!r}")
        if self.similarity not in _SIMILARITIES:
            raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {self.similarity!r}")
        if self.pooling not in _attention_sgd.POOLINGS:
            raise ValueError(f"pooling must be one of {tuple(_attention_sgd.POOLINGS)}, got {self.pooling!r}")
        if self.loss not in _attention_sgd.LOSSES:
            raise ValueError(f"loss must be one of {tuple(_attention_sgd.LOSSES)}, got {self.loss!r}")
        if self.kernel not in _KERNELS:
            raise ValueError(f"kernel must be one of {_KERNELS}, got {self.kernel!r}")

    def _kernel(self):
        if self.kernel == "numba":
            return _attention_sgd.jitted(_attention_sgd.pool_and_gradient)
        return _attention_sgd.pool_and_gradient

    def fit(self, X, Y, class_embeddings):
        """Train U and V on clips of the training classes.

        Parameters
        ----------
        X : np.ndarray [shape=(n_clips, n_segments, n_features)], float
            Segment embeddings θ_t of each clip (e.g. YAMNet, n_features = 1024).
        Y : np.ndarray [shape=(n_clips, n_classes)], 0/1 or bool
            Clip-level labels: Y[i, c] = 1 when class c (a row of ``class_embeddings``) occurs in clip i.
        class_embeddings : np.ndarray [shape=(n_classes, n_dims)]
            φ(y) of the training classes.

        Returns
        -------
        self

        Raises
        ------
        TypeError, ValueError
            For bad hyper-parameters or inputs (the message names the culprit and its shape).
        FloatingPointError
            If the projections stop being finite (learning rate too large).
        """
        self._check_hyper_parameters()
        X = _check_segments(X).astype(np.float32, copy=False)
        Phi = _check_class_embeddings(class_embeddings).astype(np.float32)
        targets = _check_targets(Y, X.shape[0], Phi.shape[0])
        n_clips, _, n_features = X.shape
        rng = np.random.default_rng(self.random_state)

        mean, std = _moments(X.reshape(-1, n_features))
        self.mean_ = mean.astype(np.float32)
        # A constant feature carries nothing: scale it by 1 instead of dividing by zero.
        self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        k = self.n_components
        U = (rng.standard_normal((n_features, k)) / np.sqrt(n_features)).astype(np.float32)
        V = (rng.standard_normal((Phi.shape[1], k)) / np.sqrt(k)).astype(np.float32)
        self.n_features_in_ = n_features
        self.n_classes_ = Phi.shape[0]

        options = dict(mean=self.mean_, inv_scale=1.0 / self.scale_, cosine=self.similarity == "cosine",
                       kernel=self._kernel(), pooling_code=_attention_sgd.POOLINGS[self.pooling],
                       inv_temperature=1.0 / float(self.temperature), loss_code=_attention_sgd.LOSSES[self.loss],
                       margin=float(self.margin), beta=rank_penalties(Phi.shape[0]))
        decay = 2.0 * self.learning_rate * self.reg_lambda
        self.loss_curve_ = []
        with single_threaded_blas():
            self._run_epochs(X, targets, Phi, U, V, rng, decay, options)
        self.U_, self.V_ = U, V
        self.n_iter_ = self.n_epochs
        return self

    def _run_epochs(self, X, targets, Phi, U, V, rng, decay, options):
        """The SGD epochs of :meth:`fit`: update U and V in place, append to ``loss_curve_``."""
        n_clips = X.shape[0]
        say = StepLog(enabled=self.verbose)
        for epoch in range(self.n_epochs):
            order = rng.permutation(n_clips)
            epoch_loss = 0.0
            for start in range(0, n_clips, self.batch_size):
                # Sorted: X[batch] then reads memory in order; the summed gradient does not depend on it.
                batch = np.sort(order[start:start + self.batch_size])
                try:
                    loss, _, grad_U, grad_V = _loss_and_gradients(X[batch], targets[batch], Phi, U, V, **options)
                except FloatingPointError as error:
                    raise FloatingPointError(f"Training diverged at epoch {epoch + 1} ({error}). Try a smaller "
                                             f"learning_rate (now {self.learning_rate}).") from None
                epoch_loss += loss
                step = self.learning_rate / batch.size
                if decay:
                    U *= 1.0 - decay
                    V *= 1.0 - decay
                U -= step * grad_U
                V -= step * grad_V
            if not (np.isfinite(U).all() and np.isfinite(V).all()):
                raise FloatingPointError(f"The projections stopped being finite at epoch {epoch + 1}: training "
                                         f"diverged. Try a smaller learning_rate (now {self.learning_rate}).")
            self.loss_curve_.append(epoch_loss / n_clips)
            say(f"epoch {epoch + 1}/{self.n_epochs}: loss {self.loss_curve_[-1]:.4f}")

    def _check_fitted(self):
        if not hasattr(self, "U_"):
            raise RuntimeError(f"This {type(self).__name__} is not fitted yet; call fit(X, Y, class_embeddings) first")

    def pool(self, X, class_embeddings):
        """Segment scores, attention weights and clip scores in one pass.

        :meth:`segment_scores`, :meth:`attention` and :meth:`decision_function` each return one of
        the three; an evaluation that needs several calls this once.

        Parameters
        ----------
        X : np.ndarray [shape=(n_clips, n_segments, n_features)], float
        class_embeddings : np.ndarray [shape=(n_candidates, n_dims)]

        Returns
        -------
        segment_scores : np.ndarray [shape=(n_clips, n_segments, n_candidates), dtype=float32]
        attention : np.ndarray [shape=(n_clips, n_segments, n_candidates), dtype=float32]
        clip_scores : np.ndarray [shape=(n_clips, n_candidates), dtype=float32]
        """
        self._check_fitted()
        X = _check_segments(X).astype(np.float32, copy=False)
        if X.shape[2] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[2]} features per segment, the model was fitted with "
                             f"{self.n_features_in_}")
        Phi = _check_class_embeddings(class_embeddings).astype(np.float32)
        if Phi.shape[1] != self.V_.shape[0]:
            raise ValueError(f"class_embeddings have {Phi.shape[1]} dimensions, the model was fitted with "
                             f"{self.V_.shape[0]}")
        n_clips, n_segments, n_features = X.shape
        E = Phi @ self.V_
        segment_scores = np.empty((n_clips, n_segments, Phi.shape[0]), dtype=np.float32)
        attention = np.empty_like(segment_scores)
        clip_scores = np.empty((n_clips, Phi.shape[0]), dtype=np.float32)
        kernel = self._kernel()
        no_targets = np.zeros((0, Phi.shape[0]), dtype=np.uint8)
        no_gradient = np.zeros((0, n_segments, Phi.shape[0]), dtype=np.float32)
        scaled_U = self.U_ / self.scale_[:, None]
        offset = self.mean_ @ scaled_U
        if self.similarity == "cosine":
            E = E / _row_norms(E)
        for start in range(0, n_clips, _SCORE_BLOCK):
            block = slice(start, start + _SCORE_BLOCK)
            H = X[block].reshape(-1, n_features) @ scaled_U - offset
            if self.similarity == "cosine":
                H = H / _row_norms(H)
            segment_scores[block] = (H @ E.T).reshape(-1, n_segments, Phi.shape[0])
            # No gradient rows: the kernel only pools, and ignores the loss arguments (0, 1.0, beta).
            kernel(segment_scores[block], no_targets, _attention_sgd.POOLINGS[self.pooling],
                   1.0 / float(self.temperature), 0, 1.0, np.zeros(1), clip_scores[block], attention[block],
                   no_gradient)
        return segment_scores, attention, clip_scores

    def decision_function(self, X, class_embeddings):
        """Clip scores S(y) for every clip and candidate class.

        Parameters
        ----------
        X : np.ndarray [shape=(n_clips, n_segments, n_features)], float
        class_embeddings : np.ndarray [shape=(n_candidates, n_dims)]
            φ(y) of the candidate classes (unseen classes in the zero-shot setting).

        Returns
        -------
        np.ndarray [shape=(n_clips, n_candidates), dtype=float32]
        """
        return self.pool(X, class_embeddings)[2]

    def segment_scores(self, X, class_embeddings):
        """Per-segment compatibilities s_t(y), shape (n_clips, n_segments, n_candidates), float32."""
        return self.pool(X, class_embeddings)[0]

    def attention(self, X, class_embeddings):
        """Attention weights a_t(y), shape (n_clips, n_segments, n_candidates); each (clip, class) sums to 1."""
        return self.pool(X, class_embeddings)[1]

    def predict(self, X, class_embeddings, *, threshold=0.0):
        """Binary decisions S(y) > ``threshold`` (choose the threshold on validation data).

        Returns
        -------
        np.ndarray [shape=(n_clips, n_candidates), dtype=bool]
        """
        return self.decision_function(X, class_embeddings) > threshold

    def score(self, X, Y, class_embeddings):
        """mAP over samples of the clip scores against binary labels Y (n_clips, n_candidates)."""
        from ..evaluation.metrics import mean_average_precision

        scores = self.decision_function(X, class_embeddings)
        return float(mean_average_precision(_check_targets(Y, *scores.shape).astype(bool), scores))
