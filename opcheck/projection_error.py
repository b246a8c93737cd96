"""A projection's own error, and whether a projection disagrees beyond it.

Fast mode compares <dout, J d> (central differences at step t) with <grad, d> along a few
random signed directions d, and repeats directions at 2t: truncation grows as t^3 in the
differences while a wrong gradient's error grows as t, so a repeat measures its
direction's truncation as |e_2t - 2 e_t| / 6. Which direction is repeated matters:
truncation differs from one direction to the next (groupnorm, logdet_spd: a direction
whose projection nearly cancels has almost none, and the others' relative truncation,
1.6e-6, exceeded float64's rtol of 1.5e-6 unmeasured). So a loop of one call per pair
repeats the worst-agreeing direction, and a batched call repeats every direction.

A difference is a disagreement when it exceeds either bound:
- the rtol bound, rtol * |projection| + the outputs' rounding + the measured truncation
  (as full mode passes an element within rtol plus its error estimates);
- the measured bound, truncation plus the outputs' and the gradient's rounding, which a
  single wrong element among many cannot hide under.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import finite_diff as fd


def worst(analytic: np.ndarray, numeric: np.ndarray) -> int:
    """The direction whose difference is furthest from its projection: the one to repeat
    at twice the step (if truncation explains its error, it explains the others')."""
    return int(np.argmax(np.abs(numeric - analytic)))


def truncation(analytic: np.ndarray, numeric: np.ndarray, repeats: Sequence[int]) -> np.ndarray:
    """Each pair's truncation error. The last ``len(repeats)`` pairs repeat directions
    ``repeats`` at 2t: there it is |e_2t - 2 e_t| / 6, 8x that for the repeat itself; a
    direction not repeated gets the largest measured one, scaled by its projection
    against the measured direction's (never below it)."""
    e = numeric - analytic
    k = e.size - len(repeats)
    rep = np.asarray(repeats, dtype=np.intp)
    own = np.abs(e[k:] - 2 * e[rep]) / 6
    scale = np.abs(analytic[:k, None]) / np.maximum(np.abs(analytic[rep]), 1e-300)[None, :]
    out = np.empty(e.size)
    out[:k] = (own[None, :] * np.maximum(scale, 1.0)).max(axis=1)
    out[rep] = own
    out[k:] = 8 * own
    return out


def disagrees(diff: np.ndarray, analytic: np.ndarray, numeric: np.ndarray, rtol: float,
              noise: float, spread: np.ndarray | float, atol: float, rounding: np.ndarray | None,
              repeats: Sequence[int], allowance: np.ndarray | float = 0.0) -> bool:
    """Does any projection disagree beyond its tolerance? ``rounding``: the gradient's
    own rounding per pair (None where the gradient is not a dense array: then only the
    rtol bound, without a truncation measurement it could not compare with).
    ``allowance``: what a correct gradient inherits from the forward's loss of digits,
    per pair (``conditioning``), added to both bounds."""
    allowed = rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + noise + atol * spread + allowance
    if rounding is None:
        return bool(np.any(diff > allowed))
    trunc = fd.ERROR_ESTIMATE_FACTOR * truncation(analytic, numeric, repeats)
    if np.any(diff > allowed + trunc):
        return True
    measured = trunc + fd.ERROR_ESTIMATE_FACTOR * noise + rounding + atol * spread + allowance
    # (the repeats at 2t only measure: their own truncation is 8x their direction's)
    k = diff.size - len(repeats)
    return bool(np.any(diff[:k] > measured[:k]))
