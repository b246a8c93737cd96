"""``--jobs 1``: audit ops one after another in this process, under the same timeout
(a Python-level timer) and memory limit as worker processes, and end whatever processes
the ops leave running."""

from __future__ import annotations

import contextlib
import signal
import threading
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .result import OpReport

if TYPE_CHECKING:
    from .plugin_manager import Registry
    from .runner import RunOptions


def run_in_process(names: Sequence[str], options: RunOptions, registry: Registry) -> Iterator[OpReport]:
    from .interrupts import interruptible
    from .processes import children, end_children
    from .frontend import error_report
    from .errors import AuditTimeout
    from .worker import audit_guarded

    before = children()
    try:
        for name in names:
            try:
                with interruptible(), _memory_limit(options.max_memory), _alarm(options.timeout):
                    report = audit_guarded(registry, name, options.seed, options.mode,
                                           options.variant, options.order)
            except AuditTimeout as exc:
                report = error_report(name, f"timed out after {options.timeout:g} s"
                                      f"{_stuck_at(exc)}", options.seed, options.mode,
                                      registry.plugin_of.get(name), options.variant,
                                      order=options.order)
                report.reproduce += f" --timeout {options.timeout:g}"
            yield report
    finally:
        end_children(before)  # what the ops forked or spawned, and left running


def _stuck_at(exc: BaseException) -> str:
    """' (stuck in FUNC at FILE:LINE)': the innermost frame outside opcheck when the timer
    fired, as the worker processes' fault-handler dump says it."""
    from .worker import _is_ours

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_ours(f.filename)]
    if not frames:
        return ""
    last = frames[-1]
    return f" (stuck in {last.name} at {last.filename}:{last.lineno})"


@contextlib.contextmanager
def _memory_limit(limit: int | None) -> Iterator[None]:
    """Lower this process's address-space limit for one audit, then restore it."""
    if not limit:
        yield
        return
    from .memory_limit import lower_address_space, restore_address_space

    previous = lower_address_space(limit)
    try:
        yield
    finally:
        restore_address_space(previous)


@contextlib.contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    """Raise ``AuditTimeout`` in this thread after ``seconds``: it stops an op that loops in
    Python, not one stuck in C code (worker processes stop both)."""
    if not (seconds and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()):
        yield
        return

    from .errors import AuditTimeout

    def expire(signum: int, frame: Any) -> None:
        raise AuditTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
