"""refzsl.semantic.ontology on a tiny synthetic data root: the label/ontology join, tables and their cache."""

import json

import numpy as np
import pytest

from refzsl.semantic import ontology

from refzsl.semantic import recipes as semantic
from refzsl.exceptions import MissingAssetError

ONTOLOGY = [
    {"id": "/m/dog", "name": "Dog", "description": "Sounds of a dog barking."},
    {"id": "/m/fire", "name": "Fire engine, fire truck (siren)", "description": "A siren on a fire truck."},
    {"id": "/m/meow", "name": "Meow", "description": "A cat sound."},
    {"id": "/m/abs", "name": "Animal", "description": "Animal sounds."},  # not one of the labels
]
LABELS = "index,mid,display_name\n0,/m/dog,\"Dog\"\n1,/m/fire,\"Fire engine, fire truck (siren)\"\n2,/m/meow,\"Meow\"\n"
WORDS = ["dog", "sounds", "barking", "fire", "engine", "truck", "siren", "cat", "sound"]


def _make_root(folder, labels=LABELS):
    from gensim.models import KeyedVectors

    (folder / "audioset").mkdir(parents=True)
    (folder / "audioset" / "ontology.json").write_text(json.dumps(ONTOLOGY), encoding="utf8")
    (folder / "audioset" / "class_labels_indices.csv").write_text(labels, encoding="utf8")
    (folder / "vectors").mkdir()
    rng = np.random.default_rng(3)
    kv = KeyedVectors(5)
    kv.add_vectors(WORDS, rng.normal(size=(len(WORDS), 5)).astype(np.float32))
    kv.save_word2vec_format(str(folder / "vectors" / "GoogleNews-vectors-negative300-subset.bin"), binary=True)
    glove = KeyedVectors(2)
    glove.add_vectors(WORDS + ["meow"], rng.normal(size=(len(WORDS) + 1, 2)).astype(np.float32))
    glove.save_word2vec_format(str(folder / "vectors" / "glove.6B.50d-subset.txt"), write_header=False)
    return folder, kv


@pytest.fixture
def tiny_root(tmp_path, monkeypatch):
    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path / "cache"))
    return _make_root(tmp_path / "data")


def test_audioset_classes_join_labels_and_ontology(tiny_root):
    root, _ = tiny_root
    classes = ontology.audioset_classes(root=root)
    assert [(c.index, c.mid, c.name) for c in classes] == [
        (0, "/m/dog", "Dog"), (1, "/m/fire", "Fire engine, fire truck (siren)"), (2, "/m/meow", "Meow")]
    assert classes[0].description == "Sounds of a dog barking."
    by_name = ontology.load_ontology(root=root)
    assert by_name["Animal"].index == -1 and by_name["Meow"].index == 2


def test_label_absent_from_the_ontology_is_named(tmp_path):
    root, _ = _make_root(tmp_path, LABELS + "3,/m/nope,\"Nope\"\n")
    with pytest.raises(ValueError, match="'Nope'.*'/m/nope'"):
        ontology.audioset_classes(root=root)


def test_missing_ontology_names_the_path(tmp_path):
    with pytest.raises(MissingAssetError, match="class_labels_indices.csv|ontology.json"):
        ontology.audioset_classes(root=tmp_path)


def test_wle_table_marks_uncovered_labels(tiny_root):
    root, kv = tiny_root
    table = ontology.audioset_embeddings("WLE", root=root)
    assert table.embeddings.shape == (3, 5) and table.embeddings.dtype == np.float32
    np.testing.assert_array_equal(table.covered, [True, True, False])  # "meow" is not in the vectors
    np.testing.assert_array_equal(table.n_missing_words, [0, 0, 1])
    np.testing.assert_allclose(table.embeddings[0], kv["dog"], rtol=1e-6)
    expected = (2 * kv["fire"] + kv["engine"] + kv["truck"] + kv["siren"]) / 5
    np.testing.assert_allclose(table.embeddings[1], expected, rtol=1e-6)
    np.testing.assert_array_equal(table.embeddings[2], 0)


def test_table_rows_equal_class_embeddings(tiny_root):
    root, _ = tiny_root
    table = ontology.audioset_embeddings("WLE+WSE", root=root)
    classes = table.classes[:2]
    direct = semantic.class_embeddings([c.name for c in classes], "WLE+WSE",
                                       descriptions=[c.description for c in classes], root=root)
    np.testing.assert_allclose(table.embeddings[:2], direct, rtol=1e-6)
    assert table.recipe == "WLE+WSE"


def test_tables_are_cached_and_keyed_by_content(tiny_root, tmp_path):
    root, _ = tiny_root
    first = ontology.audioset_embeddings("GLE", root=root)
    cached = sorted((tmp_path / "cache" / "semantic").glob("audioset_GLE_*.npz"))
    assert len(cached) == 1
    np.testing.assert_array_equal(ontology.audioset_embeddings("GLE", root=root).embeddings, first.embeddings)
    # new vectors in the same file -> new key, new table
    from gensim.models import KeyedVectors
    glove = KeyedVectors(2)
    glove.add_vectors(WORDS + ["meow"], np.ones((len(WORDS) + 1, 2), dtype=np.float32))
    glove.save_word2vec_format(str(root / "vectors" / "glove.6B.50d-subset.txt"), write_header=False)
    from refzsl.semantic.vectors import clear_vector_cache
    clear_vector_cache()
    second = ontology.audioset_embeddings("GLE", root=root)
    assert len(sorted((tmp_path / "cache" / "semantic").glob("audioset_GLE_*.npz"))) == 2
    np.testing.assert_allclose(second.embeddings, 1)
    # options are part of the key too
    ontology.audioset_embeddings("GLE", root=root, remove_stopwords=False)
    assert len(sorted((tmp_path / "cache" / "semantic").glob("audioset_GLE_*.npz"))) == 3


