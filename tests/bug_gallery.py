"""The bug gallery: realistic numpy NN layers with the bugs people really write, and
correct ops that fool simpler checkers. tests/test_bug_gallery.py audits every one.

Each ``Case`` says what the audit must conclude: ``fail`` (a wrong gradient, with the
input it names) or ``error`` (a broken contract, with words its message must contain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opcheck import Op, Tensor


@dataclass(frozen=True)
class Case:
    op: Op
    expected: str  # "fail", "error" or "pass"
    why: str
    input: str | None = None  # the input whose gradient is wrong (fail cases)
    match: str | None = None  # words the report's message must contain


def _op(name: str, forward, backward, dims: dict[str, int] | None = None, **inputs: Tensor) -> Op:
    return Op(name=name, forward=forward, backward=backward, inputs=inputs, dims=dims or {})


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- bugs ------------------------------------------------------------------------------

def _affine_fw(x, w, b):
    return x @ w + b


def _bn_fw(x, gamma, beta):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mu) / np.sqrt(var + 1e-5) + beta


def _bn_bw_no_mean(dout, x, gamma, beta):
    mu, var = x.mean(axis=0), x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    # Bug: treats mean and variance as constants (the textbook "forgot two terms").
    return {"x": dout * gamma / np.sqrt(var + 1e-5), "gamma": (dout * xhat).sum(axis=0),
            "beta": dout.sum(axis=0)}


def _ln_fw(x):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)


def _ln_bw_no_var(dout, x):
    d = x.shape[-1]
    std = np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)
    # Bug: keeps the mean term, drops the variance term.
    return {"x": (dout - dout.sum(axis=-1, keepdims=True) / d) / std}


def _embed_fw(weight, idx):
    return weight[idx]


def _embed_bw_fancy(dout, weight, idx):
    grad = np.zeros_like(weight)
    grad[idx] += dout  # Bug: duplicate indices keep only one update (np.add.at needed)
    return {"weight": grad}


def _normalise_in_place(x):
    x -= x.mean()  # Bug: normalises the caller's array
    return x * 2.0


def _dropout_inside(x):
    mask = np.random.rand(*x.shape) > 0.5  # Bug: global random state inside forward
    return x * mask


def _scale_dout_in_place(dout, x):
    dout *= 2.0  # Bug: writes into dout
    return {"x": dout * x}


def _maxpool_fw(x):
    n, w = x.shape
    return x.reshape(n, w // 2, 2).max(axis=-1)


def _maxpool_bw_argmin(dout, x):
    n, w = x.shape
    r = x.reshape(n, w // 2, 2)
    pick = r.argmin(axis=-1)  # Bug: routes the gradient to the smaller element
    g = np.zeros_like(r)
    np.put_along_axis(g, pick[..., None], dout[..., None], axis=-1)
    return {"x": g.reshape(n, w)}


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def _gelu_bw_missing_cubic(dout, x):
    t = np.tanh(0.7978845608 * (x + 0.044715 * x**3))
    # Bug: d/dx of the inner polynomial taken as 1 instead of 1 + 3*0.044715 x^2.
    return {"x": dout * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * 0.7978845608)}


def _mean_rows_fw(x):
    return x.mean(axis=1)


def _variance_fw(x):
    return np.mean((x - x.mean()) ** 2)  # two-pass: stable


def _std_fw(x):
    return np.sqrt(_variance_fw(x))


def _std_bw_naive(dout, x):
    # Bug: E[x^2] - E[x]^2 in float32 cancels two numbers near 4.2e6 (rounding unit 0.5)
    # to a variance near 3: digits the two-pass forward keeps.
    var = np.mean(x * x) - x.mean() ** 2
    return {"x": dout * (x - x.mean()) / (x.size * np.sqrt(var))}


BUGS: list[Case] = [
    Case(_op("bug.matmul_missing_transpose", lambda x, w: x @ w,
             lambda dout, x, w: {"x": dout @ w, "w": x.T @ dout},  # dout @ w.T intended
             {"N": 4, "D": 4, "M": 4}, x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", "M"))),
         "error", "dx = dout @ w: wrong values while the default is square, and backward "
         "raises once a variant makes it not square", match="backward raised ValueError"),
    Case(_op("bug.batchnorm_no_mean_term", _bn_fw, _bn_bw_no_mean, {"N": 5, "D": 3},
             x=Tensor(shape=("N", "D")), gamma=Tensor(shape=("D",)), beta=Tensor(shape=("D",))),
         "fail", "batchnorm backward without the mean and variance terms", "x"),
    Case(_op("bug.softmax_no_subtraction", _softmax,
             lambda dout, out, x: {"x": out * dout},  # missing - out * sum(out * dout)
             {"N": 3, "C": 5}, x=Tensor(shape=("N", "C"))),
         "fail", "softmax backward without the subtraction", "x"),
    Case(_op("bug.bias_batch_of_one", _affine_fw,
             lambda dout, x, w, b: {"x": dout @ w.T, "w": x.T @ dout, "b": dout[0]},
             {"N": 3, "D": 4, "M": 2},
             x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", "M")), b=Tensor(shape=("M",))),
         "fail", "bias gradient not summed over the batch: right only for a batch of one", "b"),
    Case(_op("bug.embedding_fancy_index_add", _embed_fw, _embed_bw_fancy, {"E": 4},
             weight=Tensor(shape=(3, "E")), idx=Tensor(shape=(8,), dtype="int64", low=0, high=3)),
         "fail", "grad[idx] += dout loses duplicate indices (np.add.at was needed)", "weight"),
    Case(_op("bug.forward_normalises_in_place", _normalise_in_place,
             lambda dout, x: {"x": 2.0 * (dout - dout.mean())}, {"N": 6}, x=Tensor(shape=("N",))),
         "error", "forward normalises its input in place", match="forward mutated its input 'x'"),
    Case(_op("bug.backward_ignores_dout", lambda x: np.tanh(x),
             lambda dout, x: {"x": 1.0 - np.tanh(x) ** 2}, {"N": 6}, x=Tensor(shape=("N",))),
         "fail", "backward returns the local derivative, ignoring dout", "x", match="linear in dout"),
    Case(_op("bug.factor_1.0001_float64", lambda x: np.tanh(x),
             lambda dout, x: {"x": 1.0001 * dout * (1.0 - np.tanh(x) ** 2)}, {"N": 8},
             x=Tensor(shape=("N",))),
         "fail", "a 0.01% error in a float64 gradient", "x"),
    Case(_op("bug.one_percent_float32", lambda x: _sigmoid(x),
             lambda dout, out, x: {"x": np.float32(1.01) * dout * out * (1 - out)}, {"N": 8},
             x=Tensor(shape=("N",), dtype="float32")),
         "fail", "a 1% error in a float32 gradient", "x"),
    Case(_op("bug.mean_divides_by_wrong_axis", _mean_rows_fw,
             lambda dout, x: {"x": np.repeat(dout[:, None], x.shape[1], axis=1) / x.shape[0]},
             {"N": 4, "D": 4}, x=Tensor(shape=("N", "D"))),
         "fail", "mean over axis 1 scaled by the size of axis 0: invisible while N == D", "x"),
    Case(_op("bug.leaky_relu_wrong_slope", lambda x: np.where(x > 0, x, 0.01 * x),
             lambda dout, x: {"x": dout * np.where(x > 0, 1.0, 0.1)}, {"N": 10},
             x=Tensor(shape=("N",))),
         "fail", "leaky relu backward with the wrong negative slope", "x"),
    Case(_op("bug.sigmoid_uses_x_not_out", lambda x: _sigmoid(x),
             lambda dout, x: {"x": dout * x * (1 - x)}, {"N": 6}, x=Tensor(shape=("N",))),
         "fail", "sigmoid backward written with x where the output was meant", "x"),
    Case(_op("bug.log_softmax_missing_softmax", lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
             lambda dout, x: {"x": dout - dout.sum(-1, keepdims=True)},  # * softmax(x) missing
             {"N": 3, "C": 4}, x=Tensor(shape=("N", "C"))),
         "fail", "log_softmax backward without the softmax factor", "x"),
    Case(_op("bug.layernorm_no_variance_term", _ln_fw, _ln_bw_no_var, {"N": 3, "D": 5},
             x=Tensor(shape=("N", "D"))),
         "fail", "layernorm backward without the variance term", "x"),
    Case(_op("bug.maxpool_routes_to_argmin", _maxpool_fw, _maxpool_bw_argmin, {"N": 3},
             x=Tensor(shape=("N", 6))),
         "fail", "max pool sends the gradient to the wrong element of the window", "x"),
    Case(_op("bug.bias_grad_wrong_shape", _affine_fw,
             lambda dout, x, w, b: {"x": dout @ w.T, "w": x.T @ dout, "b": dout},
             {"N": 3, "D": 2, "M": 4},
             x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", "M")), b=Tensor(shape=("M",))),
         "error", "bias gradient of shape (N, M) instead of (M,)",
         match="gradient of shape (3, 4) for input 'b'"),
    Case(_op("bug.too_few_gradients", _affine_fw,
             lambda dout, x, w, b: (dout @ w.T, x.T @ dout), {"N": 2, "D": 3, "M": 2},
             x=Tensor(shape=("N", "D")), w=Tensor(shape=("D", "M")), b=Tensor(shape=("M",))),
         "error", "backward returns two gradients for three inputs", match="tuple of 2 gradients"),
    Case(_op("bug.nan_in_backward", lambda x: np.sqrt(x * x + 1.0),
             lambda dout, x: {"x": dout * x / (x - x)}, {"N": 4}, x=Tensor(shape=("N",))),
         "error", "a backward that divides by zero", match="although every input is finite"),
    Case(_op("bug.random_inside_forward", _dropout_inside, lambda dout, x: {"x": dout},
             {"N": 20}, x=Tensor(shape=("N",))),
         "error", "dropout drawing its mask from the global random state", match="nondeterministic"),
    Case(_op("bug.backward_writes_dout", lambda x: x * x, _scale_dout_in_place, {"N": 5},
             x=Tensor(shape=("N",))),
         "error", "backward scales dout in place", match="backward mutated its argument 'dout'"),
    Case(_op("bug.gradient_rolled", lambda x: x**2, lambda dout, x: {"x": np.roll(2 * x * dout, 1)},
             {"N": 12}, x=Tensor(shape=("N",))),
         "fail", "gradient shifted by one element: its sum is right, so an all-ones projection "
         "cannot see it", "x"),
    Case(_op("bug.weight_grad_transposed", lambda x, w: x @ w,
             lambda dout, x, w: {"x": dout @ w.T, "w": (x.T @ dout).T}, {"N": 3},
             x=Tensor(shape=("N", 4)), w=Tensor(shape=(4, 4))),
         "fail", "dW transposed on a square weight: the same sum, so an all-ones projection "
         "misses it", "w"),
    Case(_op("bug.gelu_missing_cubic_term", _gelu, _gelu_bw_missing_cubic, {"N": 10},
             x=Tensor(shape=("N",), low=-3.0, high=3.0)),
         "fail", "gelu (tanh approximation) backward missing the cubic term's derivative", "x"),
    Case(_op("bug.mse_missing_factor_two", lambda pred, target: np.mean((pred - target) ** 2),
             lambda dout, pred, target: {"pred": dout * (pred - target) / pred.size,
                                         "target": -dout * (pred - target) / pred.size},
             {"N": 4}, pred=Tensor(shape=("N",)), target=Tensor(shape=("N",))),
         "fail", "mse gradient without the factor 2", "pred"),
    Case(_op("bug.std_naive_variance.float32", _std_fw, _std_bw_naive,
             x=Tensor(shape=(64,), dtype="float32", low=2045.0, high=2051.0)),
         "fail", "a float32 std whose backward recomputes the variance as E[x^2] - E[x]^2: it "
         "loses digits the forward keeps, however the tolerance allows for the forward's own", "x"),
]


# --- correct but tricky ----------------------------------------------------------------

def _tanh_affine_bw(dout, out, x, w, b):
    ds = dout * (1 - out**2)
    return {"x": ds @ w.T, "w": x.T @ ds, "b": ds.sum(axis=0)}


def _softmax_bw(dout, out, x):
    return {"x": out * (dout - (out * dout).sum(axis=-1, keepdims=True))}


_SCALES = np.logspace(-11, 0, 12)


def _pairmax_fw(x):
    return x.reshape(-1, 2).max(axis=1)


def _pairmax_bw(dout, x):
    r = x.reshape(-1, 2)
    g = np.zeros_like(r)
    g[np.arange(len(r)), r.argmax(axis=1)] = dout  # ties: the first maximal element
    return {"x": g.reshape(x.shape)}


CORRECT: list[Case] = [
    Case(_op("ok.tanh_affine.float32", lambda x, w, b: np.tanh(x @ w + b), _tanh_affine_bw,
             {"N": 8, "D": 16, "M": 8}, x=Tensor(shape=("N", "D"), dtype="float32"),
             w=Tensor(shape=("D", "M"), dtype="float32"), b=Tensor(shape=("M",), dtype="float32")),
         "pass", "a float32 layer: the seed's 1e-7 rule flags it"),
    Case(_op("ok.softmax.float32", _softmax, _softmax_bw, {"N": 4, "C": 10},
             x=Tensor(shape=("N", "C"), dtype="float32", low=-5.0, high=5.0)),
         "pass", "float32 softmax with near-zero probabilities"),
    Case(_op("ok.magnitudes_to_1e-11", lambda x: x * _SCALES, lambda dout, x: {"x": dout * _SCALES},
             x=Tensor(shape=(12,))),
         "pass", "gradients from 1 down to 1e-11"),
    Case(_op("ok.sin_200x", lambda x: np.sin(200 * x), lambda dout, x: {"x": 200 * dout * np.cos(200 * x)},
             {"N": 50}, x=Tensor(shape=("N",))),
         "pass", "high curvature: sin(200x)"),
    Case(_op("ok.inputs_around_1e4", lambda x: x**3 / 1e8, lambda dout, x: {"x": 3 * dout * x**2 / 1e8},
             {"N": 20}, x=Tensor(shape=("N",), low=9e3, high=1.1e4)),
         "pass", "badly scaled inputs around 1e4"),
    Case(_op("ok.gaussian_tails", lambda x: x * np.exp(-30 * x**2),
             lambda dout, x: {"x": dout * np.exp(-30 * x**2) * (1 - 60 * x**2)}, {"N": 60},
             x=Tensor(shape=("N",), low=-3.0, high=3.0)),
         "pass", "gradients that underflow towards zero in the tails"),
    Case(_op("ok.log_near_zero", lambda x: np.log(x), lambda dout, x: {"x": dout / x}, {"N": 30},
             x=Tensor(shape=("N",), low=1e-3, high=1.0)),
         "pass", "log near its pole: one-sided steps at the bound, gradients up to 1e3"),
    Case(_op("ok.exp_large", lambda x: np.exp(x), lambda dout, out, x: {"x": dout * out}, {"N": 10},
             x=Tensor(shape=("N",), low=20.0, high=30.0)),
         "pass", "outputs around 1e13"),
    Case(_op("ok.split_three_outputs", lambda x: (x[:, :1] * 2, np.sin(x[:, 1:3]), x[:, 3:] ** 2),
             lambda dout, x: {"x": np.concatenate(
                 [2 * dout[0], np.cos(x[:, 1:3]) * dout[1], 2 * x[:, 3:] * dout[2]], axis=1)},
             {"N": 3}, x=Tensor(shape=("N", 5))),
         "pass", "several outputs, one dout each"),
    Case(_op("ok.tanh.float16", lambda x: np.tanh(x),
             lambda dout, out, x: {"x": dout * (1 - out * out)}, {"N": 10},
             x=Tensor(shape=("N",), dtype="float16")),
         "pass", "half precision"),
    Case(_op("ok.integer_labels", lambda logits, y: -np.log(_softmax(logits)[np.arange(len(y)), y]).mean(),
             lambda dout, logits, y: {"logits": dout * (_softmax(logits) - np.eye(logits.shape[1])[y]) / len(y)},
             {"N": 5}, logits=Tensor(shape=("N", 4)),
             y=Tensor(shape=("N",), dtype="int64", low=0, high=4)),
         "pass", "cross-entropy with a non-differentiable integer input"),
    Case(_op("ok.variance_near_2048.float32", _variance_fw,
             lambda dout, x: {"x": dout * 2 * (x - x.mean()) / x.size}, {"N": 16},
             x=Tensor(shape=("N",), dtype="float32", low=2047.75, high=2048.25)),
         "pass", "float32 variance of values near 2048: x - mean loses three digits in the forward "
         "and in its (correct) backward alike"),
    Case(_op("ok.std_near_2048.float32", _std_fw,
             lambda dout, out, x: {"x": dout * (x - x.mean()) / (x.size * out)},
             x=Tensor(shape=(64,), dtype="float32", low=2045.0, high=2051.0)),
         "pass", "float32 std near 2048, the naive-variance bug's correct sibling"),
]

KINKS: list[Case] = [
    Case(_op("kink.relu.float32", lambda x: np.maximum(x, 0), lambda dout, x: {"x": dout * (x > 0)},
             x=Tensor(shape=(3000,), dtype="float32", low=-0.1, high=0.1)),
         "pass", "float32 relu: with a step of 4e-3, some stencils straddle 0"),
    Case(_op("kink.pair_max_close_values", _pairmax_fw, _pairmax_bw,
             x=Tensor(shape=(2000,), dtype="float32", low=0.0, high=0.05)),
         "pass", "max over pairs of nearly tied float32 values"),
    Case(_op("kink.relu_at_the_sample", lambda x: np.maximum(x - 0.5, 0.0),
             lambda dout, x: {"x": dout * (x > 0.5)},
             x=Tensor(shape=(400,), low=0.5 - 1e-5, high=0.5 + 1e-5)),
         "pass", "relu evaluated within a step of its kink, most elements"),
]
