"""BERT's uncased WordPiece tokenizer in plain Python (the ``BertTokenizer`` of all-MiniLM-L6-v2).

Why: the sentence encoder must run on the core install, and the Rust ``tokenizers``
package brings ``huggingface_hub`` and its dependencies along (tens of MB) for what
is, for BERT, a page of text processing. This module follows the reference
``BertTokenizer`` (``transformers`` / Google's ``tokenization.py``) step by step:

1. clean: drop NUL, U+FFFD and control characters; any white space becomes a space;
2. put spaces around CJK ideographs;
3. lower-case, then strip accents (NFD, drop combining marks);
4. split on white space, then split off every punctuation character;
5. WordPiece: greedy longest match against the vocabulary, continuation pieces
   prefixed ``##``; a word longer than 100 characters, or with no match, is ``[UNK]``;
6. ``[CLS] … [SEP]``, truncated to ``max_length`` tokens.

``reference_tests/unit/test_wordpiece.py`` checks it against ``tokenizers`` on the
AudioSet ontology's names and descriptions, when that package is installed.
"""

import unicodedata

__all__ = ["WordPieceTokenizer"]

_MAX_WORD_CHARS = 100  # BERT's max_input_chars_per_word


def _is_whitespace(char):
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char):
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
    code = ord(char)
    # ASCII symbols such as "$", "^" and "`" are not Unicode punctuation, but BERT splits them too.
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code):
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


class WordPieceTokenizer:
    """Token ids of texts for an uncased BERT vocabulary.

    Parameters
    ----------
    vocab_path : str or Path
        ``vocab.txt``: one token a line, the line number is the id.
    max_length : int > 2
        Longest output, ``[CLS]`` and ``[SEP]`` included (longer texts are truncated).

    Raises
    ------
    ValueError
        If the vocabulary lacks one of ``[CLS]``, ``[SEP]``, ``[UNK]``.
    """

    def __init__(self, vocab_path, *, max_length=512):
        with open(vocab_path, encoding="utf-8") as handle:
            tokens = [line.rstrip("\n") for line in handle]
        self.vocab = {token: index for index, token in enumerate(tokens)}
        missing = [token for token in ("[CLS]", "[SEP]", "[UNK]") if token not in self.vocab]
        if missing:
            raise ValueError(f"{str(vocab_path)!r} is not a BERT vocabulary: it lacks {missing}")
        self.max_length = int(max_length)

    def _words(self, text):
        chars = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                chars.append(" ")
            elif _is_cjk(code):
                chars.append(f" {char} ")
            else:
                chars.append(char)
        words = []
        for word in "".join(chars).lower().split():
            word = "".join(char for char in unicodedata.normalize("NFD", word)
                           if unicodedata.category(char) != "Mn")
            current = ""
            for char in word:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _pieces(self, word):
        if len(word) > _MAX_WORD_CHARS:
            return [self.vocab["[UNK]"]]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.vocab["[UNK]"]]
            start = end
        return pieces

    def encode(self, text):
        """Token ids of one text: ``[CLS]``, its WordPiece ids, ``[SEP]``.

        Parameters
        ----------
        text : str

        Returns
        -------
        list of int [length <= max_length]
        """
        ids = [piece for word in self._words(text) for piece in self._pieces(word)]
        return [self.vocab["[CLS]"]] + ids[:self.max_length - 2] + [self.vocab["[SEP]"]]
