"""opcheck.op_calls: the calls before the gradient checks, and the precision an output
really carries."""

from __future__ import annotations

import numpy as np
import pytest

from opcheck.contract import ContractError
from opcheck.op_calls import check_deterministic, precision
from opcheck.result import VariantResult

EPS32, EPS64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)


def _precision(out: np.ndarray) -> tuple[float, list[str]]:
    result = VariantResult(label="default", dims={}, seed=0)
    return precision(out, result), result.warnings


def test_a_float64_output_computed_in_float32_is_checked_at_float32_precision():
    out = np.random.default_rng(0).normal(size=20).astype(np.float32).astype(np.float64)
    eps, warnings = _precision(out)
    assert eps == EPS32 and "exact float32 numbers" in warnings[0]


@pytest.mark.parametrize("out", [
    np.random.default_rng(1).normal(size=20),  # a float64 computation
    np.array([0.0, 1.0, -2.0, 0.5, 3.0]),  # small numbers any precision holds exactly
    np.array([1.0, 3.0, -2.0, 5.0]) * 2.0**-53,  # residues of an exact cancellation
])
def test_outputs_that_prove_nothing_keep_float64_precision(out):
    eps, warnings = _precision(out)
    assert eps == EPS64 and warnings == []


def test_two_calls_that_differ_beyond_rounding_are_nondeterministic():
    a = np.ones(4)
    check_deterministic([a], [a + 1e-15])  # within rounding: fine
    with pytest.raises(ContractError, match=r"nondeterministic.*output 0 at index \(2,\)"):
        check_deterministic([a], [np.array([1.0, 1.0, 1.5, 1.0])])


def test_a_single_float64_output_computed_in_float32_is_recognised():
    # One value with more than 12 significant bits is a float32 number by chance with odds
    # 2^-29: a scalar loss computed in float32 is checked at float32's precision.
    out = np.array([np.float32(0.7371239)], dtype=np.float64)
    eps, warnings = _precision(out)
    assert eps == EPS32 and "exact float32 numbers" in warnings[0]
