"""BLAS threads of an audit run in this process (``opcheck.blas_threads``): the count a
default run's workers get, applied through threadpoolctl where it is installed, and
nothing changed where it is not."""

from __future__ import annotations

import sys

import pytest

import opcheck
from opcheck import blas_threads


@pytest.fixture
def no_thread_variables(monkeypatch):
    for key in blas_threads.VARIABLES:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("environ, count", [
    pytest.param({}, 1, id="unset: one, as a default run's workers"),
    pytest.param({"OMP_NUM_THREADS": "3"}, 3, id="the user's"),
    pytest.param({"OPENBLAS_NUM_THREADS": "2"}, 2, id="openblas"),
    pytest.param({"OMP_NUM_THREADS": "many"}, 1, id="unreadable"),
    pytest.param({"MKL_NUM_THREADS": "0"}, 1, id="zero"),
])
def test_the_count_is_the_environments_else_one(no_thread_variables, monkeypatch, environ, count):
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert blas_threads.thread_count() == count


def test_without_threadpoolctl_nothing_changes(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    monkeypatch.setattr(blas_threads, "_blas", None)  # not looked up yet in this process
    with blas_threads.limited() as limits:
        assert limits is None
    assert blas_threads._blas is False  # looked up once


def test_a_pool_already_small_enough_is_left_alone(monkeypatch):
    """A worker process's pool was sized by the environment before numpy loaded."""
    pytest.importorskip("threadpoolctl")
    monkeypatch.setenv("OMP_NUM_THREADS", str(max(_blas_threads(), default=1)))
    with blas_threads.limited() as limits:
        assert limits is None


def _blas_threads() -> list[int]:
    import numpy  # noqa: F401 (loads its BLAS)
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_an_audit_in_this_process_runs_with_one_blas_thread(no_thread_variables):
    pytest.importorskip("threadpoolctl")
    seen: list[list[int]] = []

    def forward(x, w):
        seen.append(_blas_threads())
        return x @ w

    op = opcheck.Op(name="watched", forward=forward, backward=lambda dout, x, w: {
        "x": dout @ w.T, "w": x.T @ dout}, inputs={"x": opcheck.Tensor(shape=("N", "D")),
                                                   "w": opcheck.Tensor(shape=("D", "M"))})
    before = _blas_threads()
    if max(before, default=1) < 2:
        pytest.skip("a pool of one thread already (one core, or OMP_NUM_THREADS=1)")
    assert opcheck.audit(op, variant="default").status == "pass"
    assert seen and all(counts == [1] * len(before) for counts in seen)
    assert _blas_threads() == before  # restored after the audit


def test_looking_up_the_blas_pools_is_not_blamed_on_the_first_op(tmp_path):
    """Importing threadpoolctl sets KMP_DUPLICATE_LIB_OK; in a fresh worker that import
    happened inside the first op's sandbox, which reported "the op changed the
    environment" for a plain numpy op."""
    pytest.importorskip("threadpoolctl")
    import os
    import subprocess

    code = ("from opcheck import discover\n"
            "from opcheck.worker import audit_sandboxed\n"
            "report, _ = audit_sandboxed(discover(), 'matmul', 0, 'auto', 'default', in_worker=False)\n"
            "print(report.status, report.warnings)\n")
    env = {k: v for k, v in os.environ.items() if k != "KMP_DUPLICATE_LIB_OK"}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pass []", done.stdout
