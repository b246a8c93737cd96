"""opcheck.declaration_errors: every declaration error is shown, with plugin, op, field
and file:line, by every front end, and one invalid op never hides its valid siblings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap

import numpy  # noqa: F401 - imported once, before pytester's snapshots
import pydantic  # noqa: F401
import pytest
from cli_command import OPCHECK

import opcheck
import opcheck.engine
import opcheck.plugin_manager  # loaded before pytester snapshots sys.modules

pytest_plugins = ["pytester"]

PLUGIN = textwrap.dedent("""
    import opcheck

    def forward(x):
        return 2.0 * x

    def backward(dout, x):
        return {"x": 2.0 * dout}

    @opcheck.hookimpl
    def opcheck_ops():
        return [
            opcheck.Op(name="mylib.good", forward=forward, backward=backward,
                       inputs={"x": opcheck.Tensor(shape=("N",))}),
            opcheck.Op(name="mylib.typo", forward=forward, backward=backward,
                       inputs={"x": opcheck.Tensor(shape=("N",), dtyp="float32")}),
            opcheck.Op(name="mylib.range", forward=forward, backward=backward,
                       inputs={"x": opcheck.Tensor(shape=("N",), low=1.0, high=0.0)}),
        ]
""")
TYPO_LINE = next(i for i, line in enumerate(PLUGIN.splitlines(), 1) if "dtyp=" in line)
RANGE_LINE = next(i for i, line in enumerate(PLUGIN.splitlines(), 1) if "high=0.0" in line)


@pytest.fixture
def run(tmp_path):
    (tmp_path / "mylib_ops.py").write_text(PLUGIN)
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPCHECK, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    return run


def _shown(text: str, path: str) -> None:
    """Both errors appear with plugin, op, field and file:line."""
    assert "plugin 'mylib_ops'" in text
    assert "'mylib.typo'" in text and "inputs.x.dtyp" in text
    assert f"{path}:{TYPO_LINE}" in text
    assert "'mylib.range'" in text and "inputs.x.high" in text
    assert f"{path}:{RANGE_LINE}" in text


def test_a_glob_matching_broken_ops_audits_the_good_one_and_lists_the_errors(run, tmp_path):
    result = run("audit", "-p", "mylib_ops", "mylib.*", "--jobs", "1", "--format", "json")
    assert result.returncode == 1
    ops = {op["name"]: op for op in json.loads(result.stdout)["ops"]}
    assert ops["mylib.good"]["status"] == "pass"
    assert ops["mylib.typo"]["status"] == ops["mylib.range"]["status"] == "error"
    _shown(ops["mylib.typo"]["message"] + ops["mylib.range"]["message"],
           str(tmp_path / "mylib_ops.py"))


@pytest.mark.parametrize("args", [
    pytest.param(("audit", "nothing.*"), id="audit-selects-nothing"),
    pytest.param(("audit", "matmul", "--jobs", "1"), id="audit-selects-other-ops"),
    pytest.param(("list",), id="list"),
    pytest.param(("show", "matmul"), id="show"),
])
def test_every_command_shows_the_plugin_errors(run, tmp_path, args):
    result = run(*args[:1], "-p", "mylib_ops", *args[1:])
    _shown(result.stderr, str(tmp_path / "mylib_ops.py"))
    if args[1:2] == ("nothing.*",):
        assert result.returncode == 2 and "no op matches 'nothing.*'" in result.stderr
        assert "mylib_ops failed to declare some ops" in result.stderr


def test_show_of_a_broken_op_says_it_is_broken(run):
    result = run("show", "-p", "mylib_ops", "mylib.typo")
    assert result.returncode == 2
    assert "op 'mylib.typo' has an invalid declaration" in result.stderr


def test_pytest_shows_the_errors_when_the_selection_matches_nothing(pytester, monkeypatch):
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    (pytester.path / "mylib_ops.py").write_text(PLUGIN)
    result = pytester.runpytest("--opcheck-plugin", "mylib_ops", "--opcheck-ops", "zz.*")
    _shown(result.stdout.str(), str(pytester.path / "mylib_ops.py"))


def test_pytest_fails_broken_ops_and_passes_the_good_one(pytester, monkeypatch):
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    (pytester.path / "mylib_ops.py").write_text(PLUGIN)
    result = pytester.runpytest("--opcheck-plugin", "mylib_ops", "--opcheck-ops", "mylib.*")
    result.assert_outcomes(passed=1, failed=2)
    _shown(result.stdout.str(), str(pytester.path / "mylib_ops.py"))


def test_pytest_warns_about_errors_the_selection_leaves_out(pytester, monkeypatch):
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    (pytester.path / "mylib_ops.py").write_text(PLUGIN)
    result = pytester.runpytest("--opcheck-plugin", "mylib_ops", "--opcheck-ops", "mylib.good")
    result.assert_outcomes(passed=1, warnings=2)
    _shown(result.stdout.str(), str(pytester.path / "mylib_ops.py"))


def _module(name: str, build):
    import types

    module = types.ModuleType(name)
    module.opcheck_ops = opcheck.hookimpl(build)
    return module


def _ok(name: str):
    return opcheck.Op(name=name, forward=lambda x: x, backward=lambda dout, x: {"x": dout},
                      inputs={"x": opcheck.Tensor(shape=("N",))})


@pytest.mark.parametrize("bad, field, words", [
    pytest.param(lambda: opcheck.Op(name="has space", forward=lambda x: x,
                                    backward=lambda dout, x: {"x": dout},
                                    inputs={"x": opcheck.Tensor(shape=("N",))}),
                 "name", ["whitespace"], id="invalid-name"),
    pytest.param(lambda: opcheck.Op(name="t.bound", forward=lambda x, y: x,
                                    backward=lambda dout, x, y: {"x": dout},
                                    inputs={"x": opcheck.Tensor(shape=("N",)),
                                            "y": opcheck.Tensor(shape=("N",), dtype="int64",
                                                                low=0, high="Q")}),
                 "inputs", ["high='Q'", "no dim"], id="bound-names-an-unknown-dim"),
    pytest.param(lambda: opcheck.Op(name="t.expr", forward=lambda x: x,
                                    backward=lambda dout, x: {"x": dout},
                                    inputs={"x": opcheck.Tensor(shape=("N-9",))}),
                 "dims", ["'N-9'", "at least 1"], id="expression-never-at-least-1"),
    pytest.param(lambda: opcheck.Op(name="t.attr", forward=lambda x, k: x,
                                    backward=lambda dout, x: {"x": dout}, attrs={"k": 3},
                                    inputs={"x": opcheck.Tensor(shape=("N",))}),
                 "attrs", ["non-empty list"], id="attr-not-a-list"),
])
def test_each_kind_of_bad_declaration_is_one_entry_beside_its_valid_siblings(bad, field, words):
    registry = opcheck.discover([_module("mixed_bag", lambda: [_ok("t.first"), bad(), _ok("t.last")])],
                                autoload=False)
    assert {"t.first", "t.last"} <= set(registry)
    [error] = registry.errors
    assert error.plugin == "mixed_bag" and field in error.fields
    assert re.fullmatch(rf"{re.escape(__file__)}:\d+", error.location)  # this file's line
    for word in words:
        assert word in str(error)
