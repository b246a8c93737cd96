"""The pytest plugin's decisions for one op item: its ``opcheck`` markers evaluated into
settings, skips and expected failures, then the audit run and its verdict applied
(skip, xfail, xpass, failure). Used by the collected op items and by the fixture.

Only pytest and the standard library at import time, like ``pytest_plugin``.
"""

from __future__ import annotations

import shlex
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from .choices import did_you_mean

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo
    from .result import OpReport
    from .spec import Op


MARKER = "opcheck"
#: The collector holding the op items: their node ids are ``opcheck::<op name>``.
COLLECTOR_NAME = "opcheck"
_MARKER_KWARGS = ("seed", "mode", "xfail", "skip", "strict")
_XPASS = pytest.StashKey[str]()
#: How the reason of an expected failure from ``--opcheck-baseline`` starts.
_BASELINE = "baseline: "
_REGISTRY = pytest.StashKey["_Plugins"]()
#: The report ``run_checks`` made, kept on the item before an expected failure ends it.
AUDITED = pytest.StashKey["OpReport"]()


class PluginImportError(Exception):
    """A plugin module named in the ini file or on the command line cannot be imported."""


def _hint(name: str, names: list[str], modules: Sequence[str] = ()) -> str:
    """The nearest op names, else the command that lists them all (with the plugin
    modules the ini file or --opcheck-plugin named: ``opcheck list`` alone misses them)."""
    close = did_you_mean(name, names)
    listing = shlex.join(["opcheck", "list", *(part for m in modules for part in ("-p", m))])
    return f"; {close}" if close else f"; the {len(names)} discovered ops are listed by `{listing}`"


def plugin_modules(config: pytest.Config) -> list[str]:
    """The plugin modules the ini file and --opcheck-plugin name (not the blocked ones)."""
    named = [*config.getini("opcheck_plugins"), *(config.getoption("opcheck_plugin") or [])]
    blocked = {m.removeprefix("no:") for m in named if m.startswith("no:")}
    return [m for m in dict.fromkeys(named) if not m.startswith("no:") and m not in blocked]


def _where(op: Op | None, plugin: PluginInfo | None) -> tuple[str | None, int]:
    """Where the op's forward is defined, else its plugin's file: (path, 1-based line)."""
    code = getattr(getattr(op, "forward", None), "__code__", None)
    if code is not None:
        return code.co_filename, code.co_firstlineno
    return (plugin.file if plugin else None), 1


class OpcheckWarning(UserWarning):
    """Something a passing audit noticed: a gradient returned for a non-differentiable
    input, or an input where no element could be verified."""


class OpFailure(Exception):
    """An op item failed: the message is the whole readable report."""


# -- settings, skips and expected failures ---------------------------------------------


def _marker_kwargs(node: pytest.Item) -> list[dict[str, Any]]:
    """The kwargs of every ``opcheck`` marker on ``node``, closest first, checked."""
    found = []
    for mark in node.iter_markers(MARKER):
        unknown = sorted(set(mark.kwargs) - set(_MARKER_KWARGS))
        if mark.args or unknown:
            given = [repr(a) for a in mark.args] + [f"{k}=" for k in unknown]
            _fail(f"@pytest.mark.opcheck got {', '.join(given)}; it takes only the keyword "
                  f"arguments {', '.join(k + '=' for k in _MARKER_KWARGS)}")
        found.append(mark.kwargs)
    return found


def setting(node: pytest.Item, key: str, explicit: Any = None) -> Any:
    """seed or mode: the explicit argument, else the closest marker, else the command
    line (``--opcheck-seed``, ``--opcheck-mode``), else opcheck's default."""
    if explicit is not None:
        return explicit
    for kwargs in _marker_kwargs(node):
        if kwargs.get(key) is not None:
            return kwargs[key]
    value = node.config.getoption(f"opcheck_{key}")
    if value is not None:
        return value
    return {"seed": 0, "mode": "auto"}[key]


