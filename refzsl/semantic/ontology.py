"""Class texts: the AudioSet ontology (527 labels, names, descriptions) and ESC-50's link to it.

* :func:`audioset_classes` — the 527 labels of ``class_labels_indices.csv`` joined
  by MID with ``ontology.json`` (name and sentence description).
* :func:`audioset_embeddings` — φ(y) of every recipe for all 527 labels, cached
  under ``config.cache_dir()/semantic`` with a content key (texts, vector files,
  options), so rebuilding is only paid once.
* :data:`ESC50_TO_AUDIOSET` — each of the 50 ESC-50 classes mapped to the closest
  AudioSet ontology class, so sentence (WSE, GSE, BSE) and hybrid recipes work on
  ESC-50 (:func:`esc50_descriptions`). This goes beyond the papers, which used
  label embeddings only on ESC-50.
"""

import csv
import json
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .. import config
from . import recipes as semantic
from .._util.cache import content_key
from .._util.files import read_cached_npz, write_cache
from .vectors import resolve_vectors

__all__ = [
    "AudioSetClass", "ESC50_TO_AUDIOSET", "load_ontology", "audioset_classes", "esc50_audioset_classes",
    "esc50_descriptions", "CLASS_SETS", "SENTENCE_TEXTS", "AudioSetEmbeddings", "yamnet_classes",
    "audioset_embeddings", "label_embeddings", "yamnet_ancestors",
]

# ESC-50 class (target order, underscores as spaces) -> AudioSet ontology class name (all 50 distinct).
# Chosen by hand from ontology.json; where the ontology has a class for the sound and one for its source,
# the one whose description fits ESC-50's clips is used. Notes on the less obvious ones:
#   rooster -> "Crowing, ..." and hen -> "Chicken, rooster", so the two keep distinct descriptions;
#   crackling fire -> "Crackle" (its description speaks of a burning solid);
#   mouse click -> "Clicking" (the ontology's "Mouse" is the rodent); can opening -> "Burst, pop" ("an
#   enclosure holding gas or liquid coming open suddenly"); glass breaking -> "Shatter";
#   drinking sipping -> "Gargling" and washing machine -> "Mechanisms": the ontology has no drinking and
#   no washing-machine class; these are the nearest (liquid in the mouth; household machinery).
ESC50_TO_AUDIOSET = MappingProxyType({
    "dog": "Dog",
    "rooster": "Crowing, cock-a-doodle-doo",
    "pig": "Pig",
    "cow": "Cattle, bovinae",
    "frog": "Frog",
    "cat": "Cat",
    "hen": "Chicken, rooster",
    "insects": "Insect",
    "sheep": "Sheep",
    "crow": "Crow",
    "rain": "Rain",
    "sea waves": "Waves, surf",
    "crackling fire": "Crackle",
    "crickets": "Cricket",
    "chirping birds": "Chirp, tweet",
    "water drops": "Drip",
    "wind": "Wind",
    "pouring water": "Pour",
    "toilet flush": "Toilet flush",
    "thunderstorm": "Thunderstorm",
    "crying baby": "Baby cry, infant cry",
    "sneezing": "Sneeze",
    "clapping": "Clapping",
    "breathing": "Breathing",
    "coughing": "Cough",
    "footsteps": "Walk, footsteps",
    "laughing": "Laughter",
    "brushing teeth": "Toothbrush",
    "snoring": "Snoring",
    "drinking sipping": "Gargling",
    "door wood knock": "Knock",
    "mouse click": "Clicking",
    "keyboard typing": "Typing",
    "door wood creaks": "Creak",
    "can opening": "Burst, pop",
    "washing machine": "Mechanisms",
    "vacuum cleaner": "Vacuum cleaner",
    "clock alarm": "Alarm clock",
    "clock tick": "Tick-tock",
    "glass breaking": "Shatter",
    "helicopter": "Helicopter",
    "chainsaw": "Chainsaw",
    "siren": "Siren",
    "car horn": "Vehicle horn, car horn, honking",
    "engine": "Engine",
    "train": "Train",
    "church bells": "Church bell",
    "airplane": "Fixed-wing aircraft, airplane",
    "fireworks": "Fireworks",
    "hand saw": "Sawing",
})


@dataclass(frozen=True)
class AudioSetClass:
    """One AudioSet ontology class.

    ``index`` is the label index 0..526 of ``class_labels_indices.csv`` (-1 for
    ontology classes that are not among the 527 labels).
    """

    index: int
    mid: str
    name: str
    description: str


