"""Render audit results: the text table and failure details, and the terminal's closing
summary. (JSON, JUnit, Markdown and HTML live in ``opcheck.formats``.)

Pure functions from ``result`` objects to strings; the CLI and the pytest plugin decide
where the strings go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .escape import visible

if TYPE_CHECKING:  # types only: result imports this module for OpReport.__str__
    from .result import InputResult, OpReport, VariantResult


def _num(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


#: The first words of a mismatch report, per check (``result.CHECKS``).
HEADINGS = {"backward": "Gradient mismatch", "jvp": "JVP mismatch",
            "double_backward": "Second-order mismatch"}


def format_input_failure(op: str, variant: VariantResult, item: InputResult) -> str:
    """A numpy.testing-style mismatch report for one input of one variant."""
    if item.check == "adjoint":
        return format_adjoint_failure(op, variant, item)
    lines = [
        f"{HEADINGS.get(item.check, 'Mismatch')}: op {op!r}, input {item.name!r}, variant {variant.label} "
        f"(dims {_dims(variant.dims)}, seed {variant.seed})",
        f"Mismatched elements: {item.counts['fail']} / {item.size} "
        f"({100.0 * item.counts['fail'] / max(1, item.size):.3g}%)"
        + (f"; checked {item.coverage}" if item.coverage and not item.coverage.startswith("all ") else ""),
        f"Max absolute difference: {_num(item.max_abs_error)}",
        # not numpy's |a-n|/|n| (its label would mislead): the symmetric one, max_rel_error's
        f"Max relative error |a-n|/(|a|+|n|): {_num(item.max_rel_error)}",
        f"Tolerance: rtol={item.rtol:.3g}, atol={item.atol:.3g}, plus the finite difference's "
        f"error estimate; step h={_steps(item)}",
        "Worst elements:",
        f"  {'index':<14}{'analytic':>14}{'numeric':>14}{'|diff|':>11}{'est. error':>12}",
    ]
    for e in item.mismatches:
        lines.append(
            f"  {e.index!s:<14}{e.analytic:>14.7g}{e.numeric:>14.7g}{e.abs_error:>11.3g}"
            f"{e.error_estimate:>12.3g}"
        )
    return "\n".join(lines)


def format_adjoint_failure(op: str, variant: VariantResult, item: InputResult) -> str:
    """The adjoint (dot-product) test's report: both sides and the rounding allowed."""
    e = item.worst
    lines = [
        f"Adjoint mismatch: op {op!r}, input {item.name!r}, variant {variant.label} "
        f"(dims {_dims(variant.dims)}, seed {variant.seed})",
        "jvp and backward are not transposes of each other: <jvp(u), v> != <u, backward(v)> "
        "for a random tangent u of this input and v = dout",
    ]
    if e is not None:
        lines += [f"  <u, backward(v)> = {e.analytic:.17g}",
                  f"  <jvp(u), v>      = {e.numeric:.17g}",
                  f"  |diff| = {e.abs_error:.3g}, allowed {e.error_estimate:.3g} (rounding only)"]
    return "\n".join(lines)


def _dims(dims: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in dims.items()) or "none"


def _steps(item: InputResult) -> str:
    text = (f"{item.step_min:.3g}" if item.step_min == item.step_max
            else f"{item.step_min:.3g}..{item.step_max:.3g}")
    text += " (central"
    text += f", {item.one_sided} one-sided near a bound)" if item.one_sided else ")"
    return text


def format_op(report: OpReport) -> str:
    """Everything a person needs about one op: verdict, and for a failure where and why."""
    head = f"{report.name}: {report.status.upper()}"
    if report.status == "pass":
        covered = f"; checked {report.coverage}" if report.coverage else ""
        lines = [head + f" (max rel error {_num(report.max_rel_error)}, {len(report.variants)} variants{covered})"]
    else:
        lines = [head + f" — {report.message}"]
        variant = report.failing_variant()
        if variant is not None:
            if variant.traceback:
                lines.append(variant.traceback.rstrip())
            for item in variant.inputs:
                if item.status == "fail":
                    lines.append(format_input_failure(report.name, variant, item))
        lines += _other_variants(report, variant)
        lines += _largest_elsewhere(report, variant)
    for variant in report.variants:
        for item in variant.inputs:
            for note in item.notes:
                lines.append(f"note: {variant.label}, input {item.label!r}: {note}")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    if report.reproduce:
        lines.append(f"Reproduce: {report.reproduce}")
    return "\n".join(lines)


