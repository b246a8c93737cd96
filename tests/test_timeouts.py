"""Timeouts say how far the op got: an op that was progressing is reported with the
elements it checked and what to change, "stuck in" only an op that stopped returning.

Real ops (tests/data/batch/timing_ops.py) under real timers, in this process (``--jobs
1``) and in worker processes (``--jobs 2``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from opcheck import audit_progress, timeouts
from opcheck.plugin_manager import discover
from opcheck.runner import RunOptions, run_ops

DATA = Path(__file__).parent / "data" / "batch"
JOBS = [pytest.param(1, id="in-process"), pytest.param(2, id="workers", marks=pytest.mark.slow)]


@pytest.fixture
def timing_ops(monkeypatch):
    monkeypatch.syspath_prepend(str(DATA))
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("OPCHECK_BUDGET", raising=False)  # the advice names the default budget
    yield
    sys.modules.pop("timing_ops", None)


def _messages(names, jobs, timeout, **options):
    registry = discover(["timing_ops"])
    run = RunOptions(plugins=("timing_ops",), jobs=jobs, isolate=jobs > 1, timeout=timeout,
                     **options)
    return {r.name: r.message for r in run_ops(names, run, registry)}


def _checked(message):
    found = re.search(r"checked ([\d,]+) of ([\d,]+) elements of input 'x' \(variant default", message)
    assert found, message
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


@pytest.mark.usefixtures("timing_ops")
@pytest.mark.parametrize("jobs", JOBS)
def test_a_slow_op_that_progresses_says_how_far_it_got(jobs):
    messages = _messages(["timing.progressing", "timing.hangs"], jobs, timeout=1.5)
    progressing = messages["timing.progressing"]
    assert progressing.startswith("timed out after 1.5 s: checked "), progressing
    done, total = _checked(progressing)
    assert 0 < done < total == 4096
    assert re.search(r"\(variant default, 1 of \d+, backward\)", progressing), progressing
    assert "stuck" not in progressing
    assert "the op was progressing — raise --timeout, or use --mode fast" in progressing
    hangs = messages["timing.hangs"]
    assert hangs.startswith("timed out after 1.5 s (stuck in forward at "), hangs
    assert "timing_ops.py:" in hangs
    assert "no forward call returned since the op started" in hangs


@pytest.mark.usefixtures("timing_ops")
@pytest.mark.parametrize("jobs", JOBS)
def test_an_op_that_stops_returning_after_progress_is_stuck(jobs, monkeypatch):
    """It checks ~200 elements, then its forward never returns: no progress in the last
    STALL_SECONDS (shortened here) before the deadline is "stuck", with how far it got."""
    monkeypatch.setattr(timeouts, "STALL_SECONDS", 1.0)
    message = _messages(["timing.hangs_later"], jobs, timeout=2.5)["timing.hangs_later"]
    assert message.startswith("timed out after 2.5 s (stuck in forward at "), message
    assert "no forward call returned in the last 1 s" in message
    done, _ = _checked(message)
    assert 150 < done < 200  # a few calls of the contract's and probes, then two per element


def test_the_advice_follows_the_mode_and_the_budget():
    assert timeouts.advice("fast", 5, 60) == "raise --timeout"
    assert "drop --mode full" in timeouts.advice("full", 5, 60)
    assert "--budget" not in timeouts.advice("auto", 5, 60)
    assert "keep --budget (90 s) below --timeout" in timeouts.advice("auto", 90, 60)


def test_progress_counts_elements_per_input_and_only_grows():
    audit_progress.reset()
    audit_progress.variant("N=1", "2 of 3")
    audit_progress.begin("x", 10)
    audit_progress.slots[audit_progress.DONE] = 4
    first = audit_progress.snapshot()
    assert first.describe() == "checked 4 of 10 elements of input 'x' (variant N=1, 2 of 3, backward)"
    audit_progress.check("jvp")
    audit_progress.begin("w", 3, "projections")
    audit_progress.tick()
    second = audit_progress.snapshot()
    assert second.describe() == "checked 0 of 3 projections of input 'w' (variant N=1, 2 of 3, jvp)"
    assert second.ticks == first.ticks + 1  # the next input keeps what the first had done


def test_a_worker_s_counters_are_read_from_its_file(tmp_path):
    path = str(tmp_path / "progress")
    audit_progress.new_file(path)
    assert audit_progress.read(path).ticks == 0
    assert audit_progress.read(str(tmp_path / "gone")) is None


@pytest.mark.slow  # starts a process
@pytest.mark.usefixtures("timing_ops")
def test_the_one_op_auditor_of_the_dask_executor_says_how_far_it_got():
    from opcheck.runner import OpAuditor

    auditor = OpAuditor(RunOptions(plugins=("timing_ops",), timeout=1.5, mode="full"),
                        discover(["timing_ops"]))
    try:
        progressing = auditor.audit("timing.progressing").message
        hangs = auditor.audit("timing.hangs").message
    finally:
        auditor.close()
    assert 0 < _checked(progressing)[0] < 4096
    assert progressing.endswith("the op was progressing — raise --timeout, or drop --mode full: "
                                "the default mode checks a sample within --budget (5 s)")
    assert hangs.startswith("timed out after 1.5 s (stuck in forward at "), hangs
