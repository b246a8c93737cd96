"""``opcheck diff``'s renderers (``opcheck.formats.diff``): what text, Markdown and JSON
say for each kind of change, for empty runs and one-sided runs, and that names and
reasons from third-party code cannot break them. What is sorted where is
``opcheck.comparison``'s (tests/test_comparison.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from opcheck.cli import main
from opcheck.cli_parser import build_parser
from opcheck.comparison import compare
from opcheck.formats.diff import (
    FORMATS,
    headline,
    render,
    render_json,
    render_markdown,
    render_text,
)
from opcheck.formats.json_report import render_json as json_report
from opcheck.result import InputResult, OpReport, VariantResult


def _op(name: str, status: str, error: float | None = None, message: str = "",
        failing: tuple[str, ...] = ()) -> OpReport:
    """An op audited at variants default, N=1 and N=4; ``failing`` ones did not pass."""
    def variant(label: str) -> VariantResult:
        inputs = [] if error is None else [InputResult("x", (3,), "float64", "pass", {"pass": 3},
                                                       max_rel_error=error)]
        return VariantResult(label, {"N": 3}, 0, status="fail" if label in failing else "pass",
                             inputs=inputs)

    return OpReport(name=name, status=status, message=message,
                    variants=[variant(label) for label in ("default", "N=1", "N=4")])


def _sections(text: str) -> dict[str, list[str]]:
    """The text rendering's sections: title line → its indented lines."""
    out: dict[str, list[str]] = {}
    title = ""
    for line in text.splitlines()[1:]:
        if line.startswith("  "):
            out[title].append(line.strip())
        elif line:
            title = line
            out[title] = []
    return out


OLD = [_op("broke", "pass", 1e-9), _op("fixed", "fail", 0.3, "mismatch", ("default",)),
       _op("known", "xfail", 0.2, "expected failure (issue 3): x", ("N=1",)),
       _op("gone", "fail", 0.5, "wrong", ("N=1",)), _op("same", "pass", 1e-9),
       _op("spread", "xfail", 0.4, "expected failure (issue 9): x", ("N=1",))]
NEW = [_op("broke", "error", None, "variant default: forward raised ValueError: no\nTraceback ..."),
       _op("fixed", "pass", 1e-9),
       _op("known", "fail", 0.2, "variant N=1: gradient mismatch", ("N=1",)),
       _op("added", "fail", 0.5, "variant N=4: gradient mismatch in input 'x'", ("N=4",)),
       _op("same", "pass", 1e-9),
       _op("spread", "xfail", 0.4, "expected failure (issue 9): x", ("N=1", "default"))]


@pytest.fixture
def comparison():
    return compare(OLD, NEW, old_path="main.json", new_path="pr.json")


def test_text_lists_each_kind_of_change_with_its_figures_and_reason(comparison):
    text = render_text(comparison)
    assert text.splitlines()[0] == (
        "opcheck diff main.json pr.json: 1 regression, 1 fixed, 1 changed, 1 new op, "
        "1 removed op, 1 op failing at other variants (1 op unchanged)")
    sections = _sections(text)
    assert list(sections) == ["Regressions (1):", "Fixed (1):", "Status changed (1):",
                              "New ops (1):", "Removed ops (1):", "Failing variants changed (1):"]
    assert sections["Regressions (1):"] == [
        ("broke  pass -> error     max rel err 1.00e-09 -> -  variant default: forward raised "
        "ValueError: no")]  # the reason's first line only
    assert sections["Fixed (1):"] == ["fixed  fail -> pass      max rel err 3.00e-01 -> 1.00e-09"]
    assert sections["Status changed (1):"] == [
        "known  xfail -> fail     max rel err 2.00e-01 -> 2.00e-01  variant N=1: gradient mismatch"]
    assert sections["New ops (1):"] == [
        ("added  - -> fail         max rel err - -> 5.00e-01  variant N=4: gradient mismatch in "
        "input 'x'")]
    assert sections["Removed ops (1):"] == ["gone  fail -> -         max rel err 5.00e-01 -> -"]
    assert sections["Failing variants changed (1):"] == [
        "spread  xfail -> xfail    max rel err 4.00e-01 -> 4.00e-01  now also fails at default"]


