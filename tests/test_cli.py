"""Batch audits from the command line, as a user runs them: the installed ``opcheck``
command in a subprocess, in a fresh folder holding the test plugins of tests/data/batch/,
with entry-point autoload off. Real worker processes, real signals, real files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_command import OPCHECK

from opcheck.plugin_manager import discover

DATA = Path(__file__).parent / "data" / "batch"
BAD_REASONS = {
    "bad.hang": "timed out after 2 s",
    "bad.segfault": "worker process died with signal SIGSEGV",
    "bad.raise": "forward raised RuntimeError: numerics exploded",
}





@pytest.fixture
def workdir(tmp_path):
    """A fresh folder with the test plugins in it, as a user's project would have them."""
    for source in DATA.glob("*.py"):
        shutil.copy(source, tmp_path / source.name)
    return tmp_path


@pytest.fixture
def env():
    environ = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    environ.pop("PYTHONPATH", None)
    return environ


@pytest.fixture
def run(workdir, env):
    """Run ``opcheck ARGS...`` in the work folder and wait for it."""

    def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPCHECK, *args], cwd=workdir, env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=180, check=False)

    return run


@pytest.fixture
def start(workdir, env):
    """Start ``opcheck ARGS...`` in the work folder without waiting (to signal it)."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen([*OPCHECK, *args], cwd=workdir, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _ops(path: Path) -> dict[str, dict]:
    return {op["name"]: op for op in json.loads(path.read_text())["ops"]}


def _stable(value):
    """A report without its timings: what must be equal between two runs."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in ("duration", "seconds", "time")}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines")


def _builtin_names() -> set[str]:
    return set(discover(autoload=False))


# --- the acceptance run --------------------------------------------------------------


def test_a_library_with_hanging_crashing_and_raising_ops(run, workdir):
    """Built-in ops plus a plugin with broken ops, two workers, three formats: exit 1, every
    broken op an error with its reason, every other op audited."""
    result = run("audit", "-p", "broken_ops", "--jobs", "2", "--timeout", "2",
                 "--format", "html,junit,json", "-o", "out/")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    out = workdir / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html", "report.json", "report.junit.xml", "results.jsonl"]

    ops = _ops(out / "report.json")
    for name, reason in BAD_REASONS.items():
        assert ops[name]["status"] == "error" and reason in ops[name]["message"], ops[name]
    assert "SIGABRT" in ops["bad.abort"]["message"]
    assert ops["bad.fine"]["status"] == "pass"
    builtins = _builtin_names()
    assert builtins <= set(ops)
    assert all(ops[n]["status"] == "pass" for n in builtins), [
        (n, ops[n]["message"]) for n in builtins if ops[n]["status"] != "pass"]

    root = ET.parse(out / "report.junit.xml").getroot()
    errors = {c.get("classname") for c in root.iter("testcase") if c.find("error") is not None}
    assert {"bad.hang", "bad.segfault", "bad.raise", "bad.abort"} <= errors
    page = (out / "report.html").read_text()
    for name, reason in BAD_REASONS.items():
        assert name in page and reason in page
    assert re.fullmatch(r"\d+ errors, \d+ passed in [\d.]+s\n", result.stderr), result.stderr