def load_ontology(*, root=None):
    """All 632 ontology classes by name: ``{name: AudioSetClass}`` (index -1 unless a label).

    Parameters
    ----------
    root : str or Path, optional
        Data root holding ``audioset/`` (default ``$REFZSL_DATA``).

    Raises
    ------
    MissingAssetError
        If ``audioset/ontology.json`` (or the labels csv) is absent.
    """
    label_index = {cls.mid: cls.index for cls in audioset_classes(root=root)}
    with open(config.asset_path("audioset_ontology", root=root), encoding="utf8") as handle:
        entries = json.load(handle)
    return {entry["name"]: AudioSetClass(label_index.get(entry["id"], -1), entry["id"], entry["name"],
                                         entry["description"].strip())
            for entry in entries}


def audioset_classes(*, root=None):
    """The 527 AudioSet labels in index order, with their ontology names and descriptions.

    Returns
    -------
    tuple[AudioSetClass] [527]

    Raises
    ------
    MissingAssetError
        If ``audioset/class_labels_indices.csv`` or ``audioset/ontology.json`` is absent.
    ValueError
        If a label's MID is not in the ontology, or indices are not 0..n-1.
    """
    with open(config.asset_path("audioset_ontology", root=root), encoding="utf8") as handle:
        by_mid = {entry["id"]: entry for entry in json.load(handle)}
    labels_path = config.asset_path("audioset_labels", root=root)
    with open(labels_path, newline="", encoding="utf8") as handle:
        rows = list(csv.DictReader(handle))
    classes = []
    for position, row in enumerate(rows):
        if int(row["index"]) != position:
            raise ValueError(f"{labels_path}: row {position} has index {row['index']!r}; expected {position}")
        entry = by_mid.get(row["mid"])
        if entry is None:
            raise ValueError(f"{labels_path}: label {row['display_name']!r} has MID {row['mid']!r}, "
                             "absent from ontology.json")
        classes.append(AudioSetClass(position, row["mid"], row["display_name"], entry["description"].strip()))
    return tuple(classes)


def esc50_audioset_classes(class_names=None, *, root=None):
    """The AudioSet ontology class mapped to each ESC-50 class.

    Parameters
    ----------
    class_names : sequence of str, optional
        ESC-50 class names (underscores or spaces); default all 50 in target order.
    root : str or Path, optional
        Data root holding ``audioset/`` (default ``$REFZSL_DATA``).

    Returns
    -------
    list[AudioSetClass]
        One per name, in the order given (:data:`ESC50_TO_AUDIOSET`).

    Raises
    ------
    KeyError
        If a name is not an ESC-50 class (the message lists them).
    """
    names = list(ESC50_TO_AUDIOSET) if class_names is None else [str(name).replace("_", " ")
                                                                   for name in class_names]
    unknown = [name for name in names if name not in ESC50_TO_AUDIOSET]
    if unknown:
        raise KeyError(f"Not ESC-50 classes: {unknown!r}; known: {', '.join(ESC50_TO_AUDIOSET)}")
    ontology = load_ontology(root=root)
    return [ontology[ESC50_TO_AUDIOSET[name]] for name in names]


def esc50_descriptions(class_names=None, *, root=None):
    """Sentence descriptions of ESC-50 classes, from their mapped AudioSet ontology classes.

    Parameters
    ----------
    class_names, root
        As in :func:`esc50_audioset_classes`.

    Returns
    -------
    list[str]
        One description per class, for the WSE, GSE and BSE parts of
        :func:`refzsl.semantic.class_embeddings`.

    Examples
    --------
    >>> esc50_descriptions(["dog"])  # doctest: +SKIP
    ['Any sounds coming from the familiar domesticated canid which has been ...']
    """
    return [cls.description for cls in esc50_audioset_classes(class_names, root=root)]


#: Which AudioSet classes a table holds: ``"labels"``, the 527 labels of ``class_labels_indices.csv``
#: (P2's AudioSet tables); ``"yamnet"``, YAMNet's 521 score columns (the open-vocabulary methods).
CLASS_SETS = ("labels", "yamnet")

#: What a BSE part embeds: the class's display name or its ontology description.
SENTENCE_TEXTS = ("name", "description")

#: Recipe and BSE text of the open-vocabulary default (chosen in :mod:`refzsl.models.conse`).
DEFAULT_RECIPE = "WLE+BSE"
DEFAULT_SENTENCE_TEXT = "name"

# Version of the part tables' cache entries: bump it when what a part table holds changes.
_TABLE_VERSION = 2


