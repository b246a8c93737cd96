"""A new user's first session: the installed ``opcheck`` command, run in a fresh folder.

Each test runs the console script in a subprocess with ``cwd=tmp_path``, exactly as a
person would type it, with entry-point autoload off so other installed packages stay out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from cli_command import OPCHECK

import opcheck

# The plugin of CONTRACT.md section 1, verbatim: it "must work exactly as written".
CONTRACT_EXAMPLE = """\
import numpy as np
import opcheck


def _forward(x, w, b):
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


def _backward(dout, out, x, w, b):
    ds = dout * out * (1.0 - out)
    return {"x": ds @ w.T, "w": x.T @ ds, "b": ds.sum()}


@opcheck.hookimpl
def opcheck_ops():
    return [
        opcheck.Op(
            name="mylib.sigmoid_affine",
            forward=_forward,
            backward=_backward,
            inputs={
                "x": opcheck.Tensor(shape=("N", "D")),
                "w": opcheck.Tensor(shape=("D", "M")),
                "b": opcheck.Tensor(shape=()),
            },
        ),
    ]
"""

FLIPPED_DX = CONTRACT_EXAMPLE.replace('"x": ds @ w.T', '"x": -(ds @ w.T)')

BAD_RANGE = """\
import numpy as np
import opcheck


@opcheck.hookimpl
def opcheck_ops():
    return [
        opcheck.Op(
            name="mylib.clipped",
            forward=lambda x: np.clip(x, 0.0, 1.0),
            backward=lambda dout, x: {"x": dout * ((x > 0) & (x < 1))},
            inputs={"x": opcheck.Tensor(shape=("N",), low=2.0, high=1.0)},
        ),
    ]
"""





@pytest.fixture
def run(tmp_path):
    """Run ``opcheck ARGS...`` in tmp_path; return the completed process."""
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)

    def run(*args: str, command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*(command or OPCHECK), *args],
            check=False,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def _table_row(stdout: str, op: str) -> list[str]:
    """The cells of ``op``'s row in the text table (columns are separated by 2+ spaces)."""
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == op:
            return cells
    raise AssertionError(f"no row for {op!r} in:\n{stdout}")


# --- the contract's example plugin -----------------------------------------------------


def test_contract_example_plugin_passes(run, tmp_path):
    (tmp_path / "mylib_ops.py").write_text(CONTRACT_EXAMPLE)
    result = run("audit", "-p", "mylib_ops")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _table_row(result.stdout, "mylib.sigmoid_affine")[1] == "PASS"
    assert _table_row(result.stdout, "matmul")[1] == "PASS"
    assert "Traceback" not in result.stderr
    assert re.search(r"^\d+ passed in [\d.]+s$", result.stderr, re.MULTILINE), result.stderr


def test_contract_example_plugin_by_glob(run, tmp_path):
    (tmp_path / "mylib_ops.py").write_text(CONTRACT_EXAMPLE)
    result = run("audit", "-p", "mylib_ops", "mylib.*")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines()[1:] if line.strip()]
    assert [r.split()[0] for r in rows] == ["mylib.sigmoid_affine"]
    assert "1 passed" in result.stderr


def test_flipped_gradient_fails_naming_input_and_worst_element(run, tmp_path):
    (tmp_path / "mylib_ops.py").write_text(FLIPPED_DX)
    result = run("audit", "-p", "mylib_ops", "mylib.*")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stderr

    # The table row: op, status, max rel err, variants, worst input, worst element.
    _, status, max_rel, _, where, element = _table_row(result.stdout, "mylib.sigmoid_affine")
    assert status == "FAIL"
    assert float(max_rel) == pytest.approx(1.0)  # a flipped sign: |a - n| / (|a| + |n|) = 1
    assert where.split()[0] == "x"
    m = re.fullmatch(r"\((\d+), (\d+)\): (\S+) vs (\S+)", element)
    assert m, element
    analytic, numeric = float(m[3]), float(m[4])
    assert analytic != 0 and analytic == pytest.approx(-numeric, rel=1e-5)

    # The detail block names the input and lists the worst elements with both values.
    assert "Gradient mismatch: op 'mylib.sigmoid_affine', input 'x'" in result.stdout
    assert "Mismatched elements:" in result.stdout
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("index"))
    first = re.fullmatch(r"\s*(\(\d+, \d+\))\s+(\S+)\s+(\S+)\s+\S+\s+\S+", lines[header + 1])
    assert first, lines[header + 1]
    assert first[1] == f"({m[1]}, {m[2]})"
    assert float(first[2]) == pytest.approx(analytic, rel=1e-5)
    assert float(first[3]) == pytest.approx(numeric, rel=1e-5)