def test_a_killed_run_resumes_to_the_same_report(run, start, workdir):
    args = ["audit", "-p", "slow_ops", "-p", "broken_ops", "slow.*", "bad.segfault", "bad.raise",
            "bad.hang", "--timeout", "2", "--jobs", "2", "--format", "json,junit"]
    reference = run(*args, "-o", "reference/")
    assert reference.returncode == 1, reference.stderr
    total = len(_ops(workdir / "reference" / "report.json"))

    process = start(*args, "-o", "run/")
    results = workdir / "run" / "results.jsonl"
    _wait_for_lines(results, 1 + total // 3, process)
    process.kill()  # SIGKILL: no chance to clean up
    process.communicate()
    kept = results.read_text().count("\n") - 1
    assert 0 < kept < total

    resumed = run(*args, "-o", "run/", "--resume", "run/results.jsonl")
    assert resumed.returncode == 1, resumed.stderr
    assert re.search(rf"resuming from run/results.jsonl: {kept} of {total} ops already audited",
                     resumed.stderr), resumed.stderr
    assert results.read_text().count("\n") == 1 + total  # only the missing ops were audited
    want = json.loads((workdir / "reference" / "report.json").read_text())
    got = json.loads((workdir / "run" / "report.json").read_text())
    assert _stable(got) == _stable(want)
    junit = [_stable(ET.tostring(ET.parse(workdir / d / "report.junit.xml").getroot()).decode())
             for d in ("reference", "run")]
    assert re.sub(r' time="[^"]*"', "", junit[0]) == re.sub(r' time="[^"]*"', "", junit[1])


def test_ctrl_c_keeps_what_finished_and_says_how_to_finish(run, start, workdir):
    args = ["audit", "-p", "slow_ops", "slow.*", "--jobs", "2", "--format", "json", "-o", "out/"]
    process = start(*args)
    _wait_for_lines(workdir / "out" / "results.jsonl", 4, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted by SIGINT" in stderr and "--resume out/results.jsonl" in stderr
    doc = json.loads((workdir / "out" / "report.json").read_text())
    assert doc["complete"] is False and doc["not_run"]
    assert len(doc["ops"]) + len(doc["not_run"]) == 24

    finished = run(*args, "--resume", "out/results.jsonl")
    assert finished.returncode == 0, finished.stderr
    doc = json.loads((workdir / "out" / "report.json").read_text())
    assert doc["complete"] is True and len(doc["ops"]) == 24


def test_sigterm_is_an_interruption_too(start, workdir):
    process = start("audit", "-p", "slow_ops", "slow.*", "--jobs", "2", "--results", "r.jsonl")
    _wait_for_lines(workdir / "r.jsonl", 3, process)
    process.terminate()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Interrupted:" in stdout and "interrupted by SIGTERM" in stderr


# --- sharding and merging ------------------------------------------------------------------


def test_shards_merge_into_the_unsharded_report(run, workdir):
    whole = run("audit", "-p", "hostile_ops", "-p", "broken_ops", "--format", "json",
                "-o", "whole.json", "mylib.*", "bad.fine", "*script*", "m*", "s*")
    assert whole.returncode == 1, whole.stderr
    first = run("audit", "-p", "hostile_ops", "-p", "broken_ops", "--format", "json",
                "-o", "one.json", "--shard", "1/2", "mylib.*", "bad.fine", "*script*", "m*", "s*")
    # The second shard loads the plugins in the other order: the slices must not care.
    second = run("audit", "-p", "broken_ops", "-p", "hostile_ops", "--results", "two.jsonl",
                 "--shard", "2/2", "mylib.*", "bad.fine", "*script*", "m*", "s*")
    # Which shard draws the failing ops depends on the names' hashes: one of them does.
    assert sorted([first.returncode, second.returncode]) in ([0, 1], [1, 1]), \
        first.stderr + second.stderr
    one = _ops(workdir / "one.json")
    two = {json.loads(line)["name"] for line in (workdir / "two.jsonl").read_text().splitlines()[1:]}
    assert one and two and not set(one) & two
    assert set(one) | two == set(_ops(workdir / "whole.json"))

    merged = run("merge", "one.json", "two.jsonl", "--format", "json", "-o", "merged.json")
    assert merged.returncode == 1, merged.stderr  # the hostile ops fail
    want = json.loads((workdir / "whole.json").read_text())
    got = json.loads((workdir / "merged.json").read_text())
    assert _stable(got["ops"]) == _stable(want["ops"])
    assert got["summary"] == want["summary"] and got["seed"] == want["seed"]

    formats = run("merge", "one.json", "two.jsonl", "--format", "junit,markdown,html", "-o", "m/")
    assert formats.returncode == 1, formats.stderr
    assert sorted(p.name for p in (workdir / "m").iterdir()) == [
        "report.html", "report.junit.xml", "report.md"]
    ET.parse(workdir / "m" / "report.junit.xml")


def test_merging_one_shard_of_two_warns_and_exits_1(run, workdir):
    result = run("audit", "matmul", "sigmoid_affine", "--shard", "1/2", "--format", "json",
                 "-o", "one.json")
    assert result.returncode == 0, result.stderr
    merged = run("merge", "one.json")
    assert merged.returncode == 1
    assert "shard 2/2 is missing" in merged.stderr


# --- broken plugins ------------------------------------------------------------------------


def test_broken_plugins_are_error_entries_and_the_rest_is_audited(run):
    result = run("audit", "-p", "missing_dep_ops", "-p", "twin_a_ops", "-p", "twin_b_ops",
                 "--format", "json")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    ops = {op["name"]: op for op in json.loads(result.stdout)["ops"]}
    missing = ops["plugin:missing_dep_ops"]
    assert missing["status"] == "error" and missing["plugin"] == "missing_dep_ops"
    assert "ModuleNotFoundError" in missing["message"]
    twin = ops["twin.op"]
    assert twin["status"] == "error"
    assert "twin_a_ops" in twin["message"] and "twin_b_ops" in twin["message"]
    assert ops["matmul"]["status"] == "pass"


def test_an_entry_point_that_cannot_be_imported(run, workdir, env):
    dist = workdir / "site" / "brokenlib-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenlib\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[opcheck]\nbrokenlib = brokenlib_no_such_module\n")
    result = subprocess.run(
        [*OPCHECK, "audit", "--format", "json"], cwd=workdir, capture_output=True, text=True,
        env={**{k: v for k, v in env.items() if k != "OPCHECK_DISABLE_PLUGIN_AUTOLOAD"},
             "PYTHONPATH": str(workdir / "site")}, timeout=180, check=False)
    assert result.returncode == 1, result.stderr
    ops = {op["name"]: op for op in json.loads(result.stdout)["ops"]}
    entry = ops["plugin:brokenlib"]
    assert entry["status"] == "error" and "could not be imported" in entry["message"]
    assert _builtin_names() <= set(ops)


# --- the terminal --------------------------------------------------------------------------


def test_off_a_terminal_stderr_is_the_summary_line_alone(run):
    result = run("audit", "matmul", "sigmoid_affine", "--jobs", "2")
    assert result.returncode == 0
    assert re.fullmatch(r"2 passed in [\d.]+s\n", result.stderr), result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_on_a_terminal_a_progress_bar_and_a_summary_table(workdir, env):
    import fcntl
    import pty
    import struct
    import termios

    pytest.importorskip("tqdm")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))  # 40x100
    process = subprocess.Popen(
        [*OPCHECK, "audit", "-p", "slow_ops", "-p", "broken_ops", "slow.op0*", "bad.raise"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not data:
            break
        chunks.append(data)
    process.communicate(timeout=60)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert process.returncode == 1
    assert re.search(r"\d+/11 ops", screen), screen
    assert re.search(r"ERROR\s+bad\.raise\s+variant default: forward raised RuntimeError", screen)
    assert "pass: 10  fail: 0  error: 1" in screen
    assert re.search(r"1 error, 10 passed in [\d.]+s", screen)


# --- options -------------------------------------------------------------------------------


def test_jobs_1_audits_in_process_with_a_timer(run):
    result = run("audit", "-p", "broken_ops", "bad.hang", "bad.raise", "bad.fine", "--jobs", "1",
                 "--timeout", "0.5", "--format", "json")
    assert result.returncode == 1, result.stderr
    ops = {op["name"]: op for op in json.loads(result.stdout)["ops"]}
    assert ops["bad.hang"]["message"].startswith("timed out after 0.5 s (stuck in _hang at ")
    assert "RuntimeError" in ops["bad.raise"]["message"]
    assert ops["bad.fine"]["status"] == "pass"


def test_results_stream_and_a_single_format_into_a_directory(run, workdir):
    result = run("audit", "matmul", "sigmoid_affine", "--format", "junit", "-o", "out/")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["report.junit.xml", "results.jsonl"]
    lines = (workdir / "out" / "results.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["opcheck_results"] == 1
    assert sorted(json.loads(line)["name"] for line in lines[1:]) == ["matmul", "sigmoid_affine"]


USAGE_ERRORS = [
    pytest.param(["audit", "--jobs", "0"], "--jobs", id="no-jobs"),
    pytest.param(["audit", "--format", "json,junit"], "-o DIR", id="formats-need-a-dir"),
    pytest.param(["audit", "--format", "json,yaml"], "yaml", id="unknown-format"),
    pytest.param(["audit", "--shard", "3/2"], "K/N", id="bad-shard"),
    pytest.param(["audit", "--timeout", "-1"], "--timeout", id="negative-timeout"),
    pytest.param(["audit", "--max-memory", "lots"], "512M", id="bad-size"),
    pytest.param(["audit", "--results", "a.jsonl", "--resume", "b.jsonl"], "--resume", id="two-files"),
    pytest.param(["audit", "--resume", "broken_ops.py"], "broken_ops.py", id="not-a-results-file"),
    pytest.param(["audit", "relu", "--results", "broken_ops.py"],
                 "--results broken_ops.py exists and is not a results stream: opcheck will not "
                 "overwrite it", id="results-over-another-file"),
    pytest.param(["merge", "nowhere.json"], "nowhere.json", id="merge-missing-file"),
    pytest.param(["merge"], "FILE", id="merge-nothing"),
    pytest.param(["audit", "--seed", "-1"], "is not a seed", id="negative-seed"),
    pytest.param(["audit", "--format", "json,junit", "-o", "broken_ops.py"], "name a directory",
                 id="reports-into-a-file"),
    pytest.param(["audit", "--results", "broken_ops.py/r.jsonl"], "is a file, not a directory",
                 id="results-under-a-file"),
    pytest.param(["merge", "broken_ops.py", "-o", "broken_ops.py/x.json"], "not a directory",
                 id="merge-under-a-file"),
    pytest.param(["audit", "--seed", "1.5"], "is not a seed", id="fractional-seed"),
    pytest.param(["audit", "--timeout", "1e12"], "at most 1e+06", id="timeout-past-time_t"),
    pytest.param(["audit", "--timeout", "1e400"], "use 0 or inf for no timeout",
                 id="timeout-overflowing-to-inf"),
    pytest.param(["audit", "--timeout", "abc"], "abc is not a number of seconds", id="timeout-text"),
    pytest.param(["audit", "--budget", "abc"], "abc is not a budget; use a finite number of seconds > 0",
                 id="budget-text"),
    pytest.param(["audit", "--budget", "inf"], "(--mode full checks every element whatever it costs)",
                 id="budget-inf"),
    pytest.param(["audit", "--jobs", "x"], "x is not a positive number", id="jobs-text"),
    pytest.param(["audit", "relu"], "OPCHECK_BUDGET='abc' is not a budget", id="env-budget-text"),
    pytest.param(["audit", "relu", "--mode", "full"], "OPCHECK_BUDGET='-1' is not a budget",
                 id="env-budget-negative"),
    pytest.param(["list"], "OPCHECK_MAX_INPUT_BYTES='abc' is not a number of bytes",
                 id="env-size-limit-text"),
]

#: Environment of the USAGE_ERRORS that set one.
USAGE_ENV = {"env-budget-text": {"OPCHECK_BUDGET": "abc"},
             "env-budget-negative": {"OPCHECK_BUDGET": "-1"},
             "env-size-limit-text": {"OPCHECK_MAX_INPUT_BYTES": "abc"}}


@pytest.mark.parametrize("args, words", USAGE_ERRORS)
def test_usage_errors_exit_2_without_traceback(run, args, words, request):
    result = run(*args, extra_env=USAGE_ENV.get(request.node.callspec.id))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^opcheck( \w+)?: error: ", result.stderr, re.MULTILINE), result.stderr
    assert words in result.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_infinite_timeout_is_no_timeout(run, jobs):
    result = run("audit", "relu", "--timeout", "inf", "--jobs", jobs)
    assert result.returncode == 0, result.stderr
    assert "1 passed" in result.stderr and "Traceback" not in result.stderr


def test_resume_of_a_file_that_does_not_exist_says_it_starts_a_new_stream(run, workdir):
    result = run("audit", "relu", "--resume", "nonexist.jsonl")
    assert result.returncode == 0, result.stderr
    assert ("opcheck: starting a new results stream nonexist.jsonl: it does not exist yet, so "
            "there is nothing to resume") in result.stderr
    assert "resuming from" not in result.stderr
    assert (workdir / "nonexist.jsonl").exists()


def test_resume_refuses_results_of_another_seed(run):
    first = run("audit", "matmul", "--results", "r.jsonl")
    assert first.returncode == 0, first.stderr
    again = run("audit", "matmul", "--resume", "r.jsonl", "--seed", "3")
    assert again.returncode == 2
    assert "seed=0" in again.stderr and "seed=3" in again.stderr


def test_the_cli_modes_are_the_audits():
    from opcheck import cli
    from opcheck.choices import MODES

    assert cli.MODES == MODES


def test_the_cli_starts_without_numpy(env):
    """The fork server starts before the heavy imports, so that the two overlap."""
    code = "import sys, opcheck.cli; print(sorted({'numpy', 'pydantic'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_crash_in_process_leaves_the_ops_stack_on_stderr(run):
    # The reproduce command of a crashed op runs it with --jobs 1: without isolation the
    # crash ends opcheck too, but the fault handler shows where it happened.
    result = run("audit", "bad.abort", "-p", "broken_ops", "--jobs", "1")
    assert result.returncode != 0
    assert "Fatal Python error: Aborted" in result.stderr
    assert "broken_ops.py" in result.stderr and "in _abort" in result.stderr


def test_a_variant_some_ops_lack_audits_the_ops_that_have_it(run):
    result = run("audit", "--variant", "M=1", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert "without it are not audited" in result.stderr and "abs" in result.stderr
    assert "matmul" in result.stdout and "[M=1]" in result.stdout and not re.search(r"^relu ", result.stdout, re.MULTILINE)
    exact = run("audit", "abs", "--variant", "M=1")
    assert exact.returncode == 2 and "op 'abs' has no variant 'M=1'" in exact.stderr
    nowhere = run("audit", "--variant", "Q=9")
    assert nowhere.returncode == 2 and "no selected op has a variant" in nowhere.stderr


WRONG_OPS = """
import opcheck


@opcheck.hookimpl
def opcheck_ops():
    return [opcheck.Op(name="wrong.half", forward=lambda x: x * x,
                       backward=lambda dout, x: {"x": x * dout},  # the factor 2 forgotten
                       inputs={"x": opcheck.Tensor(shape=(3,))})]
"""


@pytest.fixture
def wrong_ops(tmp_path, monkeypatch):
    """A plugin with one op whose backward is wrong, importable from the current folder."""
    (tmp_path / "wrong_ops.py").write_text(WRONG_OPS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    return tmp_path


def _audit_json(*args: str) -> dict:
    from opcheck.cli import main

    assert main(["audit", "wrong.half", "-p", "wrong_ops", "-j", "1", "--format", "json",
                 "-o", "report.json", *args]) == 1
    return json.loads(Path("report.json").read_text())


def test_the_run_header_records_the_order(wrong_ops):
    assert _audit_json("--order", "1")["order"] == 1
    assert _audit_json()["order"] == 2


def test_the_reproduce_line_of_an_order_1_audit_carries_it(wrong_ops):
    (op,) = _audit_json("--order", "1")["ops"]
    words = shlex.split(op["reproduce"])
    assert words[:3] == ["opcheck", "audit", "wrong.half"] and "--order" in words
    assert words[words.index("--order") + 1] == "1"
    (op,) = _audit_json()["ops"]
    assert "--order" not in op["reproduce"]  # 2 is the default


def test_resume_refuses_a_stream_of_another_order(wrong_ops, capsys):
    from opcheck.cli import main

    _audit_json("--results", "r.jsonl")
    assert main(["audit", "wrong.half", "-p", "wrong_ops", "-j", "1", "--order", "1",
                 "--resume", "r.jsonl"]) == 2
    assert "holds results for order=2, but this run has order=1" in capsys.readouterr().err


def test_resume_leaves_a_file_that_is_not_a_results_stream_alone(wrong_ops, capsys):
    """A one-line file without a newline reads as a stream cut short before its header:
    --resume refuses it rather than overwrite it."""
    from opcheck.cli import main

    Path("notes.txt").write_text("my notes")
    assert main(["audit", "wrong.half", "-p", "wrong_ops", "-j", "1",
                 "--resume", "notes.txt"]) == 2
    assert ("--resume notes.txt is not a results stream (opcheck audit --results): it has no "
            "complete header line") in capsys.readouterr().err
    assert Path("notes.txt").read_text() == "my notes"


def test_resume_names_a_report_given_for_the_results_stream(wrong_ops, capsys):
    from opcheck.cli import main

    _audit_json()  # report.json
    assert main(["audit", "wrong.half", "-p", "wrong_ops", "-j", "1",
                 "--resume", "report.json"]) == 2
    assert ("--resume report.json is a JSON report (opcheck audit --format json), not a results "
            "stream (opcheck audit --results); resume from the results stream of the "
            "interrupted run") in capsys.readouterr().err


SCALED_OPS = """
import opcheck


def forward(x, scale, shift):
    return x * scale + shift


def backward(dout, x, scale, shift):  # wrong at scale=2: the factor is dropped
    return {"x": dout * (1.0 if scale == 2 else scale)}


@opcheck.hookimpl
def opcheck_ops():
    return [opcheck.Op(name="scaled", forward=forward, backward=backward,
                       inputs={"x": opcheck.Tensor(shape=("N",))},
                       attrs={"scale": [1, 2], "shift": [0, 1]},
                       xfail={"scale=2": "drops the factor"})]
"""


def test_part_of_a_label_selects_as_in_the_pytest_fixture(tmp_path, monkeypatch):
    """--variant and xfail selectors match parts of labels, as the pytest plugin's
    variant= and markers do (tests/test_pytest_plugin.py, the same op)."""
    from opcheck.cli import main

    (tmp_path / "scaled_ops.py").write_text(SCALED_OPS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    base = ["audit", "scaled", "-p", "scaled_ops", "-j", "1", "--format", "json", "-o", "r.json"]
    assert main([*base, "--variant", "scale=2"]) == 0
    (op,) = json.loads(Path("r.json").read_text())["ops"]
    assert [v["label"] for v in op["variants"]] == ["scale=2 shift=0", "scale=2 shift=1"]
    assert op["status"] == "xfail"
    assert main([*base, "--variant", "scale=1"]) == 0
    (op,) = json.loads(Path("r.json").read_text())["ops"]
    assert op["status"] == "pass" and len(op["variants"]) == 4


def test_results_never_overwrite_a_file_that_is_not_a_stream(run, workdir):
    before = (workdir / "broken_ops.py").read_bytes()
    assert run("audit", "relu", "--results", "broken_ops.py").returncode == 2
    assert (workdir / "broken_ops.py").read_bytes() == before
    assert run("audit", "relu", "--results", "r.jsonl").returncode == 0
    assert run("audit", "relu", "--results", "r.jsonl").returncode == 0  # a stream: replaced


def test_resume_with_a_longer_timeout_audits_the_timed_out_ops_again(run, workdir):
    """The timeout's advice is "raise --timeout": a resume that does runs those ops again."""
    assert run("audit", "relu", "mul", "--results", "r.jsonl").returncode == 0
    lines = (workdir / "r.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    for entry in entries[1:]:
        if entry["name"] == "relu":  # as a run under --timeout 3 would have written it
            entry.update(status="error", message="timed out after 3 s: checked 10 of 20 elements")
    (workdir / "r.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    same = run("audit", "relu", "mul", "--timeout", "3", "--resume", "r.jsonl")
    assert same.returncode == 1 and "audited again" not in same.stderr, same.stderr
    longer = run("audit", "relu", "mul", "--timeout", "30", "--resume", "r.jsonl")
    assert longer.returncode == 0, longer.stderr
    assert ("1 op(s) timed out under a shorter --timeout in r.jsonl, audited again: relu"
            in longer.stderr)
