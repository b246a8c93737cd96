"""opcheck.binding: residuals and attrs reach the op's functions as CONTRACT.md §6 says,
and the audit catches what they hide."""

from __future__ import annotations

import numpy as np
import pytest

import opcheck
from opcheck import Op, Tensor


def _affine_forward(x, w, b):
    out = x @ w + b
    return out, (x, w, b)


def _affine_backward(dout, cache):
    x, w, _ = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


AFFINE_INPUTS = {"x": Tensor(shape=("N", "D")), "w": Tensor(shape=("D", "M")),
                 "b": Tensor(shape=("M",))}


def _affine(**fields) -> Op:
    return Op(name="t.affine", forward=_affine_forward,
              backward=lambda dout, residuals: _affine_backward(dout, residuals),
              residuals=True, inputs=AFFINE_INPUTS, **fields)


def test_a_cs231n_layer_registers_with_its_cache_and_passes():
    report = opcheck.audit(_affine())
    assert report.status == "pass", report.message


def test_a_wrong_backward_through_residuals_fails():
    def backward(dout, residuals):
        dx, dw, db = _affine_backward(dout, residuals)
        return dx, dw * 1.01, db

    op = Op(name="t.affine_bad", forward=_affine_forward, backward=backward, residuals=True,
            inputs=AFFINE_INPUTS)
    report = opcheck.audit(op)
    assert report.status == "fail" and "'w'" in report.message


def test_a_backward_that_mutates_its_residuals_cannot_corrupt_the_audit():
    def backward(dout, residuals):
        grads = _affine_backward(dout, residuals)
        residuals[1][...] = 0.0  # scribbles on w inside the cache
        return grads

    op = Op(name="t.affine_scribbles", forward=lambda x, w, b: ((x @ w + b), (x.copy(), w.copy(), b)),
            backward=backward, residuals=True, inputs=AFFINE_INPUTS)
    assert opcheck.audit(op).status == "pass"


def test_backward_gets_the_inputs_attrs_and_out_it_names():
    seen = {}

    def backward(dout, residuals, x, out, scale):
        seen.update(residuals=residuals, x=x.shape, out=out.shape, scale=scale)
        return {"x": scale * dout}

    op = Op(name="t.scale", forward=lambda x, scale: (scale * x, "cache"), backward=backward,
            residuals=True, attrs={"scale": [2.0]}, inputs={"x": Tensor(shape=("N",))})
    assert opcheck.audit(op, variant="scale=2.0").status == "pass"
    assert seen == {"residuals": "cache", "x": (3,), "out": (3,), "scale": 2.0}


def test_only_the_output_is_compared_for_determinism_and_nan():
    calls = iter(range(10**6))
    op = Op(name="t.counter", forward=lambda x: (2.0 * x, {"call": next(calls), "nan": np.nan}),
            backward=lambda dout, residuals: {"x": 2.0 * dout}, residuals=True,
            inputs={"x": Tensor(shape=("N",))})
    assert opcheck.audit(op).status == "pass"


def test_a_residuals_forward_that_returns_no_pair_is_an_error_saying_so():
    op = Op(name="t.nopair", forward=lambda x: 2.0 * x,
            backward=lambda dout, residuals: {"x": 2.0 * dout}, residuals=True,
            inputs={"x": Tensor(shape=("N",))})
    report = opcheck.audit(op)
    assert report.status == "error"
    assert "residuals=True returns the pair (output, residuals)" in report.message


def test_attrs_reach_only_the_functions_that_name_them_or_take_kwargs():
    def forward(x, **kwargs):
        assert kwargs == {"k": 3, "mode": "a"}
        return kwargs["k"] * x

    op = Op(name="t.kw", forward=forward, backward=lambda dout, x, k: {"x": k * dout},
            attrs={"k": [3], "mode": ["a"]}, inputs={"x": Tensor(shape=("N",))})
    assert opcheck.audit(op).status == "pass"


def _strided(bug: bool) -> Op:
    def forward(x, stride, pad):
        return np.pad(x, pad)[::stride] * 3.0

    def backward(dout, x, stride, pad):
        g = np.zeros(x.shape[0] + 2 * pad)
        g[::stride] = 3.0 * dout * (1.1 if bug and stride == 2 else 1.0)
        return {"x": g[pad:pad + x.shape[0]]}

    return Op(name="t.strided", forward=forward, backward=backward,
              attrs={"stride": [1, 2], "pad": [0, 1]}, inputs={"x": Tensor(shape=("N",))},
              dims={"N": 5})


def test_a_backward_wrong_only_for_stride_2_fails_naming_that_configuration():
    report = opcheck.audit(_strided(bug=True))
    assert report.status == "fail"
    statuses = {v.label: v.status for v in report.variants}
    assert {k for k, v in statuses.items() if v == "fail"} == {"stride=2 pad=0", "stride=2 pad=1"}
    assert report.message.startswith("variant stride=2 pad=")
    assert "stride=1 pad=0 N=1" in statuses  # shape variants at the default configuration
    assert opcheck.audit(_strided(bug=False)).status == "pass"


@pytest.mark.parametrize("fields, words", [
    pytest.param({"attrs": {"stride": 2}}, ["attrs", "non-empty list"], id="attr-not-a-list"),
    pytest.param({"attrs": {"stride": []}}, ["attrs", "non-empty list"], id="attr-empty"),
    pytest.param({"attrs": {"stride": [np.zeros(2)]}}, ["attrs", "ndarray"], id="attr-array"),
    pytest.param({"attrs": {"x": [1]}}, ["attrs", "also name inputs"], id="attr-is-an-input"),
    pytest.param({"attrs": {"dout": [1]}}, ["attrs", "reserved"], id="attr-reserved"),
    pytest.param({"residuals": True, "backward": lambda dout, x: {"x": dout}},
                 ["backward", "residuals"], id="residual-backward-without-residuals"),
    pytest.param({"backward": lambda dout, x, y: {"x": dout}}, ["backward", "'y'"],
                 id="backward-names-an-unknown-argument"),
])
def test_invalid_residual_and_attr_declarations(fields, words):
    import pydantic

    base = {"name": "t.bad", "forward": lambda x, **kw: x, "backward": lambda dout, x, **kw: {"x": dout},
                "inputs": {"x": Tensor(shape=("N",))}}
    with pytest.raises(pydantic.ValidationError) as info:
        Op(**{**base, **fields})
    for word in words:
        assert word in str(info.value)


def test_each_function_s_signature_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from opcheck import binding

    read = []
    real = binding._signature_names
    monkeypatch.setattr(binding, "_signature_names", lambda fn: read.append(fn) or real(fn))

    def scaled(x, scale):
        return x * scale

    def shifted(x, **kwargs):
        return x + kwargs["shift"]

    for _ in range(3):
        assert binding._with_attrs(scaled, {"scale": 2.0, "shift": 1.0}).keywords == {"scale": 2.0}
        assert binding._with_attrs(shifted, {"scale": 2.0, "shift": 1.0}).keywords == {
            "scale": 2.0, "shift": 1.0}  # **kwargs takes every attr
    assert read.count(scaled) == read.count(shifted) == 1
