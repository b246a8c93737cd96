"""The JUnit XML report (``opcheck.formats.junit``) as CI test reporters read it: a real
``opcheck audit --format junit`` of a library with every status, parsed by a real XML
parser."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from status_library import audit_library

from opcheck.formats.junit import WHOLE_OP, error_type, render_junit
from opcheck.frontend import error_report


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> ET.Element:
    return ET.fromstring(audit_library(tmp_path_factory.mktemp("junit"), "junit").encode())


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}


def test_one_suite_per_plugin_with_the_run_as_properties(root):
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "md_ops"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props == {"seed": "0", "mode": "auto"}


def test_a_passing_op_is_a_testcase_per_variant(root):
    cases = _cases(root)
    assert [name for (op, name) in cases if op == "md.good"] == ["default", "N=1", "N=4"]
    assert all(len(cases["md.good", v]) == 0 for v in ("default", "N=1", "N=4"))


def test_a_gradient_mismatch_is_a_failure_with_the_text_report_and_reproduce_line(root):
    failure = _cases(root)["md.wrong", "default"].find("failure")
    assert failure.get("type") == "GradientMismatch"
    assert failure.get("message").startswith("gradient mismatch in input 'x': 3 / 3 elements differ")
    lines = failure.text.splitlines()
    assert "Gradient mismatch: op 'md.wrong', input 'x', variant default (dims N=3, seed 0)" in lines
    assert "Mismatched elements: 3 / 3 (100%)" in lines
    assert lines[-1] == "Reproduce: opcheck audit md.wrong -p md_ops --seed 0 --variant default"


def test_expected_failures_and_skips_are_skipped_as_pytest_writes_them(root):
    cases = _cases(root)
    known = cases["md.known", WHOLE_OP].find("skipped")
    assert known.get("type") == "pytest.xfail"
    assert known.get("message").startswith("expected failure (issue #7: half the gradient)")
    skipped = cases["md.skipped", WHOLE_OP].find("skipped")
    assert (skipped.get("type"), skipped.get("message")) == ("pytest.skip", "needs a GPU")


def test_an_unexpected_pass_is_a_failure_of_type_xpass(root):
    failure = _cases(root)["md.fixed", WHOLE_OP].find("failure")
    assert failure.get("type") == "XPASS"
    assert "issue #8, fixed since" in failure.get("message")


def test_the_counts_are_what_the_testcases_hold(root):
    cases = list(root.iter("testcase"))
    failures = sum(c.find("failure") is not None for c in cases)
    skipped = sum(c.find("skipped") is not None for c in cases)
    # md.wrong fails at 3 variants, md.fixed is one XPASS failure; xfail and skip are skipped
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        str(len(cases)), "4", "0", "2")
    assert (failures, skipped) == (4, 2)


@pytest.mark.parametrize(("message", "kind"), [
    pytest.param("timed out after 60 s (stuck in f at ops.py:3)", "Timeout", id="timeout"),
    pytest.param("worker process died with signal SIGSEGV", "Crash", id="crash"),
    pytest.param("plugin 'x' failed to load: ImportError", "PluginError", id="plugin"),
    pytest.param("variant N=1: forward raised ValueError: no", "ContractError", id="contract"),
])
def test_an_op_that_never_reported_is_one_error_testcase_of_its_kind(message, kind):
    assert error_type(message) == kind
    root = ET.fromstring(render_junit([error_report("x.op", message, 0, "auto", None)], {}))
    (case,) = root.iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("x.op", WHOLE_OP)
    error = case.find("error")
    assert (error.get("type"), error.get("message")) == (kind, message)
    assert error.text.splitlines()[-1] == "Reproduce: opcheck audit x.op --seed 0 --jobs 1"
