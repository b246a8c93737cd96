"""Fast mode's projections of one input: <dout, J d> by central differences against
<backward(dout), d> for ``PROJECTIONS`` random signed directions d, plus one pair at twice
the step that measures the differences' truncation error. ``joint_projection`` does the
same over all inputs at once; this runs where it does not apply or disagreed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import audit_progress, batching, joint_projection
from . import finite_diff as fd
from .joint_projection import PROJECTIONS
from .result import InputResult

if TYPE_CHECKING:
    from .checker import Directional, GradientChecker


def project(c: GradientChecker, name: str, grad: np.ndarray | Directional, rng: np.random.Generator,
                 mode: str = "fast") -> InputResult | str | None:
    """Fast mode: compare <dout, J d> (finite differences) with <backward(dout), d> for
    ``PROJECTIONS`` random signed directions d; ``None`` when any of them disagrees, and
    the reason when the projections cannot cover the input."""
    tensor = c.op.inputs[name]
    buf = c.bufs[name]
    flat = buf.reshape(-1)
    x64 = flat.astype(np.float64)  # a copy: the loop below writes into flat
    low, high = tensor.bounds
    t = joint_projection.base_t(c.eps)
    got = joint_projection.steps(x64, t, low, high, *c.near_policy(name, mode))
    if isinstance(got, str):
        return got
    step, c.near[name] = got
    # One more pair repeats d_0 at twice the step: how far the differences move with the
    # step measures their truncation error (a wrong gradient's does not move).
    signed = joint_projection.signed(rng, step)
    pairs = PROJECTIONS + 1
    # Rows 2k and 2k+1 of the stack: x + d_k and x - d_k, in the input's dtype.
    rows = 2 * pairs
    stack = np.empty((rows, flat.size), dtype=buf.dtype)
    np.add(x64, signed, out=stack[0::2], casting="unsafe")
    np.subtract(x64, signed, out=stack[1::2], casting="unsafe")
    # The offsets the rounded inputs really realise: (x + d) - (x - d), exactly once
    # rounded (each half is exact), in float64.
    offsets = np.subtract(stack[0::2], stack[1::2], dtype=np.float64)
    analytic = (offsets @ grad.astype(np.float64, copy=False).ravel()
                if isinstance(grad, np.ndarray) else grad.along(offsets))
    numeric = np.empty(pairs)
    audit_progress.begin(name, pairs, "projections")
    if c.projections_batched(name):
        args = {**c.views, name: batching.readonly(stack).reshape(rows, *buf.shape)}
        numeric[:] = fd.project_rows(c.op.forward(**args), c.douts, pairs)
        method = "projections, batched"
    else:
        copy = c.returns_views(buf)
        for k in range(pairs):
            flat[:] = stack[2 * k]
            fp = c.call()
            fp = fd._copy(fp) if copy else fp
            flat[:] = stack[2 * k + 1]
            numeric[k] = c.project(fp, c.call())
            audit_progress.slots[audit_progress.DONE] = k + 1
        flat[:] = x64
        method = "projections"
    noise = fd.NOISE_FACTOR * c.eps * c.noise_rms_scale
    allowed = c.rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + noise
    if c.atol:
        allowed += c.atol * np.abs(offsets).sum(axis=1)
    diff = np.abs(analytic - numeric)
    if np.any(diff > allowed) and np.any(
            diff > allowed + c.inherited_along(offsets, numeric)):
        return None
    if isinstance(grad, np.ndarray) and np.any(
            diff[:-1] > (own := measured(c, grad, offsets, analytic, numeric, noise))[:-1]
    ) and np.any(diff[:-1] > (own + c.inherited_along(offsets, numeric))[:-1]):
        return None  # (the 2t pair only measures: its own truncation is 8x pair 0's)
    analytic, numeric, diff = analytic[:-1], numeric[:-1], diff[:-1]
    rel = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
    return InputResult(
        name=name, shape=tuple(buf.shape), dtype=tensor.dtype, status="pass",
        counts={label: 0 for label in fd.OUTCOME_NAMES},
        max_rel_error=float(rel.max()), max_abs_error=float(diff.max() / (2 * t)),
        rtol=c.rtol, atol=c.atol, step_min=t, step_max=t,
        max_error_estimate=noise / (2 * t), method=method,
        coverage=f"{PROJECTIONS} projections",
    )


def measured(c: GradientChecker, grad: np.ndarray, offsets: np.ndarray, analytic: np.ndarray,
              numeric: np.ndarray, noise: float) -> np.ndarray:
    """A projection's own error, measured: truncation grows as t^3 in <dout, J d>
    while a wrong gradient's error grows as t, so pair 0 (step t) and the last pair
    (2t) give truncation = |e_2t - 2 e_t| / 6. Add the rounding of the outputs and of
    the gradient itself (its dtype's eps on each of its terms, as a random walk). The
    rtol bound above can hide one wrong element among many; this one cannot, and
    where it is looser the rtol bound stands."""
    e = numeric - analytic
    truncation = abs(e[-1] - 2 * e[0]) / 6
    scale = np.abs(analytic) / max(abs(analytic[0]), 1e-300)
    terms = np.sqrt(np.square(offsets) @ np.square(grad.astype(np.float64, copy=False).ravel()))
    geps = float(np.finfo(grad.dtype).eps) if grad.dtype.kind == "f" else c.eps
    return (fd.ERROR_ESTIMATE_FACTOR * (truncation * np.maximum(scale, 1.0) + noise)
            + 64 * max(geps, c.eps) * terms + c.atol * np.abs(offsets).sum(axis=1))
