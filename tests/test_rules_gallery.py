"""The derivative-rules gallery (tests/gallery/rules.py): every jvp, second-order and
complex bug is caught by the check it belongs to, in the default, full and fast modes; no
correct op is flagged."""

from __future__ import annotations

import pytest
from gallery.rules import BUGS, CORRECT, RuleCase

import opcheck

MODES = [None, "full", "fast"]  # None: the default mode, as `opcheck audit` without --mode


def _params(cases: list[RuleCase]) -> list:
    return [pytest.param(c, id=c.op.name) for c in cases]


def _audit(case: RuleCase, mode: str | None) -> opcheck.OpReport:
    return opcheck.audit(case.op) if mode is None else opcheck.audit(case.op, mode=mode)


def test_the_gallery_covers_every_new_check() -> None:
    checks = {c.check for c in BUGS}
    assert {"jvp", "adjoint", "double_backward", "backward"} <= checks
    assert len(BUGS) >= 12 and len(CORRECT) >= 12


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", _params(BUGS))
def test_every_rule_bug_is_caught_by_its_check(case: RuleCase, mode: str | None) -> None:
    report = _audit(case, mode)
    assert report.status == case.expected, f"{case.why}: {report}"
    if case.match:
        assert case.match in report.message, report.message
    if case.check:
        failing = {(i.check, i.name) for v in report.variants for i in v.inputs if i.status == "fail"}
        assert (case.check, case.input) in failing, f"{case.why}: {failing}\n{report}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", _params(CORRECT))
def test_no_correct_rule_is_flagged(case: RuleCase, mode: str | None) -> None:
    report = _audit(case, mode)
    assert report.status == "pass", f"{case.why}: {report}"


def test_the_adjoint_test_holds_the_transposition_to_machine_precision() -> None:
    case = next(c for c in BUGS if c.op.name == "rules.adjoint_transposed")
    report = opcheck.audit(case.op, variant="default")
    adjoint = next(i for i in report.variants[0].inputs if i.check == "adjoint" and i.name == "x")
    assert adjoint.status == "fail"
    assert adjoint.rtol < 1e-12  # rounding only: no finite-difference tolerance involved
    correct = next(c for c in CORRECT if c.op.name == "rules.ok.tanh_all_rules")
    passed = opcheck.audit(correct.op, variant="default").variants[0].inputs
    assert all(i.worst.abs_error <= 1e-14 for i in passed if i.check == "adjoint")
