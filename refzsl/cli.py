"""The ``refzsl`` command: ``refzsl train`` and ``refzsl classify``.

::

    refzsl classify dog.wav rain.ogg --labels "siren, dog, rain" [--top 2] [--json] [--method bilinear]
    refzsl train --pack --select --recipe auto -o my_model.npz     # the shipped ESC-50 feature pack
    refzsl train --csv clips.csv -o my_model.npz                   # rows: path,label
    refzsl classify new.wav --labels "..." --model my_model.npz

Three layers (STYLE §6): :func:`build_parser` parses an explicit argument list (labels are checked there, so
a bad label is a usage error), :func:`run_train` / :func:`run_classify` do the work with keyword arguments and
return results (raising on error), :func:`main` connects them, writes the output
and turns errors into one line on stderr and an exit code:

====  ==========================================================
0     success
1     any other refzsl error
2     bad command line or bad labels (argparse usage errors, empty/duplicate labels)
3     a file, asset or optional dependency is missing (model file, data root, YAMNet, vectors,
      the sentence extra of the default method)
4     an audio file cannot be used (unreadable, too short, NaN/Inf) — named
5     labels have words the word vectors do not know — listed, with suggestions
6     the model file does not fit the acoustic model or word vectors in use
====  ==========================================================
"""

import argparse
import csv
import json
import os
import sys
import warnings
from pathlib import Path

from . import __version__
from ._util.checks import non_negative_float, positive_float, positive_int
from .exceptions import (AudioError, MissingAssetError, MissingDependencyError, ModelMismatchError,
                         OutOfVocabularyError, RefzslError)

__all__ = ["EXIT_CODES", "build_parser", "run_train", "run_classify", "format_predictions", "main"]

EXIT_CODES = {"ok": 0, "error": 1, "usage": 2, "missing": 3, "audio": 4, "vocabulary": 5, "mismatch": 6}


def build_parser():
    """The ``refzsl`` argument parser (subcommands ``train`` and ``classify``)."""
    from .classify import DEFAULT_METHOD, LABEL_RECIPES, METHODS

    parser = argparse.ArgumentParser(
        prog="refzsl", description="Zero-shot audio classification via semantic embeddings.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{classify,train}")

    classify = commands.add_parser(
        "classify", help="rank free-text labels for audio files",
        description="Rank candidate labels (any words the word vectors know) for each audio file.")
    classify.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, ...)")
    classify.add_argument("--labels", required=True, type=_label_list,
                          help='comma-separated candidate labels, e.g. "siren, dog barking, rain"')
    classify.add_argument("--model", metavar="PATH",
                          help="bilinear model file from `refzsl train` (implies --method bilinear; default for "
                               "that method: the shipped ESC-50 model)")
    classify.add_argument("--method", choices=METHODS,
                          help=f"scoring method (default: {DEFAULT_METHOD}, open vocabulary, needs the sentence "
                               "extra; bilinear with --model, or when asked: the ESC-50-trained model)")
    classify.add_argument("--none-of-these", action="store_true",
                          help="also say when no label fits a file (threshold chosen on validation; a hint)")
    classify.add_argument("--top", type=positive_int, metavar="K", help="show the best K labels (default: all)")
    classify.add_argument("--json", action="store_true", help="write JSON to stdout instead of a table")
    classify.add_argument("--pad-short", action="store_true",
                          help="zero-pad audio shorter than 0.975 s to one patch instead of refusing it")
    classify.add_argument("--no-cache", action="store_true", help="do not read or write cached clip features")
    classify.add_argument("--data-root", metavar="DIR", help="data root (default: $REFZSL_DATA)")

    train = commands.add_parser(
        "train", help="fit a bilinear model on labelled clips and save it",
        description="Fit W (Training Algorithm 1) on labelled clips and save a model file for `refzsl classify`.")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--pack", nargs="?", const="", metavar="PATH",
                        help="the ESC-50 feature pack (default: the one shipped with refzsl)")
    source.add_argument("--esc50", action="store_true", help="ESC-50 audio of the data root")
    source.add_argument("--csv", metavar="FILE",
                        help="CSV of path,label rows (a header row path,label is optional; relative paths "
                             "are relative to the CSV's folder)")
    train.add_argument("--output", "-o", required=True, metavar="PATH", help="model file to write (.npz)")
    train.add_argument("--exclude-classes", metavar="LABELS", type=_label_list, default=(),
                       help="comma-separated classes left out of training (e.g. to test on them)")
    train.add_argument("--recipe", choices=LABEL_RECIPES + ("auto",), default="WLE+GLE",
                       help="semantic embedding of the class names (default WLE+GLE; auto: chosen by --select)")
    train.add_argument("--select", action="store_true",
                       help="choose λ, η and epochs (and the recipe with --recipe auto) on validation classes: "
                            "inner class folds, zero-shot (needs >= 4 classes)")
    train.add_argument("--learning-rate", type=positive_float, default=0.1, help="SGD step η (default 0.1)")
    train.add_argument("--epochs", type=positive_int, default=10, help="passes over the data (default 10)")
    train.add_argument("--reg-lambda", type=non_negative_float, default=0.0, help="λ of λ‖W‖² (default 0)")
    train.add_argument("--seed", type=int, default=0, help="seed of the sample order (default 0)")
    train.add_argument("--data-root", metavar="DIR", help="data root (default: $REFZSL_DATA)")
    train.add_argument("--verbose", "-v", action="store_true", help="progress on stderr")
    return parser


