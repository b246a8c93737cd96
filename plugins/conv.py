"""2-D convolution (cross-correlation, as in every deep-learning library), twice.

``conv2d_naive`` loops over the kernel's offsets and reads like the definition; ``conv2d_im2col``
gathers every receptive field into a matrix once and does one matrix product, the way
fast libraries do. Both are ops so both are audited, and tests check they agree. Stride and
padding are attrs (``stride`` in {1, 2}, ``pad`` in {1, 0}): the audit runs every
configuration and names the one that fails (``stride=2 pad=0``). The images are square,
H x H, with H symbolic too; the constraint keeps the padded image at least one kernel wide.

Shapes: x (N, C, H, W), here W = H, w (F, C, KH, KW), b (F,) -> (N, F, OH, OW) with
OH = (H + 2 pad - KH) // stride + 1.
"""

from __future__ import annotations

import functools

import numpy as np

import opcheck

Array = np.ndarray

HEIGHT = 4
KERNEL = 3


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _pad(x: Array, pad: int) -> Array:
    """x with ``pad`` zeros around each image (np.pad does the same, ten times slower)."""
    if pad == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    xp[:, :, pad : pad + h, pad : pad + w] = x
    return xp


def _unpad(xp: Array, pad: int) -> Array:
    return xp[:, :, pad : xp.shape[2] - pad, pad : xp.shape[3] - pad]


# -- naive: one kernel offset at a time -------------------------------------------------


def _window(xp: Array, p: int, q: int, oh: int, ow: int, stride: int) -> Array:
    """The (N, C, OH, OW) view of the padded input that kernel offset (p, q) meets:
    element [n, c, i, j] is xpad[n, c, i stride + p, j stride + q]."""
    return xp[:, :, p : p + stride * (oh - 1) + 1 : stride, q : q + stride * (ow - 1) + 1 : stride]


def conv2d_naive(x: Array, w: Array, b: Array, stride: int, pad: int) -> Array:
    """out[n, f, i, j] = b[f] + sum_{p,q} sum_c xpad[n, c, i s + p, j s + q] w[f, c, p, q],
    summed one kernel offset (p, q) at a time."""
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = output_size(h, kh, stride, pad), output_size(wd, kw, stride, pad)
    xp = _pad(x, pad)
    out = np.zeros((n, f, oh, ow), dtype=np.result_type(x, w))
    for p in range(kh):
        for q in range(kw):
            out += np.einsum("ncij,fc->nfij", _window(xp, p, q, oh, ow, stride), w[:, :, p, q])
    return out + b[None, :, None, None]


def conv2d_naive_grads(
    dout: Array, x: Array, w: Array, stride: int, pad: int
) -> tuple[Array, Array, Array]:
    """(dx, dw, db): kernel offset (p, q) passes dout back through the same window."""
    kh, kw = w.shape[2:]
    oh, ow = dout.shape[2:]
    xp = _pad(x, pad)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for p in range(kh):
        for q in range(kw):
            dw[:, :, p, q] = np.einsum("nfij,ncij->fc", dout, _window(xp, p, q, oh, ow, stride))
            # A window holds each element once, so += on it is exact; the windows of
            # different offsets overlap, and their contributions accumulate in turn.
            _window(dxp, p, q, oh, ow, stride)[...] += np.einsum("nfij,fc->ncij", dout, w[:, :, p, q])
    return _unpad(dxp, pad), dw, dout.sum(axis=(0, 2, 3))


# -- im2col: every receptive field at once ---------------------------------------------


@functools.lru_cache(maxsize=64)
def im2col_indices(
    channels: int, kh: int, kw: int, oh: int, ow: int, stride: int
) -> tuple[Array, Array, Array]:
    """Index arrays (c, row, col), each (C KH KW, OH OW): entry [k, l] is the padded-input
    element that kernel element k = (c, p, q) meets at output position l = (i, j).
    Cached per geometry, as libraries do: they depend on the shapes only (read-only)."""
    c = np.repeat(np.arange(channels), kh * kw)[:, None]
    p = np.tile(np.repeat(np.arange(kh), kw), channels)[:, None]
    q = np.tile(np.arange(kw), kh * channels)[:, None]
    i = np.repeat(np.arange(oh), ow)[None, :]
    j = np.tile(np.arange(ow), oh)[None, :]
    index = (c, p + stride * i, q + stride * j)
    for arr in index:
        arr.flags.writeable = False
    return index


