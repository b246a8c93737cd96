"""Reductions a tiny op's audit makes dozens of times, without numpy's fixed cost.

A ufunc reduction (``a.all()``, ``a.max()``, ``np.maximum.reduce(a)``) costs ~2.3 us on a
dozen elements, most of it setting up its iterator; ``np.count_nonzero`` and
``a.argmax()`` take a fast path of their own (~0.7 us). At the seed's 3x4·4x5 size a
variant makes ~25 such reductions. These give the same answers: ``all_true`` counts what
``all`` tests (NaN is true for both), and ``largest``/``smallest`` read the element that
``argmax``/``argmin`` find, which is the first NaN where there is one, as ``max``/``min``
return NaN there. (Of equal maxima they pick the first: only the sign of a zero could
tell, and the callers pass no signed zeros: magnitudes and steps.)
"""

from __future__ import annotations

import numpy as np


def all_true(a: np.ndarray) -> bool:
    """``bool(a.all())``."""
    return np.count_nonzero(a) == a.size


def largest(a: np.ndarray) -> float:
    """``float(a.max())`` of a non-empty array."""
    flat = a.reshape(-1)
    return float(flat[flat.argmax()])


def smallest(a: np.ndarray) -> float:
    """``float(a.min())`` of a non-empty array."""
    flat = a.reshape(-1)
    return float(flat[flat.argmin()])
