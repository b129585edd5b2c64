"""Acoustic embedders: log-mel patches -> embeddings θ(x) with TFLite models.

Every model here takes the patches of :func:`refzsl.frontend.waveform_to_patches`,
float32 ``[n, 96, 64]``, and returns one embedding per patch; a clip embedding is
the mean of its patch embeddings (SPEC §1). The models are TFLite files run with
the LiteRT interpreter (``ai-edge-litert``), or ``tflite-runtime`` as a fallback,
so no TensorFlow is needed at run time.

* :class:`TFLiteEmbedder` — the runner: any model ``[n, 96, 64] -> {name: [n, d]}``.
* :class:`YAMNet` — 1024-d embedding and 521 AudioSet scores, with the class names
  and the classifier layer read from the model file.
* :class:`VGGish` — 128-d embedding, with the optional PCA + uint8 post-processing
  of Google's released AudioSet features (:class:`PCAPostprocessor`).
* :data:`EMBEDDERS` / :func:`get_embedder` — pick a model by name.
"""

__all__ = [
    "RUNTIME",
    "TFLiteEmbedder",
    "YAMNet",
    "VGGish",
    "PCAPostprocessor",
    "EMBEDDERS",
    "read_class_map",
    "get_embedder",
]

import csv
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np

from .._util.checks import check_positive_int
from .._util.files import file_sha256
from .._util.stderr import XNNPACK_INFO, without_stderr_lines
from ..config import asset_path
from ..exceptions import MissingAssetError
from ..audio.params import VGGISH, YAMNET


