"""The package's layers: no import cycle, no upward import (tools/check_imports.py), old paths still work."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import refzsl
from refzsl._util.aliases import MOVED

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "tools" / "check_imports.py"


def _check(package_dir):
    return subprocess.run([sys.executable, str(CHECK), str(package_dir)], capture_output=True, text=True)


def test_package_has_no_cycle_and_no_upward_import():
    result = _check(Path(refzsl.__file__).parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": 0 cycles, 0 upward imports" in result.stdout


def test_check_finds_function_level_cycle_upward_import_and_missing_name(tmp_path):
    copy = tmp_path / "refzsl"
    shutil.copytree(Path(refzsl.__file__).parent, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    with open(copy / "audio" / "io.py", "a", encoding="utf-8") as stream:
        stream.write("\n\ndef _planted():\n    from ..models import conse\n")
    with open(copy / "models" / "persistence.py", "a", encoding="utf-8") as stream:
        stream.write("\n\ndef _planted():\n    from refzsl.conse import ConSE\n")  # an old flat path
    with open(copy / "audio" / "params.py", "a", encoding="utf-8") as stream:
        stream.write("\n\ndef _planted():\n    from .io import no_such_name\n")  # what a move can break
    result = _check(copy)
    assert result.returncode == 1
    assert ": 1 cycles, 1 upward imports" in result.stdout
    cycle = next(line for line in result.stdout.splitlines() if line.startswith("cycle: "))
    assert "refzsl.models.conse" in cycle and "refzsl.models.persistence" in cycle
    assert "upward: refzsl.audio.io:" in result.stdout and "imports refzsl.models.conse" in result.stdout
    assert "unresolved: refzsl.audio.params:" in result.stdout and "no_such_name from refzsl.audio.io" in result.stdout


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_import_path_is_the_new_module(old, new):
    assert importlib.import_module(f"refzsl.{old}") is importlib.import_module(f"refzsl.{new}")


def test_old_attribute_paths():
    from refzsl.model import BilinearZSL
    from refzsl.models.bilinear import BilinearZSL as new
    assert BilinearZSL is new


@pytest.mark.parametrize("package, new, name", [
    ("refzsl.semantic", "refzsl.semantic.recipes", "class_embeddings"),
    ("refzsl.semantic", "refzsl.semantic.recipes", "ESC50_WORD_FALLBACK"),
    ("refzsl.audio", "refzsl.audio.io", "load_audio"),
    ("refzsl.datasets", "refzsl.datasets.esc50", "ESC50"),
])
def test_folded_flat_module_names(package, new, name):
    # `from refzsl import semantic; semantic.class_embeddings(...)` is the README's own example.
    assert getattr(importlib.import_module(package), name) is getattr(importlib.import_module(new), name)


def test_folded_package_refuses_unknown_names():
    import refzsl.semantic
    with pytest.raises(AttributeError, match="no_such_name"):
        refzsl.semantic.no_such_name


# Public names (``__all__`` before the layers, commit 16cd9ce) of modules that became commands or lost a
# function to the one AudioSet table; each must still resolve from its old module.
OLD_PUBLIC_NAMES = {
    "refzsl.esc50": ("refzsl.experiments.esc50", ["DEFAULT_GRID", "load_features", "select_hyper_parameters",
                                                  "evaluate_split", "run_esc50", "format_table"]),
    "refzsl.extract": ("refzsl.acoustic.extraction", ["FEATURE_VERSION", "AUDIO_EXTENSIONS", "Features",
                                                      "extract_files", "find_audio_files"]),
    "refzsl.multilabel": ("refzsl.experiments.multilabel", ["TRAIN_CLIP_FOLDS", "EVAL_CLIP_FOLDS", "micro_f1",
                                                            "best_threshold", "peak_hit_rate", "run"]),
    "refzsl.openset": ("refzsl.experiments.openset", ["PUBLISHED_ESC50", "SELECTION_RECIPES",
                                                      "evaluate_esc50"]),
}


@pytest.mark.parametrize("old, new, name", [(old, new, name) for old, (new, names) in OLD_PUBLIC_NAMES.items()
                                            for name in names])
def test_old_public_names_of_command_modules(old, new, name):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_old_names_of_the_yamnet_table():
    from refzsl.models import conse
    from refzsl.semantic.ontology import AudioSetEmbeddings
    assert conse.audioset_vocabulary is conse.yamnet_vocabulary
    assert conse.AudioSetVocabulary is AudioSetEmbeddings
