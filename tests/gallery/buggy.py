"""Bugs people really write in numpy NN layers, one per op, each with the verdict the
audit owes it: ``fail`` naming the input whose gradient is wrong, or ``error`` naming the
function and argument that broke the contract.

Several bugs hide where a simpler check would look: behind square default shapes, behind
a batch of one, or behind a gradient whose sum is right (an all-ones projection is blind
to those). The ``why`` of each case says which.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from opcheck import Op, Tensor

from . import Case, log_softmax, sigmoid, softmax

_EPS = 1e-5


def _op(name: str, forward, backward, dims: dict[str, int] | None = None, **inputs: Tensor) -> Op:
    return Op(name=f"bug.{name}", forward=forward, backward=backward, inputs=inputs,
              dims=dims or {})


# --- matrix products -------------------------------------------------------------------

def _rnn_cell(x, h, wx, wh):
    return np.tanh(x @ wx + h @ wh)


def _rnn_dh_missing_transpose(dout, out, x, h, wx, wh):
    ds = dout * (1.0 - out**2)
    return {"x": ds @ wx.T, "h": ds @ wh, "wx": x.T @ ds, "wh": h.T @ ds}  # ds @ wh.T


def _rnn_dwh_transposed(dout, out, x, h, wx, wh):
    ds = dout * (1.0 - out**2)
    return {"x": ds @ wx.T, "h": ds @ wh.T, "wx": x.T @ ds, "wh": ds.T @ h}  # h.T @ ds


_RNN = {"x": Tensor(shape=("N", "D")), "h": Tensor(shape=("N", "H")),
        "wx": Tensor(shape=("D", "H")), "wh": Tensor(shape=("H", "H"))}


def _affine(x, w, b):
    return x @ w + b


def _affine_dx_missing_transpose(dout, x, w, b):
    return {"x": dout @ w, "w": x.T @ dout, "b": dout.sum(axis=0)}  # dout @ w.T


def _affine_db_mean(dout, x, w, b):
    return {"x": dout @ w.T, "w": x.T @ dout, "b": dout.mean(axis=0)}  # .sum(axis=0)


def _affine_db_not_reduced(dout, x, w, b):
    return {"x": dout @ w.T, "w": x.T @ dout, "b": dout}  # shape (N, M), not (M,)


def _affine_two_gradients(dout, x, w, b):
    return dout @ w.T, x.T @ dout  # the bias gradient forgotten


def _affine_key_typo(dout, x, w, b):
    return {"x": dout @ w.T, "W": x.T @ dout, "b": dout.sum(axis=0)}  # "W" for "w"


def _affine_inputs() -> dict[str, Tensor]:
    return {"x": Tensor(shape=("N", "D")), "w": Tensor(shape=("D", "M")), "b": Tensor(shape=("M",))}


def _tanh_layer(x, w):
    return np.tanh(x @ w)


def _tanh_layer_one_percent(dout, out, x, w):
    ds = np.float32(1.01) * dout * (1 - out * out)
    return {"x": ds @ w.T, "w": x.T @ ds}


def _scores(q, k):
    return q @ k.T / np.sqrt(q.shape[1])


def _scores_scaled_by_length(dout, q, k):
    scale = 1.0 / np.sqrt(q.shape[0])  # the key width q.shape[1] intended
    return {"q": dout @ k * scale, "k": dout.T @ q * scale}


def _regression_head(x, w):
    return (x @ w).squeeze()  # squeeze(-1) intended: at N=1 this drops the batch axis too


def _regression_head_backward(dout, x, w):
    return {"x": dout[:, None] * w[:, 0], "w": x.T @ dout[:, None]}


# --- normalisation ---------------------------------------------------------------------

def _batchnorm(x, gamma, beta):
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + _EPS)
    return gamma * xhat + beta


def _batchnorm_no_mean_term(dout, x, gamma, beta):
    n = x.shape[0]
    inv = 1.0 / np.sqrt(x.var(axis=0) + _EPS)
    xhat = (x - x.mean(axis=0)) * inv
    dxhat = dout * gamma
    dx = inv / n * (n * dxhat - xhat * (dxhat * xhat).sum(axis=0))  # - dxhat.sum(axis=0)
    return {"x": dx, "gamma": (dout * xhat).sum(axis=0), "beta": dout.sum(axis=0)}


def _batchnorm_forgets_beta(dout, x, gamma, beta):
    n = x.shape[0]
    inv = 1.0 / np.sqrt(x.var(axis=0) + _EPS)
    xhat = (x - x.mean(axis=0)) * inv
    dxhat = dout * gamma
    dx = inv / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return {"x": dx, "gamma": (dout * xhat).sum(axis=0)}


def _norm_inputs() -> dict[str, Tensor]:
    return {"x": Tensor(shape=("N", "D")), "gamma": Tensor(shape=("D",)),
            "beta": Tensor(shape=("D",))}


def _layernorm(x, gamma, beta):
    mu = x.mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + _EPS) + beta


def _layernorm_parts(dout, x, gamma):
    inv = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + _EPS)
    xhat = (x - x.mean(axis=-1, keepdims=True)) * inv
    return inv, xhat, dout * gamma


def _layernorm_no_variance_term(dout, x, gamma, beta):
    inv, xhat, dxhat = _layernorm_parts(dout, x, gamma)
    dx = inv * (dxhat - dxhat.mean(axis=-1, keepdims=True))  # - xhat * mean(dxhat * xhat)
    return {"x": dx, "gamma": (dout * xhat).sum(axis=0), "beta": dout.sum(axis=0)}


def _layernorm_divides_by_batch(dout, x, gamma, beta):
    inv, xhat, dxhat = _layernorm_parts(dout, x, gamma)
    d = x.shape[0]  # x.shape[-1], the normalised axis, intended
    dx = inv / d * (d * dxhat - dxhat.sum(axis=-1, keepdims=True)
                    - xhat * (dxhat * xhat).sum(axis=-1, keepdims=True))
    return {"x": dx, "gamma": (dout * xhat).sum(axis=0), "beta": dout.sum(axis=0)}


def _l2_normalize_in_place(x):
    x /= np.linalg.norm(x, axis=-1, keepdims=True)  # divides the caller's array
    return x


def _l2_normalize_backward(dout, x):
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    y = x / norm
    return {"x": (dout - y * (dout * y).sum(axis=-1, keepdims=True)) / norm}


# --- softmax and losses ----------------------------------------------------------------

def _softmax_no_subtraction(dout, out, x):
    return {"x": out * dout}  # out * (dout - (out * dout).sum(-1, keepdims=True))


def _log_softmax_missing_softmax(dout, x):
    return {"x": dout - dout.sum(axis=-1, keepdims=True)}  # softmax(x) * dout.sum(...)


def _softmax_naive_backward(dout, out, x):
    e = np.exp(x)  # overflows past 709; forward subtracted the max, backward forgot to
    p = e / e.sum(axis=-1, keepdims=True)
    return {"x": p * (dout - (p * dout).sum(axis=-1, keepdims=True))}


def _cross_entropy(logits, labels):
    return -log_softmax(logits)[np.arange(labels.shape[0]), labels].mean()


def _cross_entropy_wrong_sign(dout, logits, labels):
    onehot = np.eye(logits.shape[1])[labels]
    return {"logits": dout * (onehot - softmax(logits)) / labels.shape[0]}  # p - onehot


def _mse(pred, target):
    return ((pred - target) ** 2).sum(axis=-1).mean()


def _mse_no_batch_mean(dout, pred, target):
    g = 2.0 * dout * (pred - target)  # / pred.shape[0] forgotten
    return {"pred": g, "target": -g}


# --- activations -----------------------------------------------------------------------

def _glu(a, b):
    return a * sigmoid(b)


def _glu_uses_preactivation(dout, a, b):
    s = sigmoid(b)
    return {"a": dout * s, "b": dout * a * b * (1 - b)}  # s * (1 - s)


def _sigmoid(x):
    return sigmoid(x)


def _sigmoid_ignores_dout(dout, out, x):
    return {"x": out * (1 - out)}  # dout * out * (1 - out)


def _sigmoid_overwrites_out(dout, out, x):
    out *= 1 - out  # writes into the forward output it was given
    return {"x": dout * out}


def _softplus(x):
    return np.logaddexp(0.0, x)


def _softplus_factor(dout, x):
    return {"x": 1.0001 * dout * sigmoid(x)}


def _exp(x):
    return np.exp(x)


def _exp_clips_gradient(dout, out, x):
    return {"x": np.clip(dout * out, -1.0, 1.0)}  # gradient clipping belongs to the optimiser


_ERF = np.vectorize(math.erf, otypes=[float])


def _gelu_erf(x):
    return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))


def _gelu_tanh_backward(dout, x):
    c = math.sqrt(2.0 / math.pi)  # the derivative of the tanh approximation, not of erf
    t = np.tanh(c * (x + 0.044715 * x**3))
    return {"x": dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x**2))}


def _relu(x):
    return np.maximum(x, 0.0)


def _relu_backward_in_place(dout, x):
    dout[x <= 0] = 0.0  # zeroes the caller's dout
    return {"x": dout}


# --- indexing, pooling, convolution ----------------------------------------------------

def _embedding(weight, idx):
    return weight[idx]


def _embedding_setitem(dout, weight, idx):
    grad = np.zeros_like(weight)
    grad[idx] += dout  # a repeated index keeps one update; np.add.at(grad, idx, dout)
    return {"weight": grad}


def _upsample(x):
    return np.repeat(x, 2, axis=-1)


def _upsample_setitem(dout, x):
    grad = np.zeros_like(x)
    grad[:, np.arange(dout.shape[-1]) // 2] += dout  # each source is read twice
    return {"x": grad}


def _gather(x, idx):
    return x[idx]


def _gather_into_index_dtype(dout, x, idx):
    grad = np.zeros(x.shape, dtype=idx.dtype)  # dtype=x.dtype intended
    for k, j in enumerate(idx):
        grad[j] += dout[k]  # silently truncated to an integer
    return {"x": grad}


def _windows(x):
    h, w = x.shape[-2:]
    r = x.reshape(*x.shape[:-2], h // 2, 2, w // 2, 2)
    return np.swapaxes(r, -3, -2).reshape(*x.shape[:-2], h // 2, w // 2, 4)


def _maxpool2d(x):
    return _windows(x).max(axis=-1)


def maxpool2d_backward(dout, x, transpose_window=False):
    n, h, w = x.shape
    k = _windows(x).argmax(axis=-1)
    if transpose_window:
        k = 2 * (k % 2) + k // 2  # (row, col) unravelled as (col, row)
    g = np.zeros((n, h // 2, w // 2, 4))
    np.put_along_axis(g, k[..., None], dout[..., None], axis=-1)
    return g.reshape(n, h // 2, w // 2, 2, 2).swapaxes(2, 3).reshape(n, h, w)


def _maxpool2d_swapped_index(dout, x):
    return {"x": maxpool2d_backward(dout, x, transpose_window=True)}


def edge_pool(x):
    """Max pooling (width 2) of a sequence padded by repeating its edge values."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 1)], mode="edge")
    return padded.reshape(*x.shape[:-1], -1, 2).max(axis=-1)


