"""ESC-50 zero-shot protocols as data: class folds, splits and the papers' numbers.

Zero-shot protocols split **classes**, not ESC-50's official clip folds
(SPEC §5). Every protocol here yields :class:`Split` objects — which classes
train, which are tested, and (few-shot only) which clips of the test classes
join training — and a split refuses to exist when its training and test
classes overlap.

Protocols (names used throughout refzsl, the ``--strategy``/``--setting`` flags):

``random``   P2, 5 fixed class folds of 10 (P2 Table II, :data:`P2_RANDOM_FOLDS`).
``category`` P2, class fold = one of the five categories.
``setting1`` P1, within one category: 5 seeded class folds of 2 (8 train / 2 test classes).
``setting2`` P1, train on one category, test on another (20 ordered pairs).
``setting3`` P1, = ``category`` (kept apart because P1 reports its own numbers).
``setting4`` P1, ``setting3`` plus few-shot: per test class an 8-fold split of its
             40 clips, one group of 5 joins training, the other 35 are tested.

Validation for hyper-parameter selection (:func:`validation_folds`) is drawn
from the training classes of a split only — never from its test classes —
as inner class folds, so that selection sees the same situation as the test:
unseen classes.

The papers' reported numbers are data too (:data:`PAPER_RESULTS`), each cell
with the table it comes from.
"""

from dataclasses import dataclass, field

import numpy as np

from ..datasets.esc50 import CATEGORIES

__all__ = [
    "PROTOCOLS",
    "P2_RANDOM_FOLDS",
    "PaperResult",
    "PAPER_RESULTS",
    "Split",
    "class_targets",
    "p2_random_splits",
    "category_splits",
    "setting1_splits",
    "setting2_splits",
    "few_shot_splits",
    "protocol_splits",
    "validation_folds",
    "chance_top1",
    "chance_map",
    "paper_result",
]

PROTOCOLS = ("random", "category", "setting1", "setting2", "setting3", "setting4")

# P2 Table II: the random strategy's fixed class folds, by class name (SPEC §5).
P2_RANDOM_FOLDS = (
    ("brushing teeth", "church bells", "clock tick", "cow", "drinking sipping",
     "fireworks", "helicopter", "mouse click", "pig", "washing machine"),
    ("clapping", "crickets", "glass breaking", "hand saw", "keyboard typing",
     "laughing", "siren", "sneezing", "thunderstorm", "vacuum cleaner"),
    ("breathing", "chainsaw", "chirping birds", "coughing", "door wood creaks",
     "door wood knock", "frog", "pouring water", "rain", "train"),
    ("airplane", "can opening", "crying baby", "engine", "footsteps",
     "hen", "insects", "rooster", "snoring", "toilet flush"),
    ("car horn", "cat", "clock alarm", "crackling fire", "crow",
     "dog", "sea waves", "sheep", "water drops", "wind"),
)


@dataclass(frozen=True)
class PaperResult:
    """One cell the papers report.

    Attributes
    ----------
    top1 : float in [0, 1]
        Test Top-1 accuracy.
    map : float in [0, 1] or None
        Test mAP over samples (P2 only).
    train_top1 : float or None
        Training-set Top-1 (P2 reports it per strategy average).
    source : str
        Paper and table, e.g. ``"P2 Table VII"``.
    """

    top1: float
    map: float | None = None
    train_top1: float | None = None
    source: str = ""


