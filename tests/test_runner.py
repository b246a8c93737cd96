"""The runner with real worker processes: every way an op can take its audit down becomes
an ``error`` report with the reason, and every other op is still audited.

The test plugins live in tests/data/batch/ and are imported from there.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from opcheck.errors import UsageError
from opcheck.plugin_manager import discover
from opcheck.runner import RunOptions, run_ops
from opcheck.shard import Shard, in_shard, parse_shard, shard_of

DATA = Path(__file__).parent / "data" / "batch"


@pytest.fixture
def batch_plugins(monkeypatch):
    """The test plugins of tests/data/batch importable, entry points off; afterwards they
    are forgotten (pytester's tests make modules of the same names)."""
    monkeypatch.syspath_prepend(str(DATA))
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    yield
    for path in DATA.glob("*.py"):
        sys.modules.pop(path.stem, None)


def _run(names, plugins, **options):
    registry = discover(plugins)
    reports = list(run_ops(names, RunOptions(plugins=tuple(plugins), **options), registry))
    assert sorted(r.name for r in reports) == sorted(names), "each op is reported exactly once"
    return {r.name: r for r in reports}


BAD = ["bad.hang", "bad.segfault", "bad.abort", "bad.exit", "bad.raise", "bad.sys_exit", "bad.fine"]


@pytest.mark.slow  # starts processes
@pytest.mark.usefixtures("batch_plugins")
def test_every_failure_mode_is_an_error_with_its_reason():
    reports = _run(BAD, ["broken_ops"], jobs=2, timeout=1.5)
    assert reports["bad.fine"].status == "pass"
    expected = {
        "bad.hang": "timed out after 1.5 s",
        "bad.segfault": "worker process died with signal SIGSEGV",
        "bad.abort": "worker process died with signal SIGABRT",
        "bad.exit": "forward called os._exit(3) at",
        "bad.raise": "forward raised RuntimeError: numerics exploded",
        "bad.sys_exit": "forward called sys.exit(4) at",
    }
    for name, reason in expected.items():
        assert reports[name].status == "error", name
        assert reason in reports[name].message, (name, reports[name].message)
        assert reports[name].plugin == "broken_ops"
    # Where it happened, from the worker's fault-handler dump.
    assert "in _segfault at" in reports["bad.segfault"].message
    assert "broken_ops.py" in reports["bad.hang"].message
    assert reports["bad.hang"].reproduce.endswith("--jobs 1 --timeout 1.5")
    assert reports["bad.segfault"].reproduce.endswith("--jobs 1")


@pytest.mark.slow  # starts processes
@pytest.mark.usefixtures("batch_plugins")
def test_a_crashed_worker_is_replaced_and_the_queue_goes_on():
    names = ["bad.segfault", "slow.op00", "bad.abort", "slow.op01", "bad.exit", "slow.op02"]
    reports = _run(names, ["broken_ops", "slow_ops"], jobs=1, isolate=True)
    assert [reports[n].status for n in names] == ["error", "pass"] * 3


@pytest.mark.slow  # starts processes
@pytest.mark.usefixtures("batch_plugins")
def test_a_timeout_costs_no_other_op_its_progress():
    """Only the hung op's worker is stopped: the slow ops beside it finish once each."""
    names = ["bad.hang", *(f"slow.op{k:02d}" for k in range(6))]
    reports = _run(names, ["broken_ops", "slow_ops"], jobs=2, timeout=1.0)
    assert reports["bad.hang"].message.startswith("timed out after 1 s")
    assert all(reports[n].status == "pass" for n in names[1:])


@pytest.mark.usefixtures("batch_plugins")
def test_running_out_of_memory_is_a_memory_error():
    reports = _run(["hungry.hoard", "bad.fine"], ["hungry_ops", "broken_ops"], jobs=2,
                   max_memory=1 << 30)
    assert reports["hungry.hoard"].status == "error"
    assert "MemoryError" in reports["hungry.hoard"].message
    assert reports["bad.fine"].status == "pass"


@pytest.mark.usefixtures("batch_plugins")
def test_a_timed_out_op_reproduces_with_the_budget_it_ran_under(monkeypatch):
    monkeypatch.setenv("OPCHECK_BUDGET", "2")  # as `opcheck audit --budget 2` sets it
    reports = _run(["bad.hang"], ["broken_ops"], jobs=1, isolate=False, timeout=0.5)
    assert reports["bad.hang"].reproduce.endswith("--jobs 1 --timeout 0.5 --budget 2")
    full = _run(["bad.hang"], ["broken_ops"], jobs=1, isolate=False, timeout=0.5, mode="full")
    assert full["bad.hang"].reproduce.endswith("--mode full --jobs 1 --timeout 0.5")


@pytest.mark.usefixtures("batch_plugins")
def test_in_process_reports_raising_ops_and_stops_a_python_loop():
    names = ["bad.hang", "bad.raise", "bad.sys_exit", "bad.fine"]
    reports = _run(names, ["broken_ops"], jobs=1, isolate=False, timeout=0.5)
    assert reports["bad.hang"].message.startswith("timed out after 0.5 s (stuck in _hang at ")
    assert "broken_ops.py:" in reports["bad.hang"].message
    assert reports["bad.hang"].reproduce.endswith("--jobs 1 --timeout 0.5")
    assert "RuntimeError" in reports["bad.raise"].message
    assert "forward called sys.exit(4) at" in reports["bad.sys_exit"].message
    assert reports["bad.fine"].status == "pass"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # the timer is off again


@pytest.mark.slow  # starts processes
@pytest.mark.usefixtures("batch_plugins")
def test_isolated_and_in_process_reports_agree():
    names = ["matmul", "sigmoid_affine", "slow.op03"]
    isolated = _run(names, ["slow_ops"], jobs=2)
    local = _run(names, ["slow_ops"], jobs=1, isolate=False)
    for name in names:
        a, b = isolated[name].to_dict(), local[name].to_dict()
        for d in (a, b):
            d.pop("duration")
            for v in d["variants"]:
                for i in v["inputs"]:
                    i.pop("seconds")
        assert a == b


@pytest.mark.usefixtures("batch_plugins")
def test_a_usage_error_in_a_worker_reaches_the_caller():
    with pytest.raises(UsageError, match="no variant"):
        _run(["bad.fine"], ["broken_ops"], jobs=1, variant="Q=9")


# --- sharding -----------------------------------------------------------------------------


def test_shards_partition_the_ops():
    names = [f"lib.op{k}" for k in range(300)]
    shards = [in_shard(names, Shard(k, 4)) for k in range(1, 5)]
    assert sorted(n for shard in shards for n in shard) == sorted(names)
    assert all(40 <= len(s) <= 110 for s in shards), [len(s) for s in shards]


def test_shard_depends_on_the_name_alone():
    """Pinned values: sha256 of the name, the same on every machine and in every process
    (Python's own str hash is salted per process, so it could not be used)."""
    assert [shard_of("matmul", 4), shard_of("sigmoid_affine", 4), shard_of("mylib.tanh", 3)] == [
        1, 2, 2]
    assert in_shard(["b", "a", "c"], Shard(1, 1)) == ["b", "a", "c"]


@pytest.mark.parametrize(
    "text",
    [pytest.param("0/3", id="zero"), pytest.param("4/3", id="past-the-end"),
     pytest.param("1", id="no-count"), pytest.param("a/b", id="not-numbers"),
     pytest.param("1/0", id="no-shards")],
)
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(UsageError, match="K/N"):
        parse_shard(text)


def test_shard_parses():
    assert parse_shard("2/5") == Shard(2, 5) and str(parse_shard(" 2 / 5 ")) == "2/5"


# --- workers do not outlive the run --------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            state = next(line for line in handle if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return "Z" not in state.split()[1]


@pytest.mark.slow  # starts processes
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.usefixtures("batch_plugins")
def test_workers_stop_when_the_run_is_closed_early(tmp_path, monkeypatch):
    log = tmp_path / "pids"
    monkeypatch.setenv("SLOW_OPS_PIDS", str(log))
    names = [f"slow.op{k:02d}" for k in range(8)]
    registry = discover(["slow_ops"])
    running = run_ops(names, RunOptions(plugins=("slow_ops",), jobs=2), registry)
    next(running)
    running.close()  # what an interrupt does
    pids = {int(p) for p in log.read_text().split()}
    assert pids and not any(_alive(p) for p in pids)


@pytest.mark.slow  # starts processes
def test_a_worker_starts_though_the_fork_server_was_just_killed():
    """An op that kills the fork server may leave it alive a moment longer: long enough
    to take the next worker's request and die under it (EOFError in multiprocessing).
    Killed right before each request, the server is restarted and every worker starts."""
    import multiprocessing

    from opcheck.runner import _new_worker
    from opcheck.worker_process import context, fork_server_pid

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform")
    ctx = context()
    alive = ctx.Event()
    alive.set()
    for _ in range(5):
        os.kill(fork_server_pid(), signal.SIGKILL)
        worker = _new_worker(ctx, RunOptions(), alive)
        try:
            assert isinstance(worker.tasks[0].future.result(timeout=60), int)  # its pid
        finally:
            worker.close()
