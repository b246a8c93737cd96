"""Op.double_backward: checked against finite differences of backward."""

from __future__ import annotations

import numpy as np
import pytest

import opcheck
from opcheck.errors import UsageError
from opcheck.report import format_op

T = opcheck.Tensor
X = {"x": T(shape=("N", "D"))}


def _fwd(x):
    return np.tanh(x)


def _bwd(dout, out, x):  # uses out: the derived op recomputes it from the perturbed x
    return {"x": dout * (1 - out**2)}


def _dbl(ggrads, dout, x):
    t, g = np.tanh(x), ggrads["x"]
    return {"x": g * dout * (-2 * t * (1 - t**2)), "dout": g * (1 - t**2)}


def _op(name, dbl=_dbl):
    return opcheck.Op(name=name, forward=_fwd, backward=_bwd, double_backward=dbl, inputs=X)


def _second(report):
    return {i.name: i for v in report.variants for i in v.inputs if i.check == "double_backward"}


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_correct_double_backward_passes(mode):
    report = opcheck.audit(_op("tanh2"), mode=mode)
    assert report.status == "pass", report
    assert set(_second(report)) == {"x", "dout"}


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_missing_term_is_caught_and_localised(mode):
    def missing(ggrads, dout, x):  # forgets the (1 - t^2) factor of d/dx tanh'
        t, g = np.tanh(x), ggrads["x"]
        return {"x": g * dout * (-2 * t), "dout": g * (1 - t**2)}

    report = opcheck.audit(_op("tanh2", missing), mode=mode)
    assert report.status == "fail"
    assert report.message.startswith("variant default: second-order mismatch in input 'x'")
    assert _second(report)["x"].status == "fail" and _second(report)["dout"].status == "pass"
    assert "Second-order mismatch: op 'tanh2', input 'x'" in format_op(report)


def test_a_wrong_gradient_for_dout_is_caught():
    def wrong_dout(ggrads, dout, x):
        grads = _dbl(ggrads, dout, x)
        return {"x": grads["x"], "dout": ggrads["x"]}  # drops tanh'(x)

    report = opcheck.audit(_op("tanh2", wrong_dout), variant="default")
    assert report.status == "fail" and _second(report)["dout"].status == "fail"


def test_order_1_skips_the_second_order_check():
    def missing(ggrads, dout, x):
        return {"x": 0 * x, "dout": ggrads["x"]}

    assert opcheck.audit(_op("tanh2", missing), order=1).status == "pass"
    assert opcheck.audit(_op("tanh2", missing)).status == "fail"
    with pytest.raises(UsageError, match="order=3 is not an order"):
        opcheck.audit(_op("tanh2"), order=3)


def test_a_double_backward_that_ignores_ggrads_fails_linearity():
    def ignores(ggrads, dout, x):
        t = np.tanh(x)
        return {"x": dout * (-2 * t * (1 - t**2)), "dout": 1 - t**2}

    report = opcheck.audit(_op("tanh2", ignores), variant="default")
    assert "double_backward is not linear in ggrads" in report.message


@pytest.mark.parametrize("dbl, words", [
    (lambda ggrads, dout, x: ggrads["x"], ["double_backward returned a ndarray", "'dout'"]),
    (lambda ggrads, dout, x: {"x": ggrads["x"]},
     ["double_backward returned no gradient for 'dout'"]),
    (lambda ggrads, dout, x: {"x": ggrads["x"], "dout": ggrads["x"].ravel()},
     ["double_backward returned a gradient of shape"]),
], ids=["not-a-mapping", "no-dout", "shape"])
def test_a_double_backward_that_breaks_its_contract_is_an_error(dbl, words):
    report = opcheck.audit(_op("broken", dbl), variant="default")
    assert report.status == "error"
    for word in words:
        assert word in report.message


def test_the_cli_takes_order(tmp_path, monkeypatch, capsys):
    from opcheck.cli import main

    (tmp_path / "second_ops.py").write_text(
        "import numpy as np, opcheck\n"
        "@opcheck.hookimpl\n"
        "def opcheck_ops():\n"
        "    return [opcheck.Op(name='sq', forward=lambda x: x**2, backward=lambda dout, x: {'x': 2*x*dout},\n"
        "        double_backward=lambda ggrads, dout, x: {'x': ggrads['x']*dout, 'dout': 2*x*ggrads['x']},\n"
        "        inputs={'x': opcheck.Tensor(shape=(3,))})]\n")
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "sq", "-p", "second_ops", "--jobs", "1"]) == 1  # 'x' misses a 2
    assert main(["audit", "sq", "-p", "second_ops", "--jobs", "1", "--order", "1"]) == 0
    capsys.readouterr()


def test_an_op_with_two_outputs_gets_a_dout_check_per_output():
    def fwd(x):
        return np.sin(x), np.cos(x)

    def bwd(dout, x):
        return {"x": dout[0] * np.cos(x) - dout[1] * np.sin(x)}

    def dbl(ggrads, dout, x, drop=False):
        g = ggrads["x"]
        gx = g * (-dout[0] * np.sin(x) - (0 if drop else dout[1] * np.cos(x)))
        return {"x": gx, "dout": (g * np.cos(x), -g * np.sin(x))}

    op = opcheck.Op(name="sincos", forward=fwd, backward=bwd, double_backward=dbl, inputs=X)
    report = opcheck.audit(op)
    assert report.status == "pass", report
    assert set(_second(report)) == {"x", "dout[0]", "dout[1]"}
    wrong = op.model_copy(update={"double_backward": lambda ggrads, dout, x: dbl(ggrads, dout, x, True)})
    assert {n for n, i in _second(opcheck.audit(wrong)).items() if i.status == "fail"} == {"x"}
    single = op.model_copy(update={"double_backward": lambda ggrads, dout, x: {
        "x": dbl(ggrads, dout, x)["x"], "dout": ggrads["x"]}})
    assert "so it is a tuple of 2 gradients" in opcheck.audit(single, variant="default").message


def test_a_double_backward_without_the_dout_cotangent_is_told_what_dout_needs():
    import numpy as np

    import opcheck

    op = opcheck.Op(name="t.tanh_no_dout", forward=lambda x: np.tanh(x),
                    backward=lambda dout, x: {"x": dout * (1 - np.tanh(x) ** 2)},
                    double_backward=lambda ggrads, dout, x: {
                        "x": ggrads["x"] * dout * -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)},
                    inputs={"x": opcheck.Tensor(shape=("N",))})
    report = opcheck.audit(op)
    assert report.status == "error"
    assert "no gradient for 'dout'" in report.message and "differentiable=False" not in report.message
