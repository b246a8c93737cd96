"""Max and average pooling over square windows of (N, C, H, W) inputs.

Window size ``kernel`` and ``stride`` are attrs: ``kernel=2 stride=2`` tiles the image,
``kernel=3 stride=1`` overlaps windows, so one input can feed several outputs and its
gradients add up. H and W are symbolic, constrained to hold at least one window. Ties in
max pooling: the whole gradient of a window goes to its *first* maximal element in
row-major order (``np.argmax``), the others get 0, as in most libraries. Sampled floats
essentially never tie, so the audit checks the smooth case.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import opcheck

Array = np.ndarray

HEIGHT = WIDTH = 4
ATTRS = {"max_pool2d": {"kernel": [2, 3], "stride": [2, 1]},
         "avg_pool2d": {"kernel": [2], "stride": [2]}}


def windows(x: Array, k: int, s: int) -> Array:
    """A read-only view (N, C, OH, OW, k, k) of every pooling window of ``x``."""
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]


def max_pool(x: Array, k: int, s: int) -> Array:
    return windows(x, k, s).max(axis=(4, 5))


def max_pool_grad(dout: Array, x: Array, k: int, s: int) -> Array:
    win = windows(x, k, s)
    n, c, oh, ow = win.shape[:4]
    first_max = win.reshape(n, c, oh, ow, k * k).argmax(axis=-1)  # first maximum on ties
    rows = s * np.arange(oh)[:, None] + first_max // k
    cols = s * np.arange(ow)[None, :] + first_max % k
    dx = np.zeros_like(x)
    batch = np.arange(n)[:, None, None, None]
    channel = np.arange(c)[None, :, None, None]
    np.add.at(dx, (batch, channel, rows, cols), dout)
    return dx


def avg_pool(x: Array, k: int, s: int) -> Array:
    return windows(x, k, s).mean(axis=(4, 5))


def avg_pool_grad(dout: Array, x: Array, k: int, s: int) -> Array:
    oh, ow = dout.shape[2:]
    share = dout / (k * k)
    dx = np.zeros_like(x)
    for p in range(k):  # window element (p, q) of every window at once
        for q in range(k):
            dx[:, :, p : p + s * oh : s, q : q + s * ow : s] += share
    return dx


_KINDS = {
    "max_pool2d": (max_pool, max_pool_grad, "y = max over each window"),
    "avg_pool2d": (avg_pool, avg_pool_grad, "y = mean over each window"),
}


def pool_op(kind: str) -> opcheck.Op:
    pool, grad, formula = _KINDS[kind]

    def forward(x: Array, kernel: int, stride: int) -> Array:
        return pool(x, kernel, stride)

    def backward(dout: Array, x: Array, kernel: int, stride: int) -> dict[str, Array]:
        return {"x": grad(dout, x, kernel, stride)}

    forward.__name__ = forward.__qualname__ = f"{kind}_forward"
    backward.__name__ = backward.__qualname__ = f"{kind}_backward"
    return opcheck.Op(
        name=kind,
        description=f"{formula} of kernel x kernel windows, every stride-th one",
        forward=forward,
        backward=backward,
        inputs={"x": opcheck.Tensor(shape=("N", "C", "H", "W"))},
        attrs=ATTRS[kind],
        constraints=["H >= kernel", "W >= kernel"],
        dims={"N": 2, "C": 3, "H": HEIGHT, "W": WIDTH},
    )


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [pool_op(kind) for kind in ATTRS]
