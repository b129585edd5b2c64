"""Export Google's VGGish checkpoint to the TFLite model refzsl runs.

    vggish_model.ckpt  ->  vggish.tflite   (signature ``serving_default``:
                                            log_mel float32 [n, 96, 64] -> embedding float32 [n, 128])

Development tool: it needs TensorFlow (>= 2.12), which refzsl itself never imports.
Keep TensorFlow out of refzsl's environment::

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu
    /tmp/tfenv/bin/python tools/export_vggish_tflite.py vggish_model.ckpt $REFZSL_DATA/models/vggish.tflite

The network is the one of ``vggish_slim.define_vggish_slim`` (tensorflow/models,
research/audioset/vggish), current release: 3x3 convolutions (stride 1, SAME) with
ReLU, 2x2 max-pools (stride 2, SAME), flatten in (time, frequency, channel) order,
two 4096-unit ReLU layers and a **linear** 128-d embedding layer (no ReLU; the
first release had one). The 18 variables are read by name from the checkpoint
(``vggish/conv1/weights`` ... ``vggish/fc2/biases``), their shapes checked, and
frozen into the TFLite graph as float32 constants (no quantisation).

``--check N`` verifies the export: it rebuilds the network the way the slim code
does (TF1 graph, variables restored from the checkpoint with a ``Saver``) and
compares its outputs with the TFLite model's on N random patches.

Development without Google's weights (they cannot be downloaded here):

* ``--random-checkpoint`` first writes a checkpoint with Google's variable names
  and shapes and random weights (TF1 V1 format, like the released file), then
  exports and checks it.
* ``--fixture DIR`` makes refzsl's CI fixture: the same network with narrow layers
  (``FIXTURE_WIDTHS``; embedding still 128-d), random weights, exported by the
  same code; it also writes the weights as ``.npz`` (for the NumPy reference in
  reference_tests/unit/test_embedders.py) and random PCA parameters in the format
  of ``vggish_pca_params.npz``.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402  (after the log level is set)

NUM_FRAMES, NUM_BANDS, EMBEDDING_SIZE = 96, 64, 128

# (variable scope, kind, max-pool after it) in the order of define_vggish_slim;
# slim.repeat names its layers conv3/conv3_1, conv3/conv3_2, ...
LAYERS = (
    ("conv1", "conv", True),
    ("conv2", "conv", True),
    ("conv3/conv3_1", "conv", False),
    ("conv3/conv3_2", "conv", True),
    ("conv4/conv4_1", "conv", False),
    ("conv4/conv4_2", "conv", True),
    ("fc1/fc1_1", "fc", False),
    ("fc1/fc1_2", "fc", False),
    ("fc2", "embedding", False),
)
# Output widths of the released model, and of the CI fixture (about 47 000 weights, 0.2 MB).
RELEASE_WIDTHS = (64, 128, 256, 256, 512, 512, 4096, 4096, EMBEDDING_SIZE)
FIXTURE_WIDTHS = (4, 8, 16, 16, 32, 32, 32, 32, EMBEDDING_SIZE)
N_POOLS = sum(pool for _, _, pool in LAYERS)


def variable_names():
    """The checkpoint's 18 variable names, ``vggish/<scope>/weights|biases``."""
    return [f"vggish/{scope}/{kind}" for scope, _, _ in LAYERS for kind in ("weights", "biases")]


def expected_shapes(widths):
    """Variable shapes of a VGGish with these layer output widths."""
    shapes, channels = {}, 1
    pooled_cells = (NUM_FRAMES >> N_POOLS) * (NUM_BANDS >> N_POOLS)  # 6 x 4 after four 2x2 pools
    for (scope, kind, _), width in zip(LAYERS, widths):
        if kind == "conv":
            shapes[f"vggish/{scope}/weights"] = (3, 3, channels, width)
        else:
            inputs = channels * pooled_cells if scope == "fc1/fc1_1" else channels
            shapes[f"vggish/{scope}/weights"] = (inputs, width)
        shapes[f"vggish/{scope}/biases"] = (width,)
        channels = width
    return shapes


