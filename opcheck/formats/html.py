"""One self-contained HTML page: the verdict, a summary table that filters by status, and
for every op that did not pass its reason, and for each failing input a heat map of
|analytic − numeric| over its elements with the worst elements listed.

Self-contained: no external file, font or script; the filters are CSS radio buttons, so
the page runs no script at all and its Content-Security-Policy forbids any. Every name and
message (they come from third-party plugins and their exceptions) is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ..escape import visible
from ..report import format_adjoint_failure, run_facts, summary_counts, summary_line, worst_input
from ..result import HEATMAP_INPUTS, InputResult, OpReport, VariantResult
from .heatmap import heatmap_html

#: Failing inputs drawn per op; a wrong backward usually fails every variant alike.
MAX_MAPS = HEATMAP_INPUTS
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
FILTERS = (("all", "All"), ("bad", "Not passing"), ("fail", "Failed"), ("error", "Errors"),
           ("pass", "Passed"), ("xfail", "Expected failures"), ("xpass", "Unexpected passes"),
           ("skip", "Skipped"))
#: Statuses that are neither problems nor passes: shown, not counted as "not passing".
_KNOWN = ("xfail", "skip")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em auto;max-width:72em;
padding:0 1em;color:#1b1b1b}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .4em}h3{font-size:1em}
.meta{color:#555}
table{border-collapse:collapse}
table.ops{width:100%;margin:.8em 0}
table.ops th,table.ops td{border-bottom:1px solid #e3e3e3;padding:.25em .6em;text-align:left;
vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.ops td:nth-child(-n+5){white-space:nowrap}
.status{font-weight:600}.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}
.xfail,.skip{color:#6e7781}.xpass{color:#cf222e}
input[name=show]{margin-left:1em}
label{cursor:pointer}
pre{background:#f6f8fa;padding:.6em;overflow:auto;white-space:pre-wrap;word-break:break-word}
table.heat td{width:16px;height:16px;padding:0;border:1px solid #fff}
table.worst td,table.worst th{padding:.1em .6em;text-align:right;font-variant-numeric:tabular-nums}
figure.heatmap{margin:.5em 0}figcaption,.note,.scale{color:#555;font-size:.9em}
.scale span{display:inline-block}
.banner{background:#fff8c5;padding:.5em 1em;border:1px solid #d4a72c}
"""


def e(text: Any) -> str:
    """Untrusted text, escaped for HTML text and attribute values alike (control characters,
    such as the ANSI colours of an exception text, shown as ``\\xNN``)."""
    return html.escape(visible(text), quote=True)


def render_html(reports: Sequence[OpReport], meta: dict[str, Any]) -> str:
    counts = summary_counts(reports)
    verdict = summary_line(reports, float(meta.get("duration") or 0.0))
    ids = {id(r): f"op-{k}" for k, r in enumerate(reports)}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>opcheck: {e(verdict)}</title>",
        f"<style>{STYLE}{_filter_css()}</style></head><body>",
        f"<h1>opcheck audit: {e(verdict)}</h1>",
        f'<p class="meta">{" · ".join(e(part) for part in run_facts(reports, meta))}</p>',
    ]
    not_run = list(meta.get("not_run") or [])
    if not_run:
        parts.append(f'<p class="banner">Interrupted: {len(not_run)} ops were not run: '
                     f"{e(', '.join(not_run))}</p>")
    totals = {"all": len(reports),
              "bad": sum(n for k, n in counts.items() if k not in ("pass", *_KNOWN)), **counts}
    start = "bad" if totals["bad"] else "all"  # open on what needs attention
    for key, label in FILTERS:
        if key in ("xfail", "xpass", "skip") and not totals.get(key):
            continue  # a filter for a status no op has would only show an empty table
        checked = " checked" if key == start else ""
        parts.append(f'<input type="radio" name="show" id="show-{key}"{checked}>'
                     f'<label for="show-{key}">{label} ({totals.get(key, 0)})</label>')
    parts.append(_summary_table(reports, ids))
    parts.append('<section class="details">')
    for report in reports:
        if report.status != "pass":
            parts.append(_details(report, ids[id(report)]))
    parts.append("</section></body></html>")
    return "\n".join(parts) + "\n"


