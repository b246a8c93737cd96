"""The gallery: numpy NN layers with the bugs people really write (``buggy``), and correct
layers that are hard to check (``tricky``). ``tests/test_gallery.py`` audits every one.

Each entry is a ``Case``: the op, the verdict the audit owes it, and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opcheck import Op


@dataclass(frozen=True)
class Case:
    """One gallery op and what the audit must conclude about it."""

    op: Op
    expected: str  # "pass", "fail" (a wrong gradient) or "error" (a broken contract)
    why: str
    #: The inputs whose gradient is wrong ("fail" cases): exactly these may fail.
    input: str | tuple[str, ...] | None = None
    #: A regex the report's message must match.
    match: str | None = None
    #: Variant labels where the bug cannot show (they must pass): the variants found it.
    hidden_in: tuple[str, ...] = ()
    #: The wrong gradient has the right sum, so an all-ones projection cannot see it.
    sum_preserving: bool = False

    @property
    def wrong_inputs(self) -> set[str]:
        if self.input is None:
            return set()
        return {self.input} if isinstance(self.input, str) else set(self.input)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
