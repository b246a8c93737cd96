"""opcheck.expressions and the declarations built on it: shape expressions, bounds naming
a dim, constraints — evaluated safely, refused at declaration time when wrong."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

import opcheck
from opcheck import Op, Tensor
from opcheck.expressions import ExpressionError, evaluate, names, parse


@pytest.mark.parametrize("text, env, value", [
    ("4*H", {"H": 3}, 12),
    ("H+D", {"H": 2, "D": 5}, 7),
    ("2*N+1", {"N": 3}, 7),
    ("(H + 2*pad - K) // stride + 1", {"H": 5, "pad": 1, "K": 3, "stride": 2}, 3),
    ("-N + 10", {"N": 3}, 7),
])
def test_arithmetic(text, env, value):
    assert evaluate(text, env) == value


@pytest.mark.parametrize("text, env, holds", [
    ("C % G == 0", {"C": 6, "G": 2}, True),
    ("C % G == 0", {"C": 7, "G": 2}, False),
    ("1 <= K <= H", {"K": 3, "H": 3}, True),
    ("mode == 'same' or pad == 0", {"mode": "valid", "pad": 1}, False),
    ("not pad", {"pad": 0}, True),
])
def test_relations(text, env, holds):
    assert evaluate(text, env, relation=True) is holds


@pytest.mark.parametrize("text, relation, words", [
    pytest.param("H/2", False, ["'/'", "use '//'"], id="true-division"),
    pytest.param("H**2", False, ["'**'"], id="power"),
    pytest.param("len(H)", False, ["function call"], id="call"),
    pytest.param("x.shape", False, ["attribute"], id="attribute"),
    pytest.param("H > 2", False, ["Compare"], id="comparison-in-a-shape"),
    pytest.param("1.5*H", False, ["constant 1.5"], id="float-in-a-shape"),
    pytest.param("4H", False, ["not an expression"], id="syntax"),
    pytest.param("__import__('os')", True, ["function call"], id="no-code-runs"),
])
def test_refused_expressions(text, relation, words):
    with pytest.raises(ExpressionError) as info:
        parse(text, relation)
    for word in words:
        assert word in str(info.value)


def test_names_in_order_of_appearance():
    assert names("H + 2*pad - K") == ("H", "pad", "K")


def _op(**fields) -> Op:
    base = {"name": "t.op", "forward": lambda x, **kw: x, "backward": lambda dout, x, **kw: {"x": dout},
                "inputs": {"x": Tensor(shape=("N",))}}
    return Op(**{**base, **fields})


def test_symbolic_dims_include_names_only_used_in_expressions():
    op = _op(inputs={"x": Tensor(shape=("N", "4*H"))}, dims={"H": 2})
    assert op.symbolic_dims == ("N", "H")
    assert op.inputs["x"].concrete_shape(op.default_dims()) == (3, 8)


def test_labels_tied_to_c_stay_valid_in_every_variant():
    seen = []

    def forward(x, y):
        if x.ndim == 2:  # not the audit's batched probes
            seen.append((x.shape[1], int(y.max())))
        return x[np.arange(x.shape[0]), y]

    def backward(dout, x, y):
        g = np.zeros_like(x)
        g[np.arange(x.shape[0]), y] = dout
        return {"x": g}

    op = Op(name="t.pick", forward=forward, backward=backward, dims={"N": 6, "C": 4},
            inputs={"x": Tensor(shape=("N", "C")),
                    "y": Tensor(shape=("N",), dtype="int64", low=0, high="C")})
    assert opcheck.audit(op).status == "pass"
    assert {c for c, _ in seen} >= {1, 4, 5}
    assert all(top < c for c, top in seen)


@pytest.mark.parametrize("fields, words", [
    pytest.param({"inputs": {"x": Tensor(shape=("N-5",))}}, ["shape[0]='N-5'", "-2", "at least 1"],
                 id="expression-below-1-at-defaults"),
    pytest.param({"inputs": {"x": Tensor(shape=("N//(N-3)",))}},
                 ["input 'x'", "shape[0]='N//(N-3)'", "cannot be computed at N=3", "division"],
                 id="expression-dividing-by-zero-at-defaults"),
    pytest.param({"inputs": {"x": Tensor(shape=("N",)), "y": Tensor(
        shape=("N",), dtype="int64", low=0, high="Q")}}, ["high='Q'", "['Q']", "no dim"],
        id="bound-names-an-unknown-dim"),
    pytest.param({"inputs": {"x": Tensor(shape=("N",)), "y": Tensor(
        shape=("N",), dtype="int64", low="N", high="N")}}, ["empty range"], id="empty-dim-range"),
    pytest.param({"constraints": ["N % G == 0"]}, ["constraints", "['G']"], id="constraint-unknown-name"),
    pytest.param({"constraints": ["N > 5"]}, ["constraint 'N > 5' fails", "N=3"],
                 id="constraint-fails-at-defaults"),
    pytest.param({"constraints": ["N ** 2 > 1"]}, ["constraints", "'**'"], id="constraint-bad-syntax"),
])
def test_declaration_errors(fields, words):
    with pytest.raises(pydantic.ValidationError) as info:
        _op(**fields)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("tensor, words", [
    pytest.param({"shape": ("4H",)}, ["shape[0]='4H'", "not a valid"], id="bad-shape-expression"),
    pytest.param({"shape": ("N",), "high": "C"}, ["high='C'", "integer tensor"], id="float-bound-names-a-dim"),
    pytest.param({"shape": ("N",), "dtype": "int64", "low": 0, "high": "C/2"}, ["high='C/2'", "'//'"],
                 id="bad-bound-expression"),
])
def test_tensor_declaration_errors(tensor, words):
    with pytest.raises(pydantic.ValidationError) as info:
        Tensor(**tensor)
    for word in words:
        assert word in str(info.value)
