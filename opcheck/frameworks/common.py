"""What the torch and JAX adapters share: importing the framework with an error that
names the extra, splitting the keywords opcheck passes into arrays and attrs, and
building the ``Op``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from ..spec import Op, Tensor

#: Op fields an adapter fills in itself: passing them to from_torch/from_jax is a mistake.
_OWN_FIELDS = ("name", "inputs", "dims", "forward", "backward", "jvp", "double_backward")


def import_framework(module: str, extra: str, adapter: str) -> ModuleType:
    """``import module``, or an ImportError that says which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"opcheck.{adapter} needs {module}, which cannot be imported ({exc}); "
            f'install it with: pip install "opcheck[{extra}]"'
        ) from None


def split(kwargs: Mapping[str, Any], inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """opcheck calls forward/backward/jvp with every input and every attr by keyword:
    the inputs become framework arrays, the attrs reach ``fn`` as they are."""
    arrays = {k: v for k, v in kwargs.items() if k in inputs}
    attrs = {k: v for k, v in kwargs.items() if k not in inputs}
    return arrays, attrs


def build_op(
    adapter: str,
    name: str,
    inputs: Mapping[str, Tensor | Mapping[str, Any]],
    dims: Mapping[str, int] | None,
    attrs: Mapping[str, Any] | None,
    rules: Mapping[str, Callable[..., Any] | None],
    fields: Mapping[str, Any],
) -> Op:
    """The ``Op`` with the adapter's forward/backward/jvp (``rules``) and the user's fields."""
    clash = sorted(set(fields) & set(_OWN_FIELDS))
    if clash:
        raise TypeError(
            f"{adapter}({name!r}, ...): {clash} are set by the adapter from fn; "
            f"pass only Op's other fields (description, rtol, atol, xfail, skip, ...)"
        )
    data: dict[str, Any] = {"name": name, "inputs": dict(inputs), **rules, **fields}
    if dims is not None:
        data["dims"] = dict(dims)
    if attrs is not None:
        if "attrs" not in Op.model_fields:
            raise TypeError(
                f"{adapter}({name!r}, attrs=...): this opcheck has no Op.attrs yet, so attrs "
                "cannot be audited; fix them in fn (functools.partial) or drop attrs="
            )
        data["attrs"] = dict(attrs)
    return Op(**data)


def differentiable(op_inputs: Mapping[str, Tensor]) -> tuple[str, ...]:
    return tuple(n for n, t in op_inputs.items() if t.is_differentiable)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind in "fc"
