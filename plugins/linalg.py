"""Linear algebra on symmetric positive definite matrices, drawn with ``sampler="spd"``.

Both ops factor A with Cholesky, which raises on a matrix that is not positive definite,
so uniform [-1, 1] inputs would break them. Cholesky reads one triangle of A; the forwards
symmetrise A first, so that a finite-difference step on either triangle moves the result
and the gradient is the symmetric one libraries return (see docs/porting.md).
"""

from __future__ import annotations

import numpy as np

import opcheck

Array = np.ndarray


def _sym(a: Array) -> Array:
    return (a + np.swapaxes(a, -1, -2)) / 2


def logdet_forward(a: Array) -> Array:
    lower = np.linalg.cholesky(_sym(a))
    return 2.0 * np.log(np.diagonal(lower, axis1=-2, axis2=-1)).sum(axis=-1)


def logdet_backward(dout: Array, a: Array) -> dict[str, Array]:
    return {"a": dout[..., None, None] * np.linalg.inv(_sym(a))}


def spd_solve_forward(a: Array, b: Array) -> Array:
    """x = A^-1 b by two triangular solves with A's Cholesky factor."""
    lower = np.linalg.cholesky(_sym(a))
    return np.linalg.solve(np.swapaxes(lower, -1, -2), np.linalg.solve(lower, b))


def spd_solve_backward(dout: Array, out: Array, a: Array, b: Array) -> dict[str, Array]:
    db = np.linalg.solve(_sym(a), dout)  # A is symmetric: A^-T dout = A^-1 dout
    return {"a": _sym(-db @ np.swapaxes(out, -1, -2)), "b": db}


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [
        opcheck.Op(
            name="logdet_spd",
            description="y = log det A via Cholesky, for a batch of SPD matrices A",
            forward=logdet_forward,
            backward=logdet_backward,
            inputs={"a": opcheck.Tensor(shape=("B", "N", "N"), sampler="spd")},
            dims={"B": 2, "N": 4},
        ),
        opcheck.Op(
            name="spd_solve",
            description="X = A^-1 B via Cholesky, A symmetric positive definite",
            forward=spd_solve_forward,
            backward=spd_solve_backward,
            inputs={"a": opcheck.Tensor(shape=("N", "N"), sampler="spd"),
                    "b": opcheck.Tensor(shape=("N", "K"))},
            dims={"N": 4, "K": 2},
        ),
    ]
