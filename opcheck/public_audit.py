"""``opcheck.audit``: one op's audit as a user calls it from Python — looked up by name,
run (``frontend``), and judged by the op's own ``skip`` and ``xfail`` declarations as
``opcheck audit`` judges it (``expectation_reports``), so that a variant declared to
crash or hang never runs in the caller's process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo, PluginSpec
    from .result import OpReport
    from .spec import Op


def audit(
    op: Op | str,
    *,
    seed: int = 0,
    mode: str = "auto",
    inputs: Mapping[str, Any] | None = None,
    variant: str | None = None,
    plugins: Iterable[PluginSpec] = (),
    plugin: PluginInfo | None = None,
    order: int = 2,
    budget: float | None = None,
    expectations: bool = True,
) -> OpReport:
    """Audit ``op`` (an ``Op`` or a discovered op's name) and return its report.

    ``variant`` restricts the audit to one shape variant ("default", "N=1", ...);
    ``inputs`` fixes some or all input values (their shapes fix the symbolic dims);
    ``order=1`` skips the second-order check of ops that declare ``double_backward``.
    ``mode="auto"`` (the default) checks every element where that fits in ``budget``
    seconds (default ``budget.DEFAULT_BUDGET``, or ``$OPCHECK_BUDGET``), else projections
    plus a covering sample (docs/method.md); "full" and "fast" ignore the budget.
    The op's ``skip`` and ``xfail`` apply as in ``opcheck audit`` (with ``inputs``, the
    ``"*"`` and ``"given"`` selectors): a skipped variant never runs, and the status may
    be "skip", "xfail" or "xpass"; ``expectations=False`` runs every variant and reports
    its raw status.
    """
    from . import frontend
    from .engine import check_arguments
    from .expectation_reports import apply, audit_expected, selected_plan, skip_report
    from .expectations import GIVEN, declared

    check_arguments(mode, budget, order, seed)
    if isinstance(op, str):
        op, plugin = frontend.lookup(op, plugins, plugin)
    if not expectations or not declared(op):
        return frontend.audit(op, seed=seed, mode=mode, inputs=inputs, variant=variant,
                              plugin=plugin, order=order, budget=budget)
    plan = selected_plan(op, variant, given=inputs is not None)
    if plan.problem:  # a selector that matches no variant: the declaration's mistake
        report = frontend.error_report(op.name, plan.problem, seed, mode, plugin, variant, order)
    elif inputs is None:
        report = audit_expected(op, seed=seed, mode=mode, variant=variant, plugin=plugin,
                                order=order, budget=budget)
    elif GIVEN in plan.skip:  # "*" or "given": the values are not audited
        return apply(skip_report(op, plan, seed, mode, plugin), plan)
    else:
        report = plan.finish(frontend.audit(plan.audited(op), seed=seed, mode=mode,
                                            inputs=inputs, plugin=plugin, order=order,
                                            budget=budget))
    if inputs is not None:  # one variant, "given": nothing to point elsewhere
        return apply(report, plan)
    return apply(report, plan, lambda r, v: frontend.point_at(
        r, op, v, seed=seed, mode=mode, plugin=plugin, order=order, budget=budget))
