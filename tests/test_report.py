"""The text report (``opcheck.report``), read as a user reads it: real audits of tiny ops
declared here, and what the table, the failure details, the coverage and the reproduce
line say about them."""

from __future__ import annotations

import re
import types

import numpy as np
import pytest

import opcheck
from opcheck.report import (
    format_op,
    render_summary_table,
    render_text,
    run_facts,
    summary_line,
)
from opcheck.result import OpReport


def _square(x):
    return x * x


def _op(name: str, backward, *, shape=("N",), jvp=None, forward=_square, **fields) -> opcheck.Op:
    return opcheck.Op(name=name, forward=forward, backward=backward, jvp=jvp,
                      inputs={"x": opcheck.Tensor(shape=shape)}, **fields)


def _mutating(x):
    x += 1.0
    return 2.0 * x


SQUARE = _op("t.square", lambda dout, x: {"x": 2.0 * x * dout})
HALF = _op("t.half", lambda dout, x: {"x": x * dout})  # the factor 2 forgotten
MUTATES = _op("t.mutates", lambda dout, x: {"x": 2.0 * dout}, forward=_mutating)
WRONG_JVP = _op("t.jvp", lambda dout, x: {"x": 2.0 * x * dout},
                jvp=lambda tangents, x: x * tangents["x"])  # backward right, jvp half


@pytest.fixture(scope="module")
def reports() -> dict[str, OpReport]:
    return {op.name: opcheck.audit(op, seed=3) for op in (SQUARE, HALF, MUTATES, WRONG_JVP)}


def _rows(text: str) -> list[tuple[str, float, float]]:
    """The "Worst elements" rows of a mismatch report: (index, analytic, numeric)."""
    found = re.findall(r"^  (\(\d+,\))\s+(\S+)\s+(\S+)\s+\S+\s+\S+$", text, re.MULTILINE)
    return [(index, float(a), float(n)) for index, a, n in found]


# --- one op ----------------------------------------------------------------------------


def test_a_passing_op_is_one_line_with_its_error_variants_and_coverage(reports):
    report = reports["t.square"]
    assert format_op(report) == (f"t.square: PASS (max rel error {report.max_rel_error:.3g}, "
                                 "3 variants; checked all elements of every input)")
    assert report.max_rel_error < 1e-8


def test_a_sampled_audit_says_what_it_covered():
    """Over its budget, the default mode samples: the pass line says how much of what."""
    big = _op("t.big", lambda dout, x: {"x": 2.0 * x * dout}, shape=("N", "N"), dims={"N": 200})
    text = format_op(opcheck.audit(big, budget=0.01))
    assert re.fullmatch(r"t\.big: PASS \(max rel error \S+, 3 variants; checked x: 4 projections "
                        r"\+ \d+ sampled elements \(of 40,000\)\)", text), text


def test_a_gradient_mismatch_reads_like_numpy_testing(reports):
    text = format_op(reports["t.half"])
    lines = text.splitlines()
    assert lines[0].startswith("t.half: FAIL — variant default: gradient mismatch in input 'x': "
                               "3 / 3 elements differ; worst at ")
    assert lines[1] == "Gradient mismatch: op 't.half', input 'x', variant default (dims N=3, seed 3)"
    assert lines[2] == "Mismatched elements: 3 / 3 (100%)"
    # backward gives a = x·dout where n = 2x·dout: |a-n|/(|a|+|n|) = 1/3 at every element
    assert lines[4] == "Max relative error |a-n|/(|a|+|n|): 0.333"
    assert lines[5].startswith("Tolerance: rtol=") and "step h=" in lines[5]
    assert lines[6] == "Worst elements:"
    assert lines[7].split() == ["index", "analytic", "numeric", "|diff|", "est.", "error"]
    rows = _rows(text)
    assert sorted(index for index, _, _ in rows) == ["(0,)", "(1,)", "(2,)"]
    for _, analytic, numeric in rows:  # the analytic column is backward's, the numeric twice it
        assert numeric == pytest.approx(2.0 * analytic, rel=1e-5)
    biggest = max(abs(n - a) for _, a, n in rows)
    assert lines[3] == f"Max absolute difference: {biggest:.3g}"
    assert [abs(n - a) for _, a, n in rows] == sorted((abs(n - a) for _, a, n in rows), reverse=True)


def test_an_op_from_python_reproduces_with_opcheck_audit(reports):
    assert format_op(reports["t.half"]).splitlines()[-1] == (
        "Reproduce: opcheck.audit(op, seed=3, variant='default')  # op: your Op 't.half'")


def test_a_discovered_op_reproduces_with_the_command_line():
    plugin = types.ModuleType("report_test_ops")
    plugin.opcheck_ops = opcheck.hookimpl(lambda: [HALF])
    registry = opcheck.discover([plugin])
    report = opcheck.audit(registry["t.half"], seed=5, mode="fast",
                           plugin=registry.plugin_of["t.half"])
    assert format_op(report).splitlines()[-1] == (
        "Reproduce: opcheck audit t.half -p report_test_ops --seed 5 --variant default --mode fast")


