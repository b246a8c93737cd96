"""The command line's edges around broken plugins and closed pipes: a plugin that failed to
load is never silent, even when the selection leaves it out, and a reader that goes away
(`opcheck list | head`) ends the program quietly, without a traceback.
"""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest
from cli_command import OPCHECK

BROKEN = textwrap.dedent("""
    import opcheck

    @opcheck.hookimpl
    def opcheck_ops():
        return [opcheck.Op(name="brk.bad", forward=lambda x, y: x,
                           backward=lambda dout, x: {"x": dout},
                           inputs={"x": opcheck.Tensor(shape=(3,))})]
""")




@pytest.fixture
def run(tmp_path):
    (tmp_path / "brk_ops.py").write_text(BROKEN)
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPCHECK, *args], check=False, cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=120)

    return run


def test_a_broken_plugin_outside_the_selection_is_still_reported_on_stderr(run):
    result = run("audit", "-p", "brk_ops", "matmul", "--jobs", "1")
    assert result.returncode == 0, result.stderr  # what was asked for passed
    assert "opcheck: warning: plugin 'brk_ops'" in result.stderr
    assert "brk.bad" in result.stderr and "brk" not in result.stdout


def test_naming_the_op_of_a_broken_plugin_gives_its_error_entry_not_a_usage_error(run):
    result = run("audit", "-p", "brk_ops", "brk.*", "matmul", "--jobs", "2")
    assert result.returncode == 1, result.stderr
    assert "brk.bad" in result.stdout and "ERROR" in result.stdout
    assert "plugin 'brk_ops'" in result.stdout and "'y'" in result.stdout
    assert "warning" not in result.stderr  # reported once, in the report
    assert "1 error, 1 passed" in result.stderr


def test_a_pattern_matching_nothing_at_all_is_still_a_usage_error(run):
    result = run("audit", "-p", "brk_ops", "nothing.*")
    assert result.returncode == 2
    assert "no op matches 'nothing.*'" in result.stderr


@pytest.mark.parametrize("args", [("list",), ("audit", "matmul", "--format", "json", "--jobs", "1")],
                         ids=["list", "audit"])
def test_a_reader_that_goes_away_ends_the_program_without_a_traceback(tmp_path, args):
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    process = subprocess.Popen([*OPCHECK, *args], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head` does, before opcheck writes a line
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert process.returncode == 141  # 128 + SIGPIPE, as a shell reports `yes | head`


def test_workers_run_the_same_opcheck_as_the_command_not_one_in_the_current_directory(tmp_path):
    """Run from a directory holding another `opcheck` package (a checkout of opcheck, say),
    the worker processes must still import the opcheck the command runs."""
    command = OPCHECK
    if "-m" in command:
        pytest.skip("needs the console script: `python -m` puts the current directory first")
    fake = tmp_path / "opcheck"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('the opcheck in the current directory')\n")
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([*command, "audit", "matmul", "sigmoid_affine", "--jobs", "2"],
                            check=False, cwd=tmp_path, env=env, text=True, capture_output=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stderr
