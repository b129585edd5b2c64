"""refzsl.semantic.vectors: formats, limited loading, memoisation, errors (tiny synthetic vector files)."""

import subprocess
import sys

import numpy as np
import pytest

from refzsl.semantic import vectors
from refzsl.exceptions import MissingAssetError

WORDS = ["the", "dog", "barks", "Dog", "cat", "purrs", "fire", "crackle"]


@pytest.fixture(scope="module")
def keyed_vectors():
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    kv = KeyedVectors(4)
    kv.add_vectors(WORDS, rng.normal(size=(len(WORDS), 4)).astype(np.float32))
    return kv


@pytest.fixture(scope="module")
def files(tmp_path_factory, keyed_vectors):
    folder = tmp_path_factory.mktemp("vectors")
    paths = {
        "word2vec_binary": folder / "tiny.bin",
        "word2vec_text": folder / "tiny-w2v.txt",
        "glove": folder / "tiny-glove.txt",
        "gensim": folder / "tiny.kv",
    }
    keyed_vectors.save_word2vec_format(str(paths["word2vec_binary"]), binary=True)
    keyed_vectors.save_word2vec_format(str(paths["word2vec_text"]), binary=False)
    keyed_vectors.save_word2vec_format(str(paths["glove"]), binary=False, write_header=False)
    keyed_vectors.save(str(paths["gensim"]))
    return paths


@pytest.mark.parametrize("fmt", ["word2vec_binary", "word2vec_text", "glove", "gensim"])
def test_every_format_loads_the_same_vectors(files, keyed_vectors, fmt):
    assert vectors.detect_format(files[fmt]) == fmt
    loaded = vectors.load_word_vectors(files[fmt])
    assert loaded.index_to_key == WORDS
    np.testing.assert_allclose(loaded.vectors, keyed_vectors.vectors, rtol=0, atol=1e-6)
    explicit = vectors.load_word_vectors(files[fmt], fmt=fmt)
    assert explicit is loaded  # "auto" resolves to the same memo key


@pytest.mark.parametrize("fmt", ["word2vec_binary", "word2vec_text", "glove", "gensim"])
def test_limit_keeps_the_first_words(files, keyed_vectors, fmt):
    loaded = vectors.load_word_vectors(files[fmt], limit=3)
    assert loaded.index_to_key == WORDS[:3]
    np.testing.assert_allclose(loaded["barks"], keyed_vectors["barks"], atol=1e-6)


def test_memoised_per_path_format_and_limit(files):
    first = vectors.load_word_vectors(files["word2vec_binary"])
    assert vectors.load_word_vectors(str(files["word2vec_binary"])) is first
    assert vectors.load_word_vectors(files["word2vec_binary"], limit=2) is not first
    vectors.clear_vector_cache()
    assert vectors.load_word_vectors(files["word2vec_binary"]) is not first


def test_rewritten_file_is_read_again(tmp_path, keyed_vectors):
    path = tmp_path / "v.txt"
    keyed_vectors.save_word2vec_format(str(path), binary=False)
    first = vectors.load_word_vectors(path)
    path.write_text("2 4\na 1 2 3 4\nb 5 6 7 8\n", encoding="utf8")
    second = vectors.load_word_vectors(path)
    assert second is not first and second.index_to_key == ["a", "b"]


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.bin"
    with pytest.raises(MissingAssetError, match="nope.bin"):
        vectors.load_word_vectors(missing)


def test_missing_asset_names_the_path(tmp_path):
    with pytest.raises(MissingAssetError, match="glove.6B.50d-subset.txt"):
        vectors.load_word_vectors("glove", root=tmp_path)  # the package ships word2vec, not GloVe


@pytest.mark.parametrize("kwargs, message", [
    ({"fmt": "fasttext"}, "fmt='fasttext'"),
    ({"limit": 0}, "limit=0"),
    ({"limit": -5}, "limit=-5"),
    ({"limit": 2.5}, "limit=2.5"),
    ({"limit": True}, "limit=True"),
])
def test_bad_arguments(files, kwargs, message):
    with pytest.raises(ValueError, match=message):
        vectors.load_word_vectors(files["glove"], **kwargs)