def read_checkpoint(path):
    """Read and shape-check the VGGish variables of a checkpoint.

    Returns
    -------
    dict[str, np.ndarray]
        Variable name -> float32 value, for the 18 names of :func:`variable_names`.
    """
    reader = tf.train.load_checkpoint(str(path))
    available = reader.get_variable_to_shape_map()
    missing = [name for name in variable_names() if name not in available]
    if missing:
        raise ValueError(f"{path} is not a VGGish checkpoint: missing {missing}; "
                         f"it has {sorted(available)[:20]}")
    weights = {name: np.asarray(reader.get_tensor(name), dtype=np.float32) for name in variable_names()}
    widths = [weights[f"vggish/{scope}/biases"].shape[0] for scope, _, _ in LAYERS]
    expected = expected_shapes(widths)
    wrong = {name: (value.shape, expected[name]) for name, value in weights.items() if value.shape != expected[name]}
    if wrong:
        raise ValueError(f"{path}: inconsistent VGGish shapes (got, expected): {wrong}; widths {widths}")
    if widths[-1] != EMBEDDING_SIZE:
        raise ValueError(f"{path}: vggish/fc2 gives {widths[-1]}-d embeddings; VGGish's are {EMBEDDING_SIZE}-d")
    if tuple(widths) != RELEASE_WIDTHS:
        print(f"note: layer widths {widths} differ from Google's release {list(RELEASE_WIDTHS)}", file=sys.stderr)
    return weights


def write_random_checkpoint(path, *, widths=RELEASE_WIDTHS, seed=0):
    """Write a TF1 (V1 format) checkpoint with VGGish's variable names and random weights.

    Weights are He-normal (so activations keep their scale through the layers), biases
    small normal; ``widths`` are the layers' output widths.
    """
    rng = np.random.default_rng(seed)
    values = {}
    for name, shape in expected_shapes(widths).items():
        if name.endswith("weights"):
            fan_in = int(np.prod(shape[:-1]))
            values[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
        else:
            values[name] = rng.normal(0.0, 0.05, shape).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.get_variable(name, initializer=value) for name, value in values.items()]
        saver = tf.compat.v1.train.Saver(variables, write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(path), write_meta_graph=False)
    return values


def _forward(net, get):
    """VGGish on a [n, 96, 64] tensor; ``get(name)`` returns a variable or constant."""
    net = tf.reshape(net, [-1, NUM_FRAMES, NUM_BANDS, 1])
    for scope, kind, pool in LAYERS:
        weights, biases = get(f"vggish/{scope}/weights"), get(f"vggish/{scope}/biases")
        if kind == "conv":
            net = tf.nn.relu(tf.nn.conv2d(net, weights, strides=1, padding="SAME") + biases)
        else:
            if scope == "fc1/fc1_1":
                net = tf.reshape(net, [tf.shape(net)[0], -1])  # slim.flatten: (time, freq, channel) order
            net = tf.matmul(net, weights) + biases
            if kind == "fc":
                net = tf.nn.relu(net)
        if pool:
            net = tf.nn.max_pool2d(net, ksize=2, strides=2, padding="SAME")
    return net


