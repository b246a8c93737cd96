"""Fault injection: every fault an op or a plugin can inflict on the process auditing it,
injected among correct ops, and the promise that each is survived.

tests/data/faults/fault_ops.py declares one op per fault (raising KeyboardInterrupt,
SystemExit or GeneratorExit, os._exit, a segfault, a hang, a non-daemon thread, writes to
stdout, hostile text, leaked numpy/cwd/environment/signal state, forked and spawned
children, killing the fork server...) and 16 correct ``ok.*`` ops that raise if they
start from a leaked process state. One run audits them all at ``--jobs 2``; the
guarantees (docs/reliability.md) are then read off it against a fault-free run: every
fault has its own entry, every correct op's result is identical, stdout is valid JSON,
every report is written, and no process is left behind. The runs go concurrently, as
subprocesses of the installed ``opcheck`` command, so the module costs one long run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from cli_command import OPCHECK

DATA = Path(__file__).parent / "data" / "faults"
sys.path.insert(0, str(DATA))
import fault_ops

sys.path.remove(str(DATA))
sys.modules.pop("fault_ops", None)

pytest_plugins = ["pytester"]
TIMEOUT = "3"  # --timeout for the hanging op
FORMATS = ("text", "json", "junit", "markdown", "html")


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", "FAULT_HOME": str(home)}
    env.pop("PYTHONPATH", None)
    return env


class Run:
    """One ``opcheck`` command started in the background; ``result()`` waits for it."""

    def __init__(self, home: Path, *args: str, extra_env: dict[str, str] | None = None) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [*OPCHECK, *args], cwd=home, env={**_env(home), **(extra_env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self._done: tuple[int, str, str] | None = None
        self.seconds = 0.0
        self._started = time.monotonic()

    def result(self, timeout: float = 240) -> tuple[int, str, str]:
        if self._done is None:
            try:
                out, err = self.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # what it left holds the pipes
                out, err = self.process.communicate()
                pytest.fail(f"opcheck {' '.join(self.args)} did not finish (its output was "
                            f"held open?):\n{err.decode(errors='replace')[-3000:]}")
            self.seconds = time.monotonic() - self._started
            self._done = (self.process.returncode, out.decode("utf-8", "replace"),
                          err.decode("utf-8", "replace"))
        return self._done


def leftover_processes(marker: str) -> list[str]:
    """Processes (other than this one) whose environment holds ``marker``: what the audited
    ops started and opcheck did not end."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker.encode() not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry}: {command}")
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults")
    for source in DATA.glob("*.py"):
        shutil.copy(source, path / source.name)
    yield path
    for entry in leftover_processes(f"FAULT_HOME={path}"):  # never leave them to CI
        with contextlib.suppress(OSError):
            os.kill(int(entry.split(":")[0]), signal.SIGKILL)


@pytest.fixture(scope="module")
def runs(home):
    """The runs every test here reads, started together: fault-free, every fault at
    --jobs 2 (JSON on stdout, and every format into a directory), the in-process faults
    at --jobs 1."""
    common = ("audit", "-p", "fault_ops", "--timeout", TIMEOUT)
    started = {
        "clean": Run(home, *common, *fault_ops.names("ok"), "--jobs", "2", "--format", "json"),
        "jobs2": Run(home, *common, "--jobs", "2", "--format", "json",
                     "--results", "jobs2.jsonl"),
        "reports": Run(home, *common, "--jobs", "2", "--format", ",".join(FORMATS),
                       "-o", "reports/"),
        "jobs1": Run(home, *common, *fault_ops.names("ok"), *fault_ops.names("in_process"),
                     "--jobs", "1", "--format", "json"),
    }
    for run in started.values():
        run.result()
    return started


def _ops(stdout: str) -> dict[str, dict]:
    return {entry["name"]: entry for entry in json.loads(stdout)["ops"]}


def _figures(entry: dict) -> tuple:
    """What must not change when faults run beside an op: verdict and every figure."""
    return (entry["status"], entry["max_rel_error"], entry["message"],
            [(v["label"], v["status"], [(i["name"], i["max_rel_error"], i["counts"])
                                        for i in v["inputs"]]) for v in entry["variants"]])


