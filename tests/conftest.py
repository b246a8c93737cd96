"""CI runs the torch and JAX tests too: under ``OPCHECK_REQUIRE_EXTRAS=1`` (set by
``.ci/run``) a test marked ``torch`` or ``jax`` that was skipped (the framework missing
from the venv) fails the run, so a broken extra can never turn those tests into silent
skips. A variable of opcheck's own, not ``CI``: a user's CI that runs the README's
``pip install ".[test]" && pytest`` without the extras should still pass."""

from __future__ import annotations

import inspect
import os
import sys

import pytest

_FRAMEWORKS = ("torch", "jax")


def require_extras() -> bool:
    """Whether this run must have the torch, jax and dask extras (``.ci/run`` says so)."""
    return os.environ.get("OPCHECK_REQUIRE_EXTRAS", "").lower() in ("1", "true", "yes")
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and any(name in report.keywords for name in _FRAMEWORKS):
        _skipped.append(report.nodeid)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module that skipped itself with ``pytest.importorskip("torch")``."""
    reason = str(report.longrepr[-1]) if report.skipped and isinstance(report.longrepr, tuple) else ""
    if any(f"could not import '{name}" in reason for name in _FRAMEWORKS):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if require_extras() and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if require_extras() and _skipped:
        terminalreporter.write_line(
            f"OPCHECK_REQUIRE_EXTRAS=1: {len(_skipped)} torch/jax test(s) were skipped; CI must run them "
            "(install the wheel with [torch,jax]), e.g. " + _skipped[0], red=True)


#: Whole modules of slow tests: the verdict galleries (every op audited in both modes) and
#: the files whose tests run the ``opcheck`` command or a Dask cluster.
SLOW_MODULES = frozenset({
    "test_adversarial.py", "test_gallery.py", "test_bug_gallery.py", "test_rules_gallery.py",
    "test_cli.py", "test_cli_batch.py", "test_dask_executor.py", "test_end_to_end.py",
    "test_faults.py",
})
#: Names a test's code uses when it starts a process (``opcheck`` or ``pytest`` itself).
_PROCESS_NAMES = frozenset({"subprocess", "Popen", "OPCHECK", "runpytest_subprocess",
                            "runpytest"})


def _names(function: object) -> set[str]:
    """The global names a test's code uses, and those of its module's own helper
    functions it calls (a ``_run`` that starts ``opcheck`` marks its callers slow)."""
    names = set(getattr(getattr(function, "__code__", None), "co_names", ()))
    module = sys.modules.get(getattr(function, "__module__", ""))
    for name in list(names):
        helper = getattr(module, name, None)
        if inspect.isfunction(helper) and helper.__module__ == function.__module__:
            names |= set(helper.__code__.co_names)
    return names


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow``: the galleries and every test that starts a process, so that
    ``pytest -m "not slow" -n 2`` is the quick day-to-day run; plain ``pytest`` runs all."""
    for item in items:
        names = _names(getattr(item, "function", None))
        if (item.path.name in SLOW_MODULES or names & _PROCESS_NAMES
                or {"run", "start", "pytester"} & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)
