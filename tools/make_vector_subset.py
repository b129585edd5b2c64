"""Cut a vocabulary subset out of a full word-vector file, keeping its format.

A user who downloaded GoogleNews-vectors-negative300.bin (3.6 GB) or a GloVe
text file makes a small file holding only the words of their class labels and
descriptions; refzsl then loads it in a fraction of a second. Text and word2vec
binary inputs are streamed (one record at a time), so the full file never sits
in memory; gensim ``.kv`` inputs are memory-mapped.

Examples
--------
All words of the ESC-50 and AudioSet labels and descriptions::

    python tools/make_vector_subset.py GoogleNews-vectors-negative300.bin.gz \\
        vectors/GoogleNews-vectors-negative300-subset.bin --esc50 --audioset

The full GoogleNews vectors as gensim downloads them (``python -m gensim.downloader --download
word2vec-google-news-300``), by name::

    python tools/make_vector_subset.py word2vec-google-news-300 \\
        vectors/GoogleNews-vectors-negative300-subset.bin --esc50 --audioset

Words of your own labels (one label or sentence per line)::

    python tools/make_vector_subset.py glove.42B.300d.txt my-glove.txt --texts my_labels.txt

The output keeps the input format unless ``--out-format`` says otherwise
(``word2vec_binary``, ``word2vec_text``, ``glove`` = text without header, ``gensim``).
Words are matched exactly and also lower-cased, as refzsl lower-cases labels.
"""

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

from refzsl.semantic.vectors import detect_format, iter_word2vec_binary

__all__ = ["collect_words", "iter_vectors", "make_subset", "build_parser", "main"]

OUT_FORMATS = ("word2vec_binary", "word2vec_text", "glove", "gensim")


def collect_words(texts, *, include_fallbacks=True):
    """Every word refzsl may look up for these texts (tokenised without stop-word removal).

    Parameters
    ----------
    texts : iterable of str
        Labels and/or descriptions.
    include_fallbacks : bool
        Add the candidates of :data:`refzsl.semantic.recipes.ESC50_WORD_FALLBACK`.

    Returns
    -------
    set[str]
    """
    from refzsl.semantic import recipes as semantic

    words = set()
    for text in texts:
        words.update(semantic.tokenize(text, remove_stopwords=False))
    if include_fallbacks:
        for candidates in semantic.ESC50_WORD_FALLBACK.values():
            words.update(candidates)
    return words


def _open(path, mode):
    return gzip.open(path, mode) if str(path).endswith(".gz") else open(path, mode)


def iter_vectors(path, fmt, *, words=None):
    """Yield ``(word, float32 vector)`` from a word-vector file, one record at a time.

    Parameters
    ----------
    path : str or Path
    fmt : {"word2vec_binary", "word2vec_text", "glove", "gensim"}
    words : set of str, optional
        Yield only these words (exact or lower-cased match); the other records
        are skipped without parsing their numbers.
    """
    def wanted(word):
        return words is None or word in words or word.lower() in words

    if fmt == "gensim":
        from gensim.models import KeyedVectors
        vectors = KeyedVectors.load(str(path), mmap="r")
        for index, word in enumerate(vectors.index_to_key):
            if wanted(word):
                yield word, np.asarray(vectors.vectors[index], dtype=np.float32)
        return
    if fmt == "word2vec_binary":
        for word, vector in iter_word2vec_binary(path):
            if wanted(word):
                yield word, vector.copy()
        return
    with _open(path, "rt") as handle:
        dim = int(handle.readline().split()[1]) if fmt == "word2vec_text" else None
        for line in handle:
            fields = line.rstrip().split(" ")
            if len(fields) < 2:
                continue
            dim = dim or len(fields) - 1
            if len(fields) <= dim:
                raise ValueError(f"{path}: a line of {len(fields)} fields ({fields[0]!r} ...), expected a word "
                                 f"and {dim} numbers")
            # The word is all but the last `dim` fields: a few glove.840B tokens hold spaces (". . .").
            word = " ".join(fields[:-dim])
            if wanted(word):
                yield word, np.asarray(fields[-dim:], dtype=np.float32)


