"""Second-order rules (``Op.double_backward``): the VJP of ``backward``, checked against
finite differences of backward itself.

``backward`` is a function of the inputs and ``dout`` whose outputs are the gradients; its
VJP with cotangents ``ggrads`` is what ``double_backward`` returns. So the check is the
first-order check of a derived op — forward := backward (with ``out`` recomputed from the
perturbed inputs), backward := double_backward, dout := ggrads — run by the same
``GradientChecker``: same steps, error estimates, kinks, fast mode and localisation.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import audit_progress, contract
from .checker import GradientChecker
from .contract import ContractError
from .result import VariantResult
from .signatures import accepts as _accepts
from .spec import Op, Tensor

#: The name ``dout`` has as an input of the derived op (and in double_backward's result).
DOUT = "dout"


@dataclass
class BackwardAsForward:
    """The derived op the checker differentiates: what it reads of an ``Op``."""

    name: str
    inputs: dict[str, Tensor]
    forward: Any
    rtol: float | None = None
    atol: float | None = None
    differentiable_inputs: tuple[str, ...] = field(default_factory=tuple)


def dout_names(dout: Any) -> list[tuple[str, int | None]]:
    """The derived op's input name for each floating output's dout, with its index:
    ``dout`` for a single output, ``dout[k]`` for output k of several."""
    if not isinstance(dout, tuple):
        return [(DOUT, None)]
    return [(f"{DOUT}[{k}]", k) for k, d in enumerate(dout) if d is not None]


def derived_op(op: Op, dout: Any, diff: tuple[str, ...]) -> BackwardAsForward:
    """``op.backward`` as a function of every input and ``dout``, returning the gradients
    of the differentiable inputs ``diff`` (a bare array when there is one)."""
    names = dout_names(dout)
    layout = None if not isinstance(dout, tuple) else tuple(d is not None for d in dout)
    as_forward = _as_forward(op.backward, op.forward, tuple(op.inputs), diff,
                             op.backward_takes_out(), layout)
    inputs = dict(op.inputs)
    for name, k in names:
        d = dout if k is None else dout[k]
        # dout is a free variable of backward: a range wide enough that every step is
        # central (and that the batching probe draws values of dout's own size).
        bound = 2.0 * float(np.max(np.abs(d), initial=0.0)) + 1.0
        inputs[name] = Tensor(shape=tuple(d.shape), dtype=d.dtype.name, low=-bound, high=bound)
    return BackwardAsForward(name=op.name, inputs=inputs, forward=as_forward, rtol=op.rtol,
                             atol=op.atol, differentiable_inputs=(*diff, *(n for n, _ in names)))


@functools.lru_cache(maxsize=256)
def _as_forward(backward: Any, forward: Any, names: tuple[str, ...], diff: tuple[str, ...],
                takes_out: bool, layout: tuple[bool, ...] | None) -> Any:
    """One function per op (cached), so that batching's verification, cached per
    function, is not repeated for every audit of the op."""

    def as_forward(**kwargs: Any) -> Any:
        args = {n: kwargs[n] for n in names}
        dout = kwargs[DOUT] if layout is None else tuple(
            kwargs[f"{DOUT}[{k}]"] if present else None for k, present in enumerate(layout))
        call = {DOUT: dout, **args}
        if takes_out:
            call["out"] = forward(**args)
        raw = backward(**call)
        grads = raw if isinstance(raw, Mapping) else dict(zip(names, raw))
        result = tuple(grads[n] for n in diff)
        return result[0] if len(result) == 1 else result

    return as_forward


def check(op: Op, values: dict[str, np.ndarray], dout: Any, out: Any,
          grads: dict[str, np.ndarray], eps: float, mode: str, rng: np.random.Generator,
          result: VariantResult) -> None:
    """Append a ``double_backward`` result for every differentiable input and each
    floating output's ``dout``."""
    diff = tuple(n for n in op.inputs if n in grads)
    if not diff:
        return
    audit_progress.check("double_backward")
    derived = derived_op(op, dout, diff)
    dvalues = {**values, **{n: dout if k is None else dout[k] for n, k in dout_names(dout)}}
    ggrads = {n: rng.standard_normal(grads[n].shape).astype(grads[n].dtype) for n in diff}
    second = _call(op, derived, values, dout, out, ggrads)
    _check_linear(op, derived, values, dout, out, ggrads, second, result)
    f0 = tuple(grads[n] for n in diff)
    checker = GradientChecker(derived, dvalues, [ggrads[n] for n in diff],  # type: ignore[arg-type]
                              f0[0] if len(f0) == 1 else f0, eps)
    for name in derived.differentiable_inputs:
        item = checker.check(name, second[name], mode, rng)
        item.check = "double_backward"
        result.inputs.append(item)


