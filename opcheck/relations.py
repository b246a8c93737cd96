"""Relations between an op's dims and attrs: shape expressions at least 1, integer ranges
tied to dims non-empty, declared constraints holding.

``spec`` checks them at the defaults when an op is declared; ``configurations`` checks each
shape variant and attr configuration before it is audited, and leaves out those that
break one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import expressions

if TYPE_CHECKING:
    from .spec import Op

__all__ = ["check_declared", "violation"]


def check_declared(op: Op) -> None:
    """Bounds and constraints name known dims and attrs, and hold at the defaults."""
    dims = set(op.symbolic_dims)
    for name, tensor in op.inputs.items():
        for side in ("low", "high"):
            value = getattr(tensor, side)
            if isinstance(value, str):
                unknown = [n for n in expressions.names(value) if n not in dims]
                if unknown:
                    raise ValueError(
                        f"inputs: input {name!r} has {side}={value!r}, but {unknown} is no dim of "
                        f"any input shape (dims: {sorted(dims)}); check the spelling"
                    )
    env: dict[str, Any] = {**op.default_dims(), **{k: v[0] for k, v in op.attrs.items()}}
    for k, text in enumerate(op.constraints):
        try:
            unknown = [n for n in expressions.names(text, relation=True) if n not in env]
        except expressions.ExpressionError as exc:
            raise ValueError(f"constraints: constraints[{k}]: {exc}") from None
        if unknown:
            raise ValueError(
                f"constraints: {text!r} names {unknown}, which are neither dims ({sorted(dims)}) "
                f"nor attrs ({sorted(op.attrs)})"
            )
    problem = violation(op, op.default_dims(), {k: v[0] for k, v in op.attrs.items()})
    if problem:
        raise ValueError(f"dims: at the default dims and attrs, {problem}; set dims so that it holds")


def _at(expression: str, dims: Mapping[str, int]) -> str:
    """"D=3, N=2": the dims an expression names (made only for a message)."""
    return ", ".join(f"{d}={dims[d]}" for d in expressions.names(expression) if d in dims)


def violation(op: Op, dims: Mapping[str, int], attrs: Mapping[str, Any]) -> str | None:
    """Why these dims and attrs cannot be audited (an expression below 1, an empty
    integer range, a constraint that fails), or None when they can."""
    for name, tensor in op.inputs.items():
        for axis, size in enumerate(tensor.shape):
            if isinstance(size, str) and size not in dims:
                try:
                    value = expressions.evaluate(size, dims)
                except expressions.ExpressionError as exc:  # e.g. 'D//(D-3)' at D=3
                    return (f"input {name!r} has shape[{axis}]={size!r}, which cannot be "
                            f"computed at {_at(size, dims)}: {str(exc).split(': ', 1)[-1]}")
                if value < 1:
                    return (f"input {name!r} has shape[{axis}]={size!r} = {value} "
                            f"({_at(size, dims)}); a size must be at least 1")
        if isinstance(tensor.low, str) or isinstance(tensor.high, str):
            low, high = tensor.bounds_at(dims)
            if not low < high:
                return (f"input {name!r} has an empty range: low={tensor.low!r} = {low:g}, "
                        f"high={tensor.high!r} = {high:g}")
    env = {**dims, **attrs}
    for text in op.constraints:
        try:
            holds = expressions.evaluate(text, env, relation=True)
        except expressions.ExpressionError as exc:
            return str(exc)
        if not holds:
            shown = " ".join(f"{n}={env[n]!r}" for n in expressions.names(text, relation=True))
            return f"constraint {text!r} fails ({shown})"
    return None
