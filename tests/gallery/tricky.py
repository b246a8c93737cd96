"""Correct layers that are hard to check: low precision, gradients spanning many orders of
magnitude, high curvature, badly scaled inputs, exact ties, views, several outputs, and
kinks. The audit must pass every one; for ``KINKS`` it must also say where the kinks are.
"""

from __future__ import annotations

import math

import numpy as np

from opcheck import Op, Tensor

from . import Case, log_softmax, sigmoid, softmax
from .buggy import _ERF, conv1d, conv1d_backward, edge_pool, edge_pool_backward, maxpool2d_backward

_EPS = 1e-5


def _op(name: str, forward, backward, dims: dict[str, int] | None = None, **inputs: Tensor) -> Op:
    return Op(name=f"ok.{name}", forward=forward, backward=backward, inputs=inputs,
              dims=dims or {})


def _tanh_affine(x, w, b):
    return np.tanh(x @ w + b)


def _tanh_affine_backward(dout, out, x, w, b):
    ds = dout * (1 - out * out)
    return {"x": ds @ w.T, "w": x.T @ ds, "b": ds.sum(axis=0)}


def _layernorm(x, gamma, beta):
    mu = x.mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + _EPS) + beta


def _layernorm_backward(dout, x, gamma, beta):
    inv = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + _EPS)
    xhat = (x - x.mean(axis=-1, keepdims=True)) * inv
    dxhat = dout * gamma
    dx = inv * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return {"x": dx, "gamma": (dout * xhat).sum(axis=0), "beta": dout.sum(axis=0)}


def _plain_layernorm(x):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + _EPS)


def _plain_layernorm_backward(dout, x):
    inv = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + _EPS)
    xhat = (x - x.mean(axis=-1, keepdims=True)) * inv
    dx = inv * (dout - dout.mean(axis=-1, keepdims=True)
                - xhat * (dout * xhat).mean(axis=-1, keepdims=True))
    return {"x": dx}


def _batchnorm(x, gamma, beta):
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + _EPS)
    return gamma * xhat + beta


def _batchnorm_backward(dout, x, gamma, beta):
    n = x.shape[0]
    inv = 1.0 / np.sqrt(x.var(axis=0) + _EPS)
    xhat = (x - x.mean(axis=0)) * inv
    dxhat = dout * gamma
    dx = inv / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return {"x": dx, "gamma": (dout * xhat).sum(axis=0), "beta": dout.sum(axis=0)}


def _cross_entropy(logits, labels):
    return -log_softmax(logits)[np.arange(labels.shape[0]), labels].mean()


def _cross_entropy_backward(dout, logits, labels):
    onehot = np.eye(logits.shape[1], dtype=logits.dtype)[labels]
    return {"logits": dout * (softmax(logits) - onehot) / labels.shape[0]}


def _softmax_backward(dout, out, x):
    return {"x": out * (dout - (out * dout).sum(axis=-1, keepdims=True))}


_SCALES = np.logspace(0, -11, 12)


def _logsumexp(x):
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def _logsumexp_backward(dout, x):
    return {"x": dout[..., None] * softmax(x)}


def _embedding(weight, idx):
    return weight[idx]


def _embedding_backward(dout, weight, idx):
    grad = np.zeros_like(weight)
    np.add.at(grad, idx, dout)
    return {"weight": grad}


def _upsample(x):
    return np.repeat(x, 2, axis=-1)


def _upsample_backward(dout, x):
    return {"x": dout.reshape(*x.shape, 2).sum(axis=-1)}


