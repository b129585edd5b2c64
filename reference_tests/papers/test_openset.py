"""Open-vocabulary zero-shot from YAMNet's AudioSet classes (issue 7) on the real assets.

Expected numbers were measured on 2026-11-21 with ``python -m refzsl.openset`` (settings of
``refzsl.models.conse.DEFAULTS``, chosen on AudioSet-side validation only). Tolerances are stated per test.
Runtime: about 1-2 minutes on 2 cores (semantic tables and the prototype-bilinear W are cached in
the session cache after the first run).
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
    vocabulary = conse.audioset_vocabulary(conse.DEFAULTS["recipe"], root=env)
    return pack, phi, vocabulary


def test_yamnet_vocabulary_joins_all_521_classes_with_the_ontology(env):
    vocabulary = conse.audioset_vocabulary("WLE", root=env)
    assert len(vocabulary.names) == len(vocabulary.mids) == 521
    assert vocabulary.names[0] == "Speech" and vocabulary.descriptions[0]
    assert vocabulary.embeddings.shape == (521, 300)
    # the shared GoogleNews subset misses some label words ("meow", "sitar"...): most classes are covered
    assert 400 < vocabulary.covered.sum() < 521


def test_conse_on_esc50_50_way(esc50):
    pack, phi, vocabulary = esc50
    scores = conse.ConSE(n_top=conse.DEFAULTS["n_top"]).decision_function(
        pack.clip_scores, vocabulary.embeddings, phi, covered=vocabulary.covered)
    # measured 0.471 / 0.656 (T=2, WLE+BSE); tolerance 0.02 for BLAS/vector-file rounding
    assert top1_accuracy(pack.targets, scores) == pytest.approx(0.471, abs=0.02)
    assert top_k_accuracy(pack.targets, scores, 5) == pytest.approx(0.656, abs=0.02)


def test_prototype_bilinear_and_fusion_on_esc50_beat_chance(esc50, env):
    pack, phi, vocabulary = esc50
    scorer = conse.PrototypeBilinearScorer(root=env)
    bilinear = scorer.model.decision_function(pack.clip_embeddings, phi)
    # measured 0.292 (chance 0.02)
    assert top1_accuracy(pack.targets, bilinear) > 0.2
    consed = conse.ConSE(n_top=conse.DEFAULTS["n_top"]).decision_function(
        pack.clip_scores, vocabulary.embeddings, phi, covered=vocabulary.covered)
    weight = conse.DEFAULTS["fusion_weight"]
    fused = conse.fuse_scores([consed, bilinear], [weight, 1 - weight])
    # measured 0.452
    assert top1_accuracy(pack.targets, fused) > 0.35


def test_shipped_model_is_what_the_defaults_train_from_the_data_root(env):
    # The file tools/build_openvocab_model.py wrote must match the code and assets: same W, same table.
    shipped = conse.load_shipped_model(root=env)
    assert shipped is not None and shipped.training["settings"] == conse.shipped_settings()
    # Tolerances: the sentence encoder's float32 output varies by ~1e-7 with BLAS threading and batch
    # composition; 20 SGD epochs carry that to ~1e-6 in W (measured max 1.2e-6 on a fresh cache).
    trained = conse.PrototypeBilinearScorer(shipped=False, root=env).fitted().estimator_
    np.testing.assert_allclose(shipped.estimator.W_, trained.W_, rtol=0, atol=1e-5)
    vocabulary = conse.audioset_vocabulary(conse.DEFAULTS["recipe"], root=env)
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
    monkeypatch.setattr(ontology, "_MEMO", {})  # the memo of AudioSet tables lives in semantic.ontology
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
    # Known miss (measured): YAMNet's top classes are right ("Crumpling, crinkling" 0.92), but the generic
    # label "noise" scores 0.326 against 0.191: a hub label. Kept as a strict xfail so a fix shows up.
    pytest.param("trash-empty.oga", "crumpling paper",
                 marks=pytest.mark.xfail(strict=True, reason="generic label 'noise' outranks it")),
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


def test_audioset_side_selection_runs_without_esc50(env):
    from refzsl.experiments.openset import select_settings
    result = select_settings(root=env, recipes=(("WLE", "name"),), n_tops=(1, 3), learning_rates=(0.1,),
                             n_epochs=(2,), fusion_weights=(0.0, 0.5, 1.0), n_draws=1, n_held_out=20)
    assert {row["n_top"] for row in result["conse"]} == {1, 3}
    assert result["best"]["recipe"] == "WLE" and result["best"]["fusion_weight"] in (0.0, 0.5, 1.0)
    # 20 hidden classes: chance 0.05; measured ConSE WLE Top-1 ≈ 0.3 on such draws
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