def _columns(
    x: Array, w: Array, stride: int, pad: int
) -> tuple[Array, tuple[Array, ...], int, int]:
    _, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    oh, ow = output_size(h, kh, stride, pad), output_size(wd, kw, stride, pad)
    index = im2col_indices(c, kh, kw, oh, ow, stride)
    return _pad(x, pad)[:, index[0], index[1], index[2]], index, oh, ow  # (N, C KH KW, OH OW)


def conv2d_im2col(x: Array, w: Array, b: Array, stride: int, pad: int) -> Array:
    cols, _, oh, ow = _columns(x, w, stride, pad)
    out = w.reshape(w.shape[0], -1) @ cols + b[:, None]  # (N, F, OH OW)
    return out.reshape(x.shape[0], w.shape[0], oh, ow)


def conv2d_im2col_grads(
    dout: Array, x: Array, w: Array, stride: int, pad: int
) -> tuple[Array, Array, Array]:
    cols, index, _, _ = _columns(x, w, stride, pad)
    n, f = dout.shape[:2]
    g = dout.reshape(n, f, -1)  # (N, F, OH OW)
    dw = np.einsum("nfl,nkl->fk", g, cols).reshape(w.shape)
    dcols = w.reshape(f, -1).T @ g  # (N, C KH KW, OH OW)
    dxp = np.zeros_like(_pad(x, pad))
    np.add.at(dxp, (slice(None), *index), dcols)  # col2im: overlapping fields accumulate
    return _unpad(dxp, pad), dw, dout.sum(axis=(0, 2, 3))


IMPLEMENTATIONS = {
    "naive": (conv2d_naive, conv2d_naive_grads),
    "im2col": (conv2d_im2col, conv2d_im2col_grads),
}


def conv2d_op(implementation: str) -> opcheck.Op:
    conv, grads = IMPLEMENTATIONS[implementation]

    def forward(x: Array, w: Array, b: Array, stride: int, pad: int) -> Array:
        return conv(x, w, b, stride, pad)

    def backward(dout: Array, x: Array, w: Array, b: Array, stride: int, pad: int) -> dict[str, Array]:
        dx, dw, db = grads(dout, x, w, stride, pad)
        return {"x": dx, "w": dw, "b": db}

    def jvp(x: Array, w: Array, b: Array, tangents: dict[str, Array], stride: int, pad: int) -> Array:
        # bilinear in (x, w) plus b: conv(tx, w) + conv(x, tw) + tb
        return (conv(tangents["x"], w, np.zeros_like(b), stride, pad)
                + conv(x, tangents["w"], tangents["b"], stride, pad))

    forward.__name__ = forward.__qualname__ = f"conv2d_{implementation}_forward"
    backward.__name__ = backward.__qualname__ = f"conv2d_{implementation}_backward"
    jvp.__name__ = jvp.__qualname__ = f"conv2d_{implementation}_jvp"
    return opcheck.Op(
        name=f"conv2d_{implementation}",
        description="out[n,f,i,j] = b[f] + sum_(c,p,q) xpad[n,c,s i+p,s j+q] w[f,c,p,q], "
        f"stride s, zero padding pad ({implementation})",
        forward=forward,
        backward=backward,
        jvp=jvp,
        inputs={
            "x": opcheck.Tensor(shape=("N", "C", "H", "H")),  # square images: one size to vary
            "w": opcheck.Tensor(shape=("F", "C", KERNEL, KERNEL)),
            "b": opcheck.Tensor(shape=("F",)),
        },
        attrs={"stride": [1, 2], "pad": [1, 0]},
        constraints=[f"H + 2*pad >= {KERNEL}"],
        dims={"N": 2, "C": 2, "F": 2, "H": HEIGHT},
    )


@opcheck.hookimpl
def opcheck_ops() -> list[opcheck.Op]:
    return [conv2d_op(implementation) for implementation in IMPLEMENTATIONS]
