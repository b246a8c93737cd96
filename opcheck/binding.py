"""An op as the audit calls it: one attr configuration bound, residuals unwrapped.

The audit, the finite differences and the batching all call ``op.forward(**inputs)`` and
``op.backward(dout=..., **inputs[, out=...])``. Rather than teach every call site about
attrs and residuals, ``bind`` returns a copy of the op whose functions already take care
of them:

- each attr goes, by keyword, to the functions that name it (or take ``**kwargs``);
- for ``residuals=True`` the bound forward returns the output alone, and the bound
  backward runs its own forward call on copies of the inputs to get fresh residuals, so
  a backward that modifies its residuals cannot change what any other call sees.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .contract import ContractError
from .spec import Op

__all__ = ["bind"]


def bind(op: Op, attrs: Mapping[str, Any]) -> Op:
    """``op`` with ``attrs`` bound and, for a residuals op, forward returning the output only."""
    if not attrs and not op.residuals:
        return op
    forward = _with_attrs(op.forward, attrs)
    update: dict[str, Any] = {}
    if op.residuals:
        update["forward"] = functools.partial(_output_only, forward)
        update["backward"] = _residual_backward(op, forward, attrs)
    else:
        update["forward"] = forward
        update["backward"] = _with_attrs(op.backward, attrs)
    for role in ("jvp", "double_backward"):
        fn = getattr(op, role, None)
        if fn is not None:
            update[role] = _with_attrs(fn, attrs)
    return op.model_copy(update=update)


def _names(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword parameters of ``fn``; None when it takes ``**kwargs`` (or has no signature).
    Remembered per function: ``inspect.signature`` was ~3% of the built-in library's audit
    (every variant of an op with attrs binds anew)."""
    try:
        return _known_names[fn]
    except (KeyError, TypeError):  # (TypeError: an unhashable callable, asked every time)
        pass
    names = _signature_names(fn)
    try:
        if len(_known_names) > 4096:
            _known_names.clear()
        _known_names[fn] = names
    except TypeError:
        pass
    return names


_known_names: dict[Callable[..., Any], frozenset[str] | None] = {}


def _signature_names(fn: Callable[..., Any]) -> frozenset[str] | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _with_attrs(fn: Callable[..., Any], attrs: Mapping[str, Any]) -> Callable[..., Any]:
    names = _names(fn)
    chosen = {k: v for k, v in attrs.items() if names is None or k in names}
    return functools.partial(fn, **chosen) if chosen else fn


def _pair(raw: Any) -> tuple[Any, Any]:
    if not (isinstance(raw, tuple) and len(raw) == 2):
        got = f"a tuple of {len(raw)}" if isinstance(raw, tuple) else (
            "None" if raw is None else f"a {type(raw).__name__}")
        raise ContractError(
            f"forward returned {got}; an op declared residuals=True returns the pair "
            "(output, residuals)"
        )
    return raw


def _output_only(forward: Callable[..., Any], **inputs: Any) -> Any:
    return _pair(forward(**inputs))[0]


def _residual_backward(op: Op, forward: Callable[..., Any],
                       attrs: Mapping[str, Any]) -> Callable[..., Any]:
    names = _names(op.backward)
    wanted = None if names is None else names & {*op.inputs, "out"}
    chosen_attrs = {k: v for k, v in attrs.items() if names is None or k in names}
    inputs = tuple(op.inputs)

    def backward(dout: Any, **given: Any) -> Any:
        fresh = {k: given[k].copy() for k in inputs}  # its own forward call, on copies
        try:
            raw = forward(**fresh)
        except Exception as exc:  # noqa: BLE001 - the op's own error, reported as its contract error
            raise ContractError(
                f"forward raised {type(exc).__name__}: {exc} while computing the residuals "
                "for backward"
            ) from None
        _, residuals = _pair(raw)
        kwargs = {k: v for k, v in given.items() if wanted is None or k in wanted}
        return op.backward(dout=dout, residuals=residuals, **kwargs, **chosen_attrs)

    return backward
