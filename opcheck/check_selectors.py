"""Selectors that name one check ("jvp", "adjoint", "double_backward", "backward") in
``Op.xfail`` / ``Op.skip`` and ``@pytest.mark.opcheck(xfail=..., skip=...)``.

Evaluated here, applied by the pytest plugin: a skipped check is removed from the op
before the audit; an expected failure of a check covers a variant whose failures all
belong to the checks declared.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from .result import CHECKS, OpReport, VariantResult, worst_status
from .spec import Op

#: A variant's linearity failure names its rule at the start of the message.
_LINEARITY = {"backward is not linear": "backward", "jvp is not linear": "jvp",
              "double_backward is not linear": "double_backward"}


def split(table: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the other selectors, the check selectors) of an xfail or skip table."""
    checks = {k: v for k, v in table.items() if k in CHECKS}
    return {k: v for k, v in table.items() if k not in checks}, checks


def without(op: Op, checks: Collection[str]) -> Op | None:
    """``op`` with the rules behind ``checks`` removed (None when no rule is left to check).
    Skipping ``backward`` also drops ``double_backward``, its derivative; skipping either
    of backward and jvp ends the adjoint test, which needs both (the adjoint test alone is
    dropped from the results instead: ``drop``)."""
    update: dict[str, None] = {}
    if "backward" in checks:
        update.update(backward=None, double_backward=None)
    if "jvp" in checks:
        update["jvp"] = None
    if "double_backward" in checks:
        update["double_backward"] = None
    slim = op.model_copy(update=update) if update else op
    return slim if slim.backward is not None or slim.jvp is not None else None


def failing_checks(variant: VariantResult) -> set[str] | None:
    """The checks behind a failing variant (None for an error: a broken contract is not
    the failure of any one check)."""
    if variant.status == "error":
        return None
    found = {item.check for item in variant.inputs if item.status == "fail"}
    for start, check in _LINEARITY.items():
        if variant.message.startswith(start):
            found.add(check)
    return found


def drop(variant: VariantResult, checks: Collection[str]) -> None:
    """Remove the results of ``checks`` from a variant; a failure that was only theirs
    becomes a pass."""
    variant.inputs = [item for item in variant.inputs if item.check not in checks]
    behind = failing_checks(variant)
    if variant.status == "fail" and behind is not None and not behind:
        variant.status, variant.message = "pass", ""


def drop_from_report(report: OpReport, checks: Collection[str]) -> None:
    """``drop`` on every variant of a report, its status and message following."""
    for variant in report.variants:
        drop(variant, checks)
    report.status = worst_status([v.status for v in report.variants])
    if report.status == "pass":
        report.message = report.reproduce = ""


def expected_failures(parts: Mapping[str, OpReport], failing: list[str],
                      checks: Mapping[str, str]) -> dict[str, str]:
    """Variant label → reason, for the failing variants whose every failure belongs to a
    check declared in ``checks`` (check → reason)."""
    expected = {}
    for label in failing:
        behind: set[str] = set()
        for variant in parts[label].variants:
            found = failing_checks(variant)
            if found is None:  # an error: no check selector covers it
                behind = set(CHECKS) | {"error"}
                break
            behind |= found
        declared = set(checks)
        if declared & {"jvp", "backward"}:  # the adjoint test fails with either wrong rule
            declared.add("adjoint")
        if behind and behind <= declared:
            expected[label] = "; ".join(f"{check}: {why}" for check, why in checks.items()
                                        if check in behind or check in ("jvp", "backward"))
    return expected
