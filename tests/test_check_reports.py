"""Every report format names the check behind a failure: jvp, adjoint, double_backward."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from gallery.rules import BUGS

import opcheck
from opcheck.formats import render
from opcheck.serialize import report_from_dict, report_to_dict

META = {"seed": 0, "mode": "full"}
NAMES = ("rules.jvp_wrong_factor", "rules.adjoint_transposed", "rules.double_backward_missing_term")


@pytest.fixture(scope="module")
def reports() -> list[opcheck.OpReport]:
    ops = {c.op.name: c.op for c in BUGS}
    return [opcheck.audit(ops[name], variant="default") for name in NAMES]


def test_json_carries_the_check_of_every_input(reports) -> None:
    doc = json.loads(render("json", reports, {**META, "not_run": []}))
    checks = [{(i["check"], i["name"], i["status"]) for v in op["variants"] for i in v["inputs"]}
              for op in doc["ops"]]
    assert ("jvp", "x", "fail") in checks[0]
    assert ("adjoint", "x", "fail") in checks[1] and ("backward", "x", "pass") in checks[1]
    assert ("double_backward", "x", "fail") in checks[2] and ("double_backward", "dout", "pass") in checks[2]
    again = report_from_dict(report_to_dict(reports[1]))  # --resume and merge keep it
    assert {i.check for i in again.variants[0].inputs} == {"backward", "adjoint", "jvp"}


def test_text_and_junit_name_the_check(reports) -> None:
    text = render("text", reports, META)
    for words in ("JVP mismatch: op 'rules.jvp_wrong_factor', input 'x'",
                  "Adjoint mismatch: op 'rules.adjoint_transposed', input 'x'",
                  "Second-order mismatch: op 'rules.double_backward_missing_term', input 'x'",
                  "jvp:x [default]", "adjoint:x [default]", "double_backward:x [default]"):
        assert words in text
    root = ET.fromstring(render("junit", reports, META).encode())
    failures = " ".join(f.text or "" for f in root.iter("failure"))
    assert "JVP mismatch" in failures and "Adjoint mismatch" in failures
    assert "Second-order mismatch" in failures


def test_markdown_and_html_show_the_check_and_heat_maps(reports) -> None:
    markdown = render("markdown", reports, META)
    assert r"jvp:x \[default\]" in markdown and r"double\_backward:x \[default\]" in markdown
    assert "Second-order mismatch: op 'rules.double_backward_missing_term'" in markdown
    html = render("html", reports, META)
    assert "<h3>input jvp:x, variant default</h3>" in html
    assert "<h3>input double_backward:x, variant default</h3>" in html
    assert html.count('class="heatmap"') >= 3  # jvp, the adjoint case's jvp, second order
    assert "&lt;jvp(u), v&gt;" in html  # the adjoint test: its two sides, no map
