"""Fast mode's projections of one input: <dout, J d> by central differences against
<backward(dout), d> for ``PROJECTIONS`` random signed directions d, plus one pair at twice
the step that measures the differences' truncation error. ``joint_projection`` does the
same over all inputs at once; this runs where it does not apply or disagreed. Whether a
projection disagrees beyond its own measured error: ``projection_error``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from . import audit_progress, batching, joint_projection
from . import finite_diff as fd
from . import projection_stencils as stencils
from .joint_projection import PROJECTIONS
from . import projection_error
from .projection_error import disagrees, worst
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
    x64 = buf.reshape(-1).astype(np.float64)  # a copy: the loop below writes into the buffer
    low, high = tensor.bounds
    t = joint_projection.base_t(c.eps)
    plan = stencils.plan(x64, t, low, high, *c.near_policy(name, mode))
    if isinstance(plan, str):
        return plan
    c.near[name] = plan.near
    # More pairs repeat directions at twice the step: how far the differences move with
    # the step measures their truncation error (a wrong gradient's does not move).
    signed = stencils.orient(joint_projection.signed(rng, plan.step), plan)
    batched = c.projections_batched(name)
    if batched and not plan.one_sided:  # every direction repeated, in the same call
        signed = np.concatenate([signed[:PROJECTIONS], 2 * signed[:PROJECTIONS]])
    repeats = list(range(PROJECTIONS)) if batched else [0]
    noise = fd.NOISE_FACTOR * c.eps * c.noise_rms_scale
    if plan.one_sided:
        noise *= stencils.ONE_SIDED_NOISE

    def settled(analytic: np.ndarray, numeric: np.ndarray, offsets: np.ndarray) -> bool:
        return projection_error.settled(np.abs(analytic - numeric), analytic, numeric, c.rtol, noise,
                                        np.abs(offsets).sum(axis=1) if c.atol else 0.0, c.atol)

    analytic, numeric, offsets = _differences(c, name, grad, x64, signed, batched, repeats,
                                              plan.one_sided, settled)
    # (no repeats: the loop found the first directions settled; a batched call's are
    # looked at only where the first directions are not; a Directional's rows at 2t are
    # held to rtol without a truncation measurement: always looked at)
    calm = not repeats or (isinstance(grad, np.ndarray) and settled(
        analytic[:PROJECTIONS], numeric[:PROJECTIONS], offsets[:PROJECTIONS]))
    verdict = "agree" if calm else _judge(c, name, grad, x64, signed, batched, plan.one_sided,
                                          (analytic, numeric, offsets), noise, repeats)
    if verdict == "disagree":
        return None
    analytic, numeric = analytic[:PROJECTIONS], numeric[:PROJECTIONS]
    diff = np.abs(analytic - numeric)
    rel = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
    result = InputResult(
        name=name, shape=tuple(buf.shape), dtype=tensor.dtype, status="pass",
        counts={label: 0 for label in fd.OUTCOME_NAMES},
        max_rel_error=float(rel.max()), max_abs_error=float(diff.max() / (2 * t)),
        rtol=c.rtol, atol=c.atol, step_min=t, step_max=t,
        max_error_estimate=noise / (2 * t), method="projections, batched" if batched else "projections",
        coverage=f"{PROJECTIONS} projections" + (" (one-sided near a bound)" if plan.one_sided else ""),
    )
    if verdict == "kink":
        result.step_min = t / projection_error.SHRINK
        result.notes.append(f"the projections at step {t:.3g} straddled a kink (their error did not "
                            f"shrink with the step); they agree at step {result.step_min:.3g}")
    return result


def _judge(c: GradientChecker, name: str, grad: np.ndarray | Directional, x64: np.ndarray,
           signed: np.ndarray, batched: bool, one_sided: bool,
           measured: tuple[np.ndarray, np.ndarray, np.ndarray], noise: float, repeats: list[int]) -> str:
    """"agree", "disagree" or "kink" for projections that are not settled: ``disagrees``,
    then where they disagree, a kink within the step; where they agree for a measured
    truncation above rtol, a confirmation (both at t / SHRINK: ``projection_error``)."""
    analytic, numeric, offsets = measured
    dense = grad if isinstance(grad, np.ndarray) else None
    spread = np.abs(offsets).sum(axis=1) if c.atol else 0.0
    if _disagree(c, grad, np.abs(analytic - numeric), analytic, numeric, offsets, noise, spread, repeats):
        # A kink within a step (relu's at 0) breaks every direction alike: the same
        # directions at a sixteenth of the step, where a wrong gradient's error would
        # shrink with the step and a straddled kink's does not.
        retried = _smaller(c, name, grad, x64, signed, batched, one_sided)
        kink = projection_error.straddled_kink(
            numeric[:PROJECTIONS] - analytic[:PROJECTIONS], *retried, c.rtol, noise, c.atol,
            _rounding(c, dense, retried[2]) if dense is not None else None)
        return "kink" if kink else "disagree"
    if not projection_error.leans_on_truncation(analytic, numeric, repeats, c.rtol):
        return "agree"
    # Agreed for a measured truncation above rtol: confirmed at a sixteenth of the step,
    # unless the forward itself loses digits (then its noisy differences are what
    # measured as truncation, and a smaller step only makes them noisier).
    small_a, small_n, small_off = (r[:PROJECTIONS] for r in _smaller(
        c, name, grad, x64, signed, batched, one_sided))
    if projection_error.agrees_plainly(small_a, small_n, small_off, c.rtol, noise, c.atol,
                                       _rounding(c, dense, small_off) if dense is not None else None):
        return "agree"
    return "agree" if np.any(c.inherited_along(offsets, numeric)) else "disagree"


def _smaller(c: GradientChecker, name: str, grad: np.ndarray | Directional, x64: np.ndarray,
             signed: np.ndarray, batched: bool, one_sided: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_differences`` along the same directions at t / SHRINK (and 2t / SHRINK where
    batched, to keep the verified row count)."""
    small = signed[:PROJECTIONS] / projection_error.SHRINK
    if batched and not one_sided:
        small = np.concatenate([small, 2 * small])
    return _differences(c, name, grad, x64, small, batched, [0], one_sided)


