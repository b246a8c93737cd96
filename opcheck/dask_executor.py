"""``--executor dask``: audit each op as a task on a Dask distributed cluster.

Each task audits one op inside a Dask worker through ``runner.OpAuditor``: the op runs in
a worker process of opcheck's own, kept for the next task, exactly as under ``--jobs``.
So the guarantees and the reports are those of a local run: ``--timeout`` stops an op
that hangs, a segfault or an abort is an ``error`` naming the op (with where it stopped),
``--max-memory`` applies, and the Dask worker itself never goes down with the op. When a
Dask worker is lost anyway (killed from outside, its machine gone), Dask's nanny restarts
it and the scheduler retries its tasks; an op that takes down a worker each time it runs
ends as an ``error`` entry naming it (Dask's ``KilledWorker``), and the run goes on.

Without ``--scheduler``, a ``LocalCluster`` of ``--jobs`` single-threaded worker
processes. The parent only submits names and collects reports as they finish: results
streaming, ``--resume`` and progress are the CLI's, as for ``--jobs``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .result import OpReport
from .runner import OpAuditor, RunOptions

if TYPE_CHECKING:
    from .plugin_manager import Registry

INSTALL_HINT = ('the Dask executor needs the distributed package: pip install "opcheck[dask]" '
                '(from a checkout of opcheck: pip install ".[dask]")')
#: Dask starts worker processes as daemons by default, and a daemon cannot start processes.
DAEMON_HINT = ("the Dask workers run as daemon processes, which cannot start opcheck's audit "
               "processes; start them with DASK_DISTRIBUTED__WORKER__DAEMON=False in their "
               "environment (e.g. DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker ADDRESS)")
#: How often a local cluster retries a task whose worker died, before ``KilledWorker``:
#: once, so that an op queued behind a crashing one is not blamed for it.
LOCAL_ALLOWED_FAILURES = 1

# In each Dask worker process: the registry and idle auditors, per set of run options.
_registries: dict[tuple[str, ...], Registry] = {}
_idle: dict[RunOptions, queue.SimpleQueue[OpAuditor]] = {}


def audit_task(name: str, options: RunOptions) -> OpReport:
    """The Dask task: audit one op in this worker's opcheck process (one per thread)."""
    from .plugin_manager import discover

    registry = _registries.get(options.plugins)
    if registry is None:
        registry = _registries[options.plugins] = discover(options.plugins)
    if multiprocessing.current_process().daemon:
        raise UsageError(DAEMON_HINT)
    idle = _idle.setdefault(options, queue.SimpleQueue())
    try:
        auditor = idle.get_nowait()
    except queue.Empty:
        auditor = OpAuditor(options, registry)
    try:
        report = auditor.audit(name)
    except BaseException:
        auditor.close()
        raise
    idle.put(auditor)
    return report


def dask_setup(worker: Any = None) -> None:
    """Dask's preload hook (``dask worker --preload opcheck.dask_executor``; a local cluster
    preloads it): start the fork server of the audit processes, which imports numpy,
    opcheck and the built-in plugins, while the worker is still joining the cluster."""
    from .runner import _context

    _context()


def close_auditors() -> int:
    """Stop this Dask worker's audit processes (run on every worker when a run ends: an
    idle worker of a shared cluster holds no opcheck process, and a local cluster's
    workers shut down at once)."""
    closed = 0
    for idle in _idle.values():
        while True:
            try:
                auditor = idle.get_nowait()
            except queue.Empty:
                break
            auditor.close()
            closed += 1
    return closed


def require_distributed() -> None:
    """A usage error (exit 2) before the audit, not an ImportError after discovery."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


def run_ops_dask(names: Sequence[str], options: RunOptions, registry: Registry,
                 scheduler: str | None = None) -> Iterator[OpReport]:
    """Audit ``names`` on a Dask cluster; yield reports in the order ops finish."""
    if not names:
        return
    require_distributed()
    import dask
    from distributed import Client, KilledWorker, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            stack.enter_context(dask.config.set(
                {"distributed.scheduler.allowed-failures": LOCAL_ALLOWED_FAILURES,
                 "distributed.worker.daemon": False}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=min(options.jobs, len(names)), threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
                preload=["opcheck.dask_executor"]))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                # waits distributed.comm.timeouts.connect (30 s by default) for the scheduler
                client = stack.enter_context(Client(scheduler))
            except OSError as exc:
                raise UsageError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there "
                                 f"({exc}); start one with `dask scheduler`") from None
            except (ValueError, TypeError) as exc:  # not an address distributed can parse
                raise UsageError(f"--scheduler {scheduler}: not a scheduler address ({exc}); "
                                 "give the address `dask scheduler` prints, e.g. "
                                 "tcp://127.0.0.1:8786") from None
        run = uuid.uuid4().hex[:8]
        futures = {client.submit(audit_task, name, options, key=f"opcheck-{run}-{k}",
                                 pure=False): name for k, name in enumerate(names)}
        try:
            # with_results: reports come back in batches, not one request per op
            for future, result in as_completed(futures, with_results=True, raise_errors=False):
                name = futures.pop(future)
                if future.status != "error":
                    yield result
                    continue
                exc = result[1]  # (type, exception, traceback) for a failed task
                if isinstance(exc, UsageError):
                    raise exc
                if isinstance(exc, KilledWorker):
                    message = (f"the Dask worker auditing the op died ({exc}); Dask's nanny "
                               "restarted it and the run went on")
                else:
                    message = f"the Dask task failed: {type(exc).__name__}: {exc}"
                yield _error(name, message, options, registry)
        finally:
            if futures:
                client.cancel(list(futures), force=True)
            with contextlib.suppress(Exception):  # a worker already gone has nothing to close
                client.run(close_auditors)


def _error(name: str, message: str, options: RunOptions, registry: Registry) -> OpReport:
    from .frontend import error_report

    return error_report(name, message, options.seed, options.mode, registry.plugin_of.get(name),
                        options.variant, order=options.order)
