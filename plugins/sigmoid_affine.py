"""One sigmoid neuron f = sigmoid(x w + b), the seed notebook's first example."""

from __future__ import annotations

import numpy as np

import opcheck


def sigmoid_affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


def sigmoid_affine_backward(
    dout: np.ndarray, out: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray
) -> dict[str, np.ndarray]:
    ds = dout * out * (1.0 - out)  # sigmoid'(s) = f (1 - f), reusing the forward output
    return {"x": ds @ w.T, "w": x.T @ ds, "b": ds.sum()}


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [
        opcheck.Op(
            name="sigmoid_affine",
            description="f = sigmoid(x w + b), b a scalar",
            forward=sigmoid_affine_forward,
            backward=sigmoid_affine_backward,
            inputs={
                "x": opcheck.Tensor(shape=("N", "D")),
                "w": opcheck.Tensor(shape=("D", "M")),
                "b": opcheck.Tensor(shape=()),
            },
            dims={"N": 3, "D": 2, "M": 1},
        ),
    ]