def _label_list(text):
    """argparse type of --labels / --exclude-classes: the checked labels, or a usage error naming the fault."""
    from .classify import parse_labels
    try:
        return parse_labels(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _read_csv(path):
    """(paths, labels) of a ``path,label`` CSV; a first row ``path,label`` is a header."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {str(path)!r}")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if rows and [cell.strip().lower() for cell in rows[0]] == ["path", "label"]:
        rows = rows[1:]
    paths, labels = [], []
    for number, row in enumerate(rows, start=1):
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{str(path)!r}, data row {number}: expected 'path,label', got {row!r}")
        clip = Path(row[0].strip()).expanduser()
        paths.append(clip if clip.is_absolute() else path.parent / clip)
        labels.append(" ".join(row[1].split()))
    if not paths:
        raise ValueError(f"{str(path)!r} holds no path,label rows")
    return paths, labels


def run_train(*, output, pack=None, esc50=False, csv_path=None, exclude_classes=(), recipe="WLE+GLE",
              learning_rate=0.1, n_epochs=10, reg_lambda=0.0, select=False, seed=0, root=None, verbose=False):
    """Fit and save a classifier model; the work of ``refzsl train``.

    Parameters
    ----------
    output : str or Path
        Model file to write.
    pack : str, optional
        Train on an ESC-50 feature pack: a path, or ``""`` for the shipped one.
    esc50 : bool
        Train on the ESC-50 audio of the data root (features extracted, cached).
    csv_path : str or Path, optional
        Train on the clips of a ``path,label`` CSV.
    exclude_classes : sequence of str
        Classes left out of training.
    recipe : str in LABEL_RECIPES or "auto"
        Semantic recipe; ``"auto"`` (with ``select``) chooses it on validation classes.
    learning_rate, n_epochs, reg_lambda
        :class:`refzsl.model.BilinearZSL` hyper-parameters (ignored with ``select``).
    select : bool
        Choose the hyper-parameters (and the recipe, if ``"auto"``) on validation
        classes with :func:`refzsl.classify.select_training`; needs >= 4 classes.
    seed : int
        Seed of the sample order and of the validation folds.
    root : str or Path, optional
        Data root.
    verbose : bool
        Progress on stderr.

    Returns
    -------
    refzsl.classify.ClassifierModel
        The saved model.
    """
    import numpy as np

    from .classify import LABEL_RECIPES, check_labels, select_training, train_model
    from .models.persistence import _acoustic_identity
    from .audio.params import YAMNET

    if sum([pack is not None, bool(esc50), csv_path is not None]) != 1:
        raise ValueError("Give exactly one training source: pack, esc50 or csv_path")
    semantic_options = {}
    if pack is not None or esc50:
        from .semantic.recipes import ESC50_WORD_FALLBACK
        # ESC-50 names three words the shared GoogleNews subset lacks (semantic.ESC50_WORD_FALLBACK).
        semantic_options["fallback"] = {word: list(words) for word, words in ESC50_WORD_FALLBACK.items()}
    if pack is not None:
        from .datasets.pack import load_pack
        data = load_pack(pack or None)
        embeddings = data.clip_embeddings
        classes = [str(name) for name in data.class_names]
        labels = [classes[target] for target in data.targets]
        manifest = data.manifest
        extraction = manifest.get("acoustic", {}).get("extraction", {})
        if manifest.get("acoustic", {}).get("embedder") != "yamnet":
            raise ValueError(f"The pack holds {manifest.get('acoustic', {}).get('embedder')!r} embeddings; "
                             "refzsl classify embeds with yamnet")
        acoustic = _acoustic_identity("yamnet", extraction.get("model_sha256"), embeddings.shape[1], YAMNET)
        source = {"source": "esc50-pack", "pack": str(pack or "shipped")}
    else:
        from .acoustic.extraction import extract_esc50, extract_files
        if esc50:
            from .datasets.esc50 import ESC50
            dataset = ESC50(root)
            features = extract_esc50(root=root, progress=verbose)
            classes = list(dataset.class_names)
            labels = [classes[target] for target in dataset.targets]
            source = {"source": "esc50-audio"}
        else:
            paths, labels = _read_csv(csv_path)
            features = extract_files(paths, root=root, progress=verbose)
            classes = None
            source = {"source": "csv", "csv": Path(csv_path).name}
        embeddings = features.clip_embeddings
        acoustic = _acoustic_identity("yamnet", features.manifest.get("model_sha256"), embeddings.shape[1], YAMNET)
    excluded = set(check_labels(exclude_classes)) if exclude_classes else set()
    unknown = sorted(excluded - set(labels))
    if unknown:
        raise ValueError(f"--exclude-classes names classes not in the training data: {unknown}")
    keep = np.array([label not in excluded for label in labels])
    if classes is not None:
        classes = [name for name in classes if name not in excluded]
    embeddings = embeddings[keep]
    labels = [label for label, kept in zip(labels, keep) if kept]
    hyper = {"learning_rate": learning_rate, "n_epochs": n_epochs, "reg_lambda": reg_lambda}
    source["excluded_classes"] = sorted(excluded)
    if select:
        if verbose:
            print("selecting hyper-parameters on validation classes ...", file=sys.stderr)
        selection = select_training(embeddings, labels, classes=classes, seed=seed, root=root,
                                    recipes=LABEL_RECIPES if recipe == "auto" else (recipe,),
                                    semantic_options=semantic_options)
        recipe, hyper = selection["recipe"], selection["params"]
        source["selection"] = selection
    elif recipe == "auto":
        raise ValueError("recipe='auto' needs select=True (--select)")
    source["hyper_parameters"] = "selected on validation classes" if select else "given"
    model = train_model(embeddings, labels, classes=classes,
                        recipe=recipe, semantic_options=semantic_options,
                        estimator_params={**hyper, "random_state": seed, "verbose": verbose},
                        acoustic=acoustic, training=source, root=root)
    model.save(output)
    return model


def run_classify(*, files, labels, model=None, method=None, top_k=None, pad_short=False, cache=True, root=None,
                 none_of_these=False):
    """Rank labels for audio files; the work of ``refzsl classify``.

    ``method`` defaults to ``"bilinear"`` when a ``model`` file is given, else to
    :data:`refzsl.classify.DEFAULT_METHOD`.

    Returns
    -------
    dict
        ``{"method", "model", "labels", "results": [{"file", "ranking": [{"label", "score"}]}]}``;
        ``model`` is the model file the method used (the bilinear model, or the shipped
        open-vocabulary model). With ``none_of_these`` each result also has ``"none_of_these"`` (bool,
        :meth:`refzsl.classify.ZeroShotClassifier.none_of_these`).
    """
    from .classify import DEFAULT_MODEL_PATH, ZeroShotClassifier, parse_labels
    from .models.conse import OPENVOCAB_MODEL_PATH

    from .classify import check_labels
    labels = parse_labels(labels) if isinstance(labels, str) else check_labels(labels)
    classifier = ZeroShotClassifier.from_pretrained(model, method=method, root=root,
                                                    short_policy="pad" if pad_short else "error", cache=cache)
    rankings = classifier.predict(files, labels, top_k=top_k)
    used = (model or DEFAULT_MODEL_PATH) if classifier.method == "bilinear" else OPENVOCAB_MODEL_PATH
    results = [{"file": str(path), "ranking": [{"label": label, "score": score} for label, score in ranking]}
               for path, ranking in zip(files, rankings)]
    if none_of_these:
        for item, rejected in zip(results, classifier.none_of_these(files, labels)):
            item["none_of_these"] = bool(rejected)
    return {"method": classifier.method, "model": str(used), "labels": labels, "results": results}


def format_predictions(result):
    """Human-readable table of :func:`run_classify`'s result."""
    lines = []
    width = max(len(label) for label in result["labels"])
    for item in result["results"]:
        lines.append(item["file"] + ("  (none of these labels seems to fit)" if item.get("none_of_these") else ""))
        for rank, entry in enumerate(item["ranking"], start=1):
            lines.append(f"  {rank:>2}. {entry['label']:<{width}}  {entry['score']:+.4f}")
    return "\n".join(lines)


def _error_code(error):
    if isinstance(error, OutOfVocabularyError):
        return EXIT_CODES["vocabulary"]
    if isinstance(error, AudioError):
        return EXIT_CODES["audio"]
    if isinstance(error, ModelMismatchError):
        return EXIT_CODES["mismatch"]
    if isinstance(error, (MissingAssetError, FileNotFoundError, MissingDependencyError)):
        return EXIT_CODES["missing"]
    return EXIT_CODES["error"]


def _one_line(error):
    if isinstance(error, OutOfVocabularyError) and error.missing:
        parts = []
        for label, words in error.missing.items():
            described = [f"{word!r}" + (f" (did you mean {', '.join(error.suggestions[word])}?)"
                                        if error.suggestions.get(word) else " (no close word)") for word in words]
            parts.append(f"{label!r}: {', '.join(described)}")
        return "unknown words in labels: " + "; ".join(parts)
    return " ".join(str(error).split())


def main(argv=None):
    """Entry point of the ``refzsl`` console script; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.recipe == "auto" and not args.select:
        parser.error("--recipe auto needs --select")  # exits with code 2
    # TFLite's C++ runtime logs "INFO: Created TensorFlow Lite XNNPACK delegate" on stderr: not for users.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    with warnings.catch_warnings():
        # Warnings (a clip zero-padded, words skipped) as one line each, without source lines.
        warnings.showwarning = lambda message, *_, **__: print(
            f"refzsl {args.command}: warning: {message}", file=sys.stderr)
        try:
            if args.command == "classify":
                result = run_classify(files=args.files, labels=args.labels, model=args.model, method=args.method,
                                      top_k=args.top, pad_short=args.pad_short, cache=not args.no_cache,
                                      root=args.data_root, none_of_these=args.none_of_these)
                print(json.dumps(result, indent=1) if args.json else format_predictions(result))
            else:
                model = run_train(output=args.output, pack=args.pack, esc50=args.esc50, csv_path=args.csv,
                                  exclude_classes=args.exclude_classes, recipe=args.recipe,
                                  learning_rate=args.learning_rate, n_epochs=args.epochs, reg_lambda=args.reg_lambda,
                                  select=args.select, seed=args.seed, root=args.data_root, verbose=args.verbose)
                print(f"wrote {args.output}: {model.recipe}, W {list(model.estimator.W_.shape)}, "
                      f"{len(model.classes)} classes, {model.training['n_clips']} clips, "
                      f"training Top-1 {model.training['train_top1']:.3f}", file=sys.stderr)
        except (RefzslError, OSError, ValueError) as error:
            print(f"refzsl {args.command}: error: {_one_line(error)}", file=sys.stderr)
            return _error_code(error)
    return EXIT_CODES["ok"]
