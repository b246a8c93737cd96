"""The adversarial gallery: 42 realistic numpy NN ops written to find the checker's blind
spots, 18 with a real backward bug (``adv.bug.*``) and 24 correct but numerically tricky
(``adv.ok.*``): scans, RNN cells, attention, float16 and float32 layers, subnormal
outputs, mixed precision, ties, inputs pinned to kinks and bounds. Every correct backward
here was checked against 80-bit finite differences with Richardson extrapolation.

``EXPECTED`` maps each op name to its verdict. Also a plugin (``-p gallery.adversarial``
with tests/ on the path).
"""

from __future__ import annotations

import numpy as np

import opcheck
from opcheck import Op, Tensor


def _op(name, forward, backward, dims=None, **inputs):
    return Op(name=name, forward=forward, backward=backward, inputs=inputs, dims=dims or {})


def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def revcumsum(a, axis=-1):
    return np.flip(np.cumsum(np.flip(a, axis), axis), axis)


# ======================================================================================
# scans
# ======================================================================================

def excl_cumsum(x):
    return np.cumsum(x, axis=-1) - x


def excl_cumsum_bw_bug(dout, x):
    return {"x": revcumsum(dout)}  # BUG: inclusive; exclusive needs revcumsum(dout) - dout


def excl_cumsum_bw(dout, x):
    return {"x": revcumsum(dout) - dout}


def cumprod(x):
    return np.cumprod(x, axis=-1)


def cumprod_bw_bug(dout, out, x):
    # dx_i = sum_{t >= i} dout_t y_t / x_i ; BUG: the sum starts at t = i + 1
    return {"x": (revcumsum(dout * out) - dout * out) / x}


def cumprod_bw_safe(dout, out, x):
    # No division (x may be ~0): dx_i = sum_{t>=i} dout_t * prod_{s<=t, s!=i} x_s
    n = x.shape[-1]
    dx = np.zeros_like(x)
    for i in range(n):
        pre = np.prod(x[..., :i], axis=-1, keepdims=True)
        run = pre
        acc = np.zeros_like(x[..., :1])
        for t in range(i, n):
            if t > i:
                run = run * x[..., t:t + 1]
            acc = acc + dout[..., t:t + 1] * run
        dx[..., i:i + 1] = acc
    return {"x": dx}


def shift_add(x):  # y[n, t] = x[n, t] + 0.5 x[n, t-1] (causal smoothing per sequence)
    y = x.copy()
    y[..., 1:] += 0.5 * x[..., :-1]
    return y


def shift_add_bw_bug(dout, x):
    g = dout.reshape(-1)  # BUG: shifts over the flattened batch: leaks across sequences
    dx = g.copy()
    dx[:-1] += 0.5 * g[1:]
    return {"x": dx.reshape(x.shape)}


# ======================================================================================
# reductions / softmax family
# ======================================================================================

def lse_axis0(x):
    return logsumexp(x, axis=0)


def lse_axis0_bw_bug(dout, x):
    return {"x": dout[None, :] * softmax(x, axis=1)}  # BUG: softmax over the wrong axis


def lse_f32(x):
    return logsumexp(x, axis=-1)


def lse_f32_bw(dout, x):
    return {"x": dout[..., None] * softmax(x, axis=-1)}


def batch_stats(x):
    return x.mean(axis=0), x.var(axis=0)


def batch_stats_bw_bug(dout, x):
    dmean, dvar = dout  # BUG: dvar ignored
    n = x.shape[0]
    return {"x": np.broadcast_to(dmean / n, x.shape).copy()}


def topk3(x):
    return -np.sort(-x, axis=-1, kind="stable")[..., :3]


def topk3_bw(dout, x):
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :3]
    g = np.zeros_like(x)
    np.put_along_axis(g, idx, dout, axis=-1)
    return {"x": g}


def sort_desc(x):
    return -np.sort(-x, axis=-1, kind="stable")


