"""Every bug in the gallery is flagged with the right outcome; no correct op is."""

from __future__ import annotations

import re

import pytest
from bug_gallery import BUGS, CORRECT, KINKS, Case

import opcheck


def _params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.op.name) for c in cases]


def _failing_inputs(report: opcheck.OpReport) -> set[str]:
    return {i.name for v in report.variants for i in v.inputs if i.status == "fail"}


def test_the_gallery_is_big_enough() -> None:
    assert len(BUGS) >= 20 and len(CORRECT) + len(KINKS) >= 10


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", _params(BUGS))
def test_every_bug_is_flagged(case: Case, mode: str) -> None:
    report = opcheck.audit(case.op, mode=mode)
    assert report.status == case.expected, f"{case.why}: {report}"
    if case.match:
        assert case.match in report.message, report.message
    if case.input and not (case.match and "linear" in case.match):
        # The report names the right input, with its worst element and both values.
        assert case.input in _failing_inputs(report), str(report)
        text = str(report)
        assert re.search(rf"input '{re.escape(case.input)}'", text)
        assert "analytic" in text and "numeric" in text
    assert report.reproduce


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", _params(CORRECT + KINKS))
def test_no_correct_op_is_flagged(case: Case, mode: str) -> None:
    report = opcheck.audit(case.op, mode=mode)
    assert report.status == "pass", f"{case.why}: {report}"


@pytest.mark.parametrize("case", _params(KINKS))
def test_kinks_are_reported_as_such(case: Case) -> None:
    report = opcheck.audit(case.op)
    counts = {k: sum(i.counts[k] for v in report.variants for i in v.inputs)
              for k in ("pass", "fail", "nondifferentiable", "unreliable")}
    assert counts["fail"] == 0
    assert counts["nondifferentiable"] > 0, counts
    assert "kink" in str(report)


def test_square_defaults_are_broken_up_by_the_variants() -> None:
    case = next(c for c in BUGS if c.op.name == "bug.mean_divides_by_wrong_axis")
    report = opcheck.audit(case.op)
    assert report.variants[0].label == "default" and report.variants[0].status == "pass"
    assert {v.label for v in report.variants if v.status == "fail"} >= {"N=1", "D=1"}


def test_a_missing_transpose_on_square_shapes_is_a_mismatch_in_x_then_a_raise() -> None:
    case = next(c for c in BUGS if c.op.name == "bug.matmul_missing_transpose")
    report = opcheck.audit(case.op)
    default = report.variants[0]
    assert default.status == "fail" and [i.name for i in default.inputs if i.status == "fail"] == ["x"]
    assert report.failing_variant().label != "default"  # the error is what the op reports


def test_batch_of_one_passes_where_the_bias_bug_hides() -> None:
    case = next(c for c in BUGS if c.op.name == "bug.bias_batch_of_one")
    assert opcheck.audit(case.op, variant="N=1").status == "pass"
    assert opcheck.audit(case.op, variant="default").status == "fail"


def test_an_unsigned_projection_would_miss_the_permutation_bugs() -> None:
    # Why fast mode uses signed directions: with d = all ones, these bugs cancel exactly.
    import numpy as np

    from opcheck.sampling import rng_for, sample_inputs

    for name in ("bug.gradient_rolled", "bug.weight_grad_transposed"):
        op = next(c.op for c in BUGS if c.op.name == name)
        values = sample_inputs(op, op.default_dims(), rng_for(0, name, "default"))
        out = op.forward(**values)
        dout = np.ones_like(out)
        grads = op.backward(dout=dout, **values)
        true = {"bug.gradient_rolled": lambda: 2 * values["x"],
                "bug.weight_grad_transposed": lambda: values["x"].T @ dout}[name]()
        wrong = grads["x"] if name == "bug.gradient_rolled" else grads["w"]
        assert np.isclose(wrong.sum(), true.sum()) and not np.allclose(wrong, true)
