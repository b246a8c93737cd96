"""One audit worker process, and how workers start: ``WorkerProcess`` wraps a
single-process executor and the tasks sent to it (see ``runner`` for why one process per
executor); workers fork from a fork server that has numpy and the built-in plugins
imported, with a BLAS thread count that shares the cores."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import audit_progress, budget, timeouts

if TYPE_CHECKING:
    from .runner import RunOptions

#: How long a new worker may take to import opcheck and discover the plugins.
START_TIMEOUT = 120.0
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Task:
    """One call on a worker: an op to audit, or (``name`` None) the worker's start-up."""

    name: str | None
    future: Future[Any]
    started: float | None = None  # when it began running: the previous task's end


class WorkerProcess:
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
        # The worker's audit counters (audit_progress), read when its op times out.
        fd, self.progress_file = tempfile.mkstemp(prefix="opcheck-progress-")
        os.close(fd)
        audit_progress.new_file(self.progress_file)
        self.checkpoint: int | None = None  # the counters STALL_SECONDS before the deadline
        self.ended_checkpoint: int | None = None  # the last finished task's
        self.executor = ProcessPoolExecutor(
            1, mp_context=context, initializer=initialize,
            initargs=(alive, dict(os.environ), os.getcwd(), list(sys.path), options.plugins,
                      options.max_memory, self.crash_log, options.timeout, self.progress_file),
        )
        self.server = fork_server_pid()  # to tell when an op has killed it
        try:
            start = Task(None, self.executor.submit(worker_pid), time.monotonic())
        except BaseException:  # the fork server died under the request (runner retries)
            self.executor.shutdown(wait=False, cancel_futures=True)
            for path in (self.crash_log, self.progress_file):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise
        self.tasks: deque[Task] = deque([start])
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
        self.tasks.append(Task(name, future, None if self.tasks else time.monotonic()))

    def finished(self) -> Task | None:
        """The running task if it is done (the next one starts running now), else None."""
        if not self.tasks or not self.tasks[0].future.done():
            return None
        task = self.tasks.popleft()
        self.ended_checkpoint, self.checkpoint = self.checkpoint, None  # for why_it_died
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

    def wake(self) -> float | None:
        """When the parent must look at this worker next: the checkpoint of its op's
        progress (``timeouts``), then the deadline."""
        deadline = self.deadline()
        at = self._checkpoint_time()
        return at if at is not None and self.checkpoint is None else deadline

    def observe(self, now: float) -> None:
        """Read the running op's counters once its checkpoint time has come."""
        at = self._checkpoint_time()
        if at is not None and self.checkpoint is None and now >= at:
            snapshot = audit_progress.read(self.progress_file)
            self.checkpoint = snapshot.ticks if snapshot is not None else 0

    def _checkpoint_time(self) -> float | None:
        head = self.tasks[0] if self.tasks else None
        if head is None or head.name is None or not self.options.timeout or self.timed_out:
            return None
        return timeouts.checkpoint_at(head.started or 0.0, self.options.timeout)

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
            assert self.options.timeout
            return timeouts.message(self.options.timeout, self.ended_checkpoint or 0,
                                    audit_progress.read(self.progress_file), where,
                                    self.options.mode, budget.resolve(None))
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
        for path in (self.crash_log, self.progress_file):
            with contextlib.suppress(OSError):
                os.unlink(path)


def fork_server_pid() -> int | None:
    """The running fork server's pid, restarting it first if it died (None: no server)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is None:
        return None
    start_forkserver()
    return server._forkserver_pid


def context() -> Any:
    """forkserver where there is one (workers fork from a server that has numpy and the
    built-in plugins imported: a new worker costs milliseconds), else spawn. Never plain
    fork: the parent runs threads, and fork copies their locks mid-use."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        import opcheck_plugins

        context = multiprocessing.get_context("forkserver")
        builtins = [f"opcheck_plugins.{name}" for name in opcheck_plugins.MODULES]
        context.set_forkserver_preload(["opcheck.worker", *builtins])
        start_forkserver()
        return context
    return multiprocessing.get_context("spawn")


def start_forkserver() -> None:
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
    set_blas_threads(max(1, available_cores() // jobs))
    context()


def set_blas_threads(count: int) -> list[str]:
    """Workers inherit a BLAS thread count that shares the cores instead of each taking all
    of them (unless the user set one); returns the variables it set."""
    added = [k for k in _BLAS_THREADS if k not in os.environ]
    for key in added:
        os.environ[key] = str(count)
    return added


@contextlib.contextmanager
def blas_threads(count: int) -> Iterator[None]:
    added = set_blas_threads(count)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
