"""Audit many ops and yield each report as its op finishes: in worker processes, or
in-process for ``--jobs 1``.

Isolation: each worker is a ``concurrent.futures.ProcessPoolExecutor`` with one process,
given one op at a time. ``ProcessPoolExecutor`` cannot stop a task that hangs, and a worker
that dies breaks every future of its pool; with one process per executor, a timeout
(the parent kills the worker) or a crash (segfault, ``os.abort``, ``os._exit``, the
out-of-memory killer) breaks exactly one future, names exactly one op, costs no other op
its progress, and is repaired by starting a fresh executor in that slot.

Nothing here prints: the caller renders progress and reports.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import timeouts
from .errors import UsageError, WorkerError
from .result import OpReport
from .worker_process import START_TIMEOUT, available_cores, prestart  # noqa: F401 (the CLI's names)
from .worker_process import Task as _Task
from .worker_process import WorkerProcess as _Worker
from .worker_process import blas_threads as _blas_threads
from .worker_process import context as _context
from .worker_process import fork_server_pid as _fork_server_pid

if TYPE_CHECKING:
    from .plugin_manager import Registry

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunOptions:
    """How to audit: the audit's own options, and how many processes and how long."""

    seed: int = 0
    mode: str = "auto"
    variant: str | None = None
    order: int = 2
    plugins: tuple[str, ...] = ()
    jobs: int = 1
    isolate: bool = True
    timeout: float | None = DEFAULT_TIMEOUT
    max_memory: int | None = None


def run_ops(names: Sequence[str], options: RunOptions, registry: Registry) -> Iterator[OpReport]:
    """Audit ``names`` (ops of ``registry``); yield reports in the order ops finish."""
    if not names:
        return
    if options.isolate:
        yield from _isolated(list(names), options, registry)
    else:
        from .in_process import run_in_process

        yield from run_in_process(names, options, registry)


# --- worker processes --------------------------------------------------------------------