def _disagree(c: GradientChecker, grad: np.ndarray | Directional, diff: np.ndarray, analytic: np.ndarray,
              numeric: np.ndarray, offsets: np.ndarray, noise: float, spread: np.ndarray | float,
              repeats: list[int]) -> bool:
    """``disagrees`` beyond the gradient's rounding, and then beyond what the forward's
    loss of digits passes on; each computed only where the bounds without it are exceeded
    (each only widens them)."""
    dense = isinstance(grad, np.ndarray)
    args = (diff, analytic, numeric, c.rtol, noise, spread, c.atol)
    if not disagrees(*args, np.zeros(diff.size) if dense else None, repeats):
        return False
    rounding = _rounding(c, grad, offsets) if dense else None
    return disagrees(*args, rounding, repeats) and disagrees(
        *args, rounding, repeats, allowance=c.inherited_along(offsets, numeric))


def _differences(c: GradientChecker, name: str, grad: np.ndarray | Directional, x64: np.ndarray,
                 signed: np.ndarray, batched: bool, repeats: list[int], one_sided: bool = False,
                 settled: Callable[[np.ndarray, np.ndarray, np.ndarray], bool] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(<grad, offset>, <dout, f(x + d) - f(x - d)>) per pair, and the realised offsets.
    A loop of one call per pair repeats the worst-agreeing direction at 2t (``repeats[0]``
    is set to it); a batched call has every direction repeated already. ``one_sided``:
    the pairs are x + d and x + 2d (``projection_stencils``). Where the first directions
    are ``settled`` the loop skips its repeat and empties ``repeats``."""
    if one_sided:
        return _one_sided(c, name, grad, x64, signed, batched, repeats)
    buf = c.bufs[name]
    flat = buf.reshape(-1)
    pairs = signed.shape[0]
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
    if batched:
        args = {**c.views, name: batching.readonly(stack).reshape(rows, *buf.shape)}
        numeric[:] = fd.project_rows(c.op.forward(**args), c.douts, pairs)
        return analytic, numeric, offsets
    copy = c.returns_views(buf)
    for k in range(pairs):
        if k == PROJECTIONS and isinstance(grad, np.ndarray):  # repeat the worst-agreeing direction at 2t
            if settled is not None and settled(analytic[:k], numeric[:k], offsets[:k]):
                flat[:] = x64
                repeats.clear()
                return analytic[:k], numeric[:k], offsets[:k]
            repeats[0] = worst(analytic[:k], numeric[:k])
            analytic[k] = _repeat(stack, offsets, signed, x64, repeats[0]) @ grad.astype(np.float64).ravel()
        flat[:] = stack[2 * k]
        fp = c.call()
        fp = fd._copy(fp) if copy else fp
        flat[:] = stack[2 * k + 1]
        numeric[k] = c.project(fp, c.call())
        audit_progress.slots[audit_progress.DONE] = k + 1
    flat[:] = x64
    return analytic, numeric, offsets


def _one_sided(c: GradientChecker, name: str, grad: np.ndarray | Directional, x64: np.ndarray,
               signed: np.ndarray, batched: bool, repeats: list[int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_differences`` by one-sided pairs x + d, x + 2d against f(x) (``f0``); batched:
    every direction at t and 2t in one call of 16 rows (x, x + d, x + 2d, x + 4d)."""
    buf = c.bufs[name]
    flat = buf.reshape(-1)
    dense = grad.astype(np.float64, copy=False).ravel() if isinstance(grad, np.ndarray) else None
    audit_progress.begin(name, signed.shape[0], "projections")
    if batched:
        stack, offsets = stencils.one_sided_rows(x64, signed[:PROJECTIONS], buf.dtype)
        padded = np.concatenate([stack, np.repeat(stack[:1], 4 * PROJECTIONS - stack.shape[0], axis=0)])
        args = {**c.views, name: batching.readonly(padded).reshape(padded.shape[0], *buf.shape)}
        numeric = stencils.one_sided_numeric(c.op.forward(**args), c.douts, PROJECTIONS)
        analytic = offsets @ dense if dense is not None else grad.along(offsets)  # type: ignore[union-attr]
        return analytic, numeric, offsets
    pairs = signed.shape[0]
    offsets, scratch = np.empty((pairs, flat.size)), np.empty(flat.size)
    up, up2 = np.empty(flat.size, dtype=buf.dtype), np.empty(flat.size, dtype=buf.dtype)
    numeric = np.empty(pairs)
    for k in range(pairs):
        if k == PROJECTIONS and dense is not None:  # repeat the worst-agreeing direction at 2t
            repeats[0] = worst(offsets[:k] @ dense, numeric[:k])
            np.multiply(signed[repeats[0]], 2.0, out=signed[k])
        np.add(x64, signed[k], out=up, casting="unsafe")
        np.add(x64, 2 * signed[k], out=up2, casting="unsafe")
        stencils.one_sided_offset(up, up2, x64, offsets[k], scratch)
        flat[:] = up
        moved = c.project(c.call(), c.f0)
        flat[:] = up2
        numeric[k] = 4 * moved - c.project(c.call(), c.f0)
        audit_progress.slots[audit_progress.DONE] = k + 1
    flat[:] = x64
    analytic = offsets @ dense if dense is not None else grad.along(offsets)  # type: ignore[union-attr]
    return analytic, numeric, offsets


def _repeat(stack: np.ndarray, offsets: np.ndarray, signed: np.ndarray, x64: np.ndarray,
            k: int) -> np.ndarray:
    """Make the last pair of ``stack`` direction ``k`` at twice the step; its offsets."""
    np.multiply(signed[k], 2.0, out=signed[-1])
    np.add(x64, signed[-1], out=stack[-2], casting="unsafe")
    np.subtract(x64, signed[-1], out=stack[-1], casting="unsafe")
    np.subtract(stack[-2], stack[-1], out=offsets[-1], dtype=np.float64)
    return offsets[-1]


def _rounding(c: GradientChecker, grad: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The gradient's own rounding in each projection: 64 units of its dtype (at least the
    audit's) on each of its terms, added as a random walk."""
    terms = np.sqrt(np.square(offsets) @ np.square(grad.astype(np.float64, copy=False).ravel()))
    geps = float(np.finfo(grad.dtype).eps) if grad.dtype.kind == "f" else c.eps
    return 64 * max(geps, c.eps) * terms