@dataclass(frozen=True)
class AudioSetEmbeddings:
    """φ(y) of a set of AudioSet classes for one recipe.

    Attributes
    ----------
    recipe : str
    embeddings : np.ndarray [shape=(n_classes, d), dtype=float32]
        Rows with no known word in some part are zero there.
    covered : np.ndarray [shape=(n_classes,), dtype=bool]
        True where every word-vector part found at least one word; ConSE only combines covered classes.
    n_missing_words : np.ndarray [shape=(n_classes,), dtype=int64] or None
        Out-of-vocabulary words skipped per class, summed over the parts (None for a table read
        back from a model file, which does not store them).
    classes : tuple[AudioSetClass]
        ``index`` is the label index (``classes="labels"``) or YAMNet's score column (``"yamnet"``).
    sentence_text : str in SENTENCE_TEXTS
        What the BSE part embedded.
    """

    recipe: str
    embeddings: np.ndarray
    covered: np.ndarray
    n_missing_words: np.ndarray
    classes: tuple
    sentence_text: str = "description"

    @property
    def mids(self):
        """AudioSet MIDs, one per row."""
        return tuple(cls.mid for cls in self.classes)

    @property
    def names(self):
        """Display names, one per row."""
        return tuple(cls.name for cls in self.classes)

    @property
    def descriptions(self):
        """Ontology descriptions, one per row."""
        return tuple(cls.description for cls in self.classes)


def yamnet_classes(*, root=None):
    """YAMNet's 521 classes (``yamnet_class_map.csv``) joined by MID with the AudioSet ontology.

    Returns
    -------
    tuple[AudioSetClass]
        ``index`` = YAMNet score column.

    Raises
    ------
    MissingAssetError
        If the class map or ``audioset/ontology.json`` is absent.
    ValueError
        If a YAMNet class is not in the ontology.
    """
    from ..acoustic.embedders import read_class_map
    rows = read_class_map(root=root)
    with open(config.asset_path("audioset_ontology", root=root), encoding="utf8") as handle:
        by_mid = {entry["id"]: entry for entry in json.load(handle)}
    missing = [mid for mid, _ in rows if mid not in by_mid]
    if missing:
        raise ValueError(f"{len(missing)} YAMNet classes are not in the AudioSet ontology: {missing[:5]}")
    return tuple(AudioSetClass(index, mid, name, by_mid[mid]["description"].strip())
                 for index, (mid, name) in enumerate(rows))


def _part_embeddings(part, texts, *, root=None, vectors_path=None, fallback=None, remove_stopwords=True,
                     unit_words=False, sentence_model=None, compact_cache=True):
    """φ of one recipe part for ``texts``: (float64 [n, d], n_known int64 [n], unknown words list[list[str]]).

    Word-vector parts read the data root's vectors (or ``vectors_path``) through the compact cache
    (no gensim import, ~1-4 s, per run); a sentence part knows every word.
    """
    source = semantic.PARTS[part][0]
    if source == "sentence":
        return (np.asarray(semantic.encode_sentences(list(texts), model=sentence_model), dtype=np.float64),
                np.ones(len(texts), dtype=np.int64), [[] for _ in texts])
    from .vectors import load_word_vectors
    keyed_vectors = load_word_vectors(source if vectors_path is None else vectors_path, root=root,
                                      compact_cache=compact_cache)
    tokens = [semantic.tokenize(text, remove_stopwords=remove_stopwords) for text in texts]
    return semantic.average_words(tokens, keyed_vectors, fallback=fallback, unit_words=unit_words)


def _part_table(part, texts, *, root, vectors_path, remove_stopwords, unit_words, sentence_model, cache):
    """(matrix float32 [n, d], n_known int64 [n], n_missing int64 [n]) of one part, cached by content."""
    options = dict(remove_stopwords=remove_stopwords, unit_words=unit_words)
    path = None
    if cache:
        key = content_key({"version": _TABLE_VERSION, "part": part, "texts": list(texts), **options,
                           "source": semantic.source_fingerprint(part, root=root, vectors=vectors_path,
                                                                 sentence_model=sentence_model)})
        path = config.cache_dir() / "semantic" / f"audioset_{part}_{key}.npz"
        stored = read_cached_npz(path, names=("matrix", "n_known", "n_missing"))  # None if absent or damaged
        if stored is not None:
            return stored["matrix"], stored["n_known"], stored["n_missing"]
    means, n_known, missing = _part_embeddings(part, texts, root=root, vectors_path=vectors_path,
                                               sentence_model=sentence_model, compact_cache=cache, **options)
    matrix = means.astype(np.float32)
    n_missing = np.array([len(words) for words in missing], dtype=np.int64)
    if cache:  # atomic: several processes may build the same table at once
        write_cache(path, lambda stream: np.savez(stream, matrix=matrix, n_known=n_known, n_missing=n_missing))
    return matrix, n_known, n_missing


