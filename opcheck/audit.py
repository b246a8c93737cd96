"""Audit one op: contract checks, then analytic vs numeric gradients, for every variant.

Data flows one way: sampled inputs → forward/backward (``contract``) → finite differences
(``finite_diff``) → per-element outcomes → a ``result.OpReport``. Nothing here prints.
"""

from __future__ import annotations

import difflib
import functools
import math
import shlex
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from . import batching, contract, finite_diff as fd
from .contract import ContractError
from .errors import InputError, UsageError
from .plugin_manager import PluginInfo, PluginSpec, discover
from .result import Element, InputResult, OpReport, VariantResult, worst_status
from .sampling import rng_for, sample_cotangent, sample_inputs, sample_tensor, variants
from .spec import Op

MODES = ("full", "fast")
#: Once this many elements of an input are confirmed wrong, the verdict is settled and the
#: remaining suspicious ones skip the (eight-call) second look.
CONFIRMED_ENOUGH = 64
SHOWN_MISMATCHES = 5
#: Random signed directions per input in fast mode.
PROJECTIONS = 4


def default_rtol(eps: float) -> float:
    """eps^(1/3) / 4: 1.5e-6 for float64, 1.2e-3 for float32, 2.5e-2 for float16."""
    return eps ** (1.0 / 3.0) / 4.0


