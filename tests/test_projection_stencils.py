"""Fast mode's projections move elements near a declared bound one-sidedly, inside the
projection, instead of leaving them to an element-by-element check; a wrong gradient at
such an element is still caught."""

from __future__ import annotations

import numpy as np
import pytest

import opcheck
from opcheck import Op, Tensor
from opcheck import projection_stencils as stencils

T = 2.0**-17  # float64's projection step at |x| <= 1


def test_away_from_the_bounds_the_projections_stay_central() -> None:
    plan = stencils.plan(np.array([0.5, 0.7, 0.9]), T, 0.0, 1.0, True, 1024)
    assert not isinstance(plan, str)
    assert not plan.one_sided and plan.near.size == 0 and plan.inward.size == 0
    assert np.array_equal(plan.step, np.full(3, T))


def test_an_element_near_a_bound_makes_them_one_sided_pointing_away_from_it() -> None:
    x = np.array([1e-9, 0.5, 1.0 - 3 * T, 0.5])
    plan = stencils.plan(x, T, 0.0, 1.0, True, 1024)
    assert not isinstance(plan, str)
    assert plan.one_sided and plan.near.size == 0  # nothing left to a one-by-one check
    assert list(plan.inward) == [0, 2] and list(plan.signs) == [1.0, -1.0]
    d = np.array([[-T, T, T, -T], [T, -T, T, T]])
    stencils.orient(d, plan)
    assert np.array_equal(d, [[T, T, -T, -T], [T, -T, -T, T]])
    # every point of the stencil and of its repeat at 2t stays in the range
    for row in d:
        assert np.all((x + 4 * row >= 0.0) & (x + 4 * row <= 1.0))


def test_only_an_element_that_cannot_move_either_way_is_left_out() -> None:
    # a range narrower than eight steps: the middle element fits neither x + 4d nor x - 4d
    x = np.array([0.0, 2 * T, 5 * T])
    plan = stencils.plan(x, T, 0.0, 5 * T, True, 1024)
    assert not isinstance(plan, str)
    assert list(plan.near) == [1] and plan.step[1] == 0.0
    assert list(plan.inward) == [0, 2] and list(plan.signs) == [1.0, -1.0]
    assert "within four steps of both bounds" in stencils.plan(x, T, 0.0, 5 * T, True, 0)


def test_one_sided_rows_realise_twice_the_direction() -> None:
    x = np.array([1e-9, 0.25, 0.5])
    d = np.array([[T, -T, T], [T, T, -T]])
    stack, offsets = stencils.one_sided_rows(x, d, np.dtype(np.float64))
    assert stack.shape == (7, 3) and np.array_equal(stack[0], x)
    assert np.array_equal(stack[1::3], x + d) and np.array_equal(stack[3::3], x + 4 * d)
    np.testing.assert_allclose(offsets[:2], 2 * d, rtol=1e-9)
    np.testing.assert_allclose(offsets[2:], 4 * d, rtol=1e-9)
    # a linear forward: the stencil is exact
    y = stack @ np.array([1.0, 2.0, 3.0])
    numeric = stencils.one_sided_numeric(y[:, None], [np.array([1.0])], 2)
    np.testing.assert_allclose(numeric, offsets @ np.array([1.0, 2.0, 3.0]), rtol=1e-9)


def _cubic(x):
    return x * x * x + x  # smooth at 0, the bound of the declared range x >= 0


def _cubic_grad(dout, x):
    return {"x": dout * (3 * x * x + 1)}


def _wrong_near_zero(dout, x):
    grad = dout * (3 * x * x + 1)
    return {"x": np.where(x < 1e-3, 0.0, grad).astype(x.dtype)}  # BUG only near the bound


def _positive(name: str, backward, n: int, dtype: str = "float64") -> Op:
    return Op(name=name, forward=_cubic, backward=backward,
              inputs={"x": Tensor(shape=("N",), low=0.0, high=2.0, dtype=dtype)}, dims={"N": n})


def _near_zero(n: int, dtype: str) -> np.ndarray:
    x = np.random.default_rng(0).uniform(0.5, 1.5, n).astype(dtype)
    x[7] = 1e-7  # within a step of the bound 0
    return x


@pytest.mark.parametrize("n, dtype", [(200, "float64"), (6000, "float64"), (200, "float32")])
def test_a_correct_op_with_an_element_near_its_bound_needs_no_element_wise_check(n: int, dtype: str) -> None:
    report = opcheck.audit(_positive("stencil.ok", _cubic_grad, n, dtype),
                           inputs={"x": _near_zero(n, dtype)}, mode="fast")
    assert report.status == "pass", str(report)
    item = report.variants[0].inputs[0]
    assert item.method.startswith("projections"), item.method
    assert item.coverage == "4 projections (one-sided near a bound)", item.coverage


@pytest.mark.parametrize("n, dtype", [(200, "float64"), (6000, "float64"), (200, "float32")])
def test_a_wrong_gradient_at_the_element_near_the_bound_is_caught_and_named(n: int, dtype: str) -> None:
    report = opcheck.audit(_positive("stencil.bug", _wrong_near_zero, n, dtype),
                           inputs={"x": _near_zero(n, dtype)}, mode="fast")
    assert report.status == "fail", str(report)
    item = report.variants[0].inputs[0]
    assert [e.index for e in item.mismatches] == [(7,)]


def _scaled(x, w):
    return x * x * x * w + x * w


def _scaled_grads(dout, x, w, wrong: bool = False):
    gx = dout * (3 * x * x + 1) * w
    if wrong:
        gx = np.where(x < 1e-3, 0.0, gx)  # BUG only near the bound
    return {"x": gx, "w": dout * (x * x * x + x)}


def _joint(backward) -> Op:
    return Op(name="stencil.joint", forward=_scaled, backward=backward,
              inputs={"x": Tensor(shape=("N",), low=0.0, high=2.0), "w": Tensor(shape=("N",))},
              dims={"N": 5000})


def test_joint_projections_go_one_sided_for_every_input_when_one_has_an_element_near_a_bound() -> None:
    values = {"x": _near_zero(5000, "float64"), "w": np.random.default_rng(1).standard_normal(5000)}
    report = opcheck.audit(_joint(_scaled_grads), inputs=values, mode="fast")
    assert report.status == "pass", str(report)
    x, w = report.variants[0].inputs
    assert x.coverage == w.coverage == "4 joint projections (one-sided near a bound)"
    bad = opcheck.audit(_joint(lambda dout, x, w: _scaled_grads(dout, x, w, wrong=True)),
                        inputs=values, mode="fast")
    x, w = bad.variants[0].inputs
    assert (bad.status, x.status, w.status) == ("fail", "fail", "pass"), str(bad)
    assert [e.index for e in x.mismatches] == [(7,)]
