"""The ``refzsl`` command: ``refzsl train``, ``refzsl classify`` and ``refzsl data check``.

::

    refzsl classify dog.wav rain.ogg --labels "siren, dog, rain" [--top 2] [--json|--csv] [--method bilinear]
    refzsl classify field.flac --labels "bird, rain, car" --timeline [SECONDS]   # a ranking per window
    refzsl train --pack --select --recipe auto -o my_model.npz     # the shipped ESC-50 feature pack
    refzsl train --csv clips.csv -o my_model.npz                   # rows: path,label
    refzsl classify new.wav --labels "..." --model my_model.npz
    refzsl data check [FEATURE ...] [--data-root DIR] [--json]    # refzsl.datacheck

Three layers (STYLE §6): :func:`build_parser` parses an explicit argument list (labels are checked there, so
a bad label is a usage error), :func:`run_train` / :func:`run_classify` do the work with keyword arguments and
return results (raising on error), :func:`main` connects them, writes the output
and turns errors into one line on stderr and an exit code:

====  ==========================================================
0     success
1     any other refzsl error
2     bad command line or bad labels (argparse usage errors, empty/duplicate/punctuation-only labels)
3     a file, asset or dependency is missing (model file, data root, VGGish, vectors, the sentence
      encoder's weights); ``refzsl data check`` when a feature asked for is not ready
4     an audio file cannot be used (missing, a folder, unreadable, too short under --short-policy error,
      NaN/Inf): ``classify`` still ranks every other file, names each bad one on stderr with its reason,
      and exits 4 at the end (as grep and ffmpeg do)
5     labels have words the word vectors do not know — listed, with suggestions
6     the model file is damaged, or does not fit the acoustic model or word vectors in use
7     the output (``-o``) is refused: an input, another kind of file (without ``--force``), or unwritable
====  ==========================================================
"""

import argparse
import csv
import json
import sys
import warnings
from pathlib import Path

from . import __version__
from ._util.checks import non_negative_float, non_negative_int, positive_float, positive_int
from .exceptions import (AudioError, MissingAssetError, MissingDependencyError, ModelMismatchError,
                         OutOfVocabularyError, OutputError, RefzslError)

__all__ = ["EXIT_CODES", "build_parser", "run_train", "run_classify", "format_predictions", "format_csv", "exit_code",
           "main"]

EXIT_CODES = {"ok": 0, "error": 1, "usage": 2, "missing": 3, "audio": 4, "vocabulary": 5, "mismatch": 6,
              "output": 7}


