"""The one key scheme of refzsl's disk caches.

Every cache under ``config.cache_dir()`` (compact word vectors, semantic tables, open-vocabulary
tables and models, extracted segments) names its files by the content that determines them, never by
time or by a counter: two processes building the same entry write the same name, and a changed input
(a rewritten file, another option) gets a new one.
"""

import hashlib
import json

__all__ = ["content_key"]


def content_key(data, *, length=24):
    """sha256 (hex) of what an entry depends on.

    Parameters
    ----------
    data : str or JSON-serialisable
        A string is hashed as its UTF-8 bytes; anything else as its JSON with sorted keys, so that
        dict order does not change the key.
    length : int in [1, 64]
        Hex digits kept (24, 96 bits, is ample for a cache folder; 64 keeps the whole digest).

    Returns
    -------
    str

    Examples
    --------
    >>> content_key({"b": 1, "a": [2, 3]}) == content_key({"a": [2, 3], "b": 1})
    True
    """
    text = data if isinstance(data, str) else json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
