"""Open-vocabulary zero-shot from YAMNet's AudioSet classes (issues 7 and 17) on the real assets.

Expected numbers were measured on 2026-12-07 with ``python -m refzsl.openset`` (settings of
``refzsl.models.conse.DEFAULTS``, chosen on the ontology-following pseudo-clips of
``refzsl.experiments.pseudo_clips`` only, never on ESC-50). Tolerances are stated per test.
Runtime: a few minutes on 2 cores; the ``slow`` tests extract ESC-50's per-patch YAMNet scores (about
1-10 minutes from a cold cache, depending on load), the rest use cached tables.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from refzsl.models import conse
from refzsl.semantic import ontology
from refzsl.evaluation.metrics import top1_accuracy, top_k_accuracy
from refzsl.datasets.pack import load_pack

pytestmark = pytest.mark.assets

FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")


@pytest.fixture(scope="module")
def env(data_root, session_cache):
    old = {key: os.environ.get(key) for key in ("REFZSL_CACHE", "HF_HUB_OFFLINE")}
    os.environ["REFZSL_CACHE"] = str(session_cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield data_root
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def esc50(env):
    from refzsl.semantic.recipes import ESC50_WORD_FALLBACK
    pack = load_pack()
    names = [str(name) for name in pack.class_names]
    phi = conse.label_embeddings(names, conse.DEFAULTS["recipe"], root=env, fallback=ESC50_WORD_FALLBACK)
    vocabulary = conse.yamnet_vocabulary(conse.DEFAULTS["recipe"], root=env)
    return pack, phi, vocabulary


def test_yamnet_vocabulary_joins_all_521_classes_with_the_ontology(env):
    vocabulary = conse.yamnet_vocabulary("WLE", root=env)
    assert len(vocabulary.names) == len(vocabulary.mids) == 521
    assert vocabulary.names[0] == "Speech" and vocabulary.descriptions[0]
    assert vocabulary.embeddings.shape == (521, 300)
    # the shared GoogleNews subset misses some label words ("meow", "sitar"...): most classes are covered
    assert 400 < vocabulary.covered.sum() < 521


@pytest.fixture(scope="module")
def esc50_patches(env):
    """ESC-50's YAMNet features with per-patch scores (the pack keeps clip means only); cached."""
    from refzsl.datasets.esc50 import extract_esc50
    return extract_esc50(root=env, workers=2)


def _default_conse(esc50, patches, labels=None):
    pack, phi, vocabulary = esc50
    class_scores = conse.pool_patch_scores(patches.segment_scores, conse.DEFAULTS["pooling"])
    return conse.ConSE(n_top=conse.DEFAULTS["n_top"], n_neighbours=conse.DEFAULTS["n_neighbours"]).decision_function(
        class_scores, vocabulary.embeddings, phi if labels is None else labels, covered=vocabulary.covered)


@pytest.mark.slow
def test_conse_on_esc50_50_way(esc50, esc50_patches):
    pack, _, _ = esc50
    scores = _default_conse(esc50, esc50_patches)
    # measured 2026-12-07: 0.627 / 0.810 (T=7, top-3 mean, CSLS K=5, WLE+BSE; issue 7's T=2 / mean: 0.471 /
    # 0.656); tolerance 0.02 for BLAS/vector-file rounding
    assert top1_accuracy(pack.targets, scores) == pytest.approx(0.627, abs=0.02)
    assert top_k_accuracy(pack.targets, scores, 5) == pytest.approx(0.810, abs=0.02)


@pytest.mark.slow
def test_default_fused_method_on_esc50_50_way(esc50, esc50_patches, env):
    pack, phi, _ = esc50
    bilinear = conse.PrototypeBilinearScorer(root=env).model.decision_function(esc50_patches.clip_embeddings, phi)
    # measured 2026-12-07: 0.278 with η=0.3 (chance 0.02)
    assert top1_accuracy(pack.targets, bilinear) > 0.2
    weight = conse.DEFAULTS["fusion_weight"]
    fused = conse.fuse_scores([_default_conse(esc50, esc50_patches), bilinear], [weight, 1 - weight])
    # measured 2026-12-07: 0.627 / 0.810 (validation chose weight 1.0: ConSE alone); issue 17's goal: >= 0.55
    assert top1_accuracy(pack.targets, fused) == pytest.approx(0.627, abs=0.02)
    assert top_k_accuracy(pack.targets, fused, 5) == pytest.approx(0.810, abs=0.02)


