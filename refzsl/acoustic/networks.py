"""The VGGish architecture in PyTorch, at full width or with fewer channels.

Google's VGGish (``vggish_slim.py``) maps a 96 x 64 log-mel patch to a 128-d embedding::

    conv1 64 - pool - conv2 128 - pool - conv3_1 256 - conv3_2 256 - pool
    - conv4_1 512 - conv4_2 512 - pool - fc1_1 4096 - fc1_2 4096 - fc2 128

with 3 x 3 convolutions (stride 1, "same" padding, ReLU), 2 x 2 max-pooling (stride 2) and
ReLU on every layer but the last one (the current release has no ReLU on the 128-d
embedding). At full width it holds :data:`VGGISH_PARAMETERS` = 72 141 184 parameters.

``width`` multiplies the channels of every convolution and the units of the two 4096-unit
layers (same layers, fewer channels); the embedding stays 128-d, the interface P2's bilinear
model sees. A classifier head (128 -> classes) is added for supervised training only; the
embedding is the 128-d layer before it (P2 §V-B.2).

PyTorch is an optional dependency (``pip install 'refzsl[train]'``), imported only when a
network is built: the rest of refzsl never imports it.
"""

from ..exceptions import MissingDependencyError

__all__ = ["VGGISH_PARAMETERS", "EMBEDDING_DIM", "PATCH_FRAMES", "PATCH_BANDS", "import_torch", "build_vggish",
           "layer_widths", "count_parameters"]

#: Parameters of Google's VGGish (the released checkpoint, without the PCA post-processor).
VGGISH_PARAMETERS = 72_141_184
#: Size of the VGGish embedding layer.
EMBEDDING_DIM = 128
#: The input patch: 96 frames (0.96 s) x 64 mel bands.
PATCH_FRAMES, PATCH_BANDS = 96, 64

# Channels of the full-width VGGish, in layer order; None marks a 2 x 2 max-pooling.
_CONV_LAYERS = (("conv1", 64), None, ("conv2", 128), None, ("conv3_1", 256), ("conv3_2", 256), None,
                ("conv4_1", 512), ("conv4_2", 512), None)
_FC_UNITS = 4096


def import_torch():
    """Import PyTorch, or raise an error that says how to install it.

    Raises
    ------
    MissingDependencyError
        Without PyTorch.
    """
    try:
        import torch
    except ImportError as error:
        raise MissingDependencyError(
            "Training acoustic networks needs PyTorch: pip install torch==2.13.0 (the CPU build), then "
            "pip install 'refzsl[train]'") from error
    return torch


def _check_width(width):
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 1:
        raise ValueError(f"width must be a number in (0, 1] (1 = Google's VGGish), got {width!r}")


def layer_widths(width=1.0):
    """Channels of each convolution and units of the two wide fully connected layers.

    Parameters
    ----------
    width : float in (0, 1]
        Multiplier of the full VGGish's channels and units; every layer keeps at least one.

    Returns
    -------
    dict
        ``{"conv1": 64 * width, ..., "conv4_2": 512 * width, "fc1": 4096 * width}`` (rounded).

    Raises
    ------
    ValueError
        If ``width`` is not in (0, 1].
    """
    _check_width(width)
    widths = {name: max(1, round(channels * width)) for name, channels in filter(None, _CONV_LAYERS)}
    widths["fc1"] = max(1, round(_FC_UNITS * width))
    return widths


def build_vggish(*, width=1.0, n_classes=None, embedding_dim=EMBEDDING_DIM):
    """A VGGish-architecture network (untrained: PyTorch's default initialisation).

    Parameters
    ----------
    width : float in (0, 1]
        Channel multiplier (1 = Google's VGGish, 72 141 184 parameters).
    n_classes : int >= 2, optional
        Add a linear classifier head (``network.classifier``) for supervised training.
    embedding_dim : int >= 1
        Size of the embedding layer (128 in VGGish).

    Returns
    -------
    torch.nn.Module
        ``network.embed(patches)`` maps ``[n, 96, 64]`` (or ``[n, 1, 96, 64]``) patches to
        ``[n, embedding_dim]``; ``network(patches)`` returns the class logits when there is a
        head, else the embeddings.

    Raises
    ------
    ValueError
        Bad ``width``, ``n_classes`` or ``embedding_dim``.
    MissingDependencyError
        Without PyTorch.
    """
    widths = layer_widths(width)
    if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2):
        raise ValueError(f"n_classes must be an integer >= 2 or None, got {n_classes!r}")
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
    torch = import_torch()
    nn = torch.nn

    class VGGishNetwork(nn.Module):
        """VGGish trunk + embedding layer (+ optional classifier head)."""

        def __init__(self):
            super().__init__()
            layers, channels, frames, bands = [], 1, PATCH_FRAMES, PATCH_BANDS
            for layer in _CONV_LAYERS:
                if layer is None:
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                    frames, bands = frames // 2, bands // 2
                else:
                    layers += [nn.Conv2d(channels, widths[layer[0]], kernel_size=3, padding=1), nn.ReLU()]
                    channels = widths[layer[0]]
            self.features = nn.Sequential(*layers)
            flat = channels * frames * bands
            self.embedding = nn.Sequential(
                nn.Flatten(), nn.Linear(flat, widths["fc1"]), nn.ReLU(), nn.Linear(widths["fc1"], widths["fc1"]),
                nn.ReLU(), nn.Linear(widths["fc1"], embedding_dim))
            self.classifier = None if n_classes is None else nn.Linear(embedding_dim, n_classes)
            self.width, self.n_classes, self.embedding_dim = float(width), n_classes, embedding_dim

        def embed(self, patches):
            if patches.dim() == 3:
                patches = patches.unsqueeze(1)
            return self.embedding(self.features(patches))

        def forward(self, patches):
            embeddings = self.embed(patches)
            return embeddings if self.classifier is None else self.classifier(embeddings)

    return VGGishNetwork()


def count_parameters(network, *, include_classifier=False):
    """Number of trainable parameters of a network built by :func:`build_vggish`.

    Parameters
    ----------
    network : torch.nn.Module
    include_classifier : bool
        Count the supervised head too (it is not part of VGGish).

    Returns
    -------
    int
    """
    return sum(parameter.numel() for name, parameter in network.named_parameters()
               if include_classifier or not name.startswith("classifier."))
