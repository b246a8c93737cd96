"""The audit core: one ``Op`` in, one ``OpReport`` out, for every variant.

Data flows one way: sampled inputs (``sampling``) → forward/backward under the contract
(``contract``, ``op_calls``) → numeric vs analytic gradients per input (``checker``) → a
``result.OpReport``. Nothing here prints, looks ops up by name or writes command lines
(``frontend`` does, for every front end).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import (
    audit_progress,
    complex_support,
    configurations,
    contract,
    forward_mode,
    interrupts,
    joint_projection,
    op_calls,
    second_order,
)
from . import budget as budgets
from .binding import bind
from .checker import GradientChecker
from .choices import MODES, seed_problem
from .contract import ContractError
from .errors import UsageError
from .exits import exit_error
from .given_inputs import given_inputs
from .result import HEATMAP_INPUTS, InputResult, OpReport, VariantResult, worst_status
from .samplers import SamplerError
from .sampling import rng_for, sample_cotangent, sample_inputs
from .spec import Op

ORDERS = (1, 2)


def check_arguments(mode: str, budget: float | None, order: int, seed: int) -> None:
    """Raise ``UsageError`` naming the first argument of ``opcheck.audit`` that is wrong."""
    if mode not in MODES:
        raise UsageError(f"mode={mode!r} is not a mode; use one of {MODES}")
    if budget is not None and not budgets.valid(budget):
        raise UsageError(f"budget={budget!r} is not a budget; use a finite number of seconds > 0, e.g. "
                         f"budget={budgets.DEFAULT_BUDGET:g}")
    if order not in ORDERS or isinstance(order, bool):
        raise UsageError(f"order={order!r} is not an order; use 1 (first-order rules only) or 2 "
                         "(also double_backward, where an op declares it; the default)")
    if seed_problem(seed):
        raise UsageError(f"seed={seed_problem(seed)} (the same seed gives bitwise the same inputs)")


def audit_op(
    op: Op,
    *,
    seed: int = 0,
    mode: str = "auto",
    inputs: Mapping[str, Any] | None = None,
    variant: str | None = None,
    order: int = 2,
    budget: float | None = None,
) -> OpReport:
    """Audit ``op`` and return its report (arguments as ``opcheck.audit``'s, which adds
    the lookup by name and the reproduce line)."""
    check_arguments(mode, budget, order, seed)
    started = time.perf_counter()
    given = None
    if inputs is not None:
        dims, given = given_inputs(op, inputs)
        plan = {"given": (dims, {k: v[0] for k, v in op.attrs.items()})}
    else:
        plan = _selected(op, variant)
    shares = variant_budgets(op, plan, budget)
    results = [_audit_variant(op, label, dims, attrs, seed, mode, given, order, shares[label],
                              f"{k} of {len(plan)}")
               for k, (label, (dims, attrs)) in enumerate(plan.items(), 1)]
    complex_support.note_once(results)
    report = OpReport(
        name=op.name,
        status=worst_status([v.status for v in results]),
        mode=mode,
        seed=seed,
        variants=results,
        duration=time.perf_counter() - started,
    )
    bad = report.failing_variant()
    if bad is not None:
        report.message = f"variant {bad.label}: {bad.message}"
    report.warnings = [f"{v.label}: {w}" for v in results for w in v.warnings]
    if not op.differentiable_inputs and report.status == "pass":  # a pass that checked nothing
        report.warnings.append("no input is differentiable (integer dtypes, or differentiable="
                               "False): no gradient was checked, only the forward's contract")
    failing = [i for v in results for i in v.inputs if i.abs_errors is not None]
    for item in failing[HEATMAP_INPUTS:]:  # keep reports small: the HTML maps four
        item.abs_errors = None
    return report


def variant_budgets(op: Op, plan: Mapping[str, configurations.Variant],
                    budget: float | None) -> dict[str, float]:
    """The op's budget split among the variants of ``plan`` in proportion to their
    differentiable input elements. Small variants are checked whole at any budget; an
    equal split gave a (64, 512) layernorm's default variant a fifth of ``--budget 30``
    and sampled it, where its whole check takes 10 s."""
    total = budgets.resolve(budget)
    sizes = {label: max(1, configurations.input_elements(op, dims)) for label, (dims, _) in plan.items()}
    whole = sum(sizes.values())
    return {label: total * size / whole for label, size in sizes.items()}


def _selected(op: Op, variant: str | None) -> dict[str, tuple[dict[str, int], dict[str, Any]]]:
    """The op's variants and attr configurations, or those ``variant`` names."""
    plan = configurations.plan(op)
    if variant is None:
        return plan
    chosen = configurations.matching(variant, plan)
    if not chosen:
        raise UsageError(f"op {op.name!r} has no variant {variant!r}; its variants are {list(plan)}")
    return {label: plan[label] for label in chosen}


