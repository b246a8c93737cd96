"""Finite differences of the projection <dout, f(x)>: steps, loops, error estimates.

Pure numpy. ``call`` arguments are zero-argument callables that run the op's forward on
the current contents of the buffers this module perturbs in place; nothing here knows
about ops, plugins or reports.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import audit_progress
from .reductions import largest, smallest

Call = Callable[[], Any]
Project = Callable[[Any, Any], float]

#: How much larger than the simple rounding bound a difference's noise may be before
#: stage one asks for a second look (which costs four more calls, so cheap to be wrong).
NOISE_FACTOR = 4.0
#: A mismatch must exceed the tolerance plus this many error estimates to be a failure.
ERROR_ESTIMATE_FACTOR = 3.0

NAN = float("nan")

CENTRAL, FORWARD, BACKWARD = 0, 1, -1
PASS, FAIL, NONDIFF, UNRELIABLE = 0, 1, 2, 3
OUTCOME_NAMES = ("pass", "fail", "nondifferentiable", "unreliable")


def base_step(x: np.ndarray, eps: float) -> np.ndarray:
    """eps^(1/3) * max(1, |x|), rounded to a power of two so that x ± h is exact."""
    raw = np.maximum(1.0, np.abs(x))
    np.multiply(eps ** (1.0 / 3.0), raw, out=raw)
    # (in place, and rint for round: a small input's step plan is mostly call overhead)
    return np.exp2(np.rint(np.log2(raw, out=raw), out=raw), out=raw)


@dataclass
class StepPlan:
    """Per-element steps for one input: which scheme, and the two perturbed values.

    ``nodes`` hold the exact offsets (as float64) that the perturbed values realise in the
    input's dtype; the difference weights are computed from them, not from the nominal h.
    """

    h: np.ndarray  # nominal step, float64
    kind: np.ndarray  # CENTRAL, FORWARD or BACKWARD per element
    perturbed: tuple[np.ndarray, np.ndarray]  # perturbed values in the input dtype
    nodes: tuple[np.ndarray, np.ndarray]  # realised offsets for values[0], values[1]
    at: np.ndarray  # the unperturbed values in the input dtype (a copy)
    all_central: bool = False  # every element has a central step (the common case)
    width: np.ndarray = field(init=False)  # nodes[0] - nodes[1]: the central differences' widths

    def __post_init__(self) -> None:
        self.width = self.nodes[0] - self.nodes[1]

    # The element loops index Python lists (cheaper per element than numpy scalars); a
    # batched sweep writes the arrays and never needs them.
    @functools.cached_property
    def values(self) -> tuple[list[Any], list[Any]]:
        """``perturbed`` as lists."""
        return (self.perturbed[0].tolist(), self.perturbed[1].tolist())

    @functools.cached_property
    def original(self) -> list[Any]:
        """``at`` as a list."""
        return self.at.tolist()


def plan_steps(
    x: np.ndarray, eps: float, low: float, high: float, scale: float = 1.0
) -> StepPlan:
    """Central steps where x ± h stays inside [low, high]; one-sided (x, x ± h, x ± 2h)
    near a bound; a smaller step where even that does not fit."""
    dtype = x.dtype
    x64 = x.astype(np.float64).ravel()
    # (infinite bounds stay so: a small input's two reductions saved)
    low = low if low == -math.inf and x64.size else min(low, smallest(x64))
    high = high if high == math.inf and x64.size else max(high, largest(x64))
    h = base_step(x64, eps)
    if scale != 1.0:
        h = h * scale
    kind = np.zeros(x64.shape, dtype=np.int8)  # CENTRAL
    first, second = x64 + h, x64 - h
    # (min/max: NaN fails both tests, as it fails the element-wise comparisons)
    all_central = not x64.size or (smallest(second) >= low and largest(first) <= high)
    if not all_central:
        for _ in range(60):
            central = (x64 - h >= low) & (x64 + h <= high)
            forward = ~central & (x64 + 2 * h <= high)
            backward = ~central & ~forward & (x64 - 2 * h >= low)
            stuck = ~(central | forward | backward)
            kind[forward], kind[backward] = FORWARD, BACKWARD
            if not stuck.any():
                break
            h = np.where(stuck, h / 2, h)
        first = np.where(kind == CENTRAL, x64 + h, x64 + kind * h)
        second = np.where(kind == CENTRAL, x64 - h, x64 + 2 * kind * h)
        all_central = not kind.any()
    if dtype == np.float64:  # no rounding to realise: skip four copies (a small input's cost)
        first_v, second_v, at = first, second, x64
        nodes = (first - x64, second - x64)
    else:
        first_v, second_v, at = first.astype(dtype), second.astype(dtype), x.ravel().copy()
        nodes = (first_v.astype(np.float64) - x64, second_v.astype(np.float64) - x64)
    return StepPlan(h, kind, (first_v, second_v), nodes, at, all_central)


def make_projector(douts: Sequence[np.ndarray | None]) -> Project:
    """<dout, a - b> summed over the differentiable outputs, in float64.

    Subtracting before projecting keeps the outputs a perturbation does not touch exactly
    zero, so their rounding never reaches the estimate."""
    pairs = [(k, np.ravel(d).astype(np.float64)) for k, d in enumerate(douts) if d is not None]
    if len(douts) == 1:
        d0 = pairs[0][1]
        scratch = np.empty(d0.size)
        shaped: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

        def project_one(a: Any, b: Any) -> float:
            # The hot path: views made once per output shape, no temporaries.
            if type(a) is np.ndarray and a.size == scratch.size:
                views = shaped.get(a.shape)
                if views is None:
                    views = shaped[a.shape] = (scratch.reshape(a.shape), d0.reshape(a.shape))
                if a.dtype == np.float64 and type(b) is np.ndarray and b.dtype == np.float64:
                    np.subtract(a, b, out=views[0])
                else:  # float32 outputs: subtract in float64, where it is exact
                    np.subtract(a, b, out=views[0], dtype=np.float64)
                return float(np.vdot(views[1], views[0]))
            return float(np.dot(d0, np.subtract(a, b, dtype=np.float64).ravel()))

        return project_one

    def project(a: Any, b: Any) -> float:
        return float(
            sum(np.dot(d, np.subtract(a[k], b[k], dtype=np.float64).ravel()) for k, d in pairs)
        )

    return project


def make_noise(douts: Sequence[np.ndarray | None], rms: bool = False) -> Project:
    """Rounding of ``project(a, b)`` over the outputs that changed: the worst case
    sum |dout| (|a| + |b|), or with ``rms`` the typical sqrt(sum dout^2 (a^2 + b^2)) —
    rounding errors of many outputs meet random-signed dout entries and add like a
    random walk."""
    power = 2 if rms else 1
    pairs = [(k, np.abs(np.ravel(d)).astype(np.float64) ** power)
             for k, d in enumerate(douts) if d is not None]
    single = len(douts) == 1

    def noise(a: Any, b: Any) -> float:
        total = 0.0
        for k, weight in pairs:
            ak, bk, moved = _magnitudes(a if single else a[k], b if single else b[k])
            total += float(np.dot(weight, (ak**power + bk**power) * moved))
        return math.sqrt(total) if rms else total

    return noise


def _magnitudes(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``magnitudes`` of a and b, and where a != b."""
    a, b = np.ravel(np.asarray(a)), np.ravel(np.asarray(b))
    return magnitudes(a), magnitudes(b), a != b