def _copy(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(None if v is None else v.copy() for v in value)
    return None if value is None else value.copy()


def _call(op: Op, derived: BackwardAsForward, values: Mapping[str, np.ndarray],
          dout: Any, out: Any, ggrads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    kwargs: dict[str, Any] = {"ggrads": {k: v.copy() for k, v in ggrads.items()},
                              DOUT: _copy(dout), **{k: v.copy() for k, v in values.items()}}
    if _accepts(op.double_backward, "out"):  # type: ignore[arg-type]
        kwargs["out"] = _copy(out)
    raw = contract.call(op.double_backward, "double_backward", kwargs)  # type: ignore[arg-type]
    pristine: dict[str, Any] = {DOUT: dout, **values}
    if "out" in kwargs:
        pristine["out"] = out
    contract.check_unmodified("double_backward", kwargs, pristine)
    contract.check_unmodified("double_backward", kwargs["ggrads"], ggrads)
    if not isinstance(raw, Mapping):
        raise ContractError(
            f"double_backward returned {contract._kind(raw)}; expected a dict with a gradient for "
            f"each differentiable input and for 'dout' ({[*derived.differentiable_inputs]})"
        )
    raw = dict(raw)
    douts = {n: dout if k is None else dout[k] for n, k in dout_names(dout)}
    if isinstance(dout, tuple) and DOUT in raw:
        given = raw.pop(DOUT)
        if not isinstance(given, tuple) or len(given) != len(dout):
            raise ContractError(
                f"double_backward returned {contract._kind(given)} for 'dout'; forward has "
                f"{len(dout)} outputs, so it is a tuple of {len(dout)} gradients (None for an "
                "integer output)")
        raw.update({n: given[k] for n, k in dout_names(dout)})
    grads, _ = contract.gradients(derived, raw, {**values, **douts},  # type: ignore[arg-type]
                                  role="double_backward")
    return grads


def _check_linear(op: Op, derived: BackwardAsForward, values: Mapping[str, np.ndarray],
                  dout: Any, out: Any, ggrads: Mapping[str, np.ndarray],
                  first: dict[str, np.ndarray], result: VariantResult) -> None:
    """A VJP is linear in its cotangent: double_backward(-0.5 ggrads) = -0.5 of it."""
    again = _call(op, derived, values, dout, out, {k: v * -0.5 for k, v in ggrads.items()})
    for name, grad in first.items():
        expected = grad.astype(np.float64) * -0.5
        tol = 64 * np.finfo(grad.dtype if grad.dtype.kind == "f" else np.float64).eps
        scale = float(np.max(np.abs(expected), initial=0.0))
        if float(np.max(np.abs(again[name].astype(np.float64) - expected), initial=0.0)) > tol * scale:
            if result.status == "pass":
                result.status = "fail"
                result.message = (
                    f"double_backward is not linear in ggrads: for {name!r}, double_backward("
                    "-0.5 * ggrads) is not -0.5 * double_backward(ggrads) (does it ignore ggrads?)"
                )
            return