def test_glove_text_with_numbers_is_not_mistaken_for_a_header(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("12 0.5 0.25\nab 1 2\n", encoding="utf8")  # first word is a number
    assert vectors.detect_format(path) == "glove"
    assert vectors.load_word_vectors(path).index_to_key == ["12", "ab"]


def test_importing_semantic_does_not_import_gensim():
    # tokenize too: `refzsl classify` tokenises labels and must not pay gensim's 1.5-4 s import
    code = ("import sys, refzsl.semantic.recipes, refzsl.semantic.vectors, refzsl.semantic.ontology; "
            "refzsl.semantic.recipes.tokenize('Music for children'); "
            "print('gensim' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_word2vec_and_glove_files_load_without_gensim(files):
    # gensim is only for its own .kv format: the 1.5-4 s import is not paid for the common files
    code = ("import sys; from refzsl.semantic.vectors import load_word_vectors; "
            + "; ".join(f"load_word_vectors({str(files[fmt])!r})" for fmt in ("word2vec_binary", "word2vec_text",
                                                                               "glove"))
            + "; print('gensim' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_binary_reader_reads_across_blocks_and_gzip(files, keyed_vectors, tmp_path, monkeypatch):
    import gzip

    monkeypatch.setattr(vectors, "_BINARY_BLOCK_BYTES", 7)  # every record straddles a block boundary
    compressed = tmp_path / "tiny.bin.gz"
    compressed.write_bytes(gzip.compress(files["word2vec_binary"].read_bytes()))
    for path in (files["word2vec_binary"], compressed):
        words, matrix = vectors._read_word2vec_binary(path)
        assert words == WORDS
        np.testing.assert_array_equal(matrix, keyed_vectors.vectors)
    words, matrix = vectors._read_word2vec_binary(compressed, limit=2)
    assert words == WORDS[:2] and matrix.shape == (2, 4)


def test_text_reader_handles_spaces_in_words_and_duplicates(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("a 1 2\n. . . 3 4\na 5 6\nb 7 8\n", encoding="utf8")
    loaded = vectors.load_word_vectors(path)
    assert loaded.index_to_key == ["a", ". . .", "b"]  # first vector of a repeated word kept, as gensim does
    np.testing.assert_array_equal(loaded["a"], [1, 2])


@pytest.mark.parametrize("text, message", [
    ("a 1 2\nb 3\n", r"bad.txt, line 2: 2 fields, expected a word and 2 numbers"),
    ("a 1 2\nb 3 x\n", r"bad.txt: non-numeric vector values among the 2 words from 'a'"),
])
def test_malformed_text_file_is_named(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf8")
    with pytest.raises(ValueError, match=message):
        vectors.load_word_vectors(path)


def _subset_tool():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "make_vector_subset", Path(__file__).parents[2] / "tools" / "make_vector_subset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fmt", ["word2vec_binary", "word2vec_text", "glove", "gensim"])
def test_make_vector_subset_keeps_format_and_vectors(files, keyed_vectors, tmp_path, fmt):
    tool = _subset_tool()
    suffix = {"word2vec_binary": ".bin", "word2vec_text": ".txt", "glove": ".txt", "gensim": ".kv"}[fmt]
    destination = tmp_path / f"subset{suffix}"
    kept, missing = tool.make_subset(files[fmt], destination, tool.collect_words(["Dog", "purrs, unicorn"],
                                                                                include_fallbacks=False))
    assert kept == ["dog", "Dog", "purrs"]  # source order; "Dog" matches the lower-cased word "dog"
    assert missing == ["unicorn"]
    assert vectors.detect_format(destination) == fmt
    loaded = vectors.load_word_vectors(destination)
    for word in kept:
        np.testing.assert_allclose(loaded[word], keyed_vectors[word], atol=1e-6)


def test_make_vector_subset_cli_reads_gzip_and_converts(files, keyed_vectors, tmp_path):
    import gzip
    import shutil

    tool = _subset_tool()
    compressed = tmp_path / "tiny.bin.gz"
    with open(files["word2vec_binary"], "rb") as source, gzip.open(compressed, "wb") as target:
        shutil.copyfileobj(source, target)
    labels = tmp_path / "labels.txt"
    labels.write_text("crackling fire\ncat\n", encoding="utf8")
    destination = tmp_path / "out.txt"
    assert tool.main([str(compressed), str(destination), "--texts", str(labels), "--out-format", "glove"]) == 0
    loaded = vectors.load_word_vectors(destination)
    assert vectors.detect_format(destination) == "glove"
    assert loaded.index_to_key == ["cat", "fire", "crackle"]  # "crackle" from ESC50_WORD_FALLBACK
    np.testing.assert_allclose(loaded["crackle"], keyed_vectors["crackle"], atol=1e-6)


@pytest.mark.parametrize("fmt", ["word2vec_text", "glove"])
def test_make_vector_subset_reads_words_with_spaces(tmp_path, fmt):
    # glove.840B holds a few tokens with spaces (". . ."): the word is all but the last `dim` fields
    header = "3 2\n" if fmt == "word2vec_text" else ""
    source = tmp_path / "source.txt"
    source.write_text(header + "dog 1 2\n. . . 3 4\ncat 5 6\n", encoding="utf8")
    tool = _subset_tool()
    assert [(word, list(vector)) for word, vector in tool.iter_vectors(source, fmt)] == [
        ("dog", [1, 2]), (". . .", [3, 4]), ("cat", [5, 6])]
    kept, missing = tool.make_subset(source, tmp_path / "out.txt", {"cat", "cow"}, fmt=fmt)
    assert kept == ["cat"] and missing == ["cow"]
    source.write_text(header + "dog 1 2\ncat 5\n", encoding="utf8")
    with pytest.raises(ValueError, match=r"source.txt: a line of 2 fields \('cat' ...\), expected a word and 2"):
        tool.make_subset(source, tmp_path / "out.txt", {"dog"}, fmt=fmt)


def test_one_memo_cleared_by_clear_vector_cache(tmp_path, monkeypatch):
    # The compact-cache reads of the recipes go through the same memo as plain reads.
    from refzsl.semantic.recipes import cached_word_vectors
    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "vectors" / "glove.6B.50d-subset.txt"
    path.parent.mkdir()
    path.write_text("dog 0.5 1.0\nrain -1.0 0.25\n", encoding="utf-8")
    first = cached_word_vectors("GLE", root=tmp_path)["glove"]
    assert cached_word_vectors("GLE", root=tmp_path)["glove"] is first
    assert list((tmp_path / "cache" / "vectors").glob("*.npz"))  # the compact file was written
    vectors.clear_vector_cache()
    again = cached_word_vectors("GLE", root=tmp_path)["glove"]
    assert again is not first
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert again.index_to_key == ["dog", "rain"]
def _gensim_data(folder, name, source):
    """Store a file as gensim's downloader does: BASE_DIR/NAME/NAME.gz."""
    import gzip
    (folder / name).mkdir(parents=True)
    with open(source, "rb") as handle, gzip.open(folder / name / f"{name}.gz", "wb") as out:
        out.write(handle.read())


def test_gensim_data_names_load_from_gensims_folder(files, keyed_vectors, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path))
    _gensim_data(tmp_path, "word2vec-google-news-300", files["word2vec_binary"])
    _gensim_data(tmp_path, "glove-wiki-gigaword-50", files["word2vec_text"])
    for name in ("word2vec-google-news-300", "glove-wiki-gigaword-50"):
        loaded = vectors.load_word_vectors(name)
        assert loaded.index_to_key == WORDS
        np.testing.assert_array_equal(loaded.vectors, keyed_vectors.vectors)
    from refzsl.semantic import recipes
    phi = recipes.class_embeddings(["dog"], "WLE", vectors="word2vec-google-news-300")
    np.testing.assert_array_equal(phi[0], keyed_vectors["dog"])  # one word, one part: its raw vector


def test_a_gensim_data_name_not_downloaded_says_how_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path))
    with pytest.raises(MissingAssetError, match=r"python -m gensim\.downloader --download glove-wiki-gigaword-50"):
        vectors.load_word_vectors("glove-wiki-gigaword-50")
    assert list(tmp_path.iterdir()) == []


def test_gensim_data_dir_is_gensims(tmp_path):
    code = "import gensim.downloader as api, refzsl.semantic.vectors as v; print(api.BASE_DIR == str(v.gensim_data_dir()))"
    for env in ({}, {"GENSIM_DATA_DIR": str(tmp_path)}):
        environment = {key: value for key, value in __import__("os").environ.items() if key != "GENSIM_DATA_DIR"}
        out = subprocess.run([sys.executable, "-c", code], env={**environment, **env}, check=True,
                             capture_output=True, text=True).stdout
        assert out.strip() == "True", env


def test_make_vector_subset_takes_a_gensim_data_name(files, keyed_vectors, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path / "gensim-data"))
    _gensim_data(tmp_path / "gensim-data", "word2vec-google-news-300", files["word2vec_binary"])
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\n", encoding="utf8")
    destination = tmp_path / "subset.bin"
    assert _subset_tool().main(["word2vec-google-news-300", str(destination), "--texts", str(labels)]) == 0
    loaded = vectors.load_word_vectors(destination)
    assert loaded.index_to_key == ["cat", "crackle"]  # "crackle": always kept, from ESC50_WORD_FALLBACK
    np.testing.assert_array_equal(loaded["cat"], keyed_vectors["cat"])