def audioset_embeddings(recipe="WLE", *, classes="labels", sentence_text="description", root=None, vectors=None,
                        normalize_parts=True, remove_stopwords=True, unit_words=False, sentence_model=None,
                        cache=True):
    """φ(y) of AudioSet classes for a recipe: the one AudioSet label-embedding table.

    Label parts (WLE, GLE) embed each class's display name, WSE/GSE its ontology description,
    and BSE what ``sentence_text`` says. Out-of-vocabulary words are skipped (the authors'
    AudioSet WLE skip them too: e.g. "bovinae", "campanology"); classes with no known word in
    some part are reported by ``covered`` rather than raising, since the shared vector subsets
    miss ~100 AudioSet label words ("meow", "sitar", ...).

    Parameters
    ----------
    recipe : str
        A key of :data:`refzsl.semantic.recipes.RECIPES`.
    classes : str in CLASS_SETS
        ``"labels"``: the 527 labels (:func:`audioset_classes`); ``"yamnet"``: YAMNet's 521 classes
        (:func:`yamnet_classes`), the ConSE / prototype-bilinear side.
    sentence_text : str in SENTENCE_TEXTS
        What BSE embeds: the ontology description (P2) or the display name (the open-vocabulary
        default :data:`DEFAULT_SENTENCE_TEXT`).
    root : str or Path, optional
        Data root (``audioset/``, ``vectors/``, YAMNet's class map).
    vectors : dict {"word2vec"|"glove": str or Path}, optional
        Vector files to use instead of the data root's (e.g. the full GoogleNews file).
    normalize_parts : bool
        L2-normalise each part's rows: for ``"labels"`` when the recipe has several parts, as
        :func:`refzsl.semantic.recipes.class_embeddings` does; for ``"yamnet"`` always (ConSE weights
        rows by probability, and a row's length would weigh in too).
    remove_stopwords, unit_words, sentence_model
        As in :func:`refzsl.semantic.recipes.class_embeddings`.
    cache : bool
        Read/write each part's table under ``config.cache_dir()/semantic``, keyed by the texts, a
        fingerprint of the vector file or model, and the options (:func:`refzsl._util.cache.content_key`).

    Returns
    -------
    AudioSetEmbeddings

    Raises
    ------
    ValueError
        Unknown recipe, ``classes`` or ``sentence_text``.
    MissingAssetError
        Labels, ontology, class map or word vectors absent.
    """
    parts = semantic.get_recipe(recipe)
    if classes not in CLASS_SETS:
        raise ValueError(f"classes must be one of {CLASS_SETS}, got {classes!r}")
    if sentence_text not in SENTENCE_TEXTS:
        raise ValueError(f"sentence_text must be one of {SENTENCE_TEXTS}, got {sentence_text!r}")
    members = audioset_classes(root=root) if classes == "labels" else yamnet_classes(root=root)
    blocks, covered = [], np.ones(len(members), dtype=bool)
    n_missing = np.zeros(len(members), dtype=np.int64)
    for part in parts:
        source, field = semantic.PARTS[part]
        if source == "sentence":
            field = "label" if sentence_text == "name" else "description"
        texts = [cls.name if field == "label" else cls.description for cls in members]
        vectors_path = None
        if source != "sentence" and vectors and source in vectors:
            vectors_path = resolve_vectors(vectors[source], root=root)
        matrix, n_known, missing = _part_table(part, texts, root=root, vectors_path=vectors_path,
                                               remove_stopwords=remove_stopwords, unit_words=unit_words,
                                               sentence_model=sentence_model, cache=cache)
        blocks.append(matrix)
        covered &= n_known > 0
        n_missing += missing
    if normalize_parts and classes == "yamnet":
        blocks = [semantic.l2_normalise_rows(block) for block in blocks]
        embeddings = np.concatenate(blocks, axis=1).astype(np.float32)
    else:
        embeddings = semantic._concatenate_parts(blocks, normalize_parts=normalize_parts)
    return AudioSetEmbeddings("+".join(parts), embeddings, covered, n_missing, members, sentence_text)


# -- free-text labels in the space of the YAMNet-class table (the open-vocabulary side) -------------

_MEMO = {}


def _memoised(key, build):
    """In-process memo: a scorer pair (fused) asks for the same tables, label φ and shipped model twice."""
    if key not in _MEMO:
        if len(_MEMO) > 64:
            _MEMO.clear()
        _MEMO[key] = build()
    return _MEMO[key]


