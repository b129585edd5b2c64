"""A NumPy forward pass of BERT-type sentence-transformers encoders (all-MiniLM-L6-v2), without PyTorch.

Why: importing torch and sentence-transformers costs seconds, more than the whole
2 s budget of ``refzsl classify`` for one file; free-text labels must still be
embedded at run time. This module reads the same files (``tokenizer.json`` via
the Rust ``tokenizers`` package, ``model.safetensors`` via ``safetensors.numpy``)
and computes the same function: BERT encoder → mean over the attention mask →
L2 normalisation (when the model folder has a Normalize module). Checked against
sentence-transformers in ``reference_tests/papers/test_openset.py``. Use it through
:func:`refzsl.semantic.encode_sentences`, which memoises the encoder and runs it for
the default model.
"""

import json
import math
import os

import numpy as np

__all__ = ["SentenceEncoder"]

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
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
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
        self.tokenizer = Tokenizer.from_file(os.path.join(self.model_dir, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.n_layers = int(config["num_hidden_layers"])
        self.n_heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.weights = load_file(os.path.join(self.model_dir, "model.safetensors"))
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
            encodings = self.tokenizer.encode_batch(sentences[start:start + batch_size])
            length = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(encodings), length), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros((len(encodings), length), dtype=np.float32)
            for row, encoding in enumerate(encodings):
                ids[row, :len(encoding.ids)] = encoding.ids
                types[row, :len(encoding.ids)] = encoding.type_ids
                mask[row, :len(encoding.ids)] = 1.0
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