def edge_pool_backward(dout, x, mask_ties=False):
    padded = np.pad(x, ((0, 0), (1, 1)), mode="edge")
    win = padded.reshape(x.shape[0], -1, 2)
    if mask_ties:
        pick = win == win.max(axis=-1, keepdims=True)  # a tie gets the gradient twice
    else:
        pick = np.arange(2) == win.argmax(axis=-1)[..., None]
    gp = (pick * dout[..., None]).reshape(padded.shape)
    grad = gp[:, 1:-1].copy()
    grad[:, 0] += gp[:, 0]
    grad[:, -1] += gp[:, -1]
    return grad


def _edge_pool_mask(dout, x):
    return {"x": edge_pool_backward(dout, x, mask_ties=True)}


def conv1d(x, w):
    return sliding_window_view(x, w.shape[-1], axis=-1) @ w


def conv1d_backward(dout, x, w, flip=True):
    fn = np.convolve if flip else np.correlate
    dx = np.stack([fn(d, w, "full") for d in dout])
    dw = np.einsum("nik,ni->k", sliding_window_view(x, w.shape[-1], axis=-1), dout)
    return {"x": dx, "w": dw}


def _returns_to_go(r):
    return np.cumsum(r[:, ::-1], axis=1)[:, ::-1]


def _returns_to_go_wrong_direction(dout, r):
    return {"r": np.cumsum(dout[:, ::-1], axis=1)[:, ::-1]}  # np.cumsum(dout, axis=1)


