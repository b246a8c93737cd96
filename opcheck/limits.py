"""Declarations that would break the audit before it starts, refused when the plugin loads.

- **Size**: an op's inputs, at its default dims, may take at most ``max_input_bytes()``
  bytes together (1 GiB unless ``OPCHECK_MAX_INPUT_BYTES`` says otherwise): a shape of
  ``(10**9,)`` would otherwise allocate gigabytes, and the finite differences call the op
  twice per element.
- **Integer ranges** must fit the dtype: values are drawn from ``[low, high)``, and a
  uint8 input with ``low=-5`` would wrap to 251..255.
- **Float ranges** must lie inside the dtype's finite range: a float16 input in ±1e6
  would be ±inf.

``spec.py`` calls these validators; each raises ``ValueError`` with the message pydantic
shows under the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import UsageError

MAX_BYTES_ENV = "OPCHECK_MAX_INPUT_BYTES"
DEFAULT_MAX_BYTES = 1 << 30


def max_input_bytes() -> int:
    """The limit: ``$OPCHECK_MAX_INPUT_BYTES``, else 1 GiB. A value that is not a number of
    bytes > 0 is a ``UsageError`` naming it (``discover`` asks first, so that it is said
    once, not as every op's invalid declaration)."""
    text = os.environ.get(MAX_BYTES_ENV, "")
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise UsageError(f"{MAX_BYTES_ENV}={text!r} is not a number of bytes; set it to the "
                         f"largest total size of an op's inputs, e.g. {MAX_BYTES_ENV}="
                         f"{4 << 30} for 4 GiB, or unset it for the default (1 GiB)")
    return int(value)


def check_range(dtype: str, low: Any, high: Any) -> None:
    """``low``/``high`` of a tensor of ``dtype`` inside what the dtype can hold. Values
    that are not plain numbers (a dim name) are checked where they are resolved."""
    kind = np.dtype(dtype).kind
    if kind in "iu":
        info = np.iinfo(dtype)
        if _number(low) and low < info.min:
            raise ValueError(f"low={low:g} is below the smallest {dtype} ({info.min}); values "
                             f"would wrap around: use low >= {info.min} or a wider dtype")
        if _number(high) and high > info.max + 1:
            raise ValueError(f"high={high:g} is above what {dtype} holds (values are drawn from "
                             f"[low, high), so high <= {info.max + 1}); use a wider dtype")
    elif kind == "f":
        finite = float(np.finfo(dtype).max)
        for key, value in (("low", low), ("high", high)):
            if _number(value) and not abs(value) <= finite:
                raise ValueError(f"{key}={value:g} is outside the finite range of {dtype} "
                                 f"(±{finite:.6g}): its values would be inf; narrow the range "
                                 "or use a wider dtype")


def check_size(name: str, inputs: Mapping[str, Any], dims: Mapping[str, int]) -> None:
    """The inputs' total size at ``dims`` within ``max_input_bytes()``."""
    sizes = {}
    for key, tensor in inputs.items():
        try:
            shape = tensor.concrete_shape(dims)
        except Exception:  # noqa: BLE001, S112 (a shape form this check does not know: skip it)
            continue
        sizes[key] = math.prod(int(n) for n in shape) * np.dtype(tensor.dtype).itemsize
    total, limit = sum(sizes.values()), max_input_bytes()
    if total > limit:
        largest = max(sizes, key=sizes.__getitem__)
        raise ValueError(
            f"the inputs take {_bytes(total)} at dims {dict(dims)} (input {largest!r}: "
            f"{_bytes(sizes[largest])}), above the limit of {_bytes(limit)}; declare smaller "
            f"dims, or raise the limit with {MAX_BYTES_ENV}=BYTES"
        )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bytes(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.3g} {unit}" if unit != "bytes" else f"{count} bytes"
        count /= 1024
    return f"{count} bytes"