def sort_desc_bw(dout, x):
    idx = np.argsort(-x, axis=-1, kind="stable")
    g = np.zeros_like(x)
    np.put_along_axis(g, idx, dout, axis=-1)
    return {"x": g}


def rowmax(x):
    return x.max(axis=-1)


def rowmax_bw(dout, x):  # ties share the gradient equally (TF convention)
    m = (x == x.max(axis=-1, keepdims=True)).astype(x.dtype)
    return {"x": dout[..., None] * m / m.sum(axis=-1, keepdims=True)}


# ======================================================================================
# elementwise
# ======================================================================================

BIG = (64, 256)
_ROW, _COL = 17, 42


def tanh_big(x):
    return np.tanh(x)


def tanh_big_bw_bug(dout, out, x):
    g = dout * (1.0 - out**2)
    g[_ROW, _COL] *= 1.0001  # BUG: 1e-4 relative error in one element of 16384
    return {"x": g}


def softplus(x):
    return np.logaddexp(0.0, x)


def softplus_bw_bug(dout, x):
    # BUG: the "large x" shortcut sigmoid(x) ~ 1 is taken from x > 10 (error up to 4.5e-5)
    return {"x": dout * np.where(x > 10.0, 1.0, sigmoid(x))}


def softplus_bw(dout, x):
    return {"x": dout * sigmoid(x)}


def logcosh(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


def logcosh_bw(dout, x):
    return {"x": dout * np.tanh(x)}


def log1p_expm1(x):
    return np.log1p(x), np.expm1(x)


def log1p_expm1_bw(dout, x):
    d1, d2 = dout
    return {"x": d1 / (1.0 + x) + d2 * np.exp(x)}


LECUN_A, LECUN_B = 1.7159, 2.0 / 3.0


def lecun_tanh(x):
    return (LECUN_A * np.tanh(x * x.dtype.type(LECUN_B))).astype(x.dtype)


def lecun_tanh_bw_bug(dout, x):
    t = np.tanh(x * x.dtype.type(LECUN_B))
    return {"x": (dout * LECUN_A * 0.7 * (1 - t * t)).astype(x.dtype)}  # BUG: 0.7 for 2/3


def lecun_tanh_bw(dout, x):
    t = np.tanh(x * x.dtype.type(LECUN_B))
    return {"x": (dout * LECUN_A * LECUN_B * (1 - t * t)).astype(x.dtype)}


def silu(x):
    return x * sigmoid(x)


def silu_bw(dout, x):
    s = sigmoid(x)
    return {"x": (dout * (s * (1 + x * (1 - s)))).astype(x.dtype)}


SHARP = 1000.0


def sharp_swish(x):  # x * sigmoid(beta x), beta = 1000: a smooth ReLU with a ~1e-3 wide knee
    return x * sigmoid(x * x.dtype.type(SHARP))


def sharp_swish_bw(dout, x):
    s = sigmoid(x * x.dtype.type(SHARP))
    return {"x": dout * (s + x * x.dtype.type(SHARP) * s * (1 - s))}


def smooth_abs(x):
    return np.sqrt(x * x + 1e-12)


def smooth_abs_bw(dout, out, x):
    return {"x": dout * x / out}


def huber(x):  # delta = 1, elementwise
    a = np.abs(x)
    return np.where(a <= 1, 0.5 * x * x, a - 0.5).astype(x.dtype)


def huber_bw(dout, x):
    return {"x": (dout * np.clip(x, -1, 1)).astype(x.dtype)}


def clip2(x, y):
    return np.clip(x, -0.5, 0.5), np.clip(y, -0.5, 0.5)


def clip2_bw(dout, x, y):
    dx, dy = dout
    return {"x": dx * ((x >= -0.5) & (x <= 0.5)), "y": dy * ((y >= -0.5) & (y <= 0.5))}


def exp_f(x):
    return np.exp(x)


def exp_flush_bw_bug(dout, out, x):
    return {"x": dout * out * (x > -2)}  # BUG: "underflow guard" zeroes the gradient of x < -2


def std_from_var(var):
    return np.sqrt(var + var.dtype.type(1e-5))


def std_from_var_bw_bug(dout, out, var):
    return {"var": dout / out}  # BUG: d sqrt(u)/du = 0.5 / sqrt(u): the 0.5 is missing


# ======================================================================================
# losses
# ======================================================================================

def smooth_l1(pred, target):
    d = pred - target
    a = np.abs(d)
    return np.mean(np.where(a < 1.0, 0.5 * d * d, a - 0.5))


def smooth_l1_bw_bug(dout, pred, target):
    d = pred - target
    g = np.where(np.abs(d) < 1.0, 2 * d, np.sign(d)) * dout / d.size  # BUG: d(0.5 d^2) = d
    return {"pred": g, "target": -g}


def seq_ce_ignore(logits, labels):
    valid = labels >= 0
    lp = logits - logsumexp(logits)[..., None]
    picked = np.take_along_axis(lp, np.maximum(labels, 0)[..., None], axis=-1)[..., 0]
    return -(picked * valid).sum() / max(int(valid.sum()), 1)


def seq_ce_ignore_bw(dout, logits, labels):
    valid = labels >= 0
    p = softmax(logits)
    onehot = np.zeros_like(p)
    np.put_along_axis(onehot, np.maximum(labels, 0)[..., None], 1.0, axis=-1)
    g = (p - onehot) * valid[..., None] / max(int(valid.sum()), 1)
    return {"logits": dout * g}


# ======================================================================================
# layers
# ======================================================================================

def affine(x, w, b):
    return x @ w + b


def affine_bw_squeeze_bug(dout, x, w, b):
    # BUG: squeeze() also drops the batch axis when N == 1, so the sum runs over M
    db = np.broadcast_to(dout.squeeze().sum(axis=0), b.shape).copy()
    return {"x": dout @ w.T, "w": x.T @ dout, "b": db}


def layernorm(x):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + x.dtype.type(1e-5))