def audit(
    op: Op | str,
    *,
    seed: int = 0,
    mode: str = "full",
    inputs: Mapping[str, Any] | None = None,
    variant: str | None = None,
    plugins: Iterable[PluginSpec] = (),
    plugin: PluginInfo | None = None,
) -> OpReport:
    """Audit ``op`` (an ``Op`` or a discovered op's name) and return its report.

    ``variant`` restricts the audit to one shape variant ("default", "N=1", ...);
    ``inputs`` fixes some or all input values (their shapes fix the symbolic dims).
    """
    if mode not in MODES:
        raise UsageError(f"mode={mode!r} is not a mode; use one of {MODES}")
    if isinstance(op, str):
        registry = discover(plugins)
        if op not in registry:
            close = difflib.get_close_matches(op, list(registry), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `opcheck list` shows every op"
            raise UsageError(f"no op named {op!r}{hint}")
        plugin = plugin or registry.plugin_of[op]
        op = registry[op]
    started = time.perf_counter()
    if inputs is not None:
        dims, given = _given_inputs(op, inputs)
        plan = {"given": dims}
    else:
        given = None
        plan = variants(op)
        if variant is not None:
            if variant not in plan:
                raise UsageError(
                    f"op {op.name!r} has no variant {variant!r}; its variants are {list(plan)}"
                )
            plan = {variant: plan[variant]}
    results = [_audit_variant(op, label, dims, seed, mode, given) for label, dims in plan.items()]
    report = OpReport(
        name=op.name,
        status=worst_status([v.status for v in results]),
        mode=mode,
        seed=seed,
        plugin=plugin.name if plugin else None,
        variants=results,
        duration=time.perf_counter() - started,
    )
    bad = report.failing_variant()
    if bad is not None:
        report.message = f"variant {bad.label}: {bad.message}"
        if plugin is None:  # an Op object from Python: the CLI could not find it by name
            mode_arg = f", mode={mode!r}" if mode != "full" else ""
            report.reproduce = (f"opcheck.audit(op, seed={seed}, variant={bad.label!r}{mode_arg})"
                                f"  # op: your Op {op.name!r}")
        elif given is None:
            report.reproduce = reproduce_command(op.name, seed, bad.label, mode, plugin)
    report.warnings = [f"{v.label}: {w}" for v in results for w in v.warnings]
    return report


def reproduce_command(
    name: str, seed: int, variant: str, mode: str, plugin: PluginInfo | None
) -> str:
    parts = ["opcheck", "audit", name]
    if plugin is not None and plugin.source == "-p":
        parts += ["-p", plugin.name]
    parts += ["--seed", str(seed), "--variant", variant]
    if mode != "full":
        parts += ["--mode", mode]
    return shlex.join(parts)


def _given_inputs(op: Op, given: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Check user-supplied inputs against the schema; their shapes fix the symbolic dims."""
    unknown = [k for k in given if k not in op.inputs]
    if unknown:
        raise InputError(f"op {op.name!r} has no input(s) {unknown}; its inputs are {list(op.inputs)}")
    dims: dict[str, int] = {}
    source: dict[str, str] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, value in given.items():
        tensor = op.inputs[name]
        arr = np.asarray(value)
        if arr.dtype != np.dtype(tensor.dtype):
            raise InputError(
                f"input {name!r} of op {op.name!r}: expected dtype {tensor.dtype}, got {arr.dtype}; "
                f"convert it with .astype({tensor.dtype!r})"
            )
        if arr.ndim != len(tensor.shape):
            raise InputError(
                f"input {name!r} of op {op.name!r}: expected shape {tensor.shape} ({len(tensor.shape)} "
                f"axes), got shape {arr.shape}"
            )
        for axis, (want, got) in enumerate(zip(tensor.shape, arr.shape)):
            if isinstance(want, int) and want != got:
                raise InputError(
                    f"input {name!r} of op {op.name!r}: axis {axis} must have size {want}, got shape {arr.shape}"
                )
            if isinstance(want, str):
                if want in dims and dims[want] != got:
                    raise InputError(
                        f"input {name!r} of op {op.name!r}: dimension {want!r} is {got} here but "
                        f"{dims[want]} in input {source[want]!r} (shape {arrays[source[want]].shape})"
                    )
                dims[want], source[want] = got, name
        arrays[name] = arr
    full = {**op.default_dims(), **dims}
    return full, arrays


def _audit_variant(
    op: Op, label: str, dims: dict[str, int], seed: int, mode: str,
    given: dict[str, np.ndarray] | None,
) -> VariantResult:
    result = VariantResult(label=label, dims=dims, seed=seed)
    rng = rng_for(seed, op.name, label)
    values = sample_inputs(op, dims, rng)
    if given:
        values.update({k: v.copy() for k, v in given.items()})
    try:
        _check(op, values, rng, mode, result)
    except ContractError as exc:
        result.status, result.message, result.traceback = "error", exc.message, exc.traceback
    return result


def _copies(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in values.items()}


def _check(op: Op, values: dict[str, np.ndarray], rng: np.random.Generator, mode: str,
           result: VariantResult) -> None:
    # Forward: contract, finiteness, determinism (first call against a second one).
    work = _copies(values)
    raw = contract.call(op.forward, "forward", work)
    contract.check_unmodified("forward", work, values)
    outs, multi = contract.as_outputs(raw)
    contract.check_finite(outs, "forward's output")
    again, _ = contract.as_outputs(contract.call(op.forward, "forward", _copies(values)))
    _check_deterministic(outs, again)

    douts = [sample_cotangent(o, rng) if o.dtype.kind == "f" else None for o in outs]
    if all(d is None for d in douts):
        raise ContractError("forward has no floating-point output, so there is nothing to differentiate")
    dout_arg = tuple(douts) if multi else douts[0]
    out_arg = tuple(outs) if multi else outs[0]
    grads = _backward(op, values, dout_arg, out_arg, result)
    _check_linear(op, values, dout_arg, out_arg, grads, result)

    eps = float(max([np.finfo(o.dtype).eps for o in outs if o.dtype.kind == "f"]
              + [np.finfo(values[n].dtype).eps for n in grads]))
    checker = _GradientChecker(op, values, douts, out_arg, eps)
    for name in op.inputs:
        if name in grads:
            result.inputs.append(checker.check(name, grads[name], mode, rng))
    failed = [i for i in result.inputs if i.status == "fail"]
    if failed and result.status == "pass":
        result.status = "fail"
        first = failed[0]
        w = first.worst
        result.message = (
            f"gradient mismatch in input {first.name!r}: {first.counts['fail']} / {first.size} "
            f"elements differ; worst at {w.index}: analytic {w.analytic:.6g} vs numeric {w.numeric:.6g}"
            if w else f"gradient mismatch in input {first.name!r}"
        )
    for item in result.inputs:
        result.warnings += [f"{item.name}: {note}" for note in item.notes if note.startswith("no element")]


def _check_deterministic(first: list[np.ndarray], second: list[np.ndarray]) -> None:
    for k, (a, b) in enumerate(zip(first, second)):
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ContractError("forward is nondeterministic: two calls on equal inputs returned different shapes or dtypes")
        if contract.identical(a, b):
            continue
        if a.dtype.kind == "f":
            scale = float(np.max(np.abs(a), initial=1.0))
            tol = 1e3 * np.finfo(a.dtype).eps * scale
            differs = not np.allclose(a, b, rtol=0.0, atol=tol, equal_nan=True)
        else:
            differs = True
        if differs:
            idx = tuple(int(i) for i in np.argwhere(a != b)[0]) if a.ndim else ()
            raise ContractError(
                f"forward is nondeterministic: two calls on equal inputs differ (output {k} at "
                f"index {idx}: {a[idx]!r} vs {b[idx]!r}); if it draws random numbers, make "
                "them a declared input (e.g. a dropout mask) instead"
            )


def _backward_kwargs(op: Op, values: Mapping[str, np.ndarray], dout: Any, out: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dout": _copy_arg(dout), **_copies(values)}
    if op.backward_takes_out():
        kwargs["out"] = _copy_arg(out)
    return kwargs


def _copy_arg(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(None if v is None else v.copy() for v in value)
    return None if value is None else value.copy()


def _backward(op: Op, values: dict[str, np.ndarray], dout: Any, out: Any,
              result: VariantResult) -> dict[str, np.ndarray]:
    kwargs = _backward_kwargs(op, values, dout, out)
    pristine = {k: _copy_arg(v) for k, v in kwargs.items()}
    raw = contract.call(op.backward, "backward", kwargs)
    contract.check_unmodified("backward", kwargs, pristine)
    grads, warnings = contract.gradients(op, raw, values)
    result.warnings += warnings
    return grads


def _check_linear(op: Op, values: dict[str, np.ndarray], dout: Any, out: Any,
                  grads: dict[str, np.ndarray], result: VariantResult) -> None:
    """A VJP is linear in dout; scaling by -1/2 is exact in floating point."""
    scaled = tuple(None if d is None else d * -0.5 for d in dout) if isinstance(dout, tuple) else dout * -0.5
    raw = contract.call(op.backward, "backward", _backward_kwargs(op, values, scaled, out))
    again, _ = contract.gradients(op, raw, values)
    for name, grad in grads.items():
        expected = grad.astype(np.float64) * -0.5
        got = again[name].astype(np.float64)
        tol = 64 * np.finfo(grad.dtype if grad.dtype.kind == "f" else np.float64).eps
        scale = float(np.max(np.abs(expected), initial=0.0))
        if got.shape != expected.shape or float(np.max(np.abs(got - expected), initial=0.0)) > tol * scale:
            result.status = "fail"
            result.message = (
                f"backward is not linear in dout: for input {name!r}, backward(-0.5 * dout) is not "
                "-0.5 * backward(dout); a vector-Jacobian product must scale with dout "
                "(does backward ignore dout?)"
            )
            return


class _GradientChecker:
    """Numeric vs analytic gradients for the inputs of one sampled variant."""

    def __init__(self, op: Op, values: dict[str, np.ndarray], douts: list[np.ndarray | None],
                 f0: Any, eps: float) -> None:
        self.op, self.eps, self.douts, self.f0 = op, eps, douts, f0
        self.project = fd.make_projector(douts)
        self.noise = fd.make_noise(douts)
        self.bufs = _copies(values)
        self.views = {k: batching.readonly(v) for k, v in self.bufs.items()}
        self.call: Callable[[], Any]
        outs = list(f0) if isinstance(f0, tuple) else [f0]
        dmax = sum(float(np.max(np.abs(d), initial=0.0)) for d in douts if d is not None)
        fmax = max(float(np.max(np.abs(o), initial=0.0)) for o in outs if o.dtype.kind == "f")
        self.output_scale = dmax * fmax
        self.noise_scale = sum(
            float(np.abs(d).astype(np.float64).ravel() @ np.abs(o).astype(np.float64).ravel())
            for d, o in zip(douts, outs) if d is not None
        )
        self.rtol = float(op.rtol if op.rtol is not None else default_rtol(eps))
        self.atol = float(op.atol or 0.0)

        # A partial calls straight into the op: the hot loop pays no Python frame of ours.
        self.call = functools.partial(op.forward, **self.views)

    def check(self, name: str, grad: np.ndarray, mode: str, rng: np.random.Generator) -> InputResult:
        started = time.perf_counter()
        if mode == "fast":
            try:
                quick = self._projections(name, grad, rng)
            except Exception as exc:
                raise ContractError(
                    f"forward raised {type(exc).__name__}: {exc} while the audit perturbed input {name!r}",
                    contract.user_traceback(exc),
                ) from None
            if quick is not None:
                quick.seconds = time.perf_counter() - started
                return quick
            # A projection disagreed: name the elements with the full per-element check.
        started = time.perf_counter()
        tensor = self.op.inputs[name]
        buf = self.bufs[name]
        flat = buf.reshape(-1)
        low, high = tensor.bounds
        plan = fd.plan_steps(buf, self.eps, low, high)
        analytic = grad.astype(np.float64).ravel()
        numeric = np.empty(flat.size)
        copy = self._returns_views(buf)
        try:
            method = self._numeric(name, flat, plan, copy, numeric)
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
        result = _summarise(name, buf, tensor.dtype, analytic, numeric, estimate, outcome, plan,
                            self.rtol, self.atol, notes)
        result.method = method
        result.seconds = time.perf_counter() - started
        return result

    def _projections(self, name: str, grad: np.ndarray, rng: np.random.Generator) -> InputResult | None:
        """Fast mode: compare <dout, J d> (finite differences) with <backward(dout), d> for
        ``PROJECTIONS`` random signed directions d; ``None`` when any of them disagrees."""
        tensor = self.op.inputs[name]
        buf = self.bufs[name]
        flat = buf.reshape(-1)
        x64 = flat.astype(np.float64)
        low, high = tensor.bounds
        scale = np.maximum(1.0, np.abs(x64))
        t = 2.0 ** round(math.log2(self.eps ** (1.0 / 3.0)))  # base_step at |x| <= 1
        signs = rng.integers(0, 2, size=(PROJECTIONS, flat.size)) * 2.0 - 1.0
        if x64.min() - t * scale.max() < low or x64.max() + t * scale.max() > high:
            signs *= (x64 - t * scale >= low) & (x64 + t * scale <= high)  # stay inside
        plus = (x64 + t * scale * signs).astype(buf.dtype)
        minus = (x64 - t * scale * signs).astype(buf.dtype)
        offsets = (plus.astype(np.float64) - x64) + (x64 - minus.astype(np.float64))
        analytic = offsets @ grad.astype(np.float64).ravel()
        numeric = np.empty(PROJECTIONS)
        rows = 2 * PROJECTIONS
        if batching.batchable(self.op.forward, self.bufs, name, rows,
                              lambda r: sample_tensor(tensor, buf.shape, r)):
            stack = np.empty((rows, flat.size), dtype=buf.dtype)
            stack[0::2], stack[1::2] = plus, minus
            args = {**self.views, name: batching.readonly(stack).reshape(rows, *buf.shape)}
            numeric[:] = fd.project_rows(self.op.forward(**args), self.douts, PROJECTIONS)
            method = "projections, batched"
        else:
            copy = self._returns_views(buf)
            for k in range(PROJECTIONS):
                flat[:] = plus[k]
                fp = self.call()
                fp = fd._copy(fp) if copy else fp
                flat[:] = minus[k]
                numeric[k] = self.project(fp, self.call())
            flat[:] = x64.astype(buf.dtype)
            method = "projections"
        noise = fd.NOISE_FACTOR * self.eps * self.noise_scale
        allowed = (self.rtol * np.maximum(np.abs(analytic), np.abs(numeric))
                   + self.atol * np.abs(offsets).sum(axis=1) + noise)
        diff = np.abs(analytic - numeric)
        if np.any(diff > allowed):
            return None
        rel = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
        return InputResult(
            name=name, shape=tuple(buf.shape), dtype=tensor.dtype, status="pass",
            counts={label: 0 for label in fd.OUTCOME_NAMES},
            max_rel_error=float(rel.max()), max_abs_error=float(diff.max() / (2 * t)),
            rtol=self.rtol, atol=self.atol, step_min=t, step_max=t,
            max_error_estimate=noise / (2 * t), method=method,
        )

    def _returns_views(self, buf: np.ndarray) -> bool:
        out = self.f0 if isinstance(self.f0, tuple) else (self.f0,)
        probe = self.call()
        probe = probe if isinstance(probe, tuple) else (probe,)
        return any(isinstance(o, np.ndarray) and np.may_share_memory(o, buf) for o in probe) or not out

    def _numeric(self, name: str, flat: np.ndarray, plan: fd.StepPlan, copy: bool,
                 numeric: np.ndarray) -> str:
        """Fill ``numeric``; returns "batched" or "loop", the way the forward was called."""
        call_batched = self._batched_call(name, int(np.count_nonzero(plan.kind == fd.CENTRAL)))
        if call_batched is not None:
            call_batched[0](call_batched[1], numeric, plan)
            method = "batched"
        else:
            fd.loop_central(self.call, flat, plan, self.project, copy, numeric)
            method = "loop"
        fd.loop_one_sided(self.call, flat, plan, self.project, copy, self.f0, numeric)
        return method

    def _batched_call(self, name: str, perturbations: int) -> Any:
        """A batched evaluator for input ``name`` if its forward verifiably batches."""
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

        def run(_: Any, numeric: np.ndarray, plan: fd.StepPlan) -> None:
            fd.batched_central(lambda: self.op.forward(**args), stack, plan, self.douts, numeric)

        return run, None

    def _verdicts(self, name: str, flat: np.ndarray, plan: fd.StepPlan, analytic: np.ndarray,
                  numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        width = np.abs(plan.nodes[0] - plan.nodes[1])
        estimate = fd.NOISE_FACTOR * self.eps * self.output_scale / width
        diff = np.abs(analytic - numeric)
        allowed = self.rtol * np.maximum(np.abs(analytic), np.abs(numeric)) + self.atol
        outcome = np.where(diff <= allowed + estimate, fd.PASS, fd.FAIL).astype(np.int8)
        notes: list[str] = []
        suspicious = np.flatnonzero(outcome == fd.FAIL)
        # Worst first, so that a wrong gradient is confirmed after a few second looks.
        suspicious = suspicious[np.argsort(-(diff[suspicious] / (allowed[suspicious] + estimate[suspicious])), kind="stable")]
        confirmed = 0
        low, high = self.op.inputs[name].bounds
        for position, i in enumerate(suspicious.tolist()):
            if confirmed >= CONFIRMED_ENOUGH:
                rest = suspicious.size - position
                notes.append(f"{rest} more suspicious element(s) were counted as failures without a "
                             f"second look, after {confirmed} confirmed failures")
                break
            r = fd.refine(self.call, flat, i, plan, self.eps, self.project, self.noise, self.f0, low, high)
            a = analytic[i]
            numeric[i], estimate[i] = r.estimate, r.error
            tol = self.rtol * max(abs(a), abs(r.estimate)) + self.atol
            if r.kink:
                lo, hi = sorted((r.left, r.right))
                slack = tol + r.error
                outcome[i] = fd.NONDIFF if lo - slack <= a <= hi + slack else fd.FAIL
            elif not r.smooth:
                outcome[i] = fd.UNRELIABLE
            elif abs(a - r.estimate) > tol + fd.ERROR_ESTIMATE_FACTOR * r.error:
                outcome[i] = fd.FAIL
            elif r.error > tol:
                outcome[i] = fd.UNRELIABLE
            else:
                outcome[i] = fd.PASS
            confirmed += outcome[i] == fd.FAIL
        return outcome, estimate, notes


def _summarise(name: str, buf: np.ndarray, dtype: str, analytic: np.ndarray, numeric: np.ndarray,
               estimate: np.ndarray, outcome: np.ndarray, plan: fd.StepPlan, rtol: float,
               atol: float, notes: list[str]) -> InputResult:
    shape = buf.shape
    counts = {label: int(np.count_nonzero(outcome == code)) for code, label in enumerate(fd.OUTCOME_NAMES)}
    diff = np.abs(analytic - numeric)
    rel = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
    compared = (outcome == fd.PASS) | (outcome == fd.FAIL)  # kinks and unresolved excluded

    def element(i: int) -> Element:
        return Element(
            index=tuple(int(k) for k in np.unravel_index(i, shape)) if shape else (),
            analytic=float(analytic[i]), numeric=float(numeric[i]), abs_error=float(diff[i]),
            rel_error=float(rel[i]), error_estimate=float(estimate[i]),
            outcome=fd.OUTCOME_NAMES[outcome[i]],
        )

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
                     "(steps h and h/2 disagree by more than the tolerance)")
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
        rtol=rtol, atol=atol,
        step_min=float(plan.h.min()) if plan.h.size else 0.0,
        step_max=float(plan.h.max()) if plan.h.size else 0.0,
        one_sided=int(np.count_nonzero(plan.kind != fd.CENTRAL)),
        max_error_estimate=float(estimate.max()) if estimate.size else 0.0,
        notes=notes,
    )