def _maxpool2d(x):
    h, w = x.shape[-2:]
    r = x.reshape(*x.shape[:-2], h // 2, 2, w // 2, 2)
    return r.max(axis=(-3, -1))


def _lstm_cell(x, h, c, w, b):
    z = np.concatenate([x, h], axis=-1) @ w + b
    i, f, o, g = np.split(z, 4, axis=-1)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


def _lstm_cell_backward(dout, out, x, h, c, w, b):
    dh_new, dc_new = dout
    c_new = out[1]
    z = np.concatenate([x, h], axis=-1) @ w + b
    i, f, o, g = np.split(z, 4, axis=-1)
    si, sf, so, tg, tc = sigmoid(i), sigmoid(f), sigmoid(o), np.tanh(g), np.tanh(c_new)
    dc = dc_new + dh_new * so * (1 - tc * tc)
    dz = np.concatenate([
        dc * tg * si * (1 - si),
        dc * c * sf * (1 - sf),
        dh_new * tc * so * (1 - so),
        dc * si * (1 - tg * tg),
    ], axis=-1)
    dxh = dz @ w.T
    d = x.shape[-1]
    return {"x": dxh[:, :d], "h": dxh[:, d:], "c": dc * sf,
            "w": np.concatenate([x, h], axis=-1).T @ dz, "b": dz.sum(axis=0)}


def _temperature_softmax(x, t):
    return softmax(x / t)


def _temperature_softmax_backward(dout, out, x, t):
    ds = out * (dout - (out * dout).sum(axis=-1, keepdims=True))  # d/d(x / t)
    return {"x": ds / t, "t": -(ds * x).sum() / t**2}


def _attention(q, k, v):
    scale = q.dtype.type(1.0 / np.sqrt(q.shape[-1]))
    return softmax(q @ np.swapaxes(k, -1, -2) * scale) @ v


def _attention_backward(dout, q, k, v):
    scale = q.dtype.type(1.0 / np.sqrt(q.shape[-1]))
    p = softmax(q @ k.T * scale)
    dp = dout @ v.T
    ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True)) * scale
    return {"q": ds @ k, "k": ds.T @ q, "v": p.T @ dout}


def _masked_mean(x, mask):
    count = np.maximum(mask.sum(axis=-1, keepdims=True), 1)
    return (x * mask).sum(axis=-1) / count[..., 0]


def _masked_mean_backward(dout, x, mask):
    count = np.maximum(mask.sum(axis=-1, keepdims=True), 1)
    return {"x": dout[..., None] * mask / count}


def _gelu_erf(x):
    return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))


def _gelu_erf_backward(dout, x):
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return {"x": dout * (0.5 * (1.0 + _ERF(x / math.sqrt(2.0))) + x * pdf)}