def _p2_cells():
    table_vi = {  # category strategy, (mAP, Top-1) for WLE, GLE, WLE+GLE
        "Animal": ((0.43, 0.26), (0.37, 0.18), (0.38, 0.20)),
        "Natural": ((0.52, 0.33), (0.42, 0.24), (0.42, 0.24)),
        "Human": ((0.33, 0.18), (0.35, 0.20), (0.34, 0.18)),
        "Interior": ((0.37, 0.21), (0.38, 0.21), (0.38, 0.21)),
        "Exterior": ((0.38, 0.19), (0.40, 0.21), (0.39, 0.21)),
    }
    table_vii = {  # random strategy
        "Fold0": ((0.47, 0.28), (0.45, 0.26), (0.46, 0.26)),
        "Fold1": ((0.56, 0.39), (0.61, 0.46), (0.61, 0.45)),
        "Fold2": ((0.50, 0.33), (0.50, 0.33), (0.52, 0.34)),
        "Fold3": ((0.51, 0.31), (0.50, 0.31), (0.52, 0.33)),
        "Fold4": ((0.50, 0.29), (0.47, 0.26), (0.46, 0.27)),
    }
    # Table VIII averages (mAP, Top-1) and the training Top-1 given in P2's text.
    table_viii = {
        "category": ((0.41, 0.23, 0.64), (0.38, 0.21, 0.66), (0.38, 0.21, 0.76)),
        "random": ((0.51, 0.32, 0.76), (0.51, 0.32, 0.83), (0.52, 0.33, 0.81)),
    }
    cells = {}
    for protocol, table, source in (("category", table_vi, "P2 Table VI"), ("random", table_vii, "P2 Table VII")):
        for name, row in table.items():
            for recipe, (map_, top1) in zip(("WLE", "GLE", "WLE+GLE"), row):
                cells[protocol, recipe, name] = PaperResult(top1=top1, map=map_, source=source)
    for protocol, row in table_viii.items():
        for recipe, (map_, top1, train) in zip(("WLE", "GLE", "WLE+GLE"), row):
            cells[protocol, recipe, "average"] = PaperResult(
                top1=top1, map=map_, train_top1=train, source="P2 Table VIII (training Top-1: P2 §VI-A)")
    return cells


def _p1_cells():
    cells = {}
    table_2 = dict(zip(CATEGORIES, (60.2, 83.0, 75.5, 88.5, 74.7)))
    for name, value in table_2.items():
        cells["setting1", "WLE", name] = PaperResult(top1=value / 100, source="P1 Table 2")
    cells["setting1", "WLE", "average"] = PaperResult(top1=0.764, source="P1 Table 2 (mean of the categories)")
    table_3 = {  # row = training category, columns = test category in CATEGORIES order
        "Animal": (None, 21.0, 21.5, 16.7, 15.5),
        "Natural": (14.2, None, 15.7, 14.2, 26.2),
        "Human": (16.2, 14.5, None, 17.7, 17.5),
        "Interior": (15.0, 9.7, 11.2, None, 24.7),
        "Exterior": (14.0, 23.5, 14.7, 13.0, None),
    }
    for train, row in table_3.items():
        for test, value in zip(CATEGORIES, row):
            if value is not None:
                cells["setting2", "WLE", f"{train}->{test}"] = PaperResult(top1=value / 100, source="P1 Table 3")
    table_4 = {  # Setting 2 per test category, Setting 3, Setting 4
        "setting2": (14.9, 17.2, 15.8, 15.4, 21.0),
        "setting3": (22.2, 39.7, 22.0, 17.0, 29.2),
        "setting4": (51.2, 68.4, 56.3, 58.7, 73.8),
    }
    for protocol, row in table_4.items():
        for name, value in zip(CATEGORIES, row):
            cells[protocol, "WLE", name] = PaperResult(top1=value / 100, source="P1 Table 4")
    cells["setting2", "WLE", "average"] = PaperResult(
        top1=0.169, source="P1 Table 4 (mean of the per-test-category averages)")
    cells["setting3", "WLE", "average"] = PaperResult(top1=0.260, source="P1 Table 4")
    cells["setting4", "WLE", "average"] = PaperResult(top1=0.617, source="P1 Table 4 (mean of the categories)")
    return cells


# Every number of SPEC §5, keyed by (protocol, recipe, cell). Cells are split names
# ("Fold0", "Animal", "Animal->Natural"), group names (P1: the test category) or "average".
# Top-1 in [0, 1] (P1's percentages divided by 100).
PAPER_RESULTS = {**_p2_cells(), **_p1_cells()}


