"""The Markdown report (``opcheck.formats.markdown``), as a pull-request comment or a CI
step summary shows it: a real ``opcheck audit --format markdown`` of a small library with
every status, then what each section says."""

from __future__ import annotations

import re

import pytest
from status_library import audit_library

from opcheck import __version__
from opcheck.formats.markdown import MAX_DETAILS, render_markdown
from opcheck.report import format_op
from opcheck.serialize import report_from_dict, report_to_dict


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    """``opcheck audit 'md.*' --format markdown`` of a library with every status."""
    return audit_library(tmp_path_factory.mktemp("md"), "markdown")


def _section(page: str, start: str, end: str = "<details>") -> str:
    return page.split(start, 1)[1].split(end, 1)[0]


def _rows(table: str) -> list[list[str]]:
    """The cells of a Markdown table's body rows (escaped pipes kept inside cells)."""
    rows = [line for line in table.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_the_heading_is_the_verdict_and_the_next_line_the_run(page):
    heading, blank, facts = page.splitlines()[:3]
    assert re.fullmatch(r"## opcheck: 1 failed, 1 passed, 1 skipped, 1 xfailed, 1 xpassed "
                        r"in \d+\.\d\ds", heading), heading
    assert blank == ""
    assert facts == f"5 ops · seed 0 · mode auto · opcheck {__version__}"


def test_not_passing_lists_failures_and_xpasses_with_where_and_why(page):
    rows = _rows(_section(page, "### Not passing"))
    assert [(r[0], r[1]) for r in rows] == [("md.fixed", "❗ XPASS"), ("md.wrong", "❌ FAIL")]
    wrong = rows[1]
    assert wrong[2] == r"x \[default\]"  # the input and variant to look at
    assert float(wrong[3]) == pytest.approx(1 / 3, rel=1e-3)  # |a - 2a| / (|a| + |2a|)
    assert wrong[4].startswith("variant default: gradient mismatch in input 'x': ")
    assert rows[0][2] == "–"  # nothing failed: nowhere to point
    assert rows[0][4] == (r"\[XPASS(strict)\] expected to fail (issue #8, fixed since) but passes: "
                          r"remove '\*' from the xfail of op 'md.fixed'")  # markdown-escaped


def test_each_failure_has_its_text_report_folded_in_a_code_block(page):
    details = _section(page, "<details><summary>md.wrong: fail</summary>", "</details>")
    block = re.search(r"^```text\n(.*?)\n```$", details, re.MULTILINE | re.DOTALL)
    assert block, details
    assert block[1].splitlines()[1] == ("Gradient mismatch: op 'md.wrong', input 'x', variant "
                                        "default (dims N=3, seed 0)")
    assert block[1].splitlines()[-1] == ("Reproduce: opcheck audit md.wrong -p md_ops --seed 0 "
                                         "--variant default")


def test_expected_failures_and_skips_are_listed_apart_with_their_reasons(page):
    known = _section(page, "<details><summary>Expected failures and skips (2)</summary>",
                     "</details>")
    rows = {r[0]: r[1:] for r in _rows(known)}
    assert rows["md.known"][0] == "⚠️ xfail"
    assert rows["md.known"][1].startswith("expected failure (issue #7: half the gradient): variant "
                                          "default: gradient mismatch in input 'x'")
    assert rows["md.skipped"] == ["⏭️ skip", "needs a GPU"]
    assert "md.known" not in _section(page, "### Not passing")


def test_every_op_is_in_the_folded_table_with_its_plugin(page):
    every = _section(page, "<details><summary>All 5 ops</summary>", "</details>")
    rows = _rows(every)
    assert sorted(r[0] for r in rows) == ["md.fixed", "md.good", "md.known", "md.skipped",
                                          "md.wrong"]
    assert {r[5] for r in rows} == {r"md\_ops"}
    good = next(r for r in rows if r[0] == "md.good")
    assert good[1] == "✅ pass" and good[3] == "3" and float(good[2]) < 1e-8
    assert good[4] == "all elements of every input"  # what was covered, as every report says


def test_past_max_details_the_rest_are_counted_not_shown():
    from opcheck.frontend import error_report

    one = report_to_dict(error_report("x.0", "it broke", 0, "auto", None))
    many = [report_from_dict({**one, "name": f"x.{k}"}) for k in range(MAX_DETAILS + 2)]
    text = render_markdown(many, {"seed": 0})
    assert text.count("<details><summary>x.") == MAX_DETAILS
    assert "(2 more not shown; the JSON report has them all)" in text
    assert format_op(many[0]) in text


def test_a_max_rel_err_held_by_another_variant_is_named_as_in_the_text_table():
    import numpy as np

    import opcheck
    from opcheck.report import max_holder

    op = opcheck.Op(name="t.tanh", forward=lambda x: np.tanh(x),
                    backward=lambda dout, out, x: {"x": dout * (1.0 - out)},
                    inputs={"x": opcheck.Tensor(shape=("N", "D"))})
    report = opcheck.audit(op)
    variant, item = max_holder(report)
    assert variant.label != "default"  # the row's worst input is at default
    rows = _rows(_section(render_markdown([report], {}), "### Not passing"))
    assert rows[0][3] == f"{report.max_rel_error:.2e} (x \\[{variant.label}\\])"
