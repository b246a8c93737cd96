"""The fully connected layer y = x W + b, the workhorse every network stacks.

Declared at float64 and as a float32 twin, the precision such layers usually run at; and
``affine_relu`` as a CS231n-style layer library writes it, forward returning a cache that
backward reads (``residuals=True``).
"""

from __future__ import annotations

import numpy as np

import opcheck

from ._twins import float32_twin

Array = np.ndarray


def affine_forward(x: Array, w: Array, b: Array) -> Array:
    return x @ w + b


def affine_backward(dout: Array, x: Array, w: Array, b: Array) -> dict[str, Array]:
    return {"x": dout @ w.T, "w": x.T @ dout, "b": dout.sum(axis=0)}


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    affine = opcheck.Op(
        name="affine",
        description="y = x W + b, b of shape (M,) added to every row",
        forward=affine_forward,
        backward=affine_backward,
        inputs={
            "x": opcheck.Tensor(shape=("N", "D")),
            "w": opcheck.Tensor(shape=("D", "M")),
            "b": opcheck.Tensor(shape=("M",)),
        },
        dims={"N": 4, "D": 5, "M": 3},
    )
    return [affine, float32_twin(affine), affine_relu()]


# -- the CS231n way: forward returns a cache, backward reads it ---------------------------


def affine_relu_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple[Array, Array, Array]]:
    """relu(x W + b), and the cache its backward needs (as a CS231n layers.py writes it)."""
    a = x @ w + b
    return np.maximum(a, 0.0), (x, w, a)


def affine_relu_backward(dout: Array, cache: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
    x, w, a = cache
    da = np.where(a > 0, dout, 0.0)
    return da @ w.T, x.T @ da, da.sum(axis=0)


def affine_relu() -> opcheck.Op:
    return opcheck.Op(
        name="affine_relu",
        description="y = relu(x W + b), registered through its cache (residuals=True)",
        forward=affine_relu_forward,
        backward=lambda dout, residuals: affine_relu_backward(dout, residuals),
        residuals=True,
        inputs={
            "x": opcheck.Tensor(shape=("N", "D")),
            "w": opcheck.Tensor(shape=("D", "M")),
            "b": opcheck.Tensor(shape=("M",)),
        },
        dims={"N": 4, "D": 5, "M": 3},
    )