def layernorm_bw(dout, x):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(var + x.dtype.type(1e-5))
    xhat = (x - mu) * inv
    dx = inv * (dout - dout.mean(axis=-1, keepdims=True)
                - xhat * (dout * xhat).mean(axis=-1, keepdims=True))
    return {"x": dx.astype(x.dtype)}


def layernorm_bw_bug(dout, x):
    return {"x": (layernorm_bw(dout, x)["x"] * x.dtype.type(1.005)).astype(x.dtype)}  # BUG: 0.5%


def cosine_sim(a, b):
    na = np.sqrt((a * a).sum(-1))
    nb = np.sqrt((b * b).sum(-1))
    return (a * b).sum(-1) / (na * nb)


def cosine_sim_bw(dout, out, a, b):
    na = np.sqrt((a * a).sum(-1, keepdims=True))
    nb = np.sqrt((b * b).sum(-1, keepdims=True))
    c = out[..., None]
    g = dout[..., None]
    return {"a": g * (b / (na * nb) - c * a / na**2), "b": g * (a / (na * nb) - c * b / nb**2)}


_SPAN = np.logspace(-12, 3, 16)


def span_layer(x, w):  # per-feature scales from 1e-12 to 1e3
    return np.tanh(x * _SPAN) @ w


def span_layer_bw(dout, x, w):
    t = np.tanh(x * _SPAN)
    dt = dout @ w.T
    return {"x": dt * (1 - t * t) * _SPAN, "w": t.T @ dout}


def masked_seq(x, lengths, w):
    t = x.shape[-2]
    mask = (np.arange(t) < lengths[..., None])[..., None].astype(x.dtype)
    return np.tanh((x * mask) @ w)