def _selectors(value: Any, kind: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"*": value}
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(r, str)
                                          for k, r in value.items()):
        return dict(value)
    _fail(f"{kind}={value!r}: give a reason (the whole op) or a dict selector -> reason, "
          "where a selector is '*', a variant label such as 'N=1', a dtype name, or a check "
          "('backward', 'jvp', 'adjoint', 'double_backward')")


def expectations(node: pytest.Item, op: Op) -> tuple[dict[str, str], dict[str, str], bool]:
    """(xfail, skip, strict): the op's own declarations, overridden selector by selector
    by ``opcheck`` markers from the farthest (module) to the closest (the test itself)."""
    xfail, skip = dict(op.xfail), dict(op.skip)
    known = node.config.stash[_REGISTRY].baseline().get(op.name)
    if known is not None:
        xfail.setdefault("*", f"{_BASELINE}{known}")
    strict = node.config.getini("opcheck_xfail_strict")
    for kwargs in reversed(_marker_kwargs(node)):
        xfail.update(_selectors(kwargs.get("xfail"), "xfail"))
        skip.update(_selectors(kwargs.get("skip"), "skip"))
        if kwargs.get("strict") is not None:
            strict = bool(kwargs["strict"])
    if node.config.option.runxfail:
        xfail = {}
    return xfail, skip, strict


def run_checks(
    node: pytest.Item, op: Op, plugin: PluginInfo | None, *, seed: int, mode: str,
    values: Mapping[str, Any] | None = None, variant: str | None = None,
    reproduce: str | None = None,
) -> tuple[OpReport, str | None]:
    """Audit ``op`` for ``node`` honouring its skips and expected failures.

    Skips and expected failures end the test (``pytest.skip`` / ``pytest.xfail``);
    otherwise returns the report of the variants run and the failure text, if any.
    """
    __tracebackhide__ = True
    from . import check_selectors
    from .expectations import judge, plan_for

    xfail, skip, strict = expectations(node, op)
    known, labels = _labels(op, values, variant)
    plan = plan_for(op, labels, known=known, xfail=xfail, skip=skip)
    if plan.problem:
        _fail(plan.problem)
    if plan.skipped:
        _skip(plan.skip_reason())
    run = [label for label in labels if label not in plan.skip]
    parts = _audit_parts(node, plan.audited(op), run, values, seed, mode, plugin)
    for part in parts.values():
        plan.finish(part)
    if reproduce is not None:
        for part in parts.values():
            part.reproduce = reproduce if part.status != "pass" else ""
    report = _merge(op, parts, seed, mode, plugin)
    node.stash[AUDITED] = report
    _warn(report, op, plugin)
    failing = [label for label, part in parts.items() if part.status != "pass"]
    by_check = check_selectors.expected_failures(parts, failing, plan.check_xfail)
    verdict = judge({label: part.status for label, part in parts.items()}, plan.xfail,
                    strict=strict, by_check=by_check, check_xfail=plan.check_xfail)
    if verdict.status in ("fail", "error"):
        return report, _failure_text(parts, list(verdict.unexpected), len(run))
    if verdict.status == "xpass":
        where = f": {verdict.reason}" if verdict.whole else f", {verdict.reason}"
        return report, _xpass(node, f"op {op.name!r}{where}", strict)
    if verdict.status == "xfail":
        pytest.xfail(verdict.reason)
    return report, None


def _labels(op: Op, values: Mapping[str, Any] | None,
            variant: str | None) -> tuple[list[str], list[str]]:
    """(the op's variant labels, those to audit): ``variant`` picks as ``opcheck audit
    --variant`` does (``configurations.matching``: part of a label, such as ``stride=2``,
    picks every variant holding it); with ``values`` the one variant is ``given``."""
    __tracebackhide__ = True
    from .configurations import matching
    from .expectations import GIVEN
    from .sampling import variants

    known = list(variants(op))
    labels = [GIVEN] if values is not None else known
    if variant is None:
        return known, labels
    chosen = matching(variant, labels) if values is None else [v for v in labels if v == variant]
    if not chosen:
        _fail(f"op {op.name!r} has no variant {variant!r}; its variants are {', '.join(labels)}")
    return known, chosen


