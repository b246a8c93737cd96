"""Reductions over one axis: sum, mean and (population) variance.

The axis is part of the op, not an input, so each reduction is declared once per axis of
an (N, D) input (``sum.axis0``, ``sum.axis1``, ...) by one factory. The backward of each
spreads ``dout`` back along the reduced axis.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import opcheck

Array = np.ndarray

AXES = (0, 1)


def sum_forward(x: Array, axis: int) -> Array:
    return x.sum(axis=axis)


def sum_grad(dout: Array, x: Array, axis: int) -> Array:
    return np.broadcast_to(np.expand_dims(dout, axis), x.shape)


def mean_forward(x: Array, axis: int) -> Array:
    return x.mean(axis=axis)


def mean_grad(dout: Array, x: Array, axis: int) -> Array:
    return np.broadcast_to(np.expand_dims(dout, axis) / x.shape[axis], x.shape)


def var_forward(x: Array, axis: int) -> Array:
    return x.var(axis=axis)


def var_grad(dout: Array, x: Array, axis: int) -> Array:
    # var = mean((x - mu)^2); the mu term drops out because sum(x - mu) = 0
    centred = x - x.mean(axis=axis, keepdims=True)
    return np.expand_dims(dout, axis) * (2.0 / x.shape[axis]) * centred


_REDUCTIONS: dict[str, tuple[Callable[..., Array], Callable[..., Array], str]] = {
    "sum": (sum_forward, sum_grad, "y = sum_i x_i"),
    "mean": (mean_forward, mean_grad, "y = (1/n) sum_i x_i"),
    "var": (var_forward, var_grad, "y = (1/n) sum_i (x_i - mean(x))^2 (population variance)"),
}


def reduction_op(kind: str, axis: int) -> opcheck.Op:
    forward_impl, grad_impl, formula = _REDUCTIONS[kind]

    def forward(x: Array) -> Array:
        return forward_impl(x, axis)

    def backward(dout: Array, x: Array) -> dict[str, Array]:
        return {"x": grad_impl(dout, x, axis)}

    forward.__name__ = forward.__qualname__ = f"{kind}_axis{axis}_forward"
    backward.__name__ = backward.__qualname__ = f"{kind}_axis{axis}_backward"
    return opcheck.Op(
        name=f"{kind}.axis{axis}",
        description=f"{formula}, over axis {axis} of an (N, D) input",
        forward=forward,
        backward=backward,
        inputs={"x": opcheck.Tensor(shape=("N", "D"))},
        dims={"N": 4, "D": 5},
    )


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [reduction_op(kind, axis) for kind in _REDUCTIONS for axis in AXES]
