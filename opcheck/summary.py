"""One input's element-wise outcomes summed up as an ``InputResult``: counts, the worst
element, the first mismatches, the unresolved ones, the heat map's errors, and the
coverage of a sampled check."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import coverage
from . import finite_diff as fd
from .reductions import all_true, largest, smallest
from .result import Element, InputResult

SHOWN_MISMATCHES = 5
#: A failing input keeps every element's |analytic - numeric| (for the heat map) up to
#: this size; past it the report keeps the worst elements only.
HEATMAP_ELEMENTS = 16384


def strict_pass(name: str, buf: np.ndarray, dtype: str, analytic: np.ndarray, numeric: np.ndarray,
                plan: fd.StepPlan, rtol: float, atol: float, noise: float) -> InputResult | None:
    """The result of an input whose every element is within the tolerance itself, without
    the rounding bound (``verdicts.judge`` passes each such element and looks at nothing
    again: ``summarise`` of all passes, computed once); None for any other input.
    ``noise``: the rounding bound's numerator (its estimate is noise / |width|)."""
    width = np.abs(plan.width)
    if not width.size or not all_true(width):
        return None
    size_a, size_n = np.abs(analytic), np.abs(numeric)
    diff = np.abs(analytic - numeric)
    allowed = rtol * np.maximum(size_a, size_n)
    if not all_true(diff <= (allowed + atol if atol else allowed)):  # (+ 0.0 changes no bit here)
        return None
    rel = diff / np.maximum(1e-8, size_a + size_n)
    return _passed(name, buf.shape, dtype, analytic, numeric, diff, rel, noise / width, plan,
                   rtol, atol, [])


def summarise(name: str, buf: np.ndarray, dtype: str, analytic: np.ndarray, numeric: np.ndarray,
               estimate: np.ndarray, outcome: np.ndarray, plan: fd.StepPlan, rtol: float,
               atol: float, notes: list[str]) -> InputResult:
    shape = buf.shape
    diff = np.abs(analytic - numeric)
    rel = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
    if outcome.size and not outcome.any():  # all passed (PASS is 0): the common case, lean
        return _passed(name, shape, dtype, analytic, numeric, diff, rel, estimate, plan, rtol,
                       atol, notes)
    tally = np.bincount(outcome, minlength=len(fd.OUTCOME_NAMES))
    counts = {label: int(n) for label, n in zip(fd.OUTCOME_NAMES, tally)}
    # Kinks and unresolved elements have no single numerical derivative to compare.
    compared = (outcome == fd.PASS) | (outcome == fd.FAIL)

    def element(i: int) -> Element:
        return _element(i, shape, analytic, numeric, diff, rel, estimate, outcome)

    failing = np.flatnonzero(outcome == fd.FAIL)
    failing = failing[np.argsort(-diff[failing], kind="stable")]
    if failing.size:
        worst = int(failing[0])
    elif compared.any():
        worst = int(np.flatnonzero(compared)[np.argmax(rel[compared])])
    else:
        worst = None
    unresolved = np.flatnonzero((outcome == fd.NONDIFF) | (outcome == fd.UNRELIABLE))[:3]
    if counts["nondifferentiable"]:
        notes.append(f"{counts['nondifferentiable']} element(s) sit at a kink (one-sided slopes differ); "
                     "not compared")
    if counts["unreliable"]:
        notes.append(f"{counts['unreliable']} element(s): numerical derivative unreliable here "
                     "(its estimates at steps h, h/2, h/4, h/8 do not converge to the tolerance)")
    if counts["pass"] + counts["fail"] == 0:
        notes.append("no element could be verified: every element is a kink or unresolvable")
    return InputResult(
        name=name, shape=tuple(shape), dtype=dtype,
        status="fail" if failing.size else "pass",
        counts=counts,
        max_rel_error=float(rel[compared].max()) if compared.any() else None,
        max_abs_error=float(diff[compared].max()) if compared.any() else None,
        worst=element(worst) if worst is not None else None,
        mismatches=[element(int(i)) for i in failing[:SHOWN_MISMATCHES]],
        unresolved=[element(int(i)) for i in unresolved],
        rtol=rtol, atol=atol, **_steps(plan, estimate),
        notes=notes,
        abs_errors=_abs_errors(diff, compared) if failing.size else None,
    )