def _survived(clean: dict[str, dict], faulty: dict[str, dict], faults: list[str]) -> dict:
    """The fault-injection figures of one run."""
    ok = fault_ops.names("ok")
    lost = [n for n in ok if n not in faulty or _figures(faulty[n]) != _figures(clean[n])]
    survived = [n for n in faults if n in faulty]
    return {"injected": len(faults), "survived": len(survived), "lost": len(lost),
            "lost_ops": lost, "missing": sorted(set(faults) - set(survived))}


@pytest.mark.slow
def test_every_fault_is_survived_at_jobs_2(runs):
    code, out, err = runs["jobs2"].result()
    clean = _ops(runs["clean"].result()[1])
    assert all(e["status"] == "pass" for e in clean.values()), clean
    ops = _ops(out)  # stdout is valid JSON, whatever the ops printed
    figures = _survived(clean, ops, fault_ops.names("fault"))
    print(f"--jobs 2: {figures} in {runs['jobs2'].seconds:.1f}s", file=sys.stderr)
    assert figures["missing"] == [] and figures["lost_ops"] == [], (figures, err[-3000:])
    assert code == 1, err[-3000:]
    assert "interrupted" not in err


@pytest.mark.slow
def test_every_in_process_fault_is_survived_at_jobs_1(runs):
    code, out, err = runs["jobs1"].result()
    clean = _ops(runs["clean"].result()[1])
    ops = _ops(out)
    figures = _survived(clean, ops, fault_ops.names("in_process"))
    print(f"--jobs 1: {figures} in {runs['jobs1'].seconds:.1f}s", file=sys.stderr)
    assert figures["missing"] == [] and figures["lost_ops"] == [], (figures, err[-3000:])
    assert code == 1, err[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("run", ["jobs2", "jobs1"])
@pytest.mark.parametrize(("fault", "reason"), [
    ("keyboard_interrupt", "KeyboardInterrupt"),
    ("system_exit", "forward called sys.exit(0) at"),
    ("generator_exit", "GeneratorExit"),
    ("backward_exit", "backward called sys.exit(0) at"),
    ("os_exit_trapped", "forward called os._exit(0) at"),
    ("surrogate", "lone surrogate"),
    ("thread", "the op left 1 thread (fault-thread) running"),
    ("seterr", "the op changed numpy's error state (np.seterr); opcheck restored it"),
    ("chdir", "the op changed the working directory"),
    ("environ", "the op changed the environment"),
    ("printoptions", "the op changed numpy's print options"),
    ("signal", "the op changed the handler of SIGUSR1"),
    ("sys_stdout", "the op changed sys.stdout/stderr/stdin"),
])
def test_each_fault_is_its_own_ops_error(runs, run, fault, reason):
    entry = _ops(runs[run].result()[1])[f"fault.{fault}"]
    text = entry["message"] + " ".join(entry["warnings"])
    assert reason in text, entry


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "reason"), [
    ("fork_child", "the op left child processes running; its worker process was replaced"),
    ("spawn", "the op left child processes running; its worker process was replaced"),
    ("os_exit", "exited with status 0"),
    ("segfault", "SIGSEGV"),
    ("abort", "SIGABRT"),
    ("hang", f"timed out after {TIMEOUT} s"),
    ("kill_forkserver", "killed the fork server"),
    ("term_forkserver", "killed the fork server"),
])
def test_each_crash_is_its_own_ops_error_at_jobs_2(runs, fault, reason):
    entry = _ops(runs["jobs2"].result()[1])[f"fault.{fault}"]
    assert reason in entry["message"] + " ".join(entry["warnings"]), entry


@pytest.mark.slow
def test_what_an_op_prints_is_kept_in_its_entry_not_on_stdout(runs):
    for run in ("jobs2", "jobs1"):
        entry = _ops(runs[run].result()[1])["fault.stdout"]
        assert any("fault: printed to stdout" in w and "raw bytes on fd 1" in w
                   for w in entry["warnings"]), entry