def magnitudes(out: Any) -> np.ndarray:
    """|out| as flat float64, at least the dtype's smallest normal number: below it
    (subnormal numbers) the rounding unit stops shrinking with the value, so eps * |f|
    would understate it."""
    arr = np.ravel(np.asarray(out))
    tiny = float(np.finfo(arr.dtype).tiny) if arr.dtype.kind == "f" else 0.0
    return np.maximum(np.abs(arr.astype(np.float64)), tiny)


def loop_central(
    call: Call, flat: np.ndarray, plan: StepPlan, project: Project, copy: bool, out: np.ndarray
) -> None:
    """The hot loop: two forward calls per central element, nothing else of size n."""
    up, down = plan.values
    width = plan.width.tolist()
    orig = plan.original
    progress, at = audit_progress.slots, audit_progress.DONE
    for done, i in enumerate(np.flatnonzero(plan.kind == CENTRAL).tolist(), 1):
        flat[i] = up[i]
        fp = call()
        if copy:
            fp = _copy(fp)
        flat[i] = down[i]
        fm = call()  # (projected before the restore: it may be a view of the input)
        out[i] = project(fp, fm) / width[i] if width[i] else NAN  # 0: below resolution
        flat[i] = orig[i]
        progress[at] = done  # one store: how far a timeout got


def own_rounding(call: Call, flat: np.ndarray, i: int, plan: StepPlan, noise: Project) -> float:
    """sum |dout| (|f+| + |f-|) over the outputs element i's central step changes: the
    scale of the rounding in its difference (times eps)."""
    up, down = plan.values
    x = float(plan.original[i])
    fp, _ = evaluate_at(call, flat, i, plan, float(up[i]) - x)
    fm, _ = evaluate_at(call, flat, i, plan, float(down[i]) - x)
    return noise(fp, fm)


