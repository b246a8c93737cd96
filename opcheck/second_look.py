"""The second look at one suspicious element: differences over a ladder of smaller
steps (``refine``: convergence, kinks, Richardson extrapolation) or of larger ones
(``widen``: for an element whose small steps drown in rounding). Pure numpy, as
``finite_diff``, whose step plans and evaluations it reuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .finite_diff import NOISE_FACTOR, Call, Project, StepPlan, evaluate_at, one_sided

#: A widened difference counts only if its outputs moved by this many rounding units.
RESOLVED = 64.0

#: Step ladder of the second look: h, h/2, h/4, h/8.
LADDER = 4


@dataclass
class Refinement:
    """A second look at one element: a ladder of steps, one-sided slopes, an error estimate."""

    estimate: float  # the finest step's estimate, Richardson-corrected where it applies
    error: float  # estimated absolute error of ``estimate``
    estimates: list[float]  # one per step of the ladder, coarsest first
    left: float | None  # one-sided slopes at the finest central step
    right: float | None
    kink: bool  # one-sided slopes differ by a jump that does not shrink with the step
    smooth: bool  # successive estimates converge as a smooth function's do


def refine(
    call: Call, flat: np.ndarray, i: int, plan: StepPlan, eps: float,
    project: Project, noise: Project, f0: Any, low: float, high: float,
) -> Refinement:
    """Evaluate steps h, h/2, h/4, h/8 around element i; say what the differences resolve.

    Each step is central where it fits inside [low, high] (so shrinking the step can turn
    a one-sided difference near a bound into a central one) and one-sided otherwise."""
    ladder = _Ladder()
    dtype = flat.dtype
    x = float(plan.original[i])
    step = float(plan.h[i])
    for _ in range(LADDER):
        if float(dtype.type(x + step)) == x or float(dtype.type(x - step)) == x:
            # The step is below the input's own resolution (a step already halved near a
            # bound, in a short float): no difference at this step or below means anything.
            nan = float("nan")
            return Refinement(ladder.estimates[-1] if ladder.estimates else nan, float("inf"),
                              ladder.estimates, ladder.left, ladder.right, kink=False, smooth=False)
        if x - step >= min(low, x) and x + step <= max(high, x):
            ladder.central(call, flat, i, plan, step, eps, project, noise, f0)
        else:
            side = 1.0 if x + 2 * step <= max(high, x) else -1.0
            ladder.one_sided(call, flat, i, plan, side * step, eps, project, noise, f0)
        step /= 2
    return ladder.judged()


@dataclass
class _Ladder:
    """The differences of ``refine``, one rung (step) at a time, coarsest first."""

    estimates: list[float] = field(default_factory=list)
    jumps: list[float] = field(default_factory=list)  # right - left slope (nan: one-sided)
    changed: list[bool] = field(default_factory=list)  # did this step move any output at all?
    rounding: float = 0.0  # the latest rung's rounding error
    left: float | None = None  # one-sided slopes at the latest central step
    right: float | None = None

    def central(self, call: Call, flat: np.ndarray, i: int, plan: StepPlan, step: float,
                eps: float, project: Project, noise: Project, f0: Any) -> None:
        (fp, sp), (fm, sm) = evaluate_at(call, flat, i, plan, step), evaluate_at(call, flat, i, plan, -step)
        self.estimates.append(project(fp, fm) / (sp - sm))
        self.right, self.left = project(fp, f0) / sp, project(f0, fm) / -sm
        self.jumps.append(self.right - self.left)
        moved = noise(fp, fm)
        self.rounding = eps * moved / (sp - sm)
        self.changed.append(moved > 0)

    def one_sided(self, call: Call, flat: np.ndarray, i: int, plan: StepPlan, step: float,
                  eps: float, project: Project, noise: Project, f0: Any) -> None:
        (f1, s1), (f2, s2) = evaluate_at(call, flat, i, plan, step), evaluate_at(call, flat, i, plan, 2 * step)
        self.estimates.append(one_sided(project, f0, f1, f2, s1, s2))
        self.rounding = eps * 3 * noise(f1, f0) / abs(s1)
        self.changed.append(noise(f1, f0) > 0 or noise(f2, f0) > 0)
        self.jumps.append(float("nan"))

    def judged(self) -> Refinement:
        """Kink, convergence and the extrapolated estimate from the last rungs."""
        estimates, rounding = self.estimates, self.rounding
        c1, c2, c3 = estimates[-3:]
        slope = max(abs(self.left or 0.0), abs(self.right or 0.0), abs(c3))
        significant = 50 * rounding + 1e-3 * slope
        # A kink's jump between one-sided slopes stays put as the step halves; a smooth
        # function's shrinks with the step.
        j1, j2 = self.jumps[-2:]
        kink = bool(abs(j2) > 0.75 * abs(j1) and abs(j2) > significant)
        # Smooth differences converge: each change is well below the previous one.
        allowance = NOISE_FACTOR * rounding + 1e-12 * slope
        c0 = estimates[-4] if len(estimates) > 3 else c1
        smooth = (abs(c3 - c2) <= 0.6 * abs(c2 - c1) + allowance
                  and abs(c2 - c1) <= 0.6 * abs(c1 - c0) + allowance)
        if any(self.changed) and not self.changed[-1]:
            # The finest step no longer moves the output (it drowned in the output's
            # rounding): its "derivative 0, error 0" says nothing.
            smooth = False
        same_scheme = not (np.isnan(j1) or np.isnan(j2))
        estimate = c3 + (c3 - c2) / 3.0 if same_scheme else c3
        error = abs(c3 - c2) + NOISE_FACTOR * rounding
        return Refinement(estimate, error, estimates, self.left, self.right, kink, smooth)


@dataclass
class Widening:
    """Second look with larger steps, for an element whose small steps drown in rounding."""

    estimate: float  # Richardson extrapolation from steps h and 2h
    raw: float  # the plain central difference at step h
    error: float  # estimated absolute error of ``estimate``
    raw_error: float  # estimated absolute error of ``raw``
    smooth: bool  # the differences shrink toward small steps, as a smooth function's do


def widen(
    call: Call, flat: np.ndarray, i: int, plan: StepPlan, eps: float,
    project: Project, noise_rms: Project, low: float, high: float,
) -> Widening | None:
    """Central differences at steps h, 2h and 4h around element i (None if 4h does not fit
    inside [low, high]). Rounding in a difference shrinks as the step grows, and
    Richardson extrapolation removes the h^2 term that grows; the spread between the two
    extrapolations measures what is left."""
    x = float(plan.original[i])
    h = float(plan.h[i])
    if x - 4 * h < min(low, x) or x + 4 * h > max(high, x):
        return None
    c: list[float] = []
    rounding = 0.0
    for step in (h, 2 * h, 4 * h):
        fp, sp = evaluate_at(call, flat, i, plan, step)
        fm, sm = evaluate_at(call, flat, i, plan, -step)
        moved, change = noise_rms(fp, fm), project(fp, fm)
        if sp == sm or abs(change) <= RESOLVED * eps * moved:
            # The outputs moved by a few units of their last place at most: outputs this
            # element affects may not have moved at all, and their rounding is not in
            # ``moved``. Such a difference cannot tell a small gradient from none.
            return None
        c.append(change / (sp - sm))
        if step == h:
            rounding = eps * moved / (sp - sm)
    c1, c2, c4 = c
    r1, r2 = (4 * c1 - c2) / 3, (4 * c2 - c4) / 3
    floor = NOISE_FACTOR * rounding
    return Widening(
        estimate=r1, raw=c1,
        error=abs(r1 - r2) + floor * 5 / 3,  # r1 carries (4 n_h + n_2h) / 3 of rounding
        raw_error=abs(c1 - c2) + floor,
        smooth=abs(c1 - c2) <= 0.6 * abs(c2 - c4) + 2 * floor,
    )
