"""``opcheck diff`` output: text for a terminal, Markdown for a pull-request comment, JSON
for scripts. Each renders one ``opcheck.comparison.Comparison``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..comparison import Change, Comparison
from ..escape import visible
from ..serialize import jsonable
from .markdown import md

FORMATS = ("text", "markdown", "json")
SECTIONS = (
    ("regressions", "Regressions"),
    ("fixes", "Fixed"),
    ("changed", "Status changed"),
    ("added", "New ops"),
    ("removed", "Removed ops"),
    ("variants", "Failing variants changed"),
)


def headline(c: Comparison) -> str:
    n = c.counts()
    words = [(n["regressions"], "regression", "regressions"), (n["fixes"], "fixed", "fixed"),
             (n["changed"], "changed", "changed"), (n["added"], "new op", "new ops"),
             (n["removed"], "removed op", "removed ops"),
             (n["variants"], "op failing at other variants", "ops failing at other variants"),
             (n["growth"], "error growth", "error growths")]
    parts = [f"{k} {one if k == 1 else many}" for k, one, many in words if k]
    return ", ".join(parts) or "no change"


def unchanged(c: Comparison) -> str:
    """"1 op unchanged", "2 ops unchanged"."""
    return f"{c.unchanged} op{'' if c.unchanged == 1 else 's'} unchanged"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def _status(change: Change, arrow: str = "->") -> str:
    return f"{change.old or '-'} {arrow} {change.new or '-'}"


def _reason(change: Change) -> str:
    """The first line of why the op does not pass now (or how its failing variants moved)."""
    lines = (change.detail or change.message or "").strip().splitlines()
    return lines[0] if lines else ""


def render_text(c: Comparison) -> str:
    """For a terminal: names and reasons come from third-party code, so control
    characters are written as escapes (``opcheck.escape``), as the text report does."""
    lines = [(f"opcheck diff {c.old_path} {c.new_path}: {headline(c)} "
              f"({unchanged(c)})")]
    lines += [f"note: {note}" for note in c.notes]
    for key, title in SECTIONS:
        changes: Sequence[Change] = getattr(c, key)
        if not changes:
            continue
        lines += ["", f"{title} ({len(changes)}):"]
        width = max(len(ch.name) for ch in changes)
        for ch in changes:
            reason = _reason(ch)
            tail = f"  {reason}" if reason and (ch.detail or ch.new not in ("pass", None)) else ""
            lines.append(f"  {ch.name:<{width}}  {_status(ch):<16}  max rel err "
                         f"{_num(ch.old_error)} -> {_num(ch.new_error)}{tail}")
    if c.growth:
        lines += ["", f"max_rel_error grew more than {c.factor:g}x ({len(c.growth)}):"]
        width = max(len(ch.name) for ch in c.growth)
        for ch in c.growth:
            lines.append(f"  {ch.name:<{width}}  {_num(ch.old_error)} -> {_num(ch.new_error)}  "
                         f"({ch.growth:.3g}x, {_status(ch)})")
    return visible("\n".join(lines) + "\n")


def render_markdown(c: Comparison) -> str:
    icon = "❌" if c.regressions else "✅"
    lines = [f"### {icon} opcheck diff: {md(headline(c))}", "",
             f"{md(c.old_path)} → {md(c.new_path)} · {unchanged(c)}", ""]
    lines += [f"> {md(note)}" for note in c.notes]
    if c.notes:
        lines.append("")
    for key, title in SECTIONS:
        changes: Sequence[Change] = getattr(c, key)
        if not changes:
            continue
        lines += [f"#### {title} ({len(changes)})", "", "| op | status | max rel err | reason |",
                  "| --- | --- | --- | --- |"]
        for ch in changes:
            reason = _reason(ch)
            lines.append(f"| {md(ch.name)} | {md(_status(ch, '→'))} | {_num(ch.old_error)} → "
                         f"{_num(ch.new_error)} | {md(reason) if reason else '–'} |")
        lines.append("")
    if c.growth:
        lines += [f"#### max_rel_error grew more than {c.factor:g}x ({len(c.growth)})", "",
                  "| op | old | new | growth | status |", "| --- | ---: | ---: | ---: | --- |"]
        for ch in c.growth:
            lines.append(f"| {md(ch.name)} | {_num(ch.old_error)} | {_num(ch.new_error)} | "
                         f"{ch.growth:.3g}x | {md(_status(ch, '→'))} |")
        lines.append("")
    return "\n".join(lines)


def render_json(c: Comparison) -> str:
    return json.dumps(jsonable(c.to_dict()), indent=2, allow_nan=False) + "\n"


def render(name: str, c: Comparison) -> str:
    return {"text": render_text, "markdown": render_markdown, "json": render_json}[name](c)