def masked_seq_bw_bug(dout, out, x, lengths, w):
    t = x.shape[-2]
    mask = (np.arange(t) < lengths[..., None])[..., None].astype(x.dtype)
    ds = dout * (1 - out * out)
    dw = np.einsum("ntd,nth->dh", x * mask, ds)
    return {"x": ds @ w.T, "w": dw}  # BUG: dx not masked: gradient leaks into the padding


def masked_seq_bw(dout, out, x, lengths, w):
    t = x.shape[-2]
    mask = (np.arange(t) < lengths[..., None])[..., None].astype(x.dtype)
    ds = dout * (1 - out * out)
    dw = np.einsum("ntd,nth->dh", x * mask, ds)
    return {"x": (ds @ w.T) * mask, "w": dw}


def mp_tanh_layer(x, w):  # float64 API, float32 compute ("autocast")
    return np.tanh(x.astype(np.float32) @ w.astype(np.float32)).astype(np.float64)


def mp_tanh_layer_bw_bug(dout, out, x, w):
    ds = dout * (1.0 - out)  # BUG: 1 - out instead of 1 - out**2
    return {"x": ds @ w.T, "w": x.T @ ds}


def mp_tanh_layer_bw(dout, out, x, w):
    ds = dout * (1.0 - out**2)
    return {"x": ds @ w.T, "w": x.T @ ds}


# --- GRU (PyTorch gate order r, z, n; h' = (1 - z) n + z h) ---------------------------

def _gru_parts(x, h, wx, wh, b):
    hdim = h.shape[-1]
    gx = x @ wx + b
    gh = h @ wh
    r = sigmoid(gx[..., :hdim] + gh[..., :hdim])
    z = sigmoid(gx[..., hdim:2 * hdim] + gh[..., hdim:2 * hdim])
    hn = gh[..., 2 * hdim:]
    n = np.tanh(gx[..., 2 * hdim:] + r * hn)
    return r, z, n, hn


def gru(x, h, wx, wh, b):
    r, z, n, _ = _gru_parts(x, h, wx, wh, b)
    return (1 - z) * n + z * h


def _gru_bw(dout, x, h, wx, wh, b, swap):
    r, z, n, hn = _gru_parts(x, h, wx, wh, b)
    dn = dout * (1 - z)
    dz = dout * ((n - h) if swap else (h - n))  # BUG when swap: the h' = (1-z) h + z n convention
    dan = dn * (1 - n * n)
    dr = dan * hn
    dar = dr * r * (1 - r)
    daz = dz * z * (1 - z)
    dgx = np.concatenate([dar, daz, dan], axis=-1)
    dgh = np.concatenate([dar, daz, dan * r], axis=-1)
    return {"x": dgx @ wx.T, "h": dout * z + dgh @ wh.T, "wx": x.T @ dgx, "wh": h.T @ dgh,
            "b": dgx.sum(axis=0)}


def gru_bw(dout, x, h, wx, wh, b):
    return _gru_bw(dout, x, h, wx, wh, b, swap=False)


def gru_bw_bug(dout, x, h, wx, wh, b):
    return _gru_bw(dout, x, h, wx, wh, b, swap=True)


# H must be 3 (the weights have 3H = 9 columns): H is fixed in the shapes below.
_GRU = dict(x=Tensor(shape=("N", "D")), h=Tensor(shape=("N", 3)),
            wx=Tensor(shape=("D", 9), low=-0.8, high=0.8), wh=Tensor(shape=(3, 9), low=-0.8, high=0.8),
            b=Tensor(shape=(9,)))


# --- LSTM (gates i, f, g, o), outputs (h', c') ------------------------------------------

def _lstm_parts(x, h, c, wx, wh, b):
    hd = h.shape[-1]
    a = x @ wx + h @ wh + b
    i = sigmoid(a[..., :hd])
    f = sigmoid(a[..., hd:2 * hd])
    g = np.tanh(a[..., 2 * hd:3 * hd])
    o = sigmoid(a[..., 3 * hd:])
    return i, f, g, o


