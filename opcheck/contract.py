"""Calling an op the way the contract says, and turning every way it can break the
contract into one ``ContractError`` with a message that names the function and argument."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import ContractError
from .reductions import all_true
from .spec import Op

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))  # venvs link lib64 -> lib


def _kind(value: Any) -> str:
    """'None' or 'a list': how a message names what a function returned."""
    return "None" if value is None else f"a {type(value).__name__}"


def perturbation_error(exc: BaseException, what: str) -> ContractError:
    """The error of a forward that raised while the audit perturbed ``what`` ("input 'x'"):
    the op author's traceback, and a hint where the forward wrote into its read-only input."""
    hint = ("; forward seems to write into its input, which the audit passes read-only"
            if "read-only" in str(exc) else "")
    return ContractError(f"forward raised {type(exc).__name__}: {exc} while the audit perturbed "
                         f"{what}{hint}", user_traceback(exc))


def user_traceback(exc: BaseException) -> str:
    """The exception's traceback without opcheck's own frames: the op author's code only."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.realpath(f.filename).startswith(_PACKAGE_DIR + os.sep)
    ]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def call(fn: Callable[..., Any], role: str, kwargs: Mapping[str, Any]) -> Any:
    try:
        return fn(**kwargs)
    except ContractError:  # raised by opcheck's own wrappers (binding, complex_support): already worded
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()
        first = f": {text[0]}" if text else ""
        raise ContractError(
            f"{role} raised {type(exc).__name__}{first}", user_traceback(exc)
        ) from None


def as_outputs(raw: Any) -> tuple[list[np.ndarray], bool]:
    """Forward's result as a list of arrays, and whether it was a tuple (several outputs)."""
    if isinstance(raw, tuple):
        if not raw:
            raise ContractError("forward returned an empty tuple; return at least one array")
        return [_one_output(v, f"output {k}") for k, v in enumerate(raw)], True
    return [_one_output(raw, "its output")], False


def _one_output(value: Any, what: str) -> np.ndarray:
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return arr
        raise ContractError(f"forward returned {what} with dtype {arr.dtype}; expected a real number dtype")
    raise ContractError(
        f"forward returned {what} as {_kind(value)}; expected a numpy array "
        "(wrap it with np.asarray), or a tuple of arrays for an op with several outputs"
    )


def check_finite(arrays: list[np.ndarray], what: str) -> None:
    for k, arr in enumerate(arrays):
        if arr.dtype.kind == "f" and not all_true(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            name = what if len(arrays) == 1 else f"{what} {k}"
            raise ContractError(
                f"{name} is {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)} "
                "although every input is finite"
            )


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equal (NaNs included): what "not modified" means, and cheap for small arrays."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def check_unmodified(role: str, given: Mapping[str, np.ndarray], pristine: Mapping[str, Any]) -> None:
    """Compare every argument after the call with its copy from before."""
    for name, before in pristine.items():
        after = given[name]
        if isinstance(before, tuple):
            same = all(
                (a is None and b is None) or (a is not None and b is not None and identical(a, b))
                for a, b in zip(after, before)
            )
        else:
            same = before is None or identical(after, before)
        if not same:
            kind = "input" if name not in ("dout", "out") else "argument"
            raise ContractError(
                f"{role} mutated its {kind} {name!r} in place; compute into a new array "
                f"instead (e.g. {name} = {name} - m, not {name} -= m)"
            )


def gradients(op: Op, raw: Any, inputs: Mapping[str, np.ndarray], role: str = "backward",
              ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Backward's (or ``role``'s) result as input name → float array, checked against the
    contract.

    Returns the gradients of the differentiable inputs and a list of warnings."""
    given = _by_name(op, raw, role)
    warnings: list[str] = []
    result: dict[str, np.ndarray] = {}
    for name, tensor in op.inputs.items():
        if not tensor.is_differentiable:
            if name in given:
                warnings.append(f"{role} returned a gradient for non-differentiable input {name!r}; it is ignored")
            continue
        result[name] = _gradient(name, given, inputs[name], role, warnings)
    return result, warnings


def _by_name(op: Op, raw: Any, role: str) -> dict[str, Any]:
    """The gradients ``role`` returned (a mapping or a tuple in input order) by input name,
    without the ``None`` ones."""
    names = list(op.inputs)
    if type(raw) is dict or isinstance(raw, Mapping):  # (the ABC check alone is ~1 us)
        unknown = [k for k in raw if k not in op.inputs]
        if unknown:
            raise ContractError(
                f"{role} returned gradients for {unknown}, which are not inputs of the op "
                f"(inputs: {names})"
            )
        return {k: v for k, v in raw.items() if v is not None}
    if isinstance(raw, tuple):
        if len(raw) != len(names):
            raise ContractError(
                f"{role} returned a tuple of {len(raw)} gradient{'s' if len(raw) != 1 else ''}; "
                f"expected {len(names)}, one per "
                f"input in the order {names} (None for a non-differentiable input)"
            )
        return {k: v for k, v in zip(names, raw) if v is not None}
    raise ContractError(
        f"{role} returned a {type(raw).__name__}; expected a dict input name → gradient, "
        f"or a tuple of gradients in the order {names}"
    )


def _gradient(name: str, given: Mapping[str, Any], value_in: np.ndarray, role: str,
              warnings: list[str]) -> np.ndarray:
    """The gradient of differentiable input ``name`` as an array, checked: present, an
    array of the input's shape, a real dtype (a different one is a warning), finite."""
    if name not in given:
        if name == "dout" or name.startswith("dout["):  # double_backward's own cotangent
            raise ContractError(
                f"{role} returned no gradient for {name!r}; double_backward returns the "
                "cotangent of dout too (backward is linear in dout, so it is backward "
                f"applied to ggrads), under the key {name!r}"
            )
        raise ContractError(
            f"{role} returned no gradient for differentiable input {name!r}; return one, "
            "or declare the input with differentiable=False"
        )
    value = given[name]
    if not isinstance(value, (np.ndarray, np.generic, int, float)):
        raise ContractError(
            f"{role} returned the gradient of {name!r} as a {type(value).__name__}; expected a numpy array"
        )
    grad = np.asarray(value)
    expected = value_in.shape
    if grad.shape != expected:
        raise ContractError(
            f"{role} returned a gradient of shape {grad.shape} for input {name!r} of shape "
            f"{expected}; a gradient has its input's shape (sum over broadcast axes)"
        )
    if grad.dtype.kind not in "biuf":
        raise ContractError(f"{role} returned a gradient of dtype {grad.dtype} for input {name!r}")
    if grad.dtype != value_in.dtype:
        warnings.append(
            f"the gradient of {name!r} has dtype {grad.dtype}, its input {value_in.dtype}"
        )
    if grad.dtype.kind == "f" and not all_true(np.isfinite(grad)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(grad))[0])
        raise ContractError(
            f"{role} returned {grad[bad]} in the gradient of {name!r} at index {bad} "
            "although every input is finite"
        )
    return grad
