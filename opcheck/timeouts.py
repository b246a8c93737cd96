"""What a timeout says: how far the op got and what to change when it was progressing,
"stuck in FUNC at FILE:LINE" only when it was not.

An op is *stuck* when the audit's counters (``audit_progress``) did not move in the last
``STALL_SECONDS`` before the timer fired (or, under a shorter timeout, since the op
started): no element, projection or second look completed, i.e. a forward call did not
return. Both timers — the in-process one (``in_process``) and the parent's watch over a
worker process (``worker_process``) — take a checkpoint of the counters ``STALL_SECONDS``
before the deadline and compare it with the counters when the deadline comes.
"""

from __future__ import annotations

import os
import re

from . import budget as budgets
from .audit_progress import Snapshot

#: No progress for this long before the deadline: the op is stuck, not slow.
STALL_SECONDS = 10.0


def checkpoint_at(started: float, timeout: float) -> float | None:
    """When to read the counters the deadline is compared with (None: at the start, when
    every counter is zero)."""
    if timeout <= STALL_SECONDS:
        return None
    return started + timeout - STALL_SECONDS


#: How every timeout message starts ("timed out after 3 s"); ``timed_out_after`` reads it.
_HEAD = re.compile(r"timed out after ([0-9.e+]+) s")


def timed_out_after(text: str) -> float | None:
    """The timeout a ``message`` reports (``--resume`` audits such an op again under a
    longer one), or None for any other message."""
    found = _HEAD.match(text)
    return float(found[1]) if found else None


def message(timeout: float, before: int, now: Snapshot | None, where: str, mode: str,
            budget: float) -> str:
    """"timed out after T s: checked … ; the op was progressing — advice", or
    "timed out after T s (stuck in FUNC at FILE:LINE; …)". ``before`` is the counters' ticks
    at the checkpoint, ``where`` " in FUNC at FILE:LINE" (or "") where the op was."""
    head = f"timed out after {timeout:g} s"
    got = now.describe() if now is not None else ""
    if now is not None and now.ticks > before:
        return f"{head}: {got}; the op was progressing — {advice(mode, budget, timeout)}"
    window = (f"in the last {STALL_SECONDS:g} s" if timeout > STALL_SECONDS
              else "since the op started")
    facts = [f"no forward call returned {window}"] + ([f"it had {got}"] if got else [])
    if where:
        return f"{head} (stuck{where}; {'; '.join(facts)})"
    return f"{head} ({'; '.join(facts)})"


def rerun_options(timeout: float, mode: str) -> str:
    """What a timed-out op's reproduce line adds: its ``--timeout`` (to rerun it without a
    minute's wait) and, in the default mode, the ``--budget`` it ran under where one was
    given (``opcheck audit --budget`` passes it to every worker as ``$OPCHECK_BUDGET``)."""
    text = f" --timeout {timeout:g}"
    if mode == "auto" and os.environ.get(budgets.ENV):
        text += f" --budget {budgets.resolve(None):g}"
    return text


def advice(mode: str, budget: float, timeout: float) -> str:
    """What to change for an op that needs longer than ``--timeout`` (docs/cli.md)."""
    if mode == "fast":
        return "raise --timeout"
    if mode == "full":
        return (f"raise --timeout, or drop --mode full: the default mode checks a sample "
                f"within --budget ({budget:g} s)")
    text = "raise --timeout, or use --mode fast (random projections only)"
    if budget >= timeout:  # the default mode plans its checks to fit in the budget
        text += f"; keep --budget ({budget:g} s) below --timeout"
    return text
