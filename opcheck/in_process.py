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

from . import audit_progress, budget, timeouts
from .result import OpReport

if TYPE_CHECKING:
    from .plugin_manager import Registry
    from .runner import RunOptions


def run_in_process(names: Sequence[str], options: RunOptions, registry: Registry) -> Iterator[OpReport]:
    from .errors import AuditTimeout
    from .frontend import error_report
    from .interrupts import interruptible
    from .processes import children, end_children
    from .worker import audit_guarded

    before = children()
    try:
        for name in names:
            audit_progress.reset()
            watch: dict[str, int] = {}
            try:
                with interruptible(), _memory_limit(options.max_memory), _alarm(options.timeout, watch):
                    report = audit_guarded(registry, name, options.seed, options.mode,
                                           options.variant, options.order)
            except AuditTimeout as exc:
                assert options.timeout
                text = timeouts.message(options.timeout, watch.get("ticks", 0),
                                        audit_progress.snapshot(), _stuck_at(exc), options.mode,
                                        budget.resolve(None))
                report = error_report(name, text, options.seed, options.mode,
                                      registry.plugin_of.get(name), options.variant,
                                      order=options.order)
                report.reproduce += timeouts.rerun_options(options.timeout, options.mode)
            yield report
    finally:
        end_children(before)  # what the ops forked or spawned, and left running


def _stuck_at(exc: BaseException) -> str:
    """' in FUNC at FILE:LINE': the innermost frame outside opcheck when the timer fired,
    as the worker processes' fault-handler dump says it."""
    from .worker import _is_ours

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_ours(f.filename)]
    if not frames:
        return ""
    last = frames[-1]
    return f" in {last.name} at {last.filename}:{last.lineno}"


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
def _alarm(seconds: float | None, watch: dict[str, int]) -> Iterator[None]:
    """Raise ``AuditTimeout`` in this thread after ``seconds``: it stops an op that loops in
    Python, not one stuck in C code (worker processes stop both). ``STALL_SECONDS`` before
    that, the timer fires once more to record the audit's progress in ``watch["ticks"]``
    (``timeouts``: stuck or progressing)."""
    if not (seconds and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()):
        yield
        return

    from .errors import AuditTimeout

    checkpoint = timeouts.checkpoint_at(0.0, seconds)

    def expire(signum: int, frame: Any) -> None:
        if checkpoint is not None and "ticks" not in watch:
            watch["ticks"] = audit_progress.snapshot().ticks
            signal.setitimer(signal.ITIMER_REAL, seconds - checkpoint)
            return
        raise AuditTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, checkpoint if checkpoint is not None else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
