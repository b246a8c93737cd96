"""Batch normalisation (training mode: batch statistics), layer and group normalisation.

Both normalise x over one axis, x_hat = (x - mean) / sqrt(var + eps), then scale and shift
per feature; they differ only in the axis (0: over the batch, 1: over the features), so
they share ``normalize`` and its hand-derived backward ``normalize_backward``. With a
single element along the axis x_hat is 0 and the output is beta: the gradient through x is
exactly 0, which the audit's size-1 variants check. Group normalisation normalises each
of ``groups`` equal slices of the features; ``groups`` is an attr, and the constraint
``C % groups == 0`` keeps every shape variant divisible.
"""

from __future__ import annotations

import numpy as np

import opcheck

from ._twins import float32_twin

Array = np.ndarray

EPS = 1e-5


def normalize(x: Array, axis: int) -> tuple[Array, Array]:
    """``(x_hat, 1 / sqrt(var + eps))`` with the statistics taken over ``axis``."""
    centred = x - x.mean(axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt((centred**2).mean(axis=axis, keepdims=True) + EPS)
    return centred * inv_std, inv_std


def normalize_backward(dxhat: Array, xhat: Array, inv_std: Array, axis: int) -> Array:
    """dL/dx from dL/dx_hat, through the mean and the variance of x along ``axis``."""
    mean_dxhat = dxhat.mean(axis=axis, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axis, keepdims=True)
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


def normalize_jvp(tx: Array, xhat: Array, inv_std: Array, axis: int) -> Array:
    """The tangent of x_hat for a tangent tx of x: centred, minus its part along x_hat."""
    centred = tx - tx.mean(axis=axis, keepdims=True)
    return inv_std * (centred - xhat * (xhat * centred).mean(axis=axis, keepdims=True))


def _affine_jvp(x: Array, gamma: Array, tangents: dict[str, Array], axis: int) -> Array:
    xhat, inv_std = normalize(x, axis=axis)
    dxhat = normalize_jvp(tangents["x"], xhat, inv_std, axis)
    return tangents["gamma"] * xhat + gamma * dxhat + tangents["beta"]


def batchnorm_jvp(x: Array, gamma: Array, beta: Array, tangents: dict[str, Array]) -> Array:
    return _affine_jvp(x, gamma, tangents, axis=0)


def layernorm_jvp(x: Array, gamma: Array, beta: Array, tangents: dict[str, Array]) -> Array:
    return _affine_jvp(x, gamma, tangents, axis=1)


def batchnorm_forward(x: Array, gamma: Array, beta: Array) -> Array:
    xhat, _ = normalize(x, axis=0)
    return gamma * xhat + beta


def batchnorm_backward(dout: Array, x: Array, gamma: Array, beta: Array) -> dict[str, Array]:
    xhat, inv_std = normalize(x, axis=0)
    return {
        "x": normalize_backward(dout * gamma, xhat, inv_std, axis=0),
        "gamma": (dout * xhat).sum(axis=0),
        "beta": dout.sum(axis=0),
    }


def layernorm_forward(x: Array, gamma: Array, beta: Array) -> Array:
    xhat, _ = normalize(x, axis=1)
    return gamma * xhat + beta


def layernorm_backward(dout: Array, x: Array, gamma: Array, beta: Array) -> dict[str, Array]:
    xhat, inv_std = normalize(x, axis=1)
    return {
        "x": normalize_backward(dout * gamma, xhat, inv_std, axis=1),
        "gamma": (dout * xhat).sum(axis=0),
        "beta": dout.sum(axis=0),
    }


def groupnorm_forward(x: Array, gamma: Array, beta: Array, groups: int) -> Array:
    n, c = x.shape
    xhat, _ = normalize(x.reshape(n, groups, c // groups), axis=2)
    return gamma * xhat.reshape(n, c) + beta


def groupnorm_backward(dout: Array, x: Array, gamma: Array, beta: Array,
                       groups: int) -> dict[str, Array]:
    n, c = x.shape
    xhat, inv_std = normalize(x.reshape(n, groups, c // groups), axis=2)
    dxhat = (dout * gamma).reshape(n, groups, c // groups)
    return {
        "x": normalize_backward(dxhat, xhat, inv_std, axis=2).reshape(n, c),
        "gamma": (dout * xhat.reshape(n, c)).sum(axis=0),
        "beta": dout.sum(axis=0),
    }


def _inputs() -> dict[str, opcheck.Tensor]:
    return {
        "x": opcheck.Tensor(shape=("N", "D")),
        "gamma": opcheck.Tensor(shape=("D",), low=0.5, high=1.5),
        "beta": opcheck.Tensor(shape=("D",)),
    }


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    layernorm = opcheck.Op(
        name="layernorm",
        description=f"y = gamma * (x - mean(x)) / sqrt(var(x) + {EPS:g}) + beta, "
        "statistics over each row (axis 1)",
        forward=layernorm_forward,
        backward=layernorm_backward,
        jvp=layernorm_jvp,
        inputs=_inputs(),
        dims={"N": 4, "D": 5},
    )
    return [
        opcheck.Op(
            name="batchnorm",
            description=f"y = gamma * (x - mean(x)) / sqrt(var(x) + {EPS:g}) + beta, "
            "batch statistics over axis 0 (training mode)",
            forward=batchnorm_forward,
            backward=batchnorm_backward,
            jvp=batchnorm_jvp,
            inputs=_inputs(),
            dims={"N": 4, "D": 5},
        ),
        layernorm,
        float32_twin(layernorm),
        opcheck.Op(
            name="groupnorm",
            description=f"y = gamma * (x - mean) / sqrt(var + {EPS:g}) + beta, statistics over "
            "each of `groups` equal slices of a row's C features",
            forward=groupnorm_forward,
            backward=groupnorm_backward,
            inputs={
                "x": opcheck.Tensor(shape=("N", "C")),
                "gamma": opcheck.Tensor(shape=("C",), low=0.5, high=1.5),
                "beta": opcheck.Tensor(shape=("C",)),
            },
            attrs={"groups": [2, 1, 3]},
            constraints=["C % groups == 0"],
            dims={"N": 2, "C": 6},
        ),
    ]
