"""Binary ops under numpy broadcasting: the gradient of a broadcast input is the upstream
gradient summed back over the axes it was stretched along (``unbroadcast``).

``add`` stretches a row vector over the rows; ``mul`` stretches a column over the columns,
so each op exercises the reduction on a different axis.
"""

from __future__ import annotations

import numpy as np

import opcheck

Array = np.ndarray


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting of an input of that shape."""
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(
        axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1
    )
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def add_forward(x: Array, y: Array) -> Array:
    return x + y


def add_backward(dout: Array, x: Array, y: Array) -> dict[str, Array]:
    return {"x": unbroadcast(dout, x.shape), "y": unbroadcast(dout, y.shape)}


def mul_forward(x: Array, y: Array) -> Array:
    return x * y


def mul_backward(dout: Array, x: Array, y: Array) -> dict[str, Array]:
    return {"x": unbroadcast(dout * y, x.shape), "y": unbroadcast(dout * x, y.shape)}


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [
        opcheck.Op(
            name="add",
            description="z = x + y, y of shape (D,) broadcast over the rows of x",
            forward=add_forward,
            backward=add_backward,
            inputs={"x": opcheck.Tensor(shape=("N", "D")), "y": opcheck.Tensor(shape=("D",))},
            dims={"N": 4, "D": 5},
        ),
        opcheck.Op(
            name="mul",
            description="z = x * y, y of shape (N, 1) broadcast over the columns of x",
            forward=mul_forward,
            backward=mul_backward,
            inputs={"x": opcheck.Tensor(shape=("N", "D")), "y": opcheck.Tensor(shape=("N", 1))},
            dims={"N": 4, "D": 5},
        ),
    ]
