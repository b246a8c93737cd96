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

import contextlib
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UsageError, WorkerError
from .result import OpReport

if TYPE_CHECKING:
    from .plugin_manager import Registry

DEFAULT_TIMEOUT = 60.0
#: How long a new worker may take to import opcheck and discover the plugins.
START_TIMEOUT = 120.0
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class RunOptions:
    """How to audit: the audit's own options, and how many processes and how long."""

    seed: int = 0
    mode: str = "full"
    variant: str | None = None
    order: int = 2
    plugins: tuple[str, ...] = ()
    jobs: int = 1
    isolate: bool = True
    timeout: float | None = DEFAULT_TIMEOUT
    max_memory: int | None = None


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_ops(names: Sequence[str], options: RunOptions, registry: Registry) -> Iterator[OpReport]:
    """Audit ``names`` (ops of ``registry``); yield reports in the order ops finish."""
    if not names:
        return
    if options.isolate:
        yield from _isolated(list(names), options, registry)
    else:
        yield from _in_process(names, options, registry)


# --- in-process (--jobs 1) -------------------------------------------------------------


def _in_process(names: Sequence[str], options: RunOptions, registry: Registry) -> Iterator[OpReport]:
    from .interrupts import interruptible
    from .processes import children, end_children
    from .frontend import error_report
    from .worker import AuditTimeout, audit_guarded

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
                                      registry.plugin_of.get(name), options.variant)
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

    from .worker import AuditTimeout

    def expire(signum: int, frame: Any) -> None:
        raise AuditTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- worker processes --------------------------------------------------------------------


@dataclass
class _Task:
    """One call on a worker: an op to audit, or (``name`` None) the worker's start-up."""

    name: str | None
    future: Future[Any]
    started: float | None = None  # when it began running: the previous task's end


class _Worker:
    """One worker process in its own single-process executor, and the tasks sent to it.

    The executor runs tasks one at a time in the order sent, so the first unfinished task
    is the one running: a death or a timeout names it exactly, and the task queued behind
    it goes back to the run's queue. One task waits behind the running one (``DEPTH``), so
    the worker never idles while this process collects a report and sends the next op.
    """

    DEPTH = 2

    def __init__(self, context: Any, options: RunOptions, alive: Any) -> None:
        from .worker import initialize, worker_pid

        self.options = options
        fd, self.crash_log = tempfile.mkstemp(prefix="opcheck-worker-", suffix=".log")
        os.close(fd)
        self.executor = ProcessPoolExecutor(
            1, mp_context=context, initializer=initialize,
            initargs=(alive, dict(os.environ), os.getcwd(), list(sys.path), options.plugins,
                      options.max_memory, self.crash_log, options.timeout),
        )
        self.server = _fork_server_pid()  # to tell when an op has killed it
        start = _Task(None, self.executor.submit(worker_pid), time.monotonic())
        self.tasks: deque[_Task] = deque([start])
        self.pid: int | None = None
        self.process: Any = None
        self.timed_out = False
        self.dead = False

    def has_room(self) -> bool:
        return len(self.tasks) < self.DEPTH

    def submit(self, name: str) -> None:
        from .worker import audit_task

        o = self.options
        future = self.executor.submit(audit_task, name, o.seed, o.mode, o.variant, o.order)
        self.tasks.append(_Task(name, future, None if self.tasks else time.monotonic()))

    def finished(self) -> _Task | None:
        """The running task if it is done (the next one starts running now), else None."""
        if not self.tasks or not self.tasks[0].future.done():
            return None
        task = self.tasks.popleft()
        if self.tasks:
            self.tasks[0].started = time.monotonic()
        return task

    def ready(self, pid: int) -> None:
        self.pid = pid
        # The executor's own process record holds the exit code we report after a crash.
        self.process = (getattr(self.executor, "_processes", None) or {}).get(pid)

    def deadline(self) -> float | None:
        if not self.tasks or self.timed_out:
            return None
        head = self.tasks[0]
        if head.name is None:
            return (head.started or 0.0) + START_TIMEOUT
        return (head.started or 0.0) + self.options.timeout if self.options.timeout else None

    def queued(self) -> list[str]:
        """The ops sent but not started (they go back to the run's queue after a death)."""
        names = [t.name for t in self.tasks if t.name is not None]
        self.tasks.clear()
        return names

    def kill(self) -> None:
        pid = self.pid
        if pid is None:
            pid = next(iter(getattr(self.executor, "_processes", None) or {}), None)
        if pid is not None:
            from .processes import kill_group

            kill_group(pid)  # the worker, and the processes its ops started

    def why_it_died(self) -> str:
        """Why the worker is gone: the timeout, or its exit signal or status, and where."""
        from .worker import where_it_stopped

        self.dead = True
        self.executor.shutdown(wait=True)  # joins the process: its exit code is final
        code = getattr(self.process, "exitcode", None)
        where = where_it_stopped(self.crash_log)
        if self.timed_out:
            return f"timed out after {self.options.timeout:g} s" + (
                f" (stuck{where})" if where else "")
        if code is None:
            return f"worker process died{where}"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            text = f"worker process died with signal {name}"
            description = signal.strsignal(-code) if hasattr(signal, "strsignal") else None
            if description:
                text += f" ({description})"
            if name == "SIGKILL":
                text += ("; the kernel's out-of-memory killer sends SIGKILL (--max-memory turns "
                         "running out of memory into a MemoryError)")
            return text + where
        return f"worker process exited with status {code} while auditing the op{where}"

    def close(self) -> None:
        # Busy, idle or dead alike: its process group goes. A clean shutdown would wait
        # for a thread an op left running, and leave the op's child processes behind.
        self.kill()
        self.executor.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(OSError):
            os.unlink(self.crash_log)


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
            deadline = w.deadline()
            if deadline is not None and now >= deadline and not w.tasks[0].future.done():
                if w.tasks[0].name is None:
                    raise WorkerError(
                        f"an audit worker did not start within {START_TIMEOUT:g} s "
                        "(importing the plugins hangs?)"
                    )
                w.timed_out = True
                w.kill()