def label_embeddings(labels, recipe=DEFAULT_RECIPE, *, root=None, fallback=None, oov="skip"):
    """φ of free-text labels in the space of ``audioset_embeddings(classes="yamnet")`` (every part embeds the label).

    Parameters
    ----------
    labels : sequence of str [n]
    recipe : str
        As for :func:`audioset_embeddings`.
    root : str or Path, optional
    fallback : mapping str -> str or sequence of str, optional
        Replacements for unknown words (e.g. :data:`refzsl.semantic.ESC50_WORD_FALLBACK`).
    oov : str in refzsl.semantic.recipes.OOV_POLICIES
        Words missing from a word-vector part: ``"skip"`` (default) averages the known words
        and warns; a label with no known word gets a zero part there and is then scored by its
        other parts (a sentence part knows every word). ``"error"``: raise.

    Returns
    -------
    np.ndarray [shape=(n, d), dtype=float32]
        Each part L2-normalised (zero where a part knows no word of the label).

    Raises
    ------
    OutOfVocabularyError
        Under ``oov="error"`` for any unknown word, or when some label has no known word in
        any part (``.missing`` label -> words, ``.suggestions`` word -> close known words).
    """
    if oov not in semantic.OOV_POLICIES:
        raise ValueError(f"oov must be one of {semantic.OOV_POLICIES}, got {oov!r}")
    labels = tuple(labels)
    fallback_key = None if fallback is None else tuple(sorted((k, tuple(v) if not isinstance(v, str) else v)
                                                             for k, v in dict(fallback).items()))
    return _memoised(("labels", labels, recipe, str(root), fallback_key, oov),
                     lambda: _build_label_embeddings(list(labels), recipe, root, fallback, oov)).copy()


def _build_label_embeddings(labels, recipe, root, fallback, oov):
    import warnings
    blocks, any_known, missing = [], np.zeros(len(labels), dtype=bool), {}
    for part in semantic.get_recipe(recipe):
        matrix, n_known, unknown = _part_embeddings(part, labels, root=root, fallback=fallback)
        blocks.append(semantic.l2_normalise_rows(matrix))
        any_known |= n_known > 0
        for label, words in zip(labels, unknown):
            if words:
                missing.setdefault(label, []).extend(w for w in words if w not in missing.get(label, []))
    if missing and (oov == "error" or not any_known.all()):
        shown = missing if oov == "error" else {label: missing[label] for label, ok in zip(labels, any_known)
                                                 if not ok}
        words = {word for label_words in shown.values() for word in label_words}
        parts = [(vectors, {word for word in words if word not in vectors.key_to_index})
                 for _, vectors in sorted(semantic.cached_word_vectors(recipe, root=root).items())]
        raise semantic.out_of_vocabulary_error(
            recipe, shown, parts, texts="labels",
            reason="unknown words in" if oov == "error" else "no known word in any part of")
    if missing:
        warnings.warn(f"Recipe {recipe}: skipped unknown words {missing} (the other parts still embed them)",
                      RuntimeWarning, stacklevel=5)  # the caller of label_embeddings (via the memo)
    return np.concatenate(blocks, axis=1).astype(np.float32)


def yamnet_ancestors(*, root=None):
    """For each of YAMNet's 521 classes, the YAMNet classes above it in the AudioSet ontology.

    The ontology is a graph (a class may have several parents, e.g. "Cat" under "Domestic
    animals, pets" only, "Dog" likewise); every class reachable upwards counts, and only those
    that are YAMNet outputs are returned ("Animal" is, the abstract "Human sounds" is not).

    Parameters
    ----------
    root : str or Path, optional
        Data root (YAMNet class map, ``audioset/ontology.json``).

    Returns
    -------
    tuple [521] of np.ndarray [dtype=int64]
        Sorted YAMNet column indices of each class's ancestors (empty for top-level classes).
    """
    with open(config.asset_path("audioset_ontology", root=root), encoding="utf8") as handle:
        entries = json.load(handle)
    parents = {}
    for entry in entries:
        for child in entry.get("child_ids", ()):
            parents.setdefault(child, set()).add(entry["id"])
    mids = [cls.mid for cls in yamnet_classes(root=root)]
    column = {mid: index for index, mid in enumerate(mids)}
    return tuple(np.array(sorted(column[p] for p in ancestor_mids(parents, mid) if p in column), dtype=np.int64)
                 for mid in mids)


def ancestor_mids(parents, mid):
    """Every ancestor of ``mid`` in the ontology graph ``parents`` (child MID -> set of parent MIDs)."""
    seen, stack = set(), list(parents.get(mid, ()))
    while stack:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            stack.extend(parents.get(parent, ()))
    return seen
