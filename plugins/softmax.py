"""softmax and log_softmax over one axis, computed stably (shifted by the maximum).

The axis is part of the op, so each is declared for axis 0 and axis 1 of an (N, C) input.
The backwards reuse the forward output: softmax's Jacobian-vector product is
y * (g - sum(g * y)), log_softmax's is g - softmax(x) * sum(g), with softmax = exp(out).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import opcheck

from ._twins import float32_twin

Array = np.ndarray

AXES = (0, 1)


def softmax(x: Array, axis: int) -> Array:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Array, axis: int) -> Array:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_op(axis: int) -> opcheck.Op:
    def forward(x: Array) -> Array:
        return softmax(x, axis)

    def backward(dout: Array, x: Array, out: Array) -> dict[str, Array]:
        return {"x": out * (dout - (dout * out).sum(axis=axis, keepdims=True))}

    def jvp(x: Array, tangents: dict[str, Array], out: Array) -> Array:
        t = tangents["x"]
        return out * (t - (t * out).sum(axis=axis, keepdims=True))

    def double_backward(ggrads: dict[str, Array], dout: Array, x: Array, out: Array) -> dict[str, Array]:
        # backward = y * (g - <g, y>): symmetric Jacobian J = diag(y) - y y^T. For dout it is
        # J gg; for x, the derivative of <gg, y (g - <g, y>)> in y, pulled back through J.
        gg = ggrads["x"]

        def through_j(v: Array) -> Array:
            return out * (v - (v * out).sum(axis=axis, keepdims=True))

        s = (dout * out).sum(axis=axis, keepdims=True)
        t = (gg * out).sum(axis=axis, keepdims=True)
        return {"x": through_j(gg * (dout - s) - dout * t), "dout": through_j(gg)}

    return _declare("softmax", axis, "y_i = exp(x_i) / sum_j exp(x_j)", forward, backward,
                    jvp, double_backward)


def log_softmax_op(axis: int) -> opcheck.Op:
    def forward(x: Array) -> Array:
        return log_softmax(x, axis)

    def backward(dout: Array, x: Array, out: Array) -> dict[str, Array]:
        return {"x": dout - np.exp(out) * dout.sum(axis=axis, keepdims=True)}

    def jvp(x: Array, tangents: dict[str, Array], out: Array) -> Array:
        t = tangents["x"]
        return t - (np.exp(out) * t).sum(axis=axis, keepdims=True)

    return _declare("log_softmax", axis, "y_i = x_i - log(sum_j exp(x_j))", forward, backward, jvp)


def _declare(
    kind: str,
    axis: int,
    formula: str,
    forward: Callable[[Array], Array],
    backward: Callable[..., dict[str, Array]],
    jvp: Callable[..., Array],
    double_backward: Callable[..., dict[str, Array]] | None = None,
) -> opcheck.Op:
    forward.__name__ = forward.__qualname__ = f"{kind}_axis{axis}_forward"
    backward.__name__ = backward.__qualname__ = f"{kind}_axis{axis}_backward"
    jvp.__name__ = jvp.__qualname__ = f"{kind}_axis{axis}_jvp"
    if double_backward is not None:
        double_backward.__name__ = double_backward.__qualname__ = f"{kind}_axis{axis}_double_backward"
    return opcheck.Op(
        name=f"{kind}.axis{axis}",
        description=f"{formula}, over axis {axis} of an (N, C) input",
        forward=forward,
        backward=backward,
        jvp=jvp,
        double_backward=double_backward,
        inputs={"x": opcheck.Tensor(shape=("N", "C"), low=-2.0, high=2.0)},
        dims={"N": 4, "C": 5},
    )


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    ops = [make(axis) for make in (softmax_op, log_softmax_op) for axis in AXES]
    return ops + [float32_twin(op) for op in ops if op.name == "softmax.axis1"]
