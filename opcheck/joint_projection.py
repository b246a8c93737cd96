"""The projection stage of fast and sampled modes over all differentiable inputs at once.

torch's fast gradcheck perturbs every input together along one random direction; so does
this: ``PROJECTIONS`` random signed directions over the concatenation of the inputs (each
input with its own step scale, elements near a bound left out as in the per-input
projections) and repeats at twice the step, which measure truncation (``projection_error``). When
<dout, J d> (central differences) agrees with sum_i <grad_i, d_i> for every direction,
every input passes its projection stage at the cost of one input's projections; only when
they disagree do the per-input projections run, to find which input is wrong.

Where it applies (``engine._check``): backward's gradients (dense arrays) of two or more
inputs, when the forward is called once per perturbation. Not where the per-input
projections are batched (small ops whose forward verifiably broadcasts over a leading
axis: there an input's projections cost one call, and a joint loop would cost ten), nor
to a JVP's gradients (``Directional``: each direction costs a jvp call per input either
way) or second-order checks, which keep their per-input projections.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import audit_progress, batching, contract, projection_error
from . import finite_diff as fd
from . import projection_stencils as stencils
from .result import InputResult
from .sampling import sample_tensor

#: A ``checker.GradientChecker`` (not imported: the checker imports this module).
GradientChecker = Any

#: Random signed directions (as per input); more pairs repeat some at 2t.
PROJECTIONS = 4


def base_t(eps: float) -> float:
    """The projections' step at |x| <= 1: eps^(1/3) as a power of two."""
    return 2.0 ** round(math.log2(eps ** (1.0 / 3.0)))


