"""Known failures and skips (``Op.xfail`` / ``Op.skip``): the decisions themselves, and
``opcheck audit`` honouring them in its exit status and in every report format."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_command import OPCHECK

import opcheck
from opcheck.expectations import Xfail, judge, matches, plan_for, variant_labels

DATA = Path(__file__).parent / "data" / "batch"


def _op(**fields):
    fields.setdefault("backward", lambda dout, x: {"x": 2 * dout})
    return opcheck.Op(name="t.op", forward=lambda x: 2 * x,
                      inputs={"x": opcheck.Tensor(shape=("N",))}, **fields)


# -- the decisions ------------------------------------------------------------------------


def test_a_variant_carries_its_label_its_parts_and_dtypes():
    labels = variant_labels(_op(), "N=1")
    assert {"N=1", "float64"} <= labels
    assert "backward" not in labels  # checks are selected per check, not per variant
    assert matches("*", labels) and matches("N=1 float64", labels)
    assert not matches("N=4", labels) and not matches("float64 N=4", labels)


def _judged(op):
    from opcheck.expectation_reports import apply, audit_expected

    return apply(audit_expected(op, seed=0, mode="full", variant=None, plugin=None), plan_for(op))


def test_a_check_selector_in_opcheck_audit_covers_that_check_only():
    wrong_jvp = lambda x, tangents: 3 * tangents["x"]  # noqa: E731 (the factor is 2)
    report = _judged(_op(jvp=wrong_jvp, xfail={"jvp": "wrong factor, issue 7"}))
    assert report.status == "xfail" and "wrong factor" in report.message
    fixed = _judged(_op(jvp=lambda x, tangents: 2 * tangents["x"], xfail={"jvp": "issue 7"}))
    assert fixed.status == "xpass" and "remove 'jvp'" in fixed.message
    skipped = _judged(_op(jvp=wrong_jvp, skip={"jvp": "not ready"}))
    assert skipped.status == "pass"
    assert {item.check for v in skipped.variants for item in v.inputs} == {"backward"}
    wrong_backward = _op(backward=lambda dout, x: {"x": 3 * dout},
                         jvp=lambda x, tangents: 2 * tangents["x"], xfail={"jvp": "issue 7"})
    assert _judged(wrong_backward).status == "fail"  # a jvp xfail does not cover backward


def _raises_at_n_1(dout, x):
    if x.shape[0] == 1:
        raise RuntimeError("a batch of one is unsupported")
    return {"x": 2 * dout}


def test_opcheck_audit_in_python_honours_the_ops_skips_and_xfails_as_the_cli_does():
    """A skipped variant (one that would crash or hang) never runs in the caller's process;
    a declared expected failure is an xfail, a fixed one an xpass."""
    skipping = _op(backward=_raises_at_n_1, skip={"N=1": "a batch of one is unsupported"})
    report = opcheck.audit(skipping)
    assert report.status == "pass", report.message
    assert "N=1" not in [v.label for v in report.variants]
    assert report.skipped == {"N=1": "a batch of one is unsupported"}
    raw = opcheck.audit(skipping, expectations=False)  # every variant, as the pytest plugin takes it
    assert raw.status == "error" and raw.failing_variant().label == "N=1"
    known = opcheck.audit(_op(backward=lambda dout, x: {"x": 3 * dout}, xfail={"*": "issue 12"}))
    assert known.status == "xfail" and "issue 12" in known.message
    fixed = opcheck.audit(_op(xfail={"*": "issue 13"}))
    assert fixed.status == "xpass"
    assert opcheck.audit(skipping, variant="N=4").status == "pass"
    assert opcheck.audit(skipping, variant="N=1").status == "skip"


def _attr_op(**fields):
    def backward(dout, x, scale):
        if scale == 2.0:
            raise RuntimeError("scale=2 crashes")
        return {"x": scale * dout}

    return opcheck.Op(name="t.scale", forward=lambda x, scale: scale * x, backward=backward,
                      inputs={"x": opcheck.Tensor(shape=("N",))},
                      attrs={"scale": [1.0, 2.0], "shift": [0, 1]}, **fields)


def test_a_partial_variant_selector_never_runs_a_skipped_variant():
    """--variant shift=1 picks every variant holding it; the skipped ones among them still
    never run (they ran, and crashed, when the selector was not resolved to labels)."""
    op = _attr_op(skip={"scale=2.0": "crashes"})
    report = opcheck.audit(op, variant="shift=1")
    assert report.status == "pass", report.message
    assert [v.label for v in report.variants] == ["scale=1.0 shift=1"]
    assert report.skipped == {"scale=2.0 shift=1": "crashes"}  # not the unselected ones
    assert opcheck.audit(op, variant="scale=2.0").status == "skip"


def test_fixed_values_honour_the_whole_op_and_given_selectors():
    import numpy as np

    values = {"x": np.linspace(-1.0, 1.0, 4)}
    wrong = lambda dout, x: {"x": 3 * dout}  # noqa: E731 (the factor is 2)
    assert opcheck.audit(_op(backward=wrong, xfail={"*": "issue 7"}), inputs=values).status == "xfail"
    assert opcheck.audit(_op(backward=wrong, xfail={"given": "issue 8"}), inputs=values).status == "xfail"
    assert opcheck.audit(_op(xfail={"*": "stale"}), inputs=values).status == "xpass"
    assert opcheck.audit(_op(backward=wrong, skip={"given": "no"}), inputs=values).status == "skip"
    assert opcheck.audit(_op(backward=wrong, xfail={"N=1": "batch"}), inputs=values).status == "fail"


def test_a_failure_no_xfail_covers_is_the_one_reported_and_reproduced():
    """The default variant is expected to fail; N=1 fails unexpectedly: the report names
    and reproduces N=1, as the pytest plugin does."""
    op = _op(backward=lambda dout, x: {"x": 3 * dout}, xfail={"default": "known"})
    report = opcheck.audit(op)
    assert report.status == "fail"
    assert report.message.startswith("variant N=1: gradient mismatch"), report.message
    assert "variant='N=1'" in report.reproduce, report.reproduce


def test_a_label_holding_several_settings_is_matched_part_by_part():
    """An attr configuration label such as 'stride=2 pad=0' is selected by any of its parts."""
    labels = variant_labels(_op(), "stride=2 pad=0")
    assert matches("stride=2", labels) and matches("pad=0 stride=2", labels)
    assert not matches("stride=1", labels)


def test_plan_maps_each_selector_to_the_variants_it_holds():
    plan = plan_for(_op(xfail={"N=1": "batch of one"}, skip={"N=4": "slow"}))
    assert plan.labels == ("default", "N=1", "N=4")
    assert set(plan.xfail) == {"N=1"} and not plan.xfail["N=1"].whole
    assert set(plan.skip) == {"N=4"} and not plan.skipped
    whole = plan_for(_op(skip={"float64": "not yet"}))
    assert whole.skipped and whole.skip_reason() == "not yet"


def test_a_selector_that_matches_nothing_is_a_problem_naming_it():
    plan = plan_for(_op(xfail={"N=2": "typo"}))
    assert plan.problem is not None
    assert "xfail selector 'N=2' of op 't.op' matches nothing" in plan.problem
    assert plan_for(_op(xfail={"float32": "elsewhere"})).problem is None  # a dtype, not a typo


@pytest.mark.parametrize(("statuses", "table", "strict", "status"), [
    pytest.param({"default": "fail", "N=1": "fail"}, {"default": "*", "N=1": "*"}, True, "xfail",
                 id="whole-op-fails"),
    pytest.param({"default": "pass", "N=1": "fail"}, {"default": "*", "N=1": "*"}, True, "xfail",
                 id="whole-op-partly-fails"),
    pytest.param({"default": "pass", "N=1": "pass"}, {"default": "*", "N=1": "*"}, True, "xpass",
                 id="whole-op-passes"),
    pytest.param({"default": "fail", "N=1": "fail"}, {"N=1": "N=1"}, True, "fail",
                 id="an-unexpected-failure"),
    pytest.param({"default": "pass", "N=1": "error"}, {"N=1": "N=1"}, True, "xfail",
                 id="an-expected-error"),
    pytest.param({"default": "fail", "N=1": "pass"}, {"default": "default", "N=1": "N=1"}, True,
                 "xpass", id="one-of-two-passes-strict"),
    pytest.param({"default": "fail", "N=1": "pass"}, {"default": "default", "N=1": "N=1"}, False,
                 "xfail", id="one-of-two-passes-not-strict"),
    pytest.param({"default": "pass"}, {}, True, "pass", id="nothing-declared"),
])
def test_judge(statuses, table, strict, status):
    xfail = {label: Xfail(selector, "why", whole=selector == "*") for label, selector in table.items()}
    assert judge(statuses, xfail, strict=strict).status == status


# -- opcheck audit ------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path):
    shutil.copy(DATA / "expect_ops.py", tmp_path)
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPCHECK, "audit", "-p", "expect_ops", *args], check=False,
                              cwd=tmp_path, env={**env, **extra}, text=True,
                              capture_output=True, timeout=120)

    run.path = tmp_path
    return run


def test_the_command_line_resolves_partial_selectors_and_reports_the_unexpected_variant(tmp_path):
    shutil.copy(DATA / "partial_ops.py", tmp_path)
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)

    def audit(*args):
        return subprocess.run([*OPCHECK, "audit", "-p", "partial_ops", *args], check=False,
                              cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120)

    skipped = audit("partial.scale", "--variant", "shift=1", "--format", "json")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    [entry] = json.loads(skipped.stdout)["ops"]
    assert [v["label"] for v in entry["variants"]] == ["scale=1.0 shift=1"]
    failed = audit("partial.default_known")
    assert failed.returncode == 1
    assert "FAIL — variant N=1: gradient mismatch" in failed.stdout, failed.stdout
    assert "Reproduce: opcheck audit partial.default_known -p partial_ops --seed 0 --variant N=1" \
        in failed.stdout


EXPECTED = {
    "expect.batch_one": "xfail", "expect.crash_at_one": "pass", "expect.f32": "skip",
    "expect.fixed": "xpass", "expect.good": "pass", "expect.known": "xfail",
    "expect.listed": "fail", "expect.listed_fixed": "pass",
}


def test_audit_gives_every_expectation_its_status_in_every_format(run):
    result = run("expect.*", "--jobs", "2", "--format", "json,junit,markdown,html,text",
                 "-o", "out/")
    assert result.returncode == 1, result.stderr
    assert "1 failed, 3 passed, 1 skipped, 2 xfailed, 1 xpassed in" in result.stderr
    out = run.path / "out"
    doc = json.loads((out / "report.json").read_text())
    assert {op["name"]: op["status"] for op in doc["ops"]} == EXPECTED
    assert doc["summary"] == {"pass": 3, "fail": 1, "error": 0, "xfail": 2, "xpass": 1, "skip": 1}
    ops = {op["name"]: op for op in doc["ops"]}
    # the skipped variant that segfaults never ran; the others did
    assert [v["label"] for v in ops["expect.crash_at_one"]["variants"]] == ["default", "N=4"]
    assert ops["expect.known"]["message"].startswith("expected failure (issue 12): variant")
    assert ops["expect.fixed"]["message"] == (
        "[XPASS(strict)] expected to fail (issue 13) but passes: remove '*' from the xfail "
        "of op 'expect.fixed'")
    assert ops["expect.f32"]["message"] == "no float32 here"

    junit = (out / "report.junit.xml").read_text()
    assert 'type="pytest.xfail" message="expected failure (issue 12)' in junit
    assert 'type="pytest.skip" message="no float32 here"' in junit
    assert '<failure message="[XPASS(strict)] expected to fail (issue 13)' in junit

    markdown = (out / "report.md").read_text()
    assert "| expect.fixed | ❗ XPASS |" in markdown
    assert "Expected failures and skips (3)" in markdown
    assert "| expect.f32 | ⏭️ skip | no float32 here |" in markdown

    page = (out / "report.html").read_text()
    assert '<tr data-status="xfail">' in page and 'id="show-xpass"' in page
    assert '<td class="status skip">SKIP</td>' in page

    text = (out / "report.txt").read_text()
    for name, status in EXPECTED.items():
        assert any(line.split()[:2] == [name, status.upper()] for line in text.splitlines())


def test_xfail_and_skip_alone_exit_0_and_an_xpass_exits_1(run):
    ok = run("expect.known", "expect.f32", "expect.batch_one", "--jobs", "1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 skipped, 2 xfailed" in ok.stderr
    xpass = run("expect.fixed", "--jobs", "1")
    assert xpass.returncode == 1
    assert "remove '*' from the xfail of op 'expect.fixed'" in xpass.stdout


def test_a_selector_that_matches_nothing_is_an_error_entry(run):
    (run.path / "typo_ops.py").write_text(
        "import opcheck\n"
        "@opcheck.hookimpl\n"
        "def opcheck_ops():\n"
        "    return [opcheck.Op(name='typo.op', forward=lambda x: 2 * x,\n"
        "                       backward=lambda dout, x: {'x': 2 * dout},\n"
        "                       inputs={'x': opcheck.Tensor(shape=('N',))},\n"
        "                       xfail={'N=2': 'typo'})]\n")
    result = run("-p", "typo_ops", "typo.op", "--format", "json")
    assert result.returncode == 1
    [op] = json.loads(result.stdout)["ops"]
    assert op["status"] == "error"
    assert "xfail selector 'N=2' of op 'typo.op' matches nothing" in op["message"]


def test_a_variant_audit_of_a_skipped_variant_is_a_skip(run):
    result = run("expect.crash_at_one", "--variant", "N=1", "--format", "json", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    [op] = json.loads(result.stdout)["ops"]
    assert (op["status"], op["message"]) == ("skip", "variant N=1: segfaults at a batch of one")


def test_default_selects_the_first_variant_of_an_op_with_attrs():
    """An op with attrs labels its first variant by its configuration ('k=1'), yet
    'default' still names it, as for every other op."""
    op = opcheck.Op(name="t.scale", forward=lambda x, k: k * x,
                    backward=lambda dout, x, k: {"x": k * dout},
                    inputs={"x": opcheck.Tensor(shape=("N",))}, attrs={"k": [1, 2]},
                    xfail={"default": "known"})
    plan = plan_for(op)
    assert plan.problem is None
    assert list(plan.xfail) == [plan.labels[0]] and plan.labels[0] == "k=1"
