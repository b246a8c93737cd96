"""The JUnit XML report (``opcheck.formats.junit``) as CI test reporters read it: a real
``opcheck audit --format junit`` of a library with every status, parsed by a real XML
parser."""

from __future__ import annotations

import re

import xml.etree.ElementTree as ET

import pytest
from status_library import audit_library

from opcheck.formats.junit import WHOLE_OP, error_type, render_junit
from opcheck.frontend import error_report


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> ET.Element:
    return ET.fromstring(audit_library(tmp_path_factory.mktemp("junit"), "junit").encode())


def _outcome(case: ET.Element) -> list[ET.Element]:
    """A testcase's outcome elements (failure, error, skipped), without its properties."""
    return [child for child in case if child.tag not in ("properties", "system-out")]


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
    for v in ("default", "N=1", "N=4"):  # no failure, error or skip: what it covered only
        assert [child.tag for child in cases["md.good", v]] == ["properties"]
        (prop,) = cases["md.good", v].find("properties")
        assert prop.get("name") == "opcheck_coverage"
        assert re.fullmatch(r"x: all \d+ elements", prop.get("value")), prop.get("value")


def test_a_gradient_mismatch_is_a_failure_with_the_text_report_and_reproduce_line(root):
    failure = _cases(root)["md.wrong", "default"].find("failure")
    assert failure.get("type") == "GradientMismatch"
    assert failure.get("message").startswith("gradient mismatch in input 'x': 3 / 3 elements differ")
    lines = failure.text.splitlines()
    assert "Gradient mismatch: op 'md.wrong', input 'x', variant default (dims N=3, seed 0)" in lines
    assert "Mismatched elements: 3 / 3 (100%)" in lines
    assert lines[-1] == "Reproduce: opcheck audit md.wrong -p md_ops --seed 0 --variant default"


def test_each_failing_variants_testcase_reproduces_its_own_variant(root):
    cases = _cases(root)
    failing = [name for (op, name), case in cases.items()
               if op == "md.wrong" and case.find("failure") is not None]
    assert len(failing) > 1, failing
    for name in failing:
        last = cases["md.wrong", name].find("failure").text.splitlines()[-1]
        assert last == f"Reproduce: opcheck audit md.wrong -p md_ops --seed 0 --variant {name}"


def test_expected_failures_and_skips_are_skipped_per_variant_as_pytest_writes_them(root):
    cases = _cases(root)
    for label in ("default", "N=1", "N=4"):
        (known,) = _outcome(cases["md.known", label])
        assert known.tag == "skipped" and known.get("type") == "pytest.xfail"
        assert known.get("message").startswith(
            f"expected failure (issue #7: half the gradient): variant {label}: gradient mismatch")
        (skipped,) = _outcome(cases["md.skipped", label])
        assert (skipped.tag, skipped.get("type"), skipped.get("message")) == (
            "skipped", "pytest.skip", "needs a GPU")
    assert ("md.known", WHOLE_OP) not in cases and ("md.skipped", WHOLE_OP) not in cases


def test_an_unexpected_pass_is_a_strict_xpass_failure_at_each_variant(root):
    cases = _cases(root)
    for label in ("default", "N=1", "N=4"):
        failure = cases["md.fixed", label].find("failure")
        assert failure.get("type") == "XPASS"
        assert failure.get("message").startswith("[XPASS(strict)] expected to fail (issue #8, fixed")


def test_the_counts_are_what_the_testcases_hold(root):
    cases = list(root.iter("testcase"))
    failures = sum(c.find("failure") is not None for c in cases)
    skipped = sum(c.find("skipped") is not None for c in cases)
    # md.wrong fails at 3 variants, md.fixed XPASSes at 3; md.known and md.skipped: 3 skipped each
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "15", "6", "0", "6")
    assert (len(cases), failures, skipped) == (15, 6, 6)


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