def _filter_css() -> str:
    rules = []
    for key in ("fail", "error", "pass", "xfail", "xpass", "skip"):
        rules.append(f'#show-{key}:checked~table.ops tbody tr:not([data-status="{key}"]),'
                     f'#show-{key}:checked~section.details article:not([data-status="{key}"])'
                     "{display:none}")
    for key in ("pass", *_KNOWN):
        rules.append(f'#show-bad:checked~table.ops tbody tr[data-status="{key}"],'
                     f'#show-bad:checked~section.details article[data-status="{key}"]'
                     "{display:none}")
    return "\n".join(rules)


def _summary_table(reports: Sequence[OpReport], ids: dict[int, str]) -> str:
    rows = [('<table class="ops"><thead><tr><th>op</th><th>status</th><th>max rel err</th>'
             "<th>variants</th><th>worst input</th><th>plugin</th><th>reason</th><th>checked</th>"
             "</tr></thead>"
             "<tbody>")]
    for r in reports:
        name = (f'<a href="#{ids[id(r)]}">{e(r.name)}</a>' if r.status != "pass" else e(r.name))
        found = worst_input(r)
        where = e(f"{found[1].label} [{found[0].label}]") if found else "–"
        reason = e((r.message or "").splitlines()[0]) if r.status != "pass" and r.message else ""
        rows.append(
            f'<tr data-status="{e(r.status)}"><td>{name}</td>'
            f'<td class="status {e(r.status)}">{e(r.status.upper())}</td>'
            f'<td class="num">{_num(r.max_rel_error)}</td><td class="num">{len(r.variants)}</td>'
            f"<td>{where}</td><td>{e(r.plugin or '–')}</td><td>{reason}</td>"
            f"<td>{e(r.coverage or '–')}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _details(report: OpReport, anchor: str) -> str:
    out = [f'<article id="{anchor}" data-status="{e(report.status)}">',
           (f'<h2>{e(report.name)} <span class="status {e(report.status)}">'
            f"{e(report.status.upper())}</span></h2>")]
    if report.message:
        out.append(f"<p>{e(report.message)}</p>")
    if report.coverage:
        out.append(f'<p class="coverage">checked {e(report.coverage)}</p>')
    failing = [(v, i) for v in report.variants for i in v.inputs if i.status == "fail"]
    for variant in report.variants:
        if variant.status == "error" and variant.traceback:
            out.append(f"<h3>variant {e(variant.label)}</h3><pre>{e(variant.traceback.rstrip())}</pre>")
    for variant, item in failing[:MAX_MAPS]:
        out.append(_input_failure(report, variant, item))
    if len(failing) > MAX_MAPS:
        rest = ", ".join(f"{i.label} [{v.label}]" for v, i in failing[MAX_MAPS:])
        out.append(f'<p class="note">Also failing: {e(rest)} (the JSON report has their figures)</p>')
    for warning in report.warnings:
        out.append(f'<p class="note">warning: {e(warning)}</p>')
    if report.reproduce:
        out.append(f"<p>Reproduce:</p><pre>{e(report.reproduce)}</pre>")
    out.append("</article>")
    return "\n".join(out)


def _input_failure(report: OpReport, variant: VariantResult, item: InputResult) -> str:
    caption = (f"input {item.label!r} of {report.name}, variant {variant.label}, "
               f"shape {tuple(item.shape)}, {item.dtype}")
    fail = item.counts.get("fail", 0)
    share = 100.0 * fail / max(1, item.size)
    out = [f"<h3>input {e(item.label)}, variant {e(variant.label)}</h3>",
           (f"<p>Mismatched elements: {fail} / {item.size} ({share:.3g}%); max abs difference "
            f"{_num(item.max_abs_error)}, max rel difference {_num(item.max_rel_error)}; "
            f"rtol {item.rtol:.3g}, atol {item.atol:.3g}</p>"),
           heatmap_html(item, caption) if item.check != "adjoint" else  # one number, no map
           f"<pre>{e(format_adjoint_failure(report.name, variant, item))}</pre>"]
    if item.mismatches:
        out.append('<table class="worst"><thead><tr><th>index</th><th>analytic</th><th>numeric</th>'
                   "<th>|diff|</th><th>est. error</th></tr></thead><tbody>")
        for el in item.mismatches:
            out.append(f"<tr><td>{e(tuple(el.index))}</td><td>{el.analytic:.7g}</td>"
                       f"<td>{el.numeric:.7g}</td><td>{el.abs_error:.3g}</td>"
                       f"<td>{el.error_estimate:.3g}</td></tr>")
        out.append("</tbody></table>")
    return "\n".join(out)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2e}"