def make_subset(source, destination, words, *, fmt="auto", out_format=None):
    """Write the vectors of ``words`` (exact or lower-cased match) from ``source`` to ``destination``.

    Parameters
    ----------
    source, destination : str or Path
        Full vector file to read; subset file to write (its folder is created).
    words : iterable of str
        Words to keep, e.g. from :func:`collect_words`.
    fmt : {"auto", "word2vec_binary", "word2vec_text", "glove", "gensim"}
        Format of ``source`` (``"auto"``: :func:`refzsl.semantic.vectors.detect_format`).
    out_format : {"word2vec_binary", "word2vec_text", "glove", "gensim"}, optional
        Format of ``destination`` (default: the source's).

    Returns
    -------
    kept : list[str]
        Words written, in the source's (frequency) order.
    missing : list[str]
        Requested words the source does not have (neither form).

    Raises
    ------
    ValueError
        If ``out_format`` is unknown or the source has none of the words.
    """
    from gensim.models import KeyedVectors

    fmt = detect_format(source) if fmt == "auto" else fmt
    out_format = out_format or fmt
    if out_format not in OUT_FORMATS:
        raise ValueError(f"out_format must be one of {OUT_FORMATS}, got {out_format!r}")
    wanted = set(words)
    kept, vectors = [], []
    for word, vector in iter_vectors(source, fmt, words=wanted):
        kept.append(word)
        vectors.append(vector)
    if not kept:
        raise ValueError(f"None of the {len(wanted)} words is in {source}")
    missing = sorted(wanted - set(kept) - {word.lower() for word in kept})
    subset = KeyedVectors(len(vectors[0]))
    subset.add_vectors(kept, np.stack(vectors))
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if out_format == "gensim":
        subset.save(str(destination))
    else:
        subset.save_word2vec_format(str(destination), binary=out_format == "word2vec_binary",
                                    write_header=out_format != "glove")
    return kept, missing


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="full vector file (.bin[.gz], .txt[.gz], .vec, .kv) or a gensim-data name "
                                        "already downloaded by gensim (word2vec-google-news-300, ...)")
    parser.add_argument("destination", help="subset file to write")
    parser.add_argument("--format", dest="fmt", default="auto",
                        choices=("auto",) + OUT_FORMATS, help="format of the source (default: guessed)")
    parser.add_argument("--out-format", choices=OUT_FORMATS, help="format of the output (default: the source's)")
    parser.add_argument("--esc50", action="store_true", help="ESC-50 class names and their descriptions")
    parser.add_argument("--audioset", action="store_true", help="the 527 AudioSet labels and descriptions")
    parser.add_argument("--texts", type=Path, action="append", default=[],
                        help="file of labels/sentences, one per line (repeatable)")
    parser.add_argument("--data-root", help="data root for --esc50/--audioset (default $REFZSL_DATA)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.esc50 or args.audioset or args.texts):
        parser.error("give at least one of --esc50, --audioset, --texts")
    texts = []
    for path in args.texts:
        texts += [line.strip() for line in path.read_text(encoding="utf8").splitlines() if line.strip()]
    if args.esc50 or args.audioset:
        from refzsl.semantic import ontology
        if args.esc50:
            texts += list(ontology.ESC50_TO_AUDIOSET)
            texts += ontology.esc50_descriptions(root=args.data_root)
        if args.audioset:
            for cls in ontology.audioset_classes(root=args.data_root):
                texts += [cls.name, cls.description]
    words = collect_words(texts)
    from refzsl.semantic.vectors import resolve_vectors
    source = resolve_vectors(args.source)  # a gensim-data name -> the file gensim stored
    kept, missing = make_subset(source, args.destination, words, fmt=args.fmt, out_format=args.out_format)
    print(f"wrote {len(kept)} vectors to {args.destination}; {len(missing)} of {len(words)} words not in the "
          f"source" + (f" (e.g. {', '.join(missing[:10])})" if missing else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
