"""Op.jvp: checked against finite differences and, with a backward, by the adjoint test."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

import opcheck
from opcheck.report import format_op

T = opcheck.Tensor
SQUARE = {"x": T(shape=("N", "K")), "w": T(shape=("K", "K"))}


def _fwd(x, w):
    return np.tanh(x @ w)


def _bwd(dout, x, w):
    ds = dout * (1 - np.tanh(x @ w) ** 2)
    return {"x": ds @ w.T, "w": x.T @ ds}


def _jvp(x, w, tangents):
    return (1 - np.tanh(x @ w) ** 2) * (tangents["x"] @ w + x @ tangents["w"])


def _jvp_transposed(x, w, tangents):  # w is square: every shape fits, the values do not
    return (1 - np.tanh(x @ w) ** 2) * (tangents["x"] @ w.T + x @ tangents["w"])


def _jvp_factor(x, w, tangents):
    return 1.01 * _jvp(x, w, tangents)


def _op(name, **rules):
    return opcheck.Op(name=name, forward=_fwd, inputs=SQUARE, **rules)


def _items(report, check):
    return [i for v in report.variants for i in v.inputs if i.check == check]


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_correct_jvp_passes_alone_and_with_backward(mode):
    for op in (_op("only", jvp=_jvp), _op("both", jvp=_jvp, backward=_bwd)):
        report = opcheck.audit(op, mode=mode)
        assert report.status == "pass", report
        assert _items(report, "jvp") and all(i.status == "pass" for i in _items(report, "jvp"))
    assert all(i.status == "pass" for i in _items(report, "adjoint"))


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_jvp_with_a_wrong_factor_is_localised_to_its_elements(mode):
    report = opcheck.audit(_op("factor", jvp=_jvp_factor), mode=mode)
    assert report.status == "fail"
    item = _items(report, "jvp")[0]
    assert item.status == "fail" and item.counts["fail"] == item.size
    worst = item.worst
    assert worst.analytic == pytest.approx(1.01 * worst.numeric, rel=1e-6)
    assert "JVP mismatch" in format_op(report)


def test_the_adjoint_test_catches_a_transposition_at_machine_precision():
    report = opcheck.audit(_op("transposed", jvp=_jvp_transposed, backward=_bwd))
    assert report.status == "fail"
    adjoint = next(i for i in _items(report, "adjoint") if i.name == "x")
    assert adjoint.status == "fail"
    # The tolerance is rounding only: far below what finite differences could resolve.
    assert adjoint.worst.error_estimate < 1e-11 * abs(adjoint.worst.analytic) + 1e-11
    assert "jvp and backward disagree for input 'x'" in report.message
    text = format_op(report)
    assert "Adjoint mismatch" in text and "<jvp(u), v>" in text
    # The JVP itself is then checked against finite differences and named as the culprit.
    jvp_x = next(i for i in _items(report, "jvp") if i.name == "x")
    assert jvp_x.status == "fail"
    assert all(i.status == "pass" for i in report.variants[0].inputs if i.check == "backward")


def test_a_correct_jvp_with_a_wrong_backward_blames_backward():
    def bad_bwd(dout, x, w):
        grads = _bwd(dout, x, w)
        return {"x": grads["x"] * 2, "w": grads["w"]}

    report = opcheck.audit(_op("badbwd", jvp=_jvp, backward=bad_bwd), variant="default")
    by = {(i.check, i.name): i.status for i in report.variants[0].inputs}
    assert by[("backward", "x")] == "fail" and by[("adjoint", "x")] == "fail"
    assert by[("jvp", "x")] == "pass" and by[("backward", "w")] == "pass"


def test_a_jvp_that_is_not_linear_in_its_tangents_fails():
    def affine(x, w, tangents):
        return _jvp(x, w, tangents) + 1e-3

    report = opcheck.audit(_op("affine", jvp=affine), variant="default")
    assert report.status == "fail"
    assert "jvp is not linear in its tangents" in report.message


@pytest.mark.parametrize("returned, words", [
    (lambda x, w, tangents: (x @ w).ravel(), ["jvp returned its output tangent of shape", "(9,)"]),
    (lambda x, w, tangents: [x @ w], ["jvp returned its output tangent as a list"]),
    (lambda x, w, tangents: x @ w * np.nan, ["jvp returned nan"]),
], ids=["shape", "list", "nan"])
def test_a_jvp_that_breaks_its_contract_is_an_error(returned, words):
    def jvp(x, w, tangents):
        return returned(x, w, tangents)

    report = opcheck.audit(_op("broken", jvp=jvp), variant="default")
    assert report.status == "error"
    for word in words:
        assert word in report.message


def test_a_jvp_that_mutates_its_tangents_is_an_error():
    def jvp(x, w, tangents):
        tangents["x"] *= 2
        return _jvp(x, w, tangents)

    report = opcheck.audit(_op("mutating", jvp=jvp), variant="default")
    assert report.status == "error"
    assert "jvp mutated its input 'x'" in report.message


def test_an_op_needs_backward_or_jvp():
    with pytest.raises(pydantic.ValidationError) as info:
        opcheck.Op(name="norule", forward=_fwd, inputs=SQUARE)
    assert "give backward=..." in str(info.value) and "jvp=..." in str(info.value)


def test_double_backward_needs_backward():
    with pytest.raises(pydantic.ValidationError) as info:
        opcheck.Op(name="nobwd", forward=_fwd, inputs=SQUARE, jvp=_jvp,
                   double_backward=lambda ggrads, dout, x, w: {})
    assert "double_backward" in str(info.value) and "needs backward" in str(info.value)
