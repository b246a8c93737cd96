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


def test_a_small_float32_input_near_a_bound_checks_those_elements_one_by_one() -> None:
    def backward(dout, x):
        grad = 2 * dout * x
        return {"x": np.where(x > 0.995, 0, grad).astype(x.dtype)}  # BUG near the bound

    x = np.linspace(-1, 1, 200, dtype=np.float32)
    good = Op(name="near.ok", forward=_square,
              backward=lambda dout, x: {"x": (2 * dout * x).astype(x.dtype)},
              inputs={"x": Tensor(shape=("N",), dtype="float32")}, dims={"N": 200})
    item = opcheck.audit(good, inputs={"x": x}, mode="fast").variants[0].inputs[0]
    assert item.status == "pass" and "elements near a bound" in item.coverage, item.coverage
    assert not item.coverage.startswith("all "), item.coverage
    bad = Op(name="near.bug", forward=_square, backward=backward,
             inputs={"x": Tensor(shape=("N",), dtype="float32")}, dims={"N": 200})
    report = opcheck.audit(bad, inputs={"x": x}, mode="fast")
    assert report.status == "fail", str(report)