def test_a_broken_contract_is_an_error_without_mismatch_figures(reports):
    text = format_op(reports["t.mutates"])
    assert text.splitlines()[0] == (
        "t.mutates: ERROR — variant default: forward mutated its input 'x' in place; compute into "
        "a new array instead (e.g. x = x - m, not x -= m)")
    assert "Mismatched elements" not in text and "Worst elements" not in text
    assert text.splitlines()[-1].startswith("Reproduce: opcheck.audit(op, seed=3")


def test_an_adjoint_failure_shows_both_sides_and_the_jvp_its_mismatch(reports):
    """backward right, jvp half of it: the adjoint test and the jvp check both fail."""
    text = format_op(reports["t.jvp"])
    assert "Gradient mismatch" not in text  # backward is right
    adjoint = re.search(r"<u, backward\(v\)> = (\S+)\n  <jvp\(u\), v>      = (\S+)", text)
    assert adjoint, text
    assert float(adjoint[1]) == pytest.approx(2.0 * float(adjoint[2]), rel=1e-12)
    assert ("jvp and backward are not transposes of each other: <jvp(u), v> != <u, backward(v)>"
            in text)
    assert "JVP mismatch: op 't.jvp', input 'x', variant default (dims N=3, seed 3)" in text
    rows = _rows(text)
    assert len(rows) == 3
    for _, analytic, numeric in rows:
        assert numeric == pytest.approx(2.0 * analytic, rel=1e-5)


# --- the whole run ---------------------------------------------------------------------


def test_the_table_has_a_row_per_op_and_details_only_for_what_did_not_pass(reports):
    ordered = [reports[n] for n in ("t.square", "t.half", "t.mutates")]
    text = render_text(ordered)
    table, details = text.split("\n\n", 1)
    head, *rows = table.splitlines()
    assert head.split() == ["op", "status", "max", "rel", "err", "variants", "worst", "input",
                            "element", "(analytic", "vs", "numeric)"]
    cells = [row.split() for row in rows]
    assert [c[:2] for c in cells] == [["t.square", "PASS"], ["t.half", "FAIL"],
                                      ["t.mutates", "ERROR"]]
    half = reports["t.half"]
    assert cells[1][2] == f"{half.max_rel_error:.2e}" and cells[1][3] == "3"
    assert cells[1][4:6] == ["x", "[default]"]
    worst = half.variants[0].inputs[0].worst
    assert " ".join(cells[1][6:]) == f"{worst.index}: {worst.analytic:.6g} vs {worst.numeric:.6g}"
    assert cells[2][2:] == ["-", "3", "-", "-"]  # an error has no figure to show
    assert "t.square" not in details
    assert format_op(half) in details and format_op(reports["t.mutates"]) in details


def test_the_table_names_the_ops_an_interrupted_run_did_not_reach(reports):
    text = render_text([reports["t.square"]], not_run=["t.a", "t.b"])
    assert text.endswith("\n\nInterrupted: 2 ops not run: t.a, t.b\n")


def test_control_characters_in_a_message_are_shown_not_sent_to_the_terminal():
    raising = _op("t.raises", lambda dout, x: {"x": 2.0 * x * dout},
                  forward=lambda x: (_ for _ in ()).throw(ValueError("bad \x1b[31mred")))
    text = render_text([opcheck.audit(raising)])
    assert "\x1b" not in text and "\\x1b[31mred" in text


def test_the_closing_line_counts_statuses_in_pytests_order(reports):
    ordered = list(reports.values())
    assert summary_line(ordered, 0.5) == "2 failed, 1 error, 1 passed in 0.50s"
    assert summary_line([], 0.0) == "no ops audited in 0.00s"


def test_the_closing_table_lists_what_did_not_pass_with_its_reason(reports):
    ordered = list(reports.values())
    lines = render_summary_table(ordered, width=80).splitlines()
    assert lines[0].split() == ["status", "op", "reason"]
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["FAIL", "t.half"], ["ERROR", "t.mutates"], ["FAIL", "t.jvp"]]
    assert all(len(line) <= 80 for line in lines[1:4])
    assert lines[1].endswith("…")  # the reason is longer than the room left
    assert lines[-1] == "pass: 1  fail: 2  error: 1"


def test_run_facts_name_what_the_run_was(reports):
    meta = {"seed": 3, "mode": "fast", "variant": "N=1", "shard": "2/4", "opcheck_version": "9.9"}
    assert run_facts(list(reports.values()), meta) == [
        "4 ops", "seed 3", "mode fast", "variant N=1", "shard 2/4", "opcheck 9.9"]
    assert run_facts([], {}) == ["0 ops", "seed 0", "mode full"]
    assert run_facts([], {"order": 1}) == ["0 ops", "seed 0", "mode full", "order 1"]
    assert run_facts([], {"order": 2}) == ["0 ops", "seed 0", "mode full"]  # the default