CORRECT: list[Case] = [
    Case(_op("tanh_affine.float32", _tanh_affine, _tanh_affine_backward,
             {"N": 8, "D": 32, "M": 16}, x=Tensor(shape=("N", "D"), dtype="float32"),
             w=Tensor(shape=("D", "M"), dtype="float32", low=-0.3, high=0.3),
             b=Tensor(shape=("M",), dtype="float32")),
         "pass", "a float32 layer with 32-term dot products"),
    Case(_op("layernorm.float32", _layernorm, _layernorm_backward, {"N": 4, "D": 16},
             x=Tensor(shape=("N", "D"), dtype="float32"),
             gamma=Tensor(shape=("D",), dtype="float32"),
             beta=Tensor(shape=("D",), dtype="float32")),
         "pass", "float32 layernorm: every output depends on every input of its row"),
    Case(_op("cross_entropy.float32", _cross_entropy, _cross_entropy_backward, {"N": 6},
             logits=Tensor(shape=("N", 10), dtype="float32", low=-10.0, high=10.0),
             labels=Tensor(shape=("N",), dtype="int64", low=0, high=10)),
         "pass", "float32 cross-entropy to a scalar, with integer labels"),
    Case(_op("attention.float32", _attention, _attention_backward, {"T": 5, "S": 6, "D": 8},
             q=Tensor(shape=("T", "D"), dtype="float32"),
             k=Tensor(shape=("S", "D"), dtype="float32"),
             v=Tensor(shape=("S", "D"), dtype="float32")),
         "pass", "float32 scaled dot-product attention"),
    Case(_op("softmax_probabilities_to_1e-11", softmax, _softmax_backward, {"N": 4, "C": 12},
             x=Tensor(shape=("N", "C"), low=-25.0, high=0.0)),
         "pass", "peaked softmax: probabilities and gradients down to about 1e-11"),
    Case(_op("feature_scales_1_to_1e-11", lambda x: 0.5 * _SCALES * x**2,
             lambda dout, x: {"x": dout * _SCALES * x}, {"N": 3}, x=Tensor(shape=("N", 12))),
         "pass", "per-feature weights from 1 down to 1e-11: gradients across 11 decades"),
    Case(_op("sin_200x", lambda x: np.sin(200.0 * x),
             lambda dout, x: {"x": 200.0 * dout * np.cos(200.0 * x)}, {"N": 64},
             x=Tensor(shape=("N",))),
         "pass", "high curvature: sin(200x), a high-frequency positional feature"),
    Case(_op("layernorm_inputs_around_1e4", _plain_layernorm, _plain_layernorm_backward,
             {"N": 3, "D": 8}, x=Tensor(shape=("N", "D"), low=9e3, high=1.1e4)),
         "pass", "layernorm of inputs around 1e4"),
    Case(_op("sqrt_inputs_around_1e4", lambda x: np.sqrt(x),
             lambda dout, out, x: {"x": dout * 0.5 / out}, {"N": 16},
             x=Tensor(shape=("N",), low=9e3, high=1.1e4)),
         "pass", "a gradient of 5e-3 at inputs around 1e4"),
    Case(_op("logsumexp_700_to_800", _logsumexp, _logsumexp_backward, {"N": 3, "C": 6},
             x=Tensor(shape=("N", "C"), low=700.0, high=800.0)),
         "pass", "logsumexp of logits whose exp overflows: the stable form"),
    Case(_op("batchnorm", _batchnorm, _batchnorm_backward, {"N": 5, "D": 3},
             x=Tensor(shape=("N", "D")), gamma=Tensor(shape=("D",)), beta=Tensor(shape=("D",))),
         "pass", "batchnorm: every output of a column depends on the whole batch"),
    Case(_op("embedding_add_at", _embedding, _embedding_backward, {"L": 12, "E": 4},
             weight=Tensor(shape=(5, "E")),
             idx=Tensor(shape=("L",), dtype="int64", low=0, high=5)),
         "pass", "embedding with repeated indices, accumulated with np.add.at"),
    Case(_op("upsample", _upsample, _upsample_backward, {"N": 3, "W": 5},
             x=Tensor(shape=("N", "W"))),
         "pass", "nearest-neighbour upsampling: each input read twice"),
    Case(_op("maxpool2d", _maxpool2d, lambda dout, x: {"x": maxpool2d_backward(dout, x)},
             {"N": 2}, x=Tensor(shape=("N", 4, 6))),
         "pass", "2x2 max pooling"),
    Case(_op("edge_pool_exact_ties", edge_pool,
             lambda dout, x: {"x": edge_pool_backward(dout, x)}, {"N": 3},
             x=Tensor(shape=("N", 6))),
         "pass", "max pooling over exact ties that move together (edge padding): no kink, "
         "the gradient goes to one copy"),
    Case(_op("conv1d", conv1d, conv1d_backward, {"N": 2},
             x=Tensor(shape=("N", 8)), w=Tensor(shape=(3,))),
         "pass", "valid 1-d convolution (cross-correlation)"),
    Case(_op("lstm_cell", _lstm_cell, _lstm_cell_backward, {"N": 2},
             x=Tensor(shape=("N", 3)), h=Tensor(shape=("N", 2)), c=Tensor(shape=("N", 2)),
             w=Tensor(shape=(5, 8)), b=Tensor(shape=(8,))),
         "pass", "two outputs (h, c), a tuple dout, and backward reading out"),
    Case(_op("transpose_returns_views", lambda x: x.T, lambda dout, x: {"x": dout.T},
             {"N": 3, "D": 4}, x=Tensor(shape=("N", "D"))),
         "pass", "forward returns a view of its input and backward a view of dout"),
    Case(_op("softmax_temperature_scalar", _temperature_softmax, _temperature_softmax_backward,
             {"N": 3, "C": 4}, x=Tensor(shape=("N", "C")), t=Tensor(shape=(), low=0.5, high=2.0)),
         "pass", "a shape-() input (the temperature) reaching every output"),
    Case(_op("masked_mean", _masked_mean, _masked_mean_backward, {"N": 3, "T": 5},
             x=Tensor(shape=("N", "T")), mask=Tensor(shape=("N", "T"), dtype="int64", low=0, high=2)),
         "pass", "mean pooling under an integer mask: many gradients exactly zero"),
    Case(_op("gelu_erf", _gelu_erf, _gelu_erf_backward, {"N": 16},
             x=Tensor(shape=("N",), low=-4.0, high=4.0)),
         "pass", "exact gelu through np.vectorize(math.erf)"),
    Case(_op("maxpool2d_exact_ties.float16", _maxpool2d,
             lambda dout, x: {"x": maxpool2d_backward(dout, x).astype(x.dtype)}, {"N": 2},
             x=Tensor(shape=("N", 4, 6), dtype="float16", low=1.0, high=1.01)),
         "pass", "max pooling of float16 activations with about ten distinct values: exact "
         "ties in most windows"),
    Case(_op("tanh.float16", lambda x: np.tanh(x), lambda dout, out, x: {"x": dout * (1 - out * out)},
             {"N": 16}, x=Tensor(shape=("N",), dtype="float16")),
         "pass", "half precision"),
]


