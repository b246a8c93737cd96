"""Numeric against analytic gradients for the inputs of one sampled variant.

The audit (``engine.py``) has already checked the op's contract and called backward; this
module chooses how each input is checked (by mode) and runs the element-wise sweep
(``finite_diff.py``, batched where ``batching.py`` verified it). The projections
(``input_projections``, ``joint_projection``), the sampled parts (``sampled_checks``),
the per-element outcomes (``verdicts``) and each input's ``InputResult`` (``summary``)
live in modules of their own.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from . import (
    audit_progress,
    batching,
    budget as budgets,
    conditioning,
    contract,
    coverage,
    input_projections,
    joint_projection,
    sampled_checks,
    summary,
    verdicts,
)
from . import finite_diff as fd
from .contract import ContractError
from .reductions import largest
from .result import InputResult
from .sampling import sample_tensor
from .small_ops import central_sweep
from .spec import Op

#: Random signed directions per input in fast mode.
PROJECTIONS = joint_projection.PROJECTIONS
#: Fast and sampled checks leave up to this many (or a tenth of the input's) elements within
#: a step of a bound out of their projections and compare them one by one; more: a full
#: check (fast mode, inputs up to ``SMALL_INPUT``: past half of the input).
NEAR_BOUND_ELEMENTS = 1024
#: Fast mode checks a half-precision input up to this size with elements near a bound in
#: full (at most 2 * 4096 calls): its projections cannot resolve a float16 gradient small
#: beside the others (the adversarial gallery's exp_flush case) nor a 5% error under
#: float16 rounding (lecun_tanh_constant), which the full check sees. Other dtypes leave
#: the near elements to one-by-one checks, as for large inputs.
SMALL_INPUT = 4096
HALF_EPS = 1e-4


class Directional(Protocol):
    """A gradient known through its directional derivatives (``<dout, jvp(d)>``): a few
    directions are cheap (fast mode), the dense gradient costs one call per element."""

    def along(self, directions: np.ndarray) -> np.ndarray:
        """<gradient, d> for each row d of ``directions`` (k, n)."""
        ...

    def dense(self) -> np.ndarray:
        """The whole gradient, shaped like the input."""
        ...


def _dense(grad: np.ndarray | Directional) -> np.ndarray:
    return grad if isinstance(grad, np.ndarray) else grad.dense()


def default_rtol(eps: float) -> float:
    """eps^(1/3) / 4: 1.5e-6 for float64, 1.2e-3 for float32, 2.5e-2 for float16."""
    return eps ** (1.0 / 3.0) / 4.0


class GradientChecker:
    """Numeric vs analytic gradients for the inputs of one sampled variant."""

    def __init__(self, op: Op, values: dict[str, np.ndarray], douts: list[np.ndarray | None],
                 f0: Any, eps: float) -> None:
        self.op, self.eps, self.douts, self.f0 = op, eps, douts, f0
        self.bufs = {k: v.copy() for k, v in values.items()}
        self.views = {k: batching.readonly(v) for k, v in self.bufs.items()}
        self.call: Callable[[], Any]
        self.rtol = float(op.rtol if op.rtol is not None else default_rtol(eps))
        self.atol = float(op.atol or 0.0)

        #: Elements per input a sampled check may compare one by one (set by the audit
        #: from its budget); None: the whole covering sample.
        self.sample_limit: int | None = None
        self.near: dict[str, np.ndarray] = {}  # elements the projections left out
        # A partial calls straight into the op: the hot loop pays no Python frame of ours.
        self.call = functools.partial(op.forward, **self.views)

    def check(self, name: str, grad: np.ndarray | Directional, mode: str,
              rng: np.random.Generator, passed: InputResult | None = None) -> InputResult:
        """Compare ``grad`` (backward's gradient of input ``name``, or a ``Directional``:
        one that is cheaper along a few directions than in full, such as a JVP's) with
        finite differences of ``<dout, forward>``. ``mode`` is "full" (every element),
        "fast" (projections; element by element only where they disagree) or "sampled"
        (projections, a covering sample element by element, and localisation). ``passed``:
        the projection stage this input already passed (``joint_projection``)."""
        started = time.perf_counter()
        if mode == "sampled" and not isinstance(grad, np.ndarray):
            mode = "fast"  # a Directional's elements cost a call each: projections only
        if mode in ("fast", "sampled"):
            try:
                quick = passed or input_projections.project(self, name, grad, rng, mode)
            except Exception as exc:
                raise contract.perturbation_error(exc, f"input {name!r}") from None
            if isinstance(quick, InputResult) and mode == "sampled":
                assert isinstance(grad, np.ndarray)
                result = sampled_checks.sampled(self, name, grad, rng, quick)
            elif isinstance(quick, InputResult):
                result = sampled_checks.near_bound(self, name, grad, quick)
            elif quick is None and isinstance(grad, np.ndarray) and (
                    mode == "sampled" or grad.size > budgets.ALWAYS_FULL):
                # A projection disagreed on a large input: name the wrong elements by
                # bisection (their check fails, or the full check runs after all)
                result = sampled_checks.localised(self, name, grad, rng)
            else:
                # A projection of a small input disagreed (name the elements), or too many
                # elements sit near a bound for the projections: the full per-element check.
                result = self.full(name, grad)
                if quick:
                    result.notes.append(quick)
            result.seconds = time.perf_counter() - started
            return result
        return self.full(name, grad)

    # Needed only by some checks: computed on first use (a tiny op's audit, and a fast
    # one's, is mostly such fixed costs).
    @functools.cached_property
    def output_scale(self) -> float:
        """Largest |dout| (summed over outputs) times largest |f|: the element-wise
        rounding bound's scale."""
        outs = list(self.f0) if isinstance(self.f0, tuple) else [self.f0]
        dmax = sum(largest(np.abs(d)) if d.size else 0.0 for d in self.douts if d is not None)
        fmax = max(largest(np.abs(o)) if o.size else 0.0 for o in outs if o.dtype.kind == "f")
        return dmax * fmax

    @functools.cached_property
    def project(self) -> fd.Project:
        """<dout, a - b>: the element loops' projection (a batched sweep needs none)."""
        return fd.make_projector(self.douts)

    @functools.cached_property
    def noise(self) -> fd.Project:
        return fd.make_noise(self.douts)

    @functools.cached_property
    def noise_rms(self) -> fd.Project:
        return fd.make_noise(self.douts, rms=True)

    @functools.cached_property
    def noise_scale(self) -> float:
        outs = list(self.f0) if isinstance(self.f0, tuple) else [self.f0]
        return sum(
            float(np.abs(d).astype(np.float64).ravel() @ np.abs(o).astype(np.float64).ravel())
            for d, o in zip(self.douts, outs) if d is not None
        )

    @functools.cached_property
    def noise_rms_scale(self) -> float:
        """Fast mode moves every output at once; their rounding errors meet random-signed
        dout entries and add like a random walk: sqrt(2 sum dout^2 f^2), not sum |dout f|."""
        outs = list(self.f0) if isinstance(self.f0, tuple) else [self.f0]
        return math.sqrt(2 * sum(
            float(np.sum(np.square(np.ravel(d).astype(np.float64)) * np.square(fd.magnitudes(o))))
            for d, o in zip(self.douts, outs) if d is not None
        ))

    @functools.cached_property
    def condition(self) -> float:
        """The forward's condition at its dtype (conditioning.py): four more forward calls,
        made once, the first time a verdict needs it."""
        outs = list(self.f0) if isinstance(self.f0, tuple) else [self.f0]
        return conditioning.condition(self.op.forward, self.views, self.op.differentiable_inputs,
                                      self.douts, outs, self.eps, np.random.default_rng(0))

    def inherited(self, name: str, numeric: np.ndarray, notes: list[str]) -> float:
        """The absolute error per element a correct backward inherits from the forward's
        loss of digits (0 for a well-conditioned forward), with a note when it is not 0."""
        finite = numeric[np.isfinite(numeric)]
        # (a sampled check sees some elements: scale their norm up to the input's size)
        norm = float(np.linalg.norm(finite)) * math.sqrt(self.bufs[name].size / max(1, finite.size))
        widened = conditioning.inherited(self.condition, self.eps, norm)
        if widened:
            notes.append(conditioning.describe(self.condition, self.eps, widened))
        return widened

    def inherited_along(self, offsets: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        """``_inherited`` for projections along the rows of ``offsets``: the per-element
        error, as a random walk over each direction's ||d||_2."""
        norm = conditioning.projected_norm(numeric, offsets)
        lengths = np.sqrt(np.square(offsets).sum(axis=1))
        return conditioning.inherited(self.condition, self.eps, norm) * lengths

    def full(self, name: str, grad: np.ndarray | Directional,
              indices: np.ndarray | None = None) -> InputResult:
        """Every element of input ``name`` element by element, or the flat ``indices``
        only (a sampled check; the result then counts those elements)."""
        started = time.perf_counter()
        tensor = self.op.inputs[name]
        buf = self.bufs[name]
        flat: Any = buf.reshape(-1)
        values = buf
        low, high = tensor.bounds
        analytic = _dense(grad).astype(np.float64).ravel()
        if indices is not None:
            flat, values, analytic = summary.Subset(flat, indices), flat[indices], analytic[indices]
        plan = fd.plan_steps(values, self.eps, low, high)
        audit_progress.begin(name, values.size, "elements" if indices is None else "sampled elements")
        numeric = np.empty(values.size)
        try:
            if indices is None:
                method = self._numeric(name, flat, plan, numeric)
            else:
                copy = self.returns_views(buf)
                fd.loop_central(self.call, flat, plan, self.project, copy, numeric)
                fd.loop_one_sided(self.call, flat, plan, self.project, copy, self.f0, numeric)
                method = "sampled"
            # (every element within the tolerance itself, the common case: one pass)
            result = summary.strict_pass(name, values, tensor.dtype, analytic, numeric, plan, self.rtol,
                                         self.atol, fd.NOISE_FACTOR * self.eps * self.output_scale)
            if result is None:
                outcome, estimate, notes = verdicts.judge(self, name, flat, plan, analytic, numeric)
        except ContractError:
            raise
        except Exception as exc:
            raise contract.perturbation_error(exc, f"input {name!r}") from None
        if result is None:
            result = summary.summarise(name, values, tensor.dtype, analytic, numeric, estimate, outcome,
                                       plan, self.rtol, self.atol, notes)
        if indices is not None:
            summary.reindex(result, indices, buf.shape)
        else:
            result.coverage = coverage.describe(0, buf.size, buf.size)
        result.method = method
        result.seconds = time.perf_counter() - started
        return result

    def near_policy(self, name: str, mode: str) -> tuple[bool, int]:
        """(may the projections of input ``name`` leave elements near a bound out, for a
        one-by-one check; at most how many)."""
        size = self.bufs[name].size
        limit = max(NEAR_BOUND_ELEMENTS, size // 10)
        if mode == "sampled" or size > SMALL_INPUT:
            return True, limit
        # Fast mode, a small input: the full check where its projections are too coarse
        # (half precision) or would cover less than half of it.
        return self.eps < HALF_EPS, min(limit, size // 2)

    def projections_batched(self, name: str) -> bool:
        """Do input ``name``'s projections run as one batched call? Only for small ops (as
        the element loop: a stacked call of a large op is no cheaper than its slices)."""
        buf = self.bufs[name]
        outs = self.f0 if isinstance(self.f0, tuple) else (self.f0,)
        tensor = self.op.inputs[name]
        return batching.worth_batching(buf.size, sum(o.size for o in outs)) and batching.batchable(
            self.op.forward, self.bufs, name, 4 * PROJECTIONS,
            lambda r: sample_tensor(tensor, buf.shape, r))

    def returns_views(self, buf: np.ndarray) -> bool:
        out = self.f0 if isinstance(self.f0, tuple) else (self.f0,)
        probe = self.call()
        probe = probe if isinstance(probe, tuple) else (probe,)
        return any(isinstance(o, np.ndarray) and np.may_share_memory(o, buf) for o in probe) or not out

    def _numeric(self, name: str, flat: np.ndarray, plan: fd.StepPlan, numeric: np.ndarray) -> str:
        """Fill ``numeric``; returns "batched" or "loop", the way the forward was called."""
        all_central = plan.all_central  # the common case: no one-sided loop to set up
        batched = self._batched_call(name, plan.kind.size if all_central
                                     else int(np.count_nonzero(plan.kind == fd.CENTRAL)))
        # (whether outputs alias the input costs a forward call: asked only where it matters)
        copy = (batched is None or not all_central) and self.returns_views(self.bufs[name])
        if batched is not None:
            call, stack = batched
            sweep = central_sweep if all_central else fd.batched_central
            sweep(call, stack, plan, self.douts, numeric)
            method = "batched"
        else:
            fd.loop_central(self.call, flat, plan, self.project, copy, numeric)
            method = "loop"
        if not all_central:
            fd.loop_one_sided(self.call, flat, plan, self.project, copy, self.f0, numeric)
        return method

    def _batched_call(self, name: str, perturbations: int) -> tuple[Callable[[], Any], np.ndarray] | None:
        """(a call of the forward on a stack of copies of input ``name``, that stack),
        if the forward verifiably batches over a leading axis; else None."""
        buf = self.bufs[name]
        out_size = sum(o.size for o in self.f0) if isinstance(self.f0, tuple) else self.f0.size
        if perturbations < 2 or not batching.worth_batching(buf.size, out_size):
            return None
        rows = 2 * (batching.batch_size(2 * perturbations, buf.size, out_size) // 2)
        tensor = self.op.inputs[name]
        if not batching.batchable(self.op.forward, self.bufs, name, rows,
                                  lambda rng: sample_tensor(tensor, buf.shape, rng)):
            return None
        stack = np.empty((rows, buf.size), dtype=buf.dtype)
        stack[:] = buf.reshape(1, -1)  # (np.repeat's copy, in half its time)
        args = {**self.views, name: batching.readonly(stack).reshape(rows, *buf.shape)}

        return functools.partial(self.op.forward, **args), stack