def _other_variants(report: OpReport, shown: VariantResult | None) -> list[str]:
    """An error's report also shows the first gradient failure of another variant: the
    table row points at that failure (``worst_input``), so its details must be here too.
    (A failure's own report shows its variant only: the others usually repeat it.)"""
    if shown is None or shown.status != "error":  # (an xfail's message names its variant)
        return []
    for variant in report.variants:
        failed = [item for item in variant.inputs if item.status == "fail"]
        if variant is not shown and failed:
            return [f"also variant {variant.label}: {variant.message}",
                    *(format_input_failure(report.name, variant, item) for item in failed)]
    return []


def _largest_elsewhere(report: OpReport, shown: VariantResult | None) -> list[str]:
    """Where the op's max rel error (the table's column) is not the shown variant's, the
    line that says where it is: the details show the first failing variant only."""
    holder = max_holder(report)
    if holder is None or shown is None or holder[0] is shown:
        return []
    if _num(shown.max_rel_error, ".3g") == _num(report.max_rel_error, ".3g"):
        return []
    return [f"The op's largest relative error, {_num(report.max_rel_error, '.3g')} (the table's "
            f"max rel err), is in input {holder[1].label!r} at variant {holder[0].label}"]


def worst_input(report: OpReport) -> tuple[VariantResult, InputResult] | None:
    """The input behind the op's verdict: the first failing one, else the one holding the
    op's max rel error (whichever rule it came from: its label names the rule)."""
    for variant in report.variants:
        for item in variant.inputs:
            if item.status == "fail":
                return variant, item
    return max_holder(report)


def max_holder(report: OpReport) -> tuple[VariantResult, InputResult] | None:
    """The (first) input whose max rel error is the op's ``max_rel_error``."""
    best: tuple[float, VariantResult, InputResult] | None = None
    for variant in report.variants:
        for item in variant.inputs:
            if item.max_rel_error is not None and (best is None or item.max_rel_error > best[0]):
                best = (item.max_rel_error, variant, item)
    return (best[1], best[2]) if best else None


def max_cell(report: OpReport, shown: InputResult | None) -> str:
    """The op's max rel error; where the row's input does not hold it (a failing input
    beside a larger error of another rule or input), the input that does, so that the
    row never pairs one rule's maximum with another rule's element unsaid."""
    text = _num(report.max_rel_error, ".2e")
    holder = max_holder(report)
    if holder and shown is not None and _num(shown.max_rel_error, ".2e") != text:
        text += f" ({holder[1].label} [{holder[0].label}])"
    return text


def render_text(reports: Sequence[OpReport], not_run: Sequence[str] = ()) -> str:
    """A table (op, status, max rel error, worst input and element), then failure details;
    ``not_run`` names the ops an interrupted run did not reach."""
    rows = [("op", "status", "max rel err", "variants", "worst input", "element (analytic vs numeric)")]
    for r in reports:
        found = worst_input(r)
        where, element = "-", "-"
        max_text = max_cell(r, found[1] if found else None)
        if found:
            variant, item = found
            where = f"{item.label} [{variant.label}]"
            if item.worst:
                e = item.worst
                element = f"{e.index}: {e.analytic:.6g} vs {e.numeric:.6g}"
        outcomes = _outcome_summary(r)
        rows.append((r.name, r.status.upper() + outcomes, max_text,
                     str(len(r.variants)), where, element))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    details = [format_op(r) for r in reports if r.status != "pass"]
    if details:
        lines += ["", *("\n" + d for d in details)]
    sampled = [f"  {r.name}: {r.coverage}" for r in reports if r.status == "pass" and r.sampled]
    if sampled:  # a default-mode pass that compared a sample one by one says so (method.md)
        lines += ["", "Checked by projections and a sample (not every element one by one):", *sampled]
    noticed = [_first_line(r.name, w) for r in reports if r.status == "pass" for w in r.warnings]
    if noticed:  # a passing op that printed, or changed state opcheck had to restore
        lines += ["", "Warnings (in full in --format json):", *noticed]
    if not_run:
        lines += ["", f"Interrupted: {len(not_run)} ops not run: {', '.join(not_run)}"]
    return visible("\n".join(lines) + "\n")