def _drop_last_step(x):
    return x[:, :-1]


def _drop_last_step_off_by_one(dout, x):
    grad = np.zeros_like(x)
    grad[:, 1:] = dout  # grad[:, :-1]
    return {"x": grad}


def _reverse_weighted(x, w):
    return x[:, ::-1] * w


def _reverse_forgot_flip(dout, x, w):
    return {"x": dout * w, "w": (dout * x[:, ::-1]).sum(axis=0)}  # (dout * w)[:, ::-1]


def _chunk(x):
    return np.split(x, 2, axis=-1)  # a list; tuple(np.split(...)) intended


def _chunk_backward(dout, x):
    return {"x": np.concatenate(dout, axis=-1)}


# --- randomness ------------------------------------------------------------------------

_DROPOUT_MASK: dict[str, np.ndarray] = {}


def _dropout_global_rng(x):
    mask = np.random.rand(*x.shape) >= 0.5  # numpy's global random state
    _DROPOUT_MASK["mask"] = mask
    return x * mask / 0.5


def _dropout_backward(dout, x):
    return {"x": dout * _DROPOUT_MASK["mask"] / 0.5}


def _gaussian_noise(x):
    return x + 0.1 * np.random.default_rng().standard_normal(x.shape)  # a fresh unseeded rng


