"""``--baseline FILE`` / ``--update-baseline``: known failures kept in a file, in
``opcheck audit`` (every status and exit code) and in the pytest plugin."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_command import OPCHECK

from opcheck.baseline import Baseline, dumps, load
from opcheck.errors import UsageError
from opcheck.result import OpReport

DATA = Path(__file__).parent / "data" / "batch"


def test_the_file_is_sorted_readable_json_and_reads_back(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(dumps({"b.op": "why b", "a.op": "why a"}))
    assert path.read_text().splitlines()[:3] == [
        "{", '  "opcheck_baseline": 1,', '  "known_failures": {']
    assert list(load(str(path)).entries) == ["a.op", "b.op"]
    path.write_text('{"a.op": "hand-written, no header"}')
    assert load(str(path)).entries == {"a.op": "hand-written, no header"}


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("{not json", "is not valid JSON", id="not-json"),
    pytest.param('{"a.op": 3}', "must map op names to reasons", id="reason-not-a-string"),
    pytest.param('["a.op"]', "must map op names to reasons", id="a-list"),
    pytest.param('{"opcheck_baseline": 1, "knwon_failures": {"a.op": "x"}}',
                 "unknown key.*did you mean 'known_failures'", id="misspelt-key"),
    pytest.param('{"opcheck_baseline": 7, "known_failures": {}}', "reads version 1",
                 id="unknown-version"),
    pytest.param('{"schema_version": 1, "ops": []}', r"is a JSON report \(opcheck audit "
                 r"--format json\), not a --baseline file of known failures", id="a-report"),
    pytest.param('{"opcheck_results": 1}\n{"name": "a", "status": "fail"}\n',
                 r"is a results stream \(opcheck audit --results\), not a --baseline file",
                 id="a-results-stream"),
])
def test_a_bad_file_is_a_usage_error_saying_what_it_holds(tmp_path, text, message):
    path = tmp_path / "baseline.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load(str(path))


def test_a_missing_file_is_an_error_unless_it_is_being_created(tmp_path):
    with pytest.raises(UsageError, match="create it with --update-baseline"):
        load(str(tmp_path / "none.json"))
    assert load(str(tmp_path / "none.json"), missing_ok=True).entries == {}


def test_update_keeps_reasons_adds_new_failures_and_drops_fixed_and_gone_ops():
    base = Baseline("b.json", {"still": "issue 1", "fixed": "issue 2", "gone": "issue 3",
                               "elsewhere": "another shard's"})
    reports = [base.apply(OpReport(name=n, status=s)) for n, s in
               [("still", "fail"), ("fixed", "pass"), ("new", "error"), ("fine", "pass")]]
    assert [r.status for r in reports] == ["xfail", "xpass", "error", "pass"]
    new = base.updated(reports, ["still", "fixed", "new", "fine", "elsewhere"],
                       today=datetime.date(2026, 12, 1))
    assert new == {"elsewhere": "another shard's", "new": "new in 2026-12-01", "still": "issue 1"}
    base.rejudge(reports, new)
    assert [r.status for r in reports] == ["xfail", "pass", "xfail", "pass"]


def test_update_keeps_skipped_ops_and_never_adds_declaration_errors():
    """A skipped op was not audited, so its entry stays; an op that errors because of its
    own declaration (a selector typo) is a mistake to fix, not a known failure."""
    base = Baseline("b.json", {"skipped": "issue 4"})
    reports = [base.apply(OpReport(name="skipped", status="skip")),
               base.apply(OpReport(name="typo", status="error", message=(
                   "xfail selector 'N=9' of op 'typo' matches nothing: use '*' ...")))]
    new = base.updated(reports, ["skipped", "typo"], today=datetime.date(2026, 12, 1))
    assert new == {"skipped": "issue 4"}


@pytest.fixture
def library(tmp_path):
    """The expect_ops library and a baseline listing a failing op, a fixed one and a gone one."""
    shutil.copy(DATA / "expect_ops.py", tmp_path)
    (tmp_path / "baseline.json").write_text(json.dumps({
        "expect.listed": "issue 99", "expect.listed_fixed": "issue 98", "expect.gone": "renamed"}))
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    return tmp_path, env


def _audit(library, *args, names=("expect.*",), **extra):
    path, env = library
    return subprocess.run([*OPCHECK, "audit", *names, "-p", "expect_ops", "--jobs", "1",
                           "--format", "json", *args], check=False, cwd=path,
                          env={**env, **extra}, text=True, capture_output=True, timeout=120)


def _statuses(result):
    return {op["name"]: op["status"] for op in json.loads(result.stdout)["ops"]}


@pytest.mark.slow  # starts processes
def test_a_library_with_xfails_a_baseline_a_fix_and_a_new_bug(library):
    """The issue's scenario: each op gets its status, and the exit status follows."""
    path, _ = library
    result = _audit(library, "--baseline", "baseline.json")
    assert result.returncode == 1  # expect.fixed's declared xfail and the baseline's fix
    statuses = _statuses(result)
    assert statuses["expect.listed"] == "xfail" and statuses["expect.listed_fixed"] == "xpass"
    assert statuses["expect.known"] == "xfail" and statuses["expect.fixed"] == "xpass"
    assert "lists 1 op(s) that no longer exist: expect.gone" in result.stderr
    fixed = next(op for op in json.loads(result.stdout)["ops"] if op["name"] == "expect.listed_fixed")
    assert "remove 'expect.listed_fixed' from it" in fixed["message"]

    updated = _audit(library, "--baseline", "baseline.json", "--update-baseline",
                     names=("expect.known", "expect.listed*"))
    assert updated.returncode == 0, updated.stderr
    entries = load(str(path / "baseline.json")).entries
    assert entries == {"expect.listed": "issue 99"}  # reason kept; fixed and gone ones dropped
    assert "removed expect.gone, expect.listed_fixed" in updated.stderr

    bug = _audit(library, "--baseline", "baseline.json", names=("expect.good", "expect.listed"),
                 EXPECT_BUG="expect.good")
    assert bug.returncode == 1
    assert _statuses(bug) == {"expect.good": "fail", "expect.listed": "xfail"}
    learnt = _audit(library, "--baseline", "baseline.json", "--update-baseline",
                    "--baseline-reason", "issue 100", names=("expect.good",),
                    EXPECT_BUG="expect.good")
    assert learnt.returncode == 0 and _statuses(learnt) == {"expect.good": "xfail"}
    assert load(str(path / "baseline.json")).entries == {"expect.good": "issue 100",
                                                          "expect.listed": "issue 99"}


@pytest.mark.slow  # starts processes
def test_update_baseline_without_a_file_is_a_usage_error(library):
    result = _audit(library, "--update-baseline")
    assert result.returncode == 2 and "need --baseline FILE" in result.stderr


def test_the_pytest_plugin_reads_the_baseline_too(library):
    path, env = library
    env = {k: v for k, v in env.items() if k not in ("PYTEST_PLUGINS", "PYTEST_ADDOPTS")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--opcheck-ops", "expect.*",
         "--opcheck-plugin", "expect_ops", "--opcheck-baseline", "baseline.json", "-rA", "-q"],
        check=False, cwd=path, env=env, text=True, capture_output=True, timeout=120)
    assert result.returncode == 1, result.stdout
    assert "XFAIL opcheck::expect.listed - baseline: issue 99" in result.stdout
    assert "FAILED opcheck::expect.listed_fixed - [XPASS(strict)]" in result.stdout
    assert "remove its entry from the --opcheck-baseline file." in result.stdout
    assert "2 failed, 2 passed, 1 skipped, 3 xfailed" in result.stdout