def export(weights, out_path):
    """Freeze ``weights`` into a float32 TFLite model with signature ``serving_default``."""
    constants = {name: tf.constant(value) for name, value in weights.items()}

    class VGGishModule(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, NUM_FRAMES, NUM_BANDS], tf.float32, name="log_mel")])
        def serve(self, log_mel):
            return {"embedding": _forward(log_mel, constants.__getitem__)}

    module = VGGishModule()
    with tempfile.TemporaryDirectory() as saved_model:
        tf.saved_model.save(module, saved_model, signatures={"serving_default": module.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        model = converter.convert()
    Path(out_path).write_bytes(model)
    return len(model)


def reference_outputs(checkpoint, patches):
    """Embeddings from a TF1 graph whose variables a ``Saver`` restores from the checkpoint."""
    graph = tf.Graph()
    with graph.as_default():
        features = tf.compat.v1.placeholder(tf.float32, [None, NUM_FRAMES, NUM_BANDS], name="vggish/input_features")
        shapes = {name: shape for name, shape in tf.train.list_variables(str(checkpoint))}
        variables = {name: tf.compat.v1.get_variable(name, shape=shapes[name], dtype=tf.float32)
                     for name in variable_names()}
        embedding = _forward(features, variables.__getitem__)
        saver = tf.compat.v1.train.Saver(list(variables.values()))
        with tf.compat.v1.Session(graph=graph) as session:
            saver.restore(session, str(checkpoint))
            return session.run(embedding, {features: patches})


def tflite_outputs(model_path, patches):
    """Embeddings from the TFLite model (batch resized to the patches)."""
    interpreter = tf.lite.Interpreter(model_path=str(model_path))
    runner = interpreter.get_signature_runner("serving_default")
    return runner(log_mel=patches)["embedding"]


def check(checkpoint, model_path, n_patches, *, seed=1):
    """Max abs difference between TF (checkpoint) and TFLite outputs on random log-mel patches."""
    # Log-mel values of real audio lie in about [log(0.01), 3]; draw patches in that range.
    patches = np.random.default_rng(seed).uniform(np.log(0.01), 3.0, (n_patches, NUM_FRAMES, NUM_BANDS))
    patches = patches.astype(np.float32)
    expected = reference_outputs(checkpoint, patches)
    got = tflite_outputs(model_path, patches)
    if got.shape != (n_patches, EMBEDDING_SIZE):
        raise AssertionError(f"TFLite output shape {got.shape}, expected {(n_patches, EMBEDDING_SIZE)}")
    difference = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    print(f"check on {n_patches} patches: max |TF - TFLite| = {difference:.3g} (max |TF| = {scale:.3g})")
    return difference, scale


def make_fixture(out_dir, *, seed=0):
    """Write refzsl's CI fixture: tiny VGGish-signature model, its weights, random PCA parameters."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = Path(scratch) / "vggish_tiny.ckpt"
        write_random_checkpoint(checkpoint, widths=FIXTURE_WIDTHS, seed=seed)
        weights = read_checkpoint(checkpoint)
        size = export(weights, out_dir / "vggish_tiny.tflite")
        difference, scale = check(checkpoint, out_dir / "vggish_tiny.tflite", 8)
    np.savez_compressed(out_dir / "vggish_tiny_weights.npz", **weights)
    rng = np.random.default_rng(seed + 1)
    eigen_vectors, _ = np.linalg.qr(rng.normal(size=(EMBEDDING_SIZE, EMBEDDING_SIZE)))
    np.savez(out_dir / "vggish_tiny_pca_params.npz", pca_eigen_vectors=eigen_vectors,
             pca_means=rng.normal(0.0, 0.5, EMBEDDING_SIZE))
    print(f"fixture in {out_dir}: vggish_tiny.tflite ({size} bytes), max |TF - TFLite| {difference:.3g} "
          f"(max |TF| {scale:.3g})")
    return difference, scale


def parse_args(args):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", type=Path, help="vggish_model.ckpt (input)")
    parser.add_argument("output", nargs="?", type=Path, help="vggish.tflite (output)")
    parser.add_argument("--check", type=int, default=16, metavar="N",
                        help="compare TF and TFLite outputs on N random patches (0: skip; default 16)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest accepted |TF - TFLite| relative to max |TF| (default 1e-4)")
    parser.add_argument("--random-checkpoint", action="store_true",
                        help="first write a random-weight checkpoint with Google's names and shapes to CHECKPOINT")
    parser.add_argument("--fixture", type=Path, metavar="DIR",
                        help="instead, write refzsl's small CI fixture model into DIR")
    parser.add_argument("--seed", type=int, default=0, help="seed of random weights")
    options = parser.parse_args(args)
    if options.fixture is None and (options.checkpoint is None or options.output is None):
        parser.error("give CHECKPOINT and OUTPUT, or --fixture DIR")
    if options.check < 0:
        parser.error(f"--check must be >= 0, got {options.check}")
    return options


def run(*, checkpoint, output, n_check=16, tolerance=1e-4, random_checkpoint=False, seed=0):
    """Export ``checkpoint`` to ``output``; return the relative TF/TFLite difference (or None)."""
    if random_checkpoint:
        write_random_checkpoint(checkpoint, seed=seed)
        print(f"wrote random-weight checkpoint {checkpoint}")
    weights = read_checkpoint(checkpoint)
    size = export(weights, output)
    print(f"wrote {output} ({size / 1e6:.1f} MB)")
    if not n_check:
        return None
    difference, scale = check(checkpoint, output, n_check)
    relative = difference / scale
    if relative > tolerance:
        raise RuntimeError(f"TFLite export differs from TF: max |diff| {difference:.3g} = {relative:.3g} of "
                           f"max |TF| > tolerance {tolerance}")
    return relative


def main(argv=None):
    options = parse_args(sys.argv[1:] if argv is None else argv)
    if options.fixture is not None:
        make_fixture(options.fixture, seed=options.seed)
    else:
        run(checkpoint=options.checkpoint, output=options.output, n_check=options.check,
            tolerance=options.tolerance, random_checkpoint=options.random_checkpoint, seed=options.seed)


if __name__ == "__main__":
    main()
