"""Which ops an audit covers, and the order a report lists them in.

The order is fixed by the names alone, never by which worker finished first: ops matching
the first NAME pattern, then the second, ..., each group sorted by name (with no pattern,
simply by name). A resumed run, a parallel run and merged shards list ops identically.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .choices import did_you_mean
from .errors import UsageError
from .escape import visible
from .result import OpReport

if TYPE_CHECKING:
    from .plugin_manager import Registry


def select(registry: Registry, patterns: Sequence[str], broken: Sequence[str] = ()) -> list[str]:
    """Op names matching any pattern (exact names or globs), in report order. A pattern that
    matches only ``broken`` names (the error entries of plugins that failed to load) is not
    a usage error: the report names what broke."""
    if not patterns:
        return sorted(registry)
    chosen: list[str] = []
    for pattern in patterns:
        matches = sorted(n for n in registry if fnmatch.fnmatchcase(n, pattern))
        if not matches and not any(fnmatch.fnmatchcase(n, pattern) for n in broken):
            hint = did_you_mean(pattern, registry)
            hint += " " if hint else ""
            plugins = sorted({err.plugin for err in registry.errors})
            also = (f"; plugin(s) {', '.join(plugins)} failed to declare some ops (the "
                    "warnings above say why)") if plugins else ""
            raise UsageError(
                f"no op matches {pattern!r}; {hint}`opcheck list` shows the {len(registry)} "
                f"discovered ops{also}"
            )
        chosen += [m for m in matches if m not in chosen]
    return chosen


def plugin_error_reports(registry: Registry, patterns: Sequence[str]) -> list[OpReport]:
    """Broken plugins as error entries: all of them for a full audit, else those whose
    op name matches a pattern. The entry is named after the op where the error names one
    (and no other plugin's op took the name), else ``plugin:NAME``."""
    reports = []
    for err in registry.errors:
        name = err.op if err.op and err.op not in registry else f"plugin:{err.plugin}"
        if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        if any(r.name == name for r in reports):  # one entry per name: join the messages
            first = next(r for r in reports if r.name == name)
            first.message += f"\n{err}"
            continue
        reports.append(OpReport(name=name, status="error", plugin=err.plugin, message=str(err)))
    return reports


def report_order(name: str, patterns: Sequence[str]) -> tuple[int, str]:
    """Sort key: the first pattern the name matches, then the name."""
    for k, pattern in enumerate(patterns):
        if fnmatch.fnmatchcase(name, pattern):
            return k, name
    return len(patterns), name


def in_report_order(reports: Sequence[OpReport], patterns: Sequence[str]) -> list[OpReport]:
    return sorted(reports, key=lambda r: report_order(r.name, patterns))


def all_exact(patterns: Sequence[str]) -> bool:
    return bool(patterns) and not any(ch in p for p in patterns for ch in "*?[")


def with_variant(registry: Registry, names: list[str], variant: str | None, exact: bool) -> list[str]:
    """The ops that have ``variant``. An op named exactly without it is a usage error; ops
    matched by a glob (or all ops) without it are left out, and stderr says which."""
    if variant is None:
        return names
    from .configurations import matching
    from .sampling import variants

    plans = {name: list(variants(registry[name])) for name in names}
    lacking = [n for n in names if not matching(variant, plans[n])]
    if lacking and (exact or len(lacking) == len(names)):
        if exact or len(names) == 1:
            name = lacking[0]
            raise UsageError(f"op {name!r} has no variant {variant!r}; its variants are {plans[name]}")
        raise UsageError(f"no selected op has a variant {variant!r} (of {len(names)} ops); "
                         f"`opcheck show NAME` lists an op's variants")
    if lacking:
        shown = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
        print(visible(f"opcheck: note: --variant {variant}: {len(lacking)} op(s) without it "
                      f"are not audited: {shown}"), file=sys.stderr)
    return [n for n in names if n not in lacking]
