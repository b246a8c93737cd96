"""The numeric core on its own: steps, one-sided differences near bounds, the second look."""

from __future__ import annotations

import numpy as np
import pytest

from opcheck import finite_diff as fd
from opcheck import second_look


def test_steps_are_powers_of_two_scaled_with_magnitude() -> None:
    x = np.array([0.0, 0.5, 1e4, -3e2])
    plan = fd.plan_steps(x, np.finfo(np.float64).eps, -1e5, 1e5)
    exponents = np.log2(plan.h)
    assert np.array_equal(exponents, np.round(exponents))
    assert plan.h[0] == plan.h[1]  # max(1, |x|) = 1 for both
    assert 1e4 * 2e-6 < plan.h[2] < 1e4 * 2e-5
    assert np.all(plan.kind == fd.CENTRAL)


def test_float32_steps_are_larger_and_exact_in_float32() -> None:
    x = np.array([0.3, -0.7], dtype=np.float32)
    plan = fd.plan_steps(x, np.finfo(np.float32).eps, -1, 1)
    assert np.all(plan.h > 1e-3)
    up = np.asarray(plan.values[0], dtype=np.float32).astype(np.float64)
    assert np.allclose(up - x.astype(np.float64), plan.nodes[0])


def test_one_sided_near_a_bound_and_inside_the_domain() -> None:
    x = np.array([1e-7, 0.5, 1.0 - 1e-7])
    plan = fd.plan_steps(x, np.finfo(np.float64).eps, 0.0, 1.0)
    assert list(plan.kind) == [fd.FORWARD, fd.CENTRAL, fd.BACKWARD]
    values = np.array(plan.values)
    assert values.min() >= 0.0 and values.max() <= 1.0


def _numeric(fn, x: np.ndarray, dout: np.ndarray, low: float = -10, high: float = 10) -> np.ndarray:
    buf = x.copy()
    plan = fd.plan_steps(buf, np.finfo(buf.dtype).eps, low, high)
    out = np.empty(buf.size)
    project = fd.make_projector([dout])
    call = lambda: fn(buf)
    fd.loop_central(call, buf, plan, project, False, out)
    fd.loop_one_sided(call, buf, plan, project, False, fn(buf.copy()), out)
    return out


def test_central_and_one_sided_differences_are_accurate() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.01, 2.0, 20)
    dout = rng.standard_normal(20)
    numeric = _numeric(np.log, x, dout, low=0.0, high=2.0)
    assert np.allclose(numeric, dout / x, rtol=1e-8)


def test_a_forward_returning_a_view_of_its_input_is_differenced_exactly() -> None:
    # transpose or reshape return views: the loop must project f(x - h) before it restores
    # x (a restored view reads f(x), halving the difference: every element then failed
    # its first look and passed only on a second look).
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((4, 3))
    buf = x.copy()
    plan = fd.plan_steps(buf, np.finfo(buf.dtype).eps, -10, 10)
    out = np.empty(buf.size)
    fd.loop_central(lambda: buf.T, buf.reshape(-1), plan, fd.make_projector([dout]), True, out)
    assert np.allclose(out, dout.T.ravel(), rtol=1e-12)
    near = np.array([1.0 - 1e-9, 0.5])  # one-sided at the upper bound, then central
    buf = near.copy()
    plan = fd.plan_steps(buf, np.finfo(buf.dtype).eps, 0.0, 1.0)
    assert plan.kind[0] == fd.BACKWARD
    out = np.empty(2)
    d = np.array([2.0, -3.0])
    fd.loop_one_sided(lambda: buf[:], buf, plan, fd.make_projector([d]), True, near.copy(), out)
    assert np.isclose(out[0], 2.0, rtol=1e-8)


def test_batched_central_matches_the_loop() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(12)
    w = rng.standard_normal((12, 5))
    dout = rng.standard_normal(5)
    plan = fd.plan_steps(x, np.finfo(np.float64).eps, -10, 10)
    stack = np.repeat(x.reshape(1, -1), 8, axis=0)
    out = np.empty(12)
    fd.batched_central(lambda: np.tanh(stack @ w), stack, plan, [dout], out)
    looped = _numeric(lambda v: np.tanh(v @ w), x, dout)
    assert np.allclose(out, looped, rtol=1e-8, atol=1e-12)  # rounding differs, not math
    assert np.array_equal(stack, np.repeat(x.reshape(1, -1), 8, axis=0))  # restored


def _refine(fn, x: np.ndarray, i: int, dout: np.ndarray, low: float = -10, high: float = 10):
    buf = x.copy()
    plan = fd.plan_steps(buf, np.finfo(buf.dtype).eps, low, high)
    f0 = fn(buf.copy())
    return second_look.refine(lambda: fn(buf), buf, i, plan, np.finfo(buf.dtype).eps,
                     fd.make_projector([dout]), fd.make_noise([dout]), f0, low, high)


def test_second_look_sees_a_kink() -> None:
    x = np.array([0.0, 0.3])
    r = _refine(lambda v: np.maximum(v, 0.0), x, 0, np.ones(2))
    assert r.kink
    assert sorted((r.left, r.right)) == pytest.approx([0.0, 1.0])


def test_second_look_on_a_smooth_function_is_smooth_and_accurate() -> None:
    x = np.array([0.1234])
    r = _refine(lambda v: np.sin(200 * v), x, 0, np.ones(1))
    assert not r.kink and r.smooth
    assert r.estimate == pytest.approx(200 * np.cos(200 * 0.1234), rel=1e-8)
    assert r.error < 1e-4 * 200


def test_kink_near_a_bound_is_not_mistaken_for_a_smooth_slope() -> None:
    # relu(x - 1e-6) at x = 2e-7 with low = 0: the first step is one-sided and crosses the kink.
    x = np.array([2e-7])
    r = _refine(lambda v: np.maximum(v - 1e-6, 0.0), x, 0, np.ones(1), low=0.0, high=1.0)
    assert r.kink or not r.smooth
