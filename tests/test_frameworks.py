"""The framework adapters without the frameworks: importing opcheck imports neither torch
nor JAX, ``pip install .`` pulls neither in, and an adapter called without its extra says
which extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import opcheck

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_the_adapters_are_public_names() -> None:
    assert {"from_torch", "from_jax"} <= set(opcheck.__all__)
    assert callable(opcheck.from_torch) and callable(opcheck.from_jax)


@pytest.mark.slow  # starts processes
def test_importing_opcheck_and_its_adapters_imports_no_framework() -> None:
    result = _python("""
        import sys
        import opcheck
        opcheck.from_torch, opcheck.from_jax      # the adapters' modules, not the frameworks
        registry = opcheck.discover()
        opcheck.audit(registry["matmul"])
        import opcheck.cli, opcheck.worker, opcheck.pytest_plugin
        loaded = sorted(m for m in ("torch", "jax", "jaxlib") if m in sys.modules)
        print(loaded)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("adapter", "module", "extra"), [
    pytest.param("from_torch", "torch", "torch", id="torch"),
    pytest.param("from_jax", "jax", "jax", id="jax"),
])
def test_an_adapter_without_its_framework_names_the_extra(adapter, module, extra) -> None:
    result = _python(f"""
        import sys
        sys.modules[{module!r}] = None            # as if the framework were not installed
        import opcheck
        try:
            opcheck.{adapter}("x.op", lambda x: x, inputs={{"x": opcheck.Tensor(shape=(3,))}})
        except ImportError as exc:
            print(exc)
    """)
    assert result.returncode == 0, result.stderr
    assert f"opcheck.{adapter} needs {module}" in result.stdout
    assert f'pip install "opcheck[{extra}]"' in result.stdout


def test_pip_install_dot_installs_no_framework_and_the_extras_pin_them() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.split()[0].startswith(("torch", "jax"))]
    assert project["optional-dependencies"]["torch"] == ["torch==2.13.0"]
    assert [d for d in project["optional-dependencies"]["jax"] if d.startswith("jax")]


def test_the_ci_script_installs_both_extras() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "[test,torch,jax,dask]" in script and "OPCHECK_REQUIRE_EXTRAS=1" in script


@pytest.mark.parametrize(("ci", "status"), [("1", 1), ("", 0)], ids=["CI", "local"])
def test_skipped_framework_tests_fail_ci_only(ci: str, status: int, tmp_path: Path) -> None:
    """tests/conftest.py: under OPCHECK_REQUIRE_EXTRAS=1 (.ci/run) a skipped torch/jax test
    fails the run; a user's own CI (CI=true) running the README's command does not."""
    (tmp_path / "hide_jax.py").write_text("import sys\nsys.modules['jax'] = None\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_PLUGINS", "OPCHECK_CI_PROBE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["OPCHECK_REQUIRE_EXTRAS"] = ci
    env["CI"] = "true"  # a user's CI: not what makes the extras required
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hide_jax", "-p", "no:cacheprovider", "-q",
         "tests/test_frameworks_jax.py", "tests/test_frameworks.py::test_the_adapters_are_public_names"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == status, result.stdout + result.stderr
    assert "skipped" in result.stdout
    assert ("CI must run them" in result.stdout) == bool(ci)