def _audit_variant(
    op: Op, label: str, dims: dict[str, int], attrs: dict[str, Any], seed: int, mode: str,
    given: dict[str, np.ndarray] | None, order: int = 2, seconds: float = budgets.DEFAULT_BUDGET,
    position: str = "",
) -> VariantResult:
    bound = bind(op, attrs)  # attrs reach the functions that name them; residuals unwrapped
    audit_progress.variant(label, position)  # how far a timeout got
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
        except SystemExit as exc:  # sys.exit, or os._exit trapped, in op code (exits.py)
            if interrupts.received():  # a real Ctrl-C or SIGTERM stops the run
                raise
            error = exit_error(exc, op)
            result.status, result.message, result.traceback = "error", error.message, error.traceback
        if realified:
            complex_support.annotate(result, op, any(outs["dtypes"]))
        return result


def _check(op: Op, values: dict[str, np.ndarray], rng: np.random.Generator, mode: str,
           result: VariantResult, order: int = 2, seconds: float = budgets.DEFAULT_BUDGET) -> None:
    # Forward: contract, finiteness, determinism (first call against a second one).
    work = op_calls.copies(values)
    raw = contract.call(op.forward, "forward", work)
    if complex_support.returns_complex(raw):
        raise complex_support.ComplexOutputs
    contract.check_unmodified("forward", work, values)
    outs, multi = contract.as_outputs(raw)
    contract.check_finite(outs, "forward's output")
    copied = op_calls.copies(values)
    timed = time.perf_counter()
    again, _ = contract.as_outputs(contract.call(op.forward, "forward", copied))
    forward_seconds = time.perf_counter() - timed
    op_calls.check_deterministic(outs, again)

    douts = [sample_cotangent(o, rng) if o.dtype.kind == "f" else None for o in outs]
    if all(d is None for d in douts):
        raise ContractError("forward has no floating-point output, so there is nothing to differentiate")
    dout_arg = tuple(douts) if multi else douts[0]
    out_arg = tuple(outs) if multi else outs[0]
    grads = None
    if op.backward is not None:
        grads = op_calls.backward(op, values, dout_arg, out_arg, result)
        op_calls.check_linear(op, values, dout_arg, out_arg, grads, result)

    eps = float(max([op_calls.precision(o, result) for o in outs if o.dtype.kind == "f"]
              + [np.finfo(values[n].dtype).eps for n in (grads or op.differentiable_inputs)]))
    checker = GradientChecker(op, values, douts, out_arg, eps)
    if mode == "auto":  # every element where it fits in the budget (docs/method.md)
        rules = 1 + (op.jvp is not None) + (op.double_backward is not None and order >= 2)
        elements = rules * sum(values[n].size for n in (grads or op.differentiable_inputs))
        if elements > budgets.ALWAYS_FULL:  # the clock decides: one call is a noisy clock
            forward_seconds = _steady_forward_seconds(op, values, forward_seconds)
        mode = budgets.choose(elements, forward_seconds, seconds)
        checker.sample_limit = budgets.sample_limit(rules * len(grads or op.differentiable_inputs),
                                                    forward_seconds, seconds)
    # Fast and sampled modes: one projection stage over every input first (as torch does).
    joint = joint_projection.check(checker, grads, mode, rng) if grads and mode != "full" else {}
    for name in op.inputs:
        if grads is not None and name in grads:
            result.inputs.append(checker.check(name, grads[name], mode, rng, joint.get(name)))
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


def _steady_forward_seconds(op: Op, values: dict[str, np.ndarray], first: float) -> float:
    """The fastest of a few timed forward calls: the first calls of a large op pay for
    fresh memory (page faults, allocator growth), so one timed call overestimated a
    conv2d's element-wise check 4x and sent ops that fit their budget to a sample."""
    best = first
    for _ in range(budgets.TIMED_CALLS - 1):
        copied = op_calls.copies(values)
        started = time.perf_counter()
        contract.call(op.forward, "forward", copied)
        best = min(best, time.perf_counter() - started)
    return best


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


