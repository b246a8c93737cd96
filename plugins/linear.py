"""The fully connected layer y = x W + b, the workhorse every network stacks.

Declared at float64 and as a float32 twin, the precision such layers usually run at.
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
    return [affine, float32_twin(affine)]
