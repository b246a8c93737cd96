"""Per-element verdicts of the element-wise check: each element's difference against
the tolerance and its rounding bound, the own-rounding look where a pass leans on the
global bound, the forward's inherited loss of digits, and second looks (``second_look``)
at the suspicious elements, worst first, until enough failures are confirmed."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from . import finite_diff as fd
from . import second_look

if TYPE_CHECKING:
    from .checker import GradientChecker

#: Once this many elements of an input are confirmed wrong, the verdict is settled and the
#: remaining suspicious ones skip the (eight-call) second look.
CONFIRMED_ENOUGH = 64


def judge(c: GradientChecker, name: str, flat: np.ndarray, plan: fd.StepPlan, analytic: np.ndarray,
              numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(each element's outcome, its numeric value's error estimate, notes): ``numeric``
    is refined in place where a second look measured it better."""
    notes: list[str] = []
    width = np.abs(plan.width)
    if width.all():
        estimate = fd.NOISE_FACTOR * c.eps * c.output_scale / width
    else:
        with np.errstate(divide="ignore"):  # a step below the input's resolution: inf
            estimate = fd.NOISE_FACTOR * c.eps * c.output_scale / width
    diff = np.abs(analytic - numeric)
    allowed = c.rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + c.atol
    strict = diff <= allowed
    if strict.all():  # every element within the tolerance itself: nothing below can change
        return np.zeros(diff.size, np.int8), estimate, notes
    within = diff <= allowed + estimate
    outcome = np.where(within, fd.PASS, fd.FAIL).astype(np.int8)
    # The rounding bound above is global (largest |dout| times largest |f|): lenient for
    # an element whose own outputs are small. Where a pass rests on it, bound the
    # element's own rounding (two more calls) and pass it only within that.
    leaning = within & ~strict
    for i in (np.flatnonzero(leaning & (plan.kind == fd.CENTRAL)).tolist() if leaning.any() else ()):
        own = fd.NOISE_FACTOR * c.eps * fd.own_rounding(c.call, flat, i, plan, c.noise)
        estimate[i] = min(estimate[i], own / width[i])
        if diff[i] > allowed[i] + estimate[i]:
            outcome[i] = fd.FAIL
    # What a correct backward inherits from its forward's loss of digits (conditioning.py),
    # measured only when some element would fail without it.
    widened = c.inherited(name, numeric, notes) if (outcome == fd.FAIL).any() else 0.0
    atol = c.atol + widened
    if widened:
        allowed += widened
        strict = diff <= allowed
        outcome[diff <= allowed + estimate] = fd.PASS
    suspicious = np.flatnonzero(outcome == fd.FAIL)
    # Worst first, so that a wrong gradient is confirmed after a few second looks.
    suspicious = suspicious[np.argsort(-(diff[suspicious] / (allowed[suspicious] + estimate[suspicious])), kind="stable")]
    confirmed = 0
    low, high = c.op.inputs[name].bounds
    if suspicious.size:  # given inputs may lie outside the range: widen it as plan_steps does
        low, high = min(low, float(flat.min())), max(high, float(flat.max()))
    for position, i in enumerate(suspicious.tolist()):
        if confirmed >= CONFIRMED_ENOUGH:
            rest = suspicious.size - position
            notes.append(f"{rest} more suspicious element(s) were counted as failures without a "
                         f"second look, after {confirmed} confirmed failures")
            break
        outcome[i], numeric[i], estimate[i] = _second_look(
            c, flat, i, plan, float(analytic[i]), low, high, numeric[i], estimate[i], atol)
        confirmed += outcome[i] == fd.FAIL
    passed = outcome == fd.PASS
    if not strict.any() and passed.any() and not (outcome == fd.FAIL).any():
        final = c.rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + atol
        if not np.any(passed & (np.abs(analytic - numeric) <= final)):
            notes.append("no element could be verified: every difference is within its own "
                         "rounding bound (the steps that fit the input's range barely move the "
                         "output), so a wrong gradient would pass here too")
    return outcome, estimate, notes


def _second_look(c: GradientChecker, flat: np.ndarray, i: int, plan: fd.StepPlan, a: float,
                 low: float, high: float, numeric: float, estimate: float,
                 atol: float) -> tuple[int, float, float]:
    """Element i looked suspicious: (its outcome, numeric value, error estimate) after
    differences over a ladder of smaller steps, and larger ones if those cannot resolve it."""
    r = second_look.refine(c.call, flat, i, plan, c.eps, c.project, c.noise, c.f0, low, high)
    if not math.isnan(r.estimate):
        numeric, estimate = r.estimate, r.error
    tol = c.rtol * max(abs(a), abs(r.estimate)) + atol
    if r.kink:
        lo, hi = sorted((r.left, r.right))
        slack = tol + r.error
        outcome = fd.NONDIFF if lo - slack <= a <= hi + slack else fd.FAIL
    elif not r.smooth or (
        r.estimates[-1] == 0.0
        and abs(a) * plan.h[i] / 4 < fd.NOISE_FACTOR * c.eps * c.noise_scale
    ):
        # Not converging, or the finest step (h/8, central: 2 * h/8 wide) cannot move
        # the output past its own rounding: the difference cannot resolve it.
        outcome = fd.UNRELIABLE
    elif abs(a - r.estimate) > tol + fd.ERROR_ESTIMATE_FACTOR * r.error:
        outcome = fd.FAIL
    elif r.error > tol:
        outcome = fd.UNRELIABLE
    else:
        outcome = fd.PASS
    if outcome == fd.UNRELIABLE:
        return _widened(c, flat, i, plan, a, low, high, numeric, estimate, atol)
    return outcome, numeric, estimate


def _widened(c: GradientChecker, flat: np.ndarray, i: int, plan: fd.StepPlan, a: float, low: float,
             high: float, numeric: float, error: float,
             atol: float) -> tuple[int, float, float]:
    """Small steps could not resolve element i: look with steps h, 2h, 4h. A failure
    needs both the extrapolated and the plain difference to disagree beyond their
    errors (a kink within 4h can fool one of them, not both)."""
    w = second_look.widen(c.call, flat, i, plan, c.eps, c.project, c.noise_rms, low, high)
    if w is None or not w.smooth:
        return fd.UNRELIABLE, numeric, error
    tol = c.rtol * max(abs(a), abs(w.estimate)) + atol
    if (abs(a - w.estimate) > tol + fd.ERROR_ESTIMATE_FACTOR * w.error
            and abs(a - w.raw) > tol + fd.ERROR_ESTIMATE_FACTOR * w.raw_error):
        return fd.FAIL, w.estimate, w.error
    if w.error <= tol and abs(a - w.estimate) <= tol + w.error:
        return fd.PASS, w.estimate, w.error
    return fd.UNRELIABLE, numeric, error