def test_str_of_a_report_is_its_text(reports):
    assert str(reports["t.half"]) == format_op(reports["t.half"])


def test_the_tolerance_line_states_the_comparisons_own(reports):
    item = reports["t.half"].variants[0].inputs[0]
    line = next(li for li in format_op(reports["t.half"]).splitlines() if li.startswith("Tolerance"))
    assert line.startswith(f"Tolerance: rtol={item.rtol:.3g}, atol={item.atol:.3g}, plus the "
                           "finite difference's error estimate; step h=")
    assert line.endswith("(central)")  # no input bound near: no one-sided difference


def _row(report: OpReport) -> list[str]:
    """The table's cells of ``report``'s row: status, max rel err, worst input, element."""
    header, row = render_text([report]).split("\n\n", 1)[0].splitlines()[:2]
    starts = [header.index(h) for h in ("status", "max rel err", "variants", "worst input",
                                        "element")]
    return [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]


def test_a_passing_rows_max_and_worst_input_come_from_the_same_rule():
    """tanh's largest error is its double_backward's: the row names that rule's input and
    shows that input's element, not backward's beside double_backward's maximum."""
    report = opcheck.audit("tanh")
    assert report.status == "pass"
    _, max_cell, _, where, element = _row(report)
    holder = max((i for v in report.variants for i in v.inputs), key=lambda i: i.max_rel_error)
    assert holder.check == "double_backward"  # else this test shows nothing
    assert max_cell == f"{report.max_rel_error:.2e}" and where.startswith("double_backward:x [")
    e = holder.worst
    assert element == f"{e.index}: {e.analytic:.6g} vs {e.numeric:.6g}"


def test_a_failing_row_names_where_a_larger_max_comes_from():
    """The row shows the first failing input; the op's max is another variant's: said."""
    op = _op("t.worse_at_one", lambda dout, x: {"x": (4.0 if x.shape[0] == 1 else 2.002) * x * dout},
             dims={"N": 3})
    report = opcheck.audit(op)
    status, max_cell, _, where, _ = _row(report)
    assert status == "FAIL" and where == "x [default]"
    assert max_cell == f"{report.max_rel_error:.2e} (x [N=1])", max_cell


def _half_at_three_raises_at_one(dout, x):
    if x.size == 1:
        raise IndexError("the backward's own bug at N=1")
    return {"x": (x if x.size == 3 else 2.0 * x) * dout}  # N=3 (the default): factor 2 lost


def test_a_failure_beside_another_variants_error_is_in_the_details_too():
    """The row points at the mismatch; the details must not explain only the error."""
    op = _op("t.mixed", _half_at_three_raises_at_one, dims={"N": 3})
    report = opcheck.audit(op, seed=3)
    assert report.status == "error"
    failed = [v for v in report.variants if v.status == "fail"]
    assert failed, [(v.label, v.status) for v in report.variants]
    text = format_op(report)
    assert "the backward's own bug at N=1" in text
    assert f"Gradient mismatch: op 't.mixed', input 'x', variant {failed[0].label}" in text
    table = render_text([report])
    assert f"x [{failed[0].label}]" in table.splitlines()[1]


def test_the_details_say_where_the_tables_max_rel_error_is_when_elsewhere():
    """The table's column is the op's largest error; the details show the first failing
    variant: when the two differ, a line says where the column's figure comes from."""
    tanh = opcheck.Op(name="t.tanh", forward=lambda x: np.tanh(x),
                      backward=lambda dout, out, x: {"x": dout * (1.0 - out)},
                      inputs={"x": opcheck.Tensor(shape=("N", "D"))})
    report = opcheck.audit(tanh)
    from opcheck.report import max_holder

    variant, item = max_holder(report)
    assert variant.label != "default"
    assert (f"The op's largest relative error, {report.max_rel_error:.3g} (the table's max rel "
            f"err), is in input 'x' at variant {variant.label}") in format_op(report)


def test_no_such_line_where_the_shown_variant_holds_the_largest_error(reports):
    assert "largest relative error" not in format_op(reports["t.half"])  # 1/3 everywhere


def test_a_pass_that_checked_no_gradient_says_so():
    op = opcheck.Op(name="t.int", forward=lambda k: np.sin(k.astype(float)),
                    backward=lambda dout, k: {},
                    inputs={"k": opcheck.Tensor(shape=("N",), dtype="int32", low=0, high=5)})
    report = opcheck.audit(op)
    assert report.status == "pass"
    assert any("no gradient was checked" in w for w in report.warnings), report.warnings
    assert "no gradient was checked" in render_text([report])
    assert not any("no gradient" in w for w in opcheck.audit(SQUARE).warnings)