@pytest.mark.slow
def test_none_of_these_on_held_out_esc50(env, esc50_patches):
    from refzsl.experiments.openset import evaluate_esc50
    results = evaluate_esc50(root=env, features=esc50_patches, p2=False)
    rejection = results["none_of_these"]
    assert rejection["threshold"] == conse.DEFAULTS["none_threshold"]
    # measured 2026-12-07: precision 0.748, recall 0.857 (threshold chosen on validation only)
    assert rejection["esc50"]["precision"] == pytest.approx(0.748, abs=0.03)
    assert rejection["esc50"]["recall"] == pytest.approx(0.857, abs=0.03)
    # the example: dog clips against "siren, rain, engine" are mostly rejected, and
    # mostly kept once "dog" is a candidate (measured: 40 of 40 rejected, then 0 of 40)
    example = rejection["example"]
    assert example["rejected_without"] > 0.7 and example["rejected_with"] < 0.3, example


def test_shipped_model_is_what_the_defaults_train_from_the_data_root(env):
    # The file tools/build_openvocab_model.py wrote must match the code and assets: same W, same table.
    shipped = conse.load_shipped_model(root=env)
    assert shipped is not None and shipped.training["settings"] == conse.shipped_settings()
    # Tolerances: the sentence encoder's float32 output varies by ~1e-7 with BLAS threading and batch
    # composition; 20 SGD epochs carry that to ~1e-6 in W (measured max 1.2e-6 on a fresh cache).
    trained = conse.PrototypeBilinearScorer(shipped=False, root=env).fitted().estimator_
    np.testing.assert_allclose(shipped.estimator.W_, trained.W_, rtol=0, atol=1e-5)
    vocabulary = conse.yamnet_vocabulary(conse.DEFAULTS["recipe"], root=env)
    np.testing.assert_allclose(shipped.class_embeddings, vocabulary.embeddings, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(shipped.training["covered"], vocabulary.covered)
    assert list(shipped.classes) == list(vocabulary.names)


def test_shipped_model_refuses_another_yamnet(env):
    from refzsl.exceptions import ModelMismatchError
    with pytest.raises(ModelMismatchError, match="sha256 ffffffffffff"):
        conse.load_shipped_model(acoustic_sha256="f" * 64, root=env)


def test_shipped_model_check_rejects_another_sentence_encoder(env, monkeypatch):
    # The check recomputes φ of sampled AudioSet classes: a different encoder output must be caught.
    from refzsl.semantic import recipes as semantic
    from refzsl.classify import ClassifierModel
    from refzsl.exceptions import ModelMismatchError
    model = ClassifierModel.load(conse.OPENVOCAB_MODEL_PATH)
    encode = semantic.encode_sentences
    monkeypatch.setattr(semantic, "encode_sentences", lambda texts, **kwargs: encode(texts, **kwargs)[:, ::-1])
    monkeypatch.setattr(ontology, "_MEMO", {})  # the in-process memo of tables and label φ
    with pytest.raises(ModelMismatchError, match="embed 8 of"):
        model.check(root=env)


LABELS = ["speech", "dog barking", "rain", "siren", "church bells", "engine", "clapping", "crying baby"]


@pytest.mark.parametrize("name", ["speech_espeak_male.wav", "speech_espeak_female.wav"])
def test_held_out_speech_ranks_speech_first(env, fixtures_dir, name):
    from refzsl.acoustic.extraction import extract_files
    features = extract_files([fixtures_dir / name], root=env)
    for scorer in (conse.ConSEScorer(root=env), conse.FusedScorer(
            [conse.ConSEScorer(root=env), conse.PrototypeBilinearScorer(root=env)],
            [conse.DEFAULTS["fusion_weight"], 1 - conse.DEFAULTS["fusion_weight"]])):
        scores = scorer.score(features, LABELS)
        assert LABELS[int(np.argmax(scores[0]))] == "speech", (scorer.name, dict(zip(LABELS, scores[0].round(3))))


@pytest.mark.parametrize("file_name, label", [
    ("audio-channel-front-center.oga", "woman speaking"),
    ("phone-incoming-call.oga", "telephone ringing"),
    # Issue 7's strict xfail, fixed by the hubness correction (measured 2026-12-07): CSLS gives "crumpling
    # paper" -0.578, "noise" -0.730; without CSLS the hub label "noise" still leads (0.360 vs "car engine" 0.290).
    ("trash-empty.oga", "crumpling paper"),
    ("audio-test-signal.oga", "noise"),
])
def test_real_sounds_from_a_debian_package_rank_their_label_first(env, file_name, label):
    # sound-theme-freedesktop (Debian): real recordings never seen by refzsl; apt-get install sound-theme-freedesktop
    path = FREEDESKTOP / file_name
    if not path.is_file():
        pytest.skip(f"{path} absent (apt-get install sound-theme-freedesktop)")
    from refzsl.acoustic.extraction import extract_files
    labels = ["woman speaking", "telephone ringing", "crumpling paper", "noise", "dog barking", "rain",
              "church bells", "car engine"]
    scores = conse.ConSEScorer(root=env).score(extract_files([path], root=env), labels)
    assert labels[int(np.argmax(scores[0]))] == label, dict(zip(labels, scores[0].round(3)))


def test_selection_never_reads_esc50(env, fixtures_dir, tmp_path, monkeypatch):
    # A data root without esc50/, and every ESC-50 loader made to raise: selection must still run.
    from refzsl.datasets import esc50 as esc50_module, pack as pack_module
    from refzsl.experiments import openset
    root = tmp_path / "root"
    root.mkdir()
    for entry in Path(env).iterdir():
        if entry.name != "esc50":
            (root / entry.name).symlink_to(entry)

    def forbidden(*args, **kwargs):
        raise AssertionError("select_settings read ESC-50")

    monkeypatch.setattr(pack_module, "load_pack", forbidden)
    monkeypatch.setattr(esc50_module, "extract_esc50", forbidden)
    monkeypatch.setattr(esc50_module, "ESC50", forbidden)
    recordings = sorted(fixtures_dir.glob("speech_espeak_*.wav")) + sorted(FREEDESKTOP.glob("*.oga"))[:6]
    result = openset.select_settings(root=root, recipes=(("WLE", "name"),), n_tops=(1, 5), poolings=("mean", "max"),
                                     n_neighbours=(0, 10), learning_rates=(0.1,), n_epochs=(2,),
                                     bilinear_neighbours=(0,), fusion_weights=(0.0, 0.5, 1.0), n_draws=1,
                                     n_held_out=20, recordings=recordings)
    assert {(row["n_top"], row["pooling"], row["n_neighbours"]) for row in result["conse"]} == {
        (t, p, k) for t in (1, 5) for p in ("mean", "max") for k in (0, 10)}
    assert result["best"]["recipe"] == "WLE" and result["best"]["fusion_weight"] in (0.0, 0.5, 1.0)
    assert np.isfinite(result["none_of_these"]["threshold"])
    # 20 hidden classes: chance 0.05
    assert max(row["top1"] for row in result["conse"]) > 0.1


def test_label_words_missing_from_the_vectors(env):
    from refzsl.exceptions import OutOfVocabularyError
    # a sentence part embeds any text: unknown words are skipped in the word-vector part, with a warning
    with pytest.warns(RuntimeWarning, match="barking"):
        phi = conse.label_embeddings(["dog barking"], "WLE+BSE", root=env)
    assert np.all(np.isfinite(phi)) and np.linalg.norm(phi[0, :300]) > 0
    with pytest.raises(OutOfVocabularyError) as caught:
        conse.label_embeddings(["qzxv wrrbl"], "WLE", root=env)  # no known word in the only part
    assert caught.value.missing == {"qzxv wrrbl": ["qzxv", "wrrbl"]}
    with pytest.raises(OutOfVocabularyError, match="barking"):
        conse.label_embeddings(["dog barking"], "WLE+BSE", root=env, oov="error")


def test_yamnet_ancestors_follow_the_ontology(env):
    from refzsl.semantic.ontology import yamnet_ancestors
    vocabulary = conse.audioset_vocabulary("WLE", root=env)
    ancestors = yamnet_ancestors(root=env)
    assert len(ancestors) == 521
    bark = vocabulary.names.index("Bark")
    assert {vocabulary.names[i] for i in ancestors[bark]} == {"Animal", "Domestic animals, pets", "Dog"}
    assert ancestors[vocabulary.names.index("Speech")].size == 0


def test_classify_says_none_of_these_for_a_dog_against_unfitting_labels(env, data_root):
    from refzsl.classify import ZeroShotClassifier
    dog = data_root / "esc50" / "audio" / "1-100032-A-0.ogg"
    classifier = ZeroShotClassifier.from_pretrained(root=env)
    assert classifier.none_of_these([dog], ["siren", "rain", "engine"]).tolist() == [True]
    assert classifier.none_of_these([dog], ["siren", "rain", "engine", "dog"]).tolist() == [False]
