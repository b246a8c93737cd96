"""Numeric against analytic gradients for the inputs of one sampled variant.

The audit (``audit.py``) has already checked the op's contract and called backward; this
module runs the finite differences (``finite_diff.py``, batched where ``batching.py``
verified it), gives every element its outcome and summarises each input as an
``InputResult``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from . import audit_progress, batching, contract, coverage, joint_projection, localise, second_look
from . import finite_diff as fd
from .contract import ContractError
from .projection_error import disagrees, worst
from .result import Element, InputResult
from .sampling import sample_tensor
from .spec import Op

#: Once this many elements of an input are confirmed wrong, the verdict is settled and the
#: remaining suspicious ones skip the (eight-call) second look.
CONFIRMED_ENOUGH = 64
SHOWN_MISMATCHES = 5
#: A failing input keeps every element's |analytic - numeric| (for the heat map) up to
#: this size; past it the report keeps the worst elements only.
HEATMAP_ELEMENTS = 16384
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
        self.project = fd.make_projector(douts)
        self.bufs = {k: v.copy() for k, v in values.items()}
        self.views = {k: batching.readonly(v) for k, v in self.bufs.items()}
        self.call: Callable[[], Any]
        self.rtol = float(op.rtol if op.rtol is not None else default_rtol(eps))
        self.atol = float(op.atol or 0.0)

        #: Elements per input a sampled check may compare one by one (set by the audit
        #: from its budget); None: the whole covering sample.
        self.sample_limit: int | None = None
        self._near: dict[str, np.ndarray] = {}  # elements the projections left out
        self._block_tests = 0
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
                quick = passed or self._projections(name, grad, rng, mode)
            except Exception as exc:
                raise ContractError(
                    f"forward raised {type(exc).__name__}: {exc} while the audit perturbed input {name!r}",
                    contract.user_traceback(exc),
                ) from None
            if isinstance(quick, InputResult) and mode == "sampled":
                assert isinstance(grad, np.ndarray)
                result = self._sampled(name, grad, rng, quick)
            elif isinstance(quick, InputResult):
                result = self._near_bound(name, grad, quick)
            elif mode == "sampled" and quick is None:
                assert isinstance(grad, np.ndarray)
                result = self._localised(name, grad, rng)
            else:
                # A projection disagreed (name the elements), or too many elements sit
                # near a bound for the projections: the full per-element check.
                result = self._full(name, grad)
                if quick:
                    result.notes.append(quick)
            result.seconds = time.perf_counter() - started
            return result
        return self._full(name, grad)

    def _near_bound(self, name: str, grad: np.ndarray | Directional, quick: InputResult) -> InputResult:
        """Fast mode: the projections passed over the elements away from a bound; compare
        the few near one element by element (one-sided differences where they must)."""
        near = self._near.get(name)
        if near is None or not near.size:
            return quick
        part = self._full(name, grad, near)
        part.coverage = f"{quick.coverage} + {near.size:,} elements near a bound"
        part.max_rel_error = _max_or_none(part.max_rel_error, quick.max_rel_error)
        return part

    def _sampled(self, name: str, grad: np.ndarray, rng: np.random.Generator,
                 quick: InputResult, extra: np.ndarray | None = None) -> InputResult:
        """Projections agreed: check a covering sample (and any elements near a bound)
        element by element, within the budget."""
        buf = self.bufs[name]
        picks = [coverage.covering_sample(buf.shape, rng, self.sample_limit)]
        near = self._near.get(name)
        if near is not None:
            picks.append(near)
        if extra is not None:
            picks.append(extra)
        indices = np.unique(np.concatenate(picks))
        if indices.size >= buf.size:
            return self._full(name, grad)
        part = self._full(name, grad, indices)
        part.coverage = coverage.describe(PROJECTIONS, indices.size, buf.size,
                                          joint=quick.method.startswith("joint projections"))
        part.max_rel_error = _max_or_none(part.max_rel_error, quick.max_rel_error)
        return part

    def _localised(self, name: str, grad: np.ndarray, rng: np.random.Generator) -> InputResult:
        """A projection disagreed: bisect element blocks until the wrong elements are
        named, then check them (with the covering sample) element by element. If none is
        confirmed the disagreement stays unexplained: check every element."""
        buf = self.bufs[name]
        near = self._near.get(name)
        candidates = np.arange(buf.size)
        if near is not None and near.size:
            candidates = np.setdiff1d(candidates, near, assume_unique=True)
        signs = np.where(rng.integers(0, 2, size=buf.size) == 0, 1.0, -1.0)
        analytic = grad.astype(np.float64, copy=False).ravel()
        try:
            suspects = localise.bisect(candidates, lambda block: self._block_disagrees(name, analytic, block, signs))
        except Exception as exc:
            raise ContractError(
                f"forward raised {type(exc).__name__}: {exc} while the audit perturbed input {name!r}",
                contract.user_traceback(exc),
            ) from None
        tests = self._block_tests
        self._block_tests = 0
        placeholder = InputResult(name=name, shape=tuple(buf.shape), dtype=self.op.inputs[name].dtype,
                                  status="pass", counts={})
        part = self._sampled(name, grad, rng, placeholder, suspects)
        if part.status == "fail":
            part.coverage += f"; a projection disagreed, localised by {tests} block projections"
            return part
        result = self._full(name, grad)
        result.notes.append("a projection disagreed but localisation named no wrong element: "
                            "checked element by element")
        return result

    def _block_disagrees(self, name: str, analytic: np.ndarray, block: np.ndarray,
                         signs: np.ndarray) -> bool:
        """Does the projection along ``signs`` restricted to ``block`` disagree?"""
        self._block_tests += 1
        flat = self.bufs[name].reshape(-1)
        x = flat[block].copy()
        x64 = x.astype(np.float64)
        t = 2.0 ** round(math.log2(self.eps ** (1.0 / 3.0)))
        step = np.maximum(np.abs(x64), 1.0) * t * signs[block]
        up, down = (x64 + step).astype(flat.dtype), (x64 - step).astype(flat.dtype)
        offsets = up.astype(np.float64) - down.astype(np.float64)
        flat[block] = up
        fp = fd._copy(self.call())
        flat[block] = down
        fm = self.call()
        audit_progress.tick()
        flat[block] = x
        numeric = self.project(fp, fm)
        a = float(offsets @ analytic[block])
        allowed = (self.rtol * max(abs(a), abs(numeric))
                   + fd.NOISE_FACTOR * self.eps * self.noise_rms_scale
                   + self.atol * float(np.abs(offsets).sum()))
        return abs(a - numeric) > allowed

    # Needed only by some checks: computed on first use (a tiny op's audit, and a fast
    # one's, is mostly such fixed costs).
    @functools.cached_property
    def output_scale(self) -> float:
        """Largest |dout| (summed over outputs) times largest |f|: the element-wise
        rounding bound's scale."""
        outs = list(self.f0) if isinstance(self.f0, tuple) else [self.f0]
        dmax = sum(float(np.max(np.abs(d), initial=0.0)) for d in self.douts if d is not None)
        fmax = max(float(np.max(np.abs(o), initial=0.0)) for o in outs if o.dtype.kind == "f")
        return dmax * fmax

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

    def _full(self, name: str, grad: np.ndarray | Directional,
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
            flat, values, analytic = _Subset(flat, indices), flat[indices], analytic[indices]
        plan = fd.plan_steps(values, self.eps, low, high)
        audit_progress.begin(name, values.size, "elements" if indices is None else "sampled elements")
        numeric = np.empty(values.size)
        try:
            if indices is None:
                method = self._numeric(name, flat, plan, numeric)
            else:
                copy = self._returns_views(buf)
                fd.loop_central(self.call, flat, plan, self.project, copy, numeric)
                fd.loop_one_sided(self.call, flat, plan, self.project, copy, self.f0, numeric)
                method = "sampled"
            outcome, estimate, notes = self._verdicts(name, flat, plan, analytic, numeric)
        except ContractError:
            raise
        except Exception as exc:
            hint = ("; forward seems to write into its input, which the audit passes read-only"
                    if "read-only" in str(exc) else "")
            raise ContractError(
                f"forward raised {type(exc).__name__}: {exc} while the audit perturbed input {name!r}{hint}",
                contract.user_traceback(exc),
            ) from None
        result = _summarise(name, values, tensor.dtype, analytic, numeric, estimate, outcome, plan,
                            self.rtol, self.atol, notes)
        if indices is not None:
            _reindex(result, indices, buf.shape)
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

    def _projections(self, name: str, grad: np.ndarray | Directional, rng: np.random.Generator,
                     mode: str = "fast") -> InputResult | str | None:
        """Fast mode: compare <dout, J d> (finite differences) with <backward(dout), d> for
        ``PROJECTIONS`` random signed directions d; ``None`` when any of them disagrees, and
        the reason when the projections cannot cover the input."""
        tensor = self.op.inputs[name]
        buf = self.bufs[name]
        flat = buf.reshape(-1)
        x64 = flat.astype(np.float64)  # a copy: the loop below writes into flat
        low, high = tensor.bounds
        t = joint_projection.base_t(self.eps)
        got = joint_projection.steps(x64, t, low, high, *self.near_policy(name, mode))
        if isinstance(got, str):
            return got
        step, self._near[name] = got
        # More pairs repeat directions at twice the step: how far the differences move with
        # the step measures their truncation error (a wrong gradient's does not move).
        signed = joint_projection.signed(rng, step)
        batched = self.projections_batched(name)
        if batched:  # every direction repeated, in the same call
            signed = np.concatenate([signed[:PROJECTIONS], 2 * signed[:PROJECTIONS]])
        repeats = list(range(PROJECTIONS)) if batched else [0]
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
            args = {**self.views, name: batching.readonly(stack).reshape(rows, *buf.shape)}
            numeric[:] = fd.project_rows(self.op.forward(**args), self.douts, pairs)
            method = "projections, batched"
        else:
            copy = self._returns_views(buf)
            for k in range(pairs):
                if k == PROJECTIONS and isinstance(grad, np.ndarray):  # repeat the worst-agreeing direction at 2t
                    repeats[0] = worst(analytic[:k], numeric[:k])
                    analytic[k] = self._repeat(stack, offsets, signed, x64, repeats[0]) @ grad.astype(np.float64).ravel()
                flat[:] = stack[2 * k]
                fp = self.call()
                fp = fd._copy(fp) if copy else fp
                flat[:] = stack[2 * k + 1]
                numeric[k] = self.project(fp, self.call())
                audit_progress.slots[audit_progress.DONE] = k + 1
            flat[:] = x64
            method = "projections"
        noise = fd.NOISE_FACTOR * self.eps * self.noise_rms_scale
        spread = np.abs(offsets).sum(axis=1) if self.atol else 0.0
        diff = np.abs(analytic - numeric)
        rounding = self._rounding(grad, offsets) if isinstance(grad, np.ndarray) else None
        if disagrees(diff, analytic, numeric, self.rtol, noise, spread,
                                      self.atol, rounding, repeats):
            return None
        analytic, numeric, diff = analytic[:PROJECTIONS], numeric[:PROJECTIONS], diff[:PROJECTIONS]
        rel = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
        return InputResult(
            name=name, shape=tuple(buf.shape), dtype=tensor.dtype, status="pass",
            counts={label: 0 for label in fd.OUTCOME_NAMES},
            max_rel_error=float(rel.max()), max_abs_error=float(diff.max() / (2 * t)),
            rtol=self.rtol, atol=self.atol, step_min=t, step_max=t,
            max_error_estimate=noise / (2 * t), method=method,
            coverage=f"{PROJECTIONS} projections",
        )

    def projections_batched(self, name: str) -> bool:
        """Do input ``name``'s projections run as one batched call? Only for small ops (as
        the element loop: a stacked call of a large op is no cheaper than its slices)."""
        buf = self.bufs[name]
        outs = self.f0 if isinstance(self.f0, tuple) else (self.f0,)
        tensor = self.op.inputs[name]
        return batching.worth_batching(buf.size, sum(o.size for o in outs)) and batching.batchable(
            self.op.forward, self.bufs, name, 4 * PROJECTIONS,
            lambda r: sample_tensor(tensor, buf.shape, r))

    @staticmethod
    def _repeat(stack: np.ndarray, offsets: np.ndarray, signed: np.ndarray, x64: np.ndarray,
                k: int) -> np.ndarray:
        """Make the last pair of ``stack`` direction ``k`` at twice the step; its offsets."""
        np.multiply(signed[k], 2.0, out=signed[-1])
        np.add(x64, signed[-1], out=stack[-2], casting="unsafe")
        np.subtract(x64, signed[-1], out=stack[-1], casting="unsafe")
        np.subtract(stack[-2], stack[-1], out=offsets[-1], dtype=np.float64)
        return offsets[-1]

    def _rounding(self, grad: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The gradient's own rounding in each projection: 64 units of its dtype (at
        least the audit's) on each of its terms, added as a random walk."""
        terms = np.sqrt(np.square(offsets) @ np.square(grad.astype(np.float64, copy=False).ravel()))
        geps = float(np.finfo(grad.dtype).eps) if grad.dtype.kind == "f" else self.eps
        return 64 * max(geps, self.eps) * terms

    def _returns_views(self, buf: np.ndarray) -> bool:
        out = self.f0 if isinstance(self.f0, tuple) else (self.f0,)
        probe = self.call()
        probe = probe if isinstance(probe, tuple) else (probe,)
        return any(isinstance(o, np.ndarray) and np.may_share_memory(o, buf) for o in probe) or not out

    def _numeric(self, name: str, flat: np.ndarray, plan: fd.StepPlan, numeric: np.ndarray) -> str:
        """Fill ``numeric``; returns "batched" or "loop", the way the forward was called."""
        central = plan.kind == fd.CENTRAL
        batched = self._batched_call(name, int(np.count_nonzero(central)))
        # (whether outputs alias the input costs a forward call: asked only where it matters)
        copy = (batched is None or not central.all()) and self._returns_views(self.bufs[name])
        if batched is not None:
            call, stack = batched
            fd.batched_central(call, stack, plan, self.douts, numeric)
            method = "batched"
        else:
            fd.loop_central(self.call, flat, plan, self.project, copy, numeric)
            method = "loop"
        fd.loop_one_sided(self.call, flat, plan, self.project, copy, self.f0, numeric)
        return method

    def _batched_call(self, name: str, perturbations: int) -> tuple[Callable[[], Any], np.ndarray] | None:
        """(a call of the forward on a stack of copies of input ``name``, that stack),
        if the forward verifiably batches over a leading axis; else None."""
        buf = self.bufs[name]
        outs = self.f0 if isinstance(self.f0, tuple) else (self.f0,)
        if perturbations < 2 or not batching.worth_batching(buf.size, sum(o.size for o in outs)):
            return None
        rows = 2 * (batching.batch_size(2 * perturbations, buf.size, sum(o.size for o in outs)) // 2)
        tensor = self.op.inputs[name]
        if not batching.batchable(self.op.forward, self.bufs, name, rows,
                                  lambda rng: sample_tensor(tensor, buf.shape, rng)):
            return None
        stack = np.repeat(buf.reshape(1, -1), rows, axis=0)
        args = {**self.views, name: batching.readonly(stack).reshape(rows, *buf.shape)}

        return functools.partial(self.op.forward, **args), stack

    def _verdicts(self, name: str, flat: np.ndarray, plan: fd.StepPlan, analytic: np.ndarray,
                  numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        width = np.abs(plan.nodes[0] - plan.nodes[1])
        if width.all():
            estimate = fd.NOISE_FACTOR * self.eps * self.output_scale / width
        else:
            with np.errstate(divide="ignore"):  # a step below the input's resolution: inf
                estimate = fd.NOISE_FACTOR * self.eps * self.output_scale / width
        diff = np.abs(analytic - numeric)
        allowed = self.rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + self.atol
        strict = diff <= allowed
        within = diff <= allowed + estimate
        outcome = np.where(within, fd.PASS, fd.FAIL).astype(np.int8)
        # The rounding bound above is global (largest |dout| times largest |f|): lenient for
        # an element whose own outputs are small. Where a pass rests on it, bound the
        # element's own rounding (two more calls) and pass it only within that.
        leaning = within & ~strict
        for i in (np.flatnonzero(leaning & (plan.kind == fd.CENTRAL)).tolist() if leaning.any() else ()):
            own = fd.NOISE_FACTOR * self.eps * fd.own_rounding(self.call, flat, i, plan, self.noise)
            estimate[i] = min(estimate[i], own / width[i])
            if diff[i] > allowed[i] + estimate[i]:
                outcome[i] = fd.FAIL
        notes: list[str] = []
        suspicious = np.flatnonzero(outcome == fd.FAIL)
        # Worst first, so that a wrong gradient is confirmed after a few second looks.
        suspicious = suspicious[np.argsort(-(diff[suspicious] / (allowed[suspicious] + estimate[suspicious])), kind="stable")]
        confirmed = 0
        low, high = self.op.inputs[name].bounds
        if suspicious.size:  # given inputs may lie outside the range: widen it as plan_steps does
            low, high = min(low, float(flat.min())), max(high, float(flat.max()))
        for position, i in enumerate(suspicious.tolist()):
            if confirmed >= CONFIRMED_ENOUGH:
                rest = suspicious.size - position
                notes.append(f"{rest} more suspicious element(s) were counted as failures without a "
                             f"second look, after {confirmed} confirmed failures")
                break
            r = second_look.refine(self.call, flat, i, plan, self.eps, self.project, self.noise, self.f0, low, high)
            a = analytic[i]
            if not math.isnan(r.estimate):
                numeric[i], estimate[i] = r.estimate, r.error
            tol = self.rtol * max(abs(a), abs(r.estimate)) + self.atol
            if r.kink:
                lo, hi = sorted((r.left, r.right))
                slack = tol + r.error
                outcome[i] = fd.NONDIFF if lo - slack <= a <= hi + slack else fd.FAIL
            elif not r.smooth or (
                r.estimates[-1] == 0.0
                and abs(a) * plan.h[i] / 4 < fd.NOISE_FACTOR * self.eps * self.noise_scale
            ):
                # Not converging, or the finest step (h/8, central: 2 * h/8 wide) cannot move
                # the output past its own rounding: the difference cannot resolve it.
                outcome[i] = fd.UNRELIABLE
            elif abs(a - r.estimate) > tol + fd.ERROR_ESTIMATE_FACTOR * r.error:
                outcome[i] = fd.FAIL
            elif r.error > tol:
                outcome[i] = fd.UNRELIABLE
            else:
                outcome[i] = fd.PASS
            if outcome[i] == fd.UNRELIABLE:
                outcome[i], numeric[i], estimate[i] = self._widened(
                    flat, i, plan, a, low, high, numeric[i], estimate[i])
            confirmed += outcome[i] == fd.FAIL
        passed = outcome == fd.PASS
        if not strict.any() and passed.any() and not (outcome == fd.FAIL).any():
            final = self.rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + self.atol
            if not np.any(passed & (np.abs(analytic - numeric) <= final)):
                notes.append("no element could be verified: every difference is within its own "
                             "rounding bound (the steps that fit the input's range barely move the "
                             "output), so a wrong gradient would pass here too")
        return outcome, estimate, notes

    def _widened(self, flat: np.ndarray, i: int, plan: fd.StepPlan, a: float, low: float,
                 high: float, numeric: float, error: float) -> tuple[int, float, float]:
        """Small steps could not resolve element i: look with steps h, 2h, 4h. A failure
        needs both the extrapolated and the plain difference to disagree beyond their
        errors (a kink within 4h can fool one of them, not both)."""
        w = second_look.widen(self.call, flat, i, plan, self.eps, self.project, self.noise_rms, low, high)
        if w is None or not w.smooth:
            return fd.UNRELIABLE, numeric, error
        tol = self.rtol * max(abs(a), abs(w.estimate)) + self.atol
        if (abs(a - w.estimate) > tol + fd.ERROR_ESTIMATE_FACTOR * w.error
                and abs(a - w.raw) > tol + fd.ERROR_ESTIMATE_FACTOR * w.raw_error):
            return fd.FAIL, w.estimate, w.error
        if w.error <= tol and abs(a - w.estimate) <= tol + w.error:
            return fd.PASS, w.estimate, w.error
        return fd.UNRELIABLE, numeric, error


def _summarise(name: str, buf: np.ndarray, dtype: str, analytic: np.ndarray, numeric: np.ndarray,
               estimate: np.ndarray, outcome: np.ndarray, plan: fd.StepPlan, rtol: float,
               atol: float, notes: list[str]) -> InputResult:
    shape = buf.shape
    tally = np.bincount(outcome, minlength=len(fd.OUTCOME_NAMES))
    counts = {label: int(n) for label, n in zip(fd.OUTCOME_NAMES, tally)}
    diff = np.abs(analytic - numeric)
    rel = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
    all_pass = counts["pass"] == outcome.size
    # Kinks and unresolved elements have no single numerical derivative to compare.
    compared = np.ones(outcome.size, bool) if all_pass else (outcome == fd.PASS) | (outcome == fd.FAIL)

    def element(i: int) -> Element:
        return Element(
            index=tuple(int(k) for k in np.unravel_index(i, shape)) if shape else (),
            analytic=float(analytic[i]), numeric=float(numeric[i]), abs_error=float(diff[i]),
            rel_error=float(rel[i]), error_estimate=float(estimate[i]),
            outcome=fd.OUTCOME_NAMES[outcome[i]],
        )

    if all_pass:
        failing = unresolved = np.empty(0, dtype=np.intp)
        worst = int(np.argmax(rel)) if rel.size else None
    else:
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
        max_rel_error=float(rel[worst]) if all_pass and rel.size else (
            float(rel[compared].max()) if compared.any() else None),
        max_abs_error=float(diff.max()) if all_pass and diff.size else (
            float(diff[compared].max()) if compared.any() else None),
        worst=element(worst) if worst is not None else None,
        mismatches=[element(int(i)) for i in failing[:SHOWN_MISMATCHES]],
        unresolved=[element(int(i)) for i in unresolved],
        rtol=rtol, atol=atol,
        step_min=float(plan.h.min()) if plan.h.size else 0.0,
        step_max=float(plan.h.max()) if plan.h.size else 0.0,
        one_sided=int(np.count_nonzero(plan.kind != fd.CENTRAL)),
        max_error_estimate=float(estimate.max()) if estimate.size else 0.0,
        notes=notes,
        abs_errors=_abs_errors(diff, compared) if failing.size else None,
    )


def _abs_errors(diff: np.ndarray, compared: np.ndarray) -> list[float | None] | None:
    if diff.size > HEATMAP_ELEMENTS:
        return None
    return [float(d) if c else None for d, c in zip(diff.tolist(), compared.tolist())]


class _Subset:
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


def _reindex(result: InputResult, indices: np.ndarray, shape: tuple[int, ...]) -> None:
    """A sampled check's result was summarised over its sample: name the input's elements."""
    for element in [result.worst, *result.mismatches, *result.unresolved]:
        if element is not None and element.index:
            flat = int(indices[element.index[0]])
            element.index = tuple(int(k) for k in np.unravel_index(flat, shape)) if shape else ()
    result.shape = tuple(shape)
    result.abs_errors = None
    result.coverage = coverage.describe(0, indices.size, int(np.prod(shape)) if shape else 1)


def _max_or_none(a: float | None, b: float | None) -> float | None:
    present = [v for v in (a, b) if v is not None]
    return max(present) if present else None