@pytest.mark.slow
def test_every_report_is_written_despite_hostile_text(runs, home):
    code, _, err = runs["reports"].result()
    assert code == 1, err[-3000:]
    for name in ("report.txt", "report.json", "report.junit.xml", "report.md", "report.html"):
        assert (home / "reports" / name).exists(), f"{name} not written; stderr:\n{err[-3000:]}"
        text = (home / "reports" / name).read_text(encoding="utf-8")
        assert "lone surrogate" in text, name
        assert not _raw_controls(text), (name, _raw_controls(text)[:5])


@pytest.mark.slow
def test_the_results_stream_holds_every_op(runs, home):
    lines = (home / "jobs2.jsonl").read_text(encoding="utf-8").splitlines()
    names = {json.loads(line)["name"] for line in lines[1:]}
    assert names == set(_ops(runs["jobs2"].result()[1])) >= set(fault_ops.names())


@pytest.mark.slow
def test_no_process_is_left_behind(runs, home):
    time.sleep(0.5)  # a process killed as opcheck exits may take a moment to go
    assert leftover_processes(f"FAULT_HOME={home}") == []


def _raw_controls(text: str) -> list[str]:
    """Characters a terminal would act on: C0/C1 controls (but newline and tab), bidi
    overrides and isolates, lone surrogates."""
    return [repr(c) for c in text if c not in "\n\t" and (
        unicodedata.category(c) in ("Cc", "Cs") or unicodedata.bidirectional(c) in
        ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"))]


HOSTILE = {
    "list": ("list",),
    "show": ("show", fault_ops.HOSTILE_NAME),
    "audit-jobs1": ("audit", fault_ops.HOSTILE_NAME, "fault.control_chars", "fault.surrogate",
                    "--jobs", "1"),
    "audit-jobs2": ("audit", fault_ops.HOSTILE_NAME, "fault.control_chars", "fault.surrogate",
                    "--jobs", "2"),
}
EXITING = ("exit_at_import_ops", "os_exit_at_import_ops", "exit_in_hook_ops",
           "os_exit_in_hook_ops")
COMMANDS = {"list": ("list",), "show": ("show", "ok.00"), "audit-jobs1": ("audit", "--jobs", "1"),
            "audit-jobs2": ("audit", "--jobs", "2")}
HANGING = {"list": ("list",), "show": ("show", "x"), "audit": ("audit",)}


@pytest.fixture(scope="module")
def small_runs(home):
    """The short commands below, run a few at a time: key → (exit status, stdout, stderr)."""
    specs: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, str]]] = {}
    for key, command in HOSTILE.items():
        specs["hostile", key] = ((command[0], "-p", "fault_ops", *command[1:]), {})
    for plugin in EXITING:
        for key, command in COMMANDS.items():
            ops = ("ok.00",) if command[0] == "audit" else ()
            specs["exit", plugin, key] = (
                (command[0], "-p", "fault_ops", "-p", plugin, *command[1:], *ops), {})
    for key, command in HANGING.items():
        specs["hang", key] = ((*command, "-p", "hanging_import_ops"),
                              {"OPCHECK_PLUGIN_TIMEOUT": "1"})
    specs["chatty",] = (("audit", "-p", "chatty_ops", "chatty.tanh", "--format", "json",
                         "--jobs", "2"), {})
    results: dict[tuple[str, ...], tuple[int, str, str]] = {}
    keys = list(specs)
    for at in range(0, len(keys), 6):
        batch = {k: Run(home, *specs[k][0], extra_env=specs[k][1]) for k in keys[at:at + 6]}
        results.update((k, run.result(timeout=120)) for k, run in batch.items())
    return results


@pytest.mark.parametrize("key", HOSTILE)
def test_hostile_text_reaches_the_terminal_escaped(small_runs, key):
    code, out, err = small_runs["hostile", key]
    assert code in (0, 1), err
    assert "hostile_name" in out
    assert _raw_controls(out) == [] and _raw_controls(err) == [], (out, err)


@pytest.mark.parametrize("plugin", EXITING)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_plugin_that_exits_never_gives_exit_0(small_runs, plugin, command):
    code, out, err = small_runs["exit", plugin, command]
    assert code == 2, (out, err)
    assert f"plugin module {plugin!r}" in err and "while loading" in err, err