def paper_result(protocol, recipe, cell):
    """The paper's number for one cell, or None when the papers do not report it."""
    return PAPER_RESULTS.get((protocol, recipe, cell))


@dataclass(frozen=True)
class Split:
    """One train/test division of ESC-50's classes (and, few-shot, clips).

    Parameters
    ----------
    name : str
        Cell name, matching :data:`PAPER_RESULTS` (``"Fold0"``, ``"Animal"``, ``"Animal->Natural"``,
        ``"Animal/1"``).
    train_classes, test_classes : tuple of int
        Targets (0..49) seen in training / ranked at test time. Must be disjoint.
    group : str
        Name the split is averaged under (P1 Settings 1, 2, 4: the test category); equals ``name``
        when the split is a cell of its own.
    shot_clips : tuple of int
        Few-shot only: indices (into the clip arrays) of test-class clips added to training and
        left out of the test set.

    Raises
    ------
    ValueError
        If train and test classes overlap, either is empty or repeats a class; and from
        :meth:`train_indices`, which knows the clips' targets, if a shot clip is not of a test class.
    """

    name: str
    train_classes: tuple
    test_classes: tuple
    group: str = ""
    shot_clips: tuple = field(default=())

    def __post_init__(self):
        train, test = tuple(int(c) for c in self.train_classes), tuple(int(c) for c in self.test_classes)
        object.__setattr__(self, "train_classes", train)
        object.__setattr__(self, "test_classes", test)
        object.__setattr__(self, "shot_clips", tuple(int(i) for i in self.shot_clips))
        if not self.group:
            object.__setattr__(self, "group", self.name)
        if not train or not test:
            raise ValueError(f"Split {self.name!r} needs training and test classes, got "
                             f"{len(train)} train and {len(test)} test classes")
        overlap = sorted(set(train) & set(test))
        if overlap:
            raise ValueError(f"Split {self.name!r}: test classes {overlap} are also training classes; "
                             "a zero-shot split needs disjoint class sets")
        for classes, what in ((train, "training"), (test, "test")):
            if len(set(classes)) != len(classes):
                raise ValueError(f"Split {self.name!r}: repeated {what} classes {classes}")

    def train_indices(self, targets):
        """Indices of the training clips: every clip of a training class, plus the shot clips.

        Parameters
        ----------
        targets : np.ndarray [shape=(n_clips,)], int

        Returns
        -------
        np.ndarray [shape=(n_train,)], int64, ascending
        """
        targets = np.asarray(targets)
        seen = np.flatnonzero(np.isin(targets, self.train_classes))
        shots = np.asarray(self.shot_clips, dtype=np.int64)
        if shots.size:
            if shots.min() < 0 or shots.max() >= targets.size:
                raise ValueError(f"Split {self.name!r}: shot clip indices outside 0..{targets.size - 1}")
            stray = shots[~np.isin(targets[shots], self.test_classes)]
            if stray.size:
                raise ValueError(f"Split {self.name!r}: shot clips {stray.tolist()} are not of a test class")
        return np.union1d(seen, shots).astype(np.int64)

    def test_indices(self, targets):
        """Indices of the test clips: clips of the test classes, minus the shot clips.

        Returns
        -------
        np.ndarray [shape=(n_test,)], int64, ascending
        """
        targets = np.asarray(targets)
        test = np.flatnonzero(np.isin(targets, self.test_classes))
        return np.setdiff1d(test, np.asarray(self.shot_clips, dtype=np.int64)).astype(np.int64)


def class_targets(names, class_names):
    """Map class names to targets (indices into ``class_names``).

    Raises
    ------
    ValueError
        Naming every class of ``names`` that ``class_names`` does not have.
    """
    index = {name: target for target, name in enumerate(class_names)}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise ValueError(f"Unknown ESC-50 class names {unknown}; known: {sorted(index)}")
    return tuple(index[name] for name in names)