def test_markdown_has_a_table_per_section_and_a_red_heading_on_a_regression(comparison):
    markdown = render_markdown(comparison)
    lines = markdown.splitlines()
    assert lines[0] == ("### ❌ opcheck diff: 1 regression, 1 fixed, 1 changed, 1 new op, "
                        "1 removed op, 1 op failing at other variants")
    assert lines[2] == "main.json → pr.json · 1 op unchanged"
    assert [line for line in lines if line.startswith("####")] == [
        "#### Regressions (1)", "#### Fixed (1)", "#### Status changed (1)", "#### New ops (1)",
        "#### Removed ops (1)", "#### Failing variants changed (1)"]
    assert ("| broke | pass → error | 1.00e-09 → - | variant default: forward raised ValueError: "
            "no |") in lines
    assert "| fixed | fail → pass | 3.00e-01 → 1.00e-09 | – |" in lines
    assert "| spread | xfail → xfail | 4.00e-01 → 4.00e-01 | now also fails at default |" in lines


def test_markdown_heading_is_green_without_a_regression():
    markdown = render_markdown(compare(NEW, NEW))
    assert markdown.splitlines()[0] == "### ✅ opcheck diff: no change"
    assert "####" not in markdown


def test_json_holds_every_section_and_the_counts(comparison):
    doc = json.loads(render_json(comparison))
    assert doc["summary"] == {"regressions": 1, "fixes": 1, "changed": 1, "added": 1,
                              "removed": 1, "variants": 1, "growth": 0, "unchanged": 1}
    assert doc["regressions"] == [{
        "name": "broke", "old": "pass", "new": "error", "old_error": 1e-9, "new_error": None,
        "message": "variant default: forward raised ValueError: no\nTraceback ...", "detail": ""}]
    assert [(c["name"], c["old"], c["new"]) for c in doc["added"] + doc["removed"]] == [
        ("added", None, "fail"), ("gone", "fail", None)]
    assert doc["variants"][0]["detail"] == "now also fails at default"
    assert (doc["old_path"], doc["new_path"], doc["factor"]) == ("main.json", "pr.json", 10.0)


@pytest.mark.parametrize("render_one", [render_text, render_markdown, render_json],
                         ids=["text", "markdown", "json"])
def test_two_empty_runs_are_no_change(render_one):
    c = compare([], [])
    assert headline(c) == "no change"
    out = render_one(c)
    if render_one is render_json:
        assert json.loads(out)["summary"] == dict.fromkeys(
            ("regressions", "fixes", "changed", "added", "removed", "variants", "growth",
             "unchanged"), 0)
    else:
        assert "no change" in out.splitlines()[0] and "0 ops unchanged" in out


def test_a_run_against_an_empty_one_is_all_new_or_all_removed():
    ops = [_op("a", "pass", 1e-9), _op("b", "fail", 0.3, "wrong", ("N=1",))]
    grown = compare([], ops)
    assert headline(grown) == "2 new ops" and not grown.regressions
    assert _sections(render_text(grown))["New ops (2):"] == [
        "a  - -> pass         max rel err - -> 1.00e-09",
        "b  - -> fail         max rel err - -> 3.00e-01  wrong"]
    emptied = compare(ops, [])
    assert headline(emptied) == "2 removed ops"
    assert [line.split()[:4] for line in _sections(render_text(emptied))["Removed ops (2):"]] == [
        ["a", "pass", "->", "-"], ["b", "fail", "->", "-"]]


def test_an_op_fixed_at_some_variants_says_where_it_still_fails():
    c = compare([_op("op", "fail", 0.3, "x", ("default", "N=1"))],
                [_op("op", "fail", 0.3, "x", ("N=1",))])
    assert _sections(render_text(c))["Failing variants changed (1):"] == [
        "op  fail -> fail      max rel err 3.00e-01 -> 3.00e-01  no longer fails at default"]
    moved = compare([_op("op", "fail", 0.3, "x", ("default",))],
                    [_op("op", "fail", 0.3, "x", ("N=4",))])
    assert moved.variants[0].detail == "now also fails at N=4; no longer at default"


