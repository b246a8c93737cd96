"""The calls of an op that come before its gradients are compared: forward twice
(determinism), backward on copies (it must leave its arguments alone), backward again at
a scaled dout (linearity), and the precision its outputs really carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import contract
from .contract import ContractError
from .reductions import all_true
from .result import VariantResult
from .spec import Op


def copies(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in values.items()}


def precision(out: np.ndarray, result: VariantResult) -> float:
    """The machine epsilon an output really carries. A float64 output whose every value is
    exactly a float32 was computed in float32 (a random float64 is one with odds 2^-29):
    steps and tolerances for float64 would measure float32 rounding, so use float32's."""
    eps = float(np.finfo(out.dtype).eps)
    if out.dtype == np.float64 and out.size and all(_is_float32(v) for v in out.flat[:2]):
        finite = out[np.isfinite(out)]  # (one value with > 12 bits suffices: odds 2^-29)
        if finite.size and _uses_many_bits(finite) and np.array_equal(
                finite, finite.astype(np.float32).astype(np.float64)):
            note = ("forward returns float64 values that are all exact float32 numbers (it computes "
                    "in float32): checked with float32's steps and tolerances")
            if note not in result.warnings:
                result.warnings.append(note)
            return float(np.finfo(np.float32).eps)
    return eps


def _uses_many_bits(values: np.ndarray) -> bool:
    """Does some value need more than 12 significant bits? Small integers, 0.5 or the
    rounding residues of an exact cancellation (3 * 2**-53) are float32 numbers whatever
    computed them; a float32 computation's results use most of float32's 24 bits."""
    mantissa = np.frexp(values)[0] * 2.0**12
    return bool(np.any(mantissa != np.round(mantissa)))


def _is_float32(value: float) -> bool:
    return bool(float(value) == float(np.float32(value)))


def check_deterministic(first: list[np.ndarray], second: list[np.ndarray]) -> None:
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
    kwargs: dict[str, Any] = {"dout": _copy_arg(dout), **copies(values)}
    if op.backward_takes_out():
        kwargs["out"] = _copy_arg(out)
    return kwargs


def _copy_arg(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(None if v is None else v.copy() for v in value)
    return None if value is None else value.copy()


def backward(op: Op, values: dict[str, np.ndarray], dout: Any, out: Any,
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


def check_linear(op: Op, values: dict[str, np.ndarray], dout: Any, out: Any,
                  grads: dict[str, np.ndarray], result: VariantResult) -> None:
    """A VJP is linear in dout; scaling by -1/2 is exact in floating point."""
    scaled = tuple(None if d is None else d * -0.5 for d in dout) if isinstance(dout, tuple) else dout * -0.5
    raw = contract.call(op.backward, "backward", _backward_kwargs(op, values, scaled, out))
    again, _ = contract.gradients(op, raw, values)
    for name, grad in grads.items():
        expected = grad.astype(np.float64) * -0.5
        got = again[name].astype(np.float64)
        if got.shape == expected.shape and all_true(got == expected):
            continue  # exactly scaled, as a linear float64 backward usually is: no bound to compute
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