def _isolated(names: list[str], options: RunOptions, registry: Registry) -> Iterator[OpReport]:
    """Audit in worker processes. Ops that were running when the fork server died (an op
    killed it: every worker forked from it then looks dead) are not blamed: they are
    audited again afterwards, one at a time, and the one that kills it again is named."""
    queue = deque(names)
    suspects: list[str] = []
    workers: list[_Worker] = []
    with _blas_threads(max(1, available_cores() // options.jobs)):
        context = _context()
        # Workers watch this pipe's read end; only this process holds the write end.
        alive, keep_alive = context.Pipe(duplex=False)
        try:
            workers = [_new_worker(context, options, alive)
                       for _ in range(min(options.jobs, len(names)))]
            for alone in (False, True):
                if alone:
                    queue.extend(suspects)
                    suspects.clear()
                yield from _drain(queue, workers, context, options, alive, registry,
                                  suspects, alone)
        finally:
            for w in workers:
                w.close()
            alive.close()
            keep_alive.close()


def _drain(queue: deque[str], workers: list[_Worker], context: Any, options: RunOptions,
           alive: Any, registry: Registry, suspects: list[str], alone: bool) -> Iterator[OpReport]:
    """Audit the queue on ``workers`` (on the first alone: the fork-server suspects)."""
    while queue or any(w.tasks for w in workers):
        for k, w in enumerate(workers[:1] if alone else workers):
            while queue and w.has_room():
                try:
                    w.submit(queue[0])
                except BrokenProcessPool:  # it died; if it was idle, replace it
                    if not w.tasks:
                        w.close()
                        workers[k] = _new_worker(context, options, alive)
                    break
                queue.popleft()
        pending = [t.future for w in workers for t in w.tasks]
        wait(pending, timeout=_time_left(workers), return_when=FIRST_COMPLETED)
        for k, w in enumerate(workers):
            while (task := w.finished()) is not None:
                if task.name is None:
                    try:
                        _started(w, task)
                    except WorkerError:
                        if not _server_died(w):
                            raise
                        workers[k] = _replace(w, queue, context, options, alive)
                        break
                    continue
                report, healthy = _outcome(w, task, registry)
                if not healthy:  # its process is gone: replace it, re-queue the rest
                    if w.dead and _server_died(w):
                        if alone:
                            report = _server_killer(task.name, options, registry)
                        else:
                            suspects.append(task.name)
                            report = None
                    workers[k] = _replace(w, queue, context, options, alive)
                if report is not None:
                    yield report
                if not healthy:
                    break
        now = time.monotonic()
        for w in workers:
            w.observe(now)  # how far its op has got, STALL_SECONDS before its deadline
            deadline = w.deadline()
            if deadline is not None and now >= deadline and not w.tasks[0].future.done():
                if w.tasks[0].name is None:
                    raise WorkerError(
                        f"an audit worker did not start within {START_TIMEOUT:g} s "
                        "(importing the plugins hangs?)"
                    )
                w.timed_out = True
                w.kill()


#: Pauses before asking a fork server again for a worker, when the one asked was dying.
SERVER_RETRIES = (0.05, 0.25, 1.0)


def _new_worker(context: Any, options: RunOptions, alive: Any) -> _Worker:
    """A fresh worker. An op that killed the fork server (SIGKILL, SIGTERM) may leave it
    alive a moment longer, long enough to take the request for a worker and then die
    (``EOFError`` from multiprocessing): wait, let the server be restarted, ask again."""
    for pause in (*SERVER_RETRIES, None):
        _fork_server_pid()  # restarts the fork server if an op killed it
        try:
            return _Worker(context, options, alive)
        except (EOFError, ConnectionError) as exc:
            if pause is None:
                raise WorkerError(f"an audit worker failed to start: the fork server kept "
                                  f"dying ({type(exc).__name__}: {exc})") from None
            time.sleep(pause)
    raise AssertionError("unreachable")


def _replace(w: _Worker, queue: deque[str], context: Any, options: RunOptions,
             alive: Any) -> _Worker:
    """Close ``w`` and start a fresh worker; the ops queued on ``w`` go back to the queue."""
    queue.extendleft(reversed(w.queued()))
    w.close()
    return _new_worker(context, options, alive)


def _server_died(w: _Worker) -> bool:
    """Whether the fork server ``w`` was forked from has died since (and was restarted).
    Its death shows first as each worker's exit status 255: look again briefly."""
    if w.server is None:
        return False
    for _ in range(10):
        if _fork_server_pid() != w.server:
            return True
        time.sleep(0.02)
    return False


def _server_killer(name: str, options: RunOptions, registry: Registry) -> OpReport:
    from .frontend import error_report

    return error_report(
        name, "the op killed the fork server, the process opcheck's workers start from (it "
        "was running when the server died, and audited alone, killed it again); opcheck "
        "restarted the server and audited the other ops", options.seed, options.mode,
        registry.plugin_of.get(name), options.variant, order=options.order)


def _started(w: _Worker, task: _Task) -> None:
    try:
        w.ready(task.future.result())
    except BrokenProcessPool as exc:
        reason = w.why_it_died().replace(" while auditing the op", "")
        raise WorkerError(f"an audit worker failed to start: {reason} ({exc})") from None


def _outcome(w: _Worker, task: _Task, registry: Registry) -> tuple[OpReport, bool]:
    """The op's report, and whether its worker can take the next op."""
    from .frontend import error_report

    name, o = task.name, w.options
    assert name is not None
    try:
        report, dirty = task.future.result()
        return report, not dirty
    except BrokenProcessPool:
        message = w.why_it_died()
        report = error_report(name, message, o.seed, o.mode, registry.plugin_of.get(name), o.variant,
                              order=o.order)
        if w.timed_out:
            report.reproduce += timeouts.rerun_options(o.timeout, o.mode)
        return report, False
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 (the report did not make it back, e.g. unpicklable)
        message = f"the worker could not return the report: {type(exc).__name__}: {exc}"
        return error_report(name, message, o.seed, o.mode, registry.plugin_of.get(name),
                            o.variant, order=o.order), True


def _time_left(workers: list[_Worker]) -> float | None:
    deadlines = [d for w in workers if (d := w.wake()) is not None]
    return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None


# --- one op at a time, for other executors ------------------------------------------------


class OpAuditor:
    """One persistent worker process that audits one op per ``audit`` call, with the
    guarantees of ``run_ops``: a timeout or a crash is an ``error`` report naming the op,
    and the next call gets a fresh process. The Dask executor runs one in each Dask worker
    thread, so an op never takes its Dask worker down."""

    def __init__(self, options: RunOptions, registry: Registry) -> None:
        self.options, self.registry = options, registry
        self.context = _context()
        self.alive, self._keep_alive = self.context.Pipe(duplex=False)
        self.worker = _new_worker(self.context, options, self.alive)

    def audit(self, name: str) -> OpReport:
        try:
            self.worker.submit(name)
        except BrokenProcessPool:  # it died while idle: replace it
            self._replace()
            self.worker.submit(name)
        while True:
            w = self.worker
            wait([t.future for t in w.tasks], timeout=_time_left([w]), return_when=FIRST_COMPLETED)
            while (task := w.finished()) is not None:
                if task.name is None:
                    _started(w, task)
                    continue
                report, healthy = _outcome(w, task, self.registry)
                if not healthy:
                    self._replace()
                return report
            w.observe(time.monotonic())
            deadline = w.deadline()
            if deadline is not None and time.monotonic() >= deadline and not w.tasks[0].future.done():
                if w.tasks[0].name is None:
                    raise WorkerError(f"an audit worker did not start within {START_TIMEOUT:g} s "
                                      "(importing the plugins hangs?)")
                w.timed_out = True
                w.kill()

    def _replace(self) -> None:
        self.worker.close()
        self.worker = _new_worker(self.context, self.options, self.alive)

    def close(self) -> None:
        self.worker.close()
        self.alive.close()
        self._keep_alive.close()
