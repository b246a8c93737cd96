"""Known failures and skips: ``Op.xfail`` / ``Op.skip`` selectors turned into decisions.

One place decides, every front end applies (as pytest's ``skipping.py`` evaluates marks
into small frozen ``Skip``/``Xfail`` objects): the CLI and the batch runner call
``plan_for`` before an op runs, ``expectation_reports.audit_expected`` in the worker (it
leaves skipped variants out) and ``expectation_reports.apply`` to the report that comes back; the pytest plugin calls
``judge`` and raises ``pytest.skip`` / ``pytest.xfail`` itself.

A selector is ``"*"`` (the whole op), a check (``"backward"``, ``"jvp"``, ``"adjoint"``,
``"double_backward"``: see ``check_selectors``), or labels separated by spaces, all of
which a variant must carry: its label (``default``, ``N=1``, and each ``name=value`` part
of a label that holds several, such as an attr configuration) and the dtypes of the op's
inputs. New kinds of label plug in through ``variant_labels`` alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .result import CHECKS, OpReport

if TYPE_CHECKING:
    from .spec import Op

WHOLE_OP = "*"
#: Statuses an expectation gives an op; together with pass/fail/error, every status.
EXPECTED_STATUSES = ("xfail", "xpass", "skip")
#: Statuses that do not fail a run (exit 0).
OK_STATUSES = ("pass", "xfail", "skip")
#: The variant label of values given to the pytest fixture (``assert_gradients(values=)``).
GIVEN = "given"


@dataclass(frozen=True)
class Skip:
    """Do not audit: the selector that matched and the declared reason."""

    selector: str
    reason: str
    whole: bool = False  # the selector holds every variant: "*", the op's dtype, a check


@dataclass(frozen=True)
class Xfail:
    """Expected to fail: a pass where this applies is an XPASS (strict: a failure)."""

    selector: str
    reason: str
    whole: bool = False


@dataclass(frozen=True)
class Plan:
    """What the declarations say about one op before it runs."""

    skip: dict[str, Skip] = field(default_factory=dict)  # variant label → the skip
    xfail: dict[str, Xfail] = field(default_factory=dict)  # variant label → the xfail
    labels: tuple[str, ...] = ()  # every variant label, in audit order
    problem: str | None = None  # a selector that can match nothing (a typo)
    check_xfail: dict[str, str] = field(default_factory=dict)  # check → reason
    check_skip: dict[str, str] = field(default_factory=dict)  # check → reason
    no_rule_left: bool = False  # the skipped checks leave no derivative rule to audit

    @property
    def skipped(self) -> bool:
        return self.no_rule_left or (
            bool(self.labels) and all(label in self.skip for label in self.labels))

    def skip_reason(self) -> str:
        if self.no_rule_left:
            return "; ".join(f"{check}: {why}" for check, why in self.check_skip.items())
        return _reasons(self.skip, [label for label in self.labels if label in self.skip])

    def audited(self, op: Op) -> Op:
        """``op`` without the rules of the skipped checks."""
        from . import check_selectors

        return check_selectors.without(op, self.check_skip) or op if self.check_skip else op

    def finish(self, report: OpReport) -> OpReport:
        """Drop the results of a skipped adjoint test (it has no rule to remove)."""
        if "adjoint" in self.check_skip:
            from . import check_selectors

            check_selectors.drop_from_report(report, {"adjoint"})
        return report

    def by_check(self, report: OpReport) -> dict[str, str]:
        """Failing variant label → reason, where every failure belongs to an xfailed check."""
        if not self.check_xfail:
            return {}
        from . import check_selectors

        parts = {v.label: OpReport(name=report.name, status=v.status, mode=report.mode,
                                   seed=report.seed, variants=[v]) for v in report.variants}
        failing = [label for label, part in parts.items() if part.status != "pass"]
        return check_selectors.expected_failures(parts, failing, self.check_xfail)


@dataclass(frozen=True)
class Verdict:
    """``judge``'s answer: the op's status and why."""

    status: str
    reason: str = ""
    whole: bool = False  # the reason is the op's, not one variant's
    unexpected: tuple[str, ...] = ()  # failing variants no xfail covers
    xpassed: tuple[str, ...] = ()  # variants declared xfail that passed


def variant_labels(op: Op, label: str, first: str | None = None) -> frozenset[str]:
    """Every label a selector can name for one variant of ``op``; the ``first`` variant
    (the declared dims and attrs) is also ``default``, whatever its label."""
    dtypes = {str(getattr(t, "dtype", "")) for t in op.inputs.values()}
    default = {"default"} if label == first else set()
    return frozenset({label, *label.split(), *dtypes, *default})


def matches(selector: str, labels: Iterable[str]) -> bool:
    """``"*"``, or every space-separated part of ``selector`` among ``labels``."""
    if selector.strip() == WHOLE_OP:
        return True
    held = set(labels)
    parts = selector.split()
    return bool(parts) and all(part in held or _dtype(part) in held for part in parts)


def unknown_selectors(op: Op, labels: Sequence[str], table: Mapping[str, str], kind: str) -> str | None:
    """A message naming the first selector that matches no variant (a typo would silently
    declare nothing); a dtype name the op does not use is fine (it simply does not apply)."""
    sets = [variant_labels(op, label, labels[0] if labels else None) for label in labels]
    for selector in table:
        if selector in (WHOLE_OP, GIVEN) or any(matches(selector, s) for s in sets):
            continue
        if all(_dtype(part) is not None for part in selector.split()) and selector.split():
            continue
        return (f"{kind} selector {selector!r} of op {op.name!r} matches nothing: use '*' "
                f"(the whole op), a dtype name such as 'float32', one of its variant "
                f"labels {', '.join(labels)}, or a check ({', '.join(map(repr, CHECKS))})")
    return None


def plan_for(op: Op, labels: Sequence[str] | None = None, *, known: Sequence[str] | None = None,
             xfail: Mapping[str, str] | None = None, skip: Mapping[str, str] | None = None) -> Plan:
    """Evaluate the selectors of ``op`` (or the given tables) over ``labels`` (default: its
    variants); ``known`` are the labels a selector is checked against (default ``labels``)."""
    from . import check_selectors

    xfail, check_xfail = check_selectors.split(op.xfail if xfail is None else xfail)
    skip, check_skip = check_selectors.split(op.skip if skip is None else skip)
    if labels is None:
        from .sampling import variants

        labels = list(variants(op))
    checks = {"check_xfail": check_xfail, "check_skip": check_skip,
              "no_rule_left": bool(check_skip) and check_selectors.without(op, check_skip) is None}
    if not xfail and not skip:
        return Plan(labels=tuple(labels), **checks)
    known = labels if known is None else known
    problem = (unknown_selectors(op, known, xfail, "xfail")
               or unknown_selectors(op, known, skip, "skip"))
    first = known[0] if known else None
    every = [variant_labels(op, label, first) for label in known]
    skips: dict[str, Skip] = {}
    xfails: dict[str, Xfail] = {}
    for label in labels:
        held = variant_labels(op, label, first)
        hit = _first(skip, held)
        if hit is not None:
            skips[label] = Skip(*hit, whole=all(matches(hit[0], s) for s in every))
        hit = _first(xfail, held)
        if hit is not None:
            xfails[label] = Xfail(*hit, whole=all(matches(hit[0], s) for s in every))
    return Plan(skips, xfails, tuple(labels), problem, **checks)


def _first(table: Mapping[str, str], labels: frozenset[str]) -> tuple[str, str] | None:
    """The first matching selector and its reason; ``"*"`` wins over a narrower one."""
    if WHOLE_OP in table:
        return WHOLE_OP, table[WHOLE_OP]
    for selector, reason in table.items():
        if matches(selector, labels):
            return selector, reason
    return None


def _dtype(name: str) -> str | None:
    try:
        import numpy as np

        return np.dtype(name).name
    except Exception:  # noqa: BLE001 (TypeError mostly; numpy parses some strings as struct dtypes)
        return None


def judge(statuses: Mapping[str, str], xfail: Mapping[str, Xfail], *, strict: bool = True,
          by_check: Mapping[str, str] | None = None,
          check_xfail: Mapping[str, str] | None = None) -> Verdict:
    """The op's status from each audited variant's raw status and the xfails that apply.

    A failing variant no xfail covers fails the op. Each xfail selector is one expectation
    over the variants it holds: it is met when any of them fails, and is an XPASS when all
    pass (strict: any XPASS fails the op; otherwise only when every expectation passed).
    ``by_check`` (failing label → reason) are the variants whose every failure belongs to
    a check in ``check_xfail``; a check xfail that covers no failure is an XPASS."""
    failing = {label for label, status in statuses.items() if status != "pass"}
    expected = {label: xfail[label] for label in statuses if label in xfail}
    checks = " ".join(check_xfail or ())
    for label, why in (by_check or {}).items():
        expected.setdefault(label, Xfail(checks, why))
    unexpected = tuple(label for label in statuses if label in failing and label not in expected)
    if unexpected:
        worst = "error" if any(statuses[label] == "error" for label in unexpected) else "fail"
        return Verdict(worst, unexpected=unexpected)
    if check_xfail and not by_check:
        reasons = "; ".join(f"{check}: {why}" for check, why in check_xfail.items())
        return Verdict("xpass", reasons, xpassed=tuple(statuses))
    groups: dict[str, list[str]] = {}
    for label, x in expected.items():
        groups.setdefault(x.selector, []).append(label)
    passed = [sel for sel, labels in groups.items() if not failing.intersection(labels)]
    if passed and (strict or len(passed) == len(groups)):
        labels = [label for sel in passed for label in groups[sel]]
        return Verdict("xpass", _reasons(expected, labels), _whole(expected, labels),
                       xpassed=tuple(labels))
    if expected:
        labels = [label for sel, group in groups.items() if sel not in passed for label in group]
        return Verdict("xfail", _reasons(expected, labels), _whole(expected, labels))
    return Verdict("pass")


def _whole(table: Mapping[str, Skip | Xfail], labels: Sequence[str]) -> bool:
    return bool(labels) and all(table[label].whole for label in labels)


def _reasons(table: Mapping[str, Skip | Xfail], labels: Sequence[str]) -> str:
    """'reason' for an expectation over the whole op, else 'variant N=1: reason; ...'."""
    parts = [table[label].reason if table[label].whole else
             f"variant {label}: {table[label].reason}" for label in labels]
    return "; ".join(dict.fromkeys(parts))


def is_ok(status: str) -> bool:
    """Whether a report with this status leaves the run green (exit 0)."""
    return status in OK_STATUSES


def declared(op: Any) -> bool:
    """Whether ``op`` declares any expectation (the fast path skips everything else)."""
    return bool(getattr(op, "xfail", None) or getattr(op, "skip", None))
