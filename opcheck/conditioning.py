"""How many digits the forward itself loses at its declared dtype, measured.

A backward computed in float32 can be no more accurate than its forward allows: a float32
variance of values near 2048 loses about three digits to cancellation in ``x - mean``, and
so does its gradient ``2 (x - mean) / N`` — however carefully it is computed. A tolerance
taken from the dtype alone fails such a correct op. Moving every input by about one
rounding unit (a relative ``eps``, at random signs) and watching how far the checked
scalar ``L = <dout, forward>`` moves measures that loss directly, in two forward calls:
a well-conditioned forward moves ``L`` by about its own rounding, one that cancels moves
it by ``10^k`` times more. The checker widens its tolerance by what the forward loses and
no more, so a backward losing digits its forward keeps still fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: Random-sign perturbations of the inputs; the root mean square of L's moves counts.
DRAWS = 4
#: A correct backward's error is at most this many times the measured loss (docs/method.md).
FACTOR = 4.0
#: At or below this condition the forward loses at most a digit: no wider tolerance. A
#: well-conditioned forward measures about 1 (up to 2.4 seen: float16 exp on [-4, 4]), and
#: widening there would let a large gradient excuse a wrong small one (float16 exp whose
#: backward zeroes the gradients below 0.14, the adversarial gallery's exp_flush case).
WELL_CONDITIONED = 10.0


def condition(forward: Callable[..., Any], values: Mapping[str, np.ndarray], names: Sequence[str],
              douts: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], eps: float,
              rng: np.random.Generator) -> float:
    """|L(x (1 + eps s)) - L(x)| / (eps sum |dout f|), the root mean square over ``DRAWS``
    random sign vectors s moving the inputs ``names`` together: about 1 or less for a
    well-conditioned forward (a random walk of rounding errors), large where it cancels.
    A forward that raises or returns non-finite values there measures 1: no widening."""
    weights = [np.empty(0) if d is None else np.ravel(d).astype(np.float64) for d in douts]
    scale = sum(float(np.abs(w) @ np.abs(np.ravel(o).astype(np.float64)))
                for w, o in zip(weights, outs) if w.size)
    if not scale or not math.isfinite(scale):
        return 1.0
    base = _project(weights, outs)
    moves = 0.0
    for _ in range(DRAWS):
        moved = dict(values)
        for name in names:
            x = values[name]
            if x.dtype.kind != "f" or not x.size:
                continue
            x64 = x.astype(np.float64)
            signs = np.where(rng.integers(0, 2, size=x.shape) == 0, 1.0, -1.0)
            moved[name] = (x64 + x64 * eps * signs).astype(x.dtype)
        try:
            with np.errstate(all="ignore"):
                raw = forward(**moved)
                again = list(raw) if isinstance(raw, tuple) else [raw]
                same = len(again) == len(outs)
                value = _project(weights, [np.asarray(o) for o in again]) if same else math.nan
        except Exception:  # noqa: BLE001 (its contract was checked at the given inputs only)
            return 1.0
        if not math.isfinite(value):
            return 1.0
        moves += (value - base) ** 2
    return math.sqrt(moves / DRAWS) / (eps * scale)


def _project(weights: Sequence[np.ndarray], outs: Sequence[np.ndarray]) -> float:
    return sum(float(w @ np.ravel(o).astype(np.float64))
               for w, o in zip(weights, outs) if w.size)


def projected_norm(numeric: np.ndarray, offsets: np.ndarray) -> float:
    """||gradient||_2 estimated from numeric projections <g, d_k> along random-sign
    directions d_k (E <g, d>^2 = sum g_i^2 d_i^2): sqrt(n mean_k (n_k / ||d_k||)^2)."""
    lengths = np.sqrt(np.square(offsets).sum(axis=1))
    ok = lengths > 0
    if not ok.any():
        return 0.0
    return math.sqrt(offsets.shape[1] * float(np.mean(np.square(numeric[ok] / lengths[ok]))))


def inherited(kappa: float, eps: float, gradient_norm: float) -> float:
    """The absolute error per gradient element that a correct backward inherits from a
    forward of condition ``kappa``: ``FACTOR * kappa * eps * ||gradient||_2`` (the norm of
    the numeric gradient, not the backward's, so a wrong gradient cannot widen its own
    tolerance); 0 for a forward that loses at most a digit."""
    if kappa <= WELL_CONDITIONED or not math.isfinite(gradient_norm):
        return 0.0
    return FACTOR * kappa * eps * gradient_norm


def describe(kappa: float, eps: float, widened: float) -> str:
    """The note a report carries when the tolerance was widened."""
    digits = math.log10(max(kappa, 1.0))
    return (f"the forward loses about {digits:.1f} digits at its precision (eps {eps:.3g}; moving "
            f"the inputs by one rounding moves <dout, out> {kappa:.3g} times its own rounding): "
            f"a correct backward loses them too, so atol was widened by {widened:.3g}")