def _identity_backward(dout, x):
    return {"x": dout}


BUGS: list[Case] = [
    # Wrong gradients ("fail"), each naming the input(s) it breaks.
    Case(_op("rnn_cell_dh_missing_transpose", _rnn_cell, _rnn_dh_missing_transpose,
             {"N": 3, "D": 5, "H": 4}, **_RNN),
         "fail", "dh = ds @ Wh without the transpose: Wh is square, so no shape error", "h"),
    Case(_op("rnn_cell_dwh_transposed", _rnn_cell, _rnn_dwh_transposed,
             {"N": 3, "D": 5, "H": 4}, **_RNN),
         "fail", "dWh = ds.T @ h, the transpose of h.T @ ds: same sum", "wh",
         sum_preserving=True),
    Case(_op("affine_bias_grad_mean", _affine, _affine_db_mean, {"N": 4, "D": 3, "M": 2},
             **_affine_inputs()),
         "fail", "bias gradient averaged, not summed, over the batch: right for N=1 only", "b",
         hidden_in=("N=1",)),
    Case(_op("tanh_layer_one_percent.float32", _tanh_layer, _tanh_layer_one_percent,
             {"N": 4, "D": 8, "M": 6}, x=Tensor(shape=("N", "D"), dtype="float32"),
             w=Tensor(shape=("D", "M"), dtype="float32")),
         "fail", "a 1% error in a float32 layer's gradient", ("x", "w")),
    Case(_op("attention_scores_scaled_by_length", _scores, _scores_scaled_by_length,
             {"T": 4, "S": 4, "D": 4}, q=Tensor(shape=("T", "D")), k=Tensor(shape=("S", "D"))),
         "fail", "backward scales by 1/sqrt(T) where forward used 1/sqrt(D): equal while the "
         "default is square", ("q", "k"), hidden_in=("default",)),
    Case(_op("batchnorm_no_mean_term", _batchnorm, _batchnorm_no_mean_term, {"N": 6, "D": 3},
             **_norm_inputs()),
         "fail", "batchnorm backward without the mean term", "x"),
    Case(_op("layernorm_no_variance_term", _layernorm, _layernorm_no_variance_term,
             {"N": 3, "D": 6}, **_norm_inputs()),
         "fail", "layernorm backward without the variance term", "x"),
    Case(_op("layernorm_divides_by_batch", _layernorm, _layernorm_divides_by_batch,
             {"N": 4, "D": 4}, **_norm_inputs()),
         "fail", "layernorm backward divides by the batch size, not the width: equal while "
         "the default is square", "x", hidden_in=("default",)),
    Case(_op("softmax_no_subtraction", softmax, _softmax_no_subtraction, {"N": 3, "C": 5},
             x=Tensor(shape=("N", "C"))),
         "fail", "softmax backward without the subtraction", "x"),
    Case(_op("log_softmax_missing_softmax", log_softmax, _log_softmax_missing_softmax,
             {"N": 3, "C": 4}, x=Tensor(shape=("N", "C"))),
         "fail", "log_softmax backward without the softmax factor", "x"),
    Case(_op("cross_entropy_wrong_sign", _cross_entropy, _cross_entropy_wrong_sign, {"N": 4},
             logits=Tensor(shape=("N", 5)),
             labels=Tensor(shape=("N",), dtype="int64", low=0, high=5)),
         "fail", "cross-entropy gradient with the sign flipped", "logits"),
    Case(_op("mse_no_batch_mean", _mse, _mse_no_batch_mean, {"N": 4, "D": 3},
             pred=Tensor(shape=("N", "D")), target=Tensor(shape=("N", "D"))),
         "fail", "mean-over-batch loss whose gradient forgets the 1/N: right for N=1 only",
         ("pred", "target"), hidden_in=("N=1",)),
    Case(_op("glu_uses_preactivation", _glu, _glu_uses_preactivation, {"N": 3, "D": 4},
             a=Tensor(shape=("N", "D")), b=Tensor(shape=("N", "D"))),
         "fail", "sigmoid derivative written with the input b where sigmoid(b) was meant", "b"),
    Case(_op("sigmoid_ignores_dout", _sigmoid, _sigmoid_ignores_dout, {"N": 6},
             x=Tensor(shape=("N",))),
         "fail", "backward returns the local derivative and ignores dout", "x",
         match="not linear in dout"),
    Case(_op("softplus_factor_1.0001", _softplus, _softplus_factor, {"N": 8},
             x=Tensor(shape=("N",), low=-4.0, high=4.0)),
         "fail", "a 1.0001 factor in a float64 gradient", "x"),
    Case(_op("exp_backward_clips", _exp, _exp_clips_gradient, {"N": 10},
             x=Tensor(shape=("N",), low=0.0, high=2.0)),
         "fail", "backward clips its gradient to [-1, 1]", "x"),
    Case(_op("gelu_erf_with_tanh_backward", _gelu_erf, _gelu_tanh_backward, {"N": 12},
             x=Tensor(shape=("N",), low=-3.0, high=3.0)),
         "fail", "exact (erf) gelu forward, tanh-approximation derivative in backward", "x"),
    Case(_op("embedding_setitem", _embedding, _embedding_setitem, {"L": 12, "E": 4},
             weight=Tensor(shape=(5, "E")),
             idx=Tensor(shape=("L",), dtype="int64", low=0, high=5)),
         "fail", "grad[idx] += dout keeps one update per repeated index (12 indices into 5 rows "
         "always repeat one); np.add.at was needed", "weight", hidden_in=("L=1",)),
    Case(_op("upsample_setitem", _upsample, _upsample_setitem, {"N": 3, "W": 5},
             x=Tensor(shape=("N", "W"))),
         "fail", "nearest-neighbour upsampling backward with fancy-index +=: half the "
         "gradient lost", "x"),
    Case(_op("gather_into_index_dtype", _gather, _gather_into_index_dtype, {"L": 4},
             x=Tensor(shape=(6,)), idx=Tensor(shape=("L",), dtype="int64", low=0, high=6)),
         "fail", "gradient buffer created with the index dtype: values truncated to integers",
         "x"),
    Case(_op("maxpool2d_swapped_window_index", _maxpool2d, _maxpool2d_swapped_index, {"N": 2},
             x=Tensor(shape=("N", 4, 6))),
         "fail", "max pool routes the gradient to the transposed position in its window", "x",
         sum_preserving=True),
    Case(_op("edge_pool_mask_double_counts_ties", edge_pool, _edge_pool_mask, {"N": 3},
             x=Tensor(shape=("N", 6))),
         "fail", "max pool backward with mask = (x == max): the edge padding's exact ties get "
         "the gradient twice", "x"),
    Case(_op("conv1d_kernel_not_flipped", conv1d,
             lambda dout, x, w: conv1d_backward(dout, x, w, flip=False), {"N": 2},
             x=Tensor(shape=("N", 8)), w=Tensor(shape=(3,))),
         "fail", "conv1d input gradient correlates with the kernel instead of convolving",
         "x", sum_preserving=True),
    Case(_op("returns_to_go_wrong_direction", _returns_to_go, _returns_to_go_wrong_direction,
             {"N": 3, "T": 6}, r=Tensor(shape=("N", "T"))),
         "fail", "suffix-sum backward accumulates in the forward's direction", "r",
         hidden_in=("T=1",)),
    Case(_op("drop_last_step_off_by_one", _drop_last_step, _drop_last_step_off_by_one,
             {"N": 3, "T": 6}, x=Tensor(shape=("N", "T"))),
         "fail", "x[:, :-1] backward writes into grad[:, 1:]: off by one", "x",
         hidden_in=("T=1",), sum_preserving=True),
    Case(_op("reverse_forgot_flip", _reverse_weighted, _reverse_forgot_flip, {"N": 3, "T": 5},
             x=Tensor(shape=("N", "T")), w=Tensor(shape=("T",))),
         "fail", "time-reversed sequence whose backward forgets to reverse dx", "x",
         hidden_in=("T=1",), sum_preserving=True),

    # Broken contracts ("error"): the message names the function and the argument.
    Case(_op("affine_dx_missing_transpose", _affine, _affine_dx_missing_transpose,
             {"N": 4, "D": 4, "M": 4}, **_affine_inputs()),
         "error", "dx = dout @ w: wrong values while the default is square, a shape error "
         "(backward raises) once a variant makes w rectangular", match=r"backward raised ValueError"),
    Case(_op("regression_head_squeeze", _regression_head, _regression_head_backward,
             {"N": 4, "D": 3}, x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", 1))),
         "error", ".squeeze() drops the batch axis when N=1: backward raises there",
         match=r"^variant N=1: backward raised IndexError", hidden_in=("default",)),
    Case(_op("affine_bias_grad_not_reduced", _affine, _affine_db_not_reduced,
             {"N": 3, "D": 2, "M": 4}, **_affine_inputs()),
         "error", "bias gradient of shape (N, M) instead of (M,)",
         match=r"gradient of shape \(3, 4\) for input 'b' of shape \(4,\)"),
    Case(_op("affine_two_gradients", _affine, _affine_two_gradients, {"N": 2, "D": 3, "M": 2},
             **_affine_inputs()),
         "error", "backward returns two gradients for three inputs",
         match=r"tuple of 2 gradients; expected 3"),
    Case(_op("affine_key_typo", _affine, _affine_key_typo, {"N": 2, "D": 3, "M": 2},
             **_affine_inputs()),
         "error", "backward's dict spells the weight 'W'", match=r"\['W'\].*not inputs"),
    Case(_op("batchnorm_forgets_beta", _batchnorm, _batchnorm_forgets_beta, {"N": 5, "D": 3},
             **_norm_inputs()),
         "error", "backward returns no gradient for beta", match=r"no gradient for .*'beta'"),
    Case(_op("softmax_naive_backward_nan", softmax, _softmax_naive_backward, {"N": 2, "C": 6},
             x=Tensor(shape=("N", "C"), low=600.0, high=800.0)),
         "error", "backward recomputes softmax without subtracting the max: inf / inf = nan",
         match=r"backward returned nan in the gradient of 'x'"),
    Case(_op("l2_normalize_in_place", _l2_normalize_in_place, _l2_normalize_backward,
             {"N": 3, "D": 4}, x=Tensor(shape=("N", "D"))),
         "error", "forward normalises its input in place", match=r"forward mutated its input 'x'"),
    Case(_op("relu_backward_in_place", _relu, _relu_backward_in_place, {"N": 8},
             x=Tensor(shape=("N",))),
         "error", "relu backward zeroes dout in place",
         match=r"backward mutated its argument 'dout'"),
    Case(_op("sigmoid_overwrites_out", _sigmoid, _sigmoid_overwrites_out, {"N": 6},
             x=Tensor(shape=("N",))),
         "error", "sigmoid backward overwrites out with out * (1 - out)",
         match=r"backward mutated its argument 'out'"),
    Case(_op("chunk_returns_list", _chunk, _chunk_backward, {"N": 3},
             x=Tensor(shape=("N", 4))),
         "error", "forward returns np.split's list instead of a tuple", match=r"forward returned .*list"),
    Case(_op("dropout_global_rng", _dropout_global_rng, _dropout_backward, {"N": 4},
             x=Tensor(shape=("N", 16))),
         "error", "dropout draws its mask from numpy's global random state",
         match=r"forward is nondeterministic"),
    Case(_op("gaussian_noise_unseeded", _gaussian_noise, _identity_backward, {"N": 4},
             x=Tensor(shape=("N", 8))),
         "error", "noise layer builds an unseeded default_rng() on every call",
         match=r"forward is nondeterministic"),
]