def _new_worker(context: Any, options: RunOptions, alive: Any) -> _Worker:
    _fork_server_pid()  # restarts the fork server if an op killed it
    return _Worker(context, options, alive)


def _replace(w: _Worker, queue: deque[str], context: Any, options: RunOptions,
             alive: Any) -> _Worker:
    """Close ``w`` and start a fresh worker; the ops queued on ``w`` go back to the queue."""
    queue.extendleft(reversed(w.queued()))
    w.close()
    return _new_worker(context, options, alive)


def _fork_server_pid() -> int | None:
    """The running fork server's pid, restarting it first if it died (None: no server)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is None:
        return None
    _start_forkserver()
    return server._forkserver_pid


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
        registry.plugin_of.get(name), options.variant)


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
        report = error_report(name, message, o.seed, o.mode, registry.plugin_of.get(name), o.variant)
        if w.timed_out:
            report.reproduce += f" --timeout {o.timeout:g}"  # rerun it without a minute's wait
        return report, False
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 (the report did not make it back, e.g. unpicklable)
        message = f"the worker could not return the report: {type(exc).__name__}: {exc}"
        return error_report(name, message, o.seed, o.mode, registry.plugin_of.get(name),
                            o.variant), True


def _time_left(workers: list[_Worker]) -> float | None:
    deadlines = [d for w in workers if (d := w.deadline()) is not None]
    return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None


def _context() -> Any:
    """forkserver where there is one (workers fork from a server that has numpy and the
    built-in plugins imported: a new worker costs milliseconds), else spawn. Never plain
    fork: the parent runs threads, and fork copies their locks mid-use."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        import opcheck_plugins

        context = multiprocessing.get_context("forkserver")
        builtins = [f"opcheck_plugins.{name}" for name in opcheck_plugins.MODULES]
        context.set_forkserver_preload(["opcheck.worker", *builtins])
        _start_forkserver()
        return context
    return multiprocessing.get_context("spawn")


def _start_forkserver() -> None:
    """Start the fork server (once per process) so that it imports the opcheck this process
    runs. Python starts it with ``-c``, which puts the current directory first on its
    sys.path (and before 3.13 the server ignores the parent's sys.path): run from a
    checkout of opcheck, the workers would import the checkout's code, not the installed
    package. PYTHONSAFEPATH (3.11+) keeps the current directory off that path."""
    from multiprocessing import forkserver

    saved = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = saved


def prestart(jobs: int) -> None:
    """Start the fork server now, so that it imports numpy, opcheck and the built-in
    plugins while this process does the same (the CLI calls this before discovery)."""
    _set_blas_threads(max(1, available_cores() // jobs))
    _context()


def _set_blas_threads(count: int) -> list[str]:
    """Workers inherit a BLAS thread count that shares the cores instead of each taking all
    of them (unless the user set one); returns the variables it set."""
    added = [k for k in _BLAS_THREADS if k not in os.environ]
    for key in added:
        os.environ[key] = str(count)
    return added


@contextlib.contextmanager
def _blas_threads(count: int) -> Iterator[None]:
    added = _set_blas_threads(count)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


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
        self.worker = _Worker(self.context, options, self.alive)

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
            deadline = w.deadline()
            if deadline is not None and time.monotonic() >= deadline and not w.tasks[0].future.done():
                if w.tasks[0].name is None:
                    raise WorkerError(f"an audit worker did not start within {START_TIMEOUT:g} s "
                                      "(importing the plugins hangs?)")
                w.timed_out = True
                w.kill()

    def _replace(self) -> None:
        self.worker.close()
        self.worker = _Worker(self.context, self.options, self.alive)

    def close(self) -> None:
        self.worker.close()
        self.alive.close()
        self._keep_alive.close()