def lstm(x, h, c, wx, wh, b):
    i, f, g, o = _lstm_parts(x, h, c, wx, wh, b)
    c2 = f * c + i * g
    return o * np.tanh(c2), c2


def lstm_bw_bug(dout, out, x, h, c, wx, wh, b):
    dh2, dc2 = dout
    i, f, g, o = _lstm_parts(x, h, c, wx, wh, b)
    tc = np.tanh(c)  # BUG: tanh of the previous cell state, not of c' = out[1]
    dct = dc2 + dh2 * o * (1 - tc * tc)
    da = np.concatenate([dct * g * i * (1 - i), dct * c * f * (1 - f), dct * i * (1 - g * g),
                         dh2 * tc * o * (1 - o)], axis=-1)
    return {"x": da @ wx.T, "h": da @ wh.T, "c": dct * f, "wx": x.T @ da, "wh": h.T @ da,
            "b": da.sum(axis=0)}


# --- attention ---------------------------------------------------------------------------

def attention(q, k, v):
    s = q @ k.T / np.sqrt(q.shape[-1])
    return softmax(s) @ v


def _attention_bw(dout, q, k, v, bug):
    scale = 1.0 / np.sqrt(q.shape[-1])
    p = softmax(q @ k.T * scale)
    dp = dout @ v.T
    ds = p * (dp - (p * dp).sum(-1, keepdims=True))
    return {"q": ds @ k * scale, "k": ds.T @ q * (1.0 if bug else scale), "v": p.T @ dout}


def attention_bw(dout, q, k, v):
    return _attention_bw(dout, q, k, v, bug=False)


def attention_bw_bug(dout, q, k, v):
    return _attention_bw(dout, q, k, v, bug=True)  # BUG: dK misses the 1/sqrt(d)


# ======================================================================================
# declarations
# ======================================================================================

F32, F16 = "float32", "float16"


