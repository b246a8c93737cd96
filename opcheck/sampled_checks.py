"""The parts of fast and sampled checks after an input's projections: the elements near
a bound compared one by one (fast), a covering sample within the budget (sampled), and
localisation by bisection over element blocks when a projection disagreed."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from . import audit_progress, contract, coverage, localise, summary
from . import finite_diff as fd
from .joint_projection import PROJECTIONS
from .result import InputResult

if TYPE_CHECKING:
    from .checker import Directional, GradientChecker


def near_bound(c: GradientChecker, name: str, grad: np.ndarray | Directional, quick: InputResult) -> InputResult:
    """Fast mode: the projections passed over the elements away from a bound; compare
    the few near one element by element (one-sided differences where they must)."""
    near = c.near.get(name)
    if near is None or not near.size:
        return quick
    part = c.full(name, grad, near)
    part.coverage = f"{quick.coverage} + {near.size:,} elements near a bound"
    part.max_rel_error = summary.max_or_none(part.max_rel_error, quick.max_rel_error)
    return part


def sampled(c: GradientChecker, name: str, grad: np.ndarray, rng: np.random.Generator,
             quick: InputResult, extra: np.ndarray | None = None) -> InputResult:
    """Projections agreed: check a covering sample (and any elements near a bound)
    element by element, within the budget."""
    buf = c.bufs[name]
    picks = [coverage.covering_sample(buf.shape, rng, c.sample_limit)]
    near = c.near.get(name)
    if near is not None:
        picks.append(near)
    if extra is not None:
        picks.append(extra)
    indices = np.unique(np.concatenate(picks))
    if indices.size >= buf.size:
        return c.full(name, grad)
    part = c.full(name, grad, indices)
    part.coverage = coverage.describe(PROJECTIONS, indices.size, buf.size,
                                      joint=quick.method.startswith("joint projections"))
    part.max_rel_error = summary.max_or_none(part.max_rel_error, quick.max_rel_error)
    return part


def localised(c: GradientChecker, name: str, grad: np.ndarray, rng: np.random.Generator) -> InputResult:
    """A projection disagreed: bisect element blocks until the wrong elements are
    named, then check them (with the covering sample) element by element. If none is
    confirmed the disagreement stays unexplained: check every element."""
    buf = c.bufs[name]
    near = c.near.get(name)
    candidates = np.arange(buf.size)
    if near is not None and near.size:
        candidates = np.setdiff1d(candidates, near, assume_unique=True)
    signs = np.where(rng.integers(0, 2, size=buf.size) == 0, 1.0, -1.0)
    analytic = grad.astype(np.float64, copy=False).ravel()
    tests = 0

    def disagrees(block: np.ndarray) -> bool:
        nonlocal tests
        tests += 1
        return _block_disagrees(c, name, analytic, block, signs)

    try:
        suspects = localise.bisect(candidates, disagrees)
    except Exception as exc:
        raise contract.perturbation_error(exc, f"input {name!r}") from None
    placeholder = InputResult(name=name, shape=tuple(buf.shape), dtype=c.op.inputs[name].dtype,
                              status="pass", counts={})
    part = sampled(c, name, grad, rng, placeholder, suspects)
    if part.status == "fail":
        part.coverage += f"; a projection disagreed, localised by {tests} block projections"
        return part
    result = c.full(name, grad)
    result.notes.append("a projection disagreed but localisation named no wrong element: "
                        "checked element by element")
    return result


def _block_disagrees(c: GradientChecker, name: str, analytic: np.ndarray, block: np.ndarray,
                     signs: np.ndarray) -> bool:
    """Does the projection along ``signs`` restricted to ``block`` disagree?"""
    flat = c.bufs[name].reshape(-1)
    x = flat[block].copy()
    x64 = x.astype(np.float64)
    t = 2.0 ** round(math.log2(c.eps ** (1.0 / 3.0)))
    step = np.maximum(np.abs(x64), 1.0) * t * signs[block]
    up, down = (x64 + step).astype(flat.dtype), (x64 - step).astype(flat.dtype)
    offsets = up.astype(np.float64) - down.astype(np.float64)
    flat[block] = up
    fp = fd._copy(c.call())
    flat[block] = down
    fm = c.call()
    audit_progress.tick()
    flat[block] = x
    numeric = c.project(fp, fm)
    a = float(offsets @ analytic[block])
    allowed = (c.rtol * max(abs(a), abs(numeric))
               + fd.NOISE_FACTOR * c.eps * c.noise_rms_scale
               + c.atol * float(np.abs(offsets).sum()))
    return abs(a - numeric) > allowed