def _category_members(category_of_target):
    category_of_target = np.asarray(category_of_target)
    if category_of_target.ndim != 1 or category_of_target.size == 0:
        raise ValueError(f"category_of_target must be a non-empty 1-D array, got shape {category_of_target.shape}")
    return [tuple(np.flatnonzero(category_of_target == c).tolist()) for c in range(len(CATEGORIES))]


def p2_random_splits(class_names):
    """P2's random strategy: the five fixed folds of Table II, each tested against the other four.

    Parameters
    ----------
    class_names : sequence of str
        ESC-50 class names, index = target (``ESC50.class_names``).

    Returns
    -------
    list of Split, named ``"Fold0"`` .. ``"Fold4"``
    """
    folds = [class_targets(names, class_names) for names in P2_RANDOM_FOLDS]
    return [Split(name=f"Fold{k}", test_classes=fold,
                  train_classes=tuple(sorted(c for j, other in enumerate(folds) if j != k for c in other)))
            for k, fold in enumerate(folds)]


def category_splits(category_of_target):
    """P2's category strategy (= P1 Setting 3): test on one category, train on the other four.

    Parameters
    ----------
    category_of_target : np.ndarray [shape=(50,)], int
        Category index (into :data:`CATEGORIES`) of each target.
    """
    members = _category_members(category_of_target)
    return [Split(name=category, test_classes=members[k],
                  train_classes=tuple(sorted(c for j, m in enumerate(members) if j != k for c in m)))
            for k, category in enumerate(CATEGORIES)]


def setting1_splits(category_of_target, *, seed, n_folds=5):
    """P1 Setting 1: within each category, seeded class folds (5 folds of 2 classes).

    Each category's classes are shuffled with ``numpy.random.default_rng(seed)`` (categories in
    order) and cut into ``n_folds`` folds; each fold is tested against the category's other classes.

    Returns
    -------
    list of Split, named ``"<category>/<k>"``, grouped by category
    """
    rng = np.random.default_rng(seed)
    splits = []
    for category, classes in zip(CATEGORIES, _category_members(category_of_target)):
        folds = np.array_split(rng.permutation(classes), n_folds)
        for k, fold in enumerate(folds):
            test = tuple(sorted(fold.tolist()))
            splits.append(Split(name=f"{category}/{k}", group=category, test_classes=test,
                                train_classes=tuple(c for c in classes if c not in test)))
    return splits


def setting2_splits(category_of_target):
    """P1 Setting 2: train on one category's 10 classes, test on another's (20 ordered pairs).

    Returns
    -------
    list of Split, named ``"<train>-><test>"``, grouped by the test category (as P1 Table 4 averages)
    """
    members = _category_members(category_of_target)
    return [Split(name=f"{train}->{test}", group=test, train_classes=members[i], test_classes=members[j])
            for i, train in enumerate(CATEGORIES) for j, test in enumerate(CATEGORIES) if i != j]


def few_shot_splits(targets, category_of_target, *, seed, n_shot_folds=8):
    """P1 Setting 4: Setting 3 plus, per test class, an ``n_shot_folds``-fold split of its clips.

    For each category and each k in 0..n_shot_folds-1, the clips of every test class (shuffled
    with ``numpy.random.default_rng(seed)``) are cut into ``n_shot_folds`` groups; group k (5 of 40
    clips for ESC-50) joins training, the rest are tested.

    Parameters
    ----------
    targets : np.ndarray [shape=(n_clips,)], int
        Target of each clip; shot clips are indices into this array.
    category_of_target : np.ndarray [shape=(50,)], int

    Returns
    -------
    list of Split, named ``"<category>/<k>"``, grouped by category
    """
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    splits = []
    for base in category_splits(category_of_target):
        groups = {c: np.array_split(rng.permutation(np.flatnonzero(targets == c)), n_shot_folds)
                  for c in base.test_classes}
        for c, parts in groups.items():
            if min(len(part) for part in parts) == 0:
                raise ValueError(f"Class {c} has {sum(len(p) for p in parts)} clips, fewer than "
                                 f"n_shot_folds={n_shot_folds}")
        for k in range(n_shot_folds):
            shots = tuple(sorted(int(i) for c in base.test_classes for i in groups[c][k]))
            splits.append(Split(name=f"{base.name}/{k}", group=base.name, train_classes=base.train_classes,
                                test_classes=base.test_classes, shot_clips=shots))
    return splits