def build_parser():
    """The ``refzsl`` argument parser (subcommands ``train`` and ``classify``)."""
    from .classify import DEFAULT_METHOD, LABEL_RECIPES, METHODS

    parser = argparse.ArgumentParser(
        prog="refzsl", description="Zero-shot audio classification via semantic embeddings.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{classify,train,data}")

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
                          help=f"scoring method (default: {DEFAULT_METHOD}, open vocabulary, runs on the core "
                               "install; bilinear with --model, or when asked: the ESC-50-trained model)")
    classify.add_argument("--none-of-these", action="store_true",
                          help="also say when no label fits a file (threshold chosen on validation; a hint)")
    classify.add_argument("--top", type=positive_int, metavar="K", help="show the best K labels (default: all)")
    output_format = classify.add_mutually_exclusive_group()
    output_format.add_argument("--json", action="store_true", help="write JSON to stdout instead of a table")
    output_format.add_argument("--csv", action="store_true",
                               help="write CSV to stdout: file,rank,label,score (with --timeline: "
                                    "file,start,end,rank,label,score)")
    classify.add_argument("--timeline", nargs="?", const=0.96, type=positive_float, metavar="SECONDS",
                          help="rank the labels in every window of SECONDS (default 0.96, one patch; at least "
                               "0.48) instead of once per file: sound events over time in long recordings")
    classify.add_argument("--short-policy", choices=("pad", "error"), default="pad",
                          help="audio shorter than 0.975 s: zero-pad it to one patch with a warning (default, as "
                               "extract) or refuse the file (error)")
    classify.add_argument("--pad-short", action="store_true", help=argparse.SUPPRESS)  # the old default's opt-in
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
    train.add_argument("--force", action="store_true",
                       help="write -o even over an input or an existing file that is not a model file")
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
    train.add_argument("--seed", type=non_negative_int, default=0, help="seed of the sample order (default 0)")
    train.add_argument("--data-root", metavar="DIR", help="data root (default: $REFZSL_DATA)")
    train.add_argument("--verbose", "-v", action="store_true", help="progress on stderr")

    from .datacheck import add_parser as add_data_parser
    add_data_parser(commands)
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
              learning_rate=0.1, n_epochs=10, reg_lambda=0.0, select=False, seed=0, root=None, verbose=False,
              force=False):
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
    force : bool
        Write ``output`` even over an input or an existing file that is not a model file.

    Returns
    -------
    refzsl.classify.ClassifierModel
        The saved model.

    Raises
    ------
    OutputError
        If ``output`` is refused (an input, another kind of file, an unwritable folder), before any work.
    """
    import numpy as np

    from ._util.files import check_output_file, is_npz_with
    from .classify import LABEL_RECIPES, check_labels, select_training, train_model
    from .models.persistence import acoustic_identity
    from .audio.params import YAMNET

    if sum([pack is not None, bool(esc50), csv_path is not None]) != 1:
        raise ValueError("Give exactly one training source: pack, esc50 or csv_path")
    inputs = [path for path in (pack or None, csv_path) if path is not None]
    if csv_path is not None:
        inputs += _read_csv(csv_path)[0]
    check_output_file(output, option="-o/--output", inputs=inputs, force=force,
                      is_output=lambda path: is_npz_with(path, ("metadata",)))
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
        acoustic = acoustic_identity("yamnet", extraction.get("model_sha256"), embeddings.shape[1], YAMNET)
        source = {"source": "esc50-pack", "pack": str(pack or "shipped")}
    else:
        from .acoustic.extraction import extract_files
        from .datasets.esc50 import extract_esc50
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
        acoustic = acoustic_identity("yamnet", features.manifest.get("model_sha256"), embeddings.shape[1], YAMNET)
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


def run_classify(*, files, labels, model=None, method=None, top_k=None, short_policy="pad", cache=True,
                 root=None, timeline=None, none_of_these=False):
    """Rank labels for audio files; the work of ``refzsl classify``.

    ``method`` defaults to ``"bilinear"`` when a ``model`` file is given, else to
    :data:`refzsl.classify.DEFAULT_METHOD`. A file that cannot be used does not stop the
    others (:meth:`refzsl.classify.ZeroShotClassifier.predict_each`).

    ``timeline`` (seconds) ranks the labels per window of each file instead (``"timeline"`` replaces
    ``"ranking"``: ``[{"start", "end", "ranking"}]``).

    Returns
    -------
    dict
        ``{"method", "model", "labels", "results": [{"file", "ranking": [{"label", "score"}]}],
        "errors": [{"file", "error"}]}``; ``model`` is the model file the method used (the bilinear
        model, or the shipped open-vocabulary model); ``errors`` lists the files that failed. With
        ``none_of_these`` each result also has ``"none_of_these"`` (bool,
        :meth:`refzsl.classify.ZeroShotClassifier.none_of_these`).
    """
    from .classify import DEFAULT_MODEL_PATH, ZeroShotClassifier, parse_labels
    from .models.conse import OPENVOCAB_MODEL_PATH

    from .classify import check_labels
    labels = parse_labels(labels) if isinstance(labels, str) else check_labels(labels)
    classifier = ZeroShotClassifier.from_pretrained(model, method=method, root=root, short_policy=short_policy,
                                                    cache=cache)
    used = (model or DEFAULT_MODEL_PATH) if classifier.method == "bilinear" else OPENVOCAB_MODEL_PATH
    result = {"method": classifier.method, "model": str(used), "labels": labels}
    if timeline is not None:
        timelines = classifier.predict_timeline(files, labels, window_seconds=timeline, top_k=top_k)
        result["window_seconds"] = timeline
        result["results"] = [{"file": str(path), "timeline": [
            {"start": round(window["start"], 3), "end": round(window["end"], 3),
             "ranking": [{"label": label, "score": score} for label, score in window["ranking"]]}
            for window in windows]} for path, windows in zip(files, timelines)]
        result["errors"] = []
        return result
    rankings, failures = classifier.predict_each(files, labels, top_k=top_k)
    result["results"] = [{"file": str(path), "ranking": [{"label": label, "score": score} for label, score in ranking]}
                         for path, ranking in zip(files, rankings) if ranking is not None]
    result["errors"] = [{"file": path, "error": _one_line(error)} for path, error in failures]
    if none_of_these and result["results"]:
        usable = [item["file"] for item in result["results"]]
        for item, rejected in zip(result["results"], classifier.none_of_these(usable, labels)):
            item["none_of_these"] = bool(rejected)
    return result


def format_predictions(result):
    """Human-readable table of :func:`run_classify`'s result."""
    lines = []
    width = max(len(label) for label in result["labels"])
    for item in result["results"]:
        lines.append(item["file"] + ("  (none of these labels seems to fit)" if item.get("none_of_these") else ""))
        for window in item.get("timeline", ()):  # one line a window, best label first
            ranked = ", ".join(f"{entry['label']} {entry['score']:+.3f}" for entry in window["ranking"])
            lines.append(f"  {window['start']:>8.2f}-{window['end']:<8.2f} {ranked}")
        for rank, entry in enumerate(item.get("ranking", ()), start=1):
            lines.append(f"  {rank:>2}. {entry['label']:<{width}}  {entry['score']:+.4f}")
    return "\n".join(lines)