def _element(i: int, shape: tuple[int, ...], analytic: np.ndarray, numeric: np.ndarray,
             diff: np.ndarray, rel: np.ndarray, estimate: np.ndarray, outcome: np.ndarray) -> Element:
    return Element(
        index=_unravel(i, shape),
        analytic=float(analytic[i]), numeric=float(numeric[i]), abs_error=float(diff[i]),
        rel_error=float(rel[i]), error_estimate=float(estimate[i]),
        outcome=fd.OUTCOME_NAMES[outcome[i]],
    )


def _passed(name: str, shape: tuple[int, ...], dtype: str, analytic: np.ndarray,
            numeric: np.ndarray, diff: np.ndarray, rel: np.ndarray, estimate: np.ndarray,
            plan: fd.StepPlan, rtol: float, atol: float, notes: list[str]) -> InputResult:
    """The result of a non-empty input whose every element passed."""
    worst = int(np.argmax(rel))
    return InputResult(
        name=name, shape=tuple(shape), dtype=dtype, status="pass",
        counts={"pass": diff.size, "fail": 0, "nondifferentiable": 0, "unreliable": 0},
        max_rel_error=float(rel[worst]), max_abs_error=largest(diff),
        worst=Element(
            index=_unravel(worst, shape),
            analytic=float(analytic[worst]), numeric=float(numeric[worst]),
            abs_error=float(diff[worst]), rel_error=float(rel[worst]),
            error_estimate=float(estimate[worst]), outcome="pass"),
        mismatches=[], unresolved=[], rtol=rtol, atol=atol, **_steps(plan, estimate),
        notes=notes, abs_errors=None,
    )


def _unravel(i: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``np.unravel_index(i, shape)`` as Python ints, in a third of its time at this size."""
    index = []
    for n in reversed(shape):
        i, k = divmod(int(i), n)
        index.append(k)
    return tuple(reversed(index))


def _steps(plan: fd.StepPlan, estimate: np.ndarray) -> dict[str, Any]:
    """The step plan's figures an ``InputResult`` reports."""
    return {
        "step_min": smallest(plan.h) if plan.h.size else 0.0,
        "step_max": largest(plan.h) if plan.h.size else 0.0,
        "one_sided": 0 if plan.all_central else int(np.count_nonzero(plan.kind != fd.CENTRAL)),
        "max_error_estimate": largest(estimate) if estimate.size else 0.0,
    }


def _abs_errors(diff: np.ndarray, compared: np.ndarray) -> list[float | None] | None:
    if diff.size > HEATMAP_ELEMENTS:
        return None
    return [float(d) if c else None for d, c in zip(diff.tolist(), compared.tolist())]


class Subset:
    """Elements ``index`` of a flat buffer, addressed as if they were the whole buffer:
    finite_diff's loops index a step plan and the buffer with the same i."""

    def __init__(self, flat: np.ndarray, index: np.ndarray) -> None:
        self.flat, self.index, self.dtype = flat, index, flat.dtype

    def __getitem__(self, i: int) -> Any:
        return self.flat[self.index[i]]

    def __setitem__(self, i: int, value: Any) -> None:
        self.flat[self.index[i]] = value

    def min(self) -> Any:
        return self.flat[self.index].min()

    def max(self) -> Any:
        return self.flat[self.index].max()


def reindex(result: InputResult, indices: np.ndarray, shape: tuple[int, ...]) -> None:
    """A sampled check's result was summarised over its sample: name the input's elements."""
    for element in [result.worst, *result.mismatches, *result.unresolved]:
        if element is not None and element.index:
            flat = int(indices[element.index[0]])
            element.index = tuple(int(k) for k in np.unravel_index(flat, shape)) if shape else ()
    result.shape = tuple(shape)
    result.abs_errors = None
    result.coverage = coverage.describe(0, indices.size, int(np.prod(shape)) if shape else 1)


def max_or_none(a: float | None, b: float | None) -> float | None:
    present = [v for v in (a, b) if v is not None]
    return max(present) if present else None
