"""Kernels of Training Algorithm 1: sorted-rank SGD for F(x, y) = θ(x)ᵀ W φ(y).

Three kernels give the same iterates (up to floating-point rounding):

``"python"``
    :func:`oracle_epoch`, a literal, readable transcription of Training
    Algorithm 1 (SPEC §3): the losses of one sample are computed once with W as
    it is, sorted largest first, and every violating class gets its own rank-1
    update with weight β_⌊(C−1)/r⌋. The reference, and the benchmark baseline.
``"numba"``
    :func:`rank1_epoch`, jitted. Since the losses are computed once per sample,
    the per-violator updates of one sample add up to a single rank-1 update
    W ← W − η θ gᵀ with g = Σ_r w_r (φ(y_r) − φ(y_n)): O(d_a·d_s) per sample.
``"dual"``
    :func:`dual_epoch`, jitted. Every update lies in the span of the seen class
    embeddings, so W = A Φ (A: d_a × C, Φ: C × d_s) throughout; scores are
    θᵀ A (Φ Φᵀ) and an update touches the columns of A of the violators and of
    y_n only: O(d_a·C + C²) per sample.

Conventions shared by every kernel (and checked by the tests):

- Ties among equal losses are broken by class index (a stable sort): the lower
  index gets the smaller rank r, hence the larger weight β_⌊(C−1)/r⌋.
- Only losses strictly greater than zero count as violations; the true class
  has loss Δ(y_n, y_n) = 0 and never violates.
- λ is the SGD step of the penalty λ‖W‖²_F: each sample multiplies W by
  (1 − 2ηλ) before its hinge update, both computed at the same W. The fast
  kernels keep that factor as a scalar (W = scale · V) so that the decay costs
  O(1) per sample (with λ > 0 the dual kernel ran 1.4–1.8× slower when it
  decayed its state eagerly); V is folded back when the scale gets tiny.
- Update rules: ``"algorithm1"`` (weight β_⌊(C−1)/r⌋ for the violator at
  sorted position r) and ``"rank_normalised"`` (weight β_K / K on every
  violator, K = number of violators: P2 eq. 7, and the authors' later code).
- The sample order is decided by the caller (one permutation per epoch).

The epoch loops of the fast kernels are written once, as plain Python on
arrays, and compiled with Numba on first use (``cache=True``); importing this
module neither imports Numba nor compiles anything. Kernels take float64
arrays, update the state they are given in place and return the number of
violating (sample, class) pairs of the epoch; they do not validate.
"""

__all__ = [
    "KERNELS",
    "UPDATE_RULES",
    "rank_penalties",
    "oracle_epoch",
    "rank1_epoch",
    "dual_epoch",
    "gram_matrix",
    "train",
    "jitted",
]

import numpy as np

#: Kernel names accepted by :func:`train`, fastest first.
KERNELS = ("dual", "numba", "python")

#: Update rules as the integer codes the kernels receive.
UPDATE_RULES = {"algorithm1": 0, "rank_normalised": 1}

_ALGORITHM1 = UPDATE_RULES["algorithm1"]

# Below this, the lazy scale of W = scale * V is folded back into V so that
# 1/scale cannot overflow (the decay (1 - 2ηλ)^t underflows after many steps).
_MIN_SCALE = 1e-100


def rank_penalties(n_classes):
    """Rank penalties β_0 … β_C with β_r = Σ_{j=1..r} 1/j and β_0 = 0.

    Parameters
    ----------
    n_classes : int >= 1
        Number of training classes C.

    Returns
    -------
    beta : np.ndarray [shape=(n_classes + 1,), dtype=float64]
        ``beta[r]`` is the r-th harmonic number. Every kernel reads its
        weights from this one table, so they use bit-identical values.

    Examples
    --------
    >>> rank_penalties(3)
    array([0.        , 1.        , 1.5       , 1.83333333])
    """
    return np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, n_classes + 1))))


