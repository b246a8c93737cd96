"""What every front end (``opcheck.audit``, the CLI, its workers, the Dask executor, the
pytest plugin) says about an op in the same words: ops looked up by name, the command that
reproduces an audit, and the ``error`` report of an op whose audit produced none (a crash,
a timeout, a lost worker).

The audit core (``engine``) knows neither plugins nor command lines; this layer does.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .result import OpReport, VariantResult

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo, PluginSpec
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
) -> OpReport:
    """Audit ``op`` (an ``Op`` or a discovered op's name) and return its report, every
    variant run as it is (``public_audit.audit``, which is ``opcheck.audit``, applies the
    op's skip and xfail declarations on top).

    ``variant`` restricts the audit to one shape variant ("default", "N=1", ...);
    ``inputs`` fixes some or all input values (their shapes fix the symbolic dims);
    ``order=1`` skips the second-order check of ops that declare ``double_backward``.
    ``mode="auto"`` (the default) checks every element where that fits in ``budget``
    seconds (default ``budget.DEFAULT_BUDGET``, or ``$OPCHECK_BUDGET``), else projections
    plus a covering sample (docs/method.md); "full" and "fast" ignore the budget.
    """
    from . import blas_threads
    from .engine import audit_op, check_arguments
    from .errors import UsageError
    from .spec import Op

    check_arguments(mode, budget, order, seed)
    if not isinstance(op, (Op, str)):
        raise UsageError(f"op={op!r}: op must be an opcheck.Op or the name of a discovered op "
                         "(`opcheck list` shows them)")
    if isinstance(op, str):
        op, plugin = lookup(op, plugins, plugin)
    with blas_threads.limited():  # the pool a default run's workers get (docs/benchmarks.md)
        report = audit_op(op, seed=seed, mode=mode, inputs=inputs, variant=variant,
                          order=order, budget=budget)
    report.plugin = plugin.name if plugin else None
    bad = report.failing_variant()
    if bad is not None and inputs is None:  # (with inputs: the caller's own call reruns it)
        point_at(report, op, bad, seed=seed, mode=mode, plugin=plugin, order=order, budget=budget)
    return report


def point_at(report: OpReport, op: Op, bad: VariantResult, *, seed: int, mode: str,
             plugin: PluginInfo | None, order: int = 2, budget: float | None = None) -> None:
    """Make ``report``'s message and reproduce line those of variant ``bad`` (the first
    failing one, or the first an xfail does not cover)."""
    report.message = f"variant {bad.label}: {bad.message}"
    share = _variant_budget(op, report, mode, budget, bad)
    if plugin is None:  # an Op object from Python: the CLI could not find it by name
        mode_arg = f", mode={mode!r}" if mode != "auto" else ""
        order_arg = ", order=1" if order == 1 else ""
        budget_arg = f", budget={share:.6g}" if share is not None else ""
        report.reproduce = (f"opcheck.audit(op, seed={seed}, variant={bad.label!r}{mode_arg}{order_arg}"
                            f"{budget_arg})  # op: your Op {op.name!r}")
    else:
        report.reproduce = reproduce_command(op.name, seed, mode, bad.label, plugin, order=order,
                                             in_process=False, budget=share)


def _variant_budget(op: Op, report: OpReport, mode: str, budget: float | None,
                    bad: VariantResult) -> float | None:
    """The budget ``bad`` had, where its check was sampled: the op's budget is shared
    among its variants, so ``--variant`` alone would give that one variant all of it (a
    larger sample, another report). None where every element was compared."""
    if mode != "auto" or all(i.coverage.startswith("all ") for i in bad.inputs if i.coverage):
        return None
    return variant_shares(op, [v.label for v in report.variants], budget)[bad.label]


def variant_shares(op: Op, labels: list[str], budget: float | None) -> dict[str, float]:
    """Label → the budget ``opcheck.audit`` gives that variant when ``labels`` run
    together (``engine.variant_budgets``); a label outside the op's plan, such as
    ``given``, has the whole budget."""
    from . import budget as budgets
    from . import configurations
    from .engine import variant_budgets

    plan = configurations.plan(op)
    shares = variant_budgets(op, {label: plan[label] for label in labels if label in plan}, budget)
    return {label: shares.get(label, budgets.resolve(budget)) for label in labels}


def lookup(name: str, plugins: Iterable[PluginSpec],
            plugin: PluginInfo | None) -> tuple[Op, PluginInfo | None]:
    """The op discovered under ``name`` and its plugin; a ``UsageError`` with the nearest
    names, or the op's own declaration error, when there is none."""
    from .choices import did_you_mean
    from .errors import UsageError
    from .plugin_manager import discover

    registry = discover(plugins)
    if name not in registry:
        declared = [err for err in registry.errors if err.op == name]
        if declared:  # the op exists but its declaration is invalid: say what is wrong
            raise declared[0]
        hint = did_you_mean(name, registry) or "`opcheck list` shows every op"
        broken = "".join(f"\n  (could not load: {err})" for err in registry.errors if err.op is None)
        raise UsageError(f"no op named {name!r}; {hint}{broken}")
    return registry[name], plugin or registry.plugin_of[name]


def error_report(
    name: str, message: str, seed: int, mode: str, plugin: PluginInfo | None,
    variant: str | None = None, order: int = 2,
) -> OpReport:
    """An ``error`` entry for an op whose audit produced no report of its own."""
    return OpReport(
        name=name, status="error", mode=mode, seed=seed,
        plugin=plugin.name if plugin else None, message=message,
        reproduce=reproduce_command(name, seed, mode, variant, plugin, order=order),
    )


def reproduce_command(
    name: str, seed: int, mode: str, variant: str | None, plugin: PluginInfo | None,
    *, order: int = 2, in_process: bool = True, budget: float | None = None,
) -> str:
    """The command that audits this one op alone; ``in_process`` adds ``--jobs 1``, where a
    crash shows its own traceback. A plugin object that is not a module cannot be named
    on a command line (``-p`` imports modules): its line is the Python call."""
    if plugin is not None and plugin.source == "-p" and not isinstance(plugin.module, ModuleType):
        args = [f"seed={seed}", *([f"variant={variant!r}"] if variant is not None else []),
                *([f"mode={mode!r}"] if mode != "auto" else []), *(["order=1"] if order == 1 else []),
                *([f"budget={budget:.6g}"] if budget is not None else [])]
        return (f"opcheck.audit({name!r}, plugins=[plugin], {', '.join(args)})"
                f"  # plugin: your {type(plugin.module).__name__} object")
    parts = ["opcheck", "audit", name]
    if plugin is not None and plugin.source == "-p":
        parts += ["-p", plugin.name]
    parts += ["--seed", str(seed)]
    if variant is not None:
        parts += ["--variant", variant]
    if mode != "auto":
        parts += ["--mode", mode]
    if order == 1:
        parts += ["--order", "1"]
    if budget is not None:
        parts += ["--budget", f"{budget:.6g}"]
    return shlex.join([*parts, "--jobs", "1"] if in_process else parts)