def _import_interpreter():
    """Return ``(Interpreter class, runtime name)``, or ``(None, None)`` if no runtime is installed.

    LiteRT (``ai_edge_litert``) is TensorFlow Lite's current home; ``tflite_runtime``
    is its predecessor, still the only wheel on some platforms.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        pass
    else:
        return Interpreter, "ai_edge_litert"
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:
        return None, None
    warnings.warn(
        "ai_edge_litert is not installed; falling back to tflite_runtime. "
        "Install ai-edge-litert (pip install ai-edge-litert), TFLite's maintained runtime.",
        RuntimeWarning,
        stacklevel=2,
    )
    return Interpreter, "tflite_runtime"


_Interpreter, RUNTIME = _import_interpreter()


def _require_interpreter():
    if _Interpreter is None:
        raise ImportError(
            "No TFLite runtime: refzsl's embedders need the package 'ai_edge_litert' "
            "(pip install ai-edge-litert) or, failing that, 'tflite_runtime' (pip install tflite-runtime)")
    return _Interpreter


def read_class_map(path=None, *, root=None):
    """The classes of ``yamnet_class_map.csv``: ``[(mid, display_name)]``, index = YAMNet score column.

    Parameters
    ----------
    path : str or Path, optional
        The CSV (columns ``index``, ``mid``, ``display_name``); default: the ``yamnet_class_map`` asset.
    root : str or Path, optional
        Data root of the asset (default ``$REFZSL_DATA``).

    Returns
    -------
    list of (str, str)

    Raises
    ------
    MissingAssetError
        If the file is absent.
    ValueError
        If it does not list indices ``0..n-1`` in order (the message names the file).
    """
    path = Path(path) if path is not None else asset_path("yamnet_class_map", root=root)
    if not path.is_file():
        raise MissingAssetError(f"YAMNet class map not found: {str(path)!r}")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if [int(row["index"]) for row in rows] != list(range(len(rows))):
        raise ValueError(f"{str(path)!r} lists {len(rows)} classes; expected indices 0..{len(rows) - 1} in order, "
                         "one per YAMNet score")
    return [(row["mid"], row["display_name"]) for row in rows]


class TFLiteEmbedder:
    """Run a TFLite model on log-mel patches, in batches.

    The model must take one float32 input ``[n, 96, 64]`` (any ``n``, or a fixed
    batch the runner resizes) and may give several outputs ``[n, d]``. When the
    model has a signature (``serving_default``), inputs and outputs are addressed
    by its names; otherwise by the tensors' own names.

    Parameters
    ----------
    model_path : str or Path
        The ``.tflite`` file.
    params : FrontEndParams
        Front end whose patches the model expects (``refzsl.params.VGGISH`` or
        ``YAMNET``); the model's input must be ``[n, params.patch_frames, params.num_mel_bins]``.
    batch_size : int >= 1
        Patches per interpreter call; only speed and memory depend on it.
    num_threads : int >= 1, optional
        Interpreter threads; default: the runtime's choice.
    embedding_output : str, optional
        Output returned by :meth:`embed`; default ``"embedding"`` if the model has
        it, else its only output.
    name : str, optional
        Name for manifests; default: the file's stem.

    Attributes
    ----------
    name : str
    params : FrontEndParams
    model_path : Path
    output_names : tuple of str
    embedding_output : str
    embedding_dim : int
        Width of :meth:`embed`'s output, from the model's output details.
    sha256 : str
        Hex digest of the model file (computed once, on first use).

    Raises
    ------
    MissingAssetError
        If ``model_path`` does not exist.
    ValueError
        If the file is not a TFLite model, or its input is not ``[n, 96, 64]`` float32.
    ImportError
        If neither ``ai_edge_litert`` nor ``tflite_runtime`` is installed.

    Notes
    -----
    One instance holds one interpreter: do not call it from several threads at
    once. Pickling keeps only the constructor arguments, so worker processes
    rebuild the interpreter from the file.
    """

    def __init__(self, model_path, *, params, batch_size=64, num_threads=None, embedding_output=None,
                 name=None):
        self.model_path = Path(model_path)
        self.params = params
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.num_threads = check_positive_int(num_threads, "num_threads", allow_none=True)
        self.name = name if name is not None else self.model_path.stem
        self._init_args = dict(model_path=model_path, params=params, batch_size=batch_size,
                               num_threads=num_threads, embedding_output=embedding_output, name=name)
        self._load(embedding_output)

    def _load(self, embedding_output):
        if not self.model_path.is_file():
            raise MissingAssetError(f"Model file not found: {str(self.model_path)!r}")
        interpreter_class = _require_interpreter()
        try:
            self._interpreter = interpreter_class(model_path=str(self.model_path), num_threads=self.num_threads)
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{str(self.model_path)!r} is not a readable TFLite model: {error}") from error

        signatures = self._interpreter.get_signature_list()
        if signatures:
            key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
            self._runner = self._interpreter.get_signature_runner(key)
            inputs = self._runner.get_input_details()
            outputs = self._runner.get_output_details()
        else:
            self._runner = None
            inputs = {detail["name"]: detail for detail in self._interpreter.get_input_details()}
            outputs = {detail["name"]: detail for detail in self._interpreter.get_output_details()}
        if len(inputs) != 1:
            raise ValueError(f"{str(self.model_path)!r} has {len(inputs)} inputs ({', '.join(inputs)}); "
                             "expected one: log-mel patches [n, 96, 64]")
        (self._input_name, input_detail), = inputs.items()
        expected = self.patch_shape
        input_shape = tuple(int(size) for size in input_detail["shape_signature"])
        if len(input_shape) != 3 or input_shape[1:] != expected or input_detail["dtype"] != np.float32:
            raise ValueError(
                f"{str(self.model_path)!r} takes {np.dtype(input_detail['dtype']).name} {list(input_shape)}; "
                f"expected float32 [n, {expected[0]}, {expected[1]}] log-mel patches")
        self._input_index = input_detail["index"]
        self._output_indices = {name: detail["index"] for name, detail in outputs.items()}
        self._output_widths = {name: tuple(int(size) for size in detail["shape_signature"][1:])
                               for name, detail in outputs.items()}
        self.output_names = tuple(outputs)

        if embedding_output is None:
            if "embedding" in outputs:
                embedding_output = "embedding"
            elif len(outputs) == 1:
                embedding_output = self.output_names[0]
            else:
                raise ValueError(f"{str(self.model_path)!r} has outputs {list(outputs)}; "
                                 "say which is the embedding with embedding_output=")
        if embedding_output not in outputs:
            raise ValueError(f"embedding_output={embedding_output!r} is not an output of "
                             f"{str(self.model_path)!r}; outputs: {list(outputs)}")
        width = self._output_widths[embedding_output]
        if len(width) != 1:
            raise ValueError(f"Output {embedding_output!r} of {str(self.model_path)!r} has shape "
                             f"[n, {', '.join(map(str, width))}]; expected [n, d]")
        self.embedding_output = embedding_output
        self.embedding_dim = width[0]
        self._batch_in_place = None  # batch size the plain interpreter is allocated for
        self._invoked = False  # the first inference runs with LiteRT's stderr chatter filtered

    def __getstate__(self):
        return self._init_args

    def __setstate__(self, state):
        self.__init__(**state)

    def __repr__(self):
        return (f"{type(self).__name__}(model_path={str(self.model_path)!r}, name={self.name!r}, "
                f"batch_size={self.batch_size}, num_threads={self.num_threads})")

    @property
    def patch_shape(self):
        """Shape of one input patch, ``(params.patch_frames, params.num_mel_bins)`` = ``(96, 64)``."""
        return (self.params.patch_frames, self.params.num_mel_bins)

    @cached_property
    def sha256(self):
        """Hex sha256 of the model file."""
        return file_sha256(self.model_path)

    def check_patches(self, patches):
        """Return ``patches`` as a C-contiguous float32 array ``[n, 96, 64]``, or raise.

        Raises
        ------
        TypeError
            If ``patches`` is not a real floating-point array.
        ValueError
            If its shape is not ``[n, 96, 64]`` or it holds NaN/Inf.
        """
        patches = np.asarray(patches)
        if not np.issubdtype(patches.dtype, np.floating):
            raise TypeError(f"patches must be floating-point log-mel values, got dtype {patches.dtype}")
        expected = self.patch_shape
        if patches.ndim != 3 or patches.shape[1:] != expected:
            raise ValueError(f"patches must have shape [n, {expected[0]}, {expected[1]}] for {self.name}, "
                             f"got {list(patches.shape)}")
        patches = np.ascontiguousarray(patches, dtype=np.float32)
        if not np.isfinite(patches).all():
            bad = int(np.count_nonzero(~np.isfinite(patches)))
            raise ValueError(f"patches of shape {list(patches.shape)} hold {bad} NaN/Inf values")
        return patches

    def _invoke(self, batch):
        if not self._invoked:
            # LiteRT announces its XNNPACK delegate on stderr at the first inference: not for users.
            self._invoked = True
            with without_stderr_lines({XNNPACK_INFO}):
                return self._invoke(batch)
        if self._runner is not None:
            # The signature runner resizes the input to the batch on every call.
            return self._runner(**{self._input_name: batch})
        if self._batch_in_place != len(batch):
            self._interpreter.resize_tensor_input(self._input_index, list(batch.shape), strict=False)
            self._interpreter.allocate_tensors()
            self._batch_in_place = len(batch)
        self._interpreter.set_tensor(self._input_index, batch)
        self._interpreter.invoke()
        return {name: self._interpreter.get_tensor(index) for name, index in self._output_indices.items()}

    def run(self, patches):
        """All outputs of the model for a stack of patches.

        Parameters
        ----------
        patches : np.ndarray [shape=(n, 96, 64)], floating
            Log-mel patches (``n`` may be 0).

        Returns
        -------
        dict[str, np.ndarray]
            For each output name, float32 ``[n, d]``.
        """
        patches = self.check_patches(patches)
        chunks = {name: [] for name in self.output_names}
        for start in range(0, len(patches), self.batch_size):
            outputs = self._invoke(patches[start:start + self.batch_size])
            for name in self.output_names:
                chunks[name].append(outputs[name])
        return {name: (np.concatenate(parts) if parts else
                       np.zeros((0, *self._output_widths[name]), dtype=np.float32)).astype(np.float32, copy=False)
                for name, parts in chunks.items()}

    def embed(self, patches):
        """Embedding of each patch.

        Parameters
        ----------
        patches : np.ndarray [shape=(n, 96, 64)], floating

        Returns
        -------
        np.ndarray [shape=(n, embedding_dim)], float32
        """
        return self.run(patches)[self.embedding_output]


class YAMNet(TFLiteEmbedder):
    """YAMNet (AudioSet MobileNet-v1): 1024-d embeddings and 521 AudioSet scores.

    Parameters
    ----------
    model_path : str or Path, optional
        ``yamnet.tflite``; default: the ``yamnet`` asset of the data root
        (``models/yamnet.tflite``). Its signature must give ``embedding`` ``[n, 1024]``
        and ``scores`` ``[n, 521]`` (sigmoid) for ``log_mel`` ``[n, 96, 64]``.
    root : str or Path, optional
        Data root (default ``REFZSL_DATA``).
    batch_size, num_threads
        As :class:`TFLiteEmbedder`.
    class_map_path : str or Path, optional
        ``yamnet_class_map.csv``; default: the ``yamnet_class_map`` asset.

    Notes
    -----
    Patches must come from the YAMNet front end (``params.YAMNET``: log offset
    0.001, patch hop 0.48 s).
    """

    def __init__(self, model_path=None, *, root=None, batch_size=64, num_threads=None, class_map_path=None):
        self.root = root
        self.class_map_path = class_map_path
        path = asset_path("yamnet", root=root) if model_path is None else model_path
        super().__init__(path, params=YAMNET, batch_size=batch_size, num_threads=num_threads,
                         embedding_output="embedding", name="yamnet")
        if "scores" not in self.output_names:
            raise ValueError(f"{str(self.model_path)!r} has outputs {list(self.output_names)}; "
                             "YAMNet needs 'embedding' and 'scores'")
        self._init_args = dict(model_path=model_path, root=root, batch_size=batch_size,
                               num_threads=num_threads, class_map_path=class_map_path)

    @property
    def n_classes(self):
        """Number of scores (521)."""
        return self._output_widths["scores"][0]

    def class_names(self):
        """Display names of the scores, index = score column.

        Returns
        -------
        list of str [length n_classes]

        Raises
        ------
        MissingAssetError
            If the class map is absent.
        ValueError
            If it does not list exactly indices ``0..n_classes-1`` in order.
        """
        classes = read_class_map(self.class_map_path, root=self.root)
        if len(classes) != self.n_classes:
            raise ValueError(f"The YAMNet class map lists {len(classes)} classes; the model scores "
                             f"{self.n_classes}")
        return [name for _, name in classes]

    def classifier_weights(self):
        """The final layer, read from the model file: ``scores = sigmoid(embedding @ W + b)``.

        Returns
        -------
        W : np.ndarray [shape=(1024, 521)], float32
        b : np.ndarray [shape=(521,)], float32

        Raises
        ------
        ValueError
            If no constant tensors of those shapes reproduce the model's scores
            (checked on a fixed batch of random patches, to 1e-5).
        """
        weights, biases = self._classifier
        return weights.copy(), biases.copy()

    @cached_property
    def _classifier(self):
        dim, n_classes = self.embedding_dim, self.n_classes
        interpreter = self._interpreter
        weights, biases = [], []
        for detail in interpreter.get_tensor_details():
            shape = tuple(int(size) for size in detail["shape"])
            if detail["dtype"] != np.float32 or shape not in {(n_classes, dim), (dim, n_classes), (n_classes,)}:
                continue
            try:
                value = interpreter.get_tensor(detail["index"])
            except ValueError:  # activations have no readable buffer
                continue
            if shape == (n_classes,):
                biases.append(value)
            else:  # TFLite FULLY_CONNECTED stores [out, in]; accept either layout
                weights.append(value.T if shape == (n_classes, dim) else value)
        probe = np.random.default_rng(0).normal(-4.0, 2.0, size=(4, *self.patch_shape)).astype(np.float32)
        outputs = self.run(probe)
        from scipy.special import expit  # ~0.1-0.5 s to import: only when the classifier is asked for
        embedding = outputs["embedding"].astype(np.float64)
        for weight in weights:
            for bias in biases:
                if np.allclose(expit(embedding @ weight + bias), outputs["scores"], rtol=0, atol=1e-5):
                    return np.ascontiguousarray(weight, dtype=np.float32), bias.astype(np.float32)
        raise ValueError(
            f"No constant tensors of {str(self.model_path)!r} (found {len(weights)} weight and {len(biases)} "
            f"bias candidates of shapes ({dim}, {n_classes}) / ({n_classes},)) reproduce its scores as "
            "sigmoid(embedding @ W + b)")


class PCAPostprocessor:
    """PCA + 8-bit quantisation of VGGish embeddings, as in Google's AudioSet features.

    ``E' = (E - means) @ eigen_vectors.T``, clipped to [-2, 2], mapped to
    ``(E' + 2) * 255 / 4`` and cast to uint8 by truncation (SPEC §1).

    Parameters
    ----------
    pca_params_path : str or Path
        ``vggish_pca_params.npz`` with ``pca_eigen_vectors`` (128, 128) and ``pca_means`` (128,).

    Raises
    ------
    MissingAssetError
        If the file is absent.
    ValueError
        If a key is missing or has the wrong shape.
    """

    #: Range the PCA-projected values are clipped to before quantisation.
    QUANTIZE_MIN_VALUE = -2.0
    QUANTIZE_MAX_VALUE = 2.0

    def __init__(self, pca_params_path):
        self.pca_params_path = Path(pca_params_path)
        if not self.pca_params_path.is_file():
            raise MissingAssetError(f"VGGish PCA parameters not found: {str(self.pca_params_path)!r}")
        with np.load(self.pca_params_path) as params:
            missing = {"pca_eigen_vectors", "pca_means"} - set(params.files)
            if missing:
                raise ValueError(f"{str(self.pca_params_path)!r} lacks {sorted(missing)}; has {params.files}")
            self.eigen_vectors = np.asarray(params["pca_eigen_vectors"], dtype=np.float64)
            self.means = np.asarray(params["pca_means"], dtype=np.float64).reshape(-1)
        dim = len(self.means)
        if self.eigen_vectors.shape != (dim, dim):
            raise ValueError(f"pca_eigen_vectors in {str(self.pca_params_path)!r} has shape "
                             f"{list(self.eigen_vectors.shape)}; expected [{dim}, {dim}] to match pca_means")

    @property
    def dim(self):
        """Embedding width the parameters are for (128)."""
        return len(self.means)

    def postprocess(self, embeddings):
        """Project, clip and quantise a batch of embeddings.

        Parameters
        ----------
        embeddings : np.ndarray [shape=(n, 128)], floating

        Returns
        -------
        np.ndarray [shape=(n, 128)], uint8

        Raises
        ------
        ValueError
            If the shape is not ``[n, 128]`` or values are NaN/Inf.
        """
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise ValueError(f"embeddings must have shape [n, {self.dim}], got {list(embeddings.shape)}")
        if not np.issubdtype(embeddings.dtype, np.floating) or not np.isfinite(embeddings).all():
            raise ValueError(f"embeddings of shape {list(embeddings.shape)} must be finite floats "
                             f"(dtype {embeddings.dtype})")
        projected = (embeddings - self.means) @ self.eigen_vectors.T
        clipped = np.clip(projected, self.QUANTIZE_MIN_VALUE, self.QUANTIZE_MAX_VALUE)
        scaled = (clipped - self.QUANTIZE_MIN_VALUE) * (255.0 / (self.QUANTIZE_MAX_VALUE - self.QUANTIZE_MIN_VALUE))
        return scaled.astype(np.uint8)  # truncation, as the released features


class VGGish(TFLiteEmbedder):
    """VGGish: 128-d embeddings, optionally PCA-whitened and quantised to uint8.

    Parameters
    ----------
    model_path : str or Path, optional
        ``vggish.tflite`` made by ``tools/export_vggish_tflite.py`` from Google's
        ``vggish_model.ckpt``; default: the ``vggish`` asset (``models/vggish.tflite``).
    root : str or Path, optional
        Data root (default ``REFZSL_DATA``).
    postprocess : bool
        If true, :meth:`embed` returns the uint8 codes of :class:`PCAPostprocessor`
        (the format of Google's released AudioSet features) instead of float32.
    pca_params_path : str or Path, optional
        ``vggish_pca_params.npz``; default: the ``vggish_pca`` asset. Used only
        with ``postprocess=True``.
    batch_size, num_threads
        As :class:`TFLiteEmbedder`.

    Notes
    -----
    Patches must come from the VGGish front end (``params.VGGISH``).
    """

    def __init__(self, model_path=None, *, root=None, postprocess=False, pca_params_path=None, batch_size=64,
                 num_threads=None):
        self.root = root
        self.postprocess = postprocess
        path = asset_path("vggish", root=root) if model_path is None else model_path
        super().__init__(path, params=VGGISH, batch_size=batch_size, num_threads=num_threads, name="vggish")
        self.postprocessor = None
        if postprocess:
            pca_path = asset_path("vggish_pca", root=root) if pca_params_path is None else pca_params_path
            self.postprocessor = PCAPostprocessor(pca_path)
            if self.postprocessor.dim != self.embedding_dim:
                raise ValueError(f"PCA parameters {str(pca_path)!r} are for {self.postprocessor.dim}-d embeddings; "
                                 f"{str(self.model_path)!r} gives {self.embedding_dim}-d")
        self._init_args = dict(model_path=model_path, root=root, postprocess=postprocess,
                               pca_params_path=pca_params_path, batch_size=batch_size, num_threads=num_threads)

    def embed(self, patches):
        """Embedding of each patch.

        Parameters
        ----------
        patches : np.ndarray [shape=(n, 96, 64)], floating
            VGGish log-mel patches.

        Returns
        -------
        np.ndarray [shape=(n, 128)]
            float32, or uint8 codes when ``postprocess=True``.
        """
        embeddings = super().embed(patches)
        return embeddings if self.postprocessor is None else self.postprocessor.postprocess(embeddings)


#: Embedders by name, for ``get_embedder`` and the ``--embedder`` options.
EMBEDDERS = {"yamnet": YAMNet, "vggish": VGGish}


def get_embedder(name, *, root=None, model_path=None, **kwargs):
    """Build a registered embedder.

    Parameters
    ----------
    name : str
        A key of :data:`EMBEDDERS` (``"yamnet"``, ``"vggish"``).
    root : str or Path, optional
        Data root the default model file is taken from.
    model_path : str or Path, optional
        Explicit model file instead of the data root's.
    **kwargs
        Passed to the embedder (``batch_size``, ``num_threads``, ``postprocess`` …).

    Returns
    -------
    TFLiteEmbedder
        An instance of ``EMBEDDERS[name]``.

    Raises
    ------
    TypeError
        If ``name`` is not a str.
    ValueError
        If ``name`` is not registered.
    MissingAssetError
        If the model file is absent.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
    if name not in EMBEDDERS:
        raise ValueError(f"Unknown embedder {name!r}; known: {', '.join(sorted(EMBEDDERS))}")
    return EMBEDDERS[name](model_path, root=root, **kwargs)