def _audit_parts(node: pytest.Item, op: Op, run: list[str], values: Mapping[str, Any] | None,
                 seed: int, mode: str, plugin: PluginInfo | None) -> dict[str, OpReport]:
    """Variant label → the report of that variant alone (``given`` for fixed values)."""
    __tracebackhide__ = True
    from .budget import resolve
    from .errors import OpcheckError
    from .frontend import audit, variant_shares

    try:
        # The op's budget (--opcheck-budget, else $OPCHECK_BUDGET or 5 s) is shared among
        # the variants it runs as `opcheck audit` shares it; each is then audited alone.
        budget = resolve(node.config.getoption("opcheck_budget", None))
        if values is not None:
            return {"given": audit(op, seed=seed, mode=mode, inputs=values, plugin=plugin,
                                   budget=budget)}
        shares = variant_shares(op, run, budget)
        return {label: audit(op, seed=seed, mode=mode, variant=label, plugin=plugin,
                             budget=shares[label]) for label in run}
    except OpcheckError as exc:  # a bad seed, mode or input value: the test's own mistake
        _fail(str(exc))
    except (GeneratorExit, SystemExit) as exc:  # op code that got past every rule's net
        from .exits import stopped

        _fail(f"{op.name}: ERROR — the audit stopped: {stopped(exc)}")


def _warn(report: OpReport, op: Op, plugin: PluginInfo | None) -> None:
    """A passing audit's warnings as ``OpcheckWarning``s pointing at the op's forward."""
    path, line = _where(op, plugin)
    for warning in report.warnings if report.status == "pass" else ():
        warnings.warn_explicit(f"op {op.name!r}, variant {warning}", OpcheckWarning,
                               path or "<unknown>", line)


def _xpass(node: pytest.Item, reason: str, strict: bool) -> str | None:
    if strict:
        fix = ("its entry from the --opcheck-baseline file" if _BASELINE in reason
               else "the xfail declaration (or mark it strict=False)")
        return f"[XPASS(strict)] {reason}\nIt was expected to fail and now passes: remove {fix}."
    node.stash[_XPASS] = reason
    return None


def _failure_text(parts: Mapping[str, OpReport], unexpected: list[str], total: int) -> str:
    from .report import format_op

    lines = format_op(parts[unexpected[0]]).splitlines()
    if len(unexpected) > 1:
        at = len(lines) - 1 if lines[-1].startswith("Reproduce:") else len(lines)
        lines.insert(at, f"Failing variants: {', '.join(unexpected)} ({len(unexpected)} of "
                         f"{total}); the first is shown")
    return "\n".join(lines)


def _merge(op: Op, parts: Mapping[str, OpReport], seed: int, mode: str,
           plugin: PluginInfo | None) -> OpReport:
    """One report over the variants that ran, as ``opcheck.audit`` returns for all."""
    from .result import OpReport, worst_status

    reports = list(parts.values())
    bad = next((r for r in reports if r.status != "pass"), None)
    return OpReport(
        name=op.name, status=worst_status([r.status for r in reports]), mode=mode, seed=seed,
        plugin=plugin.name if plugin else None,
        variants=[v for r in reports for v in r.variants],
        duration=sum(r.duration for r in reports),
        message=bad.message if bad else "", reproduce=bad.reproduce if bad else "",
        warnings=[w for r in reports for w in r.warnings],
    )


def _skip(reason: str) -> NoReturn:
    """Skip, reported at the test's (or the op's) location rather than this file's."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


def _fail(message: str) -> NoReturn:
    """Fail the test with ``message`` alone; ``from None``: raised while handling an
    ``OpcheckError``, pytest would print the message twice ("During handling of ...")."""
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None


# -- the fixture -------------------------------------------------------------------------
