"""Audit one op: contract checks, then analytic vs numeric gradients, for every variant.

Data flows one way: sampled inputs (``sampling``) → forward/backward under the contract
(``contract``) → numeric vs analytic gradients per input (``checker``) → a
``result.OpReport``. Nothing here prints.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import audit_progress
from . import budget as budgets
from . import complex_support, configurations, contract, forward_mode, second_order
from .binding import bind
from .checker import GradientChecker
from .choices import MODES, did_you_mean, seed_problem
from .contract import ContractError
from .errors import InputError, UsageError
from .plugin_manager import PluginInfo, PluginSpec, discover
from .result import HEATMAP_INPUTS, InputResult, OpReport, VariantResult, worst_status
from .samplers import SamplerError
from .sampling import rng_for, sample_cotangent, sample_inputs
from .spec import Op

ORDERS = (1, 2)


def audit(
    op: Op | str,
    *,
    seed: int = 0,
    mode: str = "auto",
    inputs: Mapping[str, Any] | None = None,
    variant: str | None = None,
    plugins: Iterable[PluginSpec] = (),
    plugin: PluginInfo | None = None,
    order: int = 2,
    budget: float | None = None,
) -> OpReport:
    """Audit ``op`` (an ``Op`` or a discovered op's name) and return its report.

    ``variant`` restricts the audit to one shape variant ("default", "N=1", ...);
    ``inputs`` fixes some or all input values (their shapes fix the symbolic dims);
    ``order=1`` skips the second-order check of ops that declare ``double_backward``.
    ``mode="auto"`` (the default) checks every element where that fits in ``budget``
    seconds (default ``budget.DEFAULT_BUDGET``, or ``$OPCHECK_BUDGET``), else projections
    plus a covering sample (docs/method.md); "full" and "fast" ignore the budget.
    """
    if mode not in MODES:
        raise UsageError(f"mode={mode!r} is not a mode; use one of {MODES}")
    if budget is not None and not budgets.valid(budget):
        raise UsageError(f"budget={budget!r} is not a budget; use a number of seconds > 0, e.g. "
                         f"budget={budgets.DEFAULT_BUDGET:g}")
    seconds = budgets.resolve(budget)
    if order not in ORDERS or isinstance(order, bool):
        raise UsageError(f"order={order!r} is not an order; use 1 (first-order rules only) or 2 "
                         "(also double_backward, where an op declares it; the default)")
    if seed_problem(seed):
        raise UsageError(f"seed={seed_problem(seed)} (the same seed gives bitwise the same inputs)")
    if isinstance(op, str):
        registry = discover(plugins)
        if op not in registry:
            declared = [err for err in registry.errors if err.op == op]
            if declared:  # the op exists but its declaration is invalid: say what is wrong
                raise declared[0]
            hint = did_you_mean(op, registry) or "`opcheck list` shows every op"
            broken = "".join(f"\n  (could not load: {err})" for err in registry.errors if err.op is None)
            raise UsageError(f"no op named {op!r}; {hint}{broken}")
        plugin = plugin or registry.plugin_of[op]
        op = registry[op]
    started = time.perf_counter()
    if inputs is not None:
        dims, given = _given_inputs(op, inputs)
        plan = {"given": (dims, {k: v[0] for k, v in op.attrs.items()})}
    else:
        given = None
        plan = configurations.plan(op)
        if variant is not None:
            chosen = configurations.matching(variant, plan)
            if not chosen:
                raise UsageError(
                    f"op {op.name!r} has no variant {variant!r}; its variants are {list(plan)}"
                )
            plan = {label: plan[label] for label in chosen}
    share = seconds / max(1, len(plan))
    results = [_audit_variant(op, label, dims, attrs, seed, mode, given, order, share)
               for label, (dims, attrs) in plan.items()]
    complex_support.note_once(results)
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
            mode_arg = f", mode={mode!r}" if mode != "auto" else ""
            report.reproduce = (f"opcheck.audit(op, seed={seed}, variant={bad.label!r}{mode_arg})"
                                f"  # op: your Op {op.name!r}")
        elif given is None:
            report.reproduce = reproduce_command(op.name, seed, bad.label, mode, plugin)
    report.warnings = [f"{v.label}: {w}" for v in results for w in v.warnings]
    failing = [i for v in results for i in v.inputs if i.abs_errors is not None]
    for item in failing[HEATMAP_INPUTS:]:  # keep reports small: the HTML maps four
        item.abs_errors = None
    return report


def reproduce_command(
    name: str, seed: int, variant: str, mode: str, plugin: PluginInfo | None
) -> str:
    parts = ["opcheck", "audit", name]
    if plugin is not None and plugin.source == "-p":
        parts += ["-p", plugin.name]
    parts += ["--seed", str(seed), "--variant", variant]
    if mode != "auto":
        parts += ["--mode", mode]
    return shlex.join(parts)


def _given_inputs(op: Op, given: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Check user-supplied inputs against the schema; their shapes fix the symbolic dims."""
    if not isinstance(given, Mapping):
        raise InputError(f"inputs= for op {op.name!r} must map input names to arrays, e.g. "
                         f"{{{next(iter(op.inputs))!r}: array}}; got {type(given).__name__}")
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
            if isinstance(want, str) and not want.isidentifier():
                continue  # an expression such as "4*H": checked once every name is known
            if isinstance(want, str):
                if want in dims and dims[want] != got:
                    raise InputError(
                        f"input {name!r} of op {op.name!r}: dimension {want!r} is {got} here but "
                        f"{dims[want]} in input {source[want]!r} (shape {arrays[source[want]].shape})"
                    )
                dims[want], source[want] = got, name
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise InputError(
                f"input {name!r} of op {op.name!r} is {arr[bad].item()} at index {bad}; the audit "
                "compares finite differences, so every given value must be finite"
            )
        arrays[name] = arr
    full = {**op.default_dims(), **dims}
    for name, arr in arrays.items():
        expected = op.inputs[name].concrete_shape(full)
        if arr.shape != expected:
            raise InputError(
                f"input {name!r} of op {op.name!r}: shape {op.inputs[name].shape} is {expected} "
                f"at the dims the given inputs fix ({', '.join(f'{k}={v}' for k, v in full.items())}), "
                f"got shape {arr.shape}"
            )
    return full, arrays


def _audit_variant(
    op: Op, label: str, dims: dict[str, int], attrs: dict[str, Any], seed: int, mode: str,
    given: dict[str, np.ndarray] | None, order: int = 2, seconds: float = budgets.DEFAULT_BUDGET,
) -> VariantResult:
    bound = bind(op, attrs)  # attrs reach the functions that name them; residuals unwrapped
    audit_progress.variant(label)  # how far a timeout got
    realified = complex_support.has_complex_inputs(op)
    while True:
        result = VariantResult(label=label, dims=dims, seed=seed, attrs=dict(attrs))
        outs: dict[str, list[str | None]] = {"dtypes": []}
        try:
            checked, outs = complex_support.realify(bound) if realified else (bound, outs)
            rng = rng_for(seed, op.name, label)
            values = sample_inputs(checked, dims, rng)
            if given:
                values.update({k: complex_support.to_real(v.copy()) for k, v in given.items()})
            _check(checked, values, rng, mode, result, order, seconds)
        except complex_support.ComplexOutputs:  # real inputs, complex outputs
            realified = True
            continue
        except ContractError as exc:
            result.status, result.message, result.traceback = "error", exc.message, exc.traceback
        except SamplerError as exc:
            result.status, result.message = "error", f"input values could not be drawn: {exc}"
        if realified:
            complex_support.annotate(result, op, any(outs["dtypes"]))
        return result


def _copies(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in values.items()}


def _check(op: Op, values: dict[str, np.ndarray], rng: np.random.Generator, mode: str,
           result: VariantResult, order: int = 2, seconds: float = budgets.DEFAULT_BUDGET) -> None:
    # Forward: contract, finiteness, determinism (first call against a second one).
    work = _copies(values)
    raw = contract.call(op.forward, "forward", work)
    if complex_support.returns_complex(raw):
        raise complex_support.ComplexOutputs
    contract.check_unmodified("forward", work, values)
    outs, multi = contract.as_outputs(raw)
    contract.check_finite(outs, "forward's output")
    copies = _copies(values)
    timed = time.perf_counter()
    again, _ = contract.as_outputs(contract.call(op.forward, "forward", copies))
    forward_seconds = time.perf_counter() - timed
    _check_deterministic(outs, again)

    douts = [sample_cotangent(o, rng) if o.dtype.kind == "f" else None for o in outs]
    if all(d is None for d in douts):
        raise ContractError("forward has no floating-point output, so there is nothing to differentiate")
    dout_arg = tuple(douts) if multi else douts[0]
    out_arg = tuple(outs) if multi else outs[0]
    grads = None
    if op.backward is not None:
        grads = _backward(op, values, dout_arg, out_arg, result)
        _check_linear(op, values, dout_arg, out_arg, grads, result)

    eps = float(max([_precision(o, result) for o in outs if o.dtype.kind == "f"]
              + [np.finfo(values[n].dtype).eps for n in (grads or op.differentiable_inputs)]))
    checker = GradientChecker(op, values, douts, out_arg, eps)
    if mode == "auto":  # every element where it fits in the budget (docs/method.md)
        rules = 1 + (op.jvp is not None) + (op.double_backward is not None and order >= 2)
        elements = rules * sum(values[n].size for n in (grads or op.differentiable_inputs))
        mode = budgets.choose(elements, forward_seconds, seconds)
        checker.sample_limit = budgets.sample_limit(rules * len(grads or op.differentiable_inputs),
                                                    forward_seconds, seconds)
    for name in op.inputs:
        if grads is not None and name in grads:
            result.inputs.append(checker.check(name, grads[name], mode, rng))
    if op.jvp is not None:
        forward_mode.check(op, values, douts, outs, multi, out_arg, grads, checker, mode, rng, result)
    if op.double_backward is not None and grads is not None and order >= 2:
        second_order.check(op, values, dout_arg, out_arg, grads, eps, mode, rng, result)
    failed = [i for i in result.inputs if i.status == "fail"]
    if failed and result.status == "pass":
        result.status = "fail"
        result.message = _mismatch_message(failed[0])
    for item in result.inputs:
        result.warnings += [f"{item.name}: {note}" for note in item.notes if note.startswith("no element")]


_WHAT = {"backward": "gradient mismatch", "jvp": "JVP mismatch",
         "double_backward": "second-order mismatch"}


def _mismatch_message(first: InputResult) -> str:
    w = first.worst
    if first.check == "adjoint":
        return (f"jvp and backward disagree for input {first.name!r} (adjoint test): "
                f"<u, backward(v)> = {w.analytic:.6g} vs <jvp(u), v> = {w.numeric:.6g}"
                if w else f"jvp and backward disagree for input {first.name!r}")
    what = _WHAT.get(first.check, "mismatch")
    return (
        f"{what} in input {first.name!r}: {first.counts['fail']} / {first.size} "
        f"elements differ; worst at {w.index}: analytic {w.analytic:.6g} vs numeric {w.numeric:.6g}"
        if w else f"{what} in input {first.name!r}"
    )


def _precision(out: np.ndarray, result: VariantResult) -> float:
    """The machine epsilon an output really carries. A float64 output whose every value is
    exactly a float32 was computed in float32 (a random float64 is one with odds 2^-29):
    steps and tolerances for float64 would measure float32 rounding, so use float32's."""
    eps = float(np.finfo(out.dtype).eps)
    if out.dtype == np.float64 and out.size >= 2 and _is_float32(out.flat[0]) and _is_float32(out.flat[1]):
        finite = out[np.isfinite(out)]
        if finite.size >= 2 and np.any(finite != np.round(finite)) and np.array_equal(
                finite, finite.astype(np.float32).astype(np.float64)):
            note = ("forward returns float64 values that are all exact float32 numbers (it computes "
                    "in float32): checked with float32's steps and tolerances")
            if note not in result.warnings:
                result.warnings.append(note)
            return float(np.finfo(np.float32).eps)
    return eps


def _is_float32(value: float) -> bool:
    return bool(float(value) == float(np.float32(value)))


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
                f"index {idx}: {a[idx].item()!r} vs {b[idx].item()!r}); if it draws random numbers, make "
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
    # The op gets copies; the originals (never passed to it) are what it must leave as is.
    pristine = {"dout": dout, **values}
    if "out" in kwargs:
        pristine["out"] = out
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