def protocol_splits(protocol, *, class_names, category_of_target, targets, seed):
    """All splits of a protocol in :data:`PROTOCOLS`.

    Raises
    ------
    ValueError
        If ``protocol`` is unknown.
    """
    if protocol == "random":
        return p2_random_splits(class_names)
    if protocol in ("category", "setting3"):
        return category_splits(category_of_target)
    if protocol == "setting1":
        return setting1_splits(category_of_target, seed=seed)
    if protocol == "setting2":
        return setting2_splits(category_of_target)
    if protocol == "setting4":
        return few_shot_splits(targets, category_of_target, seed=seed)
    raise ValueError(f"Unknown protocol {protocol!r}; choose one of {PROTOCOLS}")


def validation_folds(train_classes, *, seed, n_folds=4, groups=None):
    """Inner class folds of a split's training classes, for hyper-parameter selection.

    Each inner fold holds out some training classes as validation classes and trains on the
    rest, so the validation score is a zero-shot score on classes the inner model never saw —
    the situation of the test — while the split's test classes are never touched.

    Parameters
    ----------
    train_classes : sequence of int
        The split's training classes (at least 4).
    seed : int
        Seeds the shuffle of the classes before they are cut into folds.
    n_folds : int >= 2
        Number of inner folds when ``groups`` is None (4: 40 classes give 10 validation classes
        per fold, as many as P2's test folds; 8 classes give 2, as P1 Setting 1); lowered to
        ``len(train_classes) // 2`` so that every fold holds out at least 2 classes.
    groups : sequence of int, optional
        A group per training class (e.g. its category): the inner folds are the groups
        (leave-one-group-out), used for the category strategy so that validation classes also
        come from a category unseen in inner training.

    Returns
    -------
    list of (inner_train_classes, validation_classes), tuples of int

    Raises
    ------
    ValueError
        For fewer than 4 training classes, ``n_folds`` < 2, or ``groups`` of the wrong length or
        with a single group.
    """
    train_classes = tuple(int(c) for c in train_classes)
    if len(train_classes) < 4:
        raise ValueError(f"Selection needs at least 4 training classes, got {len(train_classes)}")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (len(train_classes),):
            raise ValueError(f"groups has shape {groups.shape}, expected ({len(train_classes)},)")
        labels = np.unique(groups)
        if labels.size < 2:
            raise ValueError("groups must hold at least two distinct groups")
        held_out = [tuple(c for c, g in zip(train_classes, groups) if g == label) for label in labels]
    else:
        if n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {n_folds}")
        # At least 2 validation classes per fold: ranking a single candidate class is always right.
        n_folds = min(n_folds, len(train_classes) // 2)
        shuffled = np.random.default_rng(seed).permutation(train_classes)
        held_out = [tuple(sorted(part.tolist())) for part in np.array_split(shuffled, n_folds)]
    return [(tuple(c for c in train_classes if c not in fold), fold) for fold in held_out]


def chance_top1(n_classes):
    """Top-1 of uniformly random ranking over ``n_classes`` candidates: 1/C."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    return 1.0 / n_classes


def chance_map(n_classes):
    """Expected single-label mAP of a uniformly random ranking: E[1/rank] = H(C)/C.

    Examples
    --------
    >>> round(chance_map(10), 4)  # P2 §V-D: 0.29
    0.2929
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    return float(np.sum(1.0 / np.arange(1, n_classes + 1)) / n_classes)