def evaluate_at(
    call: Call, flat: np.ndarray, i: int, plan: StepPlan, offset: float
) -> tuple[Any, float]:
    """The forward with element i moved by ``offset`` (rounded to the input's dtype), and
    the offset that rounding realised; element i is restored afterwards."""
    x = plan.original[i]
    flat[i] = flat.dtype.type(float(x) + offset)
    f = _copy(call())
    audit_progress.tick()
    realised = float(flat[i]) - float(x)
    flat[i] = x
    return f, realised


def loop_one_sided(
    call: Call, flat: np.ndarray, plan: StepPlan, project: Project, copy: bool,
    f0: Any, out: np.ndarray,
) -> None:
    """Second-order one-sided differences from nodes 0, s1, s2 (near a bound)."""
    progress, at = audit_progress.slots, audit_progress.DONE
    central = int(np.count_nonzero(plan.kind == CENTRAL))
    for done, i in enumerate(np.flatnonzero(plan.kind != CENTRAL).tolist(), central + 1):
        s1, s2 = float(plan.nodes[0][i]), float(plan.nodes[1][i])
        flat[i] = plan.values[0][i]
        f1 = call()
        if copy:
            f1 = _copy(f1)
        flat[i] = plan.values[1][i]
        f2 = call()  # (used before the restore: it may be a view of the input)
        out[i] = one_sided(project, f0, f1, f2, s1, s2)
        flat[i] = plan.original[i]
        progress[at] = done


def project_rows(outputs: Any, douts: Sequence[np.ndarray | None], pairs: int) -> np.ndarray:
    """<dout, Y[2k] - Y[2k+1]> for k < pairs over a batched forward's outputs, in float64."""
    outs = outputs if isinstance(outputs, tuple) else (outputs,)
    total = np.zeros(pairs)
    for y, d in zip(outs, douts):
        if d is None:
            continue
        y = np.asarray(y)
        y = y.reshape(y.shape[0], -1)
        diff = np.subtract(y[0 : 2 * pairs : 2], y[1 : 2 * pairs : 2], dtype=np.float64)
        total += diff @ np.asarray(d, dtype=np.float64).reshape(-1)
    return total


def batched_central(
    call: Call, stack: np.ndarray, plan: StepPlan, douts: Sequence[np.ndarray | None],
    out: np.ndarray,
) -> None:
    """Central differences, ``rows // 2`` elements per forward call.

    ``stack`` is (rows, n), every row holding the unperturbed input; ``call`` runs the
    forward on it (reshaped). Each chunk perturbs one element per row pair and then
    restores it, so nothing of size rows * n is copied per call."""
    rows = stack.shape[0]
    per_call = rows // 2
    idx = np.flatnonzero(plan.kind == CENTRAL)
    up = np.asarray(plan.perturbed[0], dtype=stack.dtype)
    down = np.asarray(plan.perturbed[1], dtype=stack.dtype)
    orig = np.asarray(plan.at, dtype=stack.dtype)
    width = plan.width
    resolved = bool(width[idx].all())
    for start in range(0, idx.size, per_call):
        chunk = idx[start : start + per_call]
        k = np.arange(chunk.size)
        stack[2 * k, chunk] = up[chunk]
        stack[2 * k + 1, chunk] = down[chunk]
        outputs = call()
        if resolved:
            out[chunk] = project_rows(outputs, douts, chunk.size) / width[chunk]
        else:
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 width: NaN, looked at again
                out[chunk] = project_rows(outputs, douts, chunk.size) / width[chunk]
        stack[2 * k, chunk] = orig[chunk]
        stack[2 * k + 1, chunk] = orig[chunk]
        audit_progress.slots[audit_progress.DONE] = start + chunk.size


def one_sided(project: Project, f0: Any, f1: Any, f2: Any, s1: float, s2: float) -> float:
    """Second-order derivative from f at offsets 0, s1, s2 (weights from the exact offsets)."""
    if s1 == 0.0 or s2 == 0.0 or s1 == s2:
        return float("nan")  # a step below the input's resolution: nothing to difference
    w1, w2 = s2 / (s1 * (s2 - s1)), -s1 / (s2 * (s2 - s1))
    return w1 * project(f1, f0) + w2 * project(f2, f0)


def _copy(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(np.array(v, copy=True) for v in value)
    return np.array(value, copy=True)