def format_csv(result):
    """CSV of :func:`run_classify`'s result: ``file,rank,label,score`` rows, or with a timeline
    ``file,start,end,rank,label,score``."""
    import io
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    timeline = any("timeline" in item for item in result["results"])
    writer.writerow(["file", "start", "end", "rank", "label", "score"] if timeline
                    else ["file", "rank", "label", "score"])
    for item in result["results"]:
        windows = item["timeline"] if timeline else [{"ranking": item["ranking"]}]
        for window in windows:
            bounds = [f"{window['start']:.3f}", f"{window['end']:.3f}"] if timeline else []
            for rank, entry in enumerate(window["ranking"], start=1):
                writer.writerow([item["file"], *bounds, rank, entry["label"], f"{entry['score']:.6f}"])
    return buffer.getvalue().rstrip("\n")


def exit_code(error):
    """The exit code of ``refzsl`` for an error (the table of this module's docstring)."""
    if isinstance(error, OutputError):
        return EXIT_CODES["output"]
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
    if args.command == "classify" and args.timeline is not None and args.timeline < 0.48:
        parser.error(f"--timeline {args.timeline:g}: a window must be at least the patch hop, 0.48 s")
    if args.command == "classify" and args.timeline is not None and args.none_of_these:
        parser.error("--none-of-these decides per file; it does not go with --timeline")
    if args.command == "data":
        from .datacheck import run_command
        try:
            return run_command(args, parser)
        except (RefzslError, ValueError) as error:
            print(f"refzsl data: error: {_one_line(error)}", file=sys.stderr)
            return exit_code(error)
    with warnings.catch_warnings():
        # Warnings (a clip zero-padded, words skipped) as one line each, without source lines.
        warnings.showwarning = lambda message, *_, **__: print(
            f"refzsl {args.command}: warning: {message}", file=sys.stderr)
        try:
            if args.command == "classify":
                result = run_classify(files=args.files, labels=args.labels, model=args.model, method=args.method,
                                      top_k=args.top, short_policy="pad" if args.pad_short else args.short_policy,
                                      cache=not args.no_cache, root=args.data_root, timeline=args.timeline,
                                      none_of_these=args.none_of_these)
                if result["results"] or args.json:
                    print(json.dumps(result, indent=1) if args.json
                          else format_csv(result) if args.csv else format_predictions(result))
                for failure in result["errors"]:
                    print(f"refzsl classify: error: {failure['error']}", file=sys.stderr)
                if result["errors"]:
                    return EXIT_CODES["audio"]
            else:
                model = run_train(output=args.output, pack=args.pack, esc50=args.esc50, csv_path=args.csv,
                                  exclude_classes=args.exclude_classes, recipe=args.recipe,
                                  learning_rate=args.learning_rate, n_epochs=args.epochs, reg_lambda=args.reg_lambda,
                                  select=args.select, seed=args.seed, root=args.data_root, verbose=args.verbose,
                                  force=args.force)
                print(f"wrote {args.output}: {model.recipe}, W {list(model.estimator.W_.shape)}, "
                      f"{len(model.classes)} classes, {model.training['n_clips']} clips, "
                      f"training Top-1 {model.training['train_top1']:.3f}", file=sys.stderr)
        except (RefzslError, OSError, ValueError) as error:
            print(f"refzsl {args.command}: error: {_one_line(error)}", file=sys.stderr)
            return exit_code(error)
    return EXIT_CODES["ok"]
