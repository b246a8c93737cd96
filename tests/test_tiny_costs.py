"""The shortcuts that keep a tiny op's audit cheap give the answers of the long way round:
the small-array reductions, the one-pass result of an input whose every element is within
the tolerance, the step plan's arrays and flags, and the remembered seed states."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from opcheck import finite_diff as fd
from opcheck import reductions, sampling, summary, verdicts
from opcheck.checker import GradientChecker
from opcheck.spec import Op
from opcheck.tensor_spec import Tensor

ARRAYS = [
    np.array([1.0, np.nan, 3.0]),
    np.array([np.nan]),
    np.array([2.0, 5.0, -1.0]),
    np.array(3.0),
    np.array([[1.0, 9.0], [4.0, 2.0]]),
    np.array([1.5, 2.5], dtype=np.float32),
    np.array([0.0, -np.inf, np.inf]),
]


@pytest.mark.parametrize("a", ARRAYS, ids=range(len(ARRAYS)))
def test_small_reductions_equal_numpy_s(a: np.ndarray) -> None:
    np.testing.assert_array_equal(reductions.largest(a), a.max())  # NaN where numpy gives NaN
    np.testing.assert_array_equal(reductions.smallest(a), a.min())
    assert reductions.all_true(a) == bool(a.all())
    assert reductions.all_true(a > 2) == bool((a > 2).all())
    assert reductions.all_true(np.array([], bool)) and not reductions.all_true(np.array(False))


def _checker(fn) -> tuple[GradientChecker, np.ndarray]:
    op = Op(name="f", forward=fn, backward=lambda dout, x: {"x": dout},  # (not called)
            inputs={"x": Tensor(shape=(3, 4))})
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4))
    out = fn(x=x)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    return GradientChecker(op, {"x": x}, [dout], out, float(np.finfo(np.float64).eps)), dout


def _long_way(c: GradientChecker, analytic: np.ndarray, numeric: np.ndarray):
    plan = fd.plan_steps(c.bufs["x"], c.eps, -1.0, 1.0)
    flat = c.bufs["x"].reshape(-1)
    outcome, estimate, notes = verdicts.judge(c, "x", flat, plan, analytic, numeric.copy())
    return plan, summary.summarise("x", c.bufs["x"], "float64", analytic, numeric, estimate,
                                   outcome, plan, c.rtol, c.atol, notes)


def test_strict_pass_is_what_judge_and_summarise_make_of_an_all_strict_input() -> None:
    c, dout = _checker(lambda x: np.tanh(x) * 2.0)
    x = c.bufs["x"]
    analytic = (2.0 * dout * (1 - np.tanh(x) ** 2)).ravel()
    numeric = analytic * (1 + 1e-9 * np.linspace(-1, 1, analytic.size))  # within rtol
    plan, expected = _long_way(c, analytic, numeric)
    got = summary.strict_pass("x", x, "float64", analytic, numeric, plan, c.rtol, c.atol,
                              fd.NOISE_FACTOR * c.eps * c.output_scale)
    assert got is not None and got == expected  # every field, to the bit


def test_strict_pass_leaves_any_other_input_to_the_verdicts() -> None:
    c, dout = _checker(lambda x: np.tanh(x) * 2.0)
    analytic = (2.0 * dout * (1 - np.tanh(c.bufs["x"]) ** 2)).ravel()
    plan = fd.plan_steps(c.bufs["x"], c.eps, -1.0, 1.0)
    noise = fd.NOISE_FACTOR * c.eps * c.output_scale
    wrong = analytic.copy()
    wrong[5] *= 1.01  # one element outside the tolerance
    assert summary.strict_pass("x", c.bufs["x"], "float64", analytic, wrong, plan, c.rtol, c.atol,
                               noise) is None
    leaning = analytic.copy()  # one element off by more than rtol but within rounding
    leaning[2] += 3 * c.rtol * abs(analytic[2])
    assert summary.strict_pass("x", c.bufs["x"], "float64", analytic, leaning, plan, c.rtol,
                               1e-300, noise) is None
    nan = analytic.copy()
    nan[0] = np.nan
    assert summary.strict_pass("x", c.bufs["x"], "float64", analytic, nan, plan, c.rtol, c.atol,
                               noise) is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_step_plan_lists_and_flags_match_its_arrays(dtype: type) -> None:
    x = np.array([0.3, -0.999, 0.5, np.nextafter(dtype(1), dtype(0))], dtype=dtype)
    plan = fd.plan_steps(x, float(np.finfo(dtype).eps), -1.0, 1.0)
    assert plan.values == (plan.perturbed[0].tolist(), plan.perturbed[1].tolist())
    assert plan.original == x.tolist()
    assert plan.at is not x and plan.at.dtype == x.dtype
    assert plan.all_central == (not plan.kind.any())
    assert not plan.all_central  # the last element's x + h leaves [-1, 1]
    np.testing.assert_array_equal(plan.width, plan.nodes[0] - plan.nodes[1])
    inside = fd.plan_steps(np.array([0.1, -0.2], dtype=dtype), float(np.finfo(dtype).eps), -1.0, 1.0)
    assert inside.all_central and not inside.kind.any()


def test_rng_for_gives_the_seed_sequence_s_stream_every_time() -> None:
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        [3, zlib.crc32(b"matmul"), zlib.crc32(b"N=1")]))).standard_normal(8)
    for _ in range(3):  # the remembered state is copied, never consumed
        assert np.array_equal(sampling.rng_for(3, "matmul", "N=1").standard_normal(8), expected)
    assert not np.array_equal(sampling.rng_for(4, "matmul", "N=1").standard_normal(8), expected)
