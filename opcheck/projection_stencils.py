"""Where a projection's perturbed points go, and which elements it must leave out.

Away from the bounds of an input's range a projection is a central difference along a
signed direction d: f(x + d) - f(x - d) against <grad, 2d> (and x ± 2d for the repeat
that measures truncation). Where some element lies within reach of a bound, x - d would
leave the range: the projection becomes **one-sided**, second order, along the same
direction,

    4 (f(x + d) - f(x)) - (f(x + 2d) - f(x))   against   <grad, 4 (x1 - x) - (x2 - x)>

(x1, x2: the rounded points; the offset is 2d up to that rounding), with the sign of
each element within four steps of a bound pointing away from it, so x + d, x + 2d (and
the repeat's x + 2d, x + 4d) stay inside the range. Its truncation is -(2/3) J''' d^3
(twice the central one's, still t^3: the repeat at 2t measures it the same way) and its
rounding sqrt(4^2 + 1 + 3^2) = sqrt(26) units of the outputs instead of sqrt(2). Only an
element within four steps of **both** bounds (a range narrower than eight steps) is left
out of the projections and compared one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The one-sided stencil's rounding over the central one's: sqrt(16 + 1 + 9) / sqrt(2).
ONE_SIDED_NOISE = math.sqrt(13.0)


@dataclass
class Plan:
    """One input's projection points: ``step`` per element (0: left out), ``near`` the
    flat indices left out (compared one by one), ``one_sided`` whether the projections go
    x, x + d, x + 2d, and ``inward``/``signs``: elements whose direction is forced away
    from a bound, and that direction (+1 or -1)."""

    step: np.ndarray
    near: np.ndarray
    one_sided: bool
    inward: np.ndarray
    signs: np.ndarray


_NONE = np.empty(0, dtype=np.intp)


def plan(x64: np.ndarray, t: float, low: float, high: float, exclude_near: bool,
         near_limit: int, one_sided: bool | None = None) -> Plan | str:
    """The projections' plan for an input at ``x64``, or why they cannot cover it.
    ``one_sided``: None chooses (one-sided only where an element is within two steps of a
    bound, where a central difference or its repeat at 2t would leave the range); True
    forces it (a joint projection where another input needs it)."""
    step = np.abs(x64)
    np.maximum(step, 1.0, out=step)
    step *= t
    lo, hi = (float(x64.min()), float(x64.max())) if x64.size else (0.0, 0.0)
    reach = 4 * t * max(1.0, abs(lo), abs(hi))  # four of the largest step
    if not x64.size or (lo - reach >= low and hi + reach <= high):
        return Plan(step, _NONE, bool(one_sided), _NONE, np.empty(0))
    # (twice the step: one projection is repeated at 2t to measure truncation)
    close = (x64 - 2 * step < low) | (x64 + 2 * step > high)
    if one_sided is None:
        one_sided = bool(close.any())
    if not one_sided:
        return Plan(step, _NONE, False, _NONE, np.empty(0))
    if not exclude_near:
        # (half precision, small inputs: the full check, which sees what its coarse
        # projections cannot; see checker.near_policy)
        return (f"fast mode: {int(np.count_nonzero(close))} element(s) within a step of a bound "
                "of the input's range, which a central projection cannot reach: checked element by element")
    up = x64 + 4 * step <= high  # x + 4 step stays inside the range
    down = x64 - 4 * step >= low
    inward = np.flatnonzero(~(up & down))
    signs = np.where(up[inward], 1.0, -1.0)
    stuck = inward[~(up[inward] | down[inward])]  # neither way fits: one by one
    if stuck.size > near_limit:
        return (f"fast mode: {stuck.size} element(s) within four steps of both bounds of the "
                "input's range, which no projection can move: checked element by element")
    if stuck.size:
        step[stuck] = 0.0
        keep = up[inward] | down[inward]
        inward, signs = inward[keep], signs[keep]
    return Plan(step, stuck, True, inward, signs)


def orient(directions: np.ndarray, p: Plan) -> np.ndarray:
    """``directions`` (rows, or one row) with the forced elements pointing away from their
    bound, in place."""
    if p.inward.size:
        directions[..., p.inward] = np.abs(directions[..., p.inward]) * p.signs
    return directions


def one_sided_rows(x64: np.ndarray, directions: np.ndarray, dtype: np.dtype
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A batched call's stack for one-sided projections along ``directions`` (k, n) at t
    and 2t: row 0 is x, rows 1 + 3j.. hold x + d_j, x + 2 d_j, x + 4 d_j; and the realised
    offsets (2k, n): the k directions at t, then at 2t."""
    k, n = directions.shape
    stack = np.empty((1 + 3 * k, n), dtype=dtype)
    stack[0] = x64
    for j, scale in enumerate((1.0, 2.0, 4.0)):
        np.add(x64, scale * directions, out=stack[1 + j::3], casting="unsafe")
    moved = np.subtract(stack[1:], stack[0], dtype=np.float64)  # exact: x and x + d are close
    offsets = np.empty((2 * k, n))
    np.multiply(moved[0::3], 4.0, out=offsets[:k])
    offsets[:k] -= moved[1::3]
    np.multiply(moved[1::3], 4.0, out=offsets[k:])
    offsets[k:] -= moved[2::3]
    return stack, offsets


def one_sided_numeric(outputs: object, douts: list, k: int) -> np.ndarray:
    """<dout, 4 (Y[x + d] - Y[x]) - (Y[x + 2d] - Y[x])> for the k directions at t, then at
    2t, over a batched forward's outputs of ``one_sided_rows``' stack (and any rows after it), in float64."""
    outs = outputs if isinstance(outputs, tuple) else (outputs,)
    moved = np.zeros(3 * k)
    for y, d in zip(outs, douts):
        if d is None:
            continue
        y = np.asarray(y)
        y = y.reshape(y.shape[0], -1)
        moved += np.subtract(y[1 : 1 + 3 * k], y[0], dtype=np.float64) @ np.ravel(d).astype(np.float64)
    return np.concatenate([4 * moved[0::3] - moved[1::3], 4 * moved[1::3] - moved[2::3]])


def one_sided_offset(up: np.ndarray, up2: np.ndarray, x64: np.ndarray, out: np.ndarray,
                     scratch: np.ndarray) -> np.ndarray:
    """4 (x1 - x) - (x2 - x) into ``out``, in float64: the offset a one-sided pair at
    points ``up`` (x + d) and ``up2`` (x + 2d), both rounded to the input's dtype, realises
    (each difference exact, as x and x + d are close)."""
    np.subtract(up, x64, out=out, dtype=np.float64)
    out *= 4.0
    np.subtract(up2, x64, out=scratch, dtype=np.float64)
    out -= scratch
    return out
