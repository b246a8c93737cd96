"""The two seed ops (plugins/matmul.py, plugins/sigmoid_affine.py) against the numbers of
the seed notebook (shared/seed/000_2d1314cc144ce265.txt) that started opcheck."""

from __future__ import annotations

import numpy as np
import pytest
from opcheck_plugins import matmul, sigmoid_affine

import opcheck


# The notebook's helpers, as written there (ported to Python 3).
def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Evaluate a numeric gradient for a function that accepts a numpy array and returns
    a numpy array."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = f(x).copy()
        x[ix] = oldval - h
        neg = f(x).copy()
        x[ix] = oldval
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(x, y):
    """returns relative error"""
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


# In [1]-[3]: one sigmoid neuron.
W = np.array([2.0, -3.0]).reshape(2, 1)
X = np.array([[-1.0, -2.0]])
B = np.asarray(-3.0)


def test_sigmoid_affine_forward_matches_the_notebook():
    out = sigmoid_affine.sigmoid_affine_forward(x=X, w=W, b=B)
    assert out.shape == (1, 1)
    np.testing.assert_allclose(X @ W + B, [[1.0]])  # "s = 1.000000"
    np.testing.assert_allclose(out, [[0.731059]], atol=5e-7)  # "output = 0.731059"


def test_sigmoid_affine_backward_matches_the_notebook():
    out = sigmoid_affine.sigmoid_affine_forward(x=X, w=W, b=B)
    grads = sigmoid_affine.sigmoid_affine_backward(dout=np.ones((1, 1)), out=out, x=X, w=W, b=B)
    np.testing.assert_allclose(grads["x"], [[0.39322387, -0.5898358]], atol=5e-9)
    np.testing.assert_allclose(grads["w"], [[-0.19661193], [-0.39322387]], atol=5e-9)
    np.testing.assert_allclose(grads["b"], 0.196612, atol=5e-7)
    assert np.shape(grads["b"]) == ()


def test_sigmoid_affine_backward_matches_the_notebooks_numeric_gradient():
    out = sigmoid_affine.sigmoid_affine_forward(x=X, w=W, b=B)
    dout = np.ones_like(out)
    grads = sigmoid_affine.sigmoid_affine_backward(dout=dout, out=out, x=X, w=W, b=B)
    fwd = sigmoid_affine.sigmoid_affine_forward
    dx = eval_numerical_gradient_array(lambda x: fwd(x=x, w=W, b=B), X.copy(), dout)
    dw = eval_numerical_gradient_array(lambda w: fwd(x=X, w=w, b=B), W.copy(), dout)
    db = eval_numerical_gradient_array(lambda b: fwd(x=X, w=W, b=b), B.copy(), dout)
    assert rel_error(dx, grads["x"]) < 1e-9
    assert rel_error(dw, grads["w"]) < 1e-9
    assert rel_error(db, grads["b"]) < 1e-9


# In [4]-[5]: the matrix-matrix product and its gradient check.
def test_matmul_backward_agrees_with_the_notebooks_check():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 5))
    x = rng.standard_normal((3, 4))
    d = matmul.matmul_forward(x=x, w=w)
    dd = rng.standard_normal(d.shape)
    grads = matmul.matmul_backward(dout=dd, x=x, w=w)

    dw = eval_numerical_gradient_array(lambda w_: x.dot(w_), w.copy(), dd, h=1e-5)
    dx = eval_numerical_gradient_array(lambda x_: x_.dot(w), x.copy(), dd, h=1e-5)
    # The notebook printed 1.29e-10 and 3.10e-11.
    assert rel_error(dx, grads["x"]) < 1e-9
    assert rel_error(dw, grads["w"]) < 1e-9


def test_the_notebooks_check_catches_a_missing_transpose():
    """The reference check above can fail: a square W hides nothing from it."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 4))
    x = rng.standard_normal((3, 4))
    dd = rng.standard_normal((3, 4))
    dx = eval_numerical_gradient_array(lambda x_: x_.dot(w), x.copy(), dd)
    assert rel_error(dx, dd @ w) > 1e-2


@pytest.mark.parametrize("name", ["matmul", "sigmoid_affine"])
def test_seed_op_passes_the_audit(name, monkeypatch):
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    report = opcheck.audit(name)
    assert report.status == "pass", str(report)
    assert report.max_rel_error is not None and report.max_rel_error < 1e-7
    assert report.plugin == f"opcheck_plugins.{name}"


@pytest.mark.parametrize("name", ["matmul", "sigmoid_affine"])
def test_seed_op_is_declared_as_the_notebook_uses_it(name, monkeypatch):
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    op = opcheck.discover()[name]
    assert list(op.inputs)[:2] == ["x", "w"]
    assert op.inputs["x"].shape == ("N", "D")
    assert op.inputs["w"].shape == ("D", "M")
