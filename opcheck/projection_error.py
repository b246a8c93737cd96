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

#: A disagreeing projection's directions are repeated at t / SHRINK (``straddled_kink``).
SHRINK = 16.0


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


def settled(diff: np.ndarray, analytic: np.ndarray, numeric: np.ndarray, rtol: float, noise: float,
            spread: np.ndarray | float, atol: float) -> bool:
    """Do the first directions agree however small their truncation, the gradient's
    rounding and the inherited allowance (each only widens ``disagrees``' bounds), and
    within half the rounding floor beside rtol (what the repeat at 2t of a wrong
    gradient's direction, its error and projection both doubled, would hold it to)? Then
    no measurement of truncation can change the verdict: the repeat at 2t is skipped."""
    allowed = rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + 0.5 * noise + atol * spread
    return not (np.any(diff > allowed) or np.any(diff > fd.ERROR_ESTIMATE_FACTOR * noise + atol * spread))


def straddled_kink(errors: np.ndarray, analytic: np.ndarray, numeric: np.ndarray,
                   offsets: np.ndarray, rtol: float, noise: float, atol: float,
                   rounding: np.ndarray | None) -> bool:
    """Was a disagreement at step t a kink within the step, not a wrong gradient?
    ``errors``: the first directions' numeric - analytic at t; the rest: the same
    directions at t / SHRINK (their first ``errors.size`` pairs). A wrong gradient's error
    is <e, offset>, linear in the step: SHRINK times smaller at t / SHRINK. A kink that
    the step straddled (relu at |x_i| < t) leaves no such trace once the step no longer
    reaches it, and smooth truncation shrinks as t^3. So: yes when the errors shrank to at
    most half of what a wrong gradient's would (summed over the directions), **and** every
    direction agrees at the smaller step (``agrees_plainly``)."""
    k = errors.size
    small = numeric[:k] - analytic[:k]
    if SHRINK * float(np.abs(small).sum()) > 0.5 * float(np.abs(errors).sum()):
        return False  # the error moved with the step, as a wrong gradient's does
    return agrees_plainly(analytic[:k], numeric[:k], offsets[:k], rtol, noise, atol, rounding)


def agrees_plainly(analytic: np.ndarray, numeric: np.ndarray, offsets: np.ndarray, rtol: float,
                   noise: float, atol: float, rounding: np.ndarray | None) -> bool:
    """Does every direction agree within rtol, the outputs' rounding floor, atol and the
    gradient's rounding, with no allowance for truncation (at t / SHRINK, where it is
    SHRINK^2 times smaller relative to the projection than at t)?"""
    allowed = rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + noise
    if atol:
        allowed = allowed + atol * np.abs(offsets).sum(axis=1)
    if rounding is not None:
        allowed = allowed + rounding[: analytic.size]
    return bool(np.all(np.abs(numeric - analytic) <= allowed))


def leans_on_truncation(analytic: np.ndarray, numeric: np.ndarray, repeats: Sequence[int],
                        rtol: float) -> bool:
    """Is a direction's allowance for measured truncation larger than its rtol tolerance?
    Smooth truncation that large means the step is coarse for the function; a kink that
    the step and its repeat at 2t both straddle measures as that much "truncation" and
    could cover a wrong gradient. Such an agreement is confirmed at t / SHRINK."""
    if not repeats:
        return False
    k = analytic.size - len(repeats)
    trunc = fd.ERROR_ESTIMATE_FACTOR * truncation(analytic, numeric, repeats)[:k]
    return bool(np.any(trunc > rtol * np.maximum(np.abs(analytic[:k]), np.abs(numeric[:k]))))
