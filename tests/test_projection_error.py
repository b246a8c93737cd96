"""Fast mode's projections measure their own error: correct ops of the built-in library
agree without falling back to element-wise checks, and a wrong gradient still disagrees."""

from __future__ import annotations

import numpy as np
import pytest

import opcheck
from opcheck import Op, Tensor, batching, projection_error

PROJECTED = ("projections", "joint projections")


def _fallbacks(name: str, seeds: range) -> list[str]:
    op = opcheck.discover()[name]
    found = []
    for seed in seeds:
        report = opcheck.audit(op, seed=seed, mode="fast")
        assert report.status == "pass", str(report)
        found += [f"seed {seed} {v.label} {i.check} {i.name}: {i.method} {i.coverage}"
                  for v in report.variants for i in v.inputs
                  if i.check in ("backward", "double_backward") and not i.method.startswith(PROJECTED)]
    return found


@pytest.mark.parametrize("name", ["groupnorm", "logdet_spd", "batchnorm", "layernorm"])
def test_normalisations_and_spd_ops_agree_without_a_fallback(name: str) -> None:
    # Their truncation differs from one direction to the next: measured on direction 0
    # (a near-cancelling projection, often) it was too small for the others.
    assert _fallbacks(name, range(10)) == []


def test_a_constant_output_s_second_derivative_is_not_mistaken_for_rounding() -> None:
    # softmax over an axis of size 1: backward is exactly 0; a stacked call that mixed
    # rows (softmax over the stacking axis) agreed with it within 1e3 eps of 1.
    assert _fallbacks("softmax.axis0", range(3)) == []


def test_a_forward_that_mixes_rows_of_exact_zeros_is_not_batched() -> None:
    def forward(x):  # softmax's backward along axis 0, with dout = 1, at N = 1
        out = np.exp(x - x.max(axis=0)) / np.exp(x - x.max(axis=0)).sum(axis=0)
        return out * (1.0 - out.sum(axis=0))

    x = np.zeros((1, 5))
    rng_sample = lambda rng: rng.uniform(-1, 1, (1, 5))
    assert not batching.batchable(forward, {"x": x}, "x", 16, rng_sample)
    assert batching.batchable(lambda x: 2 * x, {"x": x}, "x", 16, rng_sample)


def test_truncation_is_measured_where_it_is_largest() -> None:
    # Four directions: cubic truncation 1e-9 on direction 2, none on 0; the repeat of
    # direction 2 at 2t moves its error 8x (truncation), not 2x (a wrong gradient).
    analytic = np.array([1e-8, 2e-8, 5e-4, 3e-4, 1e-3])
    trunc = np.array([0.0, 1e-12, 1e-9, 5e-10, 8e-9])
    numeric = analytic + trunc
    diff = np.abs(numeric - analytic)
    rounding = np.full(5, 1e-15)
    assert projection_error.worst(analytic[:4], numeric[:4]) == 2
    assert not projection_error.disagrees(diff, analytic, numeric, 1.5e-6, 1e-15, 0.0, 0.0,
                                          rounding, [2])
    # The same error, growing as t (2x at 2t): a wrong gradient, not truncation.
    wrong = numeric.copy()
    wrong[4] = analytic[4] + 2e-9
    assert projection_error.disagrees(np.abs(wrong - analytic), analytic, wrong, 1.5e-6, 1e-15,
                                      0.0, 0.0, rounding, [2])


def _square(x):
    return x * x


def test_a_small_float32_input_near_a_bound_projects_those_elements_one_sidedly() -> None:
    def backward(dout, x):
        grad = 2 * dout * x
        return {"x": np.where(x > 0.995, 0, grad).astype(x.dtype)}  # BUG near the bound

    x = np.linspace(-1, 1, 200, dtype=np.float32)
    good = Op(name="near.ok", forward=_square,
              backward=lambda dout, x: {"x": (2 * dout * x).astype(x.dtype)},
              inputs={"x": Tensor(shape=("N",), dtype="float32")}, dims={"N": 200})
    item = opcheck.audit(good, inputs={"x": x}, mode="fast").variants[0].inputs[0]
    assert item.status == "pass" and item.coverage == "4 projections (one-sided near a bound)", item.coverage
    bad = Op(name="near.bug", forward=_square, backward=backward,
             inputs={"x": Tensor(shape=("N",), dtype="float32")}, dims={"N": 200})
    report = opcheck.audit(bad, inputs={"x": x}, mode="fast")
    assert report.status == "fail", str(report)


def _relu(x):
    return np.maximum(x, 0)


def _relu_op(name: str, backward) -> Op:
    return Op(name=name, forward=_relu, backward=backward,
              inputs={"x": Tensor(shape=("N",), dtype="float32")}, dims={"N": 30})


def _kinked_input(at: float) -> np.ndarray:
    x = np.random.default_rng(3).uniform(-0.9, 0.9, 30).astype(np.float32)
    x[4] = at  # within float32's projection step (2^-8 = 0.0039) of relu's kink at 0
    return x


