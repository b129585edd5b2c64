"""ESC-50 zero-shot through the product: ``refzsl train`` without 10 classes, then their labels ranked.

For each of P2's random class folds (Table II), ``run_train`` fits the bilinear
model on the feature pack's clips of the other 40 classes (hyper-parameters
selected on inner class folds of those 40, never on the test classes), saves
and reloads the model file, checks it against the data root's YAMNet and
vectors, and the ``bilinear`` scorer ranks the 10 held-out class names for
their 400 clips. Chance: Top-1 0.10, mAP 0.29 (P2). P2 reports, for this
protocol with WLE+GLE and VGGish trained from scratch, Top-1 0.26–0.45 per fold
(mean 0.33) and mAP 0.46–0.61 (mean 0.52) (SPEC §5, Table VII).

A last test runs real audio through :class:`ZeroShotClassifier` (load, YAMNet,
patch mean) for ten held-out clips and checks that it gives the scores of the
pack's features.

Runtime: about 1 min on 2 busy cores (selection: 7 candidates × 4 inner folds per class fold).
Measured (2026-11-21, refzsl.experiments.selection.DEFAULT_GRID with 5 epochs): Top-1 0.42, 0.57, 0.42, 0.41, 0.36
(mean 0.44), mAP 0.62, 0.71, 0.63, 0.62, 0.58 (mean 0.63).
"""

import numpy as np
import pytest

from refzsl.classify import BilinearScorer, ClassifierModel, ZeroShotClassifier
from refzsl.cli import run_train
from refzsl.evaluation.metrics import mean_average_precision, top1_accuracy
from refzsl.datasets.pack import load_pack
from refzsl.experiments.protocols import P2_RANDOM_FOLDS

# Clearly above chance (0.10 / 0.29), well below what the folds reach (see the module docstring).
MIN_TOP1 = 0.20
MIN_MAP = 0.40

# Trains one model per P2 random fold with selection (about a minute on 2 cores).
pytestmark = pytest.mark.slow


class _Clips:
    """The part of refzsl.acoustic.extraction.Features a scorer reads."""

    def __init__(self, clip_embeddings):
        self.clip_embeddings = clip_embeddings


@pytest.fixture(scope="module")
def pack():
    return load_pack()


@pytest.fixture(scope="module")
def fold_models(pack, data_root, tmp_path_factory):
    models = {}
    for fold, held_out in enumerate(P2_RANDOM_FOLDS):
        path = tmp_path_factory.mktemp("models") / f"without_fold{fold}.npz"
        run_train(output=path, pack="", exclude_classes=held_out, recipe="WLE+GLE", select=True, seed=0,
                  root=data_root)
        models[fold] = path
    return models


@pytest.mark.assets
@pytest.mark.parametrize("fold", range(len(P2_RANDOM_FOLDS)))
def test_held_out_classes_beat_chance(fold, pack, fold_models, data_root):
    held_out = list(P2_RANDOM_FOLDS[fold])
    model = ClassifierModel.load(fold_models[fold])
    model.check(acoustic_sha256=pack.manifest["acoustic"]["extraction"]["model_sha256"], root=data_root)
    assert not set(model.classes) & set(held_out) and len(model.classes) == 40
    names = [str(name) for name in pack.class_names]
    targets = np.array([names.index(name) for name in held_out])
    clips = np.flatnonzero(np.isin(pack.targets, targets))
    y = np.array([held_out.index(names[target]) for target in pack.targets[clips]])
    scores = BilinearScorer(model, root=data_root).score(_Clips(pack.clip_embeddings[clips]), held_out)
    top1, map_ = top1_accuracy(y, scores), mean_average_precision(y, scores)
    print(f"fold {fold}: Top-1 {top1:.3f} mAP {map_:.3f} ({model.recipe}, {model.training['selection']['params']})")
    assert scores.shape == (400, 10)
    assert top1 >= MIN_TOP1 and map_ >= MIN_MAP, (top1, map_)


@pytest.mark.assets
def test_audio_path_matches_pack_features(pack, fold_models, data_root, session_cache, monkeypatch):
    from refzsl.datasets.esc50 import ESC50
    monkeypatch.setenv("REFZSL_CACHE", str(session_cache))
    held_out = list(P2_RANDOM_FOLDS[0])
    dataset = ESC50(data_root)
    names = [str(name) for name in pack.class_names]
    # The first clip of each held-out class.
    clips = [int(np.flatnonzero(pack.targets == names.index(name))[0]) for name in held_out]
    assert [dataset.clip_ids[i] for i in clips] == [str(pack.clip_ids[i]) for i in clips]
    classifier = ZeroShotClassifier.from_pretrained(fold_models[0], root=data_root)
    from_audio = classifier.score_files([dataset.paths[i] for i in clips], held_out)
    from_pack = BilinearScorer(classifier.model, root=data_root).score(_Clips(pack.clip_embeddings[clips]), held_out)
    np.testing.assert_allclose(from_audio, from_pack, rtol=0, atol=1e-4)
