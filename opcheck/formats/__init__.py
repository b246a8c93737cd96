"""Report formats by name: each turns the audited ops and the run's metadata into text.

``text`` and ``json`` live in ``opcheck.report``; ``junit``, ``markdown`` and ``html`` each
have a module here. ``meta`` is the run's description, the same keys as the JSON report's
header (seed, mode, variant, duration, shard, not_run, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..errors import UsageError
from ..result import OpReport


class Format(NamedTuple):
    name: str
    filename: str  # the file's name when -o names a directory
    module: str
    function: str
    summary: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("text", "report.txt", "opcheck.report", "render_text",
               "the table and the failure details (the default)"),
        Format("json", "report.json", "opcheck.formats.json_report", "render_json",
               "one versioned JSON document, every op's variants and inputs nested inside"),
        Format("junit", "report.junit.xml", "opcheck.formats.junit", "render_junit",
               "JUnit XML, one testcase per op and variant, for CI test tabs"),
        Format("markdown", "report.md", "opcheck.formats.markdown", "render_markdown",
               "a summary and tables for a CI step summary or a pull request"),
        Format("html", "report.html", "opcheck.formats.html", "render_html",
               "one self-contained page: filters, details and error heat maps"),
    )
}


def parse_formats(text: str) -> list[str]:
    """``json,junit`` → ["json", "junit"]; an unknown name is a usage error."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise UsageError(
            f"--format {text!r}: unknown format {', '.join(map(repr, unknown)) or '(none)'}; "
            f"choose from {', '.join(FORMATS)}, or several separated by commas"
        )
    return list(dict.fromkeys(names))


def render(name: str, reports: Sequence[OpReport], meta: dict[str, Any]) -> str:
    fmt = FORMATS[name]
    function = getattr(importlib.import_module(fmt.module), fmt.function)
    if name == "text":
        return function(reports, not_run=meta.get("not_run") or ())
    if name == "json":
        return function(reports, **meta)
    return function(reports, meta)