def _ops():
    T16 = 16
    bugs = [
        _op("adv.bug.exclusive_cumsum_off_by_one", excl_cumsum, excl_cumsum_bw_bug, {"N": 3, "T": 6},
            x=Tensor(shape=("N", "T"))),
        _op("adv.bug.cumprod_off_by_one", cumprod, cumprod_bw_bug, {"N": 3, "T": 6},
            x=Tensor(shape=("N", "T"), low=0.5, high=1.5)),
        _op("adv.bug.shift_leaks_across_batch", shift_add, shift_add_bw_bug, {"N": 3, "T": 5},
            x=Tensor(shape=("N", "T"))),
        _op("adv.bug.logsumexp_wrong_axis", lse_axis0, lse_axis0_bw_bug, {"N": 4, "C": 4},
            x=Tensor(shape=("N", "C"), low=-3, high=3)),
        _op("adv.bug.tanh_one_element_1e-4", tanh_big, tanh_big_bw_bug, None,
            x=Tensor(shape=BIG)),
        _op("adv.bug.softplus_large_x_shortcut", softplus, softplus_bw_bug, {"N": 64},
            x=Tensor(shape=("N",), low=-20.0, high=20.0)),
        _op("adv.bug.smooth_l1_missing_half", smooth_l1, smooth_l1_bw_bug, {"N": 4, "D": 5},
            pred=Tensor(shape=("N", "D")), target=Tensor(shape=("N", "D"))),
        _op("adv.bug.gru_update_gate_convention", gru, gru_bw_bug, {"N": 2, "D": 4}, **_GRU),
        _op("adv.bug.lstm_tanh_of_prev_cell", lstm, lstm_bw_bug, {"N": 2, "D": 3},
            x=Tensor(shape=("N", "D")), h=Tensor(shape=("N", 2)), c=Tensor(shape=("N", 2)),
            wx=Tensor(shape=("D", 8)), wh=Tensor(shape=(2, 8)), b=Tensor(shape=(8,))),
        _op("adv.bug.attention_dk_missing_scale", attention, attention_bw_bug, {"T": 3, "S": 5, "D": 4},
            q=Tensor(shape=("T", "D")), k=Tensor(shape=("S", "D")), v=Tensor(shape=("S", "D"))),
        _op("adv.bug.bias_squeeze_batch_of_one", affine, affine_bw_squeeze_bug, {"N": 3, "D": 4, "M": 5},
            x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", "M")), b=Tensor(shape=("M",))),
        _op("adv.bug.layernorm_d512_half_percent.float32", layernorm, layernorm_bw_bug, {"N": 8, "D": 512},
            x=Tensor(shape=("N", "D"), dtype=F32)),
        _op("adv.bug.batch_stats_ignores_dvar", batch_stats, batch_stats_bw_bug, {"N": 5, "D": 3},
            x=Tensor(shape=("N", "D"))),
        _op("adv.bug.std_from_small_var_missing_half.float32", std_from_var, std_from_var_bw_bug, {"N": 16},
            var=Tensor(shape=("N",), dtype=F32, low=0.0, high=1e-3)),
        _op("adv.bug.masked_seq_padding_leak.float32", masked_seq, masked_seq_bw_bug, {"N": 4, "D": 16, "H": 64},
            x=Tensor(shape=("N", T16, "D"), dtype=F32),
            lengths=Tensor(shape=("N",), dtype="int64", low=1, high=T16 + 1),
            w=Tensor(shape=("D", "H"), dtype=F32, low=-0.15, high=0.15)),
        _op("adv.bug.lecun_tanh_constant.float16", lecun_tanh, lecun_tanh_bw_bug, {"N": 32},
            x=Tensor(shape=("N",), dtype=F16, low=-2.0, high=2.0)),
        _op("adv.bug.mixed_precision_tanh_layer", mp_tanh_layer, mp_tanh_layer_bw_bug, {"N": 4, "D": 6, "M": 5},
            x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", "M"), low=-0.5, high=0.5)),
        _op("adv.bug.exp_flush_small_grads.float16", exp_f, exp_flush_bw_bug, {"N": 64},
            x=Tensor(shape=("N",), dtype=F16, low=-4.0, high=4.0)),
    ]
    ok = [
        _op("adv.ok.exclusive_cumsum", excl_cumsum, excl_cumsum_bw, {"N": 3, "T": 6},
            x=Tensor(shape=("N", "T"))),
        _op("adv.ok.cumprod_near_zero", cumprod, cumprod_bw_safe, {"N": 3, "T": 8},
            x=Tensor(shape=("N", "T"), low=-0.05, high=0.05)),
        _op("adv.ok.softplus_pm50", softplus, softplus_bw, {"N": 64},
            x=Tensor(shape=("N",), low=-50.0, high=50.0)),
        _op("adv.ok.logsumexp_pm80.float32", lse_f32, lse_f32_bw, {"N": 4, "C": 16},
            x=Tensor(shape=("N", "C"), dtype=F32, low=-80.0, high=80.0)),
        _op("adv.ok.logcosh_pm500", logcosh, logcosh_bw, {"N": 32},
            x=Tensor(shape=("N",), low=-500.0, high=500.0)),
        _op("adv.ok.log1p_expm1_near_zero", log1p_expm1, log1p_expm1_bw, {"N": 16},
            x=Tensor(shape=("N",), low=-1e-6, high=1e-6)),
        _op("adv.ok.layernorm_tiny_variance.float32", layernorm, layernorm_bw, {"N": 4, "D": 64},
            x=Tensor(shape=("N", "D"), dtype=F32, low=0.999, high=1.001)),
        _op("adv.ok.layernorm_d512.float32", layernorm, layernorm_bw, {"N": 8, "D": 512},
            x=Tensor(shape=("N", "D"), dtype=F32)),
        _op("adv.ok.huber_at_kink.float16", huber, huber_bw, {"N": 32},
            x=Tensor(shape=("N",), dtype=F16, low=0.999, high=1.001)),
        _op("adv.ok.clip_on_bounds.float16", clip2, clip2_bw, {"N": 16},
            x=Tensor(shape=("N",), dtype=F16, low=0.4995, high=0.5005),
            y=Tensor(shape=("N",), dtype=F16, low=-0.5005, high=-0.4995)),
        _op("adv.ok.topk3_ties.float16", topk3, topk3_bw, {"N": 6},
            x=Tensor(shape=("N", 8), dtype=F16, low=0.999, high=1.001)),
        _op("adv.ok.sort_desc", sort_desc, sort_desc_bw, {"N": 4},
            x=Tensor(shape=("N", 6))),
        _op("adv.ok.rowmax_ties.float32", rowmax, rowmax_bw, {"N": 8},
            x=Tensor(shape=("N", 8), dtype=F32, low=1.0 - 2e-7, high=1.0 + 2e-7)),
        _op("adv.ok.cosine_similarity.float32", cosine_sim, cosine_sim_bw, {"N": 4, "D": 128},
            a=Tensor(shape=("N", "D"), dtype=F32), b=Tensor(shape=("N", "D"), dtype=F32)),
        _op("adv.ok.grad_span_1e-12_to_1e3", span_layer, span_layer_bw, {"N": 4, "M": 3},
            x=Tensor(shape=("N", 16)), w=Tensor(shape=(16, "M"))),
        _op("adv.ok.silu.float16", silu, silu_bw, {"N": 64},
            x=Tensor(shape=("N",), dtype=F16, low=-6.0, high=6.0)),
        _op("adv.ok.seq_cross_entropy_ignore_index", seq_ce_ignore, seq_ce_ignore_bw, {"N": 2, "T": 5},
            logits=Tensor(shape=("N", "T", 4), low=-4, high=4),
            labels=Tensor(shape=("N", "T"), dtype="int64", low=-1, high=4)),
        _op("adv.ok.attention_saturated", attention, attention_bw, {"T": 3, "S": 5, "D": 8},
            q=Tensor(shape=("T", "D"), low=-10, high=10), k=Tensor(shape=("S", "D"), low=-10, high=10),
            v=Tensor(shape=("S", "D"))),
        _op("adv.ok.gru_cell", gru, gru_bw, {"N": 2, "D": 4}, **_GRU),
        _op("adv.ok.masked_seq.float32", masked_seq, masked_seq_bw, {"N": 4, "D": 16, "H": 64},
            x=Tensor(shape=("N", T16, "D"), dtype=F32),
            lengths=Tensor(shape=("N",), dtype="int64", low=1, high=T16 + 1),
            w=Tensor(shape=("D", "H"), dtype=F32, low=-0.15, high=0.15)),
        _op("adv.ok.lecun_tanh.float16", lecun_tanh, lecun_tanh_bw, {"N": 32},
            x=Tensor(shape=("N",), dtype=F16, low=-2.0, high=2.0)),
        _op("adv.ok.smooth_abs_sharp", smooth_abs, smooth_abs_bw, {"N": 64},
            x=Tensor(shape=("N",), low=-1e-4, high=1e-4)),
        _op("adv.ok.sharp_swish.float32", sharp_swish, sharp_swish_bw, {"N": 64, "D": 64},
            x=Tensor(shape=("N", "D"), dtype=F32)),
        _op("adv.ok.mixed_precision_tanh_layer", mp_tanh_layer, mp_tanh_layer_bw, {"N": 4, "D": 6, "M": 5},
            x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", "M"), low=-0.5, high=0.5)),
    ]
    return bugs, ok


BUGS, OK = _ops()
EXPECTED = {**{o.name: "fail" for o in BUGS}, **{o.name: "pass" for o in OK}}


@opcheck.hookimpl
def opcheck_ops():
    return BUGS + OK