def _hardtanh(x):
    return np.clip(x, -1.0, 1.0)


def _pair_max(a, b):
    return np.maximum(a, b)


def _pair_max_backward(dout, a, b):
    first = a >= b  # ties: the gradient goes to a
    return {"a": dout * first, "b": dout * ~first}


KINKS: list[Case] = [
    Case(_op("relu_near_zero.float32", lambda x: np.maximum(x, 0),
             lambda dout, x: {"x": dout * (x > 0)}, {"N": 4},
             x=Tensor(shape=("N", 64), dtype="float32", low=-0.01, high=0.01)),
         "pass", "float32 relu of pre-activations within a few steps of 0"),
    Case(_op("relu_dead_zone.float64", lambda x: np.maximum(x, 0),
             lambda dout, x: {"x": dout * (x > 0)}, {"N": 400},
             x=Tensor(shape=("N",), low=-2e-5, high=2e-5)),
         "pass", "float64 relu of pre-activations within a step of 0"),
    Case(_op("l1_loss.float16", lambda pred, target: np.abs(pred - target).sum(),
             lambda dout, pred, target: {"pred": dout * np.sign(pred - target),
                                         "target": -dout * np.sign(pred - target)},
             {"N": 8, "D": 8}, pred=Tensor(shape=("N", "D"), dtype="float16"),
             target=Tensor(shape=("N", "D"), dtype="float16")),
         "pass", "half-precision L1 loss: abs at 0 wherever prediction and target are close"),
    Case(_op("maxpool2d_near_ties.float32", _maxpool2d,
             lambda dout, x: {"x": maxpool2d_backward(dout, x).astype(x.dtype)}, {"N": 4},
             x=Tensor(shape=("N", 4, 6), dtype="float32", low=0.0, high=1e-3)),
         "pass", "max pooling of float32 activations closer together than the step"),
    Case(_op("hardtanh_at_the_bound.float32", _hardtanh,
             lambda dout, x: {"x": dout * (np.abs(x) < 1)}, {"N": 256},
             x=Tensor(shape=("N",), dtype="float32", low=0.99, high=1.01)),
         "pass", "clip to [-1, 1] of values around 1"),
    Case(_op("maxout_near_ties.float32", _pair_max, _pair_max_backward, {"N": 64},
             a=Tensor(shape=("N",), dtype="float32", low=0.0, high=1e-3),
             b=Tensor(shape=("N",), dtype="float32", low=0.0, high=1e-3)),
         "pass", "max of two nearly equal float32 feature maps"),
]
