"""Kernel of the temporal-attention model: pooling over time and the rank-aware multi-label hinge.

One plain-Python function, :func:`pool_and_gradient`, does the per-clip work
that does not map onto a matrix product: the softmax over time of each class's
segment scores (attention), the attention-weighted clip scores, the sorted-rank
hinge of every positive class against the negatives, and the gradient of that
loss with respect to the segment scores. It is written once, on arrays, and
compiled with Numba on first use (:func:`jitted`, the one shared with
:mod:`refzsl._ranksgd`); the undecorated function is
its twin, used by the tests and by ``kernel="python"``. The matrix products
around it (projections, their gradients) are BLAS calls in
:mod:`refzsl.attention`.

Loss of one clip with positive classes P and negatives N (SPEC §3 and §7)::

    ℓ(p, n) = margin + S(n) − S(p)                   S = clip score
    "rank_normalised":  L = (1/|P|) Σ_p β_K/K · Σ_{n: ℓ(p,n) > 0} ℓ(p, n),  K = #violators of p
    "algorithm1":       L = (1/|P|) Σ_p Σ_{r=1..K} β_⌊|N|/r⌋ · ℓ_(r)(p),   ℓ_(1) ≥ ℓ_(2) ≥ …

The first is P2 eq. 7 with every positive in turn as the true class, the second
the weights of Training Algorithm 1 (the violator at sorted position r). Ties
among equal losses are broken by class index (stable sort), as in
:mod:`refzsl._ranksgd`. Clips with no positive or no negative class carry no
ranking and contribute nothing.

Pooling of class c over the T segments (τ = temperature)::

    attention   a_t(c) = exp(s_t(c)/τ) / Σ_u exp(s_u(c)/τ)
    clip score  S(c)   = Σ_t a_t(c) s_t(c)
    dS(c)/ds_t(c)      = a_t(c) · (1 + (s_t(c) − S(c)) / τ)

Uniform pooling sets a_t(c) = 1/T (the limit τ → ∞), so dS/ds_t = 1/T.
"""

__all__ = ["POOLINGS", "LOSSES", "pool_and_gradient", "jitted"]

import numpy as np

from ._ranksgd import jitted

#: Temporal pooling rules as the integer codes the kernel receives.
POOLINGS = {"attention": 0, "uniform": 1}

#: Multi-label rank losses as integer codes (same names as :data:`refzsl._ranksgd.UPDATE_RULES`).
LOSSES = {"algorithm1": 0, "rank_normalised": 1}

_UNIFORM = POOLINGS["uniform"]
_ALGORITHM1 = LOSSES["algorithm1"]


def pool_and_gradient(segment_scores, targets, pooling_code, inv_temperature, loss_code, margin, beta,
                      clip_scores, attention, gradient):
    """Pool segment scores over time; optionally the rank loss and its gradient.

    Parameters
    ----------
    segment_scores : np.ndarray [shape=(B, T, C), dtype=float32]
        s_t(c) for B clips, T segments, C classes.
    targets : np.ndarray [shape=(B, C), dtype=uint8]
        1 where class c is in clip b. Ignored when ``gradient`` has no rows.
    pooling_code : int in POOLINGS.values()
    inv_temperature : float > 0
        1/τ of the softmax over time (unused for uniform pooling).
    loss_code : int in LOSSES.values()
    margin : float > 0
    beta : np.ndarray [shape=(C + 1,), dtype=float64]
        Rank penalties β_0 … β_C (:func:`refzsl._ranksgd.rank_penalties`).
    clip_scores : np.ndarray [shape=(B, C), dtype=float32]
        Output: S(c).
    attention : np.ndarray [shape=(B, T, C), dtype=float32]
        Output: a_t(c).
    gradient : np.ndarray [shape=(B, T, C) or (0, T, C), dtype=float32]
        Output: dL/ds_t(c) of the summed loss of the B clips; pass zero rows to skip the loss.

    Returns
    -------
    loss : float
        Summed loss of the B clips (0.0 when the loss is skipped).
    n_violations : int
        Number of violating (positive, negative) pairs.
    """
    n_clips, n_segments, n_classes = segment_scores.shape
    with_gradient = gradient.shape[0] > 0
    loss = 0.0
    n_violations = 0
    clip_coef = np.zeros(n_classes)  # dL/dS(c) of the current clip
    violators = np.zeros(n_classes, dtype=np.int64)
    violator_losses = np.zeros(n_classes)
    for b in range(n_clips):
        for c in range(n_classes):
            if pooling_code == _UNIFORM:
                total = 0.0
                for t in range(n_segments):
                    attention[b, t, c] = 1.0 / n_segments
                    total += float(segment_scores[b, t, c])
                clip_scores[b, c] = total / n_segments
            else:
                peak = float(segment_scores[b, 0, c])
                for t in range(1, n_segments):
                    peak = max(peak, float(segment_scores[b, t, c]))
                norm = 0.0
                for t in range(n_segments):
                    norm += np.exp((float(segment_scores[b, t, c]) - peak) * inv_temperature)
                pooled = 0.0
                for t in range(n_segments):
                    weight = np.exp((float(segment_scores[b, t, c]) - peak) * inv_temperature) / norm
                    attention[b, t, c] = weight
                    pooled += weight * float(segment_scores[b, t, c])
                clip_scores[b, c] = pooled
        if not with_gradient:
            continue

        n_positive = 0
        for c in range(n_classes):
            clip_coef[c] = 0.0
            n_positive += int(targets[b, c])
        n_negative = n_classes - n_positive
        if n_positive > 0 and n_negative > 0:
            for p in range(n_classes):
                if targets[b, p] == 0:
                    continue
                n_viol = 0
                for c in range(n_classes):
                    if targets[b, c] == 0:
                        violation = margin + float(clip_scores[b, c]) - float(clip_scores[b, p])
                        if violation > 0.0:
                            violators[n_viol] = c
                            violator_losses[n_viol] = violation
                            n_viol += 1
                if n_viol == 0:
                    continue
                n_violations += n_viol
                if loss_code == _ALGORITHM1:
                    order = np.argsort(-violator_losses[:n_viol], kind="mergesort")
                    for r in range(n_viol):
                        weight = beta[n_negative // (r + 1)] / n_positive
                        k = order[r]
                        loss += weight * violator_losses[k]
                        clip_coef[violators[k]] += weight
                        clip_coef[p] -= weight
                else:
                    weight = beta[n_viol] / n_viol / n_positive
                    for k in range(n_viol):
                        loss += weight * violator_losses[k]
                        clip_coef[violators[k]] += weight
                    clip_coef[p] -= weight * n_viol
        for c in range(n_classes):
            for t in range(n_segments):
                if clip_coef[c] == 0.0:
                    gradient[b, t, c] = 0.0
                elif pooling_code == _UNIFORM:
                    gradient[b, t, c] = clip_coef[c] / n_segments
                else:
                    gradient[b, t, c] = clip_coef[c] * float(attention[b, t, c]) * (
                        1.0 + (float(segment_scores[b, t, c]) - float(clip_scores[b, c])) * inv_temperature)
    return loss, n_violations
