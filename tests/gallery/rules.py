"""The derivative-rules gallery: bugs in forward-mode rules (``jvp``), second-order rules
(``double_backward``) and complex gradients, and correct ops of the same kinds that are
easy to get a false alarm on. ``tests/test_rules_gallery.py`` audits every one; the
torch comparison is ``benchmarks/verdicts.py --gallery rules``.

Each ``RuleCase`` names the check that must catch the bug (``backward``, ``jvp``,
``adjoint`` or ``double_backward``, as in ``InputResult.check``) and its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opcheck import Op, Tensor


@dataclass(frozen=True)
class RuleCase:
    op: Op
    expected: str  # "pass", "fail" or "error"
    why: str
    check: str | None = None  # the check that must fail (fail cases)
    input: str | None = None  # ... and its input (or "dout")
    match: str | None = None  # words the report's message must contain


def _t(*shape: str | int, dtype: str = "float64", low: float | None = None,
       high: float | None = None) -> Tensor:
    return Tensor(shape=shape, dtype=dtype, low=low, high=high)


# --- shared pieces ------------------------------------------------------------------------

def _tanh_fw(x):
    return np.tanh(x)


def _tanh_bw(dout, x, out):
    return {"x": dout * (1 - out**2)}


def _tanh_jvp(x, tangents, out):
    return tangents["x"] * (1 - out**2)


def _tanh_dbl(ggrads, dout, x):
    t, g = np.tanh(x), ggrads["x"]
    return {"x": g * dout * -2 * t * (1 - t**2), "dout": g * (1 - t**2)}


def _lin_fw(x, w):  # x (N, D) @ w (D, D): square w, so a transposed rule fits every shape
    return x @ w


def _lin_bw(dout, x, w):
    return {"x": dout @ w.T, "w": x.T @ dout}


def _lin_jvp(x, w, tangents):
    return tangents["x"] @ w + x @ tangents["w"]


def _lin_jvp_transposed(x, w, tangents):
    return tangents["x"] @ w.T + x @ tangents["w"]


def _sm(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sm_bw(dout, x, out):
    return {"x": out * (dout - (dout * out).sum(axis=-1, keepdims=True))}


def _sm_jvp(x, tangents, out):
    t = tangents["x"]
    return out * (t - (t * out).sum(axis=-1, keepdims=True))


def _sm_dbl(ggrads, dout, x, full=True):
    y, gg = _sm(x), ggrads["x"]

    def through(v):
        return y * (v - (v * y).sum(axis=-1, keepdims=True))

    s = (dout * y).sum(axis=-1, keepdims=True)
    t = (gg * y).sum(axis=-1, keepdims=True)
    v = gg * (dout - s) - (dout * t if full else 0.0)
    return {"x": through(v), "dout": through(gg)}


def _ln(x):
    c = x - x.mean(axis=-1, keepdims=True)
    r = 1 / np.sqrt((c**2).mean(axis=-1, keepdims=True) + 1e-5)
    return c * r, r


def _ln_fw(x):
    return _ln(x)[0]


def _ln_bw(dout, x):
    xhat, r = _ln(x)
    return {"x": r * (dout - dout.mean(-1, keepdims=True) - xhat * (dout * xhat).mean(-1, keepdims=True))}


def _ln_jvp(x, tangents, centre=True):
    xhat, r = _ln(x)
    t = tangents["x"]
    c = t - t.mean(-1, keepdims=True) if centre else t
    return r * (c - xhat * (xhat * c).mean(-1, keepdims=True))


def _sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _sig_dbl(ggrads, dout, x, full=True):
    y, g = _sig(x), ggrads["x"]
    second = y * (1 - y) * (1 - 2 * y) if full else y * (1 - y)
    return {"x": g * dout * second, "dout": g * y * (1 - y)}


def _op(name, forward, inputs, dims=None, **rules):
    return Op(name=name, forward=forward, inputs=inputs, dims=dims or {}, **rules)


_X = {"x": _t("N", "D")}
_XW = {"x": _t("N", "D"), "w": _t("D", "D")}
_DIMS = {"N": 3, "D": 4}


def _c(*shape, dtype="complex128"):
    return _t(*shape, dtype=dtype)


# --- bugs ---------------------------------------------------------------------------------

BUGS = [
    RuleCase(_op("rules.jvp_wrong_factor", _tanh_fw, _X, _DIMS,
                 jvp=lambda x, tangents, out: 1.001 * tangents["x"] * (1 - out**2)),
             "fail", "a jvp off by 0.1% (forward-mode registry: no backward)", "jvp", "x"),
    RuleCase(_op("rules.jvp_wrong_factor_with_backward", _tanh_fw, _X, _DIMS, backward=_tanh_bw,
                 jvp=lambda x, tangents, out: 2 * tangents["x"] * (1 - out**2)),
             "fail", "a jvp off by 2x next to a correct backward", "jvp", "x"),
    RuleCase(_op("rules.jvp_transposed", _lin_fw, _XW, _DIMS, jvp=_lin_jvp_transposed),
             "fail", "a jvp using W^T where W belongs: every shape fits (W is square) and the "
             "diagonal agrees, so a check of one element or one output misses it", "jvp", "x"),
    RuleCase(_op("rules.adjoint_transposed", _lin_fw, _XW, _DIMS, backward=_lin_bw,
                 jvp=_lin_jvp_transposed),
             "fail", "the same transposed jvp beside a correct backward: the adjoint test "
             "catches it without finite differences", "adjoint", "x", "adjoint test"),
    RuleCase(_op("rules.jvp_not_linear", _tanh_fw, _X, _DIMS,
                 jvp=lambda x, tangents, out: tangents["x"] * (1 - out**2) + 1e-3 * out),
             "fail", "a jvp with a term that does not scale with the tangent", None, None,
             "jvp is not linear in its tangents"),
    RuleCase(_op("rules.jvp_softmax_missing_sum", _sm, _X, _DIMS,
                 jvp=lambda x, tangents, out: out * tangents["x"]),
             "fail", "a softmax jvp that forgets the normalisation term", "jvp", "x"),
    RuleCase(_op("rules.jvp_layernorm_uncentred", _ln_fw, _X, {"N": 3, "D": 5},
                 jvp=lambda x, tangents: _ln_jvp(x, tangents, centre=False)),
             "fail", "a layernorm jvp that does not centre the tangent", "jvp", "x"),
    RuleCase(_op("rules.double_backward_missing_term", _tanh_fw, _X, _DIMS, backward=_tanh_bw,
                 double_backward=lambda ggrads, dout, x: {
                     "x": ggrads["x"] * dout * -2 * np.tanh(x),
                     "dout": ggrads["x"] * (1 - np.tanh(x) ** 2)}),
             "fail", "tanh'' = -2 t (1 - t^2) without its (1 - t^2)", "double_backward", "x"),
    RuleCase(_op("rules.double_backward_sigmoid_missing_term", _sig, _X, _DIMS,
                 backward=lambda dout, x: {"x": dout * _sig(x) * (1 - _sig(x))},
                 double_backward=lambda ggrads, dout, x: _sig_dbl(ggrads, dout, x, full=False)),
             "fail", "sigmoid'' without its (1 - 2y) factor", "double_backward", "x"),
    RuleCase(_op("rules.double_backward_softmax_missing_term", _sm, _X, _DIMS, backward=_sm_bw,
                 double_backward=lambda ggrads, dout, x: _sm_dbl(ggrads, dout, x, full=False)),
             "fail", "softmax's double backward without the dout <gg, y> term",
             "double_backward", "x"),
    RuleCase(_op("rules.double_backward_wrong_dout", _lin_fw, _XW, _DIMS, backward=_lin_bw,
                 double_backward=lambda ggrads, dout, x, w: {
                     "x": dout @ ggrads["w"].T, "w": ggrads["x"].T @ dout,
                     "dout": ggrads["x"] @ w}),
             "fail", "matmul's double backward forgets x @ gg_w in the gradient of dout",
             "double_backward", "dout"),
    RuleCase(_op("rules.complex_multiply_no_conjugate", lambda z, w: z * w,
                 {"z": _c("N", "D"), "w": _c("N", "D")}, _DIMS,
                 backward=lambda dout, z, w: {"z": dout * w, "w": dout * z}),
             "fail", "dout * w instead of dout * conj(w): the classic complex bug", "backward", "z"),
    RuleCase(_op("rules.complex64_multiply_no_conjugate", lambda z, w: z * w,
                 {"z": _c("N", "D", dtype="complex64"), "w": _c("N", "D", dtype="complex64")},
                 _DIMS, backward=lambda dout, z, w: {"z": dout * w, "w": dout * np.conj(z)}),
             "fail", "the same at complex64 (float32 tolerances)", "backward", "z"),
    RuleCase(_op("rules.abs2_conjugated", lambda z: z.real**2 + z.imag**2, {"z": _c("N", "D")},
                 _DIMS, backward=lambda dout, z: {"z": 2 * dout * np.conj(z)}),
             "fail", "|z|^2 with 2 conj(z): the real parts are right, only the imaginary "
             "parts are wrong", "backward", "z"),
    RuleCase(_op("rules.complex_exp_jvp_conjugated", lambda z: np.exp(z), {"z": _c("N", "D")}, _DIMS,
                 backward=lambda dout, z: {"z": dout * np.conj(np.exp(z))},
                 jvp=lambda z, tangents: tangents["z"] * np.conj(np.exp(z))),
             "fail", "a holomorphic jvp multiplied by conj(f'(z))", "adjoint", "z"),
    RuleCase(_op("rules.complex_real_gradient", lambda z: z.real**2 + z.imag**2,
                 {"z": _c("N", "D")}, _DIMS, backward=lambda dout, z: {"z": 2 * dout * z.real}),
             "error", "a real gradient for a complex input", None, None,
             "real gradient (float64) for complex input 'z'"),
]

# --- correct ops that must pass ---------------------------------------------------------------


def _gather_bw(dout, table, idx):
    grad = np.zeros_like(table)
    np.add.at(grad, idx, dout)
    return {"table": grad}


def _split_fw(x):
    return np.sin(x), np.cos(x)


CORRECT = [
    RuleCase(_op("rules.ok.tanh_all_rules", _tanh_fw, _X, _DIMS, backward=_tanh_bw, jvp=_tanh_jvp,
                 double_backward=_tanh_dbl), "pass", "every rule at once"),
    RuleCase(_op("rules.ok.tanh_float32", _tanh_fw, {"x": _t("N", "D", dtype="float32")}, _DIMS,
                 backward=_tanh_bw, jvp=_tanh_jvp, double_backward=_tanh_dbl),
             "pass", "float32: the adjoint and second-order tolerances follow the dtype"),
    RuleCase(_op("rules.ok.softmax_jvp_only", _sm, {"x": _t("N", "D", low=-4.0, high=4.0)}, _DIMS,
                 jvp=_sm_jvp), "pass", "a forward-mode registry's softmax"),
    RuleCase(_op("rules.ok.softmax_second_order", _sm, _X, _DIMS, backward=_sm_bw, jvp=_sm_jvp,
                 double_backward=_sm_dbl), "pass", "softmax's double backward, dout included"),
    RuleCase(_op("rules.ok.layernorm_512_float32", _ln_fw, {"x": _t(2, 512, dtype="float32")}, {},
                 backward=_ln_bw, jvp=_ln_jvp),
             "pass", "float32 over 512 features: the adjoint test's rounding grows with size"),
    RuleCase(_op("rules.ok.layernorm_jvp_only", _ln_fw, _X, {"N": 3, "D": 5}, jvp=_ln_jvp),
             "pass", "layernorm in forward mode"),
    RuleCase(_op("rules.ok.relu_jvp", lambda x: np.maximum(x, 0.0), _X, _DIMS,
                 jvp=lambda x, tangents: tangents["x"] * (x > 0)), "pass", "a kinked jvp"),
    RuleCase(_op("rules.ok.sin_cos_jvp", _split_fw, _X, _DIMS,
                 backward=lambda dout, x: {"x": dout[0] * np.cos(x) - dout[1] * np.sin(x)},
                 jvp=lambda x, tangents: (tangents["x"] * np.cos(x), -tangents["x"] * np.sin(x))),
             "pass", "two outputs: jvp returns a tuple of output tangents"),
    RuleCase(_op("rules.ok.gather_jvp", lambda table, idx: table[idx],
                 {"table": _t(3, "D"), "idx": Tensor(shape=("N",), dtype="int64", low=0, high=3)},
                 {"N": 5, "D": 2},
                 backward=_gather_bw,
                 jvp=lambda table, idx, tangents: tangents["table"][idx]),
             "pass", "an integer input gets no tangent; repeated indices"),
    RuleCase(_op("rules.ok.mse_second_order", lambda p, t: ((p - t) ** 2).mean(),
                 {"p": _t("N", "D"), "t": _t("N", "D")}, _DIMS,
                 backward=lambda dout, p, t: {"p": dout * 2 * (p - t) / p.size,
                                              "t": -dout * 2 * (p - t) / p.size},
                 double_backward=lambda ggrads, dout, p, t: {
                     "p": dout * 2 * (ggrads["p"] - ggrads["t"]) / p.size,
                     "t": -dout * 2 * (ggrads["p"] - ggrads["t"]) / p.size,
                     "dout": (2 * (ggrads["p"] - ggrads["t"]) * (p - t) / p.size).sum()}),
             "pass", "a scalar output: dout has shape ()"),
    RuleCase(_op("rules.ok.complex_multiply", lambda z, w: z * w,
                 {"z": _c("N", "D"), "w": _c("N", "D")}, _DIMS,
                 backward=lambda dout, z, w: {"z": dout * np.conj(w), "w": dout * np.conj(z)},
                 jvp=lambda z, w, tangents: tangents["z"] * w + z * tangents["w"]),
             "pass", "torch's convention: dout * conj(w)"),
    RuleCase(_op("rules.ok.abs2", lambda z: z.real**2 + z.imag**2, {"z": _c("N", "D")}, _DIMS,
                 backward=lambda dout, z: {"z": 2 * dout * z},
                 jvp=lambda z, tangents: 2 * (np.conj(z) * tangents["z"]).real),
             "pass", "a real output of a complex input"),
    RuleCase(_op("rules.ok.complex64_matmul", lambda x, w: x @ w,
                 {"x": _c("N", "D", dtype="complex64"), "w": _c("D", "M", dtype="complex64")},
                 {"N": 3, "D": 4, "M": 5},
                 backward=lambda dout, x, w: {"x": dout @ w.conj().T, "w": x.conj().T @ dout},
                 jvp=lambda x, w, tangents: tangents["x"] @ w + x @ tangents["w"]),
             "pass", "complex64: float32 tolerances for each part"),
    RuleCase(_op("rules.ok.phase", lambda x: np.exp(1j * x), _X, _DIMS,
                 backward=lambda dout, x: {"x": np.real(np.conj(dout) * 1j * np.exp(1j * x))},
                 jvp=lambda x, tangents: 1j * np.exp(1j * x) * tangents["x"]),
             "pass", "real input, complex output: the gradient is Re(conj(dout) f'(x))"),
]