def test_reproduce_line_reproduces_the_failure(run, tmp_path):
    (tmp_path / "mylib_ops.py").write_text(FLIPPED_DX)
    first = run("audit", "-p", "mylib_ops", "mylib.*", "--seed", "4")
    [line] = [line for line in first.stdout.splitlines() if line.startswith("Reproduce: ")]
    argv = shlex.split(line.removeprefix("Reproduce: "))
    assert argv[0] == "opcheck" and "--seed" in argv and "4" in argv
    again = run(*argv[1:])
    assert again.returncode == 1, again.stdout + again.stderr
    before = _table_row(first.stdout, "mylib.sigmoid_affine")
    after = _table_row(again.stdout, "mylib.sigmoid_affine")
    assert after[1] == "FAIL"
    assert after[4:] == before[4:]  # the same input, variant and worst element


def test_invalid_declaration_is_refused_naming_plugin_file_line_and_field(run, tmp_path):
    path = tmp_path / "bad_range.py"
    path.write_text(BAD_RANGE)
    line = next(i for i, text in enumerate(BAD_RANGE.splitlines(), 1) if "low=2.0" in text)
    result = run("audit", "-p", "bad_range")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "'bad_range'" in output
    assert f"bad_range.py:{line}" in output
    assert "high" in output and "low=2.0" in output
    assert "ERROR" in output


def test_list_warns_about_an_invalid_declaration(run, tmp_path):
    (tmp_path / "bad_range.py").write_text(BAD_RANGE)
    result = run("list", "-p", "bad_range")
    assert result.returncode == 1
    assert "bad_range" in result.stderr and "low=2.0" in result.stderr
    assert "matmul" in result.stdout  # the other plugins still load


# --- list / show / version --------------------------------------------------------------


def test_list_shows_ops_and_their_plugins(run):
    result = run("list")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "opcheck_plugins.matmul" in rows["matmul"]
    assert "opcheck_plugins.sigmoid_affine" in rows["sigmoid_affine"]
    assert list(rows) == sorted(rows)


def test_list_includes_p_plugins(run, tmp_path):
    (tmp_path / "mylib_ops.py").write_text(CONTRACT_EXAMPLE)
    result = run("list", "-p", "mylib_ops")
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "mylib_ops" in rows["mylib.sigmoid_affine"]


def test_list_blocks_with_p_no(run):
    result = run("list", "-p", "no:matmul")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "matmul" not in names and "sigmoid_affine" in names


def test_show(run):
    result = run("show", "matmul")
    assert result.returncode == 0, result.stderr
    assert "matmul" in result.stdout
    assert "opcheck_plugins.matmul" in result.stdout
    assert re.search(r"x: shape \(N, D\), float64", result.stdout)
    assert re.search(r"w: shape \(D, M\), float64", result.stdout)