def test_cache_off_writes_nothing(tiny_root, tmp_path):
    root, _ = tiny_root
    ontology.audioset_embeddings("WLE", root=root, cache=False)
    assert not list((tmp_path / "cache").glob("semantic/*.npz"))


def test_esc50_mapping_is_complete_and_one_to_one():
    names = list(ontology.ESC50_TO_AUDIOSET)
    assert len(names) == 50 and len(set(ontology.ESC50_TO_AUDIOSET.values())) == 50
    assert all("_" not in name and name == name.lower() for name in names)
    assert names[:3] == ["dog", "rooster", "pig"] and names[-1] == "hand saw"  # target order


def test_esc50_unknown_class_is_named(tiny_root):
    root, _ = tiny_root
    with pytest.raises(KeyError, match="'unicorn'"):
        ontology.esc50_audioset_classes(["dog", "unicorn"], root=root)


def test_tables_take_other_vector_files(tiny_root, tmp_path):
    from gensim.models import KeyedVectors

    root, _ = tiny_root
    other = KeyedVectors(2)
    other.add_vectors(["dog", "meow"], np.array([[1, 0], [0, 1]], dtype=np.float32))
    path = tmp_path / "other.txt"
    other.save_word2vec_format(str(path), write_header=False)
    table = ontology.audioset_embeddings("WLE", root=root, vectors={"word2vec": path})
    np.testing.assert_array_equal(table.covered, [True, False, True])
    np.testing.assert_array_equal(table.embeddings[[0, 2]], [[1, 0], [0, 1]])


# -- the one table, two class sets -------------------------------------------------------------------

YAMNET_MAP = "index,mid,display_name\n0,/m/meow,Meow\n1,/m/dog,Dog\n"


@pytest.fixture
def yamnet_root(tiny_root):
    root, kv = tiny_root
    (root / "models").mkdir()
    (root / "models" / "yamnet_class_map.csv").write_text(YAMNET_MAP, encoding="utf8")
    return root, kv


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def test_yamnet_classes_follow_the_class_map(yamnet_root):
    root, _ = yamnet_root
    classes = ontology.yamnet_classes(root=root)
    assert [(c.index, c.mid, c.name) for c in classes] == [(0, "/m/meow", "Meow"), (1, "/m/dog", "Dog")]
    assert classes[1].description == "Sounds of a dog barking."


def test_yamnet_table_has_unit_parts_even_for_one_part(yamnet_root):
    # What the open-vocabulary side always had: every part L2-normalised (ConSE weights rows by probability).
    root, kv = yamnet_root
    table = ontology.audioset_embeddings("WLE", classes="yamnet", root=root)
    np.testing.assert_array_equal(table.covered, [False, True])
    np.testing.assert_array_equal(table.embeddings[0], 0)
    np.testing.assert_allclose(table.embeddings[1], _unit([kv["dog"]])[0], rtol=1e-6)
    assert table.names == ("Meow", "Dog") and table.mids == ("/m/meow", "/m/dog")
    labels = ontology.audioset_embeddings("WLE", root=root)  # P2's label table keeps the raw mean
    np.testing.assert_allclose(labels.embeddings[0], kv["dog"], rtol=1e-6)


def test_yamnet_table_sentence_text_switch(yamnet_root, monkeypatch):
    # BSE embeds the display name or the description; a stand-in encoder records which.
    root, _ = yamnet_root
    seen = []

    def encode(texts, *, model=None):
        seen.append(list(texts))
        return np.ones((len(texts), 3), dtype=np.float32)

    monkeypatch.setattr(semantic, "encode_sentences", encode)
    monkeypatch.setattr(semantic, "source_fingerprint", lambda part, **kwargs: ["stand-in"])
    ontology.audioset_embeddings("BSE", classes="yamnet", sentence_text="name", root=root, cache=False)
    ontology.audioset_embeddings("BSE", classes="yamnet", sentence_text="description", root=root, cache=False)
    assert seen == [["Meow", "Dog"], ["A cat sound.", "Sounds of a dog barking."]]


def test_one_part_cache_for_both_class_sets(yamnet_root, tmp_path):
    root, _ = yamnet_root
    labels = ontology.audioset_embeddings("WLE+GLE", root=root)
    yamnet = ontology.audioset_embeddings("WLE+GLE", classes="yamnet", root=root)
    files = sorted(path.name for path in (tmp_path / "cache" / "semantic").glob("*.npz"))
    assert len(files) == 4 and not (tmp_path / "cache" / "openvocab").exists()  # 2 parts x 2 class sets
    # multi-part recipes: each part L2-normalised in both, so shared classes get the same row
    np.testing.assert_allclose(yamnet.embeddings[1], labels.embeddings[0], rtol=1e-6)


@pytest.mark.parametrize("options, message", [
    ({"classes": "esc50"}, "classes must be one of"),
    ({"sentence_text": "title"}, "sentence_text must be one of"),
])
def test_bad_table_options_are_named(tiny_root, options, message):
    root, _ = tiny_root
    with pytest.raises(ValueError, match=message):
        ontology.audioset_embeddings("WLE", root=root, **options)