def oracle_epoch(X, y, Phi, W, order, learning_rate, decay, update_code, beta):
    """One epoch of Training Algorithm 1, literally (the reference kernel).

    Parameters
    ----------
    X : np.ndarray [shape=(n, d_a), dtype=float64]
        Acoustic embeddings θ(x).
    y : np.ndarray [shape=(n,), dtype=int64]
        Labels, row indices into ``Phi``.
    Phi : np.ndarray [shape=(C, d_s), dtype=float64]
        Class embeddings φ(y) of the C training classes.
    W : np.ndarray [shape=(d_a, d_s), dtype=float64]
        Weights, updated in place.
    order : np.ndarray [shape=(n,), dtype=int64]
        The order in which samples are visited.
    learning_rate : float > 0
        η.
    decay : float in (0, 1]
        1 − 2ηλ, applied to W once per sample.
    update_code : int
        A value of :data:`UPDATE_RULES`.
    beta : np.ndarray [shape=(C + 1,)]
        :func:`rank_penalties` of C.

    Returns
    -------
    n_violations : int
        Number of (sample, class) pairs with a positive loss in this epoch.
    """
    n_classes = Phi.shape[0]
    n_violations = 0
    for n in order:
        theta, y_n = X[n], y[n]
        theta_w = theta @ W  # shared by every F(x_n, y; W) below
        scores = [theta_w @ Phi[k] for k in range(n_classes)]
        losses = [(0.0 if k == y_n else 1.0) + scores[k] - scores[y_n] for k in range(n_classes)]
        ranked = sorted(range(n_classes), key=lambda k: -losses[k])  # stable: ties by index
        n_violators = sum(1 for loss in losses if loss > 0.0)
        n_violations += n_violators
        if decay != 1.0:
            W *= decay
        for r, k in enumerate(ranked, start=1):
            if losses[k] > 0.0:
                if update_code == _ALGORITHM1:
                    weight = beta[(n_classes - 1) // r]
                else:
                    weight = beta[n_violators] / n_violators
                W -= learning_rate * weight * np.outer(theta, Phi[k] - Phi[y_n])
    return n_violations


def _vector_matrix(u, M, out):
    """out ← uᵀ M by explicit loops, not BLAS.

    Every column is summed in the same order, so equal columns of M (classes
    with equal embeddings) give bit-identical scores: exact ties, as in the oracle.
    """
    out[:] = 0.0
    for j in range(M.shape[0]):
        u_j = u[j]
        for k in range(M.shape[1]):
            out[k] += u_j * M[j, k]


def _rank_violators(scores, scale, y_n, update_code, beta, losses, violators, weights):
    """Rank one sample's violating classes and give each its weight.

    ``scale · scores`` are the scores F(x_n, y; W) of every class; ``losses``,
    ``violators`` and ``weights`` are work buffers of length C. Fills
    ``violators[:K]`` with the violating classes, largest loss first (ties by
    class index), and ``weights[:K]`` with their update weights; returns K.
    """
    n_classes = scores.shape[0]
    n_violators = 0
    for k in range(n_classes):
        delta = 0.0 if k == y_n else 1.0
        losses[k] = delta + scale * scores[k] - scale * scores[y_n]
        if losses[k] > 0.0:
            violators[n_violators] = k
            n_violators += 1
    if n_violators > 1:
        # Violators occupy sorted positions 1..K; mergesort is stable, so equal
        # losses keep increasing class index, as in the oracle's sort.
        ranked = np.argsort(-losses[violators[:n_violators]], kind="mergesort")
        violators[:n_violators] = violators[:n_violators][ranked]
    for r in range(n_violators):
        if update_code == _ALGORITHM1:
            weights[r] = beta[(n_classes - 1) // (r + 1)]
        else:
            weights[r] = beta[n_violators] / n_violators
    return n_violators


def _decay(state, scale, decay):
    """W ← decay · W for W = scale[0] · state, in O(1) unless the scale is folded back."""
    scale[0] *= decay
    if scale[0] < _MIN_SCALE:
        state *= scale[0]
        scale[0] = 1.0


def rank1_epoch(X, y, Phi, PhiT, V, scale, order, learning_rate, decay, update_code, beta):
    """One epoch with one summed rank-1 update per sample; W = scale[0] · V.

    Parameters as :func:`oracle_epoch`, except: ``PhiT`` is ``Phi.T`` made
    C-contiguous [d_s, C] (so the score loop runs over contiguous memory);
    ``V`` [d_a, d_s] and ``scale`` [1] hold W = scale[0] · V, updated in place.
    """
    n_classes, d_s = Phi.shape
    d_a = X.shape[1]
    scores = np.empty(n_classes)
    losses = np.empty(n_classes)
    violators = np.empty(n_classes, dtype=np.int64)
    weights = np.empty(n_classes)
    direction = np.empty(d_s)
    n_violations = 0
    for t in range(order.shape[0]):
        n = order[t]
        y_n = y[n]
        theta_v = np.dot(X[n], V)  # BLAS gemv: θᵀ W up to the scale
        _vector_matrix(theta_v, PhiT, scores)
        n_violators = _rank_violators(scores, scale[0], y_n, update_code, beta, losses, violators, weights)
        n_violations += n_violators
        _decay(V, scale, decay)
        if n_violators == 0:
            continue
        # g = Σ_r w_r (φ(y_r) − φ(y_n));  W ← decay·W − η θ gᵀ
        total_weight = 0.0
        direction[:] = 0.0
        for r in range(n_violators):
            k = violators[r]
            total_weight += weights[r]
            for j in range(d_s):
                direction[j] += weights[r] * Phi[k, j]
        for j in range(d_s):
            direction[j] -= total_weight * Phi[y_n, j]
        step = learning_rate / scale[0]
        for i in range(d_a):
            coefficient = step * X[n, i]
            for j in range(d_s):
                V[i, j] -= coefficient * direction[j]
    return n_violations


def gram_matrix(Phi):
    """G = Φ Φᵀ [C, C] by explicit loops, for :func:`dual_epoch`.

    Explicit loops (not BLAS) so that identical rows of Φ give bit-identical
    columns of G: duplicate classes then get exactly tied scores, as in the
    oracle.
    """
    n_classes, d_s = Phi.shape
    gram = np.empty((n_classes, n_classes))
    for c in range(n_classes):
        for k in range(c, n_classes):
            acc = 0.0
            for j in range(d_s):
                acc += Phi[c, j] * Phi[k, j]
            gram[c, k] = acc
            gram[k, c] = acc
    return gram


def dual_epoch(X, y, gram, B, scale, order, learning_rate, decay, update_code, beta):
    """One epoch in the dual form W = scale[0] · Bᵀ · Phi.

    Parameters as :func:`oracle_epoch`, except: ``gram`` is
    :func:`gram_matrix` of Phi [C, C]; ``B`` [C, d_a] and ``scale`` [1] hold
    A = scale[0] · Bᵀ with W = A · Phi, updated in place (class-major, so that
    an update touches contiguous rows).
    """
    n_classes = gram.shape[0]
    d_a = X.shape[1]
    scores = np.empty(n_classes)
    losses = np.empty(n_classes)
    violators = np.empty(n_classes, dtype=np.int64)
    weights = np.empty(n_classes)
    n_violations = 0
    for t in range(order.shape[0]):
        n = order[t]
        y_n = y[n]
        theta_b = np.dot(B, X[n])  # BLAS gemv: θᵀ A up to the scale
        _vector_matrix(theta_b, gram, scores)
        n_violators = _rank_violators(scores, scale[0], y_n, update_code, beta, losses, violators, weights)
        n_violations += n_violators
        _decay(B, scale, decay)
        if n_violators == 0:
            continue
        # A ← decay·A − η θ cᵀ with c_{y_r} = w_r and c_{y_n} = −Σ_r w_r
        step = learning_rate / scale[0]
        total_weight = 0.0
        for r in range(n_violators):
            total_weight += weights[r]
            coefficient = step * weights[r]
            k = violators[r]
            for i in range(d_a):
                B[k, i] -= coefficient * X[n, i]
        coefficient = step * total_weight
        for i in range(d_a):
            B[y_n, i] += coefficient * X[n, i]
    return n_violations


_JITTED = {}


def jitted(function):
    """The Numba-compiled twin of a kernel function (compiled on first call).

    Numba is imported here, not at module import, so that importing refzsl
    stays fast; ``cache=True`` stores the machine code next to the package.
    """
    if not _JITTED:
        from numba.extending import register_jitable

        for helper in (_vector_matrix, _rank_violators, _decay):  # the kernels call them: compile them in
            register_jitable(helper)
    if function not in _JITTED:
        import numba

        _JITTED[function] = numba.njit(cache=True, nogil=True)(function)
    return _JITTED[function]


def train(X, y, Phi, orders, *, kernel, learning_rate, reg_lambda, update, on_epoch=None):
    """Run Training Algorithm 1 from W = 0 over the given sample orders.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d_a)]
        Acoustic embeddings (already validated and normalised by the caller).
    y : np.ndarray [shape=(n,)]
        Labels in 0 … C−1.
    Phi : np.ndarray [shape=(C, d_s)]
        Class embeddings of the training classes.
    orders : iterable of np.ndarray [shape=(n,)]
        One sample order per epoch.
    kernel : str in KERNELS
    learning_rate : float > 0
    reg_lambda : float >= 0 with 2 · learning_rate · reg_lambda < 1
    update : str in UPDATE_RULES
    on_epoch : callable(epoch, n_violations) or None
        Called after each epoch (1-based), e.g. for progress.

    Returns
    -------
    W : np.ndarray [shape=(d_a, d_s), dtype=float64]

    Raises
    ------
    FloatingPointError
        If W stops being finite; the message advises a smaller learning rate.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    Phi = np.ascontiguousarray(Phi, dtype=np.float64)
    n_classes, d_s = Phi.shape
    d_a = X.shape[1]
    beta = rank_penalties(n_classes)
    decay = 1.0 - 2.0 * learning_rate * reg_lambda
    update_code = UPDATE_RULES[update]
    scale = np.ones(1)
    if kernel == "python":
        state = np.zeros((d_a, d_s))
        run_epoch = oracle_epoch
        extra = (Phi, state)
    elif kernel == "numba":
        state = np.zeros((d_a, d_s))
        run_epoch = jitted(rank1_epoch)
        extra = (Phi, np.ascontiguousarray(Phi.T), state, scale)
    elif kernel == "dual":
        state = np.zeros((n_classes, d_a))
        run_epoch = jitted(dual_epoch)
        extra = (jitted(gram_matrix)(Phi), state, scale)
    else:
        raise ValueError(f"Unknown kernel {kernel!r}; expected one of {KERNELS}")
    for epoch, order in enumerate(orders, start=1):
        order = np.ascontiguousarray(order, dtype=np.int64)
        n_violations = run_epoch(X, y, *extra, order, learning_rate, decay, update_code, beta)
        if not (np.isfinite(state).all() and np.isfinite(scale[0])):
            raise FloatingPointError(
                f"W is not finite after epoch {epoch} (learning_rate={learning_rate}, "
                f"reg_lambda={reg_lambda}): training diverged; decrease the learning rate "
                "or L2-normalise the inputs (normalize='both')."
            )
        if on_epoch is not None:
            on_epoch(epoch, int(n_violations))
    if kernel == "python":
        return state
    if kernel == "numba":
        return scale[0] * state
    return scale[0] * (state.T @ Phi)
