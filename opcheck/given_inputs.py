"""Concrete input values a caller gives ``opcheck.audit(inputs=...)``, checked against the
op's schema before anything runs: their shapes fix the symbolic dims."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import InputError
from .spec import Op


def given_inputs(op: Op, given: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
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
