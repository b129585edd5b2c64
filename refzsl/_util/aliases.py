"""Old flat import paths (``refzsl.model``, ``refzsl.metrics``, ...) as aliases of the layered modules.

Before the package was grouped by layer, every module sat at the top (``refzsl.model.BilinearZSL``).
Those paths are documented and used in scripts, so an import of one hands back the very module object
of its new home: one implementation, two names, no wrapper module to keep in step.
"""

import importlib
import importlib.abc
import importlib.util
import sys

#: Old module name (under ``refzsl.``) -> its home now.
MOVED = {
    "params": "audio.params",
    "frontend": "audio.frontend",
    "embedders": "acoustic.embedders",
    "vectors": "semantic.vectors",
    "minilm": "semantic.minilm",
    "ontology": "semantic.ontology",
    "metrics": "evaluation.metrics",
    "model": "models.bilinear",
    "attention": "models.attention",
    "conse": "models.conse",
    "_ranksgd": "models._ranksgd",
    "_attention_sgd": "models._attention_sgd",
    "mixtures": "datasets.mixtures",
    "pack": "datasets.pack",
    "protocols": "experiments.protocols",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        """The target module is already executed by its own import."""


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``<package>.<old name>`` and returns the module it moved to."""

    def __init__(self, package):
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.rpartition(".")
        if prefix != self.package or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(f"{self.package}.{MOVED[name]}"))


#: Old flat modules whose name is now a layer's folder (``refzsl.semantic`` was one module, is now a
#: package): the package hands out the old module's public names from their new home.
FOLDED = {
    "audio": "audio.io",
    "semantic": "semantic.recipes",
    "datasets": "datasets.esc50",
}


def module_getattr(module, target=None):
    """A module ``__getattr__`` (PEP 562) that serves the public names of the module that took over.

    For a layer package that replaced a flat module of the same name (``refzsl.semantic``; the
    target is then :data:`FOLDED`'s) and for a command module that kept only its parser and
    ``main`` (``refzsl.esc50``, whose runner is :mod:`refzsl.experiments.esc50`). The target's
    ``__all__`` is served, the target being imported on first use only, so ``from refzsl import
    semantic; semantic.class_embeddings(...)`` and ``refzsl.esc50.run_esc50`` keep working without
    loading every module of the layer at import.

    Parameters
    ----------
    module : str
        ``__name__`` of the module that gets the ``__getattr__``.
    target : str, optional
        Full name of the module that serves the names (default: from :data:`FOLDED`).
    """
    if target is None:
        root, _, name = module.rpartition(".")
        target = f"{root}.{FOLDED[name]}"

    def __getattr__(attribute):
        served = importlib.import_module(target)
        if attribute in getattr(served, "__all__", ()):
            return getattr(served, attribute)
        raise AttributeError(f"module {module!r} has no attribute {attribute!r}")

    return __getattr__


def install(package):
    """Put one :class:`AliasFinder` for ``package`` on ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(finder, AliasFinder) and finder.package == package for finder in sys.meta_path):
        sys.meta_path.append(AliasFinder(package))
