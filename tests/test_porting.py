"""docs/porting.md: every example plugin runs as documented, and its ops pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from cli_command import OPCHECK

PORTING = Path(__file__).resolve().parent.parent / "docs" / "porting.md"
EXAMPLE = re.compile(r"<!-- porting-example: (\S+) (\S+) -->\n```python\n(.*?)```", re.DOTALL)
EXAMPLES = EXAMPLE.findall(PORTING.read_text(encoding="utf-8"))


def test_the_guide_has_every_example_the_issue_asks_for():
    assert [module for module, _, _ in EXAMPLES] == [
        "cs231n_layers", "cs231n_conv", "rnn_layers", "losses_ops", "linalg_ops", "positive_ops"]


@pytest.mark.parametrize("module, pattern, source", EXAMPLES, ids=[m for m, _, _ in EXAMPLES])
def test_a_porting_example_passes_as_documented(tmp_path, module, pattern, source):
    (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [*OPCHECK, "audit", "-p", module, pattern.strip("'"), "--jobs", "1", "--format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    ops = json.loads(result.stdout)["ops"]
    assert ops and all(op["status"] == "pass" for op in ops)
    assert "warning" not in result.stderr


def _load(module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str):
    import importlib

    (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(module)


@pytest.mark.slow  # starts processes
def test_the_conv_example_catches_a_backward_wrong_only_for_stride_2(tmp_path, monkeypatch):
    import opcheck

    source = {m: s for m, _, s in EXAMPLES}["cs231n_conv"]
    buggy = source.replace("dw += np.tensordot", "dw += (1.0 + 0.1 * (stride == 2)) * np.tensordot")
    assert buggy != source
    module = _load("cs231n_conv_buggy", tmp_path, monkeypatch, buggy)
    [op] = module.opcheck_ops()
    report = opcheck.audit(op)
    failing = {v.label for v in report.variants if v.status == "fail"}
    assert failing == {"stride=2 pad=0", "stride=2 pad=1"}
    assert report.message.startswith("variant stride=2 pad=")


def test_the_logdet_example_is_an_error_without_its_sampler(tmp_path, monkeypatch):
    import opcheck

    source = {m: s for m, _, s in EXAMPLES}["linalg_ops"]
    module = _load("linalg_ops_uniform", tmp_path, monkeypatch, source.replace(', sampler="spd"', ""))
    [op] = module.opcheck_ops()
    report = opcheck.audit(op)
    assert report.status == "error" and "LinAlgError" in report.message