def _sign_bits(rng: np.random.Generator, n: int) -> np.ndarray:
    """(PROJECTIONS, n) random bits, drawn as ``signed`` draws them."""
    bits = np.unpackbits(np.frombuffer(rng.bytes(-(-PROJECTIONS * n // 8)), np.uint8), count=PROJECTIONS * n)
    return bits.reshape(PROJECTIONS, n)


def signed(rng: np.random.Generator, step: np.ndarray) -> np.ndarray:
    """(PROJECTIONS + 1, n): random signs times ``step``; the last row is twice row 0."""
    n = step.size
    # Random signs from raw bytes: a tenth of the cost of integers() at 16k elements.
    bits = np.unpackbits(np.frombuffer(rng.bytes(-(-PROJECTIONS * n // 8)), np.uint8), count=PROJECTIONS * n)
    out = np.empty((PROJECTIONS + 1, n))
    # (arithmetic, not a masked np.negative: a ufunc with where= is 10x slower here)
    np.multiply(bits.reshape(PROJECTIONS, n), -2.0, out=out[:PROJECTIONS])
    out[:PROJECTIONS] += 1.0  # bit 0 -> +1, bit 1 -> -1
    out[:PROJECTIONS] *= step
    np.multiply(out[0], 2.0, out=out[PROJECTIONS])
    return out


def check(checker: GradientChecker, grads: Mapping[str, np.ndarray], mode: str,
          rng: np.random.Generator) -> dict[str, InputResult]:
    """Input name → its passed projection stage ("4 joint projections"), for every input
    the joint projections covered and agreed on; empty where they do not apply or
    disagree (then each input runs its own projections, as without this stage)."""
    t = base_t(checker.eps)
    members = _plans(checker, grads, mode, t)
    if len(members) < 2:
        return {}
    together = _batchable(checker, list(members))
    if not together and any(checker.projections_batched(name) for name in members):
        return {}  # one batched call per input beats a joint loop of ten calls
    # When the joint projections disagree, the per-input stages draw exactly what they
    # would have drawn without this one (a saved state costs 2 us, a jumped stream 60 us).
    saved = rng.bit_generator.state
    one_sided = next(iter(members.values()))[1].one_sided
    noise = fd.NOISE_FACTOR * checker.eps * checker.noise_rms_scale
    if one_sided:
        noise *= stencils.ONE_SIDED_NOISE

    def spread(offsets: Mapping[str, np.ndarray], rows: slice = slice(None)) -> np.ndarray | float:
        return sum(np.abs(o[rows]).sum(axis=1) for o in offsets.values()) if checker.atol else 0.0

    def settled(analytic: np.ndarray, numeric: np.ndarray, offsets: Mapping[str, np.ndarray]) -> bool:
        rows = slice(0, analytic.size)
        return projection_error.settled(np.abs(analytic - numeric), analytic, numeric, checker.rtol,
                                        noise, spread(offsets, rows), checker.atol)

    try:
        analytic, numeric, offsets, repeats = _differences(checker, grads, members, rng, together, settled)
    except Exception as exc:  # noqa: BLE001 - any exception of the op's is reported
        raise contract.perturbation_error(
            exc, f"inputs {', '.join(map(repr, members))} together") from None
    calm = not repeats or settled(analytic[:PROJECTIONS], numeric[:PROJECTIONS], offsets)
    if not calm and not _agrees(checker, grads, analytic, numeric, offsets, noise, spread(offsets), repeats):
        rng.bit_generator.state = saved
        return {}
    diff = np.abs(analytic - numeric)
    for name, (_, plan) in members.items():
        checker.near[name] = plan.near
    diff, analytic, numeric = diff[:PROJECTIONS], analytic[:PROJECTIONS], numeric[:PROJECTIONS]
    rel = float((diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))).max())
    return {name: InputResult(
        name=name, shape=tuple(checker.bufs[name].shape), dtype=checker.op.inputs[name].dtype,
        status="pass", counts={label: 0 for label in fd.OUTCOME_NAMES},
        max_rel_error=rel, max_abs_error=float(diff.max() / (2 * t)), rtol=checker.rtol,
        atol=checker.atol, step_min=t, step_max=t, max_error_estimate=noise / (2 * t),
        method="joint projections, batched" if together else "joint projections",
        coverage=f"{PROJECTIONS} joint projections" + (" (one-sided near a bound)" if one_sided else ""),
    ) for name in members}


def _agrees(checker: GradientChecker, grads: Mapping[str, np.ndarray], analytic: np.ndarray,
            numeric: np.ndarray, offsets: Mapping[str, np.ndarray], noise: float,
            spread: np.ndarray | float, repeats: list[int]) -> bool:
    """Do projections that are not settled agree (``projection_error.disagrees``; the
    gradients' rounding, which only widens the bounds, computed where they disagree
    without it), without leaning on a measured truncation above rtol (that is left to
    each input's own projections, which confirm it at t / SHRINK)?"""
    diff = np.abs(analytic - numeric)
    args = (diff, analytic, numeric, checker.rtol, noise, spread, checker.atol)
    if projection_error.disagrees(*args, np.zeros(diff.size), repeats) and projection_error.disagrees(
            *args, _rounding(checker, grads, offsets), repeats):
        return False
    return not projection_error.leans_on_truncation(analytic, numeric, repeats, checker.rtol)


def _plans(checker: GradientChecker, grads: Mapping[str, np.ndarray], mode: str, t: float
           ) -> dict[str, tuple[np.ndarray, stencils.Plan]]:
    """Each dense gradient's input that projections can cover: (x as float64, its plan).
    One-sided for every input where any needs it (they move together)."""
    members: dict[str, tuple[np.ndarray, stencils.Plan]] = {}
    for name, grad in grads.items():
        if not isinstance(grad, np.ndarray):
            continue
        x64 = checker.bufs[name].reshape(-1).astype(np.float64)
        low, high = checker.op.inputs[name].bounds
        got = stencils.plan(x64, t, low, high, *checker.near_policy(name, mode))
        if not isinstance(got, str):
            members[name] = (x64, got)
    if any(p.one_sided for _, p in members.values()):
        for name, (x64, p) in list(members.items()):
            if not p.one_sided:
                low, high = checker.op.inputs[name].bounds
                got = stencils.plan(x64, t, low, high, *checker.near_policy(name, mode), one_sided=True)
                if isinstance(got, str):
                    return {}
                members[name] = (x64, got)
    return members


def _differences(checker: GradientChecker, grads: Mapping[str, np.ndarray],
                 members: Mapping[str, tuple[np.ndarray, stencils.Plan]],
                 rng: np.random.Generator, together: bool,
                 settled: Callable[[np.ndarray, np.ndarray, Mapping[str, np.ndarray]], bool],
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], list[int]]:
    """(sum_i <grad_i, offset_i>, <dout, f(x + d) - f(x - d)>) per pair, each input's
    realised offsets (pairs, n_i), and the directions the last pairs repeat at 2t (the
    worst-agreeing one; every one in a batched call). One pair's perturbed inputs at a time (nothing of size pairs * n
    beyond the directions and their offsets), or all in one batched call where the
    forward verifiably takes ``together``. One-sided (``projection_stencils``) where the
    plans are: the pairs are x + d and x + 2d, against f(x). The loop skips its repeat
    (and returns no ``repeats``) where the first directions are ``settled``."""
    pairs = PROJECTIONS + 1
    if together:  # every direction repeated at 2t, in the same call
        directions = {n: stencils.orient(signed(rng, p.step), p)[:PROJECTIONS] for n, (_, p) in members.items()}
        return (*_batched_differences(checker, grads, members, directions), list(range(PROJECTIONS)))
    # Row k's direction is made where it is used, while the input is in cache.
    signs = {name: _sign_bits(rng, x64.size) for name, (x64, _) in members.items()}
    one_sided = next(iter(members.values()))[1].one_sided
    repeated = 0
    offsets = {name: np.empty((pairs, x64.size)) for name, (x64, _) in members.items()}
    flats = {name: checker.bufs[name].reshape(-1) for name in members}
    lower = {name: np.empty_like(flat) for name, flat in flats.items()}
    d = np.empty(max(flat.size for flat in flats.values()))
    scratch = np.empty(d.size) if one_sided else d
    numeric, analytic = np.empty(pairs), np.empty(pairs)
    audit_progress.begin(", ".join(flats), pairs, "joint projections")
    try:
        for k in range(pairs):
            audit_progress.slots[audit_progress.DONE] = k
            if k == PROJECTIONS:  # repeat the worst-agreeing direction at 2t
                analytic[:k] = _analytic(grads, offsets, slice(0, k))
                if settled(analytic[:k], numeric[:k], offsets):
                    return analytic[:k], numeric[:k], {n: o[:k] for n, o in offsets.items()}, []
                repeated = projection_error.worst(analytic[:k], numeric[:k])
            for name, flat in flats.items():
                _perturb(members[name], signs[name][k if k < PROJECTIONS else repeated], 1 + k // PROJECTIONS,
                         flat, lower[name], offsets[name][k], d[: flat.size], scratch[: flat.size], one_sided)
            if one_sided:  # (projected at once: nothing to copy)
                moved = checker.project(checker.call(), checker.f0)
                for name, flat in flats.items():
                    flat[:] = lower[name]
                numeric[k] = 4 * moved - checker.project(checker.call(), checker.f0)
                continue
            fp = _own(checker.call(), flats)
            for name, flat in flats.items():
                flat[:] = lower[name]
            numeric[k] = checker.project(fp, checker.call())
    finally:
        for name, flat in flats.items():
            flat[:] = members[name][0]
    analytic[PROJECTIONS:] = _analytic(grads, offsets, slice(PROJECTIONS, None))
    return analytic, numeric, offsets, [repeated]


def _perturb(member: tuple[np.ndarray, stencils.Plan], bits: np.ndarray, scale: int, flat: np.ndarray,
             lower: np.ndarray, offset: np.ndarray, dk: np.ndarray, scratch: np.ndarray,
             one_sided: bool) -> None:
    """One input's pair along the direction of sign ``bits`` times ``scale``: x + d into
    ``flat``, x - d (one-sided: x + 2d) into ``lower``, the realised offset into ``offset``."""
    x64, plan = member
    np.multiply(bits, -2.0 * scale, out=dk)
    dk += scale  # bit 0 -> +1, bit 1 -> -1 (times 2 for the repeat)
    dk *= plan.step
    np.add(x64, stencils.orient(dk, plan), out=flat, casting="unsafe")  # x + d, in the input's dtype
    if one_sided:  # x + 2d
        dk *= 2.0
        np.add(x64, dk, out=lower, casting="unsafe")
        stencils.one_sided_offset(flat, lower, x64, offset, scratch)
        return
    np.subtract(x64, dk, out=lower, casting="unsafe")
    # The offset the rounded inputs really realise, exactly once rounded.
    np.subtract(flat, lower, out=offset, dtype=np.float64)


def _analytic(grads: Mapping[str, np.ndarray], offsets: Mapping[str, np.ndarray],
              rows: slice) -> np.ndarray:
    """sum_i <grad_i, offset_i> for the pairs ``rows``."""
    return np.asarray(sum(o[rows] @ grads[n].astype(np.float64, copy=False).ravel()
                          for n, o in offsets.items()), dtype=np.float64)


def _batchable(checker: GradientChecker, names: list[str]) -> bool:
    """Is the op small enough to batch, and does its forward take a stack of every input
    in ``names`` at once (verified as ``batching`` does)?"""
    outs = checker.f0 if isinstance(checker.f0, tuple) else (checker.f0,)
    size = sum(checker.bufs[n].size for n in names) + sum(o.size for o in outs)
    if not batching.worth_batching(size, 0):
        return False
    samples = {n: functools.partial(sample_tensor, checker.op.inputs[n], checker.bufs[n].shape)
               for n in names}
    return batching.batchable_together(checker.op.forward, checker.bufs, samples, 4 * PROJECTIONS)


def _batched_differences(checker: GradientChecker, grads: Mapping[str, np.ndarray],
                         members: Mapping[str, tuple[np.ndarray, stencils.Plan]],
                         directions: Mapping[str, np.ndarray],
                         ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``_differences`` in one call of ``4 * PROJECTIONS`` rows: rows 2k and 2k+1 of each
    input's stack hold x + d_k and x - d_k (d_k at t, then at 2t); one-sided, the rows of
    ``projection_stencils.one_sided_rows``, padded with x."""
    rows = 4 * PROJECTIONS
    args = dict(checker.views)
    offsets: dict[str, np.ndarray] = {}
    analytic = np.zeros(2 * PROJECTIONS)
    one_sided = next(iter(members.values()))[1].one_sided
    for name, (x64, _) in members.items():
        buf = checker.bufs[name]
        d = directions[name]
        stack = np.empty((rows, buf.size), dtype=buf.dtype)
        if one_sided:
            part, offsets[name] = stencils.one_sided_rows(x64, d, buf.dtype)
            stack[: part.shape[0]] = part
            stack[part.shape[0]:] = part[0]
        else:
            d = np.concatenate([d, 2 * d])
            np.add(x64, d, out=stack[0::2], casting="unsafe")
            np.subtract(x64, d, out=stack[1::2], casting="unsafe")
            offsets[name] = np.subtract(stack[0::2], stack[1::2], dtype=np.float64)
        analytic += offsets[name] @ grads[name].astype(np.float64, copy=False).ravel()
        args[name] = batching.readonly(stack).reshape(rows, *buf.shape)
    out = checker.op.forward(**args)
    numeric = (stencils.one_sided_numeric(out, checker.douts, PROJECTIONS) if one_sided
               else fd.project_rows(out, checker.douts, 2 * PROJECTIONS))
    return analytic, numeric, offsets


def _own(out: Any, bufs: Mapping[str, np.ndarray]) -> Any:
    """``out``, copied if it is a view of a buffer the next perturbation overwrites."""
    items = out if isinstance(out, tuple) else (out,)
    if any(isinstance(o, np.ndarray) and np.may_share_memory(o, b) for o in items for b in bufs.values()):
        return fd._copy(out)
    return out


def _rounding(checker: GradientChecker, grads: Mapping[str, np.ndarray],
              offsets: Mapping[str, np.ndarray]) -> np.ndarray:
    """The gradients' rounding in each joint projection: 64 units of each gradient's
    dtype on each of its terms, independent across inputs, so added as one random walk."""
    walk = np.zeros(next(iter(offsets.values())).shape[0])
    for name, off in offsets.items():
        grad = grads[name]
        geps = float(np.finfo(grad.dtype).eps) if grad.dtype.kind == "f" else checker.eps
        g = grad.astype(np.float64, copy=False).ravel()
        walk += (64 * max(geps, checker.eps)) ** 2 * (np.square(off) @ np.square(g))
    return np.sqrt(walk)