def test_a_kink_within_the_step_is_retried_at_a_smaller_step_not_checked_element_wise() -> None:
    good = _relu_op("kink.ok", lambda dout, x: {"x": dout * (x > 0)})
    item = opcheck.audit(good, inputs={"x": _kinked_input(1e-3)}, mode="fast").variants[0].inputs[0]
    assert item.status == "pass" and item.coverage == "4 projections", item.coverage
    assert item.step_min == item.step_max / projection_error.SHRINK
    assert any("straddled a kink" in note for note in item.notes), item.notes


@pytest.mark.parametrize("wrong, at", [
    (lambda dout, x: {"x": 1.01 * dout * (x > 0)}, 1e-3),  # wrong everywhere, 1%
    (lambda dout, x: {"x": dout * (x > 0.004)}, 3e-3),  # wrong only at the element by the kink
])
def test_a_wrong_gradient_beside_a_kink_is_still_caught(wrong, at: float) -> None:
    report = opcheck.audit(_relu_op("kink.bug", wrong), inputs={"x": _kinked_input(at)}, mode="fast")
    assert report.status == "fail", str(report)
    assert not report.variants[0].inputs[0].method.startswith("projections")  # not taken for a kink


def test_an_error_that_shrinks_with_the_step_is_not_a_kink() -> None:
    errors = np.array([1e-3, -2e-3])
    analytic = np.array([0.05, -0.04])
    linear = errors / projection_error.SHRINK  # a wrong gradient's: linear in the step
    assert not projection_error.straddled_kink(errors, analytic, analytic + linear, np.ones((2, 3)),
                                               1e-3, 1e-7, 0.0, None)
    assert projection_error.straddled_kink(errors, analytic, analytic + 1e-8, np.ones((2, 3)),
                                           1e-3, 1e-7, 0.0, None)


def test_settled_directions_agree_whatever_their_repeat_at_twice_the_step_measures() -> None:
    # The repeat at 2t only widens the bounds (measured truncation), and holds its own row
    # to rtol, which a settled direction meets: skipping it cannot change a verdict.
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(2000):
        analytic = rng.standard_normal(4)
        numeric = analytic + rng.standard_normal(4) * 10.0 ** rng.uniform(-9, -5)
        diff = np.abs(analytic - numeric)
        if not projection_error.settled(diff, analytic, numeric, 1.5e-6, 1e-7, 0.0, 0.0):
            continue
        checked += 1
        r = int(rng.integers(4))
        a2 = 2 * analytic[r]
        n2 = a2 + 2 * (numeric[r] - analytic[r]) + rng.standard_normal() * 10.0 ** rng.uniform(-9, 0)
        a, n = np.append(analytic, a2), np.append(numeric, n2)
        assert not projection_error.disagrees(np.abs(a - n), a, n, 1.5e-6, 1e-7, 0.0, 0.0,
                                              rng.uniform(0, 1e-6, 5), [r])
    assert checked > 100


def test_a_linear_op_settles_its_joint_projections_without_the_repeat() -> None:
    calls = []

    def forward(x, w):
        calls.append(1)
        return x @ w

    op = Op(name="settle.matmul", forward=forward, backward=lambda dout, x, w: {"x": dout @ w.T, "w": x.T @ dout},
            inputs={"x": Tensor(shape=("N", "N")), "w": Tensor(shape=("N", "N"))}, dims={"N": 128})
    report = opcheck.audit(op, mode="fast", variant="default")
    assert report.status == "pass" and report.variants[0].inputs[0].method == "joint projections"
    assert len(calls) == 2 + 2 * 4  # the contract's two calls, two per direction, no repeat


def test_a_kink_within_the_step_and_its_repeat_does_not_hide_a_one_percent_bug() -> None:
    # Straddled at t and at 2t, the kink measured as "truncation" of 1e-2 relative, which
    # covered the 1% error under the name "kink.bug" (each name draws its own dout and
    # directions): an agreement leaning on truncation above rtol is confirmed at t/16.
    for name in ("kink.bug", "kink.hidden", "kink.other"):
        wrong = _relu_op(name, lambda dout, x: {"x": 1.01 * dout * (x > 0)})
        report = opcheck.audit(wrong, inputs={"x": _kinked_input(3e-3)}, mode="fast")
        assert report.status == "fail", name


def test_only_a_truncation_allowance_above_rtol_asks_for_a_confirmation() -> None:
    analytic = np.array([1.0, -0.5, 0.25, 2.0, 2.0])
    small = analytic + np.array([1e-8, 0, 0, 0, 8e-8])  # truncation 1e-8: t^3-like
    assert not projection_error.leans_on_truncation(analytic, small, [0], 1.5e-6)
    large = analytic + np.array([1e-5, 0, 0, 0, 8e-5])  # 1e-5 > rtol * |p|
    assert projection_error.leans_on_truncation(analytic, large, [0], 1.5e-6)
    assert not projection_error.leans_on_truncation(analytic[:4], large[:4], [], 1.5e-6)