def test_a_plugin_that_prints_leaves_json_on_stdout_valid(small_runs):
    code, out, err = small_runs["chatty",]
    assert code == 0, err
    assert [e["name"] for e in json.loads(out)["ops"]] == ["chatty.tanh"]
    assert "chatty: import" in err  # not lost: on stderr


@pytest.mark.parametrize("command", HANGING)
def test_a_hanging_plugin_import_times_out_naming_the_plugin(small_runs, command):
    code, out, err = small_runs["hang", command]
    assert code == 2, (out, err)
    assert "hanging_import_ops" in err and "did not finish loading within 1 s" in err, err


PYTEST_FAULTS = '''
import os
import numpy as np
import opcheck


def _exit(x):
    os._exit(0)


def _interrupt(x):
    raise KeyboardInterrupt


@opcheck.hookimpl
def opcheck_ops():
    def op(name, forward):
        return opcheck.Op(name=name, forward=forward, backward=lambda dout, x: {"x": dout},
                          inputs={"x": opcheck.Tensor(shape=(3,))})

    return [op("pf.os_exit", _exit), op("pf.interrupt", _interrupt),
            op("pf.fine", lambda x: x * 1.0)]
'''


def test_pytest_opcheck_without_xdist_survives_an_op_that_exits(pytester):
    """Without xdist every op runs in pytest's own process: os._exit and KeyboardInterrupt
    from an op fail that op's item; the session goes on and does not exit 0."""
    pytester.makepyfile(pf_ops=PYTEST_FAULTS)
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("--opcheck-plugin", "pf_ops", "--opcheck-ops", "pf.*",
                                           "-p", "no:randomly", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*forward called os._exit(0) at*pf_ops.py:*", "*raised KeyboardInterrupt*"])
    assert (pytester.path / "junit.xml").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_real_ctrl_c_still_stops_the_run_and_says_how_to_resume(home, jobs):
    """Beside the op that raises KeyboardInterrupt (its own error), a real SIGINT sent to
    opcheck ends the run, keeps what finished and prints the resume command."""
    results = home / f"interrupted-{jobs}.jsonl"
    run = Run(home, "audit", "-p", "fault_ops", "ok.00", "fault.keyboard_interrupt",
              "fault.hang", "ok.01", "--jobs", jobs, "--timeout", "60", "--results", results.name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the two ops before the hang are streamed
        if results.exists() and results.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    run.process.send_signal(signal.SIGINT)
    code, _, err = run.result(timeout=60)
    assert code == 130, err
    assert "interrupted by SIGINT after" in err and "of 4 ops" in err, err
    assert f"--resume {results.name}" in err
    entries = {json.loads(line)["name"]: json.loads(line)
               for line in results.read_text().splitlines()[1:]}
    assert entries["fault.keyboard_interrupt"]["status"] == "error"
    assert "fault.hang" not in entries


def test_pytest_opcheck_under_xdist_survives_an_op_that_crashes(pytester):
    """The documented way to isolate crashes under pytest: pytest-xdist reports the item
    whose worker crashed, restarts the worker, and still writes the JUnit file."""
    pytester.makepyfile(pf_ops=PYTEST_FAULTS.replace(
        "def _exit(x):\n    os._exit(0)",
        "def _exit(x):\n    import ctypes\n    ctypes.string_at(0)"))
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("--opcheck-plugin", "pf_ops", "--opcheck-ops", "pf.*",
                                           "-p", "no:randomly", "-n", "1", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*crashed while running*pf.os_exit*"])
    assert (pytester.path / "junit.xml").exists()


@pytest.mark.parametrize("plugin", ["exit_at_import_ops", "os_exit_in_hook_ops"])
def test_pytest_opcheck_with_a_plugin_that_exits_never_passes(pytester, plugin):
    pytester.makepyfile(**{plugin: (DATA / f"{plugin}.py").read_text()})
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("--opcheck-plugin", plugin, "--opcheck-ops", "x*",
                                           "-p", "no:randomly")
    assert result.ret not in (0, 5), result.stdout.str()  # 5: nothing collected
    result.stdout.fnmatch_lines([f"*plugin module '{plugin}'*while loading*"])
