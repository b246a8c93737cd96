"""Name the wrong elements behind a disagreeing projection: group testing by bisection.

A projection over a block of elements (two forward calls) disagrees with the analytic
one when the block holds a wrong element (or several whose errors do not cancel).
Halving the disagreeing blocks finds a single wrong element among n in about
2 log2(n) block tests; the suspects found are then checked element by element.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Blocks this small are handed over whole, as suspects, to the element-wise check.
LEAF = 4
#: Stop once this many suspects are found: enough to name the bug.
MAX_SUSPECTS = 32
#: At most this many block tests (each two forward calls) per localisation.
MAX_TESTS = 400


def bisect(candidates: np.ndarray, disagrees: Callable[[np.ndarray], bool]) -> np.ndarray:
    """Flat indices of the elements left in disagreeing blocks of at most ``LEAF``
    (``candidates`` itself is assumed to disagree)."""
    frontier = [candidates]
    suspects: list[np.ndarray] = []
    found = tests = 0
    while frontier and found < MAX_SUSPECTS and tests < MAX_TESTS:
        block = frontier.pop()
        if block.size <= LEAF:
            suspects.append(block)
            found += block.size
            continue
        half = block.size // 2
        for part in (block[half:], block[:half]):
            tests += 1
            if disagrees(part):
                frontier.append(part)
    return np.unique(np.concatenate(suspects)) if suspects else np.empty(0, dtype=np.intp)
