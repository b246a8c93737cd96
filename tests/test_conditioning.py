"""The forward's measured conditioning, and the tolerance a correct backward inherits."""

from __future__ import annotations

import numpy as np
import pytest
from bug_gallery import BUGS, CORRECT

import opcheck
from opcheck import conditioning

EPS32 = float(np.finfo(np.float32).eps)


def _variance(x):
    return np.mean((x - x.mean()) ** 2)


def _measure(forward, x: np.ndarray, seed: int = 0) -> float:
    out = np.asarray(forward(x))
    dout = np.ones_like(out)
    return conditioning.condition(lambda x: forward(x), {"x": x}, ["x"], [dout], [out],
                                  float(np.finfo(x.dtype).eps), np.random.default_rng(seed))


@pytest.mark.parametrize("forward", [np.tanh, lambda x: np.exp(x), lambda x: x @ x.T],
                         ids=["tanh", "exp", "gram"])
def test_a_well_conditioned_forward_measures_about_one(forward) -> None:
    x = np.random.default_rng(1).uniform(-1, 1, (8, 8)).astype(np.float32)
    assert _measure(forward, x) < 4


def test_a_float32_variance_near_2048_measures_its_lost_digits() -> None:
    rng = np.random.default_rng(2)
    near = (2048 + rng.uniform(-0.25, 0.25, 16)).astype(np.float32)
    centred = rng.uniform(-0.25, 0.25, 16).astype(np.float32)
    # x - mean cancels ~4 digits near 2048; the same spread around 0 cancels none.
    assert _measure(_variance, near) > 1000
    assert _measure(_variance, centred) < 4


def test_the_measure_does_not_depend_much_on_the_draw() -> None:
    x = (2048 + np.random.default_rng(3).uniform(-0.25, 0.25, 64)).astype(np.float32)
    kappas = [_measure(_variance, x, seed) for seed in range(10)]
    assert max(kappas) < 4 * min(kappas)


def test_a_forward_that_breaks_at_the_moved_inputs_widens_nothing() -> None:
    def fussy(x):
        if not np.array_equal(x, original):
            raise ValueError("only the original")
        return _variance(x)

    original = (2048 + np.random.default_rng(4).uniform(-0.25, 0.25, 16)).astype(np.float32)
    assert _measure(fussy, original) == 1.0
    nan_elsewhere = lambda x: _variance(x) if np.array_equal(x, original) else np.float32("nan")
    assert _measure(nan_elsewhere, original) == 1.0
    assert conditioning.inherited(1.0, EPS32, 1.0) == 0.0


def test_the_inherited_error_scales_with_condition_and_gradient() -> None:
    assert conditioning.inherited(1.0, EPS32, 5.0) == 0.0  # well conditioned: no widening
    assert conditioning.inherited(conditioning.WELL_CONDITIONED, EPS32, 5.0) == 0.0
    assert conditioning.inherited(1000.0, EPS32, 2.0) == pytest.approx(
        conditioning.FACTOR * 1000 * EPS32 * 2.0)
    assert conditioning.inherited(1000.0, EPS32, float("nan")) == 0.0


def test_the_gradient_norm_is_estimated_from_projections() -> None:
    rng = np.random.default_rng(5)
    g = rng.standard_normal(400)
    directions = np.where(rng.integers(0, 2, (300, 400)) == 0, 1.0, -1.0) * 1e-3
    estimate = conditioning.projected_norm(directions @ g, directions)
    assert estimate == pytest.approx(np.linalg.norm(g), rel=0.2)
    assert conditioning.projected_norm(np.zeros(2), np.zeros((2, 400))) == 0.0


def _case(name: str):
    return next(c for c in BUGS + CORRECT if c.op.name == name)


@pytest.mark.parametrize("mode", ["auto", "full", "fast"])
def test_a_correct_variance_near_2048_passes_and_says_why(mode: str) -> None:
    report = opcheck.audit(_case("ok.variance_near_2048.float32").op, mode=mode)
    assert report.status == "pass", str(report)
    assert "digits" in str(report) or mode == "fast"  # fast mode's projections carry no note


@pytest.mark.parametrize("mode", ["auto", "full", "fast"])
def test_a_backward_losing_digits_its_forward_keeps_fails(mode: str) -> None:
    report = opcheck.audit(_case("bug.std_naive_variance.float32").op, mode=mode)
    assert report.status == "fail"
    assert {i.name for v in report.variants for i in v.inputs if i.status == "fail"} == {"x"}


@pytest.mark.parametrize("mode", ["auto", "full", "fast"])
def test_its_correct_sibling_passes(mode: str) -> None:
    assert opcheck.audit(_case("ok.std_near_2048.float32").op, mode=mode).status == "pass"


def test_a_well_conditioned_op_is_not_widened() -> None:
    report = opcheck.audit(_case("ok.tanh_affine.float32").op)
    assert report.status == "pass" and "digits" not in str(report)


def _near_2048(spread: float):
    def draw(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
        return (2048 + rng.uniform(-spread, spread, size=shape)).astype(dtype)
    return draw


def _sampled(name: str, spread: float, backward, n: int = 64) -> opcheck.Op:
    """An op whose inputs have no bound: fast mode compares projections only."""
    case = _case(name)
    return opcheck.Op(name=name + ".sampled", forward=case.op.forward, backward=backward,
                      inputs={"x": opcheck.Tensor(shape=(n,), dtype="float32", sampler=_near_2048(spread))})


@pytest.mark.parametrize("n", [64, 5000])
def test_fast_mode_projections_allow_for_the_forward_too(n: int) -> None:
    op = _sampled("ok.variance_near_2048.float32", 0.25,
                  lambda dout, x: {"x": dout * 2 * (x - x.mean()) / x.size}, n)
    report = opcheck.audit(op, mode="fast")
    assert report.status == "pass", str(report)
    assert report.coverage == "x: 4 projections"  # no fall back to a full check


def test_fast_mode_projections_still_catch_the_naive_backward() -> None:
    bug = _case("bug.std_naive_variance.float32")
    report = opcheck.audit(_sampled(bug.op.name, 3.0, bug.op.backward), mode="fast")
    assert report.status == "fail" and "input 'x'" in report.message


def test_a_float64_op_computing_in_float32_is_measured_at_float32() -> None:
    # op_calls.precision finds float32 values in the float64 outputs; the inputs then move
    # by float32's rounding unit, which the forward's cast keeps (float64's it would lose).
    def forward(x):
        y = x.astype(np.float32)
        return np.mean((y - y.mean(axis=1, keepdims=True)) ** 2, axis=1).astype(np.float64)

    def backward(dout, x):
        y = x.astype(np.float32)
        d = dout.astype(np.float32)[:, None]
        return {"x": (d * 2 * (y - y.mean(axis=1, keepdims=True)) / y.shape[1]).astype(np.float64)}

    op = opcheck.Op(name="t.variance_in_float32", forward=forward, backward=backward,
                    dims={"N": 4, "D": 16},
                    inputs={"x": opcheck.Tensor(shape=("N", "D"), low=2047.75, high=2048.25)})
    report = opcheck.audit(op, variant="default")
    assert report.status == "pass", str(report)
    assert "eps 1.19e-07" in str(report) and "digits" in str(report)
