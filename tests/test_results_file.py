"""The results stream records what each entry was computed from; ``--resume`` reuses an
entry only for the op it describes, and refuses files that contradict themselves."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import numpy as np
import pytest
from cli_command import OPCHECK

import opcheck
from opcheck.fingerprint import fingerprint

PLUGIN = textwrap.dedent("""
    import numpy as np
    import opcheck

    def _backward(dout, out, x):
        return {"x": dout * (1.0 - out**2)}

    @opcheck.hookimpl
    def opcheck_ops():
        return [
            opcheck.Op(name="fp.tanh", forward=lambda x: np.tanh(x), backward=_backward,
                       inputs={"x": opcheck.Tensor(shape=(3,))}),
            opcheck.Op(name="fp.sin", forward=lambda x: np.sin(x),
                       backward=lambda dout, x: {"x": dout * np.cos(x)},
                       inputs={"x": opcheck.Tensor(shape=(3,))}),
        ]
""")


def _op(backward, dims=None, shape=("N",)):
    return opcheck.Op(name="t", forward=lambda x: np.tanh(x), backward=backward,
                      inputs={"x": opcheck.Tensor(shape=shape)}, dims=dims or {})


def _right(dout, out, x):
    return {"x": dout * (1.0 - out**2)}


def _wrong(dout, out, x):
    return {"x": dout * (1.0 - out)}


def test_the_fingerprint_follows_the_code_and_the_declaration():
    assert fingerprint(_op(_right)) == fingerprint(_op(_right))
    assert fingerprint(_op(_right)) != fingerprint(_op(_wrong))
    assert fingerprint(_op(_right)) != fingerprint(_op(_right, dims={"N": 4}))
    assert fingerprint(_op(_right)) != fingerprint(_op(_right, shape=(3,)))


@pytest.fixture
def run(tmp_path):
    (tmp_path / "fp_ops.py").write_text(PLUGIN)
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPCHECK, "audit", "-p", "fp_ops", "fp.*", "--jobs", "1", *args],
                              cwd=tmp_path, env=env, text=True, capture_output=True,
                              timeout=120, check=False)

    return run


def test_resume_audits_again_an_op_whose_code_changed(run, tmp_path):
    first = run("--results", "r.jsonl")
    assert first.returncode == 0, first.stderr
    entries = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()[1:]]
    assert all(e["computed_from"]["fingerprint"] and e["computed_from"]["seed"] == 0
               for e in entries)
    plugin = tmp_path / "fp_ops.py"
    plugin.write_text(PLUGIN.replace("(1.0 - out**2)", "(1.0 - out)"))  # now wrong
    again = run("--resume", "r.jsonl", "--format", "json")
    assert "1 op(s) changed since r.jsonl was written" in again.stderr, again.stderr
    assert "audited again: fp.tanh" in again.stderr
    assert again.returncode == 1  # the stale pass is not reused
    status = {e["name"]: e["status"] for e in json.loads(again.stdout)["ops"]}
    assert status == {"fp.sin": "pass", "fp.tanh": "fail"}


def test_a_header_that_contradicts_its_entries_is_refused(run, tmp_path):
    assert run("--results", "r.jsonl").returncode == 0
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["seed"] = 5
    (tmp_path / "r.jsonl").write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    again = run("--resume", "r.jsonl", "--seed", "5")
    assert again.returncode == 2
    assert "was audited with seed=0, but the header says seed=5" in again.stderr


@pytest.mark.parametrize("args", [("--results", "same.json", "-o", "same.json"),
                                  ("--resume", "same.json", "-o", "./same.json")])
def test_results_and_report_may_not_be_one_file(run, args):
    result = run(*args)
    assert result.returncode == 2
    assert "name the same file" in result.stderr
