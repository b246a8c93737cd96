"""Ops that move values without arithmetic: embedding lookup, gather, concatenate, split,
reshape and transpose.

Their backwards route the upstream gradient to where each value came from. Where integer
indices can repeat (``embedding``, ``gather``) the gradients of the repeats must add up, so
they scatter with ``np.add.at`` into fresh zeros (plain fancy assignment would keep only one
repeat). Indices are non-differentiable inputs; the size they index into is fixed (their
range [0, size) is part of the declaration). ``split`` has several outputs, so its
``dout`` is a tuple.
"""

from __future__ import annotations

import numpy as np

import opcheck

Array = np.ndarray

VOCAB = 5  # rows of the embedding table; the default 8 ids must repeat some
GATHER_WIDTH = 5
SPLIT_SIZES = (1, 2, 3)
TRANSPOSE_AXES = (2, 0, 1)


def embedding_forward(ids: Array, weight: Array) -> Array:
    return weight[ids]


def embedding_backward(dout: Array, ids: Array, weight: Array) -> dict[str, Array]:
    dweight = np.zeros_like(weight)
    np.add.at(dweight, ids, dout)
    return {"weight": dweight}


def gather_forward(x: Array, index: Array) -> Array:
    return np.take_along_axis(x, index, axis=1)


def gather_backward(dout: Array, x: Array, index: Array) -> dict[str, Array]:
    dx = np.zeros_like(x)
    np.add.at(dx, (np.arange(x.shape[0])[:, None], index), dout)
    return {"x": dx}


def concatenate_forward(a: Array, b: Array, c: Array) -> Array:
    return np.concatenate([a, b, c], axis=1)


def concatenate_backward(dout: Array, a: Array, b: Array, c: Array) -> dict[str, Array]:
    ends = np.cumsum([a.shape[1], b.shape[1]])
    da, db, dc = np.split(dout, ends, axis=1)
    return {"a": da, "b": db, "c": dc}


def split_forward(x: Array) -> tuple[Array, ...]:
    return tuple(np.split(x, np.cumsum(SPLIT_SIZES[:-1]), axis=1))


def split_backward(dout: tuple[Array, ...], x: Array) -> dict[str, Array]:
    return {"x": np.concatenate(dout, axis=1)}


def reshape_forward(x: Array) -> Array:
    return x.reshape(x.shape[0], -1)


def reshape_backward(dout: Array, x: Array) -> dict[str, Array]:
    return {"x": dout.reshape(x.shape)}


def transpose_forward(x: Array) -> Array:
    return x.transpose(TRANSPOSE_AXES)


def transpose_backward(dout: Array, x: Array) -> dict[str, Array]:
    return {"x": dout.transpose(np.argsort(TRANSPOSE_AXES))}


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [
        opcheck.Op(
            name="embedding",
            description="y[n] = weight[ids[n]]: row lookup in a table",
            forward=embedding_forward,
            backward=embedding_backward,
            inputs={
                "ids": opcheck.Tensor(shape=("N",), dtype="int64", low=0, high=VOCAB),
                "weight": opcheck.Tensor(shape=(VOCAB, "D")),
            },
            dims={"N": 8, "D": 4},
        ),
        opcheck.Op(
            name="gather.axis1",
            description="y[n, k] = x[n, index[n, k]] (np.take_along_axis, axis 1)",
            forward=gather_forward,
            backward=gather_backward,
            inputs={
                "x": opcheck.Tensor(shape=("N", GATHER_WIDTH)),
                "index": opcheck.Tensor(shape=("N", "K"), dtype="int64", low=0, high=GATHER_WIDTH),
            },
            dims={"N": 3, "K": 6},
        ),
        opcheck.Op(
            name="concatenate.axis1",
            description="y = [a, b, c] joined along axis 1",
            forward=concatenate_forward,
            backward=concatenate_backward,
            inputs={
                "a": opcheck.Tensor(shape=("N", "A")),
                "b": opcheck.Tensor(shape=("N", "B")),
                "c": opcheck.Tensor(shape=("N", "C")),
            },
            dims={"N": 3, "A": 2, "B": 1, "C": 4},
        ),
        opcheck.Op(
            name="split.axis1",
            description=f"(y1, y2, y3) = x cut along axis 1 into widths {SPLIT_SIZES}",
            forward=split_forward,
            backward=split_backward,
            inputs={"x": opcheck.Tensor(shape=("N", sum(SPLIT_SIZES)))},
            dims={"N": 4},
        ),
        opcheck.Op(
            name="reshape",
            description="y = x reshaped from (N, H, W) to (N, H*W)",
            forward=reshape_forward,
            backward=reshape_backward,
            inputs={"x": opcheck.Tensor(shape=("N", "H", "W"))},
            dims={"N": 2, "H": 3, "W": 4},
        ),
        opcheck.Op(
            name="transpose",
            description=f"y = x.transpose{TRANSPOSE_AXES}: (A, B, C) -> (C, A, B)",
            forward=transpose_forward,
            backward=transpose_backward,
            inputs={"x": opcheck.Tensor(shape=("A", "B", "C"))},
            dims={"A": 2, "B": 3, "C": 4},
        ),
    ]