def test_growth_is_listed_largest_first_with_its_factor():
    old = [_op("a", "pass", 1e-10), _op("b", "pass", 1e-9), _op("c", "pass", 1e-9)]
    new = [_op("a", "pass", 1e-7), _op("b", "pass", 1e-5), _op("c", "pass", math.inf)]
    c = compare(old, new)
    assert headline(c) == "3 error growths"
    assert _sections(render_text(c))["max_rel_error grew more than 10x (3):"] == [
        "c  1.00e-09 -> inf  (infx, pass -> pass)",
        "b  1.00e-09 -> 1.00e-05  (1e+04x, pass -> pass)",
        "a  1.00e-10 -> 1.00e-07  (1e+03x, pass -> pass)"]
    doc = json.loads(render_json(c))  # strict JSON: no bare Infinity
    assert next((g["name"], g["new_error"], g["growth"]) for g in doc["growth"]) == ("c", "inf", "inf")
    assert "| b | 1.00e-09 | 1.00e-05 | 1e+04x | pass → pass |" in render_markdown(c)


def test_notes_are_in_every_rendering():
    c = compare(NEW, NEW, old_meta={"seed": 0}, new_meta={"seed": 1})
    note = "the runs differ in seed (0 vs 1): figures may change for that alone"
    assert f"note: {note}" in render_text(c).splitlines()
    assert f"> {note}" in render_markdown(c).splitlines()
    assert json.loads(render_json(c))["notes"] == [note]


HOSTILE = "evil|op\x1b]0;pwned\x07 *x*"


def test_names_and_reasons_from_plugins_cannot_act_on_a_terminal_or_break_a_table():
    c = compare([_op(HOSTILE, "pass", 1e-9)],
                [_op(HOSTILE, "fail", 0.3, "\x1b[2Jcleared | `code`", ("default",))])
    text = render_text(c)
    assert "\x1b" not in text and "\x07" not in text
    assert "evil|op\\x1b]0;pwned\\x07 *x*" in text and "\\x1b[2Jcleared | `code`" in text
    row = next(line for line in render_markdown(c).splitlines() if line.startswith("| evil"))
    assert row.count(" | ") == 3  # the name's and the reason's | are escaped
    assert json.loads(render_json(c))["regressions"][0]["name"] == HOSTILE  # JSON keeps it exact


def test_the_cli_offers_exactly_the_renderers():
    parser = build_parser()
    diff = next(a for a in parser._subparsers._group_actions[0].choices["diff"]._actions
                if a.dest == "format")
    assert tuple(diff.choices) == FORMATS
    c = compare(OLD, NEW)
    assert [render(name, c) for name in FORMATS] == [render_text(c), render_markdown(c),
                                                     render_json(c)]


def test_opcheck_diff_writes_the_file_and_exits_1_on_a_regression(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    meta = {"tool": "opcheck", "seed": 0, "mode": "auto", "variant": None, "select": []}
    Path("old.json").write_text(json_report(OLD, **meta))
    Path("new.json").write_text(json_report(NEW, **meta))
    assert main(["diff", "old.json", "new.json", "--format", "markdown", "-o", "diff.md"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith(
        "opcheck diff: 1 regression, 1 fixed, 1 changed, 1 new op, 1 removed op, "
        "1 op failing at other variants")
    assert Path("diff.md").read_text().startswith("### ❌ opcheck diff: 1 regression")
    assert main(["diff", "new.json", "new.json"]) == 0
    assert capsys.readouterr().out == "opcheck diff new.json new.json: no change (6 ops unchanged)\n"


def test_a_results_stream_cut_short_is_not_a_clean_diff(tmp_path, monkeypatch, capsys):
    """A killed job's stream lost ops: they are not 'removed', and a gate must not pass."""
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "matmul", "sigmoid_affine", "mul", "--jobs", "1",
                 "--results", "full.jsonl"]) == 0
    lines = Path("full.jsonl").read_bytes().splitlines(keepends=True)
    Path("cut.jsonl").write_bytes(b"".join(lines[:2]) + lines[2][: len(lines[2]) // 2])
    capsys.readouterr()
    assert main(["diff", "full.jsonl", "full.jsonl"]) == 0
    assert main(["diff", "full.jsonl", "cut.jsonl"]) == 1
    err = capsys.readouterr().err
    assert "'cut.jsonl' is incomplete: 2 of its 3 ops have no result" in err, err
    assert main(["diff", "cut.jsonl", "full.jsonl"]) == 0  # an incomplete OLD: warned only
    assert "'cut.jsonl' is incomplete" in capsys.readouterr().err
