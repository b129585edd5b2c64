"""Argument checks shared by the modules: function arguments and command-line strings.

:func:`check_positive_int` validates a Python argument (TypeError / ValueError naming it); the
argparse ``type=`` converters turn a command-line string into a number or raise
``argparse.ArgumentTypeError`` with the same wording as the estimators' own checks (argparse
prefixes the option's name).
"""

import argparse
import math

import numpy as np

__all__ = ["check_positive_int", "positive_int", "non_negative_int", "positive_float", "non_negative_float"]


def check_positive_int(value, name, *, allow_none=False):
    """``int(value)`` for an integer >= 1 (or None when ``allow_none``).

    Raises
    ------
    TypeError
        If ``value`` is not an int (bools are refused); the message names ``name``.
    ValueError
        If ``value`` < 1.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def positive_int(text):
    """``int(text)``, which must be >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text):
    """``int(text)``, which must be >= 0 (seeds)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _finite_float(text, *, minimum, inclusive, description):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
        raise argparse.ArgumentTypeError(f"must be a finite number {description}, got {text!r}")
    return value


def positive_float(text):
    """``float(text)``, which must be finite and > 0."""
    return _finite_float(text, minimum=0.0, inclusive=False, description="> 0")


def non_negative_float(text):
    """``float(text)``, which must be finite and >= 0."""
    return _finite_float(text, minimum=0.0, inclusive=True, description=">= 0")
