"""What the torch and JAX adapters share: importing the framework with an error that
names the extra, splitting the keywords opcheck passes into arrays and attrs, and
building the ``Op``."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from ..signatures import check_signature as _check_signature
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
            f'install it with: pip install "opcheck[{extra}]" (from a checkout of opcheck: '
            f'pip install ".[{extra}]")'
        ) from None


def split(kwargs: Mapping[str, Any], inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """opcheck calls forward/backward/jvp with every input and every attr by keyword:
    the inputs become framework arrays, the attrs reach ``fn`` as they are."""
    arrays = {k: v for k, v in kwargs.items() if k in inputs}
    attrs = {k: v for k, v in kwargs.items() if k not in inputs}
    return arrays, attrs


def rule(adapter: str, role: str, method: Callable[..., Any], shown: Any) -> Callable[..., Any]:
    """``method`` as the Op's ``role`` (forward, backward, jvp): it takes keywords only,
    and ``opcheck show`` points at ``shown`` (the user's fn, or the rule it registered)
    through ``__wrapped__``, not at the adapter."""

    def call(**kwargs: Any) -> Any:
        return method(**kwargs)

    label = getattr(shown, "__qualname__", None) or type(shown).__name__
    call.__name__ = role
    call.__qualname__ = f"{adapter}({label}).{role}"
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
    call.__wrapped__ = shown  # type: ignore[attr-defined]
    return call


def check_fn(adapter: str, name: str, fn: Any, inputs: Mapping[str, Any],
             attrs: Mapping[str, Any] | None) -> None:
    """``fn`` must be callable with every input (and attr) by keyword: said now, when the
    plugin loads, rather than as an error on every audit."""
    if not callable(fn):
        example = ("a function or an autograd.Function's apply" if adapter == "from_torch"
                   else "a function of jax.numpy arrays (jnp.sin, not 'jnp.sin')")
        raise TypeError(f"{adapter}({name!r}, fn={fn!r}): fn must be callable, e.g. {example}")
    try:
        _check_signature("fn", fn, [*inputs, *(attrs or {})], optional=())
    except ValueError as exc:
        raise TypeError(f"{adapter}({name!r}, ...): {exc}") from None


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
