"""How good are the acoustic embeddings themselves, on classes their network never heard (P4's ratio).

P4 reports that its label-free triplet embeddings recover 84 % of the fully supervised embeddings'
performance on classification and 41 % on query-by-example retrieval. The ESC-50 counterpart
measured here: for each class fold, the embeddings of the fold's network (trained on the fold's
training classes) are evaluated on the fold's **test classes** (never heard by the network, 400
clips):

- ``classification``: a linear classifier (one-vs-rest ridge regression on standardised embeddings,
  λ = 1) trained on four of ESC-50's official clip folds and tested on the fifth, over the five
  rotations: accuracy among the 10 test classes (chance 0.10);
- ``retrieval``: query by example, every clip against the other 399 by cosine similarity, mean
  average precision of the clips of its class (chance about 0.10).

:func:`embedding_quality` gives one row per fold; :func:`quality_ratio` the triplet / scratch
ratio of the fold means.
"""

import numpy as np

__all__ = ["linear_probe_accuracy", "retrieval_map", "embedding_quality", "quality_ratio"]

_RIDGE_LAMBDA = 1.0


def linear_probe_accuracy(embeddings, labels, groups, *, reg_lambda=_RIDGE_LAMBDA):
    """Accuracy of a one-vs-rest ridge classifier, cross-validated over ``groups`` (leave one group out).

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, d)]
    labels : np.ndarray [shape=(n,)], int
    groups : np.ndarray [shape=(n,)]
        Cross-validation folds (ESC-50's official clip folds).
    reg_lambda : float >= 0

    Returns
    -------
    float
        Correct predictions over all held-out clips.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    classes = np.unique(labels)
    targets = (labels[:, None] == classes[None, :]).astype(np.float64)
    correct = 0
    for group in np.unique(groups):
        test = groups == group
        train = ~test
        mean, std = embeddings[train].mean(axis=0), embeddings[train].std(axis=0) + 1e-8
        x_train = np.hstack([(embeddings[train] - mean) / std, np.ones((train.sum(), 1))])
        x_test = np.hstack([(embeddings[test] - mean) / std, np.ones((test.sum(), 1))])
        gram = x_train.T @ x_train + reg_lambda * np.eye(x_train.shape[1])
        weights = np.linalg.solve(gram, x_train.T @ targets[train])
        correct += int((classes[np.argmax(x_test @ weights, axis=1)] == labels[test]).sum())
    return correct / len(labels)


def retrieval_map(embeddings, labels):
    """Query-by-example mean average precision: each clip ranks all others by cosine similarity.

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, d)]
    labels : np.ndarray [shape=(n,)], int

    Returns
    -------
    float
    """
    unit = np.asarray(embeddings, dtype=np.float64)
    unit = unit / (np.linalg.norm(unit, axis=1, keepdims=True) + 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    precisions = []
    for query in range(len(labels)):
        order = np.argsort(-similarity[query], kind="stable")[:-1]  # the query itself is last
        relevant = labels[order] == labels[query]
        if not relevant.any():
            continue
        hits = np.cumsum(relevant)
        precisions.append(np.mean(hits[relevant] / (np.flatnonzero(relevant) + 1)))
    return float(np.mean(precisions))


def embedding_quality(features, splits):
    """Classification accuracy and retrieval mAP of each split's embeddings on its test classes.

    Parameters
    ----------
    features : FeaturePack or NetworkFeatures
        Per-fold networks are asked for the embeddings of the split's training classes; a
        feature pack's single set serves every split.
    splits : sequence of refzsl.experiments.protocols.Split

    Returns
    -------
    list of dict
        ``{"fold", "classification", "retrieval"}`` per split.
    """
    targets = np.asarray(features.targets)
    clip_folds = np.asarray(features.folds)
    per_fold = getattr(features, "embeddings_for", None)
    rows = []
    for split in splits:
        embeddings = per_fold(split.train_classes) if per_fold else features.clip_embeddings
        test = np.flatnonzero(np.isin(targets, split.test_classes))
        rows.append({"fold": split.name,
                     "classification": linear_probe_accuracy(embeddings[test], targets[test], clip_folds[test]),
                     "retrieval": retrieval_map(embeddings[test], targets[test])})
    return rows


def quality_ratio(triplet_rows, scratch_rows):
    """P4's ratio: the triplet embeddings' mean score over the supervised (scratch) ones', per measure."""
    return {measure: float(np.mean([row[measure] for row in triplet_rows]) /
                           np.mean([row[measure] for row in scratch_rows]))
            for measure in ("classification", "retrieval")}