def test_show_json(run):
    result = run("show", "matmul", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["op"] == "matmul"
    assert doc["inputs"]["x"]["shape"] == ["N", "D"]
    assert doc["inputs"]["w"]["dtype"] == "float64"
    assert doc["dims"] == {"N": 3, "D": 4, "M": 5}
    # As audited (the default range resolved), and as declared (nothing given).
    assert doc["inputs"]["x"]["low"] == -1.0 and doc["inputs"]["x"]["differentiable"] is True
    assert doc["inputs"]["x"]["declared"]["low"] is None
    assert doc["plugin"]["name"] == "opcheck_plugins.matmul"
    assert doc["forward"].endswith(".py:" + doc["forward"].rsplit(":", 1)[1])
    assert "matmul.py:" in doc["forward"] and "matmul.py:" in doc["backward"]
    assert doc["variants"][0] == "default" and "N=1" in doc["variants"]


def test_version(run):
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"opcheck {opcheck.__version__}"


def test_python_dash_m_is_the_same_program(run, tmp_path):
    (tmp_path / "mylib_ops.py").write_text(CONTRACT_EXAMPLE)
    via_m = run("audit", "-p", "mylib_ops", "mylib.*", command=[sys.executable, "-m", "opcheck"])
    via_script = run("audit", "-p", "mylib_ops", "mylib.*")
    assert via_m.returncode == 0, via_m.stderr
    assert via_m.stdout == via_script.stdout


# --- usage errors: exit 2, one line, no traceback ---------------------------------------


USAGE_ERRORS = [
    pytest.param(["audit", "no_such_op"], "no op matches 'no_such_op'", id="unknown-op"),
    pytest.param(["audit", "zz.*"], "no op matches 'zz.*'", id="glob-matches-nothing"),
    pytest.param(["audit", "sigmoid_afine"], "did you mean sigmoid_affine", id="misspelled-op"),
    pytest.param(["audit", "--bogus"], "--bogus", id="unknown-option"),
    pytest.param(["audit", "--format", "yaml"], "yaml", id="unknown-format"),
    pytest.param(
        ["audit", "-p", "not_importable_xyz"], "not_importable_xyz", id="p-not-importable"
    ),
    pytest.param(["show", "no_such_op"], "no_such_op", id="show-unknown-op"),
    pytest.param(["frobnicate"], "frobnicate", id="unknown-command"),
    pytest.param([], "COMMAND", id="no-command"),
]


@pytest.mark.parametrize("args, words", USAGE_ERRORS)
def test_usage_error_exits_2_without_traceback(run, args, words):
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^opcheck( \w+)?: error: ", result.stderr, re.MULTILINE), result.stderr
    assert words in result.stderr


def test_unknown_op_suggests_a_close_name(run):
    result = run("show", "matmull")
    assert result.returncode == 2
    assert "did you mean matmul" in result.stderr


# --- formats ----------------------------------------------------------------------------


def test_json_format(run, tmp_path):
    (tmp_path / "mylib_ops.py").write_text(FLIPPED_DX)
    result = run(
        "audit", "-p", "mylib_ops", "matmul", "sigmoid_affine", "mylib.*", "--format", "json"
    )
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    ops = {entry["name"]: entry for entry in doc["ops"]}
    assert list(ops) == ["matmul", "sigmoid_affine", "mylib.sigmoid_affine"]
    assert ops["matmul"]["status"] == "pass"
    assert ops["matmul"]["max_rel_error"] < 1e-7
    assert ops["sigmoid_affine"]["status"] == "pass"
    assert ops["mylib.sigmoid_affine"]["status"] == "fail"
    assert ops["mylib.sigmoid_affine"]["max_rel_error"] == pytest.approx(1.0)


def test_json_format_reports_a_contract_error(run, tmp_path):
    (tmp_path / "broken_ops.py").write_text(
        CONTRACT_EXAMPLE.replace('name="mylib.sigmoid_affine"', 'name="mylib.broken"').replace(
            '"b": ds.sum()', '"b": ds'
        )
    )
    result = run("audit", "-p", "broken_ops", "mylib.*", "--format", "json")
    assert result.returncode == 1
    [entry] = json.loads(result.stdout)["ops"]
    assert entry["name"] == "mylib.broken"
    assert entry["status"] == "error"
    assert "max_rel_error" in entry


def test_json_format_over_every_builtin(run):
    result = run("audit", "--format", "json")
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads(result.stdout)
    names = [entry["name"] for entry in doc["ops"]]
    assert "matmul" in names and "sigmoid_affine" in names
    for entry in doc["ops"]:
        assert {"name", "status", "max_rel_error"} <= set(entry)
        assert entry["status"] in ("pass", "fail", "error")


def test_output_file(run, tmp_path):
    result = run("audit", "matmul", "--format", "json", "-o", "out/report.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [entry["name"] for entry in doc["ops"]] == ["matmul"]


def test_auditing_an_invalid_declaration_by_name_raises_its_declaration_error(tmp_path, monkeypatch):
    """opcheck.audit('name', plugins=...) on an op whose Tensor has a typo says what is wrong
    (the field and the line), not merely that no such op exists."""
    (tmp_path / "typo_ops_e2e.py").write_text(
        "import opcheck\n"
        "@opcheck.hookimpl\n"
        "def opcheck_ops():\n"
        "    return [opcheck.Op(name='typo.tanh', forward=lambda x: x, backward=lambda dout, x: (dout,),\n"
        "                       inputs={'x': opcheck.Tensor(shape=(3,), dtyp='float32')})]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(opcheck.PluginError) as caught:
        opcheck.audit("typo.tanh", plugins=["typo_ops_e2e"])
    assert "dtyp" in str(caught.value) and "typo_ops_e2e.py:5" in str(caught.value)
