"""Expectations applied to the batch front end (``opcheck audit``, its workers, the Dask
executor): an op every variant of which is skipped is never audited, a skipped variant
never starts, and each finished report is judged by the op's xfails. The decisions
themselves are made in ``expectations``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .expectations import Plan, declared, judge, plan_for
from .result import OpReport, VariantResult

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo
    from .spec import Op


def selected_plan(op: Op, variant: str | None, given: bool = False) -> Plan:
    """The op's declarations evaluated over the variants ``variant`` picks (a whole label
    or part of labels, as ``--variant``; all without one), or over ``given`` values."""
    from .configurations import matching
    from .expectations import GIVEN
    from .sampling import variants

    known = list(variants(op))
    labels = [GIVEN] if given else (matching(variant, known) if variant is not None else []) or known
    return plan_for(op, labels, known=known)


def skip_report(op: Op, plan: Plan, seed: int, mode: str, plugin: PluginInfo | None) -> OpReport:
    """The report of an op every variant of which is skipped: it is never audited."""
    return OpReport(name=op.name, status="skip", mode=mode, seed=seed,
                    plugin=plugin.name if plugin else None, message=plan.skip_reason(),
                    skipped=skipped_variants(plan))


def skipped_variants(plan: Plan) -> dict[str, str]:
    """Each variant of the run a skip selector leaves out, with its reason."""
    return {label: plan.skip[label].reason for label in plan.labels if label in plan.skip}


def audit_expected(op: Op, *, seed: int, mode: str, variant: str | None,
                   plugin: PluginInfo | None, order: int = 2,
                   budget: float | None = None) -> OpReport:
    """``opcheck.audit`` minus the variants and checks ``op`` skips (run where the op runs:
    a skipped variant that would crash or hang its worker never starts)."""
    from .configurations import matching
    from .frontend import audit, variant_shares

    plan = plan_for(op) if (op.skip or op.xfail) else None
    if plan is None or plan.problem or not (plan.skip or plan.check_skip):
        return audit(op, seed=seed, mode=mode, variant=variant, plugin=plugin, order=order,
                     budget=budget)
    if plan.skipped:
        return skip_report(op, plan, seed, mode, plugin)
    audited = plan.audited(op)
    labels = list(plan.labels)
    if variant is not None:  # a whole label, "default", or part of labels ("stride=2")
        labels = matching(variant, plan.labels) or [variant]
    run = [label for label in labels if label not in plan.skip]
    if not run:
        return skip_report(op, plan, seed, mode, plugin)
    if len(run) == len(labels) == len(plan.labels) and variant is None:
        return plan.finish(audit(audited, seed=seed, mode=mode, plugin=plugin, order=order,
                                 budget=budget))
    shares = variant_shares(audited, run, budget)  # the op's budget, as for all its variants
    parts = [audit(audited, seed=seed, mode=mode, variant=label, plugin=plugin, order=order,
                   budget=shares[label]) for label in run]
    return plan.finish(_joined(parts))


def _joined(parts: list[OpReport]) -> OpReport:
    """One report over the variants audited one by one, as ``audit`` gives for all."""
    from .result import worst_status

    bad = next((r for r in parts if r.status != "pass"), None)
    first = parts[0]
    return OpReport(
        name=first.name, status=worst_status([r.status for r in parts]), mode=first.mode,
        seed=first.seed, plugin=first.plugin, variants=[v for r in parts for v in r.variants],
        duration=sum(r.duration for r in parts), message=bad.message if bad else "",
        reproduce=bad.reproduce if bad else "", warnings=[w for r in parts for w in r.warnings],
    )


#: Makes a report's message and reproduce line those of one of its variants.
Repoint = Callable[[OpReport, VariantResult], None]


def apply(report: OpReport, plan: Plan, repoint: Repoint | None = None) -> OpReport:
    """``report`` with its status turned into xfail / xpass / skip where the op's
    declarations say so. Idempotent: a report already judged is returned as it is.
    Where a variant fails that no xfail covers while an expected one failed first,
    ``repoint`` makes the report name (and reproduce) the unexpected one."""
    if report.status not in ("pass", "fail", "error") or not (
            plan.xfail or plan.skip or plan.check_xfail or plan.check_skip or plan.problem):
        return report
    if plan.skip and not plan.problem:
        audited = {v.label for v in report.variants}
        report.skipped = {label: why for label, why in skipped_variants(plan).items()
                          if label not in audited}
    if plan.problem:
        report.status, report.message = "error", plan.problem
        return report
    if report.variants:
        statuses = {v.label: v.status for v in report.variants}
    elif report.status == "pass":
        return report
    else:  # it never reached a variant (a crash, a timeout): only a whole-op xfail covers it
        whole = {lb: x for lb, x in plan.xfail.items() if x.whole}
        statuses = {label: report.status for label in plan.labels if label not in plan.skip}
        if not whole:
            return report
    verdict = judge(statuses, plan.xfail, strict=True, by_check=plan.by_check(report),
                    check_xfail=plan.check_xfail)
    if verdict.status in ("fail", "error") and verdict.unexpected:
        report.status = verdict.status
        first = next((v for v in report.variants if v.label == verdict.unexpected[0]), None)
        if first is not None and repoint is not None and not report.message.startswith(
                f"variant {first.label}:"):
            repoint(report, first)
    if verdict.status == "xfail":
        report.status = "xfail"
        report.message = f"expected failure ({verdict.reason}): {report.message}".rstrip(": ")
    elif verdict.status == "xpass":
        selectors = sorted({plan.xfail[label].selector for label in verdict.xpassed
                            if label in plan.xfail} | set(plan.check_xfail))
        report.status = "xpass"
        report.xpassed = list(verdict.xpassed)
        report.message = (f"[XPASS(strict)] expected to fail ({verdict.reason}) but passes: "
                          f"remove {', '.join(repr(s) for s in selectors)} from the xfail of op "
                          f"{report.name!r}")
    return report


class Expectations:
    """The declared expectations of the ops of one batch run: ``settled`` gives the ops
    decided without running (all skipped, or a selector that matches nothing), and calling
    it on a finished op's report applies the op's xfails."""

    def __init__(self, registry: Any, names: Sequence[str], variant: str | None,
                 seed: int, mode: str, order: int = 2) -> None:
        self.registry, self.seed, self.mode, self.variant = registry, seed, mode, variant
        self.order = order
        self.plans: dict[str, Plan] = {}
        for name in names:
            op = registry.get(name)
            if op is not None and declared(op):
                self.plans[name] = selected_plan(op, variant)

    def settled(self, names: Iterable[str]) -> list[OpReport]:
        from .frontend import error_report

        out = []
        for name in names:
            plan = self.plans.get(name)
            if plan is None:
                continue
            plugin = self.registry.plugin_of.get(name)
            if plan.problem:
                out.append(error_report(name, plan.problem, self.seed, self.mode, plugin,
                                        self.variant, order=self.order))
            elif plan.skipped:
                out.append(skip_report(self.registry[name], plan, self.seed, self.mode, plugin))
        return out

    def __call__(self, report: OpReport) -> OpReport:
        plan = self.plans.get(report.name)
        if plan is None:
            return report
        from .frontend import point_at

        op, plugin = self.registry[report.name], self.registry.plugin_of.get(report.name)
        return apply(report, plan, lambda r, v: point_at(
            r, op, v, seed=self.seed, mode=self.mode, plugin=plugin, order=self.order))