def _first_line(name: str, warning: str, room: int = 160) -> str:
    text = warning.strip().splitlines() or [""]
    more = f" (+{len(text) - 1} lines)" if len(text) > 1 else ""
    first = text[0] if len(text[0]) <= room else text[0][: room - 1] + "…"
    return f"  {name}: {first}{more}"


def _outcome_summary(report: OpReport) -> str:
    kinks = sum(i.counts.get("nondifferentiable", 0) for v in report.variants for i in v.inputs)
    unreliable = sum(i.counts.get("unreliable", 0) for v in report.variants for i in v.inputs)
    extra = []
    if kinks:
        extra.append(f"{kinks} kinks")
    if unreliable:
        extra.append(f"{unreliable} unresolved")
    return f" ({', '.join(extra)})" if extra else ""


def run_facts(reports: Sequence[OpReport], meta: dict[str, Any]) -> list[str]:
    """What a report file's header line says about the run ("53 ops", "seed 0", ...),
    unescaped: each format escapes them its own way."""
    parts = [f"{len(reports)} ops", f"seed {meta.get('seed', 0)}",
             f"mode {meta.get('mode', 'full')}"]
    parts += [f"{key} {meta[key]}" for key in ("variant", "shard") if meta.get(key)]
    if meta.get("order", 2) != 2:  # first-order rules only: double_backward went unchecked
        parts.append(f"order {meta['order']}")
    if meta.get("opcheck_version"):
        parts.append(f"opcheck {meta['opcheck_version']}")
    return parts


def summary_counts(reports: Sequence[OpReport]) -> dict[str, int]:
    """Ops per status: always pass, fail and error; xfail, xpass and skip when present."""
    counts = {"pass": 0, "fail": 0, "error": 0}
    for r in reports:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


#: The closing line's words, in pytest's order.
_WORDS = (("fail", "failed"), ("error", "errors"), ("pass", "passed"), ("skip", "skipped"),
          ("xfail", "xfailed"), ("xpass", "xpassed"))


def summary_line(reports: Sequence[OpReport], seconds: float) -> str:
    """pytest's closing line: "1 failed, 2 passed, 1 xfailed in 0.3s"."""
    counts = summary_counts(reports)
    parts = [f"{counts[s]} {word}" for s, word in _WORDS if counts.get(s)]
    if counts["error"] == 1:
        parts = [p.replace("1 errors", "1 error") for p in parts]
    return f"{', '.join(parts) or 'no ops audited'} in {seconds:.2f}s"


def render_summary_table(reports: Sequence[OpReport], width: int = 100) -> str:
    """The terminal's closing table: every op that did not pass, with its reason, then the
    count per status (pytest's "short test summary info")."""
    bad = [r for r in reports if r.status != "pass"]
    lines = []
    if bad:
        name_width = min(max(len(r.name) for r in bad), max(12, width // 3))
        lines.append(f"{'status':<6}  {'op':<{name_width}}  reason")
        for r in bad:
            reason = (r.message or "").strip().splitlines()
            room = max(10, width - name_width - 10)
            text = reason[0] if reason else ""
            if len(text) > room:
                text = text[: room - 1] + "…"
            lines.append(f"{r.status.upper():<6}  {_clip(r.name, name_width):<{name_width}}  {text}")
        lines.append("")
    counts = summary_counts(reports)
    lines.append("  ".join(f"{s}: {n}" for s, n in counts.items() if n or s in ("pass", "fail", "error")))
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