EXPECTATIONS = '''
import opcheck

X = {"x": opcheck.Tensor(shape=("N",))}


def _square(x):
    return x * x


def _right(dout, x):
    return {"x": 2.0 * x * dout}


def _wrong_at_one(dout, x):
    return {"x": (1.0 if x.shape[0] == 1 else 2.0) * x * dout}


def _half(dout, x):
    return {"x": x * dout}


@opcheck.hookimpl
def opcheck_ops():
    return [
        opcheck.Op(name="j.batch_one", forward=_square, backward=_wrong_at_one, inputs=X,
                   xfail={"N=1": "a batch of one"}),
        opcheck.Op(name="j.partly_skipped", forward=_square, backward=_right, inputs=X,
                   skip={"N=1": "too small"}),
        opcheck.Op(name="j.two", forward=_square, backward=_wrong_at_one, inputs=X,
                   xfail={"N=1": "issue 1", "N=4": "issue 2"}),
        opcheck.Op(name="j.listed", forward=_square, backward=_half, inputs=X),
        opcheck.Op(name="j.listed_fixed", forward=_square, backward=_right, inputs=X),
    ]
'''


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> tuple[ET.Element, ET.Element]:
    """A run of ``EXPECTATIONS`` with a baseline, as JUnit; and the same rendered again by
    ``opcheck merge`` from its JSON report (what a report file keeps must be enough)."""
    from opcheck.cli import main

    folder = tmp_path_factory.mktemp("expectations")
    (folder / "j_ops.py").write_text(EXPECTATIONS)
    (folder / "base.json").write_text('{"j.listed": "issue 3", "j.listed_fixed": "issue 4"}')
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.syspath_prepend(str(folder))
        patch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
        assert main(["audit", "j.*", "-p", "j_ops", "-j", "1", "--baseline", "base.json",
                     "--format", "junit,json", "-o", "out"]) == 1
        assert main(["merge", "out/report.json", "--format", "junit", "-o", "merged.xml"]) == 1
    return (ET.fromstring((folder / "out" / "report.junit.xml").read_bytes()),
            ET.fromstring((folder / "merged.xml").read_bytes()))


def _outcomes(root: ET.Element) -> dict[tuple[str, str], str]:
    """(op, variant) → "pass", or the tag and type of what the testcase holds."""
    return {(c.get("classname"), c.get("name")): next(
        (f"{child.tag}:{child.get('type')}" for child in _outcome(c)), "pass") for c in root.iter("testcase")}


def test_each_variant_says_what_its_expectation_made_of_it(expected):
    """As pytest's junitxml writes parametrized tests: the variants an xfail selector does
    not hold pass, an expected failure is skipped (pytest.xfail), a variant a skip
    selector left out is skipped (pytest.skip), an expected failure that passed fails."""
    outcomes = _outcomes(expected[0])
    assert outcomes == {
        ("j.batch_one", "default"): "pass",
        ("j.batch_one", "N=1"): "skipped:pytest.xfail",
        ("j.batch_one", "N=4"): "pass",
        ("j.partly_skipped", "default"): "pass",
        ("j.partly_skipped", "N=4"): "pass",
        ("j.partly_skipped", "N=1"): "skipped:pytest.skip",
        # two expectations, one met (N=1 fails), one not (N=4 passes): strict XPASS at N=4
        ("j.two", "default"): "pass",
        ("j.two", "N=1"): "skipped:pytest.xfail",
        ("j.two", "N=4"): "failure:XPASS",
        **{("j.listed", v): "skipped:pytest.xfail" for v in ("default", "N=1", "N=4")},
        **{("j.listed_fixed", v): "failure:XPASS" for v in ("default", "N=1", "N=4")},
    }


def test_expectation_messages_are_pytests(expected):
    cases = _cases(expected[0])
    assert cases["j.batch_one", "N=1"].find("skipped").get("message").startswith(
        "expected failure (variant N=1: a batch of one): variant N=1: gradient mismatch")
    assert cases["j.listed", "N=4"].find("skipped").get("message").startswith(
        "known failure (baseline base.json: issue 3): variant N=4: gradient mismatch")
    skip = cases["j.partly_skipped", "N=1"].find("skipped")
    assert (skip.get("message"), skip.text) == ("too small", "too small")
    xpass = cases["j.two", "N=4"].find("failure")
    assert xpass.get("message").startswith("[XPASS(strict)] expected to fail (variant N=4: issue 2)")
    assert cases["j.listed_fixed", "default"].find("failure").get("message").startswith(
        "[XPASS(strict)] listed in the baseline base.json")


def test_a_merged_report_says_the_same(expected):
    assert _outcomes(expected[1]) == _outcomes(expected[0])
