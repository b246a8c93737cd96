"""Matrix product D = X W, the seed notebook's matrix-matrix gradient example."""

from __future__ import annotations

import numpy as np

import opcheck


def matmul_forward(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w


def matmul_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    # dD/dX contracts over M: dX = dD W^T; dD/dW contracts over N: dW = X^T dD.
    return {"x": dout @ w.T, "w": x.T @ dout}


def matmul_jvp(x: np.ndarray, w: np.ndarray, tangents: dict[str, np.ndarray]) -> np.ndarray:
    return tangents["x"] @ w + x @ tangents["w"]


def matmul_double_backward(
    ggrads: dict[str, np.ndarray], dout: np.ndarray, x: np.ndarray, w: np.ndarray
) -> dict[str, np.ndarray]:
    # backward is bilinear: <gx, dout W^T> + <gw, X^T dout> differentiated in X, W and dout.
    gx, gw = ggrads["x"], ggrads["w"]
    return {"x": dout @ gw.T, "w": gx.T @ dout, "dout": gx @ w + x @ gw}


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [
        opcheck.Op(
            name="matmul",
            description="D = X W",
            forward=matmul_forward,
            backward=matmul_backward,
            jvp=matmul_jvp,
            double_backward=matmul_double_backward,
            inputs={
                "x": opcheck.Tensor(shape=("N", "D")),
                "w": opcheck.Tensor(shape=("D", "M")),
            },
            dims={"N": 3, "D": 4, "M": 5},
        ),
    ]
