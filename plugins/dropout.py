"""Inverted dropout with the keep-mask as an input.

The random mask is drawn by the caller and passed in, so forward is deterministic (as
opcheck requires) and the mask is declared non-differentiable: a boolean per element, True
where the value is kept. Kept values are scaled by 1 / (1 - p) so the expected output
equals the input; the drop probability p is an attr, audited at 0.5 and 0.2.
"""

from __future__ import annotations

import numpy as np

import opcheck

from ._twins import float32_twin

Array = np.ndarray

P_DROP = [0.5, 0.2]


def dropout_forward(x: Array, mask: Array, p: float) -> Array:
    return np.where(mask, x * (1.0 / (1.0 - p)), 0.0).astype(x.dtype, copy=False)


def dropout_backward(dout: Array, x: Array, mask: Array, p: float) -> dict[str, Array]:
    return {"x": np.where(mask, dout * (1.0 / (1.0 - p)), 0.0).astype(x.dtype, copy=False)}


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    dropout = opcheck.Op(
        name="dropout",
        description="y = x * mask / (1 - p), mask boolean (True: kept)",
        forward=dropout_forward,
        backward=dropout_backward,
        inputs={
            "x": opcheck.Tensor(shape=("N", "D")),
            "mask": opcheck.Tensor(shape=("N", "D"), dtype="bool"),
        },
        attrs={"p": P_DROP},
        dims={"N": 4, "D": 5},
    )
    return [dropout, float32_twin(dropout)]
