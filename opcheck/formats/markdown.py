"""Markdown for a CI step summary (``$GITHUB_STEP_SUMMARY``) or a pull-request comment:
the verdict in the heading, the ops that did not pass with their reasons, their details
folded away, and every op in a folded table.

Op names and messages come from third-party code, so every one is escaped: for the
Markdown (``|``, ``*``, backticks...) and for the HTML a Markdown page may contain.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from ..escape import visible
from ..report import format_op, max_cell, run_facts, summary_line, worst_input
from ..result import OpReport

BADGE = {"pass": "✅ pass", "fail": "❌ FAIL", "error": "💥 ERROR", "xfail": "⚠️ xfail",
         "xpass": "❗ XPASS", "skip": "⏭️ skip"}
#: Statuses listed as known, not as problems: expected failures and skips.
_KNOWN = ("xfail", "skip")
#: Failure details shown in full; past this many, the tables still list every op.
MAX_DETAILS = 50
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: Any) -> str:
    """Untrusted text as inert Markdown on one line: HTML-escaped, specials backslashed."""
    one_line = _visible(" ".join(str(text).split()))
    return _SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def _visible(text: str) -> str:
    """Control characters (ANSI colour codes in exception texts...), bidi overrides and lone
    surrogates written as escapes (``opcheck.escape``)."""
    return visible(text)


def _fence(text: str) -> str:
    """A code block no backtick run inside ``text`` can close."""
    text = _visible(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2e}"


def render_markdown(reports: Sequence[OpReport], meta: dict[str, Any]) -> str:
    duration = float(meta.get("duration") or 0.0)
    facts = " · ".join(md(part) for part in run_facts(reports, meta))
    lines = [f"## opcheck: {md(summary_line(reports, duration))}", "", facts, ""]
    not_run = list(meta.get("not_run") or [])
    if not_run:
        lines += [f"**Interrupted**: {len(not_run)} ops were not run: "
                  + ", ".join(md(n) for n in not_run), ""]
    bad = [r for r in reports if r.status not in ("pass", *_KNOWN)]
    if bad:
        lines += ["### Not passing", "", "| op | status | where | max rel err | reason |",
                  "| --- | --- | --- | ---: | --- |"]
        for r in bad:
            found = worst_input(r) if r.status == "fail" else None
            shown = max_cell(r, found[1] if found else None)  # names the holder, as the text does
            lines.append(f"| {md(r.name)} | {BADGE.get(r.status, md(r.status))} | {_where(r)} "
                         f"| {md(shown) if r.max_rel_error is not None else '–'} "
                         f"| {md(r.message or '–')} |")
        lines.append("")
        for r in bad[:MAX_DETAILS]:
            lines += [f"<details><summary>{md(r.name)}: {md(r.status)}</summary>", "",
                      _fence(format_op(r)), "", "</details>", ""]
        if len(bad) > MAX_DETAILS:
            lines += [f"({len(bad) - MAX_DETAILS} more not shown; the JSON report has them all)", ""]
    known = [r for r in reports if r.status in _KNOWN]
    if known:
        lines += [f"<details><summary>Expected failures and skips ({len(known)})</summary>", "",
                  "| op | status | reason |", "| --- | --- | --- |"]
        lines += [f"| {md(r.name)} | {BADGE[r.status]} | {md(r.message or '–')} |" for r in known]
        lines += ["", "</details>", ""]
    lines += [f"<details><summary>All {len(reports)} ops</summary>", "",
              "| op | status | max rel err | variants | checked | plugin |",
              "| --- | --- | ---: | ---: | --- | --- |"]
    for r in reports:
        lines.append(f"| {md(r.name)} | {BADGE.get(r.status, md(r.status))} | {_num(r.max_rel_error)} "
                     f"| {len(r.variants)} | {md(r.coverage or '–')} | {md(r.plugin or '–')} |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _where(report: OpReport) -> str:
    found = worst_input(report) if report.status == "fail" else None
    if found is None:
        variant = report.failing_variant()
        return md(f"[{variant.label}]") if variant else "–"
    variant, item = found
    return md(f"{item.label} [{variant.label}]")
