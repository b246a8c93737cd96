"""The strided central sweep gives bitwise the numbers of ``batched_central``."""

from __future__ import annotations

import numpy as np
import pytest

from opcheck import finite_diff as fd
from opcheck import small_ops


def _sweep(sweep, x: np.ndarray, rows: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((x.size, 5)).astype(x.dtype)
    dout = rng.standard_normal(5)
    plan = fd.plan_steps(x, eps, -np.inf, np.inf)
    stack = np.repeat(x.reshape(1, -1), rows, axis=0)
    out = np.full(x.size, np.nan)
    sweep(lambda: np.tanh(stack @ w), stack, plan, [dout], out)
    return out, stack


@pytest.mark.parametrize("rows", [2, 8, 24, 64])  # one element per call up to all in one
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_central_sweep_equals_batched_central(rows: int, dtype: type) -> None:
    x = np.random.default_rng(1).standard_normal(12).astype(dtype)
    eps = float(np.finfo(dtype).eps)
    mine, stack = _sweep(small_ops.central_sweep, x, rows, eps)
    theirs, _ = _sweep(fd.batched_central, x, rows, eps)
    assert np.array_equal(mine, theirs)  # bitwise: reports must not move
    assert not np.isnan(mine).any()  # every element differenced
    assert np.array_equal(stack, np.repeat(x.reshape(1, -1), rows, axis=0))  # restored


def test_a_wrong_element_changes_only_its_own_derivative() -> None:
    """The strided writes hit row pair k at element k: a step written elsewhere would
    move other elements' differences."""
    x = np.random.default_rng(4).standard_normal(6)
    plan = fd.plan_steps(x, float(np.finfo(np.float64).eps), -np.inf, np.inf)
    stack = np.repeat(x.reshape(1, -1), 6, axis=0)
    out = np.empty(6)
    scale = np.arange(1.0, 7.0)
    small_ops.central_sweep(lambda: stack * scale, stack, plan, [np.ones(6)], out)
    assert np.allclose(out, scale, rtol=1e-9)
