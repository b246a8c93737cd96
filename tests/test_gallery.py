"""The gallery (tests/gallery/): every bug gets its verdict, in full and in fast mode, naming
the right input; no correct op is flagged; kinks are reported as kinks, not failures."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gallery import Case, buggy, tricky

import opcheck

MODES = ["full", "fast"]
OTHER_SEEDS = range(1, 10)


def _params(cases: list[Case]) -> list:
    return [pytest.param(case, id=case.op.name) for case in cases]


def _failing_inputs(report) -> set[str]:
    return {i.name for v in report.variants for i in v.inputs if i.status == "fail"}


def _counts(report) -> dict[str, int]:
    total = {"pass": 0, "fail": 0, "nondifferentiable": 0, "unreliable": 0}
    for variant in report.variants:
        for item in variant.inputs:
            for outcome, n in item.counts.items():
                total[outcome] += n
    return total


def test_the_gallery_is_big_enough_and_well_formed() -> None:
    assert len(buggy.BUGS) >= 20 and len(tricky.CORRECT) >= 10 and len(tricky.KINKS) >= 3
    cases = buggy.BUGS + tricky.CORRECT + tricky.KINKS
    assert len({c.op.name for c in cases}) == len(cases), "op names must be unique"
    for case in buggy.BUGS:
        assert case.expected in ("fail", "error"), case.op.name
        assert case.wrong_inputs <= set(case.op.inputs), case.op.name
        # A fail names its input; an error names the function and argument in its message.
        assert case.wrong_inputs if case.expected == "fail" else case.match, case.op.name
    assert all(c.expected == "pass" for c in tricky.CORRECT + tricky.KINKS)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflowing backward warns
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", _params(buggy.BUGS))
def test_every_bug_is_flagged(case: Case, mode: str) -> None:
    report = opcheck.audit(case.op, seed=0, mode=mode)
    assert report.status == case.expected, f"{case.why}\n{report}"
    if case.match:
        assert re.search(case.match, report.message), report.message
    if case.expected == "fail":
        # Exactly the inputs with a wrong gradient fail; the correct ones beside them pass.
        assert _failing_inputs(report) == case.wrong_inputs, f"{case.why}\n{report}"
        if case.match is None:
            named = re.search(r"input '(\w+)'", report.message)
            assert named and named.group(1) in case.wrong_inputs, report.message
        assert report.max_rel_error is not None and report.max_rel_error > 1e-5


@pytest.mark.parametrize("case", _params([c for c in buggy.BUGS if c.hidden_in]))
def test_bugs_hidden_by_the_default_shapes_are_found_by_the_variants(case: Case) -> None:
    report = opcheck.audit(case.op, seed=0)
    status = {v.label: v.status for v in report.variants}
    assert set(case.hidden_in) <= set(status), status
    assert all(status[label] == "pass" for label in case.hidden_in), status
    assert case.expected in status.values(), status


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", _params(tricky.CORRECT + tricky.KINKS))
def test_no_correct_op_is_flagged(case: Case, mode: str) -> None:
    report = opcheck.audit(case.op, seed=0, mode=mode)
    assert report.status == "pass", f"{case.why}\n{report}"
    assert report.message == ""
    assert report.max_rel_error is not None  # something was compared
    if mode == "full":
        assert _counts(report)["fail"] == 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", _params(buggy.BUGS + tricky.CORRECT + tricky.KINKS))
def test_verdicts_are_not_an_accident_of_seed_0(case: Case) -> None:
    # Other seeds draw other inputs and douts: a verdict must hold for all of them.
    wrong = []
    for seed in OTHER_SEEDS:
        report = opcheck.audit(case.op, seed=seed)
        if report.status != case.expected or (
            case.expected == "fail" and _failing_inputs(report) != case.wrong_inputs
        ):
            wrong.append(f"seed {seed}: {report.status} ({report.message})")
    assert not wrong, f"{case.why}\n" + "\n".join(wrong)


@pytest.mark.parametrize("case", _params(tricky.KINKS))
def test_kinks_are_reported_as_nondifferentiable_not_as_failures(case: Case) -> None:
    report = opcheck.audit(case.op, seed=0)
    counts = _counts(report)
    assert report.status == "pass", str(report)
    assert counts["fail"] == 0 and counts["nondifferentiable"] > 0, counts


# --- the permutation bugs really are invisible to an unsigned projection ---------------

def _sample(op: opcheck.Op, rng: np.random.Generator) -> dict[str, np.ndarray]:
    dims = op.default_dims()
    values = {}
    for name, tensor in op.inputs.items():
        shape = tensor.concrete_shape(dims)
        low, high = tensor.bounds
        if np.dtype(tensor.dtype).kind == "f":
            values[name] = rng.uniform(low, high, size=shape).astype(tensor.dtype)
        else:
            values[name] = rng.integers(int(low), int(high), size=shape).astype(tensor.dtype)
    return values


def _directional(op: opcheck.Op, values: dict, name: str, direction: np.ndarray,
                 dout: np.ndarray, h: float = 1e-6) -> float:
    """<dout, J_name @ direction> by a central difference, in float64."""
    plus = {**values, name: values[name] + h * direction}
    minus = {**values, name: values[name] - h * direction}
    return float(np.sum(dout * (op.forward(**plus) - op.forward(**minus)))) / (2 * h)


@pytest.mark.parametrize("case", _params([c for c in buggy.BUGS if c.sum_preserving]))
def test_permutation_bugs_fool_an_all_ones_projection_but_not_fast_mode(case: Case) -> None:
    op, (name,) = case.op, case.wrong_inputs
    values = _sample(op, np.random.default_rng(0))
    out = op.forward(**values)
    dout = np.random.default_rng(1).standard_normal(np.shape(out))
    kwargs = {"out": out} if op.backward_takes_out() else {}
    grad = op.backward(dout=dout, **values, **kwargs)[name]
    ones = np.ones_like(values[name])
    # Along the all-ones direction the wrong gradient agrees with the finite difference...
    assert np.sum(grad) == pytest.approx(_directional(op, values, name, ones, dout), rel=1e-6)
    # ...while element by element it is wrong.
    numeric = np.array([
        _directional(op, values, name, np.eye(ones.size)[i].reshape(ones.shape), dout)
        for i in range(ones.size)
    ]).reshape(ones.shape)
    assert not np.allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    # Fast mode's signed projections see it, and the full re-check names the input.
    report = opcheck.audit(op, seed=0, mode="fast")
    assert report.status == "fail" and _failing_inputs(report) == {name}, str(report)


def test_the_variants_that_hide_a_bug_really_pass_when_audited_alone() -> None:
    case = next(c for c in buggy.BUGS if c.op.name == "bug.affine_bias_grad_mean")
    assert opcheck.audit(case.op, variant="N=1").status == "pass"
    assert opcheck.audit(case.op, variant="default").status == "fail"
