"""Fast and sampled modes project every input at once first; per-input projections,
localisation and fallbacks run only where the joint projections disagree."""

from __future__ import annotations

import numpy as np
import pytest

import opcheck
from opcheck import Op, Tensor, joint_projection


def _mm_fw(x, w):
    return x @ w


def _mm_bw(dout, x, w):
    return {"x": dout @ w.T, "w": x.T @ dout}


def _mm_bw_one_wrong(dout, x, w):
    grads = _mm_bw(dout, x, w)
    grads["w"][1, 2] *= 1.01  # one element of 16,384
    return grads


def _mm_jvp(x, w, tangents):
    return tangents["x"] @ w + x @ tangents["w"]


def _matmul(n: int, backward=_mm_bw, jvp=None) -> Op:
    return Op(name=f"joint.matmul{n}", forward=_mm_fw, backward=backward, jvp=jvp,
              inputs={"x": Tensor(shape=("N", "K")), "w": Tensor(shape=("K", "M"))},
              dims={"N": n, "K": n, "M": n})


def test_a_correct_large_op_passes_on_joint_projections_alone():
    report = opcheck.audit(_matmul(128), mode="fast", variant="default")
    assert report.status == "pass"
    x, w = report.variants[0].inputs
    # (one-sided, where an element is within two steps of the range's bound)
    assert x.coverage.startswith("4 joint projections") and w.coverage.startswith("4 joint projections")
    assert report.coverage.startswith("x: 4 joint projections") and "; w: 4 joint projections" in report.coverage
    assert report.to_dict()["coverage"] == report.coverage


@pytest.mark.parametrize("mode", [pytest.param("fast", marks=pytest.mark.slow), "auto"])
def test_one_wrong_element_among_16384_fails_naming_it(mode: str):
    # fast mode names it by checking w in full: 32,768 forward calls (a slow test)
    report = opcheck.audit(_matmul(128, _mm_bw_one_wrong), mode=mode, variant="default", budget=0.5)
    assert report.status == "fail"
    x, w = report.variants[0].inputs
    assert x.status == "pass" and x.coverage.startswith("4 projections")  # per input, not joint
    assert w.status == "fail" and [e.index for e in w.mismatches] == [(1, 2)]
    assert w.mismatches[0].analytic == pytest.approx(1.01 * w.mismatches[0].numeric, rel=1e-6)
    assert "(1, 2)" in str(report)
    if mode == "auto":
        assert "localised" in w.coverage


def test_a_small_op_projects_its_inputs_together_in_one_batched_call():
    report = opcheck.audit(_matmul(6), mode="fast", variant="default")
    assert report.status == "pass"
    assert [i.method for i in report.variants[0].inputs] == ["joint projections, batched"] * 2


def test_a_wrong_small_op_fails_in_the_input_that_is_wrong():
    def bw(dout, x, w):
        return {"x": dout @ w.T, "w": 1.01 * (x.T @ dout)}

    report = opcheck.audit(_matmul(6, bw), mode="fast", variant="default")
    x, w = report.variants[0].inputs
    assert (report.status, x.status, w.status) == ("fail", "pass", "fail")


def test_a_jvp_only_op_keeps_its_per_input_projections():
    op = Op(name="joint.jvp_only", forward=_mm_fw, jvp=_mm_jvp,
            inputs={"x": Tensor(shape=("N", "K")), "w": Tensor(shape=("K", "M"))},
            dims={"N": 80, "K": 80, "M": 80})
    report = opcheck.audit(op, mode="fast", variant="default")
    assert report.status == "pass"
    assert all(i.coverage.startswith("4 projections") for i in report.variants[0].inputs)


def test_inputs_near_a_bound_move_one_sidedly_inside_the_joint_projections():
    op = Op(name="joint.square_scale", forward=lambda x, w: x * x * w,
            backward=lambda dout, x, w: {"x": 2 * dout * w * x, "w": dout * x * x},
            inputs={"x": Tensor(shape=("N",), low=0.0, high=0.001), "w": Tensor(shape=("N",))},
            dims={"N": 5000})
    report = opcheck.audit(op, mode="fast", variant="default")
    assert report.status == "pass", str(report)
    x = report.variants[0].inputs[0]
    # (every element is near a bound of [0, 0.001]: none is left to a one-by-one check)
    assert x.coverage == "4 joint projections (one-sided near a bound)", x.coverage


def test_signed_directions_are_plus_or_minus_the_step_and_repeat_the_first_at_twice_it():
    step = np.array([0.5, 1.0, 0.0, 2.0])
    d = joint_projection.signed(np.random.default_rng(0), step)
    assert d.shape == (joint_projection.PROJECTIONS + 1, 4)
    assert np.array_equal(np.abs(d[:-1]), np.broadcast_to(step, (4, 4)))
    assert np.array_equal(d[-1], 2 * d[0])


def test_a_forward_that_raises_when_perturbed_is_an_error_naming_the_inputs_moved():
    first: list[np.ndarray] = []

    def forward(x, w):
        if first and not np.array_equal(first[0], x):
            raise ValueError("x moved")
        first.append(x.copy())
        return x @ w

    op = Op(name="joint.raises", forward=forward, backward=_mm_bw,
            inputs={"x": Tensor(shape=("N", "K")), "w": Tensor(shape=("K", "M"))},
            dims={"N": 70, "K": 70, "M": 70})
    report = opcheck.audit(op, mode="fast", variant="default")
    assert report.status == "error"
    assert "forward raised ValueError: x moved while the audit perturbed inputs 'x', 'w' together" in report.message
